//! Captures of the same minutes from two or three links, merged by
//! timestamp: the input describes TCP segments of a few SMTP connections
//! (which link saw each, when, which direction, flags, payload), dealt to
//! two or three capture files whose times overlap. Ingest of those files
//! must give exactly what ingest of one capture holding every frame in the
//! merge's order gives (by timestamp; on a tie, the file that starts first,
//! then the file named first), records and counts alike, and never panic.
//! With the damage bit set the last file ends in a torn record: then only
//! the accounting is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use op25b_capture::{CaptureOptions, CaptureStats, SessionRecord, ingest};
use std::path::{Path, PathBuf};

const T0_US: i64 = 1_700_000_000_000_000;
const CONNECTIONS: usize = 4;

struct Frame {
    ts_us: i64,
    file: usize,
    bytes: Vec<u8>,
}

/// Ethernet + IPv4 + TCP, checksums left zero (the reader does not check them).
fn tcp_frame(
    conn: usize,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let client = [10, 0, 0, 1 + conn as u8];
    let server = [198, 51, 100, 1 + (conn % 2) as u8];
    let client_port = 40_000 + conn as u16;
    let (src, dst, sport, dport) = if from_client {
        (client, server, client_port, 25)
    } else {
        (server, client, 25, client_port)
    };
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (40 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Entries of `[link, dt, control, len, payload...]` to frames in time order.
fn frames(data: &[u8], links: usize) -> Vec<Frame> {
    // Next sequence number per connection and direction (client, server).
    let mut next_seq = [[1_000u32, 9_000u32]; CONNECTIONS];
    let mut ts_us = T0_US;
    let mut out = Vec::new();
    let mut rest = data;
    while let [link, dt, control, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        // Mostly milliseconds, ties where dt is 0, minutes now and then so
        // that idle timeouts close connections.
        ts_us += if *dt >= 0xf0 {
            i64::from(dt - 0xef) * 60_000_000
        } else {
            i64::from(*dt) * 1_000
        };
        let conn = usize::from(control & 3) % CONNECTIONS;
        let from_client = control & 4 == 0;
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
        let flags = match (control >> 3) & 7 {
            0 => 0x02,     // SYN
            1 => 0x12,     // SYN ACK
            2 | 3 => 0x18, // PSH ACK
            4 => 0x11,     // FIN ACK
            5 => 0x04,     // RST
            6 => 0x10,     // ACK
            _ => 0x18,     // PSH ACK, out of order (below)
        };
        let mut seq = next_seq[conn][me];
        if (control >> 3) & 7 == 7 {
            // A hole or a retransmission, by the top bits.
            seq = if control & 0x40 == 0 {
                seq.wrapping_add(u32::from(*dt) * 16)
            } else {
                seq.wrapping_sub(len as u32)
            };
        }
        let consumed = len as u32 + u32::from(flags & 0x03 != 0);
        next_seq[conn][me] = next_seq[conn][me].max(seq.wrapping_add(consumed));
        let ack = next_seq[conn][peer];
        out.push(Frame {
            ts_us,
            file: usize::from(*link) % links,
            bytes: tcp_frame(conn, from_client, flags, seq, ack, payload),
        });
    }
    out
}

fn pcap<'a>(frames: impl Iterator<Item = &'a Frame>, nanos: bool) -> Vec<u8> {
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for f in frames {
        let secs = f.ts_us.div_euclid(1_000_000) as u32;
        let micros = f.ts_us.rem_euclid(1_000_000) as u32;
        let frac = if nanos { micros * 1_000 } else { micros };
        let len = f.bytes.len() as u32;
        for v in [secs, frac, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&f.bytes);
    }
    out
}

fn read(
    paths: &[PathBuf],
    threads: usize,
) -> (Vec<String>, Result<CaptureStats, op25b_capture::InputError>) {
    let opts = CaptureOptions {
        threads,
        max_sessions: 64,
        reorder_budget: 4096,
        ..CaptureOptions::default()
    };
    let mut records: Vec<SessionRecord> = Vec::new();
    let result = ingest(paths, &opts, &mut |r| records.push(r), &mut |_| {});
    if let Ok(stats) = &result {
        assert_eq!(
            stats.packets,
            stats.packets_used + stats.skipped_total(),
            "{stats}"
        );
        assert_eq!(stats.sessions_total(), records.len() as u64, "{stats}");
    }
    let mut records: Vec<String> = records.iter().map(|r| format!("{r:?}")).collect();
    records.sort();
    (records, result)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Option<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).ok().map(|()| p)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let links = 2 + usize::from(mode & 1);
    let threads = 1 + usize::from(mode >> 1 & 1);
    let damaged = mode & 0x80 != 0;
    let frames = frames(data, links);

    let dir = std::env::temp_dir().join(format!("op25b-fuzz-merge-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut paths = Vec::new();
    for link in 0..links {
        let mut bytes = pcap(frames.iter().filter(|f| f.file == link), link == 1);
        if damaged && link == links - 1 {
            // A record header torn off by a full disk.
            bytes.extend_from_slice(&[0x65, 0x53, 0x4f, 0x65, 0x10]);
        }
        let Some(p) = write(&dir, &format!("link{link}.pcap"), &bytes) else {
            return;
        };
        paths.push(p);
    }
    let (got, stats) = read(&paths, threads);
    if damaged {
        return;
    }
    let stats = stats.expect("well-formed captures");

    // The merge's order: files by first packet (a file without one first),
    // then by place in `paths`; frames by timestamp, then by file.
    let first = |link: usize| {
        frames
            .iter()
            .find(|f| f.file == link)
            .map_or(i64::MIN, |f| f.ts_us)
    };
    let mut file_rank: Vec<usize> = (0..links).collect();
    file_rank.sort_by_key(|&l| (first(l), l));
    let rank_of = |link: usize| file_rank.iter().position(|&l| l == link).unwrap_or(link);
    let mut order: Vec<&Frame> = frames.iter().collect();
    order.sort_by_key(|f| (f.ts_us, rank_of(f.file)));
    let Some(whole) = write(&dir, "whole.pcap", &pcap(order.into_iter(), false)) else {
        return;
    };
    let (want, whole_stats) = read(&[whole], threads);
    let whole_stats = whole_stats.expect("one well-formed capture");

    assert_eq!(got, want, "merged {stats}\nwhole {whole_stats}");
    assert_eq!(stats.packets, whole_stats.packets);
    assert_eq!(stats.skipped, whole_stats.skipped);
    assert_eq!(stats.sessions, whole_stats.sessions);
    assert_eq!(stats.evictions, whole_stats.evictions);
    assert_eq!(stats.sessions_with_gaps, whole_stats.sessions_with_gaps);
    assert_eq!(stats.segments_dropped, whole_stats.segments_dropped);
    assert_eq!(
        stats.reorder_budget_flushes,
        whole_stats.reorder_budget_flushes
    );
});
