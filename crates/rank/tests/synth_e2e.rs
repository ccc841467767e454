//! End to end on simulated ISPs: op25b-synth writes a capture and its ground
//! truth, op25b-capture reads the capture into session records, and the
//! ranking is scored against truth.json.

use op25b_capture::{CaptureOptions, ingest};
use op25b_core::{IspConfig, SessionRecord};
use op25b_flow::{DecoderOptions, FlowDecoder, PairerOptions, SessionPairer};
use op25b_rank::{HostAggregator, RankConfig, Ranking, Verdict};
use op25b_synth::{SynthOptions, run};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

struct Outcome {
    ranking: Ranking,
    truth: Value,
}

fn simulate(profile: &str, seed: u64, scale: f64) -> Outcome {
    simulate_file(profile, seed, scale, "before.pcap")
}

/// Runs the simulation and ranks one of its files: `before.pcap` (packets,
/// dialogue read) or `before-netflow5.pcap` / `before-ipfix.pcap` (flow
/// exports inside a capture: decoded by op25b-flow, flows paired into sessions).
fn simulate_file(profile: &str, seed: u64, scale: f64, file: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    run(&SynthOptions {
        profile: profile.into(),
        out_dir: dir.path().to_path_buf(),
        seed,
        scale,
        sampling: 1,
    })
    .unwrap();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap())
            .unwrap();
    let isp = IspConfig::load(&dir.path().join("isp.toml")).unwrap();
    let cfg = RankConfig::from_isp(&isp).unwrap();
    let mut agg = HostAggregator::new(&isp.network);
    let mut batch: Vec<SessionRecord> = Vec::new();
    let opts = CaptureOptions {
        threads: 1,
        ..CaptureOptions::default()
    };
    let mut decoder = FlowDecoder::new(DecoderOptions::default());
    let mut pairer = SessionPairer::new(op25b_core::DEFAULT_SMTP_PORTS, PairerOptions::default());
    let mut paired: Vec<SessionRecord> = Vec::new();
    let mut flows = Vec::new();
    ingest(
        &[dir.path().join(file)],
        &opts,
        &mut |r| batch.push(r),
        &mut |d| {
            flows.clear();
            decoder.decode(d.src, d.ts_us, d.payload, &mut flows);
            for f in &flows {
                pairer.push(f, &mut |r| paired.push(r));
            }
        },
    )
    .unwrap();
    flows.clear();
    decoder.finish(&mut flows);
    for f in &flows {
        pairer.push(f, &mut |r| paired.push(r));
    }
    pairer.finish(&mut |r| paired.push(r));
    batch.extend(paired);
    agg.push_batch(&batch);
    Outcome {
        ranking: agg.finish(&cfg),
        truth,
    }
}

/// Truth per address: (role, zombie, port-25 attempts before).
fn truth_hosts(truth: &Value) -> HashMap<IpAddr, (String, bool, u64)> {
    let mut out = HashMap::new();
    for h in truth["hosts"].as_array().unwrap() {
        let role = h["role"].as_str().unwrap().to_string();
        let zombie = h["zombie"].as_bool().unwrap();
        let attempts = h["before"]["port25_sessions"].as_u64().unwrap();
        for key in ["ip", "ip6"] {
            if let Some(ip) = h[key].as_str() {
                out.insert(ip.parse().unwrap(), (role.clone(), zombie, attempts));
            }
        }
    }
    out
}

struct Score {
    precision: f64,
    recall_20: f64,
    recall_low: f64,
    false_zombies: Vec<String>,
    missed: Vec<String>,
}

fn score(o: &Outcome) -> Score {
    let truth = truth_hosts(&o.truth);
    // A host (by its truth entry) is called a zombie when any of its addresses is.
    let called: HashSet<IpAddr> = o
        .ranking
        .hosts
        .iter()
        .filter(|h| h.verdict == Verdict::Zombie)
        .map(|h| h.features.host)
        .collect();
    let mut tp = 0usize;
    let mut fp = Vec::new();
    for h in &o.ranking.hosts {
        if h.verdict != Verdict::Zombie {
            continue;
        }
        match truth.get(&h.features.host) {
            Some((_, true, _)) => tp += 1,
            Some((role, false, _)) => {
                fp.push(format!("{} {role} {:?}", h.features.host, h.reasons))
            }
            None => fp.push(format!("{} (not in truth)", h.features.host)),
        }
    }
    let by_host = |pred: &dyn Fn(&str, u64) -> bool| {
        let mut wanted = 0usize;
        let mut found = 0usize;
        let mut missed = Vec::new();
        for h in o.truth["hosts"].as_array().unwrap() {
            let role = h["role"].as_str().unwrap();
            let attempts = h["before"]["port25_sessions"].as_u64().unwrap();
            if !h["zombie"].as_bool().unwrap() || !pred(role, attempts) {
                continue;
            }
            wanted += 1;
            let ips: Vec<IpAddr> = ["ip", "ip6"]
                .iter()
                .filter_map(|k| h[*k].as_str()?.parse().ok())
                .collect();
            if ips.iter().any(|ip| called.contains(ip)) {
                found += 1;
            } else {
                let row = o
                    .ranking
                    .hosts
                    .iter()
                    .find(|r| ips.contains(&r.features.host));
                missed.push(format!(
                    "{} {role} attempts={attempts} {:?}",
                    ips[0],
                    row.map(|r| (r.verdict, r.score, r.reasons.clone()))
                ));
            }
        }
        (
            if wanted == 0 {
                1.0
            } else {
                found as f64 / wanted as f64
            },
            missed,
        )
    };
    let (recall_20, missed) = by_host(&|_, a| a >= 20);
    let (recall_low, _) = by_host(&|role, _| role == "zombie_low");
    Score {
        precision: if tp + fp.len() == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp.len()) as f64
        },
        recall_20,
        recall_low,
        false_zombies: fp,
        missed,
    }
}

/// Role x verdict counts (by address), and the low-and-slow zombies not called zombie.
fn print_confusion(o: &Outcome) {
    let truth = truth_hosts(&o.truth);
    let mut table: std::collections::BTreeMap<String, [usize; 4]> = Default::default();
    let mut max_score: HashMap<String, f64> = HashMap::new();
    for h in &o.ranking.hosts {
        let (role, attempts) = truth
            .get(&h.features.host)
            .map_or(("?".to_string(), 0), |t| (t.0.clone(), t.2));
        table.entry(role.clone()).or_default()[h.verdict as usize] += 1;
        let m = max_score.entry(role.clone()).or_insert(0.0);
        *m = m.max(h.score);
        if role == "zombie_low"
            && h.verdict != Verdict::Zombie
            && std::env::var("OP25B_VERBOSE").is_ok()
        {
            println!(
                "  low-and-slow as {}: {} attempts={attempts} score={} {:?}",
                h.verdict, h.features.host, h.score, h.reasons
            );
        }
    }
    println!("  {:<24} zombie suspect clean relay max_score", "role");
    for (role, c) in table {
        let m = max_score.get(&role).copied().unwrap_or(0.0);
        println!(
            "  {role:<24} {:>6} {:>7} {:>5} {:>5} {m:>9.2}",
            c[0], c[1], c[2], c[3]
        );
    }
}

fn no_legit_server_is_a_zombie(o: &Outcome) {
    let truth = truth_hosts(&o.truth);
    for h in &o.ranking.hosts {
        if let Some((role, _, _)) = truth.get(&h.features.host)
            && matches!(
                role.as_str(),
                "business_mx" | "business_newsletter" | "isp_relay" | "isp_submission"
            )
        {
            assert_ne!(
                h.verdict,
                Verdict::Zombie,
                "{role} {} {:?}",
                h.features.host,
                h.reasons
            );
            if role.starts_with("isp_") && h.features.outbound_sessions > 0 {
                assert_eq!(h.verdict, Verdict::Relay, "{role} {}", h.features.host);
            }
        }
    }
}

/// Scale of the simulated ISPs (`OP25B_SYNTH_SCALE`, default 0.2: a few
/// hundred hosts, seconds per run).
fn scale() -> f64 {
    std::env::var("OP25B_SYNTH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.2)
}

#[test]
fn wakwak_and_heavy_profiles_zombies_are_found() {
    for (profile, seed) in [
        ("wakwak-2005", 1u64),
        ("wakwak-2005", 2),
        ("wakwak-2005", 3),
        ("heavy", 4),
    ] {
        let o = simulate(profile, seed, scale());
        let s = score(&o);
        println!(
            "{profile} seed {seed}: hosts={} zombies={} precision={:.3} recall(>=20 attempts)={:.3} recall(zombie_low)={:.3}",
            o.ranking.hosts.len(),
            o.ranking.count(Verdict::Zombie),
            s.precision,
            s.recall_20,
            s.recall_low
        );
        print_confusion(&o);
        for m in &s.missed {
            println!("  missed: {m}");
        }
        assert!(
            s.precision >= 0.97,
            "{profile}/{seed}: precision {} {:#?}",
            s.precision,
            s.false_zombies
        );
        assert!(
            s.recall_20 >= 0.95,
            "{profile}/{seed}: recall {} {:#?}",
            s.recall_20,
            s.missed
        );
        no_legit_server_is_a_zombie(&o);
    }
}

#[test]
fn clean_profile_has_no_zombie() {
    for seed in [1u64, 2] {
        let o = simulate("clean", seed, scale());
        let zombies: Vec<_> = o
            .ranking
            .hosts
            .iter()
            .filter(|h| h.verdict == Verdict::Zombie)
            .map(|h| (h.features.host, h.reasons.clone()))
            .collect();
        assert!(zombies.is_empty(), "seed {seed}: {zombies:#?}");
        no_legit_server_is_a_zombie(&o);
    }
}

#[test]
fn flow_exports_rank_too() {
    for file in ["before-netflow5.pcap", "before-ipfix.pcap"] {
        let o = simulate_file("wakwak-2005", 1, scale(), file);
        let s = score(&o);
        println!(
            "{file}: hosts={} zombies={} precision={:.3} recall(>=20 attempts)={:.3} recall(zombie_low)={:.3}",
            o.ranking.hosts.len(),
            o.ranking.count(Verdict::Zombie),
            s.precision,
            s.recall_20,
            s.recall_low
        );
        print_confusion(&o);
        for m in &s.missed {
            println!("  missed: {m}");
        }
        for m in &s.false_zombies {
            println!("  false: {m}");
        }
        assert!(o.ranking.hosts.iter().all(|h| !h.features.has_dialogue));
        assert!(
            s.precision >= 0.97,
            "{file}: precision {} {:#?}",
            s.precision,
            s.false_zombies
        );
        assert!(
            s.recall_20 >= 0.95,
            "{file}: recall {} {:#?}",
            s.recall_20,
            s.missed
        );
        no_legit_server_is_a_zombie(&o);
    }
}
