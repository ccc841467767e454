//! A live collector: export datagrams over UDP, decoded, paired, and
//! handed to a session sink that is rotated every hour.
//!
//! The sink comes from a factory (`FnMut(out_dir, hour_start_us) ->
//! Box<dyn SessionSink>`), so that this crate does not depend on the store
//! crate's writers. Files are rotated by receive time: a session goes to the
//! file of the hour in which the pairer emitted it (its start can be up to the
//! pairing window earlier). On stop (the `stop` flag, set by SIGINT/SIGTERM
//! through [`stop_on_signals`]), the socket is drained of what the kernel
//! already buffered, then the decoder and the pairer are finished and every
//! session still open is written before the sink is finished: nothing
//! received is lost.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use op25b_core::{DEFAULT_SMTP_PORTS, SessionRecord};

use crate::{DecoderOptions, FlowDecoder, FlowStats, PairerOptions, PairerStats, SessionPairer};

const HOUR_US: i64 = 3_600_000_000;

/// Opens the sink for the hour starting at the given microsecond, in the
/// given output directory.
pub type SinkFactory<'a> = dyn FnMut(&Path, i64) -> io::Result<Box<dyn SessionSink>> + 'a;

/// Where sessions go: one per hour file.
pub trait SessionSink {
    fn write(&mut self, rec: &SessionRecord) -> io::Result<()>;
    /// Completes the file (footer, flush); called once, at rotation or stop.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Collector settings.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    pub smtp_ports: Vec<u16>,
    pub decoder: DecoderOptions,
    pub pairer: PairerOptions,
    /// How long one receive waits before checking `stop` and the clock.
    pub poll: Duration,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            smtp_ports: DEFAULT_SMTP_PORTS.to_vec(),
            decoder: DecoderOptions::default(),
            pairer: PairerOptions::default(),
            poll: Duration::from_millis(200),
        }
    }
}

/// Receive buffer a collector asks for. Exporters send in bursts (softflowd
/// flushing its cache sent 352 datagrams in 3.5 ms), and the system's
/// default (208 KiB on Linux) overflowed: the kernel dropped a quarter of
/// them, unseen by the collector. Drops still possible are counted from the
/// exporters' sequence numbers (`FlowStats::sequence_gaps`).
pub const RECEIVE_BUFFER: usize = 32 << 20;

/// Asks the system for `bytes` of receive buffer on `socket`; returns what
/// it gave (Linux caps the request at `net.core.rmem_max`, and reports
/// twice the size granted, its bookkeeping included).
pub fn enlarge_receive_buffer(socket: &UdpSocket, bytes: usize) -> io::Result<usize> {
    let s = socket2::SockRef::from(socket);
    s.set_recv_buffer_size(bytes)?;
    s.recv_buffer_size()
}

/// What a collector run did.
#[derive(Clone, Debug, Default)]
pub struct CollectStats {
    pub datagrams: u64,
    pub bytes: u64,
    pub flow_records: u64,
    pub sessions: u64,
    /// Sink files opened (one per hour with sessions).
    pub files: u64,
    pub decoder: FlowStats,
    pub pairer: PairerStats,
}

/// Sets `stop` on SIGINT and SIGTERM.
pub fn stop_on_signals(stop: &Arc<AtomicBool>) -> io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(stop))?;
    Ok(())
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Binds `listen` and runs [`collect_on`].
pub fn collect(
    listen: SocketAddr,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
    opts: CollectOptions,
    sinks: &mut SinkFactory<'_>,
) -> io::Result<CollectStats> {
    let socket = UdpSocket::bind(listen)?;
    // What the system will not give shows as sequence gaps in the stats.
    let _ = enlarge_receive_buffer(&socket, RECEIVE_BUFFER);
    collect_on(socket, out_dir, stop, opts, sinks)
}

struct Output<'a, 'b> {
    dir: PathBuf,
    factory: &'a mut SinkFactory<'b>,
    current: Option<(i64, Box<dyn SessionSink>)>,
    files: u64,
    sessions: u64,
    error: Option<io::Error>,
}

impl Output<'_, '_> {
    fn write(&mut self, hour: i64, rec: &SessionRecord) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_write(hour, rec) {
            self.error = Some(e);
        }
    }

    fn try_write(&mut self, hour: i64, rec: &SessionRecord) -> io::Result<()> {
        if self.current.as_ref().is_none_or(|(h, _)| *h != hour) {
            self.rotate()?;
            self.current = Some((hour, (self.factory)(&self.dir, hour)?));
            self.files += 1;
        }
        if let Some((_, sink)) = self.current.as_mut() {
            sink.write(rec)?;
            self.sessions += 1;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        match self.current.take() {
            Some((_, sink)) => sink.finish(),
            None => Ok(()),
        }
    }
}

/// Receives datagrams on `socket` until `stop` is set, then drains and
/// finishes (see the module doc). I/O errors of the sink end the run.
pub fn collect_on(
    socket: UdpSocket,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
    opts: CollectOptions,
    sinks: &mut SinkFactory<'_>,
) -> io::Result<CollectStats> {
    socket.set_read_timeout(Some(opts.poll))?;
    let mut decoder = FlowDecoder::new(opts.decoder.clone());
    let mut pairer = SessionPairer::new(&opts.smtp_ports, opts.pairer.clone());
    let mut out = Output {
        dir: out_dir.to_path_buf(),
        factory: sinks,
        current: None,
        files: 0,
        sessions: 0,
        error: None,
    };
    let mut stats = CollectStats::default();
    let mut buf = vec![0u8; 65_536];
    let mut flows = Vec::new();
    let mut draining = false;
    loop {
        if !draining && stop.load(Ordering::SeqCst) {
            // Take what the kernel already holds, without waiting.
            socket.set_nonblocking(true)?;
            draining = true;
        }
        let now = now_us();
        let hour = now - now.rem_euclid(HOUR_US);
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                stats.datagrams += 1;
                stats.bytes += n as u64;
                decoder.decode(from, now, buf.get(..n).unwrap_or_default(), &mut flows);
                stats.flow_records += flows.len() as u64;
                pairer.arrived_at(now);
                for f in flows.drain(..) {
                    pairer.push(&f, &mut |s| out.write(hour, &s));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if draining {
                    break;
                }
                pairer.advance(now, &mut |s| out.write(hour, &s));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if let Some(e) = out.error.take() {
            return Err(e);
        }
    }
    let now = now_us();
    let hour = now - now.rem_euclid(HOUR_US);
    decoder.finish(&mut flows);
    for f in flows.drain(..) {
        pairer.push(&f, &mut |s| out.write(hour, &s));
    }
    pairer.finish(&mut |s| out.write(hour, &s));
    if let Some(e) = out.error.take() {
        return Err(e);
    }
    out.rotate()?;
    stats.sessions = out.sessions;
    stats.files = out.files;
    stats.decoder = decoder.stats().clone();
    stats.pairer = pairer.stats().clone();
    Ok(stats)
}
