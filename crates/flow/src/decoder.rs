//! The export datagram decoder: NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX
//! (RFC 7011), told apart by the version field.
//!
//! State is per exporter: templates are keyed by (exporter address, version,
//! observation domain / source ID, template ID); sampling intervals and the
//! system init time learnt from options records by (exporter, version,
//! domain). Data sets whose template has not arrived yet are copied into a
//! bounded queue and decoded when it comes; they are counted undecodable when
//! they are older than the hold time, when the queue overflows, or at
//! [`FlowDecoder::finish`]. Everything that is not decoded is counted in
//! [`FlowStats`]; nothing on the wire can make the decoder panic.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use op25b_core::Source;

use crate::FlowRecord;
use crate::template::{At, Field, Kind, PEN_REVERSE, Template, TimeAt, be_uint};

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// Bounds of the decoder's state.
#[derive(Clone, Debug)]
pub struct DecoderOptions {
    /// How long a data set may wait for its template, in microseconds of
    /// receive time.
    pub hold_us: i64,
    /// How many data sets may wait for templates at once (oldest dropped).
    pub max_buffered: usize,
    /// Template cache size over all exporters; new templates beyond it are
    /// refused (counted).
    pub max_templates: usize,
    /// Exporter/domain sampling states kept at most.
    pub max_domains: usize,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            hold_us: 60_000_000,
            max_buffered: 1024,
            max_templates: 65_536,
            max_domains: 16_384,
        }
    }
}

/// Malformed input, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MalformedStats {
    /// Datagram shorter than its header (or than a v5 header's record count).
    pub truncated_header: u64,
    /// IPFIX length field different from the datagram's size (sets are
    /// walked to the datagram's end), or smaller than the header.
    pub bad_datagram_length: u64,
    /// A set/flowset length below 4 or pointing past the datagram end.
    pub bad_set_length: u64,
    /// A template whose field list does not fit its set, or is empty (v9),
    /// or whose records would be zero bytes long.
    pub bad_template: u64,
    /// A data record cut by its set's end (variable-length fields).
    pub record_overrun: u64,
    /// Set IDs reserved by the standard (v9 2..=255, IPFIX 0, 1, 4..=255).
    pub reserved_set_id: u64,
}

impl MalformedStats {
    pub fn total(&self) -> u64 {
        self.truncated_header
            + self.bad_datagram_length
            + self.bad_set_length
            + self.bad_template
            + self.record_overrun
            + self.reserved_set_id
    }
}

/// Counts of everything the decoder saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub datagrams_v5: u64,
    pub datagrams_v9: u64,
    pub datagrams_ipfix: u64,
    /// Datagrams whose version is not 5, 9 or 10 (or shorter than 2 bytes).
    pub unknown_version: u64,
    /// Flow records emitted, by format.
    pub records_v5: u64,
    pub records_v9: u64,
    pub records_ipfix: u64,
    /// Options data records read (sampling, system init time, ...).
    pub options_records: u64,
    /// Data records from flow templates without source or destination
    /// address (e.g. firewall or application-only records): not flows op25b
    /// can use.
    pub records_without_addresses: u64,
    /// Templates and options templates learnt (new IDs).
    pub templates: u64,
    pub options_templates: u64,
    /// A template ID re-announced with the same definition.
    pub templates_refreshed: u64,
    /// A template ID re-announced with a different definition.
    pub templates_replaced: u64,
    /// IPFIX withdrawals (single and all-withdraw) and templates they removed.
    pub template_withdrawals: u64,
    /// New templates refused because the cache was full.
    pub templates_refused: u64,
    /// Data sets held because their template had not arrived.
    pub sets_buffered: u64,
    /// Held data sets decoded once their template arrived.
    pub sets_decoded_late: u64,
    /// Held data sets given up: hold time passed, queue overflowed, or still
    /// waiting at `finish`. Their records are undecodable.
    pub sets_expired: u64,
    pub sets_overflowed: u64,
    pub sets_unresolved_at_finish: u64,
    /// Records whose time came from the export header because the record had
    /// no usable time field (or uptime-relative times without an init time).
    pub time_from_header: u64,
    pub malformed: MalformedStats,
    /// Export sequence numbers ahead of what the exporter's datagram before
    /// promised (per exporter address and port, and engine / source ID /
    /// observation domain): what was skipped, in each format's unit. Lost on
    /// the way (a full receive buffer, a capture that missed datagrams), or
    /// an exporter that numbers otherwise.
    pub sequence_gaps: u64,
    pub lost_v5_flows: u64,
    pub lost_v9_datagrams: u64,
    pub lost_ipfix_records: u64,
    /// Sequence numbers behind the expected one: an exporter restarted, or
    /// datagrams came out of order. The count starts again from there.
    pub sequence_restarts: u64,
}

impl FlowStats {
    /// Data sets that could not be decoded because no template came.
    pub fn undecodable_sets(&self) -> u64 {
        self.sets_expired + self.sets_overflowed + self.sets_unresolved_at_finish
    }

    /// Flow records emitted, all formats.
    pub fn records(&self) -> u64 {
        self.records_v5 + self.records_v9 + self.records_ipfix
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct DomainKey {
    exporter: IpAddr,
    version: u8,
    domain: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TemplateKey {
    domain: DomainKey,
    id: u16,
}

/// What options records taught about one exporter/domain.
#[derive(Clone, Debug, Default)]
struct DomainState {
    /// Interval of the last options record without a sampler ID.
    sampling: Option<u32>,
    /// Per sampler ID (v9 48 / IPFIX 302); few entries, searched linearly.
    samplers: Vec<(u64, u32)>,
    system_init_ms: Option<i64>,
}

/// Per-datagram facts a data record needs.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    version: u8,
    exporter: IpAddr,
    /// Export time from the header, microseconds since the epoch.
    export_us: i64,
    /// v9 sysUptime (ms); `None` for IPFIX.
    uptime_ms: Option<u32>,
    /// v9 source ID / IPFIX observation domain ID.
    domain: u32,
}

/// One data set waiting for its template.
struct Pending {
    key: TemplateKey,
    ctx: Ctx,
    recv_us: i64,
    body: Box<[u8]>,
}

/// Field values of one data record, filled by the template's steps.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Acc {
    /// The first non-zero address announced, else the first zero one.
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_zero: Option<IpAddr>,
    dst_zero: Option<IpAddr>,
    /// First announced wins (tunnel templates carry the inner header's
    /// addresses, ports and protocol after the outer ones).
    src_port: Option<u16>,
    dst_port: Option<u16>,
    protocol: Option<u8>,
    tcp_flags: u8,
    rev_tcp_flags: u8,
    /// (value, priority + 1); priority 0 = absent.
    octets: (u64, u8),
    packets: (u64, u8),
    rev_octets: (u64, u8),
    rev_packets: (u64, u8),
    uptime_start: Option<u32>,
    uptime_end: Option<u32>,
    start_us: Option<i64>,
    end_us: Option<i64>,
    start_delta_us: Option<u64>,
    end_delta_us: Option<u64>,
    sampling: Option<u64>,
    sampling_space: Option<u64>,
    sampling_size: Option<u64>,
    sampling_population: Option<u64>,
    sampler_id: Option<u64>,
    system_init_ms: Option<u64>,
    direction: Option<u8>,
}

#[inline]
fn best(slot: &mut (u64, u8), value: u64, prio: u8) {
    if prio + 1 > slot.1 {
        *slot = (value, prio + 1);
    }
}

/// Templates with both IPv4 and IPv6 address fields fill one of them with
/// zeros (or, for tunnels, both): the first non-zero address announced is
/// the flow's.
#[inline]
fn note_address(slot: &mut Option<IpAddr>, zero: &mut Option<IpAddr>, a: IpAddr) {
    if a.is_unspecified() {
        zero.get_or_insert(a);
    } else {
        slot.get_or_insert(a);
    }
}

#[inline]
fn ntp_to_us(v: u64) -> i64 {
    let secs = (v >> 32) as i64 - NTP_UNIX_OFFSET_SECS;
    let frac_us = ((v & 0xffff_ffff) * 1_000_000) >> 32;
    secs * 1_000_000 + frac_us as i64 // |secs| < 2^33: no overflow
}

impl Acc {
    #[inline(always)]
    pub(crate) fn put(&mut self, kind: Kind, b: &[u8]) {
        match kind {
            Kind::Skip => {}
            Kind::SrcV4 => {
                let a = IpAddr::V4(Ipv4Addr::from(be_uint(b) as u32));
                note_address(&mut self.src, &mut self.src_zero, a);
            }
            Kind::DstV4 => {
                let a = IpAddr::V4(Ipv4Addr::from(be_uint(b) as u32));
                note_address(&mut self.dst, &mut self.dst_zero, a);
            }
            Kind::SrcV6 => {
                if let Ok(v) = <[u8; 16]>::try_from(b) {
                    note_address(
                        &mut self.src,
                        &mut self.src_zero,
                        IpAddr::V6(Ipv6Addr::from(v)),
                    );
                }
            }
            Kind::DstV6 => {
                if let Ok(v) = <[u8; 16]>::try_from(b) {
                    note_address(
                        &mut self.dst,
                        &mut self.dst_zero,
                        IpAddr::V6(Ipv6Addr::from(v)),
                    );
                }
            }
            Kind::SrcPort => {
                self.src_port.get_or_insert(be_uint(b) as u16);
            }
            Kind::DstPort => {
                self.dst_port.get_or_insert(be_uint(b) as u16);
            }
            Kind::Protocol => {
                self.protocol.get_or_insert(be_uint(b) as u8);
            }
            Kind::TcpFlags => self.tcp_flags |= be_uint(b) as u8,
            Kind::Direction => {
                self.direction.get_or_insert(be_uint(b) as u8);
            }
            Kind::RevTcpFlags => self.rev_tcp_flags |= be_uint(b) as u8,
            Kind::Octets(p) => best(&mut self.octets, be_uint(b), p),
            Kind::Packets(p) => best(&mut self.packets, be_uint(b), p),
            Kind::RevOctets(p) => best(&mut self.rev_octets, be_uint(b), p),
            Kind::RevPackets(p) => best(&mut self.rev_packets, be_uint(b), p),
            Kind::UptimeStart => self.uptime_start = Some(be_uint(b) as u32),
            Kind::UptimeEnd => self.uptime_end = Some(be_uint(b) as u32),
            // Finer absolute times override coarser ones whatever the field order.
            Kind::StartSec => {
                self.start_us
                    .get_or_insert((be_uint(b) as i64).saturating_mul(1_000_000));
            }
            Kind::EndSec => {
                self.end_us
                    .get_or_insert((be_uint(b) as i64).saturating_mul(1_000_000));
            }
            Kind::StartMs => self.start_us = Some((be_uint(b) as i64).saturating_mul(1000)),
            Kind::EndMs => self.end_us = Some((be_uint(b) as i64).saturating_mul(1000)),
            Kind::StartNtp => self.start_us = Some(ntp_to_us(be_uint(b))),
            Kind::EndNtp => self.end_us = Some(ntp_to_us(be_uint(b))),
            Kind::StartDeltaUs => self.start_delta_us = Some(be_uint(b)),
            Kind::EndDeltaUs => self.end_delta_us = Some(be_uint(b)),
            Kind::SamplingInterval => self.sampling = Some(be_uint(b)),
            Kind::SamplingSpace => self.sampling_space = Some(be_uint(b)),
            Kind::SamplingSize => self.sampling_size = Some(be_uint(b)),
            Kind::SamplingPopulation => self.sampling_population = Some(be_uint(b)),
            Kind::SamplerId => self.sampler_id = Some(be_uint(b)),
            Kind::SystemInitMs => self.system_init_ms = Some(be_uint(b)),
        }
    }

    /// The sampling interval this record states itself (an options record,
    /// or a flow record carrying samplingInterval). PSAMP (RFC 5477):
    /// samplingSize out of samplingPopulation packets, or
    /// samplingPacketInterval selected out of every interval + space.
    fn own_sampling(&self) -> Option<u32> {
        let rate = match (self.sampling_population, self.sampling_size, self.sampling) {
            (Some(pop), Some(size), _) if size > 0 => pop / size,
            (_, _, Some(interval)) => match self.sampling_space {
                Some(space) if interval > 0 => interval.saturating_add(space) / interval,
                _ => interval,
            },
            _ => return None,
        };
        Some(rate.clamp(1, u64::from(u32::MAX)) as u32)
    }
}

/// The decoder. One per input stream (it is not shared between threads).
pub struct FlowDecoder {
    opts: DecoderOptions,
    templates: HashMap<TemplateKey, Template>,
    domains: HashMap<DomainKey, DomainState>,
    pending: VecDeque<Pending>,
    /// Each exporter's last sequence number, per exporter address and port,
    /// format and engine / source / observation domain.
    sequences: HashMap<(SocketAddr, u8, u32), SequenceState>,
    /// Data records (and of them options records) read from the IPFIX
    /// message being walked, and whether all of it could be read (none held
    /// for a template, none damaged): only then are its counts known.
    message_records: u32,
    message_options: u32,
    message_whole: bool,
    stats: FlowStats,
}

/// An exporter's last datagram (its sequence number, what it held in each
/// unit its format's sequence may count) and, per counting convention, the
/// gaps and restarts that convention sees (see `FlowDecoder::sequence`).
#[derive(Clone, Copy, Debug)]
struct SequenceState {
    seq: u32,
    counts: [Option<u32>; 2],
    tallies: [SequenceTally; 4],
}

#[derive(Clone, Copy, Debug, Default)]
struct SequenceTally {
    gaps: u64,
    lost: u64,
    restarts: u64,
}

impl SequenceState {
    /// The tally of the convention with the fewest breaks (the first on a tie).
    fn best(&self, conventions: usize) -> SequenceTally {
        self.tallies
            .iter()
            .take(conventions)
            .min_by_key(|t| t.gaps + t.restarts)
            .copied()
            .unwrap_or_default()
    }
}

/// Sequence numbers are kept for at most this many exporters and domains
/// (datagrams from forged sources must not grow the map); further ones are
/// not checked.
const MAX_SEQUENCES: usize = 4096;

#[inline]
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)?.try_into().ok().map(u16::from_be_bytes)
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_be_bytes)
}

/// The export time of a datagram in microseconds, if its header says it
/// (used by file readers as a stand-in receive time).
pub(crate) fn header_time_us(d: &[u8]) -> Option<i64> {
    match u16_at(d, 0)? {
        5 => Some(i64::from(u32_at(d, 8)?) * 1_000_000 + i64::from(u32_at(d, 12)? / 1000)),
        9 => Some(i64::from(u32_at(d, 8)?) * 1_000_000),
        10 => Some(i64::from(u32_at(d, 4)?) * 1_000_000),
        _ => None,
    }
}

impl FlowDecoder {
    pub fn new(opts: DecoderOptions) -> Self {
        FlowDecoder {
            opts,
            templates: HashMap::new(),
            domains: HashMap::new(),
            pending: VecDeque::new(),
            sequences: HashMap::new(),
            message_records: 0,
            message_options: 0,
            message_whole: true,
            stats: FlowStats::default(),
        }
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Decodes one export datagram (v5, v9 or IPFIX) received from
    /// `exporter` at `recv_us`, appending flow records to `out`.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        recv_us: i64,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) {
        self.expire(recv_us);
        let from = exporter;
        let exporter = exporter.ip();
        match u16_at(datagram, 0) {
            Some(5) => {
                if self.decode_v5(exporter, datagram, out)
                    && let (Some(seq), Some(count), Some(engine)) = (
                        u32_at(datagram, 16),
                        u16_at(datagram, 2),
                        u16_at(datagram, 20),
                    )
                {
                    let count = Some(u32::from(count));
                    self.sequence((from, 5, u32::from(engine)), seq, [count, None]);
                }
            }
            Some(9) => {
                if self.decode_v9(exporter, recv_us, datagram, out)
                    && let (Some(seq), Some(source)) = (u32_at(datagram, 12), u32_at(datagram, 16))
                {
                    self.sequence((from, 9, source), seq, [Some(1), None]);
                }
            }
            Some(10) => {
                self.message_records = 0;
                self.message_options = 0;
                self.message_whole = true;
                let malformed = self.stats.malformed.total();
                if self.decode_ipfix(exporter, recv_us, datagram, out)
                    && let (Some(seq), Some(domain)) = (u32_at(datagram, 8), u32_at(datagram, 12))
                {
                    let whole = self.message_whole && self.stats.malformed.total() == malformed;
                    let all = whole.then_some(self.message_records);
                    let flows = whole.then_some(self.message_records - self.message_options);
                    self.sequence((from, 10, domain), seq, [all, flows]);
                }
            }
            _ => self.stats.unknown_version += 1,
        }
    }

    /// Checks a datagram's sequence number against the exporter's previous
    /// one. `counts`: what this datagram holds in each unit its format's
    /// sequence may count (v5: flows; v9: datagrams; IPFIX: data records
    /// with and without options records), `None` where unknown (IPFIX data
    /// held for its template).
    ///
    /// The standard says the number counts what came *before* the datagram,
    /// but exporters differ (softflowd's IPFIX counts its flow records up to
    /// and including the message, options records not at all). So every
    /// convention is followed side by side, each keeping the gaps it would
    /// see, and the stats take, per exporter, the one that explains its
    /// numbers with the fewest gaps and restarts (the standard on a tie): a
    /// wrong convention breaks at every datagram whose counts differ from
    /// the one before, the right one only where datagrams were lost.
    fn sequence(&mut self, key: (SocketAddr, u8, u32), seq: u32, counts: [Option<u32>; 2]) {
        if !self.sequences.contains_key(&key) && self.sequences.len() >= MAX_SEQUENCES {
            return;
        }
        let Some(prev) = self.sequences.get_mut(&key) else {
            self.sequences.insert(
                key,
                SequenceState {
                    seq,
                    counts,
                    tallies: [SequenceTally::default(); 4],
                },
            );
            return;
        };
        // v9 counts datagrams (before or up to: the same); v5 flows; IPFIX
        // records with or without options records.
        let conventions = match key.1 {
            9 => 1,
            5 => 2,
            _ => 4,
        };
        let before = prev.best(conventions);
        for c in 0..conventions {
            // Convention c: unit c / 2, counted before (even) or up to (odd) the datagram.
            let unit = c / 2;
            let n = if c % 2 == 0 {
                prev.counts[unit]
            } else {
                counts[unit]
            };
            let Some(expected) = n.map(|n| prev.seq.wrapping_add(n)) else {
                continue;
            };
            let ahead = seq.wrapping_sub(expected);
            let t = &mut prev.tallies[c];
            if ahead == 0 {
            } else if ahead < 1 << 31 {
                t.gaps += 1;
                t.lost += u64::from(ahead);
            } else {
                t.restarts += 1;
            }
        }
        prev.seq = seq;
        prev.counts = counts;
        let after = prev.best(conventions);
        let st = &mut self.stats;
        st.sequence_gaps = st.sequence_gaps - before.gaps + after.gaps;
        st.sequence_restarts = st.sequence_restarts - before.restarts + after.restarts;
        let lost = match key.1 {
            5 => &mut st.lost_v5_flows,
            9 => &mut st.lost_v9_datagrams,
            _ => &mut st.lost_ipfix_records,
        };
        *lost = *lost - before.lost + after.lost;
    }

    /// End of input: data still waiting for a template is undecodable.
    pub fn finish(&mut self, _out: &mut Vec<FlowRecord>) {
        self.stats.sets_unresolved_at_finish += self.pending.len() as u64;
        self.pending.clear();
    }

    fn expire(&mut self, now_us: i64) {
        let limit = now_us.saturating_sub(self.opts.hold_us);
        while let Some(p) = self.pending.front() {
            if p.recv_us >= limit {
                break;
            }
            self.pending.pop_front();
            self.stats.sets_expired += 1;
        }
    }

    /// False where the header could not be read.
    fn decode_v5(&mut self, exporter: IpAddr, d: &[u8], out: &mut Vec<FlowRecord>) -> bool {
        const HEADER: usize = 24;
        const RECORD: usize = 48;
        let (Some(count), Some(uptime), Some(secs), Some(nsecs), Some(engine), Some(sampling)) = (
            u16_at(d, 2),
            u32_at(d, 4),
            u32_at(d, 8),
            u32_at(d, 12),
            u16_at(d, 20),
            u16_at(d, 22),
        ) else {
            self.stats.malformed.truncated_header += 1;
            return false;
        };
        self.stats.datagrams_v5 += 1;
        let export_us = i64::from(secs) * 1_000_000 + i64::from(nsecs / 1000);
        let sampling = u32::from(sampling & 0x3fff).max(1);
        let body = d.get(HEADER..).unwrap_or_default();
        let records = body.chunks_exact(RECORD);
        if records.len() < usize::from(count) {
            // Decode the records that are there; the cut is counted.
            self.stats.malformed.truncated_header += 1;
        }
        for r in records.take(usize::from(count)) {
            let (Some(src), Some(dst), Some(pkts), Some(octets), Some(first), Some(last)) = (
                u32_at(r, 0),
                u32_at(r, 4),
                u32_at(r, 16),
                u32_at(r, 20),
                u32_at(r, 24),
                u32_at(r, 28),
            ) else {
                continue;
            };
            let (Some(sport), Some(dport), Some(&flags), Some(&proto)) =
                (u16_at(r, 32), u16_at(r, 34), r.get(37), r.get(38))
            else {
                continue;
            };
            self.stats.records_v5 += 1;
            out.push(FlowRecord {
                src: IpAddr::V4(Ipv4Addr::from(src)),
                dst: IpAddr::V4(Ipv4Addr::from(dst)),
                src_port: sport,
                dst_port: dport,
                protocol: proto,
                packets: u64::from(pkts),
                bytes: u64::from(octets),
                tcp_flags: flags,
                start_us: uptime_to_us(export_us, uptime, first),
                end_us: uptime_to_us(export_us, uptime, last),
                sampling,
                source: Source::Netflow5,
                exporter,
                domain: u32::from(engine),
                direction: None,
                rev_packets: 0,
                rev_bytes: 0,
                rev_tcp_flags: 0,
            });
        }
        true
    }

    fn decode_v9(
        &mut self,
        exporter: IpAddr,
        recv_us: i64,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> bool {
        const HEADER: usize = 20;
        let (Some(uptime), Some(secs), Some(source_id)) =
            (u32_at(d, 4), u32_at(d, 8), u32_at(d, 16))
        else {
            self.stats.malformed.truncated_header += 1;
            return false;
        };
        self.stats.datagrams_v9 += 1;
        let ctx = Ctx {
            version: 9,
            exporter,
            export_us: export_time_us(secs, recv_us),
            uptime_ms: Some(uptime),
            domain: source_id,
        };
        let domain = DomainKey {
            exporter,
            version: 9,
            domain: source_id,
        };
        self.walk_sets(domain, ctx, recv_us, d, HEADER, d.len(), out);
        true
    }

    fn decode_ipfix(
        &mut self,
        exporter: IpAddr,
        recv_us: i64,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> bool {
        const HEADER: usize = 16;
        let (Some(length), Some(secs), Some(domain_id)) =
            (u16_at(d, 2), u32_at(d, 4), u32_at(d, 12))
        else {
            self.stats.malformed.truncated_header += 1;
            return false;
        };
        self.stats.datagrams_ipfix += 1;
        let length = usize::from(length);
        if length < HEADER {
            self.stats.malformed.bad_datagram_length += 1;
            return false;
        }
        if length != d.len() {
            // The datagram's own size is authoritative (exporters have been
            // seen to get the length field wrong); the disagreement is counted.
            self.stats.malformed.bad_datagram_length += 1;
        }
        let end = d.len();
        let ctx = Ctx {
            version: 10,
            exporter,
            export_us: export_time_us(secs, recv_us),
            uptime_ms: None,
            domain: domain_id,
        };
        let domain = DomainKey {
            exporter,
            version: 10,
            domain: domain_id,
        };
        self.walk_sets(domain, ctx, recv_us, d, HEADER, end, out);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_sets(
        &mut self,
        domain: DomainKey,
        ctx: Ctx,
        recv_us: i64,
        d: &[u8],
        mut pos: usize,
        end: usize,
        out: &mut Vec<FlowRecord>,
    ) {
        let ipfix = ctx.version == 10;
        // Fewer than 4 bytes left cannot be a set header: trailing padding.
        while pos + 4 <= end {
            let (Some(set_id), Some(set_len)) = (u16_at(d, pos), u16_at(d, pos + 2)) else {
                break;
            };
            let set_len = usize::from(set_len);
            if set_len < 4 || pos + set_len > end {
                self.stats.malformed.bad_set_length += 1;
                return;
            }
            let Some(body) = d.get(pos + 4..pos + set_len) else {
                self.stats.malformed.bad_set_length += 1;
                return;
            };
            pos += set_len;
            match (ipfix, set_id) {
                (false, 0) => self.v9_templates(domain, body, out),
                (false, 1) => self.v9_options_templates(domain, body, out),
                (true, 2) => self.ipfix_templates(domain, body, false, out),
                (true, 3) => self.ipfix_templates(domain, body, true, out),
                (_, id) if id >= 256 => {
                    let key = TemplateKey { domain, id };
                    if !self.data_set(key, ctx, body, out) {
                        self.message_whole = false;
                        self.hold(key, ctx, recv_us, body);
                    }
                }
                _ => self.stats.malformed.reserved_set_id += 1,
            }
        }
    }

    fn hold(&mut self, key: TemplateKey, ctx: Ctx, recv_us: i64, body: &[u8]) {
        if self.opts.max_buffered == 0 {
            self.stats.sets_overflowed += 1;
            return;
        }
        while self.pending.len() >= self.opts.max_buffered {
            self.pending.pop_front();
            self.stats.sets_overflowed += 1;
        }
        self.stats.sets_buffered += 1;
        self.pending.push_back(Pending {
            key,
            ctx,
            recv_us,
            body: body.into(),
        });
    }

    /// Stores a template; decodes data that was waiting for it.
    fn learn(&mut self, key: TemplateKey, template: Template, out: &mut Vec<FlowRecord>) {
        let options = template.options;
        let full = self.templates.len() >= self.opts.max_templates;
        match self.templates.get_mut(&key) {
            Some(old) if old.wire == template.wire => self.stats.templates_refreshed += 1,
            Some(old) => {
                *old = template;
                self.stats.templates_replaced += 1;
            }
            None if full => {
                self.stats.templates_refused += 1;
                return;
            }
            None => {
                self.templates.insert(key, template);
                if options {
                    self.stats.options_templates += 1;
                } else {
                    self.stats.templates += 1;
                }
            }
        }
        if self.pending.iter().any(|p| p.key == key) {
            let mut waiting = Vec::new();
            self.pending.retain(|p| {
                if p.key == key {
                    waiting.push((p.ctx, p.body.clone()));
                    false
                } else {
                    true
                }
            });
            // Their records belong to earlier messages, not to the one
            // being walked, whose count they must not enter.
            let counts = (self.message_records, self.message_options);
            for (ctx, body) in waiting {
                self.stats.sets_decoded_late += 1;
                self.data_set(key, ctx, &body, out);
            }
            (self.message_records, self.message_options) = counts;
        }
    }

    fn v9_templates(&mut self, domain: DomainKey, mut body: &[u8], out: &mut Vec<FlowRecord>) {
        while body.len() >= 4 {
            let (Some(id), Some(count)) = (u16_at(body, 0), u16_at(body, 2)) else {
                return;
            };
            let wire_len = 4 + 4 * usize::from(count);
            let Some(wire) = body.get(..wire_len) else {
                self.stats.malformed.bad_template += 1;
                return;
            };
            if count == 0 || id < 256 {
                // v9 has no withdrawal: a template without fields is broken,
                // and the rest of the set cannot be trusted.
                self.stats.malformed.bad_template += 1;
                return;
            }
            let fields = wire
                .get(4..)
                .unwrap_or_default()
                .chunks_exact(4)
                .filter_map(|f| {
                    let (ty, len) = (u16_at(f, 0)?, u16_at(f, 2)?);
                    Some(Field {
                        len,
                        kind: Kind::of(0, ty, len),
                    })
                })
                .collect();
            self.compile_and_learn(domain, id, fields, false, wire, out);
            body = body.get(wire_len..).unwrap_or_default();
        }
    }

    fn v9_options_templates(
        &mut self,
        domain: DomainKey,
        mut body: &[u8],
        out: &mut Vec<FlowRecord>,
    ) {
        while body.len() >= 6 {
            let (Some(id), Some(scope_len), Some(opt_len)) =
                (u16_at(body, 0), u16_at(body, 2), u16_at(body, 4))
            else {
                return;
            };
            let (scope_len, opt_len) = (usize::from(scope_len), usize::from(opt_len));
            let wire_len = 6 + scope_len + opt_len;
            let Some(wire) = body.get(..wire_len) else {
                self.stats.malformed.bad_template += 1;
                return;
            };
            if id < 256 || scope_len % 4 != 0 || opt_len % 4 != 0 || scope_len + opt_len == 0 {
                self.stats.malformed.bad_template += 1;
                return;
            }
            // Scope field types (system, interface, ...) are not IEs: skip them.
            let fields = wire
                .get(6..)
                .unwrap_or_default()
                .chunks_exact(4)
                .enumerate()
                .filter_map(|(i, f)| {
                    let (ty, len) = (u16_at(f, 0)?, u16_at(f, 2)?);
                    let scope = i * 4 < scope_len;
                    Some(Field {
                        len,
                        kind: if scope {
                            Kind::Skip
                        } else {
                            Kind::of(0, ty, len)
                        },
                    })
                })
                .collect();
            self.compile_and_learn(domain, id, fields, true, wire, out);
            body = body.get(wire_len..).unwrap_or_default();
            // Options templates are padded to 4 bytes inside the flowset.
            if body.len() < 6 {
                return;
            }
        }
    }

    fn ipfix_templates(
        &mut self,
        domain: DomainKey,
        mut body: &[u8],
        options: bool,
        out: &mut Vec<FlowRecord>,
    ) {
        let header = if options { 6 } else { 4 };
        while body.len() >= 4 {
            let (Some(id), Some(count)) = (u16_at(body, 0), u16_at(body, 2)) else {
                return;
            };
            if count == 0 {
                self.withdraw(domain, id, options);
                body = body.get(4..).unwrap_or_default();
                continue;
            }
            if body.len() < header || id < 256 {
                self.stats.malformed.bad_template += 1;
                return;
            }
            let mut pos = header;
            let mut fields = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let (Some(raw_id), Some(len)) = (u16_at(body, pos), u16_at(body, pos + 2)) else {
                    self.stats.malformed.bad_template += 1;
                    return;
                };
                pos += 4;
                let pen = if raw_id & 0x8000 != 0 {
                    let Some(pen) = u32_at(body, pos) else {
                        self.stats.malformed.bad_template += 1;
                        return;
                    };
                    pos += 4;
                    pen
                } else {
                    0
                };
                let kind = if pen != 0 && pen != PEN_REVERSE {
                    Kind::Skip
                } else {
                    Kind::of(pen, raw_id & 0x7fff, len)
                };
                fields.push(Field { len, kind });
            }
            let Some(wire) = body.get(..pos) else {
                self.stats.malformed.bad_template += 1;
                return;
            };
            self.compile_and_learn(domain, id, fields, options, wire, out);
            body = body.get(pos..).unwrap_or_default();
        }
    }

    /// IPFIX template withdrawal: one ID, or all (ID 2 = all templates,
    /// ID 3 = all options templates, RFC 7011 section 8.1).
    fn withdraw(&mut self, domain: DomainKey, id: u16, options_set: bool) {
        self.stats.template_withdrawals += 1;
        let all = (id == 2 && !options_set) || (id == 3 && options_set);
        if all {
            self.templates
                .retain(|k, t| !(k.domain == domain && t.options == options_set));
        } else {
            self.templates.remove(&TemplateKey { domain, id });
        }
    }

    fn compile_and_learn(
        &mut self,
        domain: DomainKey,
        id: u16,
        fields: Vec<Field>,
        options: bool,
        wire: &[u8],
        out: &mut Vec<FlowRecord>,
    ) {
        match Template::compile(fields, options, wire) {
            Some(t) => self.learn(TemplateKey { domain, id }, t, out),
            None => self.stats.malformed.bad_template += 1,
        }
    }

    /// Decodes a data set; `false` when its template is unknown.
    fn data_set(
        &mut self,
        key: TemplateKey,
        ctx: Ctx,
        body: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> bool {
        let Some(template) = self.templates.get(&key) else {
            return false;
        };
        if template.options {
            let mut pos = 0;
            while pos + template.min_len <= body.len() {
                let mut acc = Acc::default();
                let Some(used) = body.get(pos..).and_then(|b| template.record(b, &mut acc)) else {
                    if body.get(pos..).is_some_and(|b| b.iter().any(|&x| x != 0)) {
                        self.stats.malformed.record_overrun += 1;
                    }
                    break;
                };
                pos += used;
                self.stats.options_records += 1;
                self.message_records = self.message_records.wrapping_add(1);
                self.message_options = self.message_options.wrapping_add(1);
                if !self.domains.contains_key(&key.domain)
                    && self.domains.len() >= self.opts.max_domains
                {
                    continue;
                }
                let state = self.domains.entry(key.domain).or_default();
                if let Some(init) = acc.system_init_ms {
                    state.system_init_ms = Some(init as i64);
                }
                if let Some(rate) = acc.own_sampling() {
                    match acc.sampler_id {
                        Some(sid) => {
                            let room = state.samplers.len() < 64;
                            match state.samplers.iter_mut().find(|(s, _)| *s == sid) {
                                Some(slot) => slot.1 = rate,
                                None if room => state.samplers.push((sid, rate)),
                                None => {}
                            }
                        }
                        None => state.sampling = Some(rate),
                    }
                }
            }
            return true;
        }
        let domain = self.domains.get(&key.domain);
        let mut emitted = 0u64;
        let mut no_address = 0u64;
        let mut header_time = 0u64;
        let mut overrun = false;
        let finish = |acc: &Acc, header_time: &mut u64| -> Option<FlowRecord> {
            let (src, dst) = (acc.src.or(acc.src_zero)?, acc.dst.or(acc.dst_zero)?);
            let (start_us, end_us) = record_times(acc, &ctx, domain, header_time);
            let sampling = acc
                .own_sampling()
                .or_else(|| {
                    let d = domain?;
                    acc.sampler_id
                        .and_then(|sid| d.samplers.iter().find(|(s, _)| *s == sid).map(|s| s.1))
                        .or(d.sampling)
                        .or_else(|| d.samplers.first().map(|s| s.1))
                })
                .unwrap_or(1)
                .max(1);
            Some(FlowRecord {
                src,
                dst,
                src_port: acc.src_port.unwrap_or(0),
                dst_port: acc.dst_port.unwrap_or(0),
                protocol: acc.protocol.unwrap_or(0),
                packets: acc.packets.0,
                bytes: acc.octets.0,
                tcp_flags: acc.tcp_flags,
                start_us,
                end_us,
                sampling,
                source: if ctx.version == 9 {
                    Source::Netflow9
                } else {
                    Source::Ipfix
                },
                exporter: ctx.exporter,
                domain: ctx.domain,
                direction: acc.direction,
                rev_packets: acc.rev_packets.0,
                rev_bytes: acc.rev_octets.0,
                rev_tcp_flags: acc.rev_tcp_flags,
            })
        };
        if let Some(len) = template.fixed_len {
            // Set padding is zeros; anything else after the last whole
            // record is a record cut short.
            overrun = body.chunks_exact(len).remainder().iter().any(|&b| b != 0);
        }
        if let (Some(len), Some(plan)) = (template.fixed_len, template.plan.as_ref()) {
            // The fast path: direct offsets; sampling comes from the domain.
            let sampling = domain
                .and_then(|d| d.sampling.or_else(|| d.samplers.first().map(|s| s.1)))
                .unwrap_or(1)
                .max(1);
            let init_ms = domain.and_then(|d| d.system_init_ms);
            let source = if ctx.version == 9 {
                Source::Netflow9
            } else {
                Source::Ipfix
            };
            for rec in body.chunks_exact(len) {
                let (Some(src), Some(dst)) = (plan_addr(rec, &plan.src), plan_addr(rec, &plan.dst))
                else {
                    no_address += 1;
                    continue;
                };
                let start = plan.start.and_then(|t| plan_time(t, rec, &ctx, init_ms));
                let end = plan.end.and_then(|t| plan_time(t, rec, &ctx, init_ms));
                let (start_us, end_us) = match (start, end) {
                    (Some(s), Some(e)) => (s, e),
                    (Some(s), None) => (s, s),
                    (None, Some(e)) => (e, e),
                    (None, None) => {
                        header_time += 1;
                        (ctx.export_us, ctx.export_us)
                    }
                };
                let get = |at: Option<At>| at.map_or(0, |a| a.uint(rec));
                let get_counter = |at: Option<(At, u8)>| at.map_or(0, |(a, _)| a.uint(rec));
                out.push(FlowRecord {
                    src,
                    dst,
                    src_port: get(plan.src_port) as u16,
                    dst_port: get(plan.dst_port) as u16,
                    protocol: get(plan.protocol) as u8,
                    packets: get_counter(plan.packets),
                    bytes: get_counter(plan.octets),
                    tcp_flags: get(plan.tcp_flags) as u8,
                    start_us,
                    end_us,
                    sampling,
                    source,
                    exporter: ctx.exporter,
                    domain: ctx.domain,
                    direction: plan.direction.map(|a| a.uint(rec) as u8),
                    rev_packets: get_counter(plan.rev_packets),
                    rev_bytes: get_counter(plan.rev_octets),
                    rev_tcp_flags: get(plan.rev_tcp_flags) as u8,
                });
                emitted += 1;
            }
        } else if let Some(len) = template.fixed_len {
            // Fixed-size records, steps at fixed offsets.
            for rec in body.chunks_exact(len) {
                let mut acc = Acc::default();
                for step in template.steps.iter() {
                    if let Some(bytes) = rec.get(step.offset..step.offset + step.len) {
                        acc.put(step.kind, bytes);
                    }
                }
                match finish(&acc, &mut header_time) {
                    Some(r) => {
                        out.push(r);
                        emitted += 1;
                    }
                    None => no_address += 1,
                }
            }
        } else {
            let mut pos = 0;
            while pos + template.min_len <= body.len() {
                let mut acc = Acc::default();
                let Some(used) = body.get(pos..).and_then(|b| template.record(b, &mut acc)) else {
                    overrun = body.get(pos..).is_some_and(|b| b.iter().any(|&x| x != 0));
                    break;
                };
                pos += used;
                match finish(&acc, &mut header_time) {
                    Some(r) => {
                        out.push(r);
                        emitted += 1;
                    }
                    None => no_address += 1,
                }
            }
        }
        if overrun {
            self.stats.malformed.record_overrun += 1;
        }
        let read = emitted + no_address;
        self.message_records = self.message_records.wrapping_add(read as u32);
        if ctx.version == 9 {
            self.stats.records_v9 += emitted;
        } else {
            self.stats.records_ipfix += emitted;
        }
        self.stats.records_without_addresses += no_address;
        self.stats.time_from_header += header_time;
        true
    }
}

/// The first non-zero candidate address, else the first (see `note_address`).
#[inline(always)]
fn plan_addr(rec: &[u8], cands: &[Option<(At, bool)>; 2]) -> Option<IpAddr> {
    let mut zero = None;
    for (at, v6) in cands.iter().flatten() {
        let a = if *v6 {
            let b: [u8; 16] = rec.get(at.off..at.off + 16)?.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            IpAddr::V4(Ipv4Addr::from(at.uint(rec) as u32))
        };
        if !a.is_unspecified() {
            return Some(a);
        }
        zero.get_or_insert(a);
    }
    zero
}

/// One time field of a planned template, by the rules of `record_times`.
#[inline(always)]
fn plan_time(t: TimeAt, rec: &[u8], ctx: &Ctx, init_ms: Option<i64>) -> Option<i64> {
    Some(match t {
        TimeAt::Sec(a) => (a.uint(rec) as i64).saturating_mul(1_000_000),
        TimeAt::Ms(a) => (a.uint(rec) as i64).saturating_mul(1000),
        TimeAt::Ntp(a) => ntp_to_us(a.uint(rec)),
        TimeAt::DeltaUs(a) => ctx.export_us.saturating_sub(a.uint(rec) as i64),
        TimeAt::Uptime(a) => {
            let at = a.uint(rec) as u32;
            match ctx.uptime_ms {
                Some(up) => uptime_to_us(ctx.export_us, up, at),
                None => init_ms?.saturating_add(i64::from(at)).saturating_mul(1000),
            }
        }
    })
}

/// The export time of a v9 or IPFIX message whose header says `secs`
/// (whole seconds, so the export was up to a second later) and that was
/// received at `recv_us`: the receive time where it falls within that
/// second (the network's delay is milliseconds), else the header's second.
/// Times of records relative to the export (v9 sysUptime, IPFIX deltas)
/// were up to a second early; a capture's or a collector's receive time
/// puts them within the delay. A raw file's receive time is the header's.
/// A collector whose clock runs ahead of the exporter's may put them up to
/// that much late instead (the error stays within the second).
fn export_time_us(secs: u32, recv_us: i64) -> i64 {
    let whole = i64::from(secs) * 1_000_000;
    match recv_us.checked_sub(whole) {
        Some(into) if (0..1_000_000).contains(&into) => recv_us,
        _ => whole,
    }
}

/// Absolute time of an uptime-relative timestamp: the export header gives
/// wall clock and uptime at the same instant. Differences are taken modulo
/// 2^32 ms (uptime wraps after 49.7 days) and read as signed, so a flow time
/// a little after the header's uptime stays close rather than 49 days off.
#[inline]
fn uptime_to_us(export_us: i64, uptime_ms: u32, at_ms: u32) -> i64 {
    let behind_ms = i64::from(uptime_ms.wrapping_sub(at_ms) as i32);
    export_us - behind_ms * 1000
}

/// A record's (start, end): absolute time fields first, then deltas from the
/// export time, then uptime-relative fields, then the export time itself.
#[inline]
fn record_times(
    acc: &Acc,
    ctx: &Ctx,
    domain: Option<&DomainState>,
    header_time: &mut u64,
) -> (i64, i64) {
    let from_uptime = |at: Option<u32>| -> Option<i64> {
        let at = at?;
        match ctx.uptime_ms {
            Some(up) => Some(uptime_to_us(ctx.export_us, up, at)),
            None => {
                let init = acc
                    .system_init_ms
                    .map(|v| v as i64)
                    .or_else(|| domain?.system_init_ms)?;
                Some(init.saturating_add(i64::from(at)).saturating_mul(1000))
            }
        }
    };
    let start = acc
        .start_us
        .or_else(|| {
            acc.start_delta_us
                .map(|d| ctx.export_us.saturating_sub(d as i64))
        })
        .or_else(|| from_uptime(acc.uptime_start));
    let end = acc
        .end_us
        .or_else(|| {
            acc.end_delta_us
                .map(|d| ctx.export_us.saturating_sub(d as i64))
        })
        .or_else(|| from_uptime(acc.uptime_end));
    match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s),
        (None, Some(e)) => (e, e),
        (None, None) => {
            *header_time += 1;
            (ctx.export_us, ctx.export_us)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receive_time_refines_a_whole_second_export_time() {
        let secs = 1_130_806_800u32;
        let whole = i64::from(secs) * 1_000_000;
        assert_eq!(export_time_us(secs, whole + 466_000), whole + 466_000);
        assert_eq!(export_time_us(secs, whole), whole);
        assert_eq!(export_time_us(secs, whole + 999_999), whole + 999_999);
        // Outside the header's second: another clock, or a raw file.
        assert_eq!(export_time_us(secs, whole + 1_000_000), whole);
        assert_eq!(export_time_us(secs, whole - 1), whole);
        assert_eq!(export_time_us(secs, i64::MIN), whole);
        assert_eq!(
            export_time_us(u32::MAX, i64::MAX),
            i64::from(u32::MAX) * 1_000_000
        );
    }

    fn exporter() -> SocketAddr {
        "192.0.2.1:2055".parse().unwrap()
    }

    /// An IPFIX message with the given sets.
    fn ipfix(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, content) in sets {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&((content.len() + 4) as u16).to_be_bytes());
            body.extend_from_slice(content);
        }
        let mut d = vec![0, 10];
        d.extend_from_slice(&((body.len() + 16) as u16).to_be_bytes());
        d.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 7]);
        d.extend_from_slice(&body);
        d
    }

    fn fields(list: &[(u16, u16)]) -> Vec<u8> {
        list.iter()
            .flat_map(|(id, len)| [id.to_be_bytes(), len.to_be_bytes()].concat())
            .collect()
    }

    fn template(id: u16, list: &[(u16, u16)]) -> Vec<u8> {
        let mut t = id.to_be_bytes().to_vec();
        t.extend_from_slice(&(list.len() as u16).to_be_bytes());
        t.extend_from_slice(&fields(list));
        t
    }

    const V4_TEMPLATE: &[(u16, u16)] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 3), (1, 4)];

    fn v4_record(src: [u8; 4], pkts: u32, bytes: u32) -> Vec<u8> {
        let mut r = src.to_vec();
        r.extend_from_slice(&[10, 0, 0, 2, 0x30, 0x39, 0, 25, 6]);
        r.extend_from_slice(&pkts.to_be_bytes()[1..]);
        r.extend_from_slice(&bytes.to_be_bytes());
        r
    }

    /// Sequence numbers: what an exporter skipped is counted in its
    /// format's unit (IPFIX data records, v9 datagrams, v5 flows), a step
    /// back is a restart, and a message not wholly read (data held for its
    /// template) leaves the next one unjudged.
    #[test]
    fn skipped_sequence_numbers_are_counted_as_lost() {
        let with_seq = |mut d: Vec<u8>, at: usize, seq: u32| {
            d[at..at + 4].copy_from_slice(&seq.to_be_bytes());
            d
        };
        let two = [
            v4_record([10, 0, 0, 1], 3, 180),
            v4_record([10, 0, 0, 3], 1, 60),
        ]
        .concat();
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let mut out = Vec::new();
        let mut send = |dec: &mut FlowDecoder, d: Vec<u8>| dec.decode(exporter(), 0, &d, &mut out);
        let first = ipfix(&[(2, template(300, V4_TEMPLATE)), (300, two.clone())]);
        send(&mut dec, with_seq(first, 8, 100));
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 102));
        assert_eq!(
            (dec.stats().sequence_gaps, dec.stats().lost_ipfix_records),
            (0, 0)
        );
        // Messages of 6 records never came.
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 110));
        assert_eq!(
            (dec.stats().sequence_gaps, dec.stats().lost_ipfix_records),
            (1, 6)
        );
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 5));
        assert_eq!(dec.stats().sequence_restarts, 1);
        // Data for a template not yet known: how many records it held is
        // unknown, so the next message is not judged; then counting resumes.
        send(&mut dec, with_seq(ipfix(&[(301, two.clone())]), 8, 7));
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 50));
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 53));
        let st = dec.stats();
        assert_eq!(
            (
                st.sequence_gaps,
                st.lost_ipfix_records,
                st.sequence_restarts
            ),
            (2, 7, 1)
        );

        // softflowd's IPFIX: the number counts its flow records up to and
        // including the message (options records not at all). Learnt from
        // the first message that tells the conventions apart; then a lost
        // message of 3 records is 3.
        let one = v4_record([10, 0, 0, 1], 3, 180);
        let three = [one.clone(), one.clone(), one.clone()].concat();
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let first = ipfix(&[(2, template(300, V4_TEMPLATE)), (300, two.clone())]);
        send(&mut dec, with_seq(first, 8, 2));
        send(&mut dec, with_seq(ipfix(&[(300, three.clone())]), 8, 5));
        send(&mut dec, with_seq(ipfix(&[(300, one.clone())]), 8, 6));
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 8));
        let st = dec.stats();
        assert_eq!((st.sequence_gaps, st.sequence_restarts), (0, 0), "{st:?}");
        // A message of 3 records lost, then one of 2.
        send(&mut dec, with_seq(ipfix(&[(300, two.clone())]), 8, 13));
        assert_eq!(
            (dec.stats().sequence_gaps, dec.stats().lost_ipfix_records),
            (1, 3)
        );

        // v5: the sequence counts flows; v9: datagrams.
        let v5 = |seq: u32, count: u16| {
            let mut d = vec![0, 5];
            d.extend_from_slice(&count.to_be_bytes());
            d.extend_from_slice(&[0; 12]);
            d.extend_from_slice(&seq.to_be_bytes());
            d.extend_from_slice(&[0; 4]);
            for _ in 0..count {
                d.extend_from_slice(&[0; 48]);
            }
            d
        };
        let v9 = |seq: u32| {
            let mut d = vec![0, 9, 0, 0];
            d.extend_from_slice(&[0; 8]);
            d.extend_from_slice(&seq.to_be_bytes());
            d.extend_from_slice(&[0, 0, 0, 1]);
            d
        };
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        for d in [v5(0, 3), v5(3, 2), v5(9, 1), v9(40), v9(41), v9(44)] {
            send(&mut dec, d);
        }
        let st = dec.stats();
        assert_eq!(
            (st.lost_v5_flows, st.lost_v9_datagrams, st.sequence_gaps),
            (4, 2, 2)
        );
    }

    #[test]
    fn reduced_size_counters_and_data_before_template() {
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let mut out = Vec::new();
        let data = [
            v4_record([10, 0, 0, 1], 3, 180),
            v4_record([10, 0, 0, 3], 1, 60),
        ]
        .concat();
        dec.decode(exporter(), 0, &ipfix(&[(300, data.clone())]), &mut out);
        assert!(out.is_empty());
        assert_eq!(dec.stats().sets_buffered, 1);
        dec.decode(
            exporter(),
            1,
            &ipfix(&[(2, template(300, V4_TEMPLATE))]),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (out[0].packets, out[0].bytes, out[0].dst_port),
            (3, 180, 25)
        );
        assert_eq!(out[0].start_us, 1_700_000_000_000_000);
        assert_eq!(dec.stats().sets_decoded_late, 1);
        // Withdraw, then data is held again and given up at finish.
        dec.decode(exporter(), 2, &ipfix(&[(2, vec![1, 44, 0, 0])]), &mut out);
        dec.decode(exporter(), 3, &ipfix(&[(300, data)]), &mut out);
        dec.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(dec.stats().template_withdrawals, 1);
        assert_eq!(dec.stats().sets_unresolved_at_finish, 1);
    }

    #[test]
    fn variable_length_and_enterprise_fields_are_skipped() {
        // field 82 (interfaceName) variable; an enterprise field of 4 bytes.
        let mut t = template(400, &[(8, 4), (82, 65535), (12, 4)]);
        t[3] = 4; // four fields
        t.extend_from_slice(&[0x80, 0x01, 0, 4, 0, 0, 0x8b, 0x30]);
        let mut rec = vec![
            1, 2, 3, 4, 3, b'e', b't', b'h', 5, 6, 7, 8, 0xde, 0xad, 0xbe, 0xef,
        ];
        // a second record with the 3-byte length form
        rec.extend_from_slice(&[9, 9, 9, 9, 255, 0, 2, b'x', b'y', 8, 8, 8, 8, 0, 0, 0, 0]);
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let mut out = Vec::new();
        dec.decode(exporter(), 0, &ipfix(&[(2, t), (400, rec)]), &mut out);
        assert_eq!(out.len(), 2, "{:?}", dec.stats());
        assert_eq!(out[0].dst, "5.6.7.8".parse::<IpAddr>().unwrap());
        assert_eq!(out[1].dst, "8.8.8.8".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn biflow_reverse_fields() {
        let mut t = template(500, &[(8, 4), (12, 4), (1, 8)]);
        t[3] = 4;
        t.extend_from_slice(&[0x80, 0x01, 0, 8, 0, 0, 0x72, 0x79]); // reverseOctetDeltaCount
        let mut rec = vec![1, 1, 1, 1, 2, 2, 2, 2];
        rec.extend_from_slice(&100u64.to_be_bytes());
        rec.extend_from_slice(&555u64.to_be_bytes());
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let mut out = Vec::new();
        dec.decode(exporter(), 0, &ipfix(&[(2, t), (500, rec)]), &mut out);
        assert_eq!((out[0].bytes, out[0].rev_bytes), (100, 555));
    }

    #[test]
    fn bad_templates_are_counted() {
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let mut out = Vec::new();
        // 65535 fields announced, none present.
        dec.decode(
            exporter(),
            0,
            &ipfix(&[(2, vec![1, 0, 0xff, 0xff])]),
            &mut out,
        );
        // A set length past the end.
        let mut d = ipfix(&[(2, template(256, V4_TEMPLATE))]);
        d[19] = 200;
        dec.decode(exporter(), 0, &d, &mut out);
        dec.decode(exporter(), 0, &[0, 7, 1, 2], &mut out);
        dec.decode(exporter(), 0, &[0, 10, 0], &mut out);
        let m = &dec.stats().malformed;
        assert_eq!(
            (m.bad_template, m.bad_set_length, m.truncated_header),
            (1, 1, 1)
        );
        assert_eq!(dec.stats().unknown_version, 1);
        assert!(out.is_empty());
    }

    #[test]
    fn uptime_wraps() {
        // Export at uptime 1000 ms, flow first seen at uptime 2^32 - 1000.
        assert_eq!(uptime_to_us(10_000_000, 1000, u32::MAX - 999), 8_000_000);
        assert_eq!(uptime_to_us(10_000_000, 1000, 1500), 10_500_000);
    }
}
