//! The command line's contract: exit codes, error messages that name the
//! file and offset, output formats, content-based detection.

mod common;

use common::{run, stderr};

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["ingest"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        run(&["rank", "x", "--format", "xml"]).status.code(),
        Some(2)
    );
    // Values out of range are usage errors too, refused before any work
    // (a bootstrap of 4 G resamples would ask for 256 GB).
    for bad in [
        &["report", "--before", "x", "-o", "r", "--size", "1x1"][..],
        &[
            "report",
            "--before",
            "x",
            "-o",
            "r",
            "--size",
            "100000x100000",
        ],
        &[
            "report",
            "--before",
            "x",
            "-o",
            "r",
            "--bootstrap",
            "4294967295",
        ],
        &["synth", "-o", "s", "--scale", "0"],
        &["synth", "-o", "s", "--sampling", "0"],
        &["synth", "-o", "s", "--profile", "nope"],
    ] {
        let o = run(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            stderr(&o).contains(bad[bad.len() - 2]),
            "{bad:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn unrecognised_input_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(
        &junk,
        b"this is not a capture at all, whatever its name says\n",
    )
    .unwrap();
    let o = run(&["ingest", junk.to_str().unwrap(), "-o", "-"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("junk.pcap") && e.contains("offset 0"), "{e}");
    let o = run(&[
        "ingest",
        dir.path().join("absent").to_str().unwrap(),
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("absent"));
    // A missing config: named once, its cause said once.
    let o = run(&[
        "rank",
        junk.to_str().unwrap(),
        "--config",
        "/absent/isp.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("/absent/isp.toml"), "{e}");
    assert_eq!(e.matches("os error 2").count(), 1, "{e}");
}

#[test]
fn truncated_capture_keeps_what_came_before_and_says_so() {
    let dir = common::synth("wakwak-2005", 11, 0.05, 1);
    let full = std::fs::read(dir.join("before.pcap")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() * 2 / 3 + 7]).unwrap();
    let out = tmp.path().join("cut.csv");
    let o = run(&["ingest", cut.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("cut.pcap"),
        "the damage is reported with the file name: {e}"
    );
    let mut n = 0;
    op25b_store::read_sessions(&out, &mut |_| n += 1).unwrap();
    assert!(n > 50, "sessions before the cut are kept ({n})");
}

#[test]
fn ingest_writes_csv_to_stdout_and_reads_its_own_outputs_back() {
    let dir = common::synth("wakwak-2005", 12, 0.05, 1);
    let o = run(&[
        "ingest",
        dir.join("before.pcap").to_str().unwrap(),
        "-o",
        "-",
        "-q",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("start,end,client,server,client_port,server_port,source,packets_c2s")
    );
    let rows = text.lines().count() - 1;
    let truth = common::truth(&dir);
    assert_eq!(
        rows as u64,
        truth["phases"]["before"]["smtp_sessions"].as_u64().unwrap()
    );

    // The Parquet and CSV that ingest writes are inputs again, record for record.
    let tmp = tempfile::tempdir().unwrap();
    let first = common::ingest(tmp.path(), "a", &[&dir.join("before.pcap")]);
    let again = common::ingest(tmp.path(), "b", &[&tmp.path().join("a.parquet")]);
    assert!(
        first == again,
        "records differ after a round trip through Parquet"
    );
}

#[test]
fn empty_input_files_are_counted_not_fatal() {
    let dir = common::synth("wakwak-2005", 13, 0.05, 1);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("after.pcap"), tmp.path().join("a.pcap")).unwrap();
    std::fs::write(tmp.path().join("empty.pcap"), b"").unwrap();
    let o = run(&["ingest", tmp.path().to_str().unwrap(), "-o", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped empty file"), "{}", stderr(&o));
}

#[test]
fn gzip_and_zstd_captures_read_like_the_plain_one() {
    let dir = common::synth("wakwak-2005", 14, 0.05, 1);
    let plain = dir.join("after.pcap");
    let bytes = std::fs::read(&plain).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let gz = tmp.path().join("x.gz");
    let zst = tmp.path().join("y.bin");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &bytes).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    let a = common::ingest(tmp.path(), "p", &[&plain]);
    let b = common::ingest(tmp.path(), "g", &[&gz]);
    let c = common::ingest(tmp.path(), "z", &[&zst]);
    assert!(!a.is_empty());
    assert!(a == b, "gzip capture gives other records");
    assert!(a == c, "zstd capture gives other records");
}

/// `report --relay-log`: the ISP mail servers' log read as written (RFC 3339
/// timestamps) and rewritten with classic syslog timestamps on a Japan-time
/// clock (`[relay_log] utc_offset`) gives the same relays' spam fraction;
/// a file that is not a syslog, or a bad offset, is an error naming it.
#[test]
fn report_reads_the_relay_log_in_either_timestamp_form() {
    let dir = common::synth("wakwak-2005", 12, 0.05, 1);
    let tmp = tempfile::tempdir().unwrap();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut classic = Vec::new();
    for phase in ["before", "after"] {
        let text = std::fs::read_to_string(dir.join(format!("{phase}-maillog"))).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            // 2005-11-08T10:00:18.377576+09:00 host ... → Nov  8 10:00:18.377576 host ...
            let (ts, rest) = line.split_once(' ').unwrap();
            assert!(ts.ends_with("+09:00"), "{ts}");
            let month: usize = ts[5..7].parse().unwrap();
            let day: u32 = ts[8..10].parse().unwrap();
            out += &format!("{} {day:>2} {} {rest}\n", MONTHS[month - 1], &ts[11..26]);
        }
        let p = tmp.path().join(format!("{phase}.classic"));
        std::fs::write(&p, out).unwrap();
        classic.push(p);
    }
    let isp = std::fs::read_to_string(dir.join("isp.toml")).unwrap();
    let jst = tmp.path().join("isp-jst.toml");
    std::fs::write(
        &jst,
        format!("{isp}\n[relay_log]\nutc_offset = \"+09:00\"\n"),
    )
    .unwrap();
    let report = |config: &std::path::Path, logs: &[&std::path::Path], out: &str| {
        let mut args = vec![
            "report".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--before".into(),
            dir.join("before-netflow5.pcap").display().to_string(),
            "--after".into(),
            dir.join("after-netflow5.pcap").display().to_string(),
            "--bootstrap".into(),
            "50".into(),
            "-o".into(),
            tmp.path().join(out).display().to_string(),
            "--relay-log".into(),
        ];
        args.extend(logs.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };
    let summary = |out: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(tmp.path().join(out).join("summary.json")).unwrap())
            .unwrap()
    };
    let o = report(
        &dir.join("isp.toml"),
        &[&dir.join("before-maillog"), &dir.join("after-maillog")],
        "rfc3339",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("relay log: 2 file(s)"),
        "{}",
        stderr(&o)
    );
    let o = report(&jst, &[&classic[1], &classic[0]], "classic");
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (summary("rfc3339"), summary("classic"));
    for scenario in ["before", "after"] {
        assert_eq!(a[scenario]["relay_spam_fraction_source"], "relay_log");
        let logged = a[scenario]["relay_log_volume"].as_f64().unwrap();
        assert!(logged > 0.0, "{scenario}: nothing traced");
        for key in ["relay_log_spam_fraction", "relay_log_volume", "spam_share"] {
            assert_eq!(a[scenario][key], b[scenario][key], "{scenario} {key}");
        }
    }
    assert_eq!(a["relay_log"]["before"], b["relay_log"]["before"]);
    assert_eq!(b["relay_log"]["classic_utc_offset_s"], 32_400);
    // submitters.csv carries each host's traced deliveries: their weighted
    // sum is relay_log_spam_fraction.
    let csv = std::fs::read_to_string(tmp.path().join("rfc3339/submitters.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (w, v) = (col("spam_weight"), col("relay_log_volume"));
    let (mut spam, mut all) = (0.0, 0.0);
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        let vol: f64 = cells[v].parse().unwrap();
        spam += cells[w].parse::<f64>().unwrap() * vol;
        all += vol;
    }
    let frac = a["before"]["relay_log_spam_fraction"].as_f64().unwrap();
    assert!((spam / all - frac).abs() < 1e-9, "{spam}/{all} vs {frac}");

    let junk = tmp.path().join("not-a-log.txt");
    std::fs::write(&junk, "col1,col2\n".repeat(200)).unwrap();
    let o = report(&dir.join("isp.toml"), &[&junk], "junk");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not-a-log.txt") && stderr(&o).contains("not a syslog file"),
        "{}",
        stderr(&o)
    );
    let bad = tmp.path().join("isp-bad.toml");
    std::fs::write(&bad, format!("{isp}\n[relay_log]\nutc_offset = \"JST\"\n")).unwrap();
    let o = report(&bad, &[&classic[0]], "bad");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("utc_offset"), "{}", stderr(&o));
}

/// Real traffic from no blocked network (suricata-verify's smtperr.pcap: a
/// spam bot and two other clients on private addresses sending on port 25
/// to outside servers) given as the after input: without an isp.toml every
/// private address is a dynamic pool, so these are sessions OP25B stops,
/// and every one a server answered is reported as let through. The
/// reference is tshark's: port-25 streams whose server answered a private
/// address with SYN-ACK.
#[test]
fn report_says_when_the_after_traffic_was_not_blocked() {
    let Some(corpus) = common::corpus() else {
        println!("skipped: corpus not found");
        return;
    };
    let capture = corpus.join("smtp/suricata-verify/smtperr.pcap");
    let Ok(tshark) = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(&capture)
        .args([
            "-Y",
            "tcp.srcport == 25 && tcp.flags.syn == 1 && tcp.flags.ack == 1 && \
             (ip.dst == 10.0.0.0/8 || ip.dst == 172.16.0.0/12 || ip.dst == 192.168.0.0/16)",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
        ])
        .output()
    else {
        println!("skipped: tshark not installed");
        return;
    };
    assert!(
        tshark.status.success(),
        "tshark: {}",
        common::stderr(&tshark)
    );
    let answered: std::collections::BTreeSet<String> = String::from_utf8_lossy(&tshark.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert!(
        !answered.is_empty(),
        "no answered port-25 stream in the capture"
    );

    let out = tempfile::tempdir().unwrap();
    let c = capture.to_str().unwrap();
    let o = common::run(&[
        "report",
        "--before",
        c,
        "--after",
        c,
        "-o",
        out.path().to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    let after = &summary["after"];
    assert_eq!(
        after["leaked_sessions"].as_u64(),
        Some(answered.len() as u64)
    );
    assert!(after["blocked_sessions"].as_u64() >= Some(answered.len() as u64));
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        md.contains("the block is not in place for every pool of dynamic_pools"),
        "{md}"
    );
    // The same sessions, host by host, in blocked-after.csv.
    let csv = std::fs::read_to_string(out.path().join("blocked-after.csv")).unwrap();
    let mut lines = csv.lines();
    let column = lines
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "leaked_sessions")
        .expect("a leaked_sessions column");
    let leaked: u64 = lines
        .map(|l| l.split(',').nth(column).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(leaked, answered.len() as u64);
}

/// `op25b report` on two files of a synth directory with its isp.toml, no
/// bootstrap, stderr kept (not `-q`) for the tests that read it.
fn report_synth(
    dir: &std::path::Path,
    before: &str,
    after: &str,
    out: &std::path::Path,
) -> std::process::Output {
    let arg = |name: &str| dir.join(name).display().to_string();
    run(&[
        "report",
        "--config",
        &arg("isp.toml"),
        "--before",
        &arg(before),
        "--after",
        &arg(after),
        "--bootstrap",
        "0",
        "-o",
        out.to_str().unwrap(),
    ])
}

/// timeline.csv (the data of timeline.png) holds every outbound session of
/// its input once, by verdict, with the ones that got no answer or a reset
/// apart. Checked against truth.json on a synth capture, where after the
/// block those include every session OP25B dropped, and against the
/// outbound_sessions of hosts.csv / hosts-after.csv per verdict.
#[test]
fn timeline_csv_counts_every_outbound_session_once() {
    let dir = common::synth("wakwak-2005", 15, 0.05, 1);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let o = report_synth(&dir, "before.pcap", "after.pcap", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth = common::truth(&dir);
    let table = |file: &str| -> (Vec<String>, Vec<Vec<String>>) {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap().split(',').map(String::from).collect();
        let rows = lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        (header, rows)
    };
    for (phase, timeline, hosts) in [
        ("before", "timeline.csv", "hosts.csv"),
        ("after", "timeline-after.csv", "hosts-after.csv"),
    ] {
        let (header, rows) = table(timeline);
        assert_eq!(header[..2], ["start", "minutes"], "{timeline}");
        // One-minute bins over the phase's hour, none missing.
        let p = &truth["phases"][phase];
        let span_minutes =
            (p["end_us"].as_i64().unwrap() - p["start_us"].as_i64().unwrap()) / 60_000_000;
        assert!(
            (rows.len() as i64 - span_minutes).abs() <= 1,
            "{timeline}: {} rows for {span_minutes} minutes",
            rows.len()
        );
        assert!(rows.iter().all(|r| r[1] == "1"), "{timeline}");
        let sum = |suffix: &str, verdict: Option<&str>| -> u64 {
            let cols: Vec<usize> = header
                .iter()
                .enumerate()
                .filter(|(_, h)| {
                    h.ends_with(suffix) && verdict.is_none_or(|v| h.starts_with(&format!("{v}_")))
                })
                .map(|(i, _)| i)
                .collect();
            assert!(!cols.is_empty(), "{timeline}: no column *{suffix}");
            rows.iter()
                .flat_map(|r| cols.iter().map(move |&i| r[i].parse::<u64>().unwrap()))
                .sum()
        };
        let failed = sum("_failed", None);
        assert_eq!(
            sum("_answered", None) + failed,
            p["outbound_sessions"].as_u64().unwrap(),
            "{phase}: outbound sessions"
        );
        let outcomes = &p["outcomes"];
        assert_eq!(
            failed,
            outcomes["no_answer"].as_u64().unwrap() + outcomes["reset"].as_u64().unwrap(),
            "{phase}: failed sessions"
        );
        if phase == "after" {
            let dropped = p["op25b_dropped_sessions"].as_u64().unwrap();
            assert!(dropped > 0 && failed >= dropped, "{failed} < {dropped}");
        }
        let (h_header, h_rows) = table(hosts);
        let col = |name: &str| h_header.iter().position(|h| h == name).unwrap();
        let (v, n) = (col("verdict"), col("outbound_sessions"));
        for verdict in ["zombie", "suspect", "clean", "relay"] {
            let in_hosts: u64 = h_rows
                .iter()
                .filter(|r| r[v] == verdict)
                .map(|r| r[n].parse::<u64>().unwrap())
                .sum();
            assert_eq!(
                sum("_answered", Some(verdict)) + sum("_failed", Some(verdict)),
                in_hosts,
                "{phase} {verdict}"
            );
        }
    }
}

/// Packet-sampled flows are said to be so: a warning on stderr, the
/// interval and the sampled share of records in summary.json, and a note in
/// the report, whose shares are then not the unsampled traffic's. The
/// unsampled export of the same traffic carries none of it.
#[test]
fn sampled_flows_are_reported_as_sampled() {
    let tmp = tempfile::tempdir().unwrap();
    for sampling in [10u32, 1] {
        let dir = common::synth("wakwak-2005", 16, 0.05, sampling);
        let out = tmp.path().join(format!("report-{sampling}"));
        let o = report_synth(&dir, "before-netflow5.pcap", "after-ipfix.pcap", &out);
        assert!(o.status.success(), "{}", stderr(&o));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        let warned = stderr(&o).contains(&format!("sampled 1 packet in up to {sampling}"));
        for scenario in ["before", "after", "simulated_after"] {
            let sc = &summary[scenario];
            assert_eq!(sc["sampling_interval"], sampling, "{scenario}");
            // Every flow record of synth's sampled exports carries the interval.
            let share = if sampling > 1 { 1.0 } else { 0.0 };
            assert_eq!(sc["sampled_record_share"], share, "{scenario}");
        }
        if sampling > 1 {
            assert!(warned, "{}", stderr(&o));
            assert!(
                md.contains("of the before input's session records (sampled_record_share)")
                    && md.contains("of the after input's session records")
                    && md.contains(&format!("one packet in {sampling} (sampling_interval)")),
                "{md}"
            );
        } else {
            assert!(!warned && !md.contains("sampled_record_share"), "{md}");
        }
    }
}

/// A synth capture dealt packet by packet to two files, as two links see a
/// network whose routing splits connections: given in either order, ingest
/// merges them by timestamp and writes exactly the records of the whole
/// capture (the files overlap for the whole hour).
#[test]
fn captures_of_two_links_ingest_like_the_whole() {
    let dir = common::synth("wakwak-2005", 17, 0.05, 1);
    let whole = std::fs::read(dir.join("before.pcap")).unwrap();
    let (header, mut records) = whole.split_at(24);
    let little = header[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let (mut a, mut b) = (header.to_vec(), header.to_vec());
    let mut n = 0usize;
    while records.len() >= 16 {
        let field: [u8; 4] = records[8..12].try_into().unwrap();
        let incl = if little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        } as usize;
        let (record, rest) = records.split_at(16 + incl);
        if n.is_multiple_of(2) { &mut a } else { &mut b }.extend_from_slice(record);
        records = rest;
        n += 1;
    }
    assert!(records.is_empty() && n > 1000, "{n} records");
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        tmp.path().join("link-a.pcap"),
        tmp.path().join("link-b.pcap"),
    );
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let ingest = |inputs: &[&std::path::Path], out: &str| -> (Vec<String>, String) {
        let csv = tmp.path().join(out);
        let mut cmd = common::op25b();
        cmd.arg("ingest").args(inputs).arg("-o").arg(&csv);
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let mut rows: Vec<String> = std::fs::read_to_string(&csv)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        rows.sort();
        (rows, stderr(&o))
    };
    let (want, _) = ingest(&[&dir.join("before.pcap")], "whole.csv");
    for (order, merged) in [([&pa, &pb], &pb), ([&pb, &pa], &pb)] {
        let (got, summary) = ingest(&[order[0].as_path(), order[1].as_path()], "split.csv");
        assert!(
            summary.contains(&format!(
                "merged by timestamp with the files before them (their times overlap): 1 file(s): {}",
                merged.display()
            )),
            "{summary}"
        );
        assert_eq!(got.len(), want.len());
        assert!(
            got == want,
            "the two links' records differ from the whole capture's"
        );
    }
}

/// An isp.toml that contradicts itself is used as written, and said so on
/// stderr and in the report: here the ISP's relay is put inside a dynamic
/// pool, so the simulated block cuts it off.
#[test]
fn a_self_contradicting_isp_toml_is_named() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let samples = root.join("sample-pcaps");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("isp.toml");
    let text = std::fs::read_to_string(samples.join("isp.toml"))
        .unwrap()
        .replace(
            "dynamic_pools = [\"198.18.0.0/17\",",
            "dynamic_pools = [\"198.18.0.0/17\", \"198.19.255.0/24\",",
        );
    assert!(text.contains("198.19.255.0/24"));
    std::fs::write(&config, text).unwrap();
    let before = samples.join("before.pcap.gz");
    let (config, before) = (config.to_str().unwrap(), before.to_str().unwrap());
    const SAID: &str = "mail_servers 198.19.255.10/32 overlaps dynamic_pools 198.19.255.0/24";
    let o = run(&["rank", before, "--config", config, "--top", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("warning: {config}: {SAID}")),
        "{}",
        stderr(&o)
    );
    let out = dir.path().join("report");
    let o = run(&[
        "report",
        "--before",
        before,
        "--config",
        config,
        "--bootstrap",
        "0",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains(&format!("isp.toml: {SAID}")), "{md}");
    // A misspelt section is said to be ignored; a bad value in a section a
    // stage reads is an error naming the file.
    let base = std::fs::read_to_string(samples.join("isp.toml")).unwrap();
    let with_section = |name: &str, section: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{base}\n{section}\n")).unwrap();
        path
    };
    let typo = with_section("typo.toml", "[relay_lg]\nutc_offset = \"+09:00\"");
    let o = run(&[
        "rank",
        before,
        "--config",
        typo.to_str().unwrap(),
        "--top",
        "1",
    ]);
    assert!(
        stderr(&o).contains("unknown section [relay_lg] ignored"),
        "{}",
        stderr(&o)
    );
    let bad = with_section("bad.toml", "[relay_log]\nutc_offset = \"+25:00\"");
    let o = run(&[
        "report",
        "--before",
        before,
        "--config",
        bad.to_str().unwrap(),
        "-q",
        "-o",
        dir.path().join("r2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("{}: [relay_log] utc_offset", bad.display())),
        "{}",
        stderr(&o)
    );
    // The sample's own description contradicts nothing.
    let o = run(&[
        "rank",
        before,
        "--config",
        samples.join("isp.toml").to_str().unwrap(),
        "--top",
        "1",
    ]);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

/// A file named twice (directly and through its directory, or by a link) is
/// read once; session files given with the captures they came from are
/// pointed out.
#[test]
fn a_file_named_twice_is_read_once() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("before.pcap.gz");
    std::fs::copy(root.join("sample-pcaps/before.pcap.gz"), &capture).unwrap();
    let link = dir.path().join("again.pcap.gz");
    std::os::unix::fs::symlink(&capture, &link).unwrap();
    let (c, d, l) = (
        capture.to_str().unwrap(),
        dir.path().to_str().unwrap(),
        link.to_str().unwrap(),
    );
    let once = run(&["rank", c, "--format", "csv"]);
    let thrice = run(&["rank", c, d, l, "--format", "csv"]);
    assert!(
        once.status.success() && thrice.status.success(),
        "{}",
        stderr(&thrice)
    );
    assert_eq!(once.stdout, thrice.stdout);
    let e = stderr(&thrice);
    // The directory names both again, then the link its file a third time.
    assert_eq!(e.matches("read once, named again").count(), 3, "{e}");

    // A link back up the tree is not followed round and round.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    let looped = run(&["rank", d, "--format", "csv"]);
    assert!(looped.status.success(), "{}", stderr(&looped));
    assert_eq!(looped.stdout, once.stdout);

    let sessions = dir.path().join("sessions.csv");
    let o = run(&["ingest", c, "-q", "-o", sessions.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["rank", c, sessions.to_str().unwrap(), "--top", "1"]);
    assert!(
        stderr(&o).contains("that traffic is counted twice"),
        "{}",
        stderr(&o)
    );
}

/// The sample relays' log of the before hours, as text.
fn sample_relay_log() -> String {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(samples_dir().join("before-maillog.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    assert!(text.starts_with("2005-"), "{}", &text[..40]);
    text
}

fn samples_dir() -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample-pcaps")).to_path_buf()
}

/// `op25b report` of the before sample capture with `log`, into `out`.
fn report_with_relay_log(log: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    let arg = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let samples = samples_dir();
    run(&[
        "report",
        "--config",
        &arg(&samples.join("isp.toml")),
        "--before",
        &arg(&samples.join("before.pcap.gz")),
        "--relay-log",
        &arg(log),
        "--bootstrap",
        "0",
        "-o",
        &arg(out),
    ])
}

/// A relays' log that covers none of the inputs' time (here a year late) is
/// said to be unused, on stderr and in the report, rather than silently
/// replaced by the submissions.
#[test]
fn a_relay_log_outside_the_inputs_is_said_unused() {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_relay_log();
    let late = dir.path().join("late-maillog");
    std::fs::write(
        &late,
        text.replace("\n2005-", "\n2006-")
            .replacen("2005-", "2006-", 1),
    )
    .unwrap();
    const SAID: &str = "traces no delivery in the before input's span";
    let o = report_with_relay_log(&late, &dir.path().join("late"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(SAID), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.path().join("late/report.md")).unwrap();
    assert!(
        md.contains("traces no delivery to the hosts of the before input's span"),
        "{md}"
    );
    let o = report_with_relay_log(
        &samples_dir().join("before-maillog.gz"),
        &dir.path().join("right"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains(SAID), "{}", stderr(&o));
}

/// A log put out of time order (a block of lines moved later, as a careless
/// merge does) loses deliveries' origins; the report says so with the
/// count summary.json holds, and says nothing for the log as written.
#[test]
fn a_relay_log_out_of_time_order_is_said_in_the_report() {
    const SAID: &str = "out of time order in places";
    let dir = tempfile::tempdir().unwrap();
    let text = sample_relay_log();
    let lines: Vec<&str> = text.lines().collect();
    let (head, rest) = lines.split_at(lines.len() / 3);
    let (moved, tail) = rest.split_at(rest.len() / 3);
    let shuffled: Vec<&str> = head.iter().chain(tail).chain(moved).copied().collect();
    let log = dir.path().join("shuffled-maillog");
    std::fs::write(&log, shuffled.join("\n") + "\n").unwrap();

    let o = report_with_relay_log(&log, &dir.path().join("shuffled"));
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.path().join("shuffled/report.md")).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("shuffled/summary.json")).unwrap(),
    )
    .unwrap();
    let back = json["relay_log"]["lines_back_in_time"].as_u64().unwrap();
    assert!(back > 0, "{json}");
    assert!(md.contains(SAID), "{md}");
    assert!(
        md.contains(&format!("{back} of its {} lines", lines.len())),
        "{md}"
    );

    let o = report_with_relay_log(
        &samples_dir().join("before-maillog.gz"),
        &dir.path().join("as-written"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.path().join("as-written/report.md")).unwrap();
    assert!(!md.contains(SAID), "{md}");
}

/// `[rank]` settings that aggregation itself reads reach it: a
/// `flow_mail_bytes` no flow's payload reaches leaves no flow session
/// carrying mail, where the default finds hundreds.
#[test]
fn rank_settings_read_while_aggregating_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let samples = samples_dir();
    let isp = std::fs::read_to_string(samples.join("isp.toml")).unwrap();
    assert!(!isp.contains("[rank]"), "{isp}");
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        format!("{isp}\n[rank]\nflow_mail_bytes = 100000000\n"),
    )
    .unwrap();
    let flows = samples.join("before-netflow5.pcap.gz");
    let mail_sessions = |config: &std::path::Path| -> u64 {
        let o = run(&[
            "rank",
            flows.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--format",
            "csv",
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = header.iter().position(|c| *c == "mail_sessions").unwrap();
        lines
            .map(|l| l.split(',').nth(col).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert!(mail_sessions(&samples.join("isp.toml")) > 100);
    assert_eq!(mail_sessions(&strict), 0);
}

/// An ingest that fails leaves no file behind, nor a half-written one over
/// an earlier output; one that succeeds leaves only its output. Its input
/// may even be its output.
#[test]
fn a_failed_ingest_leaves_no_output_behind() {
    let dir = tempfile::tempdir().unwrap();
    let sample = samples_dir().join("before.pcap.gz");
    let sample = sample.to_str().unwrap();
    let listing = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    for name in ["out.parquet", "out.csv"] {
        let out = dir.path().join(name);
        let out_s = out.to_str().unwrap();
        let missing = dir.path().join("missing.pcap");
        let o = run(&["ingest", missing.to_str().unwrap(), "-o", out_s]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));

        let o = run(&["ingest", sample, "-q", "-o", out_s]);
        assert!(o.status.success(), "{}", stderr(&o));
        let good = std::fs::read(&out).unwrap();
        assert_eq!(listing(dir.path()), [name]);
        let o = run(&["ingest", sample, missing.to_str().unwrap(), "-o", out_s]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            good,
            "{name}: the earlier output was overwritten"
        );
        assert_eq!(listing(dir.path()), [name]);

        // Read as input and written as output in one run.
        let o = run(&["ingest", out_s, "-q", "-o", out_s]);
        assert!(o.status.success(), "{}", stderr(&o));
        let again = run(&["ingest", out_s, "-q", "-o", "-"]);
        let first = run(&["ingest", sample, "-q", "-o", "-"]);
        assert_eq!(again.stdout, first.stdout, "{name}");
        std::fs::remove_file(&out).unwrap();
    }
    // What is not a regular file is written in place, never replaced: a
    // link stays a link (to the file it names), a fifo stays a fifo.
    let target = dir.path().join("target.csv");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = run(&["ingest", sample, "-q", "-o", link.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::metadata(&target).unwrap().len() > 1000);
    let fifo = dir.path().join("fifo.csv");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    let o = run(&["ingest", sample, "-q", "-o", fifo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reader.join().unwrap(), std::fs::read(&target).unwrap());
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

/// On a terminal the progress bar counts towards the inputs' size (it
/// showed a total of 0 B, full from the first frame); off one it is quiet.
#[test]
fn the_progress_bar_counts_towards_the_inputs_size() {
    let have_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_script {
        eprintln!("skipped: script (util-linux) not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let cmd = format!(
        "{} ingest {} --threads 1 -o {}",
        env!("CARGO_BIN_EXE_op25b"),
        samples_dir().join("before.pcap.gz").display(),
        out.display()
    );
    let o = std::process::Command::new("script")
        .args(["-qc", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let tty = String::from_utf8_lossy(&o.stdout);
    // "1.50 MiB/3.77 MiB": the total after the slash.
    let totals: Vec<&str> = tty
        .split("B/")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(!totals.is_empty(), "no progress bar drawn: {tty:?}");
    assert!(totals.iter().all(|t| *t != "0"), "a total of 0 B: {tty:?}");
    let plain = run(&[
        "ingest",
        samples_dir().join("before.pcap.gz").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!stderr(&plain).contains("B/"), "{}", stderr(&plain));
}

/// `-q` leaves out the summary, not the damage: a capture cut off in its
/// last record is still named on stderr, with its offset, by ingest, rank
/// and report.
#[test]
fn quiet_still_reports_damage() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(samples_dir().join("before.pcap.gz")).unwrap(),
    )
    .read_to_end(&mut bytes)
    .unwrap();
    bytes.truncate(bytes.len() - 20);
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes).unwrap();
    let cut = cut.to_str().unwrap();
    let out = dir.path().join("r");
    let isp = samples_dir().join("isp.toml");
    for args in [
        vec!["ingest", cut, "-q", "-o", "-"],
        vec!["rank", cut, "-q", "--top", "1"],
        vec![
            "report",
            "--before",
            cut,
            "--config",
            isp.to_str().unwrap(),
            "--bootstrap",
            "0",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ],
    ] {
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("cut.pcap: at byte offset"), "{args:?}: {e}");
        assert!(e.contains("truncated last record"), "{args:?}: {e}");
        assert!(
            !e.contains("session records"),
            "{args:?}: the summary was printed: {e}"
        );
    }
    // The report carries its inputs' accounting, damage included.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let line = md
        .lines()
        .find(|l| l.contains("before read:"))
        .unwrap_or_default();
    assert!(
        line.contains("session_records=") && line.contains("packets="),
        "{md}"
    );
    assert!(line.contains("damaged_places=1"), "{line}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let damage = json["input_accounting"][0]["damage"][0]
        .as_str()
        .unwrap_or_default();
    assert!(damage.contains("cut.pcap: at byte offset"), "{json}");
}

/// In a directory, files that are not captures, flow exports or session
/// files (a README, isp.toml) are skipped and listed, on stderr with `-q`
/// too; a directory with none of those is an error naming them; a file
/// named on its own must be readable (`unrecognised_input_exits_1_naming_the_file`).
#[test]
fn a_directorys_other_files_are_skipped_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("README.md"), "# notes\n").unwrap();
    std::fs::copy(samples_dir().join("isp.toml"), d.join("isp.toml")).unwrap();
    let only_others = run(&["rank", d.to_str().unwrap()]);
    assert_eq!(only_others.status.code(), Some(1));
    let e = stderr(&only_others);
    assert!(
        e.contains("README.md") && e.contains("isp.toml") && e.contains("none of them"),
        "{e}"
    );

    std::fs::copy(
        samples_dir().join("before.pcap.gz"),
        d.join("before.pcap.gz"),
    )
    .unwrap();
    let alone = run(&[
        "rank",
        samples_dir().join("before.pcap.gz").to_str().unwrap(),
        "--format",
        "csv",
    ]);
    for quiet in [false, true] {
        let mut args = vec!["rank", d.to_str().unwrap(), "--format", "csv"];
        if quiet {
            args.push("-q");
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(o.stdout, alone.stdout);
        let e = stderr(&o);
        assert!(
            e.contains("skipped 2 file(s)") && e.contains("README.md") && e.contains("isp.toml"),
            "{e}"
        );
    }
}

/// Traffic none of whose clients is inside the internal space (here the
/// samples without their isp.toml: the defaults are private ranges) ranks
/// every client, and says so on stderr and in the report.
#[test]
fn traffic_from_outside_the_network_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let sample = samples_dir().join("before.pcap.gz");
    let o = run(&["rank", sample.to_str().unwrap(), "-q", "--top", "1"]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("no client is inside the internal address space"),
        "{}",
        stderr(&o)
    );
    let out = dir.path().join("r");
    let o = run(&[
        "report",
        "--before",
        sample.to_str().unwrap(),
        "--bootstrap",
        "0",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("No client of the before input is inside"),
        "{md}"
    );
    // With the network described, neither.
    let isp = samples_dir().join("isp.toml");
    let o = run(&[
        "rank",
        sample.to_str().unwrap(),
        "-q",
        "--top",
        "1",
        "--config",
        isp.to_str().unwrap(),
    ]);
    assert!(
        !stderr(&o).contains("no client is inside"),
        "{}",
        stderr(&o)
    );
}

/// Ingest into the directory it reads: its earlier output there is not read
/// back as input (each run wrote the last one's sessions again: 813, 1625,
/// 2437 lines), and says so.
#[test]
fn an_earlier_output_in_an_input_directory_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(
        samples_dir().join("before.pcap.gz"),
        d.join("before.pcap.gz"),
    )
    .unwrap();
    let out = d.join("sessions.csv");
    let mut lines = Vec::new();
    for _ in 0..3 {
        let o = run(&["ingest", d.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        lines.push(std::fs::read_to_string(&out).unwrap().lines().count());
        if lines.len() > 1 {
            assert!(
                stderr(&o).contains("the output of this run"),
                "{}",
                stderr(&o)
            );
        }
    }
    assert!(
        lines.iter().all(|n| *n == lines[0]) && lines[0] > 500,
        "{lines:?}"
    );
    // Nothing else is left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["before.pcap.gz", "sessions.csv"]);
}

/// The output gets the mode a new file gets (0666 less the umask), or the
/// mode of the output it replaces: not the temporary file's 0600.
#[test]
fn the_output_keeps_an_ordinary_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let sample = samples_dir().join("before-netflow5.pcap.gz");
    let o = run(&[
        "ingest",
        sample.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "x").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&plain), "a new output");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = run(&[
        "ingest",
        sample.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&out), 0o640, "a replaced output");
}

/// A FIFO `input.pcap` made in `dir`.
fn fifo_in(dir: &std::path::Path) -> std::path::PathBuf {
    let fifo = dir.join("input.pcap");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    fifo
}

/// An `op25b ingest` of a FIFO nobody writes to, so that it waits in the
/// middle of its run, its partial output made (`wrap`: a bash command line
/// around it, `$0` the binary, `$1` the input, `$2` the output). Returns the
/// directory, the process and how many partial files the directory holds.
fn waiting_ingest(
    wrap: Option<&str>,
) -> (tempfile::TempDir, std::process::Child, impl Fn() -> usize) {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = fifo_in(tmp.path());
    let out = tmp.path().join("out.parquet");
    let mut cmd = match wrap {
        Some(line) => {
            let mut c = std::process::Command::new("bash");
            c.arg("-c").arg(line).arg(env!("CARGO_BIN_EXE_op25b"));
            c.arg(&fifo).arg(&out);
            c
        }
        None => {
            let mut c = common::op25b();
            c.arg("ingest").arg(&fifo).arg("-o").arg(&out);
            c
        }
    };
    let child = cmd.stderr(std::process::Stdio::null()).spawn().unwrap();
    let dir = tmp.path().to_path_buf();
    let partial = move || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("op25b-partial"))
            .count()
    };
    let waited = std::time::Instant::now();
    while partial() == 0 && waited.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(partial(), 1, "the partial file is made first");
    (tmp, child, partial)
}

fn send(signal: &str, child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

/// ^C or SIGTERM during an ingest removes its hidden partial output and
/// still ends the run as the signal does.
#[test]
fn an_interrupted_ingest_leaves_no_partial_file() {
    use std::os::unix::process::ExitStatusExt;
    for (signal, number) in [("INT", 2), ("TERM", 15)] {
        let (tmp, mut child, partial) = waiting_ingest(None);
        send(signal, &child);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "SIG{signal}: {status:?}");
        assert_eq!(partial(), 0, "SIG{signal}: the partial file is removed");
        assert!(
            !tmp.path().join("out.parquet").exists(),
            "SIG{signal}: no output"
        );
    }
}

/// A SIGINT the caller ignores (a script's background job, `trap '' INT`)
/// stays ignored: the run goes on; SIGTERM still ends it cleanly.
#[test]
fn an_ignored_sigint_stays_ignored() {
    use std::os::unix::process::ExitStatusExt;
    let wrap = "trap '' INT; exec \"$0\" ingest \"$1\" -o \"$2\"";
    let (_tmp, mut child, partial) = waiting_ingest(Some(wrap));
    send("INT", &child);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGINT was ignored by the caller"
    );
    assert_eq!(partial(), 1);
    send("TERM", &child);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
    assert_eq!(partial(), 0);
}

/// A pipe or FIFO as input is refused with its name: inputs are read more
/// than once (the first bytes tell the format), and from a pipe those
/// bytes were lost without a word (nfdump CSV through `<(cat ...)` gave
/// 3 566 of 3 600 flows).
#[test]
fn a_pipe_as_input_is_refused_not_read_in_part() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = fifo_in(tmp.path());
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // Blocks until ingest opens the FIFO; ingest may stop reading early.
        if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
            let _ = w.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
        }
    });
    let o = common::run(&["ingest", fifo.to_str().unwrap(), "-o", "-"]);
    writer.join().unwrap();
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("input.pcap: at byte offset 0: not a regular file"),
        "{err}"
    );
}

/// A FIFO found while walking a directory is skipped and listed, not
/// waited on: the captures beside it are read.
#[test]
fn a_fifo_in_an_input_directory_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let _fifo = fifo_in(tmp.path());
    let dir = common::synth("wakwak-2005", 9, 0.05, 1);
    std::fs::copy(dir.join("before.pcap"), tmp.path().join("a.pcap")).unwrap();
    let o = common::run(&["ingest", tmp.path().to_str().unwrap(), "-o", "-", "-q"]);
    let err = common::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("input.pcap"), "listed as skipped: {err}");
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 10);
}
