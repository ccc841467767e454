//! Session records as Parquet through arrow-rs: one Arrow schema, row groups
//! of `ROW_GROUP` rows, zstd.

use crate::{ROW_GROUP, StoreError, io_err};
use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use op25b_core::{COLUMNS, InputError, SessionRecord};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

fn column_type(name: &str) -> DataType {
    match name {
        "start" | "end" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "client" | "server" | "source" | "outcome" | "helo" => DataType::Utf8,
        "client_port" | "server_port" | "greeting_code" => DataType::UInt16,
        "packets_c2s" | "packets_s2c" | "bytes_c2s" | "bytes_s2c" => DataType::UInt64,
        "flags_c2s" | "flags_s2c" => DataType::UInt8,
        "tls" | "auth" | "gaps" => DataType::Boolean,
        _ => DataType::UInt32,
    }
}

/// The Arrow schema of a session record, columns in contract order.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(*c, column_type(c), false))
            .collect::<Vec<_>>(),
    ))
}

pub(crate) struct ParquetSink {
    writer: ArrowWriter<Box<dyn Write + Send>>,
    schema: SchemaRef,
    pending: Vec<SessionRecord>,
}

fn perr(e: impl std::fmt::Display) -> StoreError {
    StoreError::Parquet(e.to_string())
}

impl ParquetSink {
    pub(crate) fn new(w: Box<dyn Write + Send>) -> Result<Self, StoreError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(perr)?))
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .build();
        let schema = schema();
        let writer = ArrowWriter::try_new(w, schema.clone(), Some(props)).map_err(perr)?;
        Ok(ParquetSink {
            writer,
            schema,
            pending: Vec::with_capacity(ROW_GROUP),
        })
    }

    pub(crate) fn write(&mut self, r: &SessionRecord) -> Result<(), StoreError> {
        self.pending.push(r.clone());
        if self.pending.len() >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.schema, &self.pending)?;
        self.writer.write(&batch).map_err(perr)?;
        self.pending.clear();
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.writer.close().map_err(perr)?;
        Ok(())
    }
}

/// Session records as one Arrow batch of `schema` ([`schema()`]).
pub fn to_batch(schema: &SchemaRef, rs: &[SessionRecord]) -> Result<RecordBatch, StoreError> {
    let ts = |f: fn(&SessionRecord) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rs.iter().map(f)).with_timezone("UTC"))
    };
    let text = |f: fn(&SessionRecord) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rs.iter().map(f)))
    };
    let u16s = |f: fn(&SessionRecord) -> u16| -> ArrayRef {
        Arc::new(UInt16Array::from_iter_values(rs.iter().map(f)))
    };
    let u64s = |f: fn(&SessionRecord) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(f)))
    };
    let u8s = |f: fn(&SessionRecord) -> u8| -> ArrayRef {
        Arc::new(UInt8Array::from_iter_values(rs.iter().map(f)))
    };
    let u32s = |f: fn(&SessionRecord) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(rs.iter().map(f)))
    };
    let bools = |f: fn(&SessionRecord) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rs.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        ts(|r| r.start),
        ts(|r| r.end),
        text(|r| r.client.to_string()),
        text(|r| r.server.to_string()),
        u16s(|r| r.client_port),
        u16s(|r| r.server_port),
        text(|r| r.source.as_str().to_string()),
        u64s(|r| r.packets_c2s),
        u64s(|r| r.packets_s2c),
        u64s(|r| r.bytes_c2s),
        u64s(|r| r.bytes_s2c),
        u8s(|r| r.flags_c2s),
        u8s(|r| r.flags_s2c),
        text(|r| r.outcome.as_str().to_string()),
        text(|r| r.helo.clone()),
        bools(|r| r.tls),
        bools(|r| r.auth),
        u16s(|r| r.greeting_code),
        u32s(|r| r.transactions),
        u32s(|r| r.rcpt_accepted),
        u32s(|r| r.rcpt_rejected),
        u32s(|r| r.messages),
        u32s(|r| r.sampling),
        bools(|r| r.gaps),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(perr)
}

pub(crate) fn read(
    path: &Path,
    on_batch: &mut dyn FnMut(&[SessionRecord]),
) -> Result<u64, InputError> {
    let bad = |what: String| InputError::Unsupported {
        path: path.to_path_buf(),
        what,
    };
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?
        .with_batch_size(ROW_GROUP)
        .build()
        .map_err(|e| bad(format!("parquet: {e}")))?;
    let mut total = 0u64;
    let mut out = Vec::new();
    for (i, batch) in reader.enumerate() {
        let batch = batch.map_err(|e| bad(format!("batch {i}: {e}")))?;
        out.clear();
        from_batch(&batch, total, &mut out).map_err(|(record, what)| InputError::BadRecord {
            path: path.to_path_buf(),
            record,
            what,
        })?;
        total += out.len() as u64;
        on_batch(&out);
    }
    Ok(total)
}

/// Appends the records of one Arrow batch to `out`, the batch's first row
/// being row `first_row` of its file. Errors carry the row number in the
/// file (0-based) and what was wrong.
pub fn from_batch(
    b: &RecordBatch,
    first_row: u64,
    out: &mut Vec<SessionRecord>,
) -> Result<(), (u64, String)> {
    let col = |name: &str| {
        b.column_by_name(name)
            .ok_or_else(|| (first_row, format!("missing column {name:?}")))
    };
    let wrong = |name: &str| (first_row, format!("column {name:?} has an unexpected type"));
    macro_rules! prim {
        ($name:literal, $t:ty) => {
            col($name)?
                .as_primitive_opt::<$t>()
                .ok_or_else(|| wrong($name))?
        };
    }
    macro_rules! text {
        ($name:literal) => {
            col($name)?
                .as_string_opt::<i32>()
                .ok_or_else(|| wrong($name))?
        };
    }
    macro_rules! flag {
        ($name:literal) => {
            col($name)?.as_boolean_opt().ok_or_else(|| wrong($name))?
        };
    }
    let start = prim!("start", TimestampMicrosecondType);
    let end = prim!("end", TimestampMicrosecondType);
    let client = text!("client");
    let server = text!("server");
    let client_port = prim!("client_port", UInt16Type);
    let server_port = prim!("server_port", UInt16Type);
    let source = text!("source");
    let packets_c2s = prim!("packets_c2s", UInt64Type);
    let packets_s2c = prim!("packets_s2c", UInt64Type);
    let bytes_c2s = prim!("bytes_c2s", UInt64Type);
    let bytes_s2c = prim!("bytes_s2c", UInt64Type);
    let flags_c2s = prim!("flags_c2s", UInt8Type);
    let flags_s2c = prim!("flags_s2c", UInt8Type);
    let outcome = text!("outcome");
    let helo = text!("helo");
    let tls = flag!("tls");
    let auth = flag!("auth");
    let greeting_code = prim!("greeting_code", UInt16Type);
    let transactions = prim!("transactions", UInt32Type);
    let rcpt_accepted = prim!("rcpt_accepted", UInt32Type);
    let rcpt_rejected = prim!("rcpt_rejected", UInt32Type);
    let messages = prim!("messages", UInt32Type);
    let sampling = prim!("sampling", UInt32Type);
    let gaps = b.column_by_name("gaps").and_then(|c| c.as_boolean_opt());
    // A file another tool wrote may leave cells empty (null), which
    // `value` would read as 0, 1970 or "". An empty HELO or gaps cell means
    // not seen, as in the CSV; any other is an error naming the row.
    let required: [(&str, &dyn Array); 22] = [
        ("start", start),
        ("end", end),
        ("client", client),
        ("server", server),
        ("client_port", client_port),
        ("server_port", server_port),
        ("source", source),
        ("packets_c2s", packets_c2s),
        ("packets_s2c", packets_s2c),
        ("bytes_c2s", bytes_c2s),
        ("bytes_s2c", bytes_s2c),
        ("flags_c2s", flags_c2s),
        ("flags_s2c", flags_s2c),
        ("outcome", outcome),
        ("tls", tls),
        ("auth", auth),
        ("greeting_code", greeting_code),
        ("transactions", transactions),
        ("rcpt_accepted", rcpt_accepted),
        ("rcpt_rejected", rcpt_rejected),
        ("messages", messages),
        ("sampling", sampling),
    ];
    for (name, a) in required {
        if a.null_count() > 0
            && let Some(i) = (0..a.len()).find(|&i| a.is_null(i))
        {
            return Err((
                first_row + i as u64,
                format!("column {name} is empty (null)"),
            ));
        }
    }
    out.reserve(b.num_rows());
    for i in 0..b.num_rows() {
        let row = first_row + i as u64;
        let ip = |a: &arrow_array::StringArray, name: &str| {
            a.value(i).parse().map_err(|_| {
                (
                    row,
                    format!("column {name}: {:?} is not an IP address", a.value(i)),
                )
            })
        };
        out.push(SessionRecord {
            start: start.value(i),
            end: end.value(i),
            client: ip(client, "client")?,
            server: ip(server, "server")?,
            client_port: client_port.value(i),
            server_port: server_port.value(i),
            source: source.value(i).parse().map_err(|e| (row, e))?,
            packets_c2s: packets_c2s.value(i),
            packets_s2c: packets_s2c.value(i),
            bytes_c2s: bytes_c2s.value(i),
            bytes_s2c: bytes_s2c.value(i),
            flags_c2s: flags_c2s.value(i),
            flags_s2c: flags_s2c.value(i),
            outcome: outcome.value(i).parse().map_err(|e| (row, e))?,
            helo: if helo.is_null(i) {
                String::new()
            } else {
                helo.value(i).to_string()
            },
            tls: tls.value(i),
            auth: auth.value(i),
            greeting_code: greeting_code.value(i),
            transactions: transactions.value(i),
            rcpt_accepted: rcpt_accepted.value(i),
            rcpt_rejected: rcpt_rejected.value(i),
            messages: messages.value(i),
            sampling: sampling.value(i),
            gaps: gaps.is_some_and(|g| g.is_valid(i) && g.value(i)),
        });
        if let Some(r) = out.last() {
            crate::check_record(r).map_err(|what| (row, what))?;
        }
    }
    Ok(())
}
