//! Records written to Parquet and CSV read back identical, including the
//! awkward cases (IPv6, a HELO with commas and quotes, extreme counters).

use op25b_core::{Outcome, SessionRecord, Source};
use op25b_store::{SessionWriter, StoredFormat, detect, read_sessions};

fn sample(n: usize) -> Vec<SessionRecord> {
    (0..n)
        .map(|i| {
            let mut r = SessionRecord::new(
                Source::ALL[i % Source::ALL.len()],
                if i % 3 == 0 {
                    format!("2001:db8::{:x}:{:x}", i >> 16, (i & 0xfff) + 1)
                        .parse()
                        .unwrap()
                } else {
                    format!("198.18.{}.{}", (i / 250) % 250, i % 250 + 1)
                        .parse()
                        .unwrap()
                },
                (1024 + i % 60000) as u16,
                "203.0.113.25".parse().unwrap(),
                [25u16, 587, 465][i % 3],
            );
            r.start = 1_109_635_200_000_000 + i as i64 * 1_234_567;
            r.end = r.start + 999_999;
            r.packets_c2s = i as u64;
            r.bytes_c2s = u64::MAX - i as u64;
            r.flags_s2c = 0x12;
            r.outcome = Outcome::ALL[i % Outcome::ALL.len()];
            r.helo = match i % 4 {
                0 => String::new(),
                1 => "[0.0.0.0]".into(),
                2 => "a,b \"quoted\"\nnewline".into(),
                _ => "mail.example.com".into(),
            };
            r.tls = i % 2 == 0;
            r.auth = i % 5 == 0;
            r.greeting_code = 220;
            r.messages = u32::MAX - i as u32;
            r.sampling = 1 + (i % 3) as u32 * 99;
            r.gaps = i % 7 == 0;
            r
        })
        .collect()
}

fn round_trip(ext: &str, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("s.{ext}"));
    let records = sample(n);
    let mut w = SessionWriter::create(&path).unwrap();
    for r in &records {
        w.write(r).unwrap();
    }
    assert_eq!(w.finish().unwrap(), n as u64);
    let head = std::fs::read(&path).unwrap();
    let expected = if ext == "parquet" {
        StoredFormat::Parquet
    } else {
        StoredFormat::Csv
    };
    assert_eq!(detect(&head[..head.len().min(64)]), Some(expected));
    let mut back = Vec::new();
    let rows = read_sessions(&path, &mut |r| back.push(r)).unwrap();
    assert_eq!(rows, n as u64);
    assert_eq!(back, records);
}

#[test]
fn parquet_round_trip_across_row_groups() {
    round_trip("parquet", op25b_store::ROW_GROUP + 17);
}

#[test]
fn csv_round_trip() {
    round_trip("csv", 1000);
}

#[test]
fn empty_outputs_read_back_empty() {
    round_trip("parquet", 0);
    round_trip("csv", 0);
}

#[test]
fn damaged_csv_names_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let mut w = SessionWriter::create(&path).unwrap();
    for r in sample(3) {
        w.write(&r).unwrap();
    }
    w.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("203.0.113.25", "not-an-ip", 2)).unwrap();
    let err = read_sessions(&path, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("bad.csv") && err.contains("record 2") && err.contains("not-an-ip"),
        "{err}"
    );
}

#[test]
fn truncated_parquet_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.parquet");
    let mut w = SessionWriter::create(&path).unwrap();
    for r in sample(5000) {
        w.write(&r).unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_sessions(&path, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("cut.parquet"), "{err}");
}

/// Parquet from another tool: every column nullable. An empty HELO (or gaps)
/// cell reads as not seen; any other empty cell, or a time outside the years
/// 0000-9999, is an error naming the file, the row and the column.
#[test]
fn empty_parquet_cells_and_impossible_times() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;
    use std::sync::Arc;

    let records = sample(3);
    let schema = op25b_store::schema();
    let batch = op25b_store::to_batch(&schema, &records).unwrap();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let nullable = Arc::new(Schema::new(fields));
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, column: &str, replacement: ArrayRef| {
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                if f.name() == column {
                    replacement.clone()
                } else {
                    c.clone()
                }
            })
            .collect();
        let b = RecordBatch::try_new(nullable.clone(), columns).unwrap();
        let path = dir.path().join(name);
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            nullable.clone(),
            None,
        )
        .unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        path
    };
    let read = |path: &std::path::Path| {
        let mut got = Vec::new();
        read_sessions(path, &mut |r| got.push(r)).map(|_| got)
    };

    let helo = [
        Some(records[0].helo.as_str()),
        None,
        Some(records[2].helo.as_str()),
    ];
    let got = read(&write(
        "helo.parquet",
        "helo",
        Arc::new(StringArray::from(helo.to_vec())),
    ))
    .unwrap();
    let mut want = records.clone();
    want[1].helo.clear();
    assert_eq!(got, want);

    let packets = UInt64Array::from(vec![Some(1), None, Some(3)]);
    let err = read(&write("null.parquet", "packets_c2s", Arc::new(packets)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("null.parquet") && err.contains("record 1: column packets_c2s is empty"),
        "{err}"
    );

    let starts =
        TimestampMicrosecondArray::from(vec![records[0].start, i64::MAX, records[2].start])
            .with_timezone("UTC");
    let err = read(&write("year.parquet", "start", Arc::new(starts)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("year.parquet")
            && err.contains("record 1: column start")
            && err.contains("0000-9999"),
        "{err}"
    );
}

/// A CSV saved again by a spreadsheet (UTF-8 byte order mark first) reads
/// as before; a record whose end is before its start, or with sampling 0,
/// is an error naming its line, as is a number too large for its column.
#[test]
fn spreadsheet_csv_and_impossible_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.csv");
    let records = sample(3);
    let mut w = SessionWriter::create(&path).unwrap();
    for r in &records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let with_bom = dir.path().join("bom.csv");
    std::fs::write(&with_bom, format!("\u{feff}{text}")).unwrap();
    assert_eq!(
        detect(&std::fs::read(&with_bom).unwrap()),
        Some(StoredFormat::Csv)
    );
    let mut got = Vec::new();
    read_sessions(&with_bom, &mut |r| got.push(r)).unwrap();
    assert_eq!(got, records);

    let lines: Vec<String> = text.lines().map(String::from).collect();
    let cells = |line: &str| line.split(',').map(String::from).collect::<Vec<_>>();
    let edit = |name: &str, line: usize, column: usize, value: &str| {
        let mut l = lines.clone();
        let mut c = cells(&l[line]);
        c[column] = value.into();
        l[line] = c.join(",");
        let p = dir.path().join(name);
        std::fs::write(&p, l.join("\n") + "\n").unwrap();
        read_sessions(&p, &mut |_| {}).unwrap_err().to_string()
    };
    // Line 3 (the second record): its end a year before its start.
    let e = edit("end.csv", 2, 1, "2004-03-01T00:00:00.000000Z");
    assert!(
        e.contains("end.csv: record 3: end 2004-03-01") && e.contains("before start"),
        "{e}"
    );
    let e = edit("sampling.csv", 1, 22, "0");
    assert!(e.contains("record 2: column sampling: 0"), "{e}");
    let e = edit("port.csv", 1, 5, "70000");
    assert!(
        e.contains("record 2: column server_port: \"70000\"") && e.contains("u16"),
        "{e}"
    );
}
