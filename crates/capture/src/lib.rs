//! Packet captures to SMTP [`SessionRecord`]s, with the SMTP dialogue read
//! where the payload was captured.
//!
//! ```text
//! files (sorted by first packet; overlapping ones merged by timestamp)
//!   -> reader: decompress, pcap/pcapng frames,
//!   decode link/IP/TCP/UDP, count every frame not used
//!     -> TCP on SMTP ports: batches, by a hash of the connection, to N workers
//!          -> session table -> stream reassembly -> SMTP reader -> records
//!     -> UDP on flow-export ports: datagrams for the flow decoder
//! records and datagrams come back to the caller's thread through a channel,
//! put back in the order the reader sent the work out, so the same input and
//! thread count give the same records in the same order.
//! ```
//!
//! Modules: [`detect`] (content sniffing), `reader` (files to frames),
//! `merge` (files in time order),
//! [`decode`] (frames to packets), [`stream`] (TCP reassembly), [`smtp`] (the
//! dialogue reader, push API), `session` (the table), [`stats`].

mod clock;
pub mod decode;
pub mod detect;
mod merge;
mod reader;
mod session;
pub mod smtp;
pub mod stats;
pub mod stream;

pub use detect::{CaptureFormat, CaptureKind, Container, DETECT_HEAD, detect};
pub use op25b_core::{DEFAULT_SMTP_PORTS, InputError, Outcome, SessionRecord};
pub use stats::{CaptureStats, FileDamage};

use decode::{PROTO_TCP, PROTO_UDP};
use session::{Segment, SessionTable};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// UDP ports whose payloads are flow exports (NetFlow v5/v9, IPFIX).
pub const DEFAULT_DATAGRAM_PORTS: &[u16] = &[2055, 9995, 9996, 4739];

/// How an ingest runs.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// TCP ports a connection is recorded for (either end).
    pub smtp_ports: Vec<u16>,
    /// UDP destination ports whose payloads go to `on_datagram`.
    pub datagram_ports: Vec<u16>,
    /// A connection with no packet for this long (capture time) is closed.
    pub idle_timeout_us: i64,
    /// Most connections held at once (over all workers); past it the least
    /// recently active are closed early (counted as `table_full`).
    pub max_sessions: usize,
    /// Out-of-order bytes all held connections may buffer together (over
    /// all workers); past it a connection stops waiting for its holes
    /// (counted as `reorder_budget_flushes`, the holes marked as gaps).
    pub reorder_budget: usize,
    /// Threads: 1 runs everything on the caller's thread; N > 1 runs one
    /// reader thread and N session workers.
    pub threads: usize,
    /// Advanced by bytes read; its length is set to the total input size
    /// when unset.
    pub progress: Option<indicatif::ProgressBar>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            smtp_ports: DEFAULT_SMTP_PORTS.to_vec(),
            datagram_ports: DEFAULT_DATAGRAM_PORTS.to_vec(),
            idle_timeout_us: 300_000_000,
            max_sessions: 200_000,
            reorder_budget: session::DEFAULT_REORDER_BUDGET,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: None,
        }
    }
}

/// A UDP datagram to a flow-export port found in a capture.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub ts_us: i64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

/// Where decoded packets go: straight into a table, or to worker threads.
trait Router {
    fn tcp(&mut self, s: &Segment, payload: &[u8]);
    fn datagram(&mut self, d: Datagram<'_>);
    /// Capture time as the reader sees it.
    fn tick(&mut self, now: i64);
}

/// Frames between clock ticks (and progress updates).
const TICK_FRAMES: u64 = 8192;

/// Reads every file in time order (see [`merge`]), decodes, counts, routes.
fn read_all(
    files: &[(i64, PathBuf)],
    opts: &CaptureOptions,
    stats: &mut CaptureStats,
    bytes_read: &Arc<AtomicU64>,
    router: &mut dyn Router,
) -> Result<(), InputError> {
    let mut now = i64::MIN;
    let mut frames_since_tick = 0u64;
    let mut frame_stats = CaptureStats::default();
    let decompress_thread = opts.threads > 1;
    let result = merge::read_in_time_order(files, stats, bytes_read, decompress_thread, &mut |f| {
        frame_stats.packets += 1;
        now = now.max(f.ts_us);
        match decode::decode(f.linktype, f.data) {
            Err(reason) => frame_stats.skip(reason),
            Ok(p) if p.protocol == PROTO_TCP => {
                if opts.smtp_ports.contains(&p.dst_port) || opts.smtp_ports.contains(&p.src_port) {
                    frame_stats.packets_used += 1;
                    let seg = Segment {
                        ts_us: f.ts_us,
                        src: p.src,
                        dst: p.dst,
                        src_port: p.src_port,
                        dst_port: p.dst_port,
                        ip_len: p.ip_len,
                        seq: p.seq,
                        ack: p.ack,
                        flags: p.flags,
                        payload_len: p.payload_len,
                    };
                    router.tcp(&seg, p.payload);
                } else {
                    frame_stats.skip("not_smtp_port");
                }
            }
            Ok(p) if p.protocol == PROTO_UDP => {
                if !opts.datagram_ports.contains(&p.dst_port) {
                    frame_stats.skip("udp_not_flow_port");
                } else if (p.payload.len() as u64) < u64::from(p.payload_len) {
                    frame_stats.skip("truncated_datagram");
                } else if !matches!(p.payload.get(..2), Some([0, 5 | 9 | 10])) {
                    // A flow port is also someone's ephemeral port (a DNS
                    // reply to port 9996): not an export unless it says so.
                    frame_stats.skip("udp_to_flow_port_not_netflow_v5_v9_ipfix");
                } else {
                    frame_stats.packets_used += 1;
                    frame_stats.datagrams += 1;
                    router.datagram(Datagram {
                        ts_us: f.ts_us,
                        src: SocketAddr::new(p.src, p.src_port),
                        dst: SocketAddr::new(p.dst, p.dst_port),
                        payload: p.payload,
                    });
                }
            }
            Ok(_) => frame_stats.skip(decode::skip::NOT_TCP),
        }
        frames_since_tick += 1;
        if frames_since_tick >= TICK_FRAMES {
            frames_since_tick = 0;
            router.tick(now);
            if let Some(pb) = &opts.progress {
                pb.set_position(bytes_read.load(Ordering::Relaxed));
            }
        }
    });
    stats.merge(&frame_stats);
    router.tick(now);
    if let Some(pb) = &opts.progress {
        pb.set_position(bytes_read.load(Ordering::Relaxed));
    }
    result
}

/// Files in time order, with the timestamp of their first packet: rotated
/// files join into one stream, overlapping ones are merged ([`merge`]).
/// Files without a packet go first; unreadable files last, where they fail
/// after the good ones were read.
fn sort_by_first_packet(paths: &[PathBuf]) -> Vec<(i64, PathBuf)> {
    let peek_bytes = Arc::new(AtomicU64::new(0));
    let mut keyed: Vec<(i64, usize, PathBuf)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut first = None;
            let mut scratch = CaptureStats::default();
            let ok = reader::read_file(p, &mut scratch, &peek_bytes, false, &mut |f| {
                first = Some(f.ts_us);
                false
            });
            // A file damaged after its first packet still sorts by it (the
            // clock check may read a frame or two past it to hand it on).
            let key = match (ok, first) {
                (_, Some(ts)) => ts,
                (Ok(()), None) => i64::MIN,
                (Err(_), None) => i64::MAX,
            };
            (key, i, p.clone())
        })
        .collect();
    keyed.sort_by_key(|(ts, i, _)| (*ts, *i));
    keyed.into_iter().map(|(ts, _, p)| (ts, p)).collect()
}

fn total_size(files: &[(i64, PathBuf)]) -> u64 {
    files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(Path::new(p)).ok())
        .map(|m| m.len())
        .sum()
}

/// Reads capture files into SMTP session records (to `on_session`) and
/// flow-export datagrams (to `on_datagram`), both called on this thread.
///
/// On an error (a file that is not a capture, a damaged record header) the
/// sessions read so far are still emitted, then the error is returned.
/// Recoverable damage is in the returned stats.
pub fn ingest(
    paths: &[PathBuf],
    opts: &CaptureOptions,
    on_session: &mut dyn FnMut(SessionRecord),
    on_datagram: &mut dyn FnMut(Datagram<'_>),
) -> Result<CaptureStats, InputError> {
    let files = sort_by_first_packet(paths);
    if let Some(pb) = &opts.progress
        && pb.length().is_none()
    {
        pb.set_length(total_size(&files));
    }
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (mut stats, result) = if opts.threads <= 1 {
        ingest_inline(&files, opts, &bytes_read, on_session, on_datagram)
    } else {
        ingest_threaded(&files, opts, &bytes_read, on_session, on_datagram)
    };
    stats.bytes_read = bytes_read.load(Ordering::Relaxed);
    if let Some(pb) = &opts.progress {
        pb.finish_and_clear();
    }
    result.map(|()| stats)
}

struct Inline<'a> {
    table: SessionTable,
    on_session: &'a mut dyn FnMut(SessionRecord),
    on_datagram: &'a mut dyn FnMut(Datagram<'_>),
}

impl Router for Inline<'_> {
    fn tcp(&mut self, s: &Segment, payload: &[u8]) {
        self.table.segment(s, payload, self.on_session);
    }
    fn datagram(&mut self, d: Datagram<'_>) {
        (self.on_datagram)(d);
    }
    fn tick(&mut self, now: i64) {
        self.table.advance(now, self.on_session);
    }
}

fn ingest_inline(
    files: &[(i64, PathBuf)],
    opts: &CaptureOptions,
    bytes_read: &Arc<AtomicU64>,
    on_session: &mut dyn FnMut(SessionRecord),
    on_datagram: &mut dyn FnMut(Datagram<'_>),
) -> (CaptureStats, Result<(), InputError>) {
    let mut stats = CaptureStats::default();
    let mut router = Inline {
        table: SessionTable::new(&opts.smtp_ports, opts.idle_timeout_us, opts.max_sessions)
            .with_reorder_budget(opts.reorder_budget),
        on_session,
        on_datagram,
    };
    let result = read_all(files, opts, &mut stats, bytes_read, &mut router);
    router.table.finish(router.on_session);
    stats.merge(&router.table.stats);
    (stats, result)
}

/// Packets for one worker, their payloads packed in one buffer.
#[derive(Default)]
struct Batch {
    segments: Vec<(Segment, usize, usize)>,
    payload: Vec<u8>,
    /// The reader's clock when the batch was sent.
    now: i64,
    /// Its place among everything the reader sent out (batches and
    /// datagrams): what it gives back is handed on in this order.
    seq: u64,
    /// The input is over: the worker closes its table after it.
    last: bool,
}

const BATCH_SEGMENTS: usize = 1024;
const BATCH_BYTES: usize = 512 * 1024;

enum Out {
    /// The records a worker emitted while taking batch `seq`.
    Sessions(Vec<SessionRecord>),
    Datagram {
        ts_us: i64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: Vec<u8>,
    },
}

struct Dispatch {
    workers: Vec<SyncSender<Batch>>,
    batches: Vec<Batch>,
    out: SyncSender<(u64, Out)>,
    next_seq: u64,
    /// The reader's clock at its latest tick.
    now: i64,
    /// Emptied batches coming back from the workers: their buffers are
    /// reused instead of fresh pages being faulted in for every batch.
    recycled: Receiver<Batch>,
}

impl Dispatch {
    fn send(&mut self, i: usize, now: i64) {
        self.send_batch(i, now, false);
    }

    fn send_batch(&mut self, i: usize, now: i64, last: bool) {
        if let (Some(tx), Some(batch)) = (self.workers.get(i), self.batches.get_mut(i)) {
            let fresh = self.recycled.try_recv().unwrap_or_default();
            let mut full = std::mem::replace(batch, fresh);
            full.now = now;
            full.seq = self.next_seq;
            full.last = last;
            self.next_seq += 1;
            // A worker that is gone has failed (its stats say so at join):
            // its place is filled, or everything after it would wait.
            if tx.send(full).is_err() {
                let _ = self
                    .out
                    .send((self.next_seq - 1, Out::Sessions(Vec::new())));
            }
        }
    }

    /// The input is over: every worker gets its last packets and closes
    /// its table, in order like any batch.
    fn finish(&mut self) {
        for i in 0..self.workers.len() {
            self.send_batch(i, self.now, true);
        }
    }
}

/// Which worker a connection belongs to: a hash of its unordered endpoints.
fn worker_of(s: &Segment, workers: usize) -> usize {
    fn mix(ip: &std::net::IpAddr, port: u16) -> u64 {
        let base = match ip {
            std::net::IpAddr::V4(a) => u64::from(u32::from(*a)),
            std::net::IpAddr::V6(a) => {
                let v = u128::from(*a);
                (v as u64) ^ ((v >> 64) as u64)
            }
        };
        (base ^ (u64::from(port) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
    let h = mix(&s.src, s.src_port).wrapping_add(mix(&s.dst, s.dst_port));
    ((h >> 32) as usize) % workers.max(1)
}

impl Router for Dispatch {
    fn tcp(&mut self, s: &Segment, payload: &[u8]) {
        let i = worker_of(s, self.workers.len());
        let Some(batch) = self.batches.get_mut(i) else {
            return;
        };
        let at = batch.payload.len();
        batch.payload.extend_from_slice(payload);
        batch.segments.push((*s, at, payload.len()));
        if batch.segments.len() >= BATCH_SEGMENTS || batch.payload.len() >= BATCH_BYTES {
            self.send(i, s.ts_us);
        }
    }

    fn datagram(&mut self, d: Datagram<'_>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let _ = self.out.send((
            seq,
            Out::Datagram {
                ts_us: d.ts_us,
                src: d.src,
                dst: d.dst,
                payload: d.payload.to_vec(),
            },
        ));
    }

    fn tick(&mut self, now: i64) {
        self.now = now;
        for i in 0..self.workers.len() {
            self.send(i, now);
        }
    }
}

fn worker(
    batches: Receiver<Batch>,
    recycle: SyncSender<Batch>,
    out: SyncSender<(u64, Out)>,
    mut table: SessionTable,
    index: usize,
) -> CaptureStats {
    let mut closed = false;
    for mut batch in batches {
        closed |= batch.last;
        let mut records = Vec::new();
        let mut emit = |r: SessionRecord| records.push(r);
        for (s, at, len) in &batch.segments {
            let payload = batch.payload.get(*at..at + len).unwrap_or(&[]);
            table.segment(s, payload, &mut emit);
        }
        table.advance(batch.now, &mut emit);
        if batch.last {
            table.finish(&mut emit);
        }
        // Sent even when empty: the caller waits for every place in order.
        let _ = out.send((batch.seq, Out::Sessions(records)));
        batch.segments.clear();
        batch.payload.clear();
        // A full pool just drops the batch.
        let _ = recycle.try_send(batch);
    }
    if !closed {
        // The reader stopped without its last batch (it failed): the
        // connections still open are records all the same, after the rest.
        let mut records = Vec::new();
        table.finish(&mut |r| records.push(r));
        let _ = out.send((u64::MAX - index as u64, Out::Sessions(records)));
    }
    table.stats
}

/// Hands on what comes back from the reader and the workers in the order
/// the reader sent the work out: whatever arrives early waits for the
/// places before it. What waits is bounded by the work in flight (each
/// worker's queue holds 4 batches, and the reader waits on a full one).
struct InOrder {
    next: u64,
    waiting: std::collections::BTreeMap<u64, Out>,
}

impl InOrder {
    fn take(&mut self, seq: u64, out: Out, hand_on: &mut dyn FnMut(Out)) {
        if seq != self.next {
            self.waiting.insert(seq, out);
            return;
        }
        hand_on(out);
        self.next += 1;
        while let Some(out) = self.waiting.remove(&self.next) {
            hand_on(out);
            self.next += 1;
        }
    }
}

fn ingest_threaded(
    files: &[(i64, PathBuf)],
    opts: &CaptureOptions,
    bytes_read: &Arc<AtomicU64>,
    on_session: &mut dyn FnMut(SessionRecord),
    on_datagram: &mut dyn FnMut(Datagram<'_>),
) -> (CaptureStats, Result<(), InputError>) {
    let workers = opts.threads.max(1);
    let per_worker = (opts.max_sessions / workers).max(1);
    std::thread::scope(|scope| {
        let (out_tx, out_rx) = sync_channel::<(u64, Out)>(1024);
        let (recycle_tx, recycle_rx) = sync_channel::<Batch>(4 * workers);
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = sync_channel::<Batch>(4);
            let out = out_tx.clone();
            let recycle = recycle_tx.clone();
            let table = SessionTable::new(&opts.smtp_ports, opts.idle_timeout_us, per_worker)
                .with_reorder_budget((opts.reorder_budget / workers).max(1));
            let index = handles.len();
            handles.push(scope.spawn(move || worker(rx, recycle, out, table, index)));
            senders.push(tx);
        }
        let mut dispatch = Dispatch {
            batches: (0..workers).map(|_| Batch::default()).collect(),
            workers: senders,
            out: out_tx,
            next_seq: 0,
            now: i64::MIN,
            recycled: recycle_rx,
        };
        drop(recycle_tx);
        let reader = scope.spawn(move || {
            let mut stats = CaptureStats::default();
            let result = read_all(files, opts, &mut stats, bytes_read, &mut dispatch);
            dispatch.finish();
            // Dropping the dispatcher closes the workers' queues: they end.
            drop(dispatch);
            (stats, result)
        });
        let mut in_order = InOrder {
            next: 0,
            waiting: std::collections::BTreeMap::new(),
        };
        let mut hand_on = |out: Out| match out {
            Out::Sessions(records) => records.into_iter().for_each(&mut *on_session),
            Out::Datagram {
                ts_us,
                src,
                dst,
                payload,
            } => on_datagram(Datagram {
                ts_us,
                src,
                dst,
                payload: &payload,
            }),
        };
        for (seq, out) in out_rx {
            in_order.take(seq, out, &mut hand_on);
        }
        // A worker that failed left places empty: what came after them
        // still goes on, in order.
        for (_, out) in std::mem::take(&mut in_order.waiting) {
            hand_on(out);
        }
        let (mut stats, result) = match reader.join() {
            Ok(r) => r,
            Err(_) => (
                CaptureStats::default(),
                Err(InputError::Unsupported {
                    path: PathBuf::new(),
                    what: "capture reader thread panicked".into(),
                }),
            ),
        };
        for h in handles {
            match h.join() {
                Ok(s) => stats.merge(&s),
                Err(_) => stats.skip("worker_panicked"),
            }
        }
        (stats, result)
    })
}
