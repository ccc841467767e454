//! The session table: TCP connections on SMTP ports, both directions in one
//! entry, turned into [`SessionRecord`]s when they close, go idle, are pushed
//! out of a full table, or the input ends.
//!
//! Bounded: at most `max_sessions` entries; each entry's buffers are bounded
//! by the stream and SMTP reader bounds, and the out-of-order bytes of all
//! entries together by the table's reorder budget, so memory does not grow
//! with the number of connections that lost a segment.

use crate::smtp::SmtpReader;
use crate::stats::CaptureStats;
use crate::stream::{Chunk, Stream};
use op25b_core::{Outcome, SessionRecord, Source, tcp_flags};
use std::collections::HashMap;
use std::net::IpAddr;

/// How long a closed connection (RST, or FIN both ways) stays to absorb
/// stragglers (the last ACK, retransmitted FINs) before its record goes out.
pub const CLOSED_LINGER_US: i64 = 5_000_000;

/// The decoded TCP fields the table needs: what a worker receives.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub ts_us: i64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_len: u32,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload_len: u32,
}

/// The connection key: the two endpoints in a fixed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
}

impl Key {
    fn new(a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
        if a <= b {
            Key { lo: a, hi: b }
        } else {
            Key { lo: b, hi: a }
        }
    }
}

const C2S: usize = 0;
const S2C: usize = 1;

struct Conn {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    start: i64,
    end: i64,
    packets: [u64; 2],
    bytes: [u64; 2],
    flags: [u8; 2],
    streams: [Stream; 2],
    smtp: SmtpReader,
    client_syn: bool,
    /// Initial sequence number of the client, from its SYN or the server's SYN-ACK.
    isn: Option<u32>,
    payload_seen: bool,
    server_reset_before_data: bool,
    fin: [bool; 2],
    closed_at: Option<i64>,
    told_midstream: bool,
}

impl Conn {
    fn new(client: (IpAddr, u16), server: (IpAddr, u16), ts: i64) -> Conn {
        let mut smtp = SmtpReader::new();
        if server.1 == 465 {
            smtp.implicit_tls();
        }
        Conn {
            client,
            server,
            start: ts,
            end: ts,
            packets: [0; 2],
            bytes: [0; 2],
            flags: [0; 2],
            streams: [Stream::default(), Stream::default()],
            smtp,
            client_syn: false,
            isn: None,
            payload_seen: false,
            server_reset_before_data: false,
            fin: [false; 2],
            closed_at: None,
            told_midstream: false,
        }
    }

    fn update(&mut self, s: &Segment, payload: &[u8]) {
        let dir = if (s.src, s.src_port) == self.client {
            C2S
        } else {
            S2C
        };
        self.packets[dir] += 1;
        self.bytes[dir] += u64::from(s.ip_len);
        self.flags[dir] |= s.flags;
        self.start = self.start.min(s.ts_us);
        self.end = self.end.max(s.ts_us);
        let syn = s.flags & tcp_flags::SYN != 0;
        let ack = s.flags & tcp_flags::ACK != 0;
        if syn {
            self.streams[dir].syn(s.seq);
            if dir == C2S && !ack {
                self.client_syn = true;
                self.isn.get_or_insert(s.seq);
            }
            if dir == S2C && ack {
                self.isn.get_or_insert(s.ack.wrapping_sub(1));
            }
        }
        if s.flags & tcp_flags::RST != 0 {
            if dir == S2C && !self.payload_seen {
                self.server_reset_before_data = true;
            }
            self.closed_at.get_or_insert(s.ts_us);
            // Its acknowledgement still says what the peer had sent: bytes
            // up to it the capture never held are a hole (a reply lost just
            // before the client reset, say).
            if ack && !self.smtp.is_stopped() {
                let Conn {
                    streams,
                    smtp,
                    told_midstream,
                    ..
                } = self;
                streams[1 - dir].acked(s.ack, &mut |c| {
                    deliver(smtp, told_midstream, 1 - dir, c, false)
                });
            }
            return;
        }
        if s.payload_len > 0 {
            self.payload_seen = true;
        }
        let fin = s.flags & tcp_flags::FIN != 0;
        let Conn {
            streams,
            smtp,
            told_midstream,
            ..
        } = self;
        if smtp.is_stopped() {
            // Encrypted from here on: nothing to reassemble.
        } else {
            let [c2s, s2c] = streams;
            let (this, other) = if dir == C2S { (c2s, s2c) } else { (s2c, c2s) };
            if ack {
                other.acked(s.ack, &mut |c| {
                    deliver(smtp, told_midstream, 1 - dir, c, false)
                });
            }
            if s.payload_len > 0 || fin {
                let seq = if syn { s.seq.wrapping_add(1) } else { s.seq };
                let midstream = !this.from_start;
                this.segment(seq, payload, s.payload_len, fin, &mut |c| {
                    deliver(smtp, told_midstream, dir, c, midstream)
                });
            }
        }
        if fin {
            self.fin[dir] = true;
            if self.fin[C2S] && self.fin[S2C] {
                self.closed_at.get_or_insert(s.ts_us);
            }
        }
    }

    /// A SYN (without ACK) from the client side that starts a new connection
    /// on the same ports rather than repeating this one's.
    /// Out-of-order bytes both directions hold.
    fn pending_bytes(&self) -> usize {
        self.streams[C2S].pending_bytes() + self.streams[S2C].pending_bytes()
    }

    /// Stops waiting for the holes before the buffered bytes: the holes
    /// become gaps and the bytes go on to the SMTP reader, as at the end.
    fn stop_waiting(&mut self) {
        let Conn {
            streams,
            smtp,
            told_midstream,
            ..
        } = self;
        let [c2s, s2c] = streams;
        c2s.flush(&mut |c| deliver(smtp, told_midstream, C2S, c, false));
        s2c.flush(&mut |c| deliver(smtp, told_midstream, S2C, c, false));
    }

    fn is_reuse(&self, s: &Segment) -> bool {
        self.isn != Some(s.seq) && (s.src, s.src_port) == self.client
            || self.closed_at.is_some() && self.isn != Some(s.seq)
    }

    fn finish(mut self, stats: &mut CaptureStats) -> SessionRecord {
        let Conn {
            streams,
            smtp,
            told_midstream,
            ..
        } = &mut self;
        let [c2s, s2c] = streams;
        c2s.flush(&mut |c| deliver(smtp, told_midstream, C2S, c, false));
        s2c.flush(&mut |c| deliver(smtp, told_midstream, S2C, c, false));
        let summary = smtp.finish().clone();
        let gaps = c2s.gaps || s2c.gaps;
        stats.segments_dropped += c2s.dropped + s2c.dropped;
        let mut r = SessionRecord::new(
            Source::Pcap,
            self.client.0,
            self.client.1,
            self.server.0,
            self.server.1,
        );
        r.start = self.start;
        r.end = self.end;
        r.packets_c2s = self.packets[C2S];
        r.packets_s2c = self.packets[S2C];
        r.bytes_c2s = self.bytes[C2S];
        r.bytes_s2c = self.bytes[S2C];
        r.flags_c2s = self.flags[C2S];
        r.flags_s2c = self.flags[S2C];
        r.helo = summary.helo.clone();
        r.tls = summary.tls;
        r.auth = summary.auth;
        r.greeting_code = summary.greeting_code;
        r.transactions = summary.transactions;
        r.rcpt_accepted = summary.rcpt_accepted;
        r.rcpt_rejected = summary.rcpt_rejected;
        r.messages = summary.messages;
        r.gaps = gaps;
        let handshake_seen = self.client_syn || self.isn.is_some();
        let one_direction = self.packets[C2S] == 0 || self.packets[S2C] == 0;
        r.outcome =
            if self.client_syn && self.packets[S2C] == 0 && self.flags[C2S] & tcp_flags::ACK == 0 {
                Outcome::NoAnswer
            } else if self.server_reset_before_data {
                Outcome::Reset
            } else if summary.tls && summary.tls_hidden {
                Outcome::Encrypted
            } else if summary.messages > 0 {
                Outcome::Delivered
            } else if summary.greeting_code >= 400 {
                Outcome::Rejected
            } else if one_direction || !handshake_seen || gaps {
                // Too little of the session to tell (a hole may hold the acceptance).
                Outcome::Partial
            } else if summary.transactions > 0 && summary.replies == 0 {
                // Commands without a single reply: the server side is missing.
                Outcome::Partial
            } else if summary.transactions > 0 {
                Outcome::Rejected
            } else {
                Outcome::NoMail
            };
        // Port 465 that never got an answer carried no TLS.
        if r.outcome.is_failed() {
            r.tls = false;
        }
        if gaps {
            stats.sessions_with_gaps += 1;
        }
        stats.smtp_long_lines += u64::from(summary.long_lines);
        stats.smtp_unmatched_replies += u64::from(summary.unmatched_replies);
        stats.smtp_bad_lines += u64::from(summary.bad_lines);
        stats.smtp_unterminated_replies += u64::from(summary.unterminated_replies);
        stats.smtp_resynced_after_gap += u64::from(summary.resynced_after_gap);
        stats.smtp_gap_tails_dropped += u64::from(summary.gap_tails_dropped);
        stats.smtp_cut_lines_read += u64::from(summary.cut_lines_read);
        stats.smtp_replies_lost_in_gap += u64::from(summary.replies_lost_in_gap);
        *stats.sessions.entry(r.outcome.as_str()).or_insert(0) += 1;
        r
    }
}

fn deliver(
    smtp: &mut SmtpReader,
    told_midstream: &mut bool,
    dir: usize,
    chunk: Chunk<'_>,
    midstream: bool,
) {
    match (dir, chunk) {
        (C2S, Chunk::Data(d)) => smtp.feed_client(d),
        (C2S, Chunk::Gap(n)) => smtp.gap_client(n),
        (_, Chunk::Data(d)) => {
            if midstream && !*told_midstream {
                smtp.server_started_midstream();
            }
            *told_midstream = true;
            smtp.feed_server(d);
        }
        (_, Chunk::Gap(n)) => {
            if !*told_midstream {
                smtp.server_started_midstream();
                *told_midstream = true;
            }
            smtp.gap_server(n);
        }
    }
}

/// Accounts a connection's out-of-order bytes after a segment (`before`:
/// what it held before it). Where the total would pass the budget, this
/// connection, the one that just added, gives up waiting: so the total never
/// stays above the budget, whichever connections hold the rest.
fn account_reorder(
    held: &mut usize,
    budget: usize,
    stats: &mut CaptureStats,
    conn: &mut Conn,
    before: usize,
) {
    let others = held.saturating_sub(before);
    if others + conn.pending_bytes() > budget {
        conn.stop_waiting();
        stats.reorder_budget_flushes += 1;
    }
    *held = others + conn.pending_bytes();
}

/// Connections on SMTP ports, keyed by their endpoints.
pub struct SessionTable {
    /// ahash: fast, and keyed per run so crafted traffic cannot pick collisions.
    conns: HashMap<Key, Conn, ahash::RandomState>,
    smtp_ports: Vec<u16>,
    idle_timeout_us: i64,
    max_sessions: usize,
    /// Out-of-order bytes all connections may hold together, and how many
    /// they hold.
    reorder_budget: usize,
    reorder_held: usize,
    now: i64,
    next_sweep: i64,
    pub stats: CaptureStats,
}

/// Out-of-order bytes a table holds at most, by default: far above what real
/// captures hold (peak RSS 12-26 MB on 2 GB), far below 2 x 256 KiB for
/// each of 200 000 connections.
pub const DEFAULT_REORDER_BUDGET: usize = 128 << 20;

impl SessionTable {
    pub fn new(smtp_ports: &[u16], idle_timeout_us: i64, max_sessions: usize) -> Self {
        SessionTable {
            conns: HashMap::default(),
            smtp_ports: smtp_ports.to_vec(),
            idle_timeout_us: idle_timeout_us.max(1),
            max_sessions: max_sessions.max(1),
            reorder_budget: DEFAULT_REORDER_BUDGET,
            reorder_held: 0,
            now: i64::MIN,
            next_sweep: i64::MIN,
            stats: CaptureStats::default(),
        }
    }

    /// Sets the out-of-order bytes all connections may hold together.
    pub fn with_reorder_budget(mut self, bytes: usize) -> Self {
        self.reorder_budget = bytes;
        self
    }

    /// Out-of-order bytes held now, over all connections.
    #[cfg(test)]
    fn reorder_held(&self) -> usize {
        self.reorder_held
    }

    fn evict(&mut self, key: &Key, reason: &'static str, out: &mut dyn FnMut(SessionRecord)) {
        if let Some(conn) = self.conns.remove(key) {
            self.reorder_held = self.reorder_held.saturating_sub(conn.pending_bytes());
            *self.stats.evictions.entry(reason).or_insert(0) += 1;
            out(conn.finish(&mut self.stats));
        }
    }

    /// Capture time moved on (from this worker's packets or the reader's clock).
    pub fn advance(&mut self, now: i64, out: &mut dyn FnMut(SessionRecord)) {
        if now <= self.now {
            return;
        }
        self.now = now;
        if now < self.next_sweep {
            return;
        }
        // Sweeps are whole-table scans: a few per idle timeout keep them cheap.
        let interval = (self.idle_timeout_us / 4).clamp(1, CLOSED_LINGER_US);
        self.next_sweep = now.saturating_add(interval);
        let mut expired: Vec<(i64, Key, &'static str)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| Some((c.start, *k, self.expiry(c, now)?)))
            .collect();
        // The map's order is its hash's, keyed per run: records leave in
        // order of start, so the same input gives the same output.
        expired.sort_unstable_by_key(|(start, k, _)| (*start, *k));
        for (_, k, reason) in expired {
            self.evict(&k, reason, out);
        }
    }

    /// Why a connection is over at `now`, if it is: `closed` (FIN/RST and
    /// the linger passed) or `idle`.
    fn expiry(&self, c: &Conn, now: i64) -> Option<&'static str> {
        match c.closed_at {
            Some(t) if now.saturating_sub(t) > CLOSED_LINGER_US => Some("closed"),
            _ if now.saturating_sub(c.end) > self.idle_timeout_us => Some("idle"),
            _ => None,
        }
    }

    /// One TCP segment on an SMTP port.
    pub fn segment(&mut self, s: &Segment, payload: &[u8], out: &mut dyn FnMut(SessionRecord)) {
        self.advance(s.ts_us, out);
        let key = Key::new((s.src, s.src_port), (s.dst, s.dst_port));
        let syn_only = s.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        if let Some(conn) = self.conns.get_mut(&key) {
            // Expiry is decided by the packet's own time, not by when a sweep
            // ran: records do not depend on batching or thread count.
            let expired = match conn.closed_at {
                Some(t) if s.ts_us.saturating_sub(t) > CLOSED_LINGER_US => Some("closed"),
                _ if s.ts_us.saturating_sub(conn.end) > self.idle_timeout_us => Some("idle"),
                _ if syn_only && conn.is_reuse(s) => Some("reused"),
                _ => None,
            };
            match expired {
                None => {
                    let before = conn.pending_bytes();
                    conn.update(s, payload);
                    let (held, stats) = (&mut self.reorder_held, &mut self.stats);
                    account_reorder(held, self.reorder_budget, stats, conn, before);
                    return;
                }
                Some(reason) => self.evict(&key, reason, out),
            }
        }
        if self.conns.len() >= self.max_sessions {
            self.evict_oldest(out);
        }
        let src = (s.src, s.src_port);
        let dst = (s.dst, s.dst_port);
        let synack =
            s.flags & (tcp_flags::SYN | tcp_flags::ACK) == (tcp_flags::SYN | tcp_flags::ACK);
        let dst_is_smtp = self.smtp_ports.contains(&s.dst_port);
        let src_is_smtp = self.smtp_ports.contains(&s.src_port);
        // The SYN sender is the client; without the start, the side talking
        // to the SMTP port (both on SMTP ports: the lower port serves).
        let client_is_src = if syn_only {
            true
        } else if synack {
            false
        } else if dst_is_smtp != src_is_smtp {
            dst_is_smtp
        } else {
            s.dst_port <= s.src_port
        };
        let (client, server) = if client_is_src {
            (src, dst)
        } else {
            (dst, src)
        };
        let mut conn = Conn::new(client, server, s.ts_us);
        conn.update(s, payload);
        let (held, stats) = (&mut self.reorder_held, &mut self.stats);
        account_reorder(held, self.reorder_budget, stats, &mut conn, 0);
        self.conns.insert(key, conn);
    }

    /// The table is full: the least recently active eighth goes.
    fn evict_oldest(&mut self, out: &mut dyn FnMut(SessionRecord)) {
        let mut ends: Vec<i64> = self.conns.values().map(|c| c.end).collect();
        if ends.is_empty() {
            return;
        }
        let nth = ends.len() / 8;
        let (_, cutoff, _) = ends.select_nth_unstable(nth);
        let cutoff = *cutoff;
        let mut victims: Vec<(i64, Key)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.end <= cutoff)
            .map(|(k, c)| (c.start, *k))
            .collect();
        victims.sort_unstable();
        for (_, k) in victims {
            self.evict(&k, "table_full", out);
        }
    }

    /// The input is over: every connection left becomes a record.
    ///
    /// Each is counted by why it is over at the last time seen: one whose
    /// linger or idle time passed since the last sweep is `closed` or
    /// `idle`, as a sweep would have found it, so the counts do not depend
    /// on when the sweeps ran (which batching and thread count change);
    /// `end_of_input` is what was still open.
    pub fn finish(&mut self, out: &mut dyn FnMut(SessionRecord)) {
        let now = self.now;
        let mut keys: Vec<(i64, Key, &'static str)> = self
            .conns
            .iter()
            .map(|(k, c)| (c.start, *k, self.expiry(c, now).unwrap_or("end_of_input")))
            .collect();
        keys.sort_unstable_by_key(|(start, k, _)| (*start, *k));
        for (_, k, reason) in keys {
            self.evict(&k, reason, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A segment of connection `i` (client 198.18.0.1:40000+i, server
    /// 203.0.113.25:25) with `len` payload bytes.
    fn segment_of(
        i: u16,
        ts: i64,
        from_client: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        len: u32,
    ) -> Segment {
        let client = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let server = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 25));
        Segment {
            ts_us: ts,
            src: if from_client { client } else { server },
            dst: if from_client { server } else { client },
            src_port: if from_client { 40_000 + i } else { 25 },
            dst_port: if from_client { 25 } else { 40_000 + i },
            ip_len: 40 + len,
            seq,
            ack,
            flags,
            payload_len: len,
        }
    }

    /// Connection `i`: handshake, then 200 client bytes 100 bytes past
    /// where the stream stands (the segment before them was lost).
    fn lossy_connection(table: &mut SessionTable, i: u16, out: &mut Vec<SessionRecord>) {
        let seg = |ts, from_client, seq, ack, flags, len| {
            segment_of(i, ts, from_client, seq, ack, flags, len)
        };
        let ts = i64::from(i) * 1000;
        let mut emit = |r| out.push(r);
        let syn = tcp_flags::SYN;
        let ack = tcp_flags::ACK;
        table.segment(&seg(ts, true, 1000, 0, syn, 0), &[], &mut emit);
        table.segment(
            &seg(ts + 1, false, 5000, 1001, syn | ack, 0),
            &[],
            &mut emit,
        );
        table.segment(&seg(ts + 2, true, 1001, 5001, ack, 0), &[], &mut emit);
        let data = [b'x'; 200];
        table.segment(&seg(ts + 3, true, 1101, 5001, ack, 200), &data, &mut emit);
    }

    #[test]
    fn out_of_order_bytes_stay_within_the_table_budget() {
        const BUDGET: usize = 4096;
        let mut table = SessionTable::new(&[25], 300_000_000, 1000).with_reorder_budget(BUDGET);
        let mut records = Vec::new();
        for i in 0..50 {
            lossy_connection(&mut table, i, &mut records);
            assert!(table.reorder_held() <= BUDGET, "{}", table.reorder_held());
        }
        // 50 x 200 bytes against 4096: most connections had to give up.
        let flushes = table.stats.reorder_budget_flushes;
        assert!(flushes >= 50 - (BUDGET / 200) as u64, "{flushes}");
        table.finish(&mut |r| records.push(r));
        assert_eq!(table.reorder_held(), 0);
        assert_eq!(records.len(), 50);
        // Every hole is a gap, given up early or at the end.
        assert!(records.iter().all(|r| r.gaps));
        assert_eq!(table.stats.sessions_with_gaps, 50);
    }

    #[test]
    fn a_reset_acknowledging_bytes_never_captured_marks_the_hole() {
        let seg = |ts, from_client, seq, ack, flags, len| {
            segment_of(0, ts, from_client, seq, ack, flags, len)
        };
        let (syn, ack, rst) = (tcp_flags::SYN, tcp_flags::ACK, tcp_flags::RST);
        let mut table = SessionTable::new(&[25], 300_000_000, 1000);
        let mut records = Vec::new();
        let mut emit = |r| records.push(r);
        table.segment(&seg(0, true, 1000, 0, syn, 0), &[], &mut emit);
        table.segment(&seg(1, false, 5000, 1001, syn | ack, 0), &[], &mut emit);
        table.segment(&seg(2, true, 1001, 5001, ack, 0), &[], &mut emit);
        let greeting = b"220 mx.example ESMTP\r\n";
        let n = greeting.len() as u32;
        table.segment(&seg(3, false, 5001, 1001, ack, n), greeting, &mut emit);
        // The server's next 30 bytes were not captured; the client resets,
        // acknowledging them.
        let past = 5001 + n + 30;
        table.segment(&seg(4, true, 1001, past, rst | ack, 0), &[], &mut emit);
        table.finish(&mut emit);
        assert_eq!(records.len(), 1);
        assert!(records[0].gaps, "{:?}", records[0]);
        assert_eq!(records[0].outcome, op25b_core::Outcome::Partial);
    }

    #[test]
    fn within_the_budget_connections_wait_for_their_holes() {
        let mut table = SessionTable::new(&[25], 300_000_000, 1000);
        let mut records = Vec::new();
        for i in 0..50 {
            lossy_connection(&mut table, i, &mut records);
        }
        assert_eq!(table.reorder_held(), 50 * 200);
        assert_eq!(table.stats.reorder_budget_flushes, 0);
        table.finish(&mut |r| records.push(r));
        assert_eq!(table.reorder_held(), 0);
        assert_eq!(records.len(), 50);
    }
}
