//! nfdump CSV: the corpus dumps (`nfdump -q -o csv`, nfdump 1.7.1) against
//! the statistics nfdump printed for the same files (`nfdump -I`), and
//! format detection over the whole NetFlow corpus.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use op25b_flow::{FlowFileKind, detect, read_nfdump_csv};

fn stats_file(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn csv_totals_match_nfdump_statistics() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = corpus.join("netflow/nfcapd");
    // nfcapd-small-lzo: its stored statistics block says 10 flows while the
    // file holds 4820 (nfdump -I prints the block, not a recount), so only
    // the two files whose block is a true count are compared.
    for name in ["nfcapd.sample", "slips-test1-malicious.nfdump"] {
        let st = stats_file(&dir.join(format!("{name}.nfdump-stats.txt")));
        let mut per_proto: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        let mut recs = 0u64;
        let stats = read_nfdump_csv(&dir.join(format!("{name}.nfdump.csv")), &mut |r| {
            recs += 1;
            let p = match r.protocol {
                6 => "tcp",
                17 => "udp",
                1 | 58 => "icmp",
                _ => "other",
            };
            let e = per_proto.entry(p).or_default();
            e.0 += 1;
            e.1 += r.packets;
            e.2 += r.bytes;
            assert!(r.end_us >= r.start_us);
        })
        .unwrap();
        assert_eq!(stats.bad_lines, 0, "{name}");
        assert_eq!(recs, st["Flows"], "{name}");
        for p in ["tcp", "udp", "icmp", "other"] {
            let (f, pk, b) = per_proto.get(p).copied().unwrap_or_default();
            assert_eq!(f, st[&format!("Flows_{p}")], "{name} {p}");
            assert_eq!(pk, st[&format!("Packets_{p}")], "{name} {p}");
            assert_eq!(b, st[&format!("Bytes_{p}")], "{name} {p}");
        }
        // First flow time: nfdump's "First" (seconds) is the earliest start.
        let _ = stats;
    }
}

#[test]
fn csv_fields_of_known_lines() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let path = corpus.join("netflow/nfcapd/slips-test1-malicious.nfdump.nfdump.csv");
    let mut first = Vec::new();
    read_nfdump_csv(&path, &mut |r| {
        if first.len() < 2 {
            first.push(r)
        }
    })
    .unwrap();
    // Line 1: 2018-01-12 15:37:30, 147.32.80.119:52324 -> 147.32.82.62:902,
    // TCP, "......S.", 1 packet, 60 bytes, exporter 147.32.82.62.
    let r = &first[0];
    assert_eq!(r.src.to_string(), "147.32.80.119");
    assert_eq!((r.src_port, r.dst_port, r.protocol), (52324, 902, 6));
    assert_eq!((r.packets, r.bytes, r.tcp_flags), (1, 60, 0x02));
    assert_eq!(r.start_us, 1_515_771_450_000_000);
    assert_eq!(r.exporter.to_string(), "147.32.82.62");
    assert_eq!(first[1].tcp_flags, 0x14); // "...A.R.."
}

#[test]
fn empty_and_error_dumps_yield_no_flows() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    for name in ["nfcapd-empty", "nfcapd-corrupt"] {
        let path = corpus.join(format!("netflow/nfcapd/{name}.nfdump.csv"));
        let mut n = 0;
        let st = read_nfdump_csv(&path, &mut |_| n += 1).unwrap();
        assert_eq!((n, st.bad_lines), (0, 0), "{name}");
        assert_eq!(st.skipped_lines, st.lines);
    }
}

#[test]
fn with_header_columns_are_found_by_name() {
    let dir = std::env::temp_dir().join(format!("op25b-flow-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("h.csv");
    // Columns reordered: a reader by position would swap addresses.
    std::fs::write(
        &path,
        "ts,te,td,da,sa,dp,sp,pr,flg,fwd,stos,ipkt,ibyt\n\
         2020-01-01 00:00:00,2020-01-01 00:00:01,1.500,10.0.0.2,10.0.0.1,25,4000,TCP,...AP.SF,0,0,12,3000\n\
         Summary\nflows,bytes,packets\n1,3000,12\n",
    )
    .unwrap();
    let mut v = Vec::new();
    let st = read_nfdump_csv(&path, &mut |r| v.push(r)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].src.to_string(), "10.0.0.1");
    assert_eq!((v[0].src_port, v[0].dst_port), (4000, 25));
    assert_eq!(v[0].end_us - v[0].start_us, 1_500_000);
    assert_eq!(v[0].tcp_flags, 0x1b);
    assert_eq!(st.skipped_lines, 4);
}

#[test]
fn appended_runs_years_out_of_range_and_endless_lines() {
    let dir = std::env::temp_dir().join(format!("op25b-flow-runs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let line = |year: &str, sp: u16| {
        format!(
            "{year}-01-01 00:00:00,{year}-01-01 00:00:01,1.000,10.0.0.1,10.0.0.2,{sp},25,TCP,...AP.SF,0,0,12,3000\n"
        )
    };
    // Two runs' output appended: the second's records come after the first's summary.
    // In the second, a year no record can carry, and one whose microseconds
    // overflow an i64.
    let mut text = String::new();
    for (run, years) in [&["2020"][..], &["2020", "10000", "300000"]]
        .iter()
        .enumerate()
    {
        text.push_str("ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt\n");
        for (i, year) in years.iter().enumerate() {
            text.push_str(&line(year, 4000 + 10 * run as u16 + i as u16));
        }
        text.push_str("Summary\nflows,bytes,packets\n1,3000,12\n");
    }
    let path = dir.join("runs.csv");
    std::fs::write(&path, &text).unwrap();
    let mut v = Vec::new();
    let st = read_nfdump_csv(&path, &mut |r| v.push(r)).unwrap();
    let ports: Vec<u16> = v.iter().map(|r| r.src_port).collect();
    assert_eq!(ports, [4000, 4010]);
    assert_eq!(st.bad_lines, 2);
    assert_eq!(st.lines, st.records + st.bad_lines + st.skipped_lines);

    let endless = dir.join("endless.csv");
    let mut text = line("2020", 4000);
    // Two-byte characters: the 64 KiB cut falls inside one.
    text.push_str(&"é".repeat(50_000));
    std::fs::write(&endless, text).unwrap();
    let e = read_nfdump_csv(&endless, &mut |_| {})
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.contains("endless.csv") && e.contains("offset") && e.contains("longer than"),
        "{e}"
    );
}

#[test]
fn detect_tells_corpus_files_apart() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let mut seen = HashMap::new();
    let mut stack = vec![corpus.join("netflow")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let mut head = vec![0u8; 256];
            let n = std::fs::File::open(&p).unwrap().read(&mut head).unwrap();
            head.truncate(n);
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let want = if name.ends_with(".dat") || name.ends_with(".bin") {
                Some(FlowFileKind::RawDatagrams)
            } else if name.ends_with(".nfdump.csv")
                && !name.contains("corrupt")
                && !name.contains("empty")
            {
                Some(FlowFileKind::NfdumpCsv)
            } else if name.ends_with(".csv") {
                // The corpus' empty/corrupt dumps hold only a comment line
                // added by the corpus builder: not nfdump output.
                continue;
            } else {
                None
            };
            assert_eq!(detect(&head), want, "{}", p.display());
            *seen.entry(format!("{want:?}")).or_insert(0) += 1;
        }
    }
    assert!(seen.len() == 3, "{seen:?}");
}

/// A record line with header columns ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,ra:
/// a flow of `router` starting `at` seconds into 2020 and lasting a second.
/// `s` seconds into 2020 as nfdump prints it.
fn clock(s: u32) -> String {
    format!(
        "2020-01-01 {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn timed_line(at: u32, sport: u16, router: &str) -> String {
    format!(
        "{},{},1.000,10.0.0.1,10.0.0.2,{sport},25,TCP,...AP.SF,0,0,12,3000,{router}\n",
        clock(at),
        clock(at + 1)
    )
}

const TIMED_HEADER: &str = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,ra\n";

#[test]
fn files_are_merged_in_time_order_where_they_overlap() {
    use op25b_flow::read_nfdump_csvs;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[(u32, u16)], router: &str| {
        let path = dir.path().join(name);
        let mut text = TIMED_HEADER.to_string();
        for &(at, sport) in lines {
            text.push_str(&timed_line(at, sport, router));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    // Router A's two rotated files, router B's file overlapping A's first
    // (one flow out of order), a file with no flows, and B's second file
    // with a flow at the same time as one of A's.
    let a1 = write(
        "a1.csv",
        &[(0, 1), (60, 2), (120, 3), (180, 4)],
        "192.0.2.1",
    );
    let a2 = write("a2.csv", &[(300, 5), (360, 6)], "192.0.2.1");
    let b1 = write(
        "b1.csv",
        &[(30, 11), (150, 12), (90, 13), (240, 14)],
        "192.0.2.2",
    );
    let empty = write("empty.csv", &[], "192.0.2.3");
    let b2 = write("b2.csv", &[(360, 15)], "192.0.2.2");
    // Named in an order that is not the time order.
    let mut order = Vec::new();
    let stats =
        read_nfdump_csvs(&[b2, a2, empty, b1, a1], &mut |r| order.push(r.src_port)).unwrap();
    // b1's flow at 90 s comes after its flow at 150 s, as in the file: a
    // file's own order is kept, and the others wait for it (merged by the
    // latest end a file has shown). a2's and b2's flows at 360 s: a2 was
    // named before b2, but a2 is ordered first by its first flow.
    assert_eq!(order, [1, 11, 2, 3, 12, 13, 4, 14, 5, 6, 15]);
    assert_eq!(stats.records, 11);
    // a1 and b1 were read at once; a2 and b2 too (b2's first flow is
    // not after a2's last).
    assert_eq!(stats.files_merged, 4);
    assert_eq!(stats.lines, 16);
}

#[test]
fn an_unreadable_file_among_merged_ones_stops_with_its_name_and_offset() {
    use op25b_flow::read_nfdump_csvs;
    let dir = tempfile::tempdir().unwrap();
    // Enough flows that the readers fill their batches and wait on the merge.
    let mut good = TIMED_HEADER.to_string();
    let mut bad = TIMED_HEADER.to_string();
    for i in 0..40_000u32 {
        good.push_str(&timed_line(i / 10, (i % 60_000) as u16, "192.0.2.1"));
    }
    for i in 0..20_000u32 {
        if i == 15_000 {
            bad.push_str(&"x".repeat(70_000));
            bad.push('\n');
        }
        bad.push_str(&timed_line(i / 10, (i % 60_000) as u16, "192.0.2.2"));
    }
    let (g, b) = (dir.path().join("good.csv"), dir.path().join("bad.csv"));
    std::fs::write(&g, &good).unwrap();
    std::fs::write(&b, &bad).unwrap();
    let offset = bad.find("xxx").unwrap();
    let mut n = 0u32;
    let err = read_nfdump_csvs(&[g, b.clone()], &mut |_| n += 1).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&b.display().to_string()), "{text}");
    assert!(text.contains(&offset.to_string()), "{text}");
    // The good file's flows of the same time and a batch or two, not the
    // rest of it: 15 000 of each file come before the damage, 55 000 flows
    // in all.
    assert!(
        n < 34_000,
        "stopped at the error, not after the good file: {n}"
    );
}

/// Router A's client side and router B's server side of 720 connections an
/// hour, each as one file, B's holding one more flow stamped years ahead
/// (a damaged time) at `stray` (its line among the records).
fn two_routers_with_a_stray(dir: &Path, stray: Option<usize>) -> Vec<std::path::PathBuf> {
    let line = |at: u32, src: &str, sp: u16, dst: &str, dp: u16, router: &str| {
        format!(
            "{},{},1.000,{src},{dst},{sp},{dp},TCP,...AP.SF,0,0,12,3000,{router}\n",
            clock(at),
            clock(at + 1)
        )
    };
    let (mut a, mut b) = (TIMED_HEADER.to_string(), TIMED_HEADER.to_string());
    for i in 0..720u32 {
        let port = 10_000 + i as u16;
        a.push_str(&line(i * 5, "10.0.0.1", port, "192.0.2.9", 25, "192.0.2.1"));
        if stray == Some(i as usize) {
            b.push_str(
                &line(0, "192.0.2.9", 25, "10.0.0.1", 9, "192.0.2.2").replace("2020-", "2030-"),
            );
        }
        b.push_str(&line(i * 5, "192.0.2.9", 25, "10.0.0.1", port, "192.0.2.2"));
    }
    let (pa, pb) = (dir.join("a.csv"), dir.join("b.csv"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    vec![pa, pb]
}

#[test]
fn one_flow_stamped_years_ahead_does_not_undo_the_merge() {
    use op25b_flow::{PairerOptions, SessionPairer, read_nfdump_csvs};
    for stray in [None, Some(0), Some(20)] {
        let dir = tempfile::tempdir().unwrap();
        let files = two_routers_with_a_stray(dir.path(), stray);
        let mut pairer = SessionPairer::new(&[25], PairerOptions::default());
        let mut sessions = 0u32;
        let stats =
            read_nfdump_csvs(&files, &mut |f| pairer.push(&f, &mut |_| sessions += 1)).unwrap();
        pairer.finish(&mut |_| sessions += 1);
        assert_eq!(stats.files_merged, 2, "stray at {stray:?}");
        assert_eq!(sessions, 720, "stray at {stray:?}: {:?}", pairer.stats());
        assert_eq!(pairer.stats().time_jumps, u64::from(stray.is_some()));
    }
}

#[test]
fn rotated_files_each_with_a_flow_from_1970_are_not_all_read_at_once() {
    use op25b_flow::read_nfdump_csvs;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for period in 0..40u32 {
        // A zero timestamp first, as some exporters write for a missing time.
        let mut text = TIMED_HEADER.to_string();
        text.push_str(&timed_line(0, 1, "192.0.2.1").replace("2020-01-01", "1970-01-01"));
        for i in 0..100 {
            text.push_str(&timed_line(period * 300 + i * 3, 2, "192.0.2.1"));
        }
        let path = dir.path().join(format!("nfcapd.{period:03}.csv"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let mut n = 0;
    let stats = read_nfdump_csvs(&files, &mut |_| n += 1).unwrap();
    assert_eq!(n, 40 * 101);
    // Each file starts where its own period does, so they are read one at
    // a time; with the 1970 flow taken for where each begins, all 40 were
    // opened at once.
    assert_eq!(stats.files_merged, 0);
}

/// One collector's file holds router R1's client side and router R2's web
/// flows, R2's clock ten minutes ahead; another file holds router R3's
/// server side. Merged by the collector's receive time (`tr`), not by the
/// routers' clocks, each connection is one session; by flow ends, R2's
/// clock ran the first file ahead of the second.
#[test]
fn files_are_merged_by_the_collectors_receive_time() {
    use op25b_flow::{PairerOptions, SessionPairer, read_nfdump_csvs};
    let dir = tempfile::tempdir().unwrap();
    let header = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,ra,tr\n";
    let line = |at: u32, src: &str, sp: u16, dst: &str, dp: u16, router: &str, received: u32| {
        format!(
            "{},{},1.000,{src},{dst},{sp},{dp},TCP,...AP.SF,0,0,12,3000,{router},{}.000\n",
            clock(at),
            clock(at + 1),
            clock(received)
        )
    };
    let (mut x, mut y) = (header.to_string(), header.to_string());
    for i in 0..3600u32 {
        let port = 10_000 + i as u16;
        x.push_str(&line(
            i,
            "10.0.0.1",
            port,
            "192.0.2.9",
            25,
            "192.0.2.1",
            i + 2,
        ));
        // R2's clock is ten minutes ahead: its flows end "later".
        x.push_str(&line(
            i + 600,
            "10.0.0.2",
            port,
            "198.51.100.1",
            443,
            "192.0.2.2",
            i + 2,
        ));
        y.push_str(&line(
            i,
            "192.0.2.9",
            25,
            "10.0.0.1",
            port,
            "192.0.2.3",
            i + 2,
        ));
    }
    let files = [dir.path().join("x.csv"), dir.path().join("y.csv")];
    std::fs::write(&files[0], &x).unwrap();
    std::fs::write(&files[1], &y).unwrap();
    let pair = |files: &[std::path::PathBuf]| {
        let mut pairer = SessionPairer::new(&[25], PairerOptions::default());
        let mut sessions = 0u32;
        read_nfdump_csvs(files, &mut |f| pairer.push(&f, &mut |_| sessions += 1)).unwrap();
        pairer.finish(&mut |_| sessions += 1);
        sessions
    };
    assert_eq!(pair(&files), 3600);
    // Without `tr` the flows' own times decide, and R2's clock wins.
    let strip = |text: &str| {
        text.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head).to_string() + "\n")
            .collect::<String>()
    };
    std::fs::write(&files[0], strip(&x)).unwrap();
    std::fs::write(&files[1], strip(&y)).unwrap();
    assert!(pair(&files) > 3600);

    // Where a file's receive times do not follow its flows, its flows' ends
    // decide: the second file's collector three hours behind, or every flow
    // of it received at the same moment (a burst). The hour starts at 04:00.
    let hour = 4 * 3600;
    let mut client_side = String::from(header);
    for i in 0..3600u32 {
        let port = 10_000 + i as u16;
        let (at, received) = (hour + i, hour + i + 2);
        client_side.push_str(&line(
            at,
            "10.0.0.1",
            port,
            "192.0.2.9",
            25,
            "192.0.2.1",
            received,
        ));
    }
    std::fs::write(&files[0], &client_side).unwrap();
    for case in ["three hours behind", "one burst"] {
        let mut server_side = String::from(header);
        for i in 0..3600u32 {
            let port = 10_000 + i as u16;
            let received = match case {
                "one burst" => hour + 3601,
                _ => hour + i + 2 - 3 * 3600,
            };
            server_side.push_str(&line(
                hour + i,
                "192.0.2.9",
                25,
                "10.0.0.1",
                port,
                "192.0.2.3",
                received,
            ));
        }
        std::fs::write(&files[1], &server_side).unwrap();
        assert_eq!(pair(&files), 3600, "{case}");
    }
}
