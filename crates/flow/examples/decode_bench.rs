//! Decoder throughput bench (see the crate README for the commands).
//!
//! ```text
//! decode_bench gen FILE RECORDS ipfix|v9   write raw export datagrams
//! decode_bench run FILE [ROUNDS]           decode them from memory, report records/s
//! decode_bench send FILE HOST:PORT         replay them over UDP (to fill nfcapd)
//! ```
//! The generated template is a typical router export: IPv4 5-tuple, flags,
//! ToS, interfaces, 64-bit counters and start/end times (IPFIX milliseconds,
//! v9 uptime), 55 (IPFIX) or 47 (v9) bytes per record, 25 records per
//! datagram; the template is repeated every 1000 datagrams.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use op25b_flow::{DecoderOptions, FlowDecoder, datagram_len};

const PER_DATAGRAM: usize = 25;

fn template(ipfix: bool) -> Vec<u8> {
    let time: &[(u16, u16)] = if ipfix {
        &[(152, 8), (153, 8)]
    } else {
        &[(22, 4), (21, 4)]
    };
    let mut fields: Vec<(u16, u16)> = vec![
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (5, 1),
        (10, 4),
        (14, 4),
        (2, 8),
        (1, 8),
    ];
    fields.extend_from_slice(time);
    let mut t = vec![1, 0]; // template id 256
    t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

fn record(ipfix: bool, n: u64, base_ms: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&(0x0a00_0000u32 | (n as u32 & 0xffff)).to_be_bytes());
    out.extend_from_slice(&(0xc633_6400u32 | ((n >> 16) as u32 & 0xff)).to_be_bytes());
    out.extend_from_slice(&(1024 + (n % 60000) as u16).to_be_bytes());
    out.extend_from_slice(&[0, if n.is_multiple_of(3) { 25 } else { 80 }]);
    out.extend_from_slice(&[6, 0x1b, 0]);
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(1 + n % 50).to_be_bytes());
    out.extend_from_slice(&(60 + (n % 50) * 700).to_be_bytes());
    if ipfix {
        out.extend_from_slice(&(base_ms + n).to_be_bytes());
        out.extend_from_slice(&(base_ms + n + 500).to_be_bytes());
    } else {
        out.extend_from_slice(&(100_000 + n as u32 / 100).to_be_bytes());
        out.extend_from_slice(&(100_500 + n as u32 / 100).to_be_bytes());
    }
}

fn generate(path: &str, records: u64, ipfix: bool) {
    let mut file = Vec::new();
    let mut n = 0u64;
    let mut seq = 0u32;
    let base_secs = 1_700_000_000u32;
    while n < records {
        let mut sets = Vec::new();
        if seq.is_multiple_of(1000) {
            let t = template(ipfix);
            sets.extend_from_slice(&[0, if ipfix { 2 } else { 0 }]);
            sets.extend_from_slice(&((t.len() + 4) as u16).to_be_bytes());
            sets.extend_from_slice(&t);
        }
        let mut data = Vec::new();
        let count = PER_DATAGRAM.min((records - n) as usize);
        for _ in 0..count {
            record(ipfix, n, u64::from(base_secs) * 1000, &mut data);
            n += 1;
        }
        sets.extend_from_slice(&[1, 0]);
        sets.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
        sets.extend_from_slice(&data);
        let secs = base_secs + seq / 100;
        if ipfix {
            file.extend_from_slice(&[0, 10]);
            file.extend_from_slice(&((sets.len() + 16) as u16).to_be_bytes());
            file.extend_from_slice(&secs.to_be_bytes());
            file.extend_from_slice(&seq.to_be_bytes());
            file.extend_from_slice(&0u32.to_be_bytes());
        } else {
            file.extend_from_slice(&[0, 9]);
            file.extend_from_slice(&(count as u16).to_be_bytes());
            file.extend_from_slice(&200_000u32.to_be_bytes()); // sysUptime ms
            file.extend_from_slice(&secs.to_be_bytes());
            file.extend_from_slice(&seq.to_be_bytes());
            file.extend_from_slice(&0u32.to_be_bytes());
        }
        file.extend_from_slice(&sets);
        seq += 1;
    }
    std::fs::write(path, file).expect("write");
    eprintln!("{path}: {records} records in {seq} datagrams");
}

fn split(bytes: &[u8]) -> Vec<&[u8]> {
    let mut v = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = datagram_len(&bytes[at..]).expect("datagram").max(1);
        v.push(&bytes[at..at + len]);
        at += len;
    }
    v
}

/// CPU time of this thread in ns (Linux schedstat), so that a busy shared
/// machine does not count other processes' time against the decoder.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn run(path: &str, rounds: usize) {
    let bytes = std::fs::read(path).expect("read");
    let datagrams = split(&bytes);
    let from: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let mut out = Vec::with_capacity(64);
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut records = 0;
    for _ in 0..rounds {
        let mut dec = FlowDecoder::new(DecoderOptions::default());
        let t = Instant::now();
        let c = thread_cpu_ns();
        let mut sum = 0u64;
        for d in &datagrams {
            dec.decode(from, 0, d, &mut out);
            // Touch the results so nothing is optimised away.
            for r in out.drain(..) {
                sum = sum.wrapping_add(r.bytes ^ u64::from(r.dst_port));
            }
        }
        times.push(t.elapsed());
        if let (Some(a), Some(b)) = (c, thread_cpu_ns()) {
            cpu.push(Duration::from_nanos(b - a));
        }
        records = dec.stats().records();
        std::hint::black_box(sum);
    }
    times.sort();
    cpu.sort();
    let median = times[times.len() / 2];
    println!(
        "{path}: {records} records, {} datagrams, {} MB; median of {rounds}: wall {:.3} s = {:.1} M records/s",
        datagrams.len(),
        bytes.len() / 1_000_000,
        median.as_secs_f64(),
        records as f64 / median.as_secs_f64() / 1e6,
    );
    if let Some(c) = cpu.get(cpu.len() / 2) {
        println!(
            "  thread CPU {:.3} s = {:.1} M records/s, {:.0} MB/s",
            c.as_secs_f64(),
            records as f64 / c.as_secs_f64() / 1e6,
            bytes.len() as f64 / c.as_secs_f64() / 1e6
        );
    }
}

fn send(path: &str, to: &str) {
    let bytes = std::fs::read(path).expect("read");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for (i, d) in split(&bytes).iter().enumerate() {
        sock.send_to(d, to).expect("send");
        // Pace the sender so that the collector's socket buffer keeps up.
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 5 => generate(
            &args[2],
            args[3].parse().expect("RECORDS"),
            args[4] == "ipfix",
        ),
        Some("run") if args.len() >= 3 => run(
            &args[2],
            args.get(3).map_or(3, |r| r.parse().expect("ROUNDS")),
        ),
        Some("send") if args.len() == 4 => send(&args[2], &args[3]),
        _ => {
            eprintln!(
                "usage: decode_bench gen FILE RECORDS ipfix|v9 | run FILE [ROUNDS] | send FILE HOST:PORT"
            );
            std::process::exit(2);
        }
    }
}
