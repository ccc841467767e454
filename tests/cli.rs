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
