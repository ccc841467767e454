//! truth.json adds up: host rows sum to phase totals, outcomes and ports
//! sum to sessions, the simulated block matches the host rows, and
//! isp.toml describes the same network.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;

use common::{f, generate, u};
use op25b_core::IspConfig;
use serde_json::Value;

fn sum_hosts(truth: &Value, phase: &str, key: &str) -> u64 {
    truth["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| u(&h[phase][key]))
        .sum()
}

#[test]
fn totals_add_up() {
    let s = generate("wakwak-2005", 11, 0.1, 1);
    let t = &s.truth;
    for phase in ["before", "after"] {
        let p = &t["phases"][phase];
        let sessions = u(&p["smtp_sessions"]);
        assert!(sessions > 0);
        let by_port: u64 = ["25", "587", "465"]
            .iter()
            .map(|k| u(&p["sessions_by_port"][k]))
            .sum();
        assert_eq!(by_port, sessions, "{phase}: ports");
        let outcomes = p["outcomes"].as_object().expect("outcomes");
        assert_eq!(outcomes.len(), 8);
        let by_outcome: u64 = outcomes.values().map(u).sum();
        assert_eq!(by_outcome, sessions, "{phase}: outcomes");
        // Every SMTP client is inside the ISP, so the host rows hold them all.
        assert_eq!(sum_hosts(t, phase, "smtp_sessions"), sessions, "{phase}");
        assert_eq!(
            sum_hosts(t, phase, "outbound_messages"),
            u(&p["outbound_messages"])
        );
        assert_eq!(sum_hosts(t, phase, "spam_messages"), u(&p["spam_messages"]));
        assert_eq!(
            sum_hosts(t, phase, "outbound_sessions"),
            u(&p["outbound_sessions"])
        );
        assert_eq!(
            sum_hosts(t, phase, "submitted_messages"),
            u(&p["relay_submitted_messages"])
        );
        let share = u(&p["spam_messages"]) as f64 / u(&p["outbound_messages"]) as f64;
        assert!((share - f(&p["spam_share_messages"])).abs() < 1e-12);
        // Visible counts never exceed the full counts.
        assert!(u(&p["messages"]) <= u(&p["all_messages"]));
        assert!(u(&p["transactions"]) <= u(&p["all_transactions"]));
        assert!(u(&p["outbound_mail_sessions"]) <= u(&p["outbound_sessions"]));
        // A session that had a message accepted transmitted its body; a body
        // can also be transmitted and then refused.
        assert!(u(&p["outbound_mail_sessions"]) <= u(&p["outbound_data_sessions"]));
        assert!(u(&p["outbound_data_sessions"]) <= u(&p["outbound_sessions"]));
        assert!(u(&p["outbound_spam_mail_sessions"]) <= u(&p["spam_data_sessions"]));
        assert!(u(&p["spam_data_sessions"]) <= u(&p["outbound_data_sessions"]));
        let data_share =
            u(&p["spam_data_sessions"]) as f64 / u(&p["outbound_data_sessions"]) as f64;
        assert!((data_share - f(&p["spam_share_data_sessions"])).abs() < 1e-12);
        assert_eq!(u(&p["visible_commands"]["MAIL"]), u(&p["transactions"]));
        assert_eq!(
            u(&p["visible_commands"]["RCPT"]),
            u(&p["rcpt_accepted"]) + u(&p["rcpt_rejected"])
        );
        assert!(u(&p["start_us"]) < u(&p["end_us"]));
        assert!(u(&p["packets"]) > sessions);
    }
    // One week apart.
    let gap = u(&t["phases"]["after"]["start_us"]) - u(&t["phases"]["before"]["start_us"]);
    assert_eq!(gap, 7 * 86_400 * 1_000_000);
}

#[test]
fn the_block_is_simulated_from_the_host_rows() {
    let s = generate("wakwak-2005", 12, 0.1, 1);
    let t = &s.truth;
    let sim = &t["simulated_after"];
    let blocked = sum_hosts(t, "before", "op25b_blocked_sessions");
    assert_eq!(u(&sim["blocked_sessions"]), blocked);
    let collateral: HashSet<&str> = t["collateral_hosts"]
        .as_array()
        .expect("collateral_hosts")
        .iter()
        .map(|v| v.as_str().expect("ip"))
        .collect();
    assert_eq!(u(&sim["collateral_hosts"]), collateral.len() as u64);
    let mut collateral_sessions = 0;
    let mut expected = HashSet::new();
    for h in t["hosts"].as_array().expect("hosts") {
        let b = u(&h["before"]["op25b_blocked_sessions"]);
        if b > 0 {
            assert_eq!(h["dynamic"], true, "only dynamic hosts are blocked: {h}");
        }
        if b > 0 && h["zombie"] == false {
            collateral_sessions += b;
            expected.insert(h["ip"].as_str().expect("ip"));
            assert_eq!(h["role"], "subscriber_direct25", "{h}");
        }
        // After the block no dynamic host delivers anything on port 25 outside.
        if h["dynamic"] == true && u(&h["after"]["port25_outbound_sessions"]) > 0 {
            assert_eq!(u(&h["after"]["outbound_messages"]), 0, "{h}");
        }
    }
    assert_eq!(collateral, expected);
    assert_eq!(u(&sim["collateral_sessions"]), collateral_sessions);
    assert!(
        !collateral.is_empty(),
        "the profile has direct-25 subscribers"
    );
    let before = &t["phases"]["before"];
    assert!(u(&sim["outbound_messages"]) < u(&before["outbound_messages"]));
    assert!(f(&sim["spam_share_messages"]) < f(&before["spam_share_messages"]));
    assert!(u(&sim["outbound_data_sessions"]) < u(&before["outbound_data_sessions"]));
    assert!(u(&sim["spam_data_sessions"]) <= u(&sim["outbound_data_sessions"]));
    assert!(u(&sim["outbound_mail_sessions"]) <= u(&sim["outbound_data_sessions"]));
    // The zombies' port-25 attempts all die in the second phase.
    let after = &t["phases"]["after"];
    assert!(u(&after["op25b_dropped_sessions"]) > 0);
    assert!(u(&after["outcomes"]["no_answer"]) >= u(&after["op25b_dropped_sessions"]));
}

#[test]
fn isp_toml_matches_truth_and_roles_match_addresses() {
    let s = generate("wakwak-2005", 13, 0.05, 1);
    let text = std::fs::read_to_string(s.path("isp.toml")).expect("isp.toml");
    let cfg = IspConfig::parse_str(&text).expect("isp.toml parses");
    let net = &cfg.network;
    let t = &s.truth;
    for (key, set) in [
        ("internal", &net.internal),
        ("dynamic_pools", &net.dynamic_pools),
        ("mail_servers", &net.mail_servers),
    ] {
        let listed: Vec<String> = set.nets().iter().map(|n| n.to_string()).collect();
        let truth: Vec<String> = t["network"][key]
            .as_array()
            .expect("list")
            .iter()
            .map(|v| {
                let s = v.as_str().expect("text");
                if s.contains('/') {
                    s.to_string()
                } else if s.contains(':') {
                    format!("{s}/128")
                } else {
                    format!("{s}/32")
                }
            })
            .collect();
        for x in &truth {
            assert!(listed.contains(x), "{key}: {x} not in isp.toml {listed:?}");
        }
    }
    for h in t["hosts"].as_array().expect("hosts") {
        let ip: IpAddr = h["ip"].as_str().expect("ip").parse().expect("address");
        assert!(net.internal.contains(&ip), "{ip}");
        assert_eq!(net.dynamic_pools.contains(&ip), h["dynamic"] == true, "{h}");
        if let Some(v6) = h.get("ip6").and_then(Value::as_str) {
            let v6: IpAddr = v6.parse().expect("v6");
            assert!(net.internal.contains(&v6));
            assert_eq!(net.dynamic_pools.contains(&v6), h["dynamic"] == true, "{h}");
        }
        let role = h["role"].as_str().expect("role");
        assert_eq!(role.starts_with("zombie_"), h["zombie"] == true);
    }
}

/// The mail servers' log is in time order, as a syslog host writes it: a
/// reader that follows messages in log order must not meet a delivery
/// before its submission. Each message's own lines keep their order too
/// (client= before its deliveries and removal).
#[test]
fn mail_log_is_in_time_order() {
    let s = generate("wakwak-2005", 12, 0.1, 1);
    for phase in ["before", "after"] {
        let text = std::fs::read_to_string(s.path(&format!("{phase}-maillog"))).expect("maillog");
        let mut lines = 0;
        let mut last = "";
        let mut first_seen: std::collections::HashMap<&str, usize> = Default::default();
        for (i, line) in text.lines().enumerate() {
            lines += 1;
            // `2005-11-01T10:00:14.281068+09:00`: fixed width, one offset,
            // so text order is time order.
            let stamp = line.split(' ').next().unwrap_or("");
            assert_eq!(stamp.len(), 32, "{phase} line {}: {line}", i + 1);
            assert!(
                stamp >= last,
                "{phase} line {} goes back in time: {line}",
                i + 1
            );
            last = stamp;
            let qid = line.split(": ").nth(1).unwrap_or("");
            let first = *first_seen.entry(qid).or_insert(i);
            if line.contains(": removed") || line.contains(" to=<") {
                assert!(
                    first < i,
                    "{phase} line {}: {qid} ends before it began",
                    i + 1
                );
            }
        }
        assert!(lines > 100, "{phase}: {lines} lines");
    }
}
