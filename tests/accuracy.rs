//! Ranking accuracy against ground truth, through the binary, on captures and
//! on the flow-only NetFlow v5 export of the same traffic.
//!
//! A zombie counts as findable when it made at least 20 port-25 attempts in
//! the input (counted from the ingested sessions themselves, so a host whose
//! traffic a v5 export cannot carry, IPv6, is not held against the ranker).

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

struct Tally {
    flagged: u64,
    flagged_true: u64,
    findable: u64,
    findable_found: u64,
    low_findable: u64,
    low_found: u64,
}

fn roles(truth: &Value) -> BTreeMap<String, (String, bool)> {
    let mut m = BTreeMap::new();
    for h in truth["hosts"].as_array().unwrap() {
        let role = h["role"].as_str().unwrap().to_string();
        let zombie = h["zombie"].as_bool().unwrap();
        for key in ["ip", "ip6"] {
            if let Some(ip) = h[key].as_str() {
                m.insert(ip.to_string(), (role.clone(), zombie));
            }
        }
    }
    m
}

/// Ranks `input` and scores the verdicts; returns the tally and the hosts judged zombie.
fn score(dir: &Path, input: &str, tally: &mut Tally) -> Vec<(String, String)> {
    let truth = common::truth(dir);
    let roles = roles(&truth);
    let sessions = common::ingest(dir, &format!("acc-{input}"), &[&dir.join(input)]);
    let mut attempts: BTreeMap<String, u64> = BTreeMap::new();
    for s in &sessions {
        if s.server_port == 25 {
            *attempts.entry(s.client.to_string()).or_default() += 1;
        }
    }
    let out = dir.join(format!("hosts-{input}.csv"));
    let o = common::op25b()
        .args(["rank", "-q", "--config"])
        .arg(dir.join("isp.toml"))
        .arg(dir.join(input))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..5],
        &["rank", "host", "verdict", "score", "reasons"]
    );
    let mut zombies = BTreeSet::new();
    for line in lines {
        let cols: Vec<&str> = line.splitn(4, ',').collect();
        if cols[2] == "zombie" {
            zombies.insert(cols[1].to_string());
        }
    }
    let mut wrong = Vec::new();
    for z in &zombies {
        tally.flagged += 1;
        let (role, is_zombie) = roles.get(z).cloned().unwrap_or(("unknown".into(), false));
        if is_zombie {
            tally.flagged_true += 1;
        } else {
            wrong.push((z.clone(), role));
        }
    }
    for (ip, (role, is_zombie)) in &roles {
        if !is_zombie || attempts.get(ip).copied().unwrap_or(0) < 20 {
            continue;
        }
        tally.findable += 1;
        let found = zombies.contains(ip);
        tally.findable_found += u64::from(found);
        if role == "zombie_low" {
            tally.low_findable += 1;
            tally.low_found += u64::from(found);
        }
    }
    wrong
}

fn run(input: &str, min_precision: f64, min_recall: f64) {
    let mut tally = Tally {
        flagged: 0,
        flagged_true: 0,
        findable: 0,
        findable_found: 0,
        low_findable: 0,
        low_found: 0,
    };
    for (profile, seed) in [
        ("wakwak-2005", 1),
        ("wakwak-2005", 2),
        ("wakwak-2005", 3),
        ("heavy", 4),
    ] {
        let dir = common::synth(profile, seed, 0.1, 1);
        let wrong = score(&dir, input, &mut tally);
        for (ip, role) in &wrong {
            assert!(
                !role.starts_with("business") && !role.starts_with("isp_"),
                "{input} {profile}/{seed}: {role} {ip} judged a zombie"
            );
        }
    }
    let precision = tally.flagged_true as f64 / tally.flagged.max(1) as f64;
    let recall = tally.findable_found as f64 / tally.findable.max(1) as f64;
    println!(
        "{input}: precision {precision:.3} ({}/{}), recall {recall:.3} ({}/{}), low-and-slow recall {}/{}",
        tally.flagged_true,
        tally.flagged,
        tally.findable_found,
        tally.findable,
        tally.low_found,
        tally.low_findable
    );
    assert!(
        tally.findable >= 10,
        "{input}: too few findable zombies to measure ({})",
        tally.findable
    );
    assert!(
        precision >= min_precision,
        "{input}: precision {precision:.3} < {min_precision}"
    );
    assert!(
        recall >= min_recall,
        "{input}: recall {recall:.3} < {min_recall}"
    );
}

#[test]
fn zombies_are_found_in_captures() {
    run("before.pcap", 0.97, 0.95);
}

#[test]
fn zombies_are_found_in_netflow_v5() {
    run("before-netflow5.pcap", 0.95, 0.90);
}

#[test]
fn the_clean_profile_has_no_zombie() {
    for input in ["before.pcap", "before-netflow5.pcap"] {
        let dir = common::synth("clean", 5, 0.1, 1);
        let mut tally = Tally {
            flagged: 0,
            flagged_true: 0,
            findable: 0,
            findable_found: 0,
            low_findable: 0,
            low_found: 0,
        };
        let wrong = score(&dir, input, &mut tally);
        assert!(
            wrong.is_empty(),
            "{input}: clean profile, zombies reported: {wrong:?}"
        );
    }
}
