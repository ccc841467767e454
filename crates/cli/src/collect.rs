//! `op25b collect`: the live NetFlow/IPFIX collector, writing one Parquet
//! file of session records per hour into a directory until SIGINT/SIGTERM.

use anyhow::{Context, Result};
use op25b_core::SessionRecord;
use op25b_flow::{CollectOptions, SessionSink, collect_on, stop_on_signals};
use op25b_store::SessionWriter;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

struct ParquetHour(SessionWriter);

impl SessionSink for ParquetHour {
    fn write(&mut self, rec: &SessionRecord) -> io::Result<()> {
        self.0.write(rec).map_err(io::Error::other)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.0.finish().map(|_| ()).map_err(io::Error::other)
    }
}

/// `sessions-YYYY-MM-DDTHH.parquet`, with `-N` added rather than overwrite a
/// file from an earlier run in the same hour.
fn hour_file(dir: &Path, hour_start_us: i64) -> PathBuf {
    let stamp = op25b_core::time::format_rfc3339_us(hour_start_us);
    let hour = stamp.get(..13).unwrap_or(&stamp);
    let mut path = dir.join(format!("sessions-{hour}.parquet"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("sessions-{hour}-{n}.parquet"));
        n += 1;
    }
    path
}

pub fn run(listen: SocketAddr, out_dir: &Path, smtp_ports: &[u16], quiet: bool) -> Result<()> {
    // Bound first: a port in use fails before anything is announced or made,
    // and port 0 is announced as the port the system chose.
    let socket =
        UdpSocket::bind(listen).with_context(|| format!("collector on {listen}: cannot listen"))?;
    let bound = socket.local_addr().unwrap_or(listen);
    // Bursts of datagrams overflow the system's default buffer; what the
    // system will not give is said, and losses are counted either way.
    let buffer = op25b_flow::enlarge_receive_buffer(&socket, op25b_flow::RECEIVE_BUFFER);
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("{}: cannot create directory", out_dir.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop).context("cannot install SIGINT/SIGTERM handlers")?;
    let opts = CollectOptions {
        smtp_ports: smtp_ports.to_vec(),
        ..CollectOptions::default()
    };
    if !quiet {
        eprintln!(
            "op25b collect: listening on udp {bound}, writing hourly Parquet to {}; stop with Ctrl-C",
            out_dir.display()
        );
    }
    match buffer {
        // Linux reports twice what it granted.
        Ok(got) if got / 2 < op25b_flow::RECEIVE_BUFFER / 2 => eprintln!(
            "op25b collect: warning: the system gave a receive buffer of {} KiB of the {} MiB asked \
             (net.core.rmem_max): bursts of export datagrams may overflow it; losses are counted from \
             the exporters' sequence numbers (sysctl -w net.core.rmem_max={} gives it all)",
            got / 2 / 1024,
            op25b_flow::RECEIVE_BUFFER >> 20,
            op25b_flow::RECEIVE_BUFFER
        ),
        Ok(_) => {}
        Err(e) => eprintln!(
            "op25b collect: warning: cannot enlarge the receive buffer ({e}): bursts of export datagrams \
             may overflow it; losses are counted from the exporters' sequence numbers"
        ),
    }
    let stats = collect_on(socket, out_dir, stop, opts, &mut |dir, hour| {
        let path = hour_file(dir, hour);
        let writer = SessionWriter::create(&path)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        Ok(Box::new(ParquetHour(writer)) as Box<dyn SessionSink>)
    })
    .with_context(|| format!("collector on {bound}"))?;
    if !quiet {
        eprintln!(
            "op25b collect: {} datagrams ({} bytes), {} flow records, {} sessions in {} files",
            stats.datagrams, stats.bytes, stats.flow_records, stats.sessions, stats.files
        );
        eprint!("{}{}", stats.decoder, stats.pairer);
    }
    Ok(())
}
