//! Session records as CSV: the contract's columns in order, then op25b's.

use crate::{ROW_GROUP, StoreError, io_err};
use op25b_core::time::{format_rfc3339_us, parse_rfc3339_us};
use op25b_core::{COLUMNS, InputError, SessionRecord};
use std::io::Write;
use std::path::Path;

pub(crate) struct CsvSink {
    w: csv::Writer<Box<dyn Write + Send>>,
}

impl CsvSink {
    pub(crate) fn new(w: Box<dyn Write + Send>) -> Self {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(w);
        // A header-write failure surfaces again on the first record write.
        let _ = w.write_record(COLUMNS);
        CsvSink { w }
    }

    pub(crate) fn write(&mut self, r: &SessionRecord) -> Result<(), StoreError> {
        let fields: [String; 24] = [
            format_rfc3339_us(r.start),
            format_rfc3339_us(r.end),
            r.client.to_string(),
            r.server.to_string(),
            r.client_port.to_string(),
            r.server_port.to_string(),
            r.source.as_str().to_string(),
            r.packets_c2s.to_string(),
            r.packets_s2c.to_string(),
            r.bytes_c2s.to_string(),
            r.bytes_s2c.to_string(),
            r.flags_c2s.to_string(),
            r.flags_s2c.to_string(),
            r.outcome.as_str().to_string(),
            r.helo.clone(),
            r.tls.to_string(),
            r.auth.to_string(),
            r.greeting_code.to_string(),
            r.transactions.to_string(),
            r.rcpt_accepted.to_string(),
            r.rcpt_rejected.to_string(),
            r.messages.to_string(),
            r.sampling.to_string(),
            r.gaps.to_string(),
        ];
        self.w.write_record(&fields).map_err(csv_to_io)?;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        self.w.flush()?;
        Ok(())
    }
}

fn csv_to_io(e: csv::Error) -> StoreError {
    StoreError::Io(std::io::Error::other(e.to_string()))
}

pub(crate) fn read(
    path: &Path,
    on_batch: &mut dyn FnMut(&[SessionRecord]),
) -> Result<u64, InputError> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let headers = rdr
        .headers()
        .map_err(|e| bad(path, 0, format!("header: {e}")))?
        .clone();
    // Columns by name, so files with extra (later) columns still read.
    let mut index = Vec::with_capacity(COLUMNS.len());
    for name in COLUMNS {
        let i = headers.iter().position(|h| h == *name);
        if i.is_none() && *name != "gaps" {
            return Err(bad(path, 0, format!("missing column {name:?}")));
        }
        index.push(i);
    }
    let mut batch = Vec::with_capacity(ROW_GROUP.min(8192));
    let mut total = 0u64;
    let mut row = csv::StringRecord::new();
    let mut line = 1u64;
    loop {
        // `line`: the line of the record being read (the header is line 1).
        line += 1;
        match rdr.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(bad(path, line, e.to_string())),
        }
        let rec = parse_row(&row, &index)
            .and_then(|r| crate::check_record(&r).map(|()| r))
            .map_err(|what| bad(path, line, what))?;
        batch.push(rec);
        if batch.len() == batch.capacity() {
            on_batch(&batch);
            total += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        on_batch(&batch);
        total += batch.len() as u64;
    }
    Ok(total)
}

fn bad(path: &Path, record: u64, what: String) -> InputError {
    InputError::BadRecord {
        path: path.to_path_buf(),
        record,
        what,
    }
}

fn parse_row(row: &csv::StringRecord, index: &[Option<usize>]) -> Result<SessionRecord, String> {
    let get = |col: usize| -> &str { index[col].and_then(|i| row.get(i)).unwrap_or("") };
    fn num<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
        s.trim().parse().map_err(|_| {
            format!(
                "column {name}: {s:?} is not a whole number of the column's range ({})",
                std::any::type_name::<T>()
            )
        })
    }
    fn flag(s: &str, name: &str) -> Result<bool, String> {
        match s.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            _ => Err(format!("column {name}: {s:?} is not true/false")),
        }
    }
    let time = |col: usize| -> Result<i64, String> {
        parse_rfc3339_us(get(col))
            .ok_or_else(|| format!("column {}: {:?} is not a timestamp", COLUMNS[col], get(col)))
    };
    let ip = |col: usize| -> Result<std::net::IpAddr, String> {
        get(col).trim().parse().map_err(|_| {
            format!(
                "column {}: {:?} is not an IP address",
                COLUMNS[col],
                get(col)
            )
        })
    };
    let c = COLUMNS;
    Ok(SessionRecord {
        start: time(0)?,
        end: time(1)?,
        client: ip(2)?,
        server: ip(3)?,
        client_port: num(get(4), c[4])?,
        server_port: num(get(5), c[5])?,
        source: get(6).parse()?,
        packets_c2s: num(get(7), c[7])?,
        packets_s2c: num(get(8), c[8])?,
        bytes_c2s: num(get(9), c[9])?,
        bytes_s2c: num(get(10), c[10])?,
        flags_c2s: num(get(11), c[11])?,
        flags_s2c: num(get(12), c[12])?,
        outcome: get(13).parse()?,
        helo: get(14).to_string(),
        tls: flag(get(15), c[15])?,
        auth: flag(get(16), c[16])?,
        greeting_code: num(get(17), c[17])?,
        transactions: num(get(18), c[18])?,
        rcpt_accepted: num(get(19), c[19])?,
        rcpt_rejected: num(get(20), c[20])?,
        messages: num(get(21), c[21])?,
        sampling: num(get(22), c[22])?,
        gaps: flag(get(23), c[23])?,
    })
}
