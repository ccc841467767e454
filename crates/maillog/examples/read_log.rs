//! Reads Postfix logs and prints what the reader counted: the benchmark's
//! op25b side (bench/read.sh), and a quick look at a log before a report.
//!
//! `cargo run --release -p op25b-maillog --example read_log -- [--utc-offset SECONDS] [--year Y] FILE...`

use op25b_core::IspConfig;
use op25b_maillog::{ClassicTime, Origin, read_files};
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut classic = ClassicTime {
        year: 2005,
        utc_offset_s: 0,
    };
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--utc-offset" => {
                classic.utc_offset_s = args.next().and_then(|v| v.parse().ok()).unwrap_or(0)
            }
            "--year" => classic.year = args.next().and_then(|v| v.parse().ok()).unwrap_or(2005),
            _ => files.push(PathBuf::from(a)),
        }
    }
    // The simulated ISP's network: internal 198.18.0.0/15.
    let network = IspConfig::parse_str("[network]\ninternal = [\"198.18.0.0/15\"]\n")
        .expect("network")
        .network;
    let (mut deliveries, mut accepted, mut traced) = (0u64, 0u64, 0u64);
    let stats = read_files(&files, &network, classic, &mut |d| {
        deliveries += 1;
        accepted += u64::from(d.accepted);
        traced += u64::from(matches!(d.origin, Origin::Client(_)));
    });
    match stats {
        Ok(s) => {
            print!("{s}");
            println!("deliveries {deliveries}, accepted {accepted}, traced to a client {traced}");
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
