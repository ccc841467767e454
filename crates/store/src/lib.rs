//! Sinks and sources for [`SessionRecord`]s at rest: Parquet and CSV.
//!
//! Parquet is written with arrow-rs in row groups of [`ROW_GROUP`] rows, zstd
//! compressed, so a writer holds one row group at most whatever the input size;
//! reading goes batch by batch for the same reason. CSV follows the same
//! column order ([`op25b_core::COLUMNS`]), timestamps as RFC 3339 UTC with
//! microseconds.

mod csv_io;
mod parquet_io;

use op25b_core::{InputError, SessionRecord};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use parquet_io::{from_batch, schema, to_batch};

/// Rows per Parquet row group and per batch handed to readers' callbacks.
pub const ROW_GROUP: usize = 128 * 1024;

/// What a stored file holds, told from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredFormat {
    Parquet,
    Csv,
}

/// Recognises Parquet (`PAR1`) and the CSV `ingest` writes (its header line).
pub fn detect(head: &[u8]) -> Option<StoredFormat> {
    if head.starts_with(b"PAR1") {
        return Some(StoredFormat::Parquet);
    }
    // A spreadsheet that saved the CSV again may have put a UTF-8 byte order mark first.
    let text = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    let header = op25b_core::COLUMNS[..4].join(",");
    if text.starts_with(header.as_bytes()) {
        return Some(StoredFormat::Csv);
    }
    None
}

const UTF8_BOM: &[u8] = &[0xef, 0xbb, 0xbf];

/// What a stored record must hold beyond its columns' types (what op25b
/// writes always does): times within the years 0000-9999 (a CSV's are, by
/// parsing; a Parquet file's are numbers), an end not before its start, a
/// sampling interval of at least 1.
pub(crate) fn check_record(r: &SessionRecord) -> Result<(), String> {
    for (name, t) in [("start", r.start), ("end", r.end)] {
        if !op25b_core::time::representable(t) {
            return Err(format!(
                "column {name}: {t} µs is outside the years 0000-9999"
            ));
        }
    }
    if r.end < r.start {
        return Err(format!(
            "end {} is before start {}",
            op25b_core::time::format_rfc3339_us(r.end),
            op25b_core::time::format_rfc3339_us(r.start)
        ));
    }
    if r.sampling == 0 {
        return Err("column sampling: 0, where 1 means unsampled".into());
    }
    Ok(())
}

#[derive(Debug)]
pub enum StoreError {
    Io(std::io::Error),
    Parquet(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "{e}"),
            StoreError::Parquet(e) => write!(f, "parquet: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

enum Sink {
    Parquet(parquet_io::ParquetSink),
    Csv(csv_io::CsvSink),
}

/// Writes session records to Parquet or CSV, streaming.
pub struct SessionWriter {
    sink: Sink,
    rows: u64,
}

impl SessionWriter {
    /// By the path: `*.parquet` writes Parquet, `-` writes CSV to stdout,
    /// anything else (normally `*.csv`) writes CSV.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        if path == Path::new("-") {
            return Ok(Self::csv(Box::new(BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            ))));
        }
        let file = File::create(path)?;
        let is_parquet = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        if is_parquet {
            Self::parquet(file)
        } else {
            Ok(Self::csv(Box::new(BufWriter::with_capacity(1 << 20, file))))
        }
    }

    pub fn parquet<W: Write + Send + 'static>(w: W) -> Result<Self, StoreError> {
        Ok(SessionWriter {
            sink: Sink::Parquet(parquet_io::ParquetSink::new(Box::new(w))?),
            rows: 0,
        })
    }

    pub fn csv(w: Box<dyn Write + Send>) -> Self {
        SessionWriter {
            sink: Sink::Csv(csv_io::CsvSink::new(w)),
            rows: 0,
        }
    }

    pub fn write(&mut self, r: &SessionRecord) -> Result<(), StoreError> {
        self.rows += 1;
        match &mut self.sink {
            Sink::Parquet(s) => s.write(r),
            Sink::Csv(s) => s.write(r),
        }
    }

    /// Flushes and closes; returns the number of rows written.
    pub fn finish(self) -> Result<u64, StoreError> {
        match self.sink {
            Sink::Parquet(s) => s.finish()?,
            Sink::Csv(s) => s.finish()?,
        }
        Ok(self.rows)
    }
}

/// Reads a stored file (Parquet or CSV, told from its content) batch by
/// batch. Returns the number of rows read.
pub fn read_batches(
    path: &Path,
    on_batch: &mut dyn FnMut(&[SessionRecord]),
) -> Result<u64, InputError> {
    let mut head = [0u8; 64];
    let n = {
        use std::io::Read;
        let mut f = File::open(path).map_err(|source| io_err(path, source))?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(source) => return Err(io_err(path, source)),
            }
        }
        n
    };
    match detect(&head[..n]) {
        Some(StoredFormat::Parquet) => parquet_io::read(path, on_batch),
        Some(StoredFormat::Csv) => csv_io::read(path, on_batch),
        None => Err(InputError::Unsupported {
            path: path.to_path_buf(),
            what: "neither Parquet nor op25b session CSV".into(),
        }),
    }
}

/// Reads every record of a stored file, one at a time.
pub fn read_sessions(
    path: &Path,
    on_record: &mut dyn FnMut(SessionRecord),
) -> Result<u64, InputError> {
    read_batches(path, &mut |batch| {
        for r in batch {
            on_record(r.clone());
        }
    })
}

fn io_err(path: &Path, source: std::io::Error) -> InputError {
    InputError::Io {
        path: PathBuf::from(path),
        source,
    }
}
