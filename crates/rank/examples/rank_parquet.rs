//! Benchmark driver: writes N synthetic session records as Parquet (the
//! schema of op25b-store: CONTRACT.md column names, µs UTC timestamps,
//! addresses as text), and ranks such a file, reading row groups in parallel.
//!
//! ```text
//! cargo run --release -p op25b-rank --example rank_parquet -- write 10000000 /var/tmp/sessions.parquet
//! cargo run --release -p op25b-rank --example rank_parquet -- rank /var/tmp/sessions.parquet
//! ```
//!
//! The network of the synthetic ISP: internal 10.0.0.0/8, dynamic pools
//! 10.0.0.0/9, relay 10.255.255.10. The population: a few thousand bots with
//! most of the attempts, some hundred business servers, and many subscribers
//! with a handful of submissions each.

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use op25b_core::{COLUMNS, IspConfig, Outcome, SessionRecord, Source};
use op25b_rank::{HostAggregator, RankConfig, Verdict, format_table};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

const ROW_GROUP: usize = 128 * 1024;
const T0: i64 = 1_109_635_200_000_000; // 2005-03-01T00:00:00Z
const DAY_US: i64 = 86_400_000_000;

pub const ISP_TOML: &str = "[network]\ninternal = [\"10.0.0.0/8\"]\ndynamic_pools = [\"10.0.0.0/9\"]\nmail_servers = [\"10.255.255.10\"]\n";

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") if args.len() >= 4 => {
            let n: u64 = args[2].parse()?;
            let seed: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(1);
            write(n, &args[3], seed)
        }
        Some("rank") if args.len() >= 3 => rank(&args[2]),
        _ => {
            eprintln!("usage: rank_parquet write N FILE [SEED] | rank FILE");
            std::process::exit(2);
        }
    }
}

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

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(*c, column_type(c), false))
            .collect::<Vec<_>>(),
    ))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn v4(a: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        a >> 24,
        (a >> 16) & 255,
        (a >> 8) & 255,
        a & 255
    )
}

/// One synthetic record. Kinds by share of records: bots 45%, business
/// servers 25%, relay 10%, subscribers 20%.
fn record(rng: &mut Rng) -> SessionRecord {
    let kind = rng.below(100);
    let start = T0 + rng.below(DAY_US as u64) as i64;
    let outside = |rng: &mut Rng| v4(0xC000_0000 | rng.below(1 << 24) as u32);
    let (client, server, port, outcome, helo) = if kind < 45 {
        let bot = rng.below(5_000) as u32;
        let client = v4(0x0A00_0000 | (bot * 97 % (1 << 23)));
        let outcome = match rng.below(10) {
            0..=4 => Outcome::NoAnswer,
            5 => Outcome::Reset,
            6..=8 => Outcome::Rejected,
            _ => Outcome::Delivered,
        };
        let helo = match bot % 3 {
            0 => format!("[{client}]"),
            1 => format!("{:x}", rng.next() & 0xffff_ffff),
            _ => String::new(),
        };
        (client, outside(rng), 25, outcome, helo)
    } else if kind < 70 {
        let biz = rng.below(300) as u32;
        let client = v4(0x0AC0_0000 | biz);
        let server = v4(0xC000_0000 | (rng.below(20_000) as u32 * 613));
        let outcome = if rng.chance(0.97) {
            Outcome::Delivered
        } else {
            Outcome::Rejected
        };
        (
            client,
            server,
            25,
            outcome,
            format!("mail{biz}.example.co.jp"),
        )
    } else if kind < 80 {
        let outcome = if rng.chance(0.9) {
            Outcome::Delivered
        } else {
            Outcome::Rejected
        };
        (
            "10.255.255.10".to_string(),
            outside(rng),
            25,
            outcome,
            "relay.isp.example.ne.jp".into(),
        )
    } else {
        let sub = rng.below(2_000_000) as u32;
        let client = v4(0x0A00_0000 | (sub % (1 << 23)));
        (
            "10.255.255.10".to_string().clone(),
            client.clone(),
            587,
            Outcome::Delivered,
            format!("PC-{sub}"),
        )
    };
    // Subscribers: swap so that the subscriber is the client, the relay the server.
    let (client, server) = if port == 587 {
        (server, client)
    } else {
        (client, server)
    };
    let mut r = SessionRecord::new(
        Source::Pcap,
        client
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        1024 + rng.below(60_000) as u16,
        server
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        port,
    );
    r.start = start;
    r.end = start + rng.below(30_000_000) as i64;
    r.outcome = outcome;
    r.helo = if outcome.is_failed() {
        String::new()
    } else {
        helo
    };
    r.flags_c2s = 0x02
        | if outcome == Outcome::NoAnswer {
            0
        } else {
            0x18
        };
    r.packets_c2s = 2 + rng.below(20);
    r.packets_s2c = if outcome == Outcome::NoAnswer {
        0
    } else {
        1 + rng.below(15)
    };
    r.bytes_c2s = r.packets_c2s * 80
        + if outcome == Outcome::Delivered {
            3000
        } else {
            0
        };
    r.bytes_s2c = r.packets_s2c * 70;
    r.greeting_code = if outcome.is_failed() { 0 } else { 220 };
    if outcome == Outcome::Delivered {
        r.transactions = 1;
        r.rcpt_accepted = 1 + rng.below(3) as u32;
        r.messages = 1;
    } else if outcome == Outcome::Rejected {
        r.transactions = 1;
        r.rcpt_rejected = 1 + rng.below(3) as u32;
    }
    r
}

fn to_batch(schema: &SchemaRef, rs: &[SessionRecord]) -> Result<RecordBatch, Error> {
    let ts = |f: fn(&SessionRecord) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rs.iter().map(f)).with_timezone("UTC"))
    };
    let text = |f: &dyn Fn(&SessionRecord) -> String| -> ArrayRef {
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
        text(&|r| r.client.to_string()),
        text(&|r| r.server.to_string()),
        u16s(|r| r.client_port),
        u16s(|r| r.server_port),
        text(&|r| r.source.as_str().to_string()),
        u64s(|r| r.packets_c2s),
        u64s(|r| r.packets_s2c),
        u64s(|r| r.bytes_c2s),
        u64s(|r| r.bytes_s2c),
        u8s(|r| r.flags_c2s),
        u8s(|r| r.flags_s2c),
        text(&|r| r.outcome.as_str().to_string()),
        text(&|r| r.helo.clone()),
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
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn write(n: u64, path: &str, seed: u64) -> Result<(), Error> {
    let t = Instant::now();
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let mut writer = ArrowWriter::try_new(File::create(path)?, schema.clone(), Some(props))?;
    let mut written = 0u64;
    let mut chunk_no = 0u64;
    while written < n {
        let len = (n - written).min(ROW_GROUP as u64 * 8);
        // Each chunk has its own generator so that chunks can be made in parallel.
        let base = chunk_no;
        let records: Vec<SessionRecord> = (0..len)
            .into_par_iter()
            .map(|i| {
                let mut rng = Rng(seed.wrapping_mul(0x1000_0000_01B3) ^ (base << 32) ^ i);
                record(&mut rng)
            })
            .collect();
        for chunk in records.chunks(ROW_GROUP) {
            writer.write(&to_batch(&schema, chunk)?)?;
        }
        written += len;
        chunk_no += 1;
    }
    writer.close()?;
    eprintln!(
        "wrote {n} records to {path} in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Decodes one Arrow batch into session records (fields the ranking reads).
fn records_of(batch: &RecordBatch) -> Result<Vec<SessionRecord>, Error> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))
    };
    let start = col("start")?.as_primitive::<TimestampMicrosecondType>();
    let end = col("end")?.as_primitive::<TimestampMicrosecondType>();
    let client = col("client")?.as_string::<i32>();
    let server = col("server")?.as_string::<i32>();
    let client_port = col("client_port")?.as_primitive::<UInt16Type>();
    let server_port = col("server_port")?.as_primitive::<UInt16Type>();
    let packets_c2s = col("packets_c2s")?.as_primitive::<UInt64Type>();
    let packets_s2c = col("packets_s2c")?.as_primitive::<UInt64Type>();
    let bytes_c2s = col("bytes_c2s")?.as_primitive::<UInt64Type>();
    let bytes_s2c = col("bytes_s2c")?.as_primitive::<UInt64Type>();
    let flags_c2s = col("flags_c2s")?.as_primitive::<UInt8Type>();
    let outcome = col("outcome")?.as_string::<i32>();
    let helo = col("helo")?.as_string::<i32>();
    let tls = col("tls")?.as_boolean();
    let auth = col("auth")?.as_boolean();
    let rcpt_accepted = col("rcpt_accepted")?.as_primitive::<UInt32Type>();
    let rcpt_rejected = col("rcpt_rejected")?.as_primitive::<UInt32Type>();
    let messages = col("messages")?.as_primitive::<UInt32Type>();
    let sampling = col("sampling")?.as_primitive::<UInt32Type>();
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut r = SessionRecord::new(
            Source::Pcap,
            client.value(i).parse()?,
            client_port.value(i),
            server.value(i).parse()?,
            server_port.value(i),
        );
        r.start = start.value(i);
        r.end = end.value(i);
        r.packets_c2s = packets_c2s.value(i);
        r.packets_s2c = packets_s2c.value(i);
        r.bytes_c2s = bytes_c2s.value(i);
        r.bytes_s2c = bytes_s2c.value(i);
        r.flags_c2s = flags_c2s.value(i);
        r.outcome = outcome.value(i).parse()?;
        r.helo = helo.value(i).to_string();
        r.tls = tls.value(i);
        r.auth = auth.value(i);
        r.rcpt_accepted = rcpt_accepted.value(i);
        r.rcpt_rejected = rcpt_rejected.value(i);
        r.messages = messages.value(i);
        r.sampling = sampling.value(i);
        out.push(r);
    }
    Ok(out)
}

fn rank(path: &str) -> Result<(), Error> {
    let t = Instant::now();
    let isp = IspConfig::parse_str(ISP_TOML)?;
    let cfg = RankConfig::from_isp(&isp)?;
    let groups = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?
        .metadata()
        .num_row_groups();
    // Waves of row groups, one per thread, are decoded in parallel; each
    // decoded batch then goes through `push_batch`, which aggregates it in
    // parallel across host shards. Decoding holds one wave in memory.
    let threads = rayon::current_num_threads().max(1);
    let mut agg = HostAggregator::new(&isp.network);
    let all: Vec<usize> = (0..groups).collect();
    for wave in all.chunks(threads) {
        let decoded: Vec<Result<Vec<SessionRecord>, String>> = wave
            .par_iter()
            .map(|&g| {
                let file = File::open(path).map_err(|e| e.to_string())?;
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| e.to_string())?
                    .with_row_groups(vec![g])
                    .with_batch_size(ROW_GROUP)
                    .build()
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for batch in reader {
                    let batch = batch.map_err(|e| e.to_string())?;
                    out.extend(records_of(&batch).map_err(|e| e.to_string())?);
                }
                Ok(out)
            })
            .collect();
        for records in decoded {
            agg.push_batch(&records?);
        }
    }
    let records = agg.records();
    let aggregated = t.elapsed().as_secs_f64();
    let ranking = agg.finish(&cfg);
    let total = t.elapsed().as_secs_f64();
    print!("{}", format_table(&ranking.hosts, 5));
    println!(
        "rust records={records} hosts={} zombies={} suspects={} relays={} aggregate_s={aggregated:.2} total_s={total:.2}",
        ranking.hosts.len(),
        ranking.count(Verdict::Zombie),
        ranking.count(Verdict::Suspect),
        ranking.count(Verdict::Relay),
    );
    Ok(())
}
