//! Builders for hand-made rankings shared by the integration tests.
#![allow(dead_code)]

use op25b_core::{IspConfig, Network};
use op25b_rank::{HostFeatures, HostRank, RankConfig, Ranking, Verdict};
use op25b_report::{ReportInput, SplitMix64};
use std::net::{IpAddr, Ipv4Addr};

pub const HOUR_US: i64 = 3_600_000_000;
/// 2005-03-01 00:00:00 UTC.
pub const T0: i64 = 1_109_635_200_000_000;

pub fn network() -> Network {
    IspConfig::parse_str(
        "[network]\ninternal = [\"198.18.0.0/15\"]\ndynamic_pools = [\"198.18.0.0/17\"]\n\
         mail_servers = [\"198.19.255.10\"]\n",
    )
    .expect("test network parses")
    .network
}

/// A host 198.18.x.y numbered `n`, every count given dialogue by default.
pub fn host(n: u32, verdict: Verdict, score: f64, set: impl FnOnce(&mut HostFeatures)) -> HostRank {
    let mut f = HostFeatures {
        host: IpAddr::V4(Ipv4Addr::new(198, 18, (n >> 8) as u8, n as u8)),
        internal: true,
        dynamic: true,
        has_dialogue: true,
        ..HostFeatures::default()
    };
    set(&mut f);
    HostRank {
        rank: n,
        verdict,
        score,
        reasons: vec![format!("{}-reason", verdict.as_str())],
        features: f,
    }
}

pub fn ranking(hosts: Vec<HostRank>, start_us: i64, end_us: i64) -> Ranking {
    // One record per session of each host as client (what rank counts).
    let records = hosts.iter().map(|h| h.features.sessions).sum();
    Ranking {
        hosts,
        start_us,
        end_us,
        defaults_used: false,
        all_clients_ranked: false,
        records,
        sampled_records: 0,
        max_sampling: 1,
    }
}

pub fn input(before: Ranking, after: Option<Ranking>) -> ReportInput {
    ReportInput {
        network: network(),
        rank_cfg: RankConfig::default(),
        before,
        after,
        defaults_used: false,
        relay_log: None,
    }
}

/// Sets the outbound, blockable and submitted counts of a host, sessions
/// equal to messages (one message per session) unless changed after.
pub fn counts(f: &mut HostFeatures, outbound: u64, blockable: u64, submitted: u64) {
    f.outbound_sessions = outbound;
    f.outbound_mail_sessions = outbound;
    f.outbound_messages = outbound;
    f.blockable_sessions = blockable;
    f.blockable_mail_sessions = blockable;
    f.blockable_messages = blockable;
    f.submitted_sessions = submitted;
    f.submitted_messages = submitted;
    f.submitted_mail_sessions = submitted;
    f.sessions = outbound + submitted;
    f.direct25_sessions = outbound;
}

/// A random ISP-like population: `zombies` spam hosts (high fan-out, bursts,
/// everything blockable), `clean` customers (a few sending direct on port 25,
/// most submitting), and one relay carrying the submissions. Minutes of
/// activity spread over `hours` hours from `start`.
pub fn population(seed: u64, zombies: u32, clean: u32, start: i64, hours: i64) -> Ranking {
    let mut rng = SplitMix64::new(seed);
    let minutes = (hours * 60).max(1) as usize;
    let mut hosts = Vec::new();
    let mut relay_out = 0u64;
    let spread = |rng: &mut SplitMix64, total: u64, burst: bool| -> Vec<(i64, u32)> {
        let mut per: std::collections::BTreeMap<i64, u32> = Default::default();
        let centre = rng.below(minutes);
        for _ in 0..total {
            let m = if burst {
                (centre + rng.below(60)) % minutes
            } else {
                rng.below(minutes)
            };
            *per.entry(start + m as i64 * 60_000_000).or_default() += 1;
        }
        per.into_iter().collect()
    };
    for i in 0..zombies {
        let sessions = 50 + rng.below(400) as u64;
        let delivered = sessions * (20 + rng.below(40) as u64) / 100;
        let fanout = sessions * (30 + rng.below(60) as u64) / 100;
        let score = 6.5 + rng.unit_f64() * 8.0;
        let mut h = host(
            i + 1,
            Verdict::Zombie,
            (score * 100.0).round() / 100.0,
            |f| {
                counts(f, sessions, sessions, 0);
                f.outbound_mail_sessions = delivered;
                f.outbound_messages = delivered;
                f.blockable_mail_sessions = delivered;
                f.blockable_messages = delivered;
                f.fanout = fanout.max(1);
                f.fanout_prefixes = fanout.max(1);
            },
        );
        h.reasons = vec![
            format!("fanout={}", fanout.max(1)),
            "helo_ip_literal".into(),
            "dynamic_direct".into(),
        ];
        h.features.outbound_minutes = spread(&mut rng, sessions, true);
        hosts.push(h);
    }
    for i in 0..clean {
        let direct = rng.below(10) == 0;
        let n = zombies + i + 1;
        let msgs = 1 + rng.below(12) as u64;
        let score = rng.unit_f64() * 3.5;
        let verdict = if score >= 3.0 {
            Verdict::Suspect
        } else {
            Verdict::Clean
        };
        let mut h = host(n, verdict, (score * 100.0).round() / 100.0, |f| {
            if direct {
                counts(f, msgs, msgs, 0);
                f.fanout = 1 + rng.below(3) as u64;
                f.fanout_prefixes = f.fanout;
            } else {
                counts(f, 0, 0, msgs);
            }
        });
        if direct {
            h.features.outbound_minutes = spread(&mut rng, msgs, false);
        } else {
            relay_out += msgs;
        }
        h.reasons = vec![if direct {
            "dynamic_direct".into()
        } else {
            "legit_mta".into()
        }];
        hosts.push(h);
    }
    let relay_n = zombies + clean + 1;
    let mut relay = host(relay_n, Verdict::Relay, 0.0, |f| {
        counts(f, relay_out, 0, 0);
        f.host = IpAddr::V4(Ipv4Addr::new(198, 19, 255, 10));
        f.dynamic = false;
        f.configured_relay = true;
        f.fanout = relay_out.min(400);
        f.fanout_prefixes = f.fanout;
    });
    relay.reasons = vec!["configured_relay".into()];
    relay.features.outbound_minutes = spread(&mut rng, relay_out, false);
    hosts.push(relay);
    hosts.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (i, h) in hosts.iter_mut().enumerate() {
        h.rank = i as u32 + 1;
    }
    ranking(hosts, start, start + hours * HOUR_US)
}

/// `OP25B_E2E_DUMP=DIR` keeps a seed's rankings (JSON lines, every host) and
/// truth.json under `DIR/<label>/` for a post-mortem; nothing without it.
pub fn dump_for_post_mortem(
    label: &str,
    before: &Ranking,
    after: &Ranking,
    truth: &std::path::Path,
) {
    let Some(dump) = std::env::var_os("OP25B_E2E_DUMP") else {
        return;
    };
    let dump = std::path::Path::new(&dump).join(label);
    std::fs::create_dir_all(&dump).expect("dump dir");
    for (name, r) in [("before", before), ("after", after)] {
        let file = std::fs::File::create(dump.join(format!("{name}.jsonl"))).expect("dump");
        op25b_rank::write_json_lines(std::io::BufWriter::new(file), &r.hosts).expect("dump");
    }
    std::fs::copy(truth, dump.join("truth.json")).expect("dump");
}

/// `OP25B_E2E_*` settings: the variable parsed, or the default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seeds a test runs: `count_var` of them (default `default_count`),
/// from `OP25B_E2E_FIRST_SEED` (default 1). Seeds 1-20 are the ones the
/// estimators were tuned on; a later first seed gives a held-out run.
pub fn seeds(count_var: &str, default_count: u64) -> std::ops::Range<u64> {
    let first: u64 = env_or("OP25B_E2E_FIRST_SEED", 1);
    first..first.saturating_add(env_or(count_var, default_count))
}

/// A number of truth.json (NaN where absent, so that a comparison fails).
pub fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// `x` inside the interval (with a hair of tolerance for rounding).
pub fn inside(ci: Option<[f64; 2]>, x: f64) -> bool {
    ci.is_some_and(|[lo, hi]| lo - 1e-9 <= x && x <= hi + 1e-9)
}

/// One wakwak-2005 seed, both phases ranked, ready for `estimate`; the ISP
/// mail servers' log read over both spans, for `input.relay_log`.
pub struct SynthSeed {
    pub input: ReportInput,
    pub truth: serde_json::Value,
    pub relay_log: op25b_report::relay_log::RelayLog,
}

/// Runs op25b-synth (`profile`) into a temporary directory and ranks its
/// `before_file` and `after_file` with `rank` (capture or flow path); keeps
/// the rankings for a post-mortem under `label` when `OP25B_E2E_DUMP` is set.
pub fn synth_seed(
    profile: &str,
    seed: u64,
    scale: f64,
    (before_file, after_file): (&str, &str),
    label: &str,
    rank: impl Fn(&std::path::Path, &IspConfig, &RankConfig) -> Ranking,
) -> SynthSeed {
    let dir = tempfile::tempdir().expect("tempdir");
    op25b_synth::run(&op25b_synth::SynthOptions {
        profile: profile.into(),
        out_dir: dir.path().to_path_buf(),
        seed,
        scale,
        sampling: 1,
    })
    .expect("synth runs");
    let cfg = IspConfig::load(&dir.path().join("isp.toml")).expect("isp.toml");
    let rank_cfg = RankConfig::from_isp(&cfg).expect("[rank]");
    let before = rank(&dir.path().join(before_file), &cfg, &rank_cfg);
    let after = rank(&dir.path().join(after_file), &cfg, &rank_cfg);
    let truth_path = dir.path().join("truth.json");
    let truth = serde_json::from_str(&std::fs::read_to_string(&truth_path).expect("truth.json"))
        .expect("truth.json parses");
    dump_for_post_mortem(label, &before, &after, &truth_path);
    let relay_log = op25b_report::relay_log::RelayLog::read(
        &[
            dir.path().join("before-maillog"),
            dir.path().join("after-maillog"),
        ],
        &cfg.network,
        0,
        &before,
        Some(&after),
    )
    .expect("the simulated ISP's mail log reads");
    SynthSeed {
        input: ReportInput {
            network: cfg.network.clone(),
            rank_cfg,
            before,
            after: Some(after),
            defaults_used: false,
            relay_log: None,
        },
        truth,
        relay_log,
    }
}

/// `estimate` of `input` as ranked, then again with the ISP mail servers'
/// log, which stays in `input`: (from the traffic alone, with the log).
pub fn estimate_without_and_with_log(
    input: &mut ReportInput,
    relay_log: op25b_report::relay_log::RelayLog,
    seed: u64,
) -> (op25b_report::Summary, op25b_report::Summary) {
    let alone = op25b_report::estimate(input, 400, seed);
    input.relay_log = Some(relay_log);
    (alone, op25b_report::estimate(input, 400, seed))
}

/// The report's collateral hosts (the rows of collateral.csv counted as
/// `collateral`: judged clean or relay, on `--before` and, where the address
/// is there, on `after`), and those of them that moved to submission after
/// the block.
pub fn collateral_and_moved(
    input: &ReportInput,
    after: Option<&Ranking>,
    unit: op25b_report::Unit,
) -> (Vec<String>, Vec<String>) {
    let csv = op25b_report::collateral_csv(&input.before, after, unit, &input.rank_cfg);
    let table = CsvTable::parse(&csv, op25b_report::COLLATERAL_CSV_COLUMNS);
    let (mut collateral, mut moved) = (Vec::new(), Vec::new());
    for [host, counted, conduct] in table.pick(["host", "counted_as", "after_the_block"]) {
        if counted == "collateral" {
            collateral.push(host.to_string());
            if conduct == "moved" {
                moved.push(host.to_string());
            }
        }
    }
    (collateral, moved)
}

/// Checks the report's moved collateral machines against truth.json's
/// collateral machines that sent mail after the block and made no attempt
/// the block stopped (they moved: to port 587/465 elsewhere, or to the
/// ISP's servers), among the
/// machines the report counted as collateral (`collateral`; whether those
/// are right is checked apart). `found` must be among them; a machine
/// missed must be dual-stack (the report follows addresses, and it may have
/// been blocked on one family and moved on the other). Returns whether the
/// two are equal, or the error.
pub fn check_moved(
    found: &std::collections::BTreeSet<String>,
    collateral: &std::collections::BTreeSet<String>,
    truth: &serde_json::Value,
) -> Result<bool, String> {
    let expected: std::collections::BTreeSet<String> = truth_moved(truth)
        .intersection(collateral)
        .cloned()
        .collect();
    let wrong: Vec<_> = found.difference(&expected).collect();
    if !wrong.is_empty() {
        return Err(format!("moved but not in truth: {wrong:?}"));
    }
    let dual_stack: std::collections::BTreeSet<&str> = truth["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["ip6"].is_string())
        .filter_map(|h| h["ip"].as_str())
        .collect();
    let missed: Vec<_> = expected
        .difference(found)
        .filter(|m| !dual_stack.contains(m.as_str()))
        .collect();
    if !missed.is_empty() {
        return Err(format!("moved machines missed: {missed:?}"));
    }
    Ok(found == &expected)
}

/// truth.json's collateral machines that sent mail after the block and made
/// no attempt the block stopped.
fn truth_moved(truth: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let active: std::collections::BTreeSet<&str> = truth["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| {
            h["after"]["smtp_sessions"].as_u64().unwrap_or(0) > 0
                && h["after"]["op25b_blocked_sessions"].as_u64().unwrap_or(0) == 0
        })
        .filter_map(|h| h["ip"].as_str())
        .collect();
    truth_collateral(truth)
        .into_iter()
        .filter(|m| active.contains(m.as_str()))
        .collect()
}

/// The machines (truth.json's IPv4 `ip`) behind a set of addresses: the
/// report counts addresses, truth.json machines, and a dual-stack customer
/// is one machine with two addresses.
pub fn machines(
    addresses: &[String],
    truth: &serde_json::Value,
) -> std::collections::BTreeSet<String> {
    let mut machine_of = std::collections::HashMap::new();
    for h in truth["hosts"].as_array().into_iter().flatten() {
        for key in ["ip", "ip6"] {
            if let Some(a) = h[key].as_str() {
                machine_of.insert(
                    a.to_string(),
                    h["ip"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    addresses
        .iter()
        .map(|a| {
            machine_of
                .get(a)
                .cloned()
                .unwrap_or_else(|| format!("unknown {a}"))
        })
        .collect()
}

/// truth.json's collateral machines.
pub fn truth_collateral(truth: &serde_json::Value) -> std::collections::BTreeSet<String> {
    truth["collateral_hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// The hosts blocked-after.csv counts as customers still trying port 25
/// after the block (rows counted as `collateral`). On the way, checks that
/// its rows add up to `summary`'s `after` keys, so that a test of the one is
/// a test of the other.
pub fn blocked_customers_after(
    input: &ReportInput,
    summary: &op25b_report::Summary,
) -> Vec<String> {
    let after = input.after.as_ref().expect("an after input");
    let measured = summary.after.as_ref().expect("after in the summary");
    let csv = op25b_report::blocked_after_csv(after, &input.before, &input.rank_cfg);
    let table = CsvTable::parse(&csv, op25b_report::BLOCKED_AFTER_CSV_COLUMNS);
    let n = |cell: &str| cell.parse::<u64>().expect("a count");
    let (mut rows, mut sessions, mut leaks) = (0u64, 0u64, 0u64);
    let (mut customers, mut customer_sessions) = (Vec::new(), 0u64);
    for [host, counted, blocked, leaked] in
        table.pick(["host", "counted_as", "blocked_sessions", "leaked_sessions"])
    {
        rows += 1;
        sessions += n(blocked);
        leaks += n(leaked);
        if counted == "collateral" {
            customers.push(host.to_string());
            customer_sessions += n(blocked);
        }
    }
    assert_eq!(
        (rows, sessions, leaks),
        (
            measured.blocked_hosts,
            measured.blocked_sessions,
            measured.leaked_sessions
        ),
        "blocked-after.csv against summary.json"
    );
    assert_eq!(
        (customers.len() as u64, customer_sessions),
        (measured.collateral_hosts, measured.collateral_sessions),
        "blocked-after.csv's collateral rows against summary.json"
    );
    customers
}

/// truth.json's machines that are not bots and made attempts the block
/// stopped after it: customers still trying port 25.
pub fn truth_blocked_customers_after(
    truth: &serde_json::Value,
) -> std::collections::BTreeSet<String> {
    truth["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| {
            h["zombie"] == serde_json::Value::Bool(false)
                && h["after"]["op25b_blocked_sessions"].as_u64().unwrap_or(0) > 0
        })
        .filter_map(|h| h["ip"].as_str().map(String::from))
        .collect()
}

/// A report CSV split into cells (no quoting: the report's CSVs of hosts
/// and counts have none), its header checked against `columns`.
pub struct CsvTable<'a> {
    pub header: Vec<&'a str>,
    pub rows: Vec<Vec<&'a str>>,
}

impl<'a> CsvTable<'a> {
    pub fn parse(csv: &'a str, columns: &[&str]) -> CsvTable<'a> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        assert_eq!(header, columns, "CSV header");
        CsvTable {
            header,
            rows: lines.map(|l| l.split(',').collect()).collect(),
        }
    }

    /// The index of column `name`.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// The cells of `names` in every row.
    pub fn pick<const N: usize>(&self, names: [&str; N]) -> Vec<[&'a str; N]> {
        let at = names.map(|n| self.col(n));
        self.rows.iter().map(|r| at.map(|i| r[i])).collect()
    }
}
