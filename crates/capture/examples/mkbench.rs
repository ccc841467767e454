//! Makes a large benchmark capture from smaller Ethernet pcaps:
//! `mkbench OUT.pcap COPIES FILE...` writes COPIES copies of every frame of
//! the inputs, the IPv4 addresses of copy k remapped (the same bijection for
//! both directions, so sessions stay whole and copies stay distinct), with
//! timestamps one microsecond apart so that time only moves forward.

use std::io::{BufWriter, Write};

fn frames(path: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    // Little-endian microsecond pcap with Ethernet only; anything else is left out.
    if bytes.len() < 24 || bytes[..4] != [0xd4, 0xc3, 0xb2, 0xa1] || bytes[20..24] != [1, 0, 0, 0] {
        eprintln!("skipping {path}: not a little-endian Ethernet pcap");
        return out;
    }
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen =
            u32::from_le_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]])
                as usize;
        let Some(frame) = bytes.get(at + 16..at + 16 + caplen) else {
            break;
        };
        out.push(frame.to_vec());
        at += 16 + caplen;
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: mkbench OUT.pcap COPIES FILE...");
        std::process::exit(2);
    }
    let copies: u32 = args[2].parse().unwrap_or(1);
    let base: Vec<Vec<u8>> = args[3..].iter().flat_map(|p| frames(p)).collect();
    let out = std::fs::File::create(&args[1]).unwrap_or_else(|e| panic!("{}: {e}", args[1]));
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let header: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    w.write_all(&header).unwrap();
    let mut ts: u64 = 1_700_000_000_000_000;
    let mut total = 0u64;
    for k in 0..copies {
        let mask = [(k >> 8) as u8 ^ 0x5a, k as u8];
        for f in &base {
            let mut f = f.clone();
            if f.len() >= 34 && f[12..14] == [0x08, 0x00] {
                for ip in [26usize, 30] {
                    f[ip + 1] ^= mask[0];
                    f[ip + 2] ^= mask[1];
                }
            }
            ts += 50;
            let rec = [
                ((ts / 1_000_000) as u32).to_le_bytes(),
                ((ts % 1_000_000) as u32).to_le_bytes(),
                (f.len() as u32).to_le_bytes(),
                (f.len() as u32).to_le_bytes(),
            ];
            for part in rec {
                w.write_all(&part).unwrap();
            }
            w.write_all(&f).unwrap();
            total += 16 + f.len() as u64;
        }
    }
    w.flush().unwrap();
    eprintln!(
        "{}: {} frames, {} bytes",
        args[1],
        base.len() as u64 * u64::from(copies),
        total + 24
    );
}
