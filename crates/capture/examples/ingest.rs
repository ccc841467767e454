//! Bench and debugging runner: `cargo run --release --example ingest -- [-q] [-t N] FILE...`
//! prints one line per session record (unless -q) and the stats summary.

use op25b_capture::{CaptureOptions, ingest};
use std::path::PathBuf;

fn main() {
    let mut opts = CaptureOptions::default();
    let mut quiet = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-q" => quiet = true,
            "-t" => opts.threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let mut sessions = 0u64;
    let mut datagrams = 0u64;
    let result = ingest(
        &files,
        &opts,
        &mut |r| {
            sessions += 1;
            if !quiet {
                println!(
                    "{} {}:{} -> {}:{} {} pk={}/{} by={}/{} helo={:?} greet={} tx={} rcpt={}/{} msg={} tls={} auth={} gaps={}",
                    r.start,
                    r.client,
                    r.client_port,
                    r.server,
                    r.server_port,
                    r.outcome,
                    r.packets_c2s,
                    r.packets_s2c,
                    r.bytes_c2s,
                    r.bytes_s2c,
                    r.helo,
                    r.greeting_code,
                    r.transactions,
                    r.rcpt_accepted,
                    r.rcpt_rejected,
                    r.messages,
                    r.tls,
                    r.auth,
                    r.gaps
                );
            }
        },
        &mut |_| datagrams += 1,
    );
    match result {
        Ok(stats) => eprint!("{stats}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    eprintln!("records: {sessions}, datagrams: {datagrams}");
}
