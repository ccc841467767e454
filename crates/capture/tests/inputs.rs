//! Formats, link layers, rotation and damage on hand-built captures: every
//! case either reads the same records as the plain capture, or ends with an
//! error naming the file and byte offset (records before the damage kept),
//! or counts the damage; nothing panics.

mod common;

use common::*;
use op25b_capture::{CaptureOptions, CaptureStats, InputError, Outcome, SessionRecord, ingest};
use std::io::Write;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn read(
    paths: &[PathBuf],
    threads: usize,
) -> (Vec<SessionRecord>, Result<CaptureStats, InputError>) {
    let opts = CaptureOptions {
        threads,
        ..CaptureOptions::default()
    };
    let mut records = Vec::new();
    let result = ingest(paths, &opts, &mut |r| records.push(r), &mut |_| {});
    records.sort_by_key(|r| (r.start, r.client_port));
    (records, result)
}

const T0: i64 = 1_700_000_000_000_000;

fn two_sessions() -> Vec<(i64, Vec<u8>)> {
    let mut frames = session([198, 18, 0, 7], 40001, T0, 2);
    frames.extend(session([198, 18, 0, 8], 40002, T0 + 60_000_000, 1));
    frames
}

fn check_delivered(records: &[SessionRecord]) {
    assert_eq!(records.len(), 2, "{records:?}");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Delivered);
    assert_eq!(r.helo, "zombie.example");
    assert_eq!(r.greeting_code, 220);
    assert_eq!((r.transactions, r.rcpt_accepted, r.messages), (1, 2, 1));
    assert_eq!(r.client_port, 40001);
    assert_eq!(r.server_port, 25);
    assert_eq!(r.start, T0 + 1000);
    assert!(!r.gaps);
    assert_eq!(records[1].rcpt_accepted, 1);
}

#[test]
fn pcap_in_all_four_magics_gzip_and_zstd_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let frames = two_sessions();
    for nanos in [false, true] {
        for be in [false, true] {
            let p = write(dir.path(), "x.pcap", &pcap(&frames, nanos, be, 1));
            let (records, stats) = read(&[p], 1);
            let stats = stats.unwrap();
            check_delivered(&records);
            assert_eq!(stats.packets, frames.len() as u64);
            assert_eq!(stats.packets_used, frames.len() as u64);
        }
    }
    let plain = pcap(&frames, false, false, 1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let p = write(dir.path(), "x.pcap.gz", &gz);
    check_delivered(&read(&[p], 2).0);
    let p = write(
        dir.path(),
        "x.zst",
        &zstd::encode_all(&plain[..], 3).unwrap(),
    );
    check_delivered(&read(&[p], 2).0);
}

#[test]
fn pcapng_with_two_interfaces_and_resolutions() {
    // Interface 0: Ethernet, microseconds; interface 1: raw IP, nanoseconds.
    let frames = two_sessions();
    let packets: Vec<(u32, u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, (ts, f))| {
            if i % 2 == 0 {
                (0, *ts as u64, f.clone())
            } else {
                (1, *ts as u64 * 1000, f[14..].to_vec())
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.pcapng",
        &pcapng(&[(1, 6), (101, 9)], &packets),
    );
    let (records, stats) = read(&[p], 1);
    stats.unwrap();
    check_delivered(&records);
}

#[test]
fn pcapng_simple_packet_blocks_take_the_last_timestamp() {
    // One enhanced packet block for the first frame, simple packet blocks
    // (no timestamp) for the rest: every frame is read, times do not go back.
    let frames = two_sessions();
    let mut bytes = pcapng(&[(1, 6)], &[(0, frames[0].0 as u64, frames[0].1.clone())]);
    for (_, f) in &frames[1..] {
        bytes.extend(simple_packet_block(f));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "spb.pcapng", &bytes);
    let (records, stats) = read(&[p], 1);
    let stats = stats.unwrap();
    assert_eq!(stats.packets_used, frames.len() as u64);
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r.outcome == Outcome::Delivered));
    assert!(
        records
            .iter()
            .all(|r| r.start == frames[0].0 && r.end == frames[0].0)
    );
}

#[test]
fn pcapng_obsolete_packet_blocks_read_like_enhanced_ones() {
    let frames = two_sessions();
    let mut bytes = pcapng(&[(1, 6)], &[]);
    for (i, (ts, f)) in frames.iter().enumerate() {
        if i % 2 == 0 {
            bytes.extend(obsolete_packet_block(0, *ts as u64, f));
        } else {
            bytes.extend(enhanced_packet_block(0, *ts as u64, f));
        }
    }
    // One for an interface the section does not have: counted.
    bytes.extend(obsolete_packet_block(3, frames[0].0 as u64, &frames[0].1));
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "pb.pcapng", &bytes);
    let (records, stats) = read(&[p], 1);
    let stats = stats.unwrap();
    assert_eq!(stats.packets, frames.len() as u64 + 1, "{stats}");
    assert_eq!(stats.packets_used, frames.len() as u64, "{stats}");
    assert_eq!(stats.skipped.get("unknown_interface"), Some(&1), "{stats}");
    check_delivered(&records);
    let whole = write(dir.path(), "x.pcap", &pcap(&frames, false, false, 1));
    assert_eq!(read(&[whole], 1).0, records);
    // Written on a big-endian machine.
    let be = write(
        dir.path(),
        "be.pcapng",
        &pcapng_big_endian_obsolete(&frames),
    );
    let (be_records, stats) = read(&[be], 1);
    let stats = stats.unwrap();
    assert_eq!(stats.packets_used, frames.len() as u64, "{stats}");
    assert_eq!(be_records, records);
}

#[test]
fn a_frame_stamped_years_ahead_neither_splits_sessions_nor_starts_the_next_file() {
    // Two rotated files; in the first, one frame (not SMTP) carries a
    // timestamp ten years ahead. Read as if it were not there, and counted.
    let frames = two_sessions();
    let half = frames.len() / 2;
    let mut first: Frames = frames[..half].to_vec();
    let spike = first[1].0 + 10 * 365 * 86_400_000_000;
    let http = frame(([10, 9, 9, 9], 5555), ([10, 9, 9, 8], 80), 1, 0, SYN, b"");
    first.insert(2, (spike, http));
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.pcap", &pcap(&first, false, false, 1));
    let b = write(
        dir.path(),
        "b.pcap",
        &pcap(&frames[half..], false, false, 1),
    );
    let whole = write(dir.path(), "whole.pcap", &pcap(&frames, false, false, 1));
    let (want, _) = read(&[whole], 1);
    for threads in [1, 2] {
        let (got, stats) = read(&[b.clone(), a.clone()], threads);
        let stats = stats.unwrap();
        assert_eq!(got, want, "{stats}");
        assert_eq!(stats.skipped.get("timestamp_jump"), Some(&1), "{stats}");
        assert_eq!(stats.packets, frames.len() as u64 + 1, "{stats}");
        assert!(stats.merged_by_time.is_empty(), "{stats}");
    }
}

#[test]
fn link_layers_sll_sll2_null_vlan_stack() {
    let frames = two_sessions();
    let relink = |f: &Vec<u8>, kind: u32| -> Vec<u8> {
        let ip = &f[14..];
        let mut out = match kind {
            113 => {
                let mut h = vec![0u8; 14];
                h.extend_from_slice(&[0x08, 0x00]);
                h
            }
            276 => {
                let mut h = vec![0x08, 0x00];
                h.extend_from_slice(&[0u8; 18]);
                h
            }
            0 => 2u32.to_be_bytes().to_vec(),
            1 => {
                let mut h = f[..12].to_vec();
                h.extend_from_slice(&[
                    0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x81, 0x00, 0, 30, 0x08, 0x00,
                ]);
                h
            }
            _ => Vec::new(),
        };
        out.extend_from_slice(ip);
        out
    };
    let dir = tempfile::tempdir().unwrap();
    for kind in [113u32, 276, 0, 1, 228] {
        let relinked: Vec<_> = frames.iter().map(|(t, f)| (*t, relink(f, kind))).collect();
        let p = write(dir.path(), "x.pcap", &pcap(&relinked, false, false, kind));
        let (records, stats) = read(&[p], 1);
        let stats = stats.unwrap();
        assert_eq!(stats.skipped_total(), 0, "linktype {kind}: {stats}");
        check_delivered(&records);
    }
}

#[test]
fn rotated_files_join_in_time_order() {
    // One session split across two files, given newest first.
    let frames = two_sessions();
    let (a, b) = frames.split_at(9);
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "a.pcap", &pcap(a, false, false, 1));
    let second = write(dir.path(), "b.pcap", &pcap(b, true, true, 1));
    for threads in [1, 2] {
        let (records, stats) = read(&[second.clone(), first.clone()], threads);
        let stats = stats.unwrap();
        assert_eq!(stats.files, 2);
        assert!(stats.merged_by_time.is_empty(), "{stats}");
        check_delivered(&records);
    }
}

/// Timestamped frames, as `pcap` writes them.
type Frames = Vec<(i64, Vec<u8>)>;

/// Frames dealt alternately to two capture files, as two links of one
/// network see them when routing sends a connection's packets both ways.
fn dealt_to_two_links(frames: Frames) -> (Frames, Frames) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, f) in frames.into_iter().enumerate() {
        if i % 2 == 0 { a.push(f) } else { b.push(f) }
    }
    (a, b)
}

/// Two captures of the same minutes (the frames of two sessions dealt
/// alternately to two links, as asymmetric routing can): merged frame by
/// frame by timestamp, they read like the single capture, whichever order
/// they are given in; a later rotated file joins after them as usual. The
/// summary names the file that was merged.
#[test]
fn captures_of_the_same_time_are_merged_by_timestamp() {
    let (link_a, link_b) = dealt_to_two_links(two_sessions());
    let later = session([198, 18, 0, 9], 40003, T0 + 3_600_000_000, 3);
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "link-a.pcap", &pcap(&link_a, false, false, 1));
    // Another byte order and resolution: merged frames keep their own times.
    let b = write(dir.path(), "link-b.pcap", &pcap(&link_b, true, true, 1));
    let c = write(dir.path(), "later.pcap", &pcap(&later, false, false, 1));
    for threads in [1, 2] {
        for order in [[&c, &b, &a], [&a, &b, &c]] {
            let paths: Vec<PathBuf> = order.iter().map(|p| (*p).clone()).collect();
            let (records, stats) = read(&paths, threads);
            let stats = stats.unwrap();
            assert_eq!(stats.files, 3);
            assert_eq!(stats.merged_by_time, vec![b.clone()], "{stats}");
            assert!(stats.to_string().contains("merged by timestamp"), "{stats}");
            assert_eq!(stats.packets, stats.packets_used + stats.skipped_total());
            assert_eq!(records.len(), 3, "{records:?}");
            check_delivered(&records[..2]);
            assert_eq!(records[2].outcome, Outcome::Delivered);
            assert_eq!(records[2].rcpt_accepted, 3);
        }
    }
}

/// A merged file that turns out damaged stops the ingest with an error that
/// names it and the byte offset, like a file read on its own.
#[test]
fn a_damaged_merged_file_names_itself() {
    let (link_a, link_b) = dealt_to_two_links(two_sessions());
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "link-a.pcap", &pcap(&link_a, false, false, 1));
    let mut damaged = pcap(&link_b, false, false, 1);
    // A record header claiming 4 GB after the frames.
    damaged.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff,
    ]);
    let b = write(dir.path(), "link-b.pcap", &damaged);
    for threads in [1, 2] {
        let (_, result) = read(&[a.clone(), b.clone()], threads);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("link-b.pcap") && err.contains("offset"),
            "{err}"
        );
    }
}

#[test]
fn threads_give_the_same_records() {
    let mut frames = Vec::new();
    for i in 0..200u16 {
        frames.extend(session(
            [198, 18, (i >> 8) as u8, i as u8],
            30000 + i,
            T0 + i64::from(i) * 10,
            1,
        ));
    }
    frames.sort_by_key(|(t, _)| *t);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "many.pcap", &pcap(&frames, false, false, 1));
    let (one, s1) = read(std::slice::from_ref(&p), 1);
    let (two, s2) = read(std::slice::from_ref(&p), 2);
    let (three, _) = read(&[p], 3);
    assert_eq!(one.len(), 200);
    assert!(
        one.iter()
            .all(|r| r.outcome == Outcome::Delivered && r.messages == 1)
    );
    assert_eq!(one, two);
    assert_eq!(one, three);
    assert_eq!(s1.unwrap().sessions, s2.unwrap().sessions);
}

#[test]
fn bounded_table_evicts_and_counts() {
    let mut frames = Vec::new();
    for i in 0..100u16 {
        frames.extend(session(
            [198, 18, 1, i as u8],
            20000 + i,
            T0 + i64::from(i) * 10,
            1,
        ));
    }
    frames.sort_by_key(|(t, _)| *t);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "many.pcap", &pcap(&frames, false, false, 1));
    let opts = CaptureOptions {
        threads: 1,
        max_sessions: 10,
        ..CaptureOptions::default()
    };
    let mut n = 0;
    let stats = ingest(&[p], &opts, &mut |_| n += 1, &mut |_| {}).unwrap();
    assert!(
        stats.evictions.get("table_full").copied().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(stats.evictions.values().sum::<u64>(), n);
    assert!(n >= 100);
}

#[test]
fn truncated_last_record_is_counted_and_earlier_sessions_kept() {
    let bytes = pcap(&two_sessions(), false, false, 1);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "cut.pcap", &bytes[..bytes.len() - 30]);
    let (records, stats) = read(std::slice::from_ref(&p), 1);
    let stats = stats.unwrap();
    assert_eq!(stats.damage.len(), 1, "{stats}");
    assert_eq!(stats.damage[0].path, p);
    assert!(stats.damage[0].offset > 24 && stats.damage[0].offset < bytes.len() as u64);
    assert!(stats.to_string().contains("truncated last record"));
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].outcome, Outcome::Delivered);
}

#[test]
fn record_header_claiming_4_gb_names_file_and_offset() {
    let frames = two_sessions();
    let mut bytes = pcap(&frames[..20], false, false, 1);
    let offset = bytes.len() as u64;
    bytes.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff,
    ]);
    bytes.extend_from_slice(&[0u8; 100]);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "huge.pcap", &bytes);
    for threads in [1, 2] {
        let (records, result) = read(std::slice::from_ref(&p), threads);
        let err = result.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("huge.pcap"), "{msg}");
        assert!(msg.contains(&format!("offset {offset}")), "{msg}");
        assert_eq!(records.len(), 1, "the session before the damage is kept");
        assert_eq!(records[0].helo, "zombie.example");
    }
}

#[test]
fn random_bytes_are_not_a_capture() {
    let mut x: u64 = 0x1234_5678;
    let noise: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "noise.bin", &noise);
    let (_, result) = read(&[p], 1);
    let msg = result.unwrap_err().to_string();
    assert!(
        msg.contains("noise.bin") && msg.contains("not a pcap"),
        "{msg}"
    );

    // Random bytes after a good header: an error at offset 24 or counted, never a panic.
    let mut bytes = pcap(&[], false, false, 1);
    bytes.extend_from_slice(&noise);
    let p = write(dir.path(), "noise.pcap", &bytes);
    let (_, result) = read(&[p], 2);
    match result {
        Ok(stats) => assert_eq!(stats.packets, stats.packets_used + stats.skipped_total()),
        Err(e) => assert!(e.to_string().contains("noise.pcap"), "{e}"),
    }
}

#[test]
fn pcapng_block_with_bad_length_names_the_offset() {
    let frames = two_sessions();
    let packets: Vec<(u32, u64, Vec<u8>)> = frames[..20]
        .iter()
        .map(|(t, f)| (0, *t as u64, f.clone()))
        .collect();
    let mut bytes = pcapng(&[(1, 6)], &packets);
    let offset = bytes.len() as u64;
    // An enhanced packet block whose length is not a multiple of 4 and too short.
    bytes.extend_from_slice(&6u32.to_le_bytes());
    bytes.extend_from_slice(&13u32.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 40]);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.pcapng", &bytes);
    let (records, result) = read(&[p], 1);
    let msg = result.unwrap_err().to_string();
    assert!(
        msg.contains("bad.pcapng") && msg.contains(&format!("offset {offset}")),
        "{msg}"
    );
    assert_eq!(records.len(), 1);
}

#[test]
fn empty_file_is_counted_damage() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty.pcap", b"");
    let (records, result) = read(&[p], 1);
    let stats = result.unwrap();
    assert!(records.is_empty());
    assert_eq!(stats.damage.len(), 1);
    assert!(stats.to_string().contains("empty.pcap"));
}

#[test]
fn truncated_gzip_keeps_what_came_before() {
    let plain = pcap(&two_sessions(), false, false, 1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "cut.pcap.gz", &gz[..gz.len() * 2 / 3]);
    // Threads > 1 decompress on a thread of their own: the same outcome.
    for threads in [1, 2] {
        let (records, result) = read(std::slice::from_ref(&p), threads);
        let stats = result.unwrap();
        assert_eq!(stats.damage.len(), 1, "{stats}");
        let what = &stats.damage[0].what;
        assert!(
            what.contains("ends early") || what.contains("truncated"),
            "{stats}"
        );
        assert!(!records.is_empty());
    }
}

/// A UDP datagram to `port` inside Ethernet/IPv4.
fn udp_frame(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&[0x30, 0x39]);
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Export datagrams to a flow port are handed on; other UDP to it (a DNS
/// reply that happened to go to ephemeral port 9996) is counted as skipped,
/// not handed to the decoder as a broken export.
#[test]
fn datagrams_to_flow_ports_are_handed_on() {
    let payload = b"\x00\x05\x00\x00flowdata";
    let dns = b"\x9a\x3f\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00";
    let f = udp_frame(2055, payload);
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "nf.pcap",
        &pcap(&[(T0, f), (T0 + 1, udp_frame(9996, dns))], false, false, 1),
    );
    for threads in [1, 2] {
        let mut got = Vec::new();
        let opts = CaptureOptions {
            threads,
            ..CaptureOptions::default()
        };
        let stats = ingest(std::slice::from_ref(&p), &opts, &mut |_| {}, &mut |d| {
            got.push((d.ts_us, d.dst.port(), d.payload.to_vec()))
        })
        .unwrap();
        assert_eq!(got, vec![(T0, 2055, payload.to_vec())]);
        assert_eq!(stats.datagrams, 1);
        assert_eq!(
            stats
                .skipped
                .get("udp_to_flow_port_not_netflow_v5_v9_ipfix"),
            Some(&1),
            "{stats}"
        );
    }
}

/// Frames of many overlapping sessions dealt at random to three files: in
/// every deal, and with 1 and 2 threads, the merged files give the records
/// of the single capture.
#[test]
fn any_deal_of_frames_to_files_reads_like_the_single_capture() {
    let mut frames = Vec::new();
    for k in 0..12u16 {
        // Sessions start 2.5 ms apart and last ~20 ms: their frames interleave.
        let t0 = T0 + i64::from(k) * 2_500;
        frames.extend(session(
            [198, 18, 1, k as u8],
            41_000 + k,
            t0,
            1 + usize::from(k % 3),
        ));
    }
    frames.sort_by_key(|(t, _)| *t);
    let dir = tempfile::tempdir().unwrap();
    let whole = write(dir.path(), "whole.pcap", &pcap(&frames, false, false, 1));
    let (want, stats) = read(&[whole], 1);
    assert_eq!(stats.unwrap().sessions_total(), 12);
    assert!(
        want.iter().all(|r| r.outcome == Outcome::Delivered),
        "{want:?}"
    );
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for deal in 0..20 {
        let mut files: [Frames; 3] = Default::default();
        for f in &frames {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            files[(state % 3) as usize].push(f.clone());
        }
        let paths: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_empty())
            .map(|(i, f)| {
                write(
                    dir.path(),
                    &format!("deal{deal}-{i}.pcap"),
                    &pcap(f, i == 1, i == 2, 1),
                )
            })
            .collect();
        for threads in [1, 2] {
            let (got, stats) = read(&paths, threads);
            let stats = stats.unwrap();
            assert_eq!(got, want, "deal {deal}, {threads} threads: {stats}");
            assert_eq!(stats.merged_by_time.len(), paths.len() - 1, "{stats}");
        }
    }
}

/// The same capture gives the same records in the same order, run after
/// run, on one thread or several (the session table's hash is keyed per
/// run, and workers finish in any order); and why sessions left the table
/// does not depend on the thread count. The shipped sample: an hour of a
/// simulated ISP, 800 sessions.
#[test]
fn the_same_input_gives_the_same_output() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-pcaps/before.pcap.gz");
    let run = |threads: usize| {
        let opts = CaptureOptions {
            threads,
            ..CaptureOptions::default()
        };
        let mut records = Vec::new();
        let stats = ingest(
            std::slice::from_ref(&sample),
            &opts,
            &mut |r| records.push(format!("{r:?}")),
            &mut |_| {},
        )
        .unwrap();
        (records, stats)
    };
    let mut evictions = Vec::new();
    let mut sorted = Vec::new();
    for threads in [1, 3] {
        let (first, stats) = run(threads);
        assert!(first.len() > 500, "{}", first.len());
        for _ in 0..2 {
            let (again, _) = run(threads);
            assert!(
                again == first,
                "{threads} thread(s): the order changed between runs"
            );
        }
        evictions.push(stats.evictions.clone());
        let mut s = first;
        s.sort();
        sorted.push(s);
    }
    assert_eq!(evictions[0], evictions[1]);
    assert!(sorted[0] == sorted[1], "other records with 3 threads");
}

/// A pcapng block whose length field is impossible (13: not a multiple of
/// 4) stops the file with a message that names the file, the offset and
/// the record's first bytes, and stays short: the parser's own message
/// listed the whole rest of its buffer.
#[test]
fn an_unreadable_pcapng_block_gives_a_short_message() {
    let frames = two_sessions();
    let packets: Vec<(u32, u64, Vec<u8>)> = frames
        .iter()
        .map(|(ts, f)| (0, *ts as u64, f.clone()))
        .collect();
    let mut bytes = pcapng(&[(1, 6)], &packets);
    // The first enhanced packet block follows the section header (28 bytes)
    // and the interface block (32); its length field is its second word.
    let at = 28 + 32;
    assert_eq!(&bytes[at..at + 4], &6u32.to_le_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&13u32.to_le_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 200_000));
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.pcapng", &bytes);
    let (_, result) = read(&[p], 1);
    let message = result.unwrap_err().to_string();
    assert!(message.contains("bad.pcapng"), "{message}");
    assert!(message.contains(&format!("offset {at}")), "{message}");
    assert!(message.contains("06 00 00 00 0d 00 00 00"), "{message}");
    assert!(
        message.len() < 400,
        "{} bytes: {}",
        message.len(),
        &message[..400]
    );
}
