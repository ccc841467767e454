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

use op25b_core::{IspConfig, Outcome, SessionRecord, Source};
use op25b_rank::{HostAggregator, RankConfig, Verdict, format_table};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use std::fs::File;
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

fn write(n: u64, path: &str, seed: u64) -> Result<(), Error> {
    let t = Instant::now();
    let schema = op25b_store::schema();
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
            writer.write(&op25b_store::to_batch(&schema, chunk)?)?;
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
                    let first_row = out.len() as u64;
                    op25b_store::from_batch(&batch, first_row, &mut out)
                        .map_err(|(row, what)| format!("row group {g}, row {row}: {what}"))?;
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
