//! One-way flows into SMTP session records.
//!
//! A TCP connection shows up in flow exports as two one-way flows (or one
//! biflow), each possibly cut into several records by the exporter's active
//! timeout. [`SessionPairer`] joins them into one [`SessionRecord`]:
//!
//! - Direction: the flow whose destination port is an SMTP port is
//!   client-to-server (its source is the client); the flow whose source port
//!   is an SMTP port is server-to-client. Other flows are counted and
//!   dropped, as are non-TCP flows. A biflow fills both directions.
//! - Joining: a flow for a connection already open is added to it when it
//!   starts no later than `gap_us` after the connection's last end, unless
//!   it opens a new connection (SYN) on ports whose session already had its
//!   SYN that way and ended (FIN or RST); otherwise the open session is
//!   emitted and a new one begins (port reuse).
//! - Metered twice: where a direction of a session comes from flows of two
//!   points (exporter address, observation domain, direction metered, export
//!   format: an access router and the border, ingress and egress export, v9
//!   and IPFIX of one router), both saw the same packets. Each point's counts,
//!   span and sampling are kept apart and the direction takes those of the
//!   point with the finest sampling, then the most packets, instead of
//!   their sum; flags are OR-ed; the session's times and sampling are those
//!   of the counts taken. Counted (`metered_twice` flows,
//!   `sessions_metered_twice`).
//! - Memory: sessions whose last flow ended more than `window_us` before the
//!   latest flow end seen from the same exporter are emitted (flows from an
//!   exporter arrive roughly in time order, and each exporter keeps its own
//!   clock: routers without NTP are minutes apart, and one ahead must not
//!   cut the sessions of one behind); above `max_open` sessions, the oldest
//!   tenth is emitted early and counted as evicted. Emitted batches are
//!   sorted by start as paired (a session metered twice then takes its
//!   chosen points' start, which may differ by their clocks).
//!
//! Outcome, first that applies (flows cannot show the SMTP dialogue, so
//! nothing is ever `delivered`, `rejected` or `no_mail`):
//! 1. `no_answer`: client-to-server flags are SYN only (ECN bits ignored) and
//!    no server-to-client flow was seen, in unsampled flows (with sampling,
//!    a missing answer may just not have been sampled);
//! 2. `reset`: the server-to-client flags contain RST and neither direction
//!    carried data, in unsampled flows;
//! 3. `encrypted` (and `tls`): server port 465 and both directions carried data;
//! 4. `unknown` otherwise.
//!
//! "Carried data": PSH seen, or more than 80 bytes per packet on average (a
//! bare TCP/IP header with options is at most 60 bytes for IPv4 and 80 for
//! IPv6, so larger averages need payload). Flows without flags (exporters
//! that do not export them) end as `unknown` or, on 465, `encrypted`.

use std::collections::HashMap;
use std::net::IpAddr;

use op25b_core::time::representable;
use op25b_core::{Outcome, SessionRecord, tcp_flags};

use crate::FlowRecord;

/// Bounds of the pairing state.
#[derive(Clone, Debug)]
pub struct PairerOptions {
    /// A session is emitted once the newest flow end is this far past its end.
    pub window_us: i64,
    /// A flow is joined to an open session if it starts at most this long
    /// after the session's last end (active-timeout cuts).
    pub gap_us: i64,
    /// Open sessions kept at most.
    pub max_open: usize,
}

impl Default for PairerOptions {
    fn default() -> Self {
        PairerOptions {
            window_us: 300_000_000,
            gap_us: 60_000_000,
            max_open: 1_000_000,
        }
    }
}

/// Counts of what the pairer saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairerStats {
    pub flows: u64,
    pub non_tcp: u64,
    /// TCP flows with no SMTP port on either side.
    pub not_smtp: u64,
    /// SMTP flows that carried reverse (biflow) counts.
    pub biflows: u64,
    /// Flows added to an already open session.
    pub joined: u64,
    /// Flows carrying a direction of a session that another point (exporter,
    /// observation domain, format) had already metered: the same packets
    /// exported twice. Kept beside, not added (see the module doc).
    pub metered_twice: u64,
    /// Sessions with such flows.
    pub sessions_metered_twice: u64,
    /// Open sessions closed because a flow for the same ports came after the gap.
    pub split_by_gap: u64,
    /// Open sessions closed because a flow for the same ports opened a new
    /// connection (SYN) after the session had ended (FIN or RST).
    pub port_reused: u64,
    /// Flows that ended more than the pairing window before their exporter's
    /// clock (out of order; softflowd flushing its cache at the end sends
    /// many): joined to their session where it is still open, else they
    /// start one of their own.
    pub late_flows: u64,
    /// SMTP flows with a start or end outside the years 0000-9999 (a
    /// damaged or misread time field): dropped.
    pub out_of_range_times: u64,
    /// SMTP flows that ended before they started: their end is taken to be
    /// their start, as nfdump does.
    pub end_before_start: u64,
    /// SMTP flows that ended more than a day after both the flow before and
    /// the flow after them from the same exporter: dropped.
    pub time_jumps: u64,
    /// SMTP flows of exporters past [`MAX_EXPORTER_CLOCKS`]: paired without
    /// the time-jump check.
    pub flows_without_clock: u64,
    pub sessions: u64,
    /// Sessions emitted because the time window passed / the open limit was hit.
    pub flushed_by_time: u64,
    pub evicted: u64,
    /// Sessions per outcome, in `Outcome::ALL` order.
    pub outcomes: [u64; 8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    client: IpAddr,
    server: IpAddr,
    client_port: u16,
    server_port: u16,
}

impl Key {
    fn of(f: &FlowRecord, c2s: bool) -> Key {
        if c2s {
            Key {
                client: f.src,
                server: f.dst,
                client_port: f.src_port,
                server_port: f.dst_port,
            }
        } else {
            Key {
                client: f.dst,
                server: f.src,
                client_port: f.dst_port,
                server_port: f.src_port,
            }
        }
    }
}

struct Open {
    now: Building,
    /// The clock (index into `clocks`) of the exporter of its latest flow;
    /// `None` past [`MAX_EXPORTER_CLOCKS`].
    clock: Option<usize>,
    /// The connection on the same ports that ended before this one began
    /// (port reuse), kept until this one is emitted: its other direction
    /// may still come (a one-way exporter on the return path), and a flow
    /// that started before this connection belongs to it.
    previous: Option<Box<Building>>,
}

/// Where a flow was metered: an exporter, its observation domain and the
/// direction it metered in (ingress or egress, where the export says), in
/// one export format. An access router and the border both exporting, line
/// cards under their own domains, or one interface's ingress and another's
/// egress export meter the same packets twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Point {
    exporter: IpAddr,
    domain: u32,
    source: op25b_core::Source,
    direction: Option<u8>,
}

impl Point {
    fn of(f: &FlowRecord) -> Point {
        Point {
            exporter: f.exporter,
            domain: f.domain,
            source: f.source,
            direction: f.direction,
        }
    }
}

/// Flows between sweeps that the count of open sessions calls for, at least.
const MIN_SWEEP_FLOWS: usize = 65_536;

/// Points are numbered from 1 as they come; a session stores numbers.
const NO_POINT: u32 = 0;

/// Points numbered at most (forged exporter addresses must not grow the
/// table without end); the flows of further points all share one number,
/// so their counts add up as they did before points were told apart.
const MAX_POINTS: usize = 65_536;
const OTHER_POINTS: u32 = u32::MAX;

/// A session being paired: `rec` holds, per direction, the counts of the
/// first point that metered that direction, and the times and sampling of
/// those flows; `others` what other points metered of a direction `rec`
/// already has (empty, and not allocated, unless the same packets were
/// exported twice).
struct Building {
    rec: SessionRecord,
    /// Where `rec`'s counts of each direction (client-to-server,
    /// server-to-client) come from.
    meters: [Meter; 2],
    /// Boxed: a session metered once, nearly all, pays one pointer, not a
    /// `Vec`'s three words (1 M open sessions at most).
    #[allow(clippy::box_collection)]
    others: Option<Box<Vec<View>>>,
}

/// The point (its number, [`NO_POINT`] for none yet) that metered a
/// direction, the span of its flows and their sampling interval.
#[derive(Clone, Copy)]
struct Meter {
    point: u32,
    start: i64,
    end: i64,
    sampling: u32,
}

const NO_METER: Meter = Meter {
    point: NO_POINT,
    start: i64::MAX,
    end: i64::MIN,
    sampling: 1,
};

impl Meter {
    fn add(&mut self, point: u32, f: &FlowRecord) {
        self.point = point;
        self.start = self.start.min(f.start_us);
        self.end = self.end.max(flow_end(f));
        self.sampling = self.sampling.max(f.sampling);
    }
}

/// One more point's counts of one direction.
struct View {
    meter: Meter,
    c2s: bool,
    packets: u64,
    bytes: u64,
}

/// Pairs flows into sessions; see the module doc for the rules.
pub struct SessionPairer {
    ports: Vec<u16>,
    opts: PairerOptions,
    open: HashMap<Key, Open>,
    watermark: i64,
    last_sweep: i64,
    /// Per exporter, found through `exporters`; `last` is the exporter of
    /// the previous flow, since a datagram's flows come together.
    clocks: Vec<ExporterClock>,
    exporters: HashMap<IpAddr, usize>,
    last: Option<(IpAddr, usize)>,
    /// Flows held in `clocks`, and no held flow ends before `min_held_end`:
    /// the held flows are looked at only when the pairing clock reaches it.
    held: usize,
    min_held_end: i64,
    /// The wall time the flows pushed next arrived at, where a live
    /// collector says ([`SessionPairer::arrived_at`]).
    arrival_us: Option<i64>,
    /// Numbers of the points seen; `last_point`: the previous flow's.
    point_numbers: HashMap<Point, u32>,
    last_point: Option<(Point, u32)>,
    /// Flows paired since the last sweep, and how many call for the next.
    paired_since_sweep: usize,
    sweep_after_flows: usize,
    stats: PairerStats,
}

/// How far an SMTP flow's end may be ahead of both the exporter's flow
/// before it and its flow after it. An exporter hands a flow on when it
/// expires, so the ends of successive flows differ by up to its idle
/// timeout (softflowd's TCP default is an hour); a day is far beyond any.
pub const EXPORTER_JUMP_US: i64 = 86_400_000_000;

/// How far two exporters' clocks may differ for a flow to count as starting
/// after the connection it follows on the same ports.
const CLOCK_SKEW_US: i64 = 1_000_000;

/// Exporters whose clocks are kept: an ISP has hundreds of routers, and
/// datagrams from forged source addresses must not grow this without end.
/// Flows of further exporters are paired unchecked (`flows_without_clock`).
pub const MAX_EXPORTER_CLOCKS: usize = 4096;

/// One exporter's clock as its SMTP flows show it: the time window and the
/// sweeps move with flow ends, so one flow stamped a year ahead (a damaged
/// time field, an uptime misread) would flush every open session and stop
/// the sweeps. A flow more than [`EXPORTER_JUMP_US`] ahead of the
/// exporter's flow before it (its first flow: of the pairing clock) is held
/// until the exporter's next flow: if that one is more than a day behind it
/// too, the held flow is dropped and counted (`time_jumps`); otherwise it
/// goes on, first. It also goes on once the pairing clock comes within a day
/// of it, at `finish`, and (live) once the wall clock passes it.
///
/// `watermark` is the latest end of the exporter's paired flows: its own
/// sessions are emitted by it. `arrived_us` is the wall time its latest
/// flow arrived (live only), from which idle ticks move it on.
struct ExporterClock {
    last_end: Option<i64>,
    held: Option<(FlowRecord, bool)>,
    watermark: i64,
    arrived_us: Option<i64>,
}

impl Default for ExporterClock {
    fn default() -> Self {
        ExporterClock {
            last_end: None,
            held: None,
            watermark: i64::MIN,
            arrived_us: None,
        }
    }
}

/// A flow's end as pairing uses it: one that ended before it started
/// ends at its start.
pub(crate) fn flow_end(f: &FlowRecord) -> i64 {
    f.end_us.max(f.start_us)
}

fn carried_data(flags: u8, packets: u64, bytes: u64) -> bool {
    flags & tcp_flags::PSH != 0 || bytes > packets.saturating_mul(80)
}

/// The outcome by the rules in the module doc.
fn outcome(r: &SessionRecord) -> Outcome {
    let unsampled = r.sampling <= 1;
    let c2s_data = carried_data(r.flags_c2s, r.packets_c2s, r.bytes_c2s);
    let s2c_data = carried_data(r.flags_s2c, r.packets_s2c, r.bytes_s2c);
    if unsampled && r.packets_c2s > 0 && r.packets_s2c == 0 && r.flags_c2s & 0x3f == tcp_flags::SYN
    {
        return Outcome::NoAnswer;
    }
    if unsampled && r.flags_s2c & tcp_flags::RST != 0 && !c2s_data && !s2c_data {
        return Outcome::Reset;
    }
    if r.server_port == 465 && r.packets_c2s > 0 && r.packets_s2c > 0 && c2s_data && s2c_data {
        return Outcome::Encrypted;
    }
    Outcome::Unknown
}

impl SessionPairer {
    pub fn new(smtp_ports: &[u16], opts: PairerOptions) -> Self {
        SessionPairer {
            ports: smtp_ports.to_vec(),
            opts,
            open: HashMap::new(),
            watermark: i64::MIN,
            last_sweep: i64::MIN,
            clocks: Vec::new(),
            exporters: HashMap::new(),
            last: None,
            held: 0,
            min_held_end: i64::MAX,
            arrival_us: None,
            point_numbers: HashMap::new(),
            last_point: None,
            paired_since_sweep: 0,
            sweep_after_flows: MIN_SWEEP_FLOWS,
            stats: PairerStats::default(),
        }
    }

    /// The number of the point that metered `f`.
    fn point_number(&mut self, f: &FlowRecord) -> u32 {
        let point = Point::of(f);
        if let Some((last, n)) = self.last_point
            && last == point
        {
            return n;
        }
        let next = self.point_numbers.len() + 1;
        let n = match self.point_numbers.get(&point) {
            Some(&n) => n,
            None if next <= MAX_POINTS => {
                let n = u32::try_from(next).unwrap_or(OTHER_POINTS);
                self.point_numbers.insert(point, n);
                n
            }
            None => OTHER_POINTS,
        };
        self.last_point = Some((point, n));
        n
    }

    pub fn stats(&self) -> &PairerStats {
        &self.stats
    }

    /// A live collector: the flows pushed from now on arrived at wall time
    /// `now_us`. [`SessionPairer::advance`] then moves each exporter's clock
    /// on by the wall time since its latest flow came, whatever its offset
    /// from the collector's clock.
    pub fn arrived_at(&mut self, now_us: i64) {
        self.arrival_us = Some(now_us);
    }

    /// Adds one flow; sessions that are complete by the time window are
    /// handed to `out`.
    pub fn push(&mut self, f: &FlowRecord, out: &mut dyn FnMut(SessionRecord)) {
        self.stats.flows += 1;
        if f.protocol != 6 {
            self.stats.non_tcp += 1;
            return;
        }
        let c2s = if self.ports.contains(&f.dst_port) {
            true
        } else if self.ports.contains(&f.src_port) {
            false
        } else {
            self.stats.not_smtp += 1;
            return;
        };
        if !representable(f.start_us) || !representable(f.end_us) {
            self.stats.out_of_range_times += 1;
            return;
        }
        let at = match self.last {
            Some((exporter, at)) if exporter == f.exporter => Some(at),
            _ => {
                let next = self.clocks.len();
                let at = match self.exporters.get(&f.exporter) {
                    Some(&at) => Some(at),
                    None if next < MAX_EXPORTER_CLOCKS => {
                        self.exporters.insert(f.exporter, next);
                        self.clocks.push(ExporterClock::default());
                        Some(next)
                    }
                    None => None,
                };
                self.last = at.map(|at| (f.exporter, at));
                at
            }
        };
        // The end as pairing will use it: a flow ending before it starts
        // ends at its start.
        let end = flow_end(f);
        // Held flows the pairing clock has since reached are not ahead of it.
        if self.held > 0
            && self.watermark != i64::MIN
            && self.min_held_end <= self.watermark.saturating_add(EXPORTER_JUMP_US)
        {
            self.release_held(Some(self.watermark.saturating_add(EXPORTER_JUMP_US)), out);
        }
        let Some((at, clock)) = at.and_then(|at| Some((at, self.clocks.get_mut(at)?))) else {
            // Past the cap (datagrams from forged sources): not checked.
            self.stats.flows_without_clock += 1;
            self.pair(f, c2s, None, out);
            return;
        };
        let release = match clock.held.take() {
            Some((h, _)) if end.saturating_add(EXPORTER_JUMP_US) < flow_end(&h) => {
                self.held -= 1;
                self.stats.time_jumps += 1;
                None
            }
            Some(h) => {
                self.held -= 1;
                clock.last_end = Some(flow_end(&h.0));
                Some(h)
            }
            None => None,
        };
        // Ahead of what this exporter sent last or, for its first flow, of
        // the pairing clock (the other exporters' flows); the first flow of
        // all has nothing to be checked against and waits for the next.
        let reference = clock
            .last_end
            .or((self.watermark != i64::MIN).then_some(self.watermark));
        let hold = reference.is_none_or(|r| end > r.saturating_add(EXPORTER_JUMP_US));
        if hold {
            clock.held = Some((f.clone(), c2s));
            self.held += 1;
            self.min_held_end = self.min_held_end.min(end);
        } else {
            clock.last_end = Some(end);
        }
        if let Some((h, h_c2s)) = release {
            self.pair(&h, h_c2s, Some(at), out);
        }
        if !hold {
            self.pair(f, c2s, Some(at), out);
        }
    }

    /// Flows held back for their exporter's next flow, in time order: those
    /// that ended by `until` (all of them with `None`) go on.
    fn release_held(&mut self, until: Option<i64>, out: &mut dyn FnMut(SessionRecord)) {
        let mut ready: Vec<(FlowRecord, bool, usize)> = Vec::new();
        let mut min_left = i64::MAX;
        for (at, clock) in self.clocks.iter_mut().enumerate() {
            let Some(end) = clock.held.as_ref().map(|(h, _)| flow_end(h)) else {
                continue;
            };
            if until.is_some_and(|u| end > u) {
                min_left = min_left.min(end);
            } else if let Some((h, c2s)) = clock.held.take() {
                clock.last_end = Some(end);
                ready.push((h, c2s, at));
            }
        }
        self.held -= ready.len();
        self.min_held_end = min_left;
        ready.sort_by_key(|(h, _, _)| (flow_end(h), h.exporter));
        for (h, c2s, at) in ready {
            self.pair(&h, c2s, Some(at), out);
        }
    }

    /// A checked SMTP flow into its session; `clock`: its exporter's.
    fn pair(
        &mut self,
        f: &FlowRecord,
        c2s: bool,
        clock: Option<usize>,
        out: &mut dyn FnMut(SessionRecord),
    ) {
        let key = Key::of(f, c2s);
        let end_us = flow_end(f);
        if f.end_us < f.start_us {
            self.stats.end_before_start += 1;
        }
        if f.rev_packets > 0 || f.rev_bytes > 0 {
            self.stats.biflows += 1;
        }
        let exporter = clock.and_then(|at| self.clocks.get_mut(at));
        let own_clock = match exporter {
            Some(e) => {
                let before = e.watermark;
                e.watermark = e.watermark.max(end_us);
                if self.arrival_us.is_some() {
                    e.arrived_us = self.arrival_us;
                }
                before
            }
            None => self.watermark,
        };
        if own_clock != i64::MIN && end_us < own_clock.saturating_sub(self.opts.window_us) {
            self.stats.late_flows += 1;
        }
        let point = self.point_number(f);
        // The connection a reused port ended, kept beside the new one.
        let mut previous = None;
        if let Some(open) = self.open.get(&key) {
            let rec = &open.now.rec;
            let after_gap = f.start_us > rec.end.saturating_add(self.opts.gap_us);
            // A new connection on the same ports within the gap: the flow
            // opens with SYN where the open session already had its SYN that
            // way and has ended (FIN or RST). A later cut of one connection
            // by the exporter's active timeout carries no SYN.
            let open_flags = if c2s { rec.flags_c2s } else { rec.flags_s2c };
            let ended = (rec.flags_c2s | rec.flags_s2c) & (tcp_flags::FIN | tcp_flags::RST) != 0;
            // Only where the flow's point has metered this direction of the
            // open session: from another point, the SYN is the same packet
            // metered again (two points' clocks may differ by a second,
            // longer than many a connection: v9 carries whole seconds).
            let reused = f.tcp_flags & tcp_flags::SYN != 0
                && open_flags & tcp_flags::SYN != 0
                && ended
                && f.start_us.saturating_add(CLOCK_SKEW_US) >= rec.end
                && open.now.metered(point, c2s);
            if after_gap && let Some(old) = self.open.remove(&key) {
                self.stats.split_by_gap += 1;
                self.emit(old, out);
            } else if reused && let Some(old) = self.open.remove(&key) {
                self.stats.port_reused += 1;
                // At most one earlier connection is kept.
                if let Some(older) = old.previous {
                    self.emit_record(*older, out);
                }
                previous = Some(Box::new(old.now));
            }
        }
        let metered_twice = match self.open.get_mut(&key) {
            Some(open) => {
                self.stats.joined += 1;
                open.clock = clock;
                // Which of the two connections: the one whose start is
                // nearer, on the flow's point's clock (a point that metered
                // a connection beside another shows how far its clock is off
                // theirs: a second, more than the time between two
                // connections). A SYN from a point that metered neither,
                // where the starts do not tell by a second, goes to the
                // first: each point meters the connections in order.
                let to_earlier = match open.previous.as_ref() {
                    None => false,
                    Some(earlier) => {
                        let offset = earlier
                            .clock_offset(point)
                            .or_else(|| open.now.clock_offset(point))
                            .unwrap_or(0);
                        let at = f.start_us.saturating_sub(offset);
                        let to_earlier = at.abs_diff(earlier.counted_start());
                        let to_now = at.abs_diff(open.now.counted_start());
                        let first_sighting =
                            !earlier.metered_any(point) && !open.now.metered_any(point);
                        if f.tcp_flags & tcp_flags::SYN != 0
                            && first_sighting
                            && to_earlier.abs_diff(to_now) < CLOCK_SKEW_US.unsigned_abs()
                        {
                            true
                        } else {
                            to_earlier < to_now
                        }
                    }
                };
                match open.previous.as_mut() {
                    Some(earlier) if to_earlier => add(earlier, f, c2s, point),
                    _ => add(&mut open.now, f, c2s, point),
                }
            }
            None => {
                let mut rec = SessionRecord::new(
                    f.source,
                    key.client,
                    key.client_port,
                    key.server,
                    key.server_port,
                );
                rec.start = f.start_us;
                rec.end = end_us;
                rec.sampling = f.sampling.max(1);
                let mut now = Building {
                    rec,
                    meters: [NO_METER; 2],
                    others: None,
                };
                let twice = add(&mut now, f, c2s, point);
                self.open.insert(
                    key,
                    Open {
                        now,
                        clock,
                        previous,
                    },
                );
                twice
            }
        };
        if metered_twice {
            self.stats.metered_twice += 1;
        }
        self.watermark = self.watermark.max(end_us);
        if self.open.len() > self.opts.max_open {
            self.evict(out);
        }
        let sweep_every = (self.opts.window_us / 4).max(1);
        self.paired_since_sweep += 1;
        // Also after as many flows as there were open sessions after the
        // last sweep (amortised one look per flow; the table at most doubles
        // in between): an exporter behind the pairing clock (a router an
        // hour slow, a file of an earlier hour read after a later one) moves
        // only its own clock, and its sessions must go by it.
        if self.last_sweep == i64::MIN
            || self.watermark.saturating_sub(self.last_sweep) >= sweep_every
            || self.paired_since_sweep >= self.sweep_after_flows
        {
            self.last_sweep = self.watermark;
            let now: Vec<i64> = self.clocks.iter().map(|c| c.watermark).collect();
            self.sweep(&now, self.watermark, out);
        }
    }

    /// Emits the sessions whose exporter's clock (`now`, by clock index;
    /// `default` for sessions without one) is more than the window past
    /// their end. A clock is taken to be at most [`EXPORTER_JUMP_US`]
    /// behind the pairing clock, so an exporter that fell silent does not
    /// keep its sessions open until the end of the input.
    fn sweep(&mut self, now: &[i64], default: i64, out: &mut dyn FnMut(SessionRecord)) {
        let floor = self.watermark.saturating_sub(EXPORTER_JUMP_US);
        let window = self.opts.window_us;
        let cutoff = |o: &Open| {
            let clock = o
                .clock
                .and_then(|at| now.get(at).copied())
                .unwrap_or(default);
            clock.max(floor).saturating_sub(window)
        };
        let n = self.flush_where(|o| o.now.rec.end < cutoff(o), out);
        self.stats.flushed_by_time += n;
        self.paired_since_sweep = 0;
        self.sweep_after_flows = self.open.len().max(MIN_SWEEP_FLOWS);
    }

    /// Time passed without flows (a live collector's idle tick): sessions
    /// that ended more than the window before `now_us` are emitted.
    pub fn advance(&mut self, now_us: i64, out: &mut dyn FnMut(SessionRecord)) {
        // A held flow that ended by now is not from the future.
        if self.held > 0 {
            self.release_held(Some(now_us), out);
        }
        // Not only when the wall clock passes the pairing clock: an exporter
        // ahead of the collector holds that up, and the others' sessions
        // still have to go by their own clocks.
        self.watermark = self.watermark.max(now_us);
        self.last_sweep = self.watermark;
        // Each exporter's clock moves on by the wall time since its latest
        // flow arrived; without arrival times, the wall clock is its clock.
        let now: Vec<i64> = self
            .clocks
            .iter()
            .map(|c| match c.arrived_us {
                Some(arrived) if c.watermark != i64::MIN => c
                    .watermark
                    .saturating_add(now_us.saturating_sub(arrived).max(0)),
                _ => now_us,
            })
            .collect();
        self.sweep(&now, now_us, out);
    }

    /// End of input: every open session is emitted.
    pub fn finish(&mut self, out: &mut dyn FnMut(SessionRecord)) {
        self.release_held(None, out);
        self.flush_where(|_| true, out);
    }

    fn evict(&mut self, out: &mut dyn FnMut(SessionRecord)) {
        let mut ends: Vec<i64> = self.open.values().map(|o| o.now.rec.end).collect();
        let tenth = (ends.len() / 10).max(1);
        let (_, cutoff, _) = ends.select_nth_unstable(tenth - 1);
        let cutoff = *cutoff;
        let n = self.flush_where(|o| o.now.rec.end <= cutoff, out);
        self.stats.evicted += n;
    }

    fn flush_where(
        &mut self,
        pred: impl Fn(&Open) -> bool,
        out: &mut dyn FnMut(SessionRecord),
    ) -> u64 {
        let keys: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, o)| pred(o))
            .map(|(k, _)| *k)
            .collect();
        let mut batch: Vec<Open> = keys.iter().filter_map(|k| self.open.remove(k)).collect();
        batch.sort_by_key(|o| o.now.rec.time_order());
        let n = batch.len() as u64;
        for o in batch {
            self.emit(o, out);
        }
        n
    }

    fn emit(&mut self, open: Open, out: &mut dyn FnMut(SessionRecord)) {
        if let Some(earlier) = open.previous {
            self.emit_record(*earlier, out);
        }
        self.emit_record(open.now, out);
    }

    fn emit_record(&mut self, session: Building, out: &mut dyn FnMut(SessionRecord)) {
        if session.others.is_some() {
            self.stats.sessions_metered_twice += 1;
        }
        let mut rec = session.resolve();
        rec.outcome = outcome(&rec);
        rec.tls = rec.outcome == Outcome::Encrypted;
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == rec.outcome) {
            self.stats.outcomes[i] += 1;
        }
        self.stats.sessions += 1;
        out(rec);
    }
}

/// Other points kept per session at most: one per exporter that metered
/// the connection again; more (forged exporter addresses) only count.
const MAX_OTHER_POINTS: usize = 8;

/// Adds a flow's counts to the session. True where a direction it carries
/// had already been metered at another point: those counts are kept beside
/// the session's, not added to them (see [`Building::resolve`]).
fn add(b: &mut Building, f: &FlowRecord, c2s: bool, point: u32) -> bool {
    let fwd = (f.packets, f.bytes, f.tcp_flags);
    let rev = (f.rev_packets, f.rev_bytes, f.rev_tcp_flags);
    let mut twice = false;
    for (dir_c2s, (packets, bytes, flags)) in [(c2s, fwd), (!c2s, rev)] {
        if packets == 0 && bytes == 0 && flags == 0 {
            // A one-way flow's reverse side: nothing metered.
            continue;
        }
        let rec = &mut b.rec;
        // Every point's flows keep the session open (joining, sweeps): one
        // point may stop reporting while another goes on. The span recorded
        // is the chosen points' (`Building::resolve`).
        rec.start = rec.start.min(f.start_us);
        rec.end = rec.end.max(flow_end(f));
        let (rec_packets, rec_bytes, rec_flags, slot) = if dir_c2s {
            (
                &mut rec.packets_c2s,
                &mut rec.bytes_c2s,
                &mut rec.flags_c2s,
                0,
            )
        } else {
            (
                &mut rec.packets_s2c,
                &mut rec.bytes_s2c,
                &mut rec.flags_s2c,
                1,
            )
        };
        // Flags are a property of the packets: the same whoever metered them.
        *rec_flags |= flags;
        let meter = &mut b.meters[slot];
        if meter.point == NO_POINT || meter.point == point {
            meter.add(point, f);
            *rec_packets = rec_packets.saturating_add(packets);
            *rec_bytes = rec_bytes.saturating_add(bytes);
            // The sampling of what it counts: another point's must not mark
            // exact counts sampled.
            rec.sampling = rec.sampling.max(f.sampling);
            continue;
        }
        twice = true;
        let others = b.others.get_or_insert_with(Box::default);
        let full = others.len() >= MAX_OTHER_POINTS;
        match others
            .iter_mut()
            .find(|v| v.meter.point == point && v.c2s == dir_c2s)
        {
            Some(v) => {
                v.meter.add(point, f);
                v.packets = v.packets.saturating_add(packets);
                v.bytes = v.bytes.saturating_add(bytes);
            }
            None if !full => {
                let mut meter = NO_METER;
                meter.add(point, f);
                others.push(View {
                    meter,
                    c2s: dir_c2s,
                    packets,
                    bytes,
                });
            }
            None => {}
        }
    }
    twice
}

impl Building {
    /// Whether `point` metered either direction of this session.
    fn metered_any(&self, point: u32) -> bool {
        self.metered(point, true) || self.metered(point, false)
    }

    /// Where the counts this session holds begin: its first points' start.
    fn counted_start(&self) -> i64 {
        self.meters
            .iter()
            .filter(|m| m.point != NO_POINT)
            .map(|m| m.start)
            .min()
            .unwrap_or(self.rec.start)
    }

    /// How far `point`'s clock is ahead of the first point's, where it
    /// metered a direction of this session another point metered first.
    fn clock_offset(&self, point: u32) -> Option<i64> {
        let others = self.others.as_ref()?;
        others.iter().find(|v| v.meter.point == point).map(|v| {
            let first = &self.meters[usize::from(!v.c2s)];
            v.meter.start.saturating_sub(first.start)
        })
    }

    /// Whether `point` metered the direction (`c2s` or not) of this session.
    fn metered(&self, point: u32, c2s: bool) -> bool {
        self.meters[usize::from(!c2s)].point == point
            || self
                .others
                .iter()
                .flat_map(|o| o.iter())
                .any(|v| v.meter.point == point && v.c2s == c2s)
    }

    /// The session, each direction counted as the point that metered it
    /// best saw it: the finest sampling first (exact counts over estimates),
    /// then the most packets. Points metering one connection see the same
    /// packets (a connection's direction keeps its path under per-flow load
    /// balancing), so their counts are not added; a route change in the
    /// middle of a connection, where each point saw a part, is undercounted
    /// by this. Span and sampling are then those of the counts chosen.
    fn resolve(self) -> SessionRecord {
        let mut rec = self.rec;
        let Some(others) = self.others else {
            return rec;
        };
        let mut chosen = self.meters;
        for v in others.iter() {
            let (packets, bytes, slot) = if v.c2s {
                (&mut rec.packets_c2s, &mut rec.bytes_c2s, 0)
            } else {
                (&mut rec.packets_s2c, &mut rec.bytes_s2c, 1)
            };
            let best = &mut chosen[slot];
            let finer = (std::cmp::Reverse(v.meter.sampling), v.packets, v.bytes)
                > (std::cmp::Reverse(best.sampling), *packets, *bytes);
            if finer {
                *packets = v.packets;
                *bytes = v.bytes;
                *best = v.meter;
            }
        }
        let metered = chosen.iter().filter(|m| m.point != NO_POINT);
        if let Some(start) = metered.clone().map(|m| m.start).min() {
            rec.start = start;
        }
        if let Some(end) = metered.clone().map(|m| m.end).max() {
            rec.end = end;
        }
        rec.sampling = metered.map(|m| m.sampling).max().unwrap_or(1).max(1);
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use op25b_core::Source;

    #[allow(clippy::too_many_arguments)]
    fn flow(
        src: &str,
        sp: u16,
        dst: &str,
        dp: u16,
        pkts: u64,
        bytes: u64,
        flags: u8,
        t: i64,
    ) -> FlowRecord {
        FlowRecord {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: sp,
            dst_port: dp,
            protocol: 6,
            packets: pkts,
            bytes,
            tcp_flags: flags,
            start_us: t,
            end_us: t + 1_000_000,
            sampling: 1,
            source: Source::Netflow9,
            exporter: "192.0.2.1".parse().unwrap(),
            domain: 0,
            direction: None,
            rev_packets: 0,
            rev_bytes: 0,
            rev_tcp_flags: 0,
        }
    }

    /// One direction of the connection 10.0.0.5:40001 -> 192.0.2.9:25.
    fn half(c2s: bool, pkts: u64, bytes: u64, flags: u8, t: i64) -> FlowRecord {
        if c2s {
            flow("10.0.0.5", 40001, "192.0.2.9", 25, pkts, bytes, flags, t)
        } else {
            flow("192.0.2.9", 25, "10.0.0.5", 40001, pkts, bytes, flags, t)
        }
    }

    fn run(flows: &[FlowRecord]) -> Vec<SessionRecord> {
        let mut p = SessionPairer::new(&[25, 465, 587], PairerOptions::default());
        let mut v = Vec::new();
        for f in flows {
            p.push(f, &mut |r| v.push(r));
        }
        p.finish(&mut |r| v.push(r));
        v
    }

    #[test]
    fn outcomes() {
        use tcp_flags::*;
        let s = run(&[flow("10.0.0.1", 4000, "192.0.2.9", 25, 3, 180, SYN, 0)]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].outcome, Outcome::NoAnswer);
        let s = run(&[
            flow("10.0.0.1", 4000, "192.0.2.9", 25, 1, 60, SYN, 0),
            flow("192.0.2.9", 25, "10.0.0.1", 4000, 1, 40, RST | ACK, 0),
        ]);
        assert_eq!((s.len(), s[0].outcome), (1, Outcome::Reset));
        assert_eq!((s[0].packets_c2s, s[0].packets_s2c), (1, 1));
        let s = run(&[
            flow(
                "10.0.0.1",
                4000,
                "192.0.2.9",
                465,
                20,
                4000,
                SYN | ACK | PSH | FIN,
                0,
            ),
            flow(
                "192.0.2.9",
                465,
                "10.0.0.1",
                4000,
                18,
                9000,
                SYN | ACK | PSH | FIN,
                0,
            ),
        ]);
        assert_eq!(s[0].outcome, Outcome::Encrypted);
        assert!(s[0].tls);
        let s = run(&[
            flow(
                "10.0.0.1",
                4000,
                "192.0.2.9",
                25,
                20,
                4000,
                SYN | ACK | PSH | FIN,
                0,
            ),
            flow(
                "192.0.2.9",
                25,
                "10.0.0.1",
                4000,
                18,
                9000,
                SYN | ACK | PSH | FIN,
                0,
            ),
        ]);
        assert_eq!(s[0].outcome, Outcome::Unknown);
    }

    #[test]
    fn active_timeout_cuts_are_joined_and_port_reuse_split() {
        let a = flow("10.0.0.1", 4000, "192.0.2.9", 25, 10, 1000, 0x18, 0);
        let b = flow("10.0.0.1", 4000, "192.0.2.9", 25, 5, 500, 0x11, 30_000_000);
        let c = flow("10.0.0.1", 4000, "192.0.2.9", 25, 1, 60, 0x02, 500_000_000);
        let s = run(&[a, b, c]);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].packets_c2s, s[0].bytes_c2s, s[0].flags_c2s),
            (15, 1500, 0x19)
        );
        assert_eq!(s[0].end, 31_000_000);
        assert_eq!(s[1].packets_c2s, 1);
    }

    #[test]
    fn times_no_record_can_carry_are_dropped_and_reversed_ones_mended() {
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut got = Vec::new();
        let t = 1_700_000_000_000_000;
        let mut far = flow("10.0.0.1", 4000, "192.0.2.9", 25, 3, 180, 0x1b, t);
        far.end_us = i64::MAX;
        let mut reversed = flow("10.0.0.2", 4000, "192.0.2.9", 25, 3, 180, 0x1b, t);
        reversed.end_us = t - 5_000_000;
        for f in [reversed, far] {
            p.push(&f, &mut |r| got.push(r));
        }
        // The flow with a broken time did not move the window: the other
        // session is still open.
        assert!(got.is_empty());
        p.finish(&mut |r| got.push(r));
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].start, got[0].end), (t, t));
        let st = p.stats();
        assert_eq!(
            (st.flows, st.out_of_range_times, st.end_before_start),
            (2, 1, 1)
        );
    }

    #[test]
    fn one_flow_stamped_a_year_ahead_is_dropped_and_flushes_nothing() {
        let t = 1_700_000_000_000_000;
        let day: i64 = 86_400_000_000;
        let at = |exporter: &str, sp: u16, dp: u16, when: i64| {
            let (client, server) = ("10.0.0.1", "192.0.2.9");
            let mut f = if dp == 25 {
                flow(client, sp, server, dp, 5, 900, 0x1b, when)
            } else {
                flow(server, sp, client, dp, 5, 400, 0x1b, when)
            };
            f.exporter = exporter.parse().unwrap();
            f
        };
        let run = |flows: &[FlowRecord]| {
            let mut p = SessionPairer::new(&[25], PairerOptions::default());
            let mut got = Vec::new();
            for f in flows {
                p.push(f, &mut |r| got.push(r));
            }
            p.finish(&mut |r| got.push(r));
            let mut sessions: Vec<(u16, u64, u64)> = got
                .iter()
                .map(|r| (r.client_port, r.packets_c2s, r.packets_s2c))
                .collect();
            sessions.sort();
            (sessions, p.stats().time_jumps)
        };
        // Ports 4000 and 4001 each one session with both directions: the
        // year-ahead flow neither flushed them nor stayed.
        let (sessions, jumps) = run(&[
            at("192.0.2.1", 4000, 25, t),
            at("192.0.2.1", 4001, 25, t + 1_000_000),
            at("192.0.2.1", 4002, 25, t + 365 * day),
            at("192.0.2.1", 25, 4000, t + 2_000_000),
            at("192.0.2.1", 25, 4001, t + 3_000_000),
        ]);
        assert_eq!(sessions, [(4000, 5, 5), (4001, 5, 5)]);
        assert_eq!(jumps, 1);
        // The same when the flow's start is the damaged time and its end
        // comes before it (pairing ends it at its start).
        let mut reversed = at("192.0.2.1", 4002, 25, t + 365 * day);
        reversed.end_us = t + 2_000_000;
        let (sessions, jumps) = run(&[
            at("192.0.2.1", 4000, 25, t),
            at("192.0.2.1", 4001, 25, t + 1_000_000),
            reversed,
            at("192.0.2.1", 25, 4000, t + 2_000_000),
            at("192.0.2.1", 25, 4001, t + 3_000_000),
        ]);
        assert_eq!(sessions, [(4000, 5, 5), (4001, 5, 5)]);
        assert_eq!(jumps, 1);
        // Asymmetric routing: a connection's two halves from two exporters,
        // the first flow of one of them among the other's flows, which go on
        // for minutes. It is checked against the pairing clock and not held
        // back, so the halves meet.
        let mut flows = vec![at("192.0.2.2", 5000, 25, t)];
        flows.push(at("192.0.2.1", 4000, 25, t + 1_000_000));
        flows.push(at("192.0.2.2", 25, 4000, t + 2_000_000));
        for i in 0..60u16 {
            flows.push(at("192.0.2.2", 6000 + i, 25, t + i64::from(i) * 10_000_000));
        }
        flows.push(at("192.0.2.1", 4999, 25, t + 600_000_000));
        let (sessions, jumps) = run(&flows);
        assert!(sessions.contains(&(4000, 5, 5)), "{sessions:?}");
        assert_eq!(jumps, 0);
        // An exporter whose clock is two days ahead of the other's: its
        // own flows follow each other, so none is a jump and none is lost
        // (the exporter behind is taken to be at most a day behind, so its
        // sessions may be emitted before their last flow).
        let (sessions, jumps) = run(&[
            at("192.0.2.1", 4000, 25, t),
            at("192.0.2.2", 5000, 25, t + 2 * day),
            at("192.0.2.1", 25, 4000, t + 1_000_000),
            at("192.0.2.2", 25, 5000, t + 2 * day + 1_000_000),
        ]);
        let packets: u64 = sessions.iter().map(|s| s.1 + s.2).sum();
        assert_eq!((packets, jumps), (20, 0));
        assert!(sessions.contains(&(5000, 5, 5)), "{sessions:?}");
        // A real jump (an exporter back after two days) is followed.
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut got = Vec::new();
        for f in [
            at("192.0.2.1", 4000, 25, t),
            at("192.0.2.1", 4001, 25, t + 2 * day),
            at("192.0.2.1", 25, 4001, t + 2 * day + 1_000_000),
        ] {
            p.push(&f, &mut |r| got.push(r));
        }
        p.finish(&mut |r| got.push(r));
        assert_eq!(got.len(), 2);
        assert_eq!(p.stats().time_jumps, 0);
    }

    /// Two exporters whose clocks are ten minutes apart (no NTP on one
    /// router), their datagrams interleaved as they arrive: a connection
    /// seen by the exporter behind, cut by its 60 s active timeout into
    /// four flows each way over three minutes, is one session, and none of
    /// its flows is late. Its sessions follow its own clock, not the one
    /// ahead.
    #[test]
    fn a_clock_offset_between_exporters_splits_nothing() {
        let t = 1_700_000_000_000_000;
        let offset = 600_000_000;
        let minute = 60_000_000;
        let cut = |exporter: &str, c2s: bool, port: u16, start: i64| {
            let mut f = if c2s {
                flow("10.0.0.1", port, "192.0.2.9", 25, 10, 4000, 0x18, start)
            } else {
                flow("192.0.2.9", 25, "10.0.0.1", port, 10, 600, 0x18, start)
            };
            f.end_us = start + minute;
            f.exporter = exporter.parse().unwrap();
            f
        };
        let mut flows = Vec::new();
        for i in 0..4i64 {
            let now = t + i * minute;
            // The exporter ahead: a short connection a second, as it expires.
            for k in 0..60i64 {
                let port = 20_000 + (i * 60 + k) as u16;
                let at = now + offset + k * 1_000_000;
                flows.push(cut("192.0.2.1", true, port, at));
                flows.push(cut("192.0.2.1", false, port, at));
            }
            flows.push(cut("192.0.2.2", true, 4000, now));
            flows.push(cut("192.0.2.2", false, 4000, now));
        }
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut got = Vec::new();
        for f in &flows {
            p.push(f, &mut |r| got.push(r));
        }
        p.finish(&mut |r| got.push(r));
        let behind: Vec<&SessionRecord> = got.iter().filter(|r| r.client_port == 4000).collect();
        assert_eq!(behind.len(), 1, "{behind:?}");
        assert_eq!((behind[0].packets_c2s, behind[0].packets_s2c), (40, 40));
        assert_eq!(p.stats().late_flows, 0);
        assert_eq!(got.len(), 241);
    }

    /// Live: the collector's idle ticks move each exporter's clock on from
    /// when its flows arrived, so an exporter ten minutes behind the
    /// collector's clock keeps its open sessions until its own window
    /// passes, and then they go.
    #[test]
    fn idle_ticks_follow_each_exporters_clock() {
        let wall = 1_700_000_000_000_000;
        let behind = 600_000_000;
        let mut f = flow(
            "10.0.0.1",
            4000,
            "192.0.2.9",
            25,
            10,
            4000,
            0x18,
            wall - behind - 2_000_000,
        );
        f.exporter = "192.0.2.2".parse().unwrap();
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut got = Vec::new();
        p.arrived_at(wall);
        // Its first flow (held for the next, being ahead of nothing) and a
        // second one to release it.
        p.push(&f, &mut |r| got.push(r));
        let mut g = f.clone();
        g.src_port = 4001;
        p.push(&g, &mut |r| got.push(r));
        p.advance(wall + 2_000_000, &mut |r| got.push(r));
        assert!(got.is_empty(), "{got:?}");
        p.advance(wall + 310_000_000, &mut |r| got.push(r));
        assert_eq!(got.len(), 2);
        assert_eq!(p.stats().flushed_by_time, 2);
    }

    /// Three connections on the same ports a second apart (softflowd
    /// exported the third as a record of its own, starting with SYN): three
    /// sessions. One connection cut in two by an active timeout, and a SYN
    /// sent again by a client nobody answers, stay one.
    #[test]
    fn the_same_packets_metered_at_two_points_are_counted_once() {
        use tcp_flags::*;
        let t = 1_700_000_000_000_000;
        let at = |f: FlowRecord, exporter: &str, source: Source, domain: u32| FlowRecord {
            exporter: exporter.parse().unwrap(),
            source,
            domain,
            ..f
        };
        let c2s = |pkts, bytes, start| half(true, pkts, bytes, SYN | ACK | PSH, start);
        let s2c = |pkts, bytes, start| half(false, pkts, bytes, SYN | ACK | PSH | FIN, start);
        let a = "192.0.2.1";
        // The access router cuts the client's direction in two (active
        // timeout); the border meters it whole, and the return path once.
        let one = vec![
            at(c2s(6, 500, t), a, Source::Netflow9, 0),
            at(c2s(4, 3000, t + 2_000_000), a, Source::Netflow9, 0),
            at(s2c(9, 700, t), a, Source::Netflow9, 0),
        ];
        let mut both = one.clone();
        both.push(at(c2s(10, 3500, t), "192.0.2.2", Source::Netflow9, 0));
        both.push(at(s2c(9, 700, t), "192.0.2.2", Source::Netflow9, 0));
        // The same router's other line card, and its IPFIX export.
        both.push(at(s2c(9, 700, t), a, Source::Netflow9, 3));
        both.push(at(s2c(9, 700, t), a, Source::Ipfix, 0));
        let counts = |r: &SessionRecord| (r.packets_c2s, r.bytes_c2s, r.packets_s2c, r.bytes_s2c);
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut out = Vec::new();
        for f in &both {
            p.push(f, &mut |r| out.push(r));
        }
        p.finish(&mut |r| out.push(r));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(counts(&out[0]), (10, 3500, 9, 700));
        assert_eq!(out[0].outcome, run(&one)[0].outcome);
        assert_eq!(
            (p.stats().metered_twice, p.stats().sessions_metered_twice),
            (4, 1)
        );

        // The point that metered more of a direction counts, whichever came
        // first: a lossy first exporter does not cap the session.
        let mut late = vec![at(c2s(3, 200, t), "192.0.2.2", Source::Netflow9, 0)];
        late.extend(one.iter().cloned());
        assert_eq!(counts(&run(&late)[0]), (10, 3500, 9, 700));

        // Exact counts over sampled ones, whichever came first, with their
        // sampling: an unanswered SYN seen whole by one router and 1 in 1000
        // by another is still unanswered, and not marked sampled.
        let syn = |pkts, sampling, exporter: &str| FlowRecord {
            sampling,
            ..at(
                flow("10.0.0.5", 40002, "192.0.2.9", 25, pkts, 60 * pkts, SYN, t),
                exporter,
                Source::Netflow9,
                0,
            )
        };
        for flows in [
            vec![syn(3, 1, a), syn(1, 1000, "192.0.2.2")],
            vec![syn(1, 1000, "192.0.2.2"), syn(3, 1, a)],
        ] {
            let s = run(&flows);
            assert_eq!(s.len(), 1, "{s:?}");
            assert_eq!((s[0].packets_c2s, s[0].sampling), (3, 1), "{s:?}");
            assert_eq!(s[0].outcome, Outcome::NoAnswer);
        }

        // Another point's clock 0.9 s early (v9's whole seconds) neither
        // stretches the session nor moves it: its span is that of the
        // counts it keeps.
        let early = |f: FlowRecord| FlowRecord {
            start_us: f.start_us - 900_000,
            end_us: f.end_us - 900_000,
            ..f
        };
        let mut skewed = one.clone();
        skewed.push(early(at(
            c2s(10, 3500, t),
            "192.0.2.2",
            Source::Netflow9,
            0,
        )));
        skewed.push(early(at(s2c(9, 700, t), "192.0.2.2", Source::Netflow9, 0)));
        let s = run(&skewed);
        let whole = &run(&one)[0];
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!((s[0].start, s[0].end), (whole.start, whole.end));

        // Asymmetric paths: each direction metered at one point is one
        // metering, and a biflow fills both of its directions at its point.
        let split = vec![
            at(c2s(10, 3500, t), a, Source::Netflow9, 0),
            at(s2c(9, 700, t), "192.0.2.2", Source::Netflow9, 0),
        ];
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut out = Vec::new();
        for f in &split {
            p.push(f, &mut |r| out.push(r));
        }
        p.finish(&mut |r| out.push(r));
        assert_eq!(counts(&out[0]), (10, 3500, 9, 700));
        assert_eq!(p.stats().metered_twice, 0);
        let biflow = FlowRecord {
            rev_packets: 9,
            rev_bytes: 700,
            rev_tcp_flags: SYN | ACK | PSH | FIN,
            ..at(c2s(10, 3500, t), a, Source::Ipfix, 0)
        };
        let with_one_way = vec![biflow, at(s2c(9, 700, t), "192.0.2.2", Source::Netflow9, 0)];
        assert_eq!(counts(&run(&with_one_way)[0]), (10, 3500, 9, 700));
    }

    #[test]
    fn an_exporter_behind_the_pairing_clock_has_its_sessions_emitted_by_its_own() {
        use tcp_flags::*;
        // Router A's flows reach the end of an hour; then router B's flows
        // of that hour come (a file of it read after A's, a router an hour
        // slow). The pairing clock stands still at A's end, but B's sessions
        // must still go once B's own clock is five minutes past them.
        let t = 1_700_000_000_000_000;
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut before_finish = 0u64;
        let a = FlowRecord {
            exporter: "192.0.2.1".parse().unwrap(),
            ..flow(
                "10.0.0.1",
                4000,
                "192.0.2.9",
                25,
                10,
                3000,
                SYN | ACK | PSH | FIN,
                t + 3_600_000_000,
            )
        };
        p.push(&a, &mut |_| before_finish += 1);
        let n = 200_000u32;
        for i in 0..n {
            let client = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            let b = FlowRecord {
                exporter: "192.0.2.2".parse().unwrap(),
                ..flow(
                    &client,
                    4000,
                    "192.0.2.9",
                    25,
                    10,
                    3000,
                    SYN | ACK | PSH | FIN,
                    t + i64::from(i) * 15_000,
                )
            };
            p.push(&b, &mut |_| before_finish += 1);
        }
        // 50 minutes of B's flows: all but the last five minutes' are out.
        assert!(
            before_finish > 150_000,
            "{before_finish} emitted before the end"
        );
        assert!(p.open.len() < 70_000, "{} open", p.open.len());
        let mut after = 0u64;
        p.finish(&mut |_| after += 1);
        assert_eq!(before_finish + after, u64::from(n) + 1);
    }

    #[test]
    fn a_reused_port_metered_at_two_points_with_clocks_apart() {
        use tcp_flags::*;
        // Two connections half a second apart on one client port, each
        // metered by router A and by router B, whose clock is 0.9 s behind.
        let t = 1_700_000_000_000_000;
        let conn = |start: i64, exporter: &str, behind: i64| {
            let at = |f: FlowRecord| FlowRecord {
                exporter: exporter.parse().unwrap(),
                start_us: f.start_us - behind,
                end_us: f.start_us - behind + 300_000,
                ..f
            };
            [
                at(half(true, 10, 900, SYN | ACK | PSH | FIN, start)),
                at(half(false, 9, 700, SYN | ACK | PSH | FIN, start)),
            ]
        };
        let a1 = conn(t, "192.0.2.1", 0);
        let a2 = conn(t + 500_000, "192.0.2.1", 0);
        let b1 = conn(t, "192.0.2.2", 900_000);
        let b2 = conn(t + 500_000, "192.0.2.2", 900_000);
        for order in [
            [&a1, &a2, &b1, &b2],
            [&a1, &b1, &a2, &b2],
            [&b1, &b2, &a1, &a2],
            [&b1, &a1, &b2, &a2],
        ] {
            let flows: Vec<FlowRecord> = order.iter().flat_map(|c| c.iter().cloned()).collect();
            let s = run(&flows);
            let counts: Vec<_> = s.iter().map(|r| (r.packets_c2s, r.packets_s2c)).collect();
            assert_eq!(counts, [(10, 9), (10, 9)], "{s:?}");
        }
    }

    #[test]
    fn second_review_cases_for_points() {
        use tcp_flags::*;
        let t = 1_700_000_000_000_000;
        let span = |f: FlowRecord, from: i64, to: i64| FlowRecord {
            start_us: t + from,
            end_us: t + to,
            ..f
        };
        // One exporter; a connection whose reply was never exported, then a
        // second on the same port: the reply is the second one's.
        let c2s = || half(true, 10, 900, SYN | ACK | PSH | FIN, t);
        let s2c = || half(false, 9, 700, SYN | ACK | PSH | FIN, t);
        let s = run(&[
            span(c2s(), 0, 2_000_000),
            span(c2s(), 5_000_000, 7_000_000),
            span(s2c(), 5_000_000, 7_000_000),
        ]);
        let got: Vec<_> = s
            .iter()
            .map(|r| (r.start - t, r.packets_c2s, r.packets_s2c))
            .collect();
        assert_eq!(got, [(0, 10, 0), (5_000_000, 10, 9)], "{s:?}");

        // Router B, sampling 1 in 10, exports its copy of the first five
        // seconds first; router A meters all of it in 60 s cuts. One
        // session, A's counts, though B stopped reporting.
        let from = |exporter: &str, sampling: u32, f: FlowRecord| FlowRecord {
            exporter: exporter.parse().unwrap(),
            sampling,
            ..f
        };
        let cut = |c2s: bool, i: i64| {
            let f = if c2s {
                flow(
                    "10.0.0.6",
                    40002,
                    "192.0.2.9",
                    25,
                    100,
                    90_000,
                    ACK | PSH,
                    t,
                )
            } else {
                flow("192.0.2.9", 25, "10.0.0.6", 40002, 90, 7_000, ACK | PSH, t)
            };
            from(
                "192.0.2.1",
                1,
                span(f, i * 60_000_000, (i + 1) * 60_000_000 - 1),
            )
        };
        let mut flows = vec![
            from(
                "192.0.2.2",
                10,
                span(
                    flow("10.0.0.6", 40002, "192.0.2.9", 25, 1, 60, SYN | ACK, t),
                    0,
                    5_000_000,
                ),
            ),
            from(
                "192.0.2.2",
                10,
                span(
                    flow("192.0.2.9", 25, "10.0.0.6", 40002, 1, 60, SYN | ACK, t),
                    0,
                    5_000_000,
                ),
            ),
        ];
        for i in 0..4 {
            flows.push(cut(true, i));
            flows.push(cut(false, i));
        }
        let s = run(&flows);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(
            (s[0].packets_c2s, s[0].packets_s2c, s[0].sampling),
            (400, 360, 1)
        );
        assert_eq!((s[0].start - t, s[0].end - t), (0, 240_000_000 - 1));
    }

    #[test]
    fn a_new_connection_on_the_same_ports_is_a_new_session() {
        use tcp_flags::*;
        let t = 1_700_000_000_000_000;
        let mut flows = Vec::new();
        for i in 0..3i64 {
            let at = t + i * 2_000_000;
            flows.push(flow(
                "127.0.0.2",
                40001,
                "127.0.0.1",
                25,
                10,
                900,
                SYN | ACK | PSH | FIN,
                at,
            ));
            flows.push(flow(
                "127.0.0.1",
                25,
                "127.0.0.2",
                40001,
                9,
                700,
                SYN | ACK | PSH | FIN,
                at,
            ));
        }
        let s = run(&flows);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s.iter().all(|r| (r.packets_c2s, r.packets_s2c) == (10, 9)));
        // The directions interleaved (a one-way exporter on the return path
        // a little behind): each connection still gets its own halves.
        let interleaved = [
            flows[0].clone(),
            flows[2].clone(),
            flows[1].clone(),
            flows[4].clone(),
            flows[3].clone(),
            flows[5].clone(),
        ];
        let s = run(&interleaved);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(
            s.iter().all(|r| (r.packets_c2s, r.packets_s2c) == (10, 9)),
            "{s:?}"
        );
        // The return path's exporter 20 ms behind: each connection's reply
        // starts "before" it, and still belongs to it.
        let skewed: Vec<FlowRecord> = interleaved
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if f.src_port == 25 {
                    f.start_us -= 20_000;
                    f.end_us -= 20_000;
                }
                f
            })
            .collect();
        let s = run(&skewed);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(
            s.iter().all(|r| (r.packets_c2s, r.packets_s2c) == (10, 9)),
            "{s:?}"
        );

        let cut = run(&[
            flow(
                "10.0.0.1",
                4000,
                "192.0.2.9",
                25,
                10,
                900,
                SYN | ACK | PSH,
                t,
            ),
            flow(
                "192.0.2.9",
                25,
                "10.0.0.1",
                4000,
                9,
                700,
                SYN | ACK | PSH,
                t,
            ),
            flow(
                "10.0.0.1",
                4000,
                "192.0.2.9",
                25,
                5,
                400,
                ACK | PSH | FIN,
                t + 30_000_000,
            ),
            flow(
                "192.0.2.9",
                25,
                "10.0.0.1",
                4000,
                4,
                300,
                ACK | PSH | FIN,
                t + 30_000_000,
            ),
        ]);
        assert_eq!(cut.len(), 1, "{cut:?}");
        let retried = run(&[
            flow("10.0.0.1", 4001, "192.0.2.9", 25, 1, 60, SYN, t),
            flow("10.0.0.1", 4001, "192.0.2.9", 25, 1, 60, SYN, t + 3_000_000),
        ]);
        assert_eq!((retried.len(), retried[0].outcome), (1, Outcome::NoAnswer));
    }

    #[test]
    fn exporter_clocks_are_capped() {
        let mut p = SessionPairer::new(&[25], PairerOptions::default());
        let mut got = 0u64;
        let n = MAX_EXPORTER_CLOCKS as u32 + 10;
        for i in 0..n {
            let mut f = flow(
                "10.0.0.1",
                4000,
                "192.0.2.9",
                25,
                3,
                180,
                0x1b,
                1_700_000_000_000_000,
            );
            f.exporter = IpAddr::from(0x0a00_0000u32.wrapping_add(i).to_be_bytes());
            f.src_port = (i % 60_000) as u16 + 1024;
            p.push(&f, &mut |_| got += 1);
        }
        p.finish(&mut |_| got += 1);
        assert_eq!(p.clocks.len(), MAX_EXPORTER_CLOCKS);
        assert_eq!(p.stats().flows_without_clock, 10);
        assert_eq!(got, u64::from(n));
    }

    #[test]
    fn time_window_flushes_and_open_limit_evicts() {
        let mut p = SessionPairer::new(
            &[25],
            PairerOptions {
                window_us: 10_000_000,
                gap_us: 1_000_000,
                max_open: 10,
            },
        );
        let mut got = Vec::new();
        for i in 0..100u16 {
            let f = flow(
                "10.0.0.1",
                1000 + i,
                "192.0.2.9",
                25,
                1,
                60,
                2,
                i64::from(i) * 1_000_000,
            );
            p.push(&f, &mut |r| got.push(r));
        }
        assert!(p.open.len() <= 11);
        let before = got.len();
        p.finish(&mut |r| got.push(r));
        assert!(before >= 89);
        assert_eq!(got.len(), 100);
        let st = p.stats();
        assert_eq!(st.sessions, 100);
        assert!(st.flushed_by_time + st.evicted == before as u64);
    }
}
