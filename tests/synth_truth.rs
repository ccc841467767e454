//! Ingest against ground truth: the capture and the flow exports that
//! `op25b synth` writes are read back into session records, and those must
//! agree with what the generator says it put there (truth.json).

mod common;

use op25b_core::{Outcome, SessionRecord, Source};
use serde_json::Value;
use std::collections::BTreeMap;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn check_capture_phase(records: &[SessionRecord], phase: &Value, what: &str) {
    assert!(records.iter().all(|r| r.source == Source::Pcap));
    assert_eq!(
        records.len() as u64,
        u(&phase["smtp_sessions"]),
        "{what}: sessions"
    );
    let mut by_port: BTreeMap<String, u64> = BTreeMap::new();
    for r in records {
        *by_port.entry(r.server_port.to_string()).or_default() += 1;
    }
    for (port, n) in phase["sessions_by_port"].as_object().unwrap() {
        assert_eq!(
            by_port.get(port).copied().unwrap_or(0),
            u(n),
            "{what}: port {port}"
        );
    }
    for o in Outcome::ALL {
        let got = records.iter().filter(|r| r.outcome == o).count() as u64;
        assert_eq!(
            got,
            u(&phase["outcomes"][o.as_str()]),
            "{what}: outcome {o}"
        );
    }
    let sum = |f: fn(&SessionRecord) -> u32| records.iter().map(|r| u64::from(f(r))).sum::<u64>();
    assert_eq!(
        sum(|r| r.transactions),
        u(&phase["transactions"]),
        "{what}: transactions"
    );
    assert_eq!(
        sum(|r| r.messages),
        u(&phase["messages"]),
        "{what}: messages"
    );
    assert_eq!(
        sum(|r| r.rcpt_accepted),
        u(&phase["rcpt_accepted"]),
        "{what}: rcpt accepted"
    );
    assert_eq!(
        sum(|r| r.rcpt_rejected),
        u(&phase["rcpt_rejected"]),
        "{what}: rcpt rejected"
    );
    assert!(
        records.iter().all(|r| !r.gaps),
        "{what}: synth captures have no holes"
    );
}

#[test]
fn capture_sessions_match_truth_for_every_profile() {
    for (profile, seed) in [
        ("wakwak-2005", 1),
        ("wakwak-2005", 7),
        ("heavy", 2),
        ("clean", 3),
    ] {
        let dir = common::synth(profile, seed, 0.05, 1);
        let truth = common::truth(&dir);
        for phase in ["before", "after"] {
            let records = common::ingest(&dir, phase, &[&dir.join(format!("{phase}.pcap"))]);
            check_capture_phase(
                &records,
                &truth["phases"][phase],
                &format!("{profile}/{seed}/{phase}"),
            );
        }
    }
}

/// Flows cannot show the dialogue, but they show the connections: every
/// IPv4 SMTP connection of the capture must come back from the NetFlow v5
/// export of the same traffic, with the same endpoints, and the unanswered
/// ones must be recognised as such; so must they from all three exports
/// given together.
#[test]
fn netflow_exports_give_the_capture_sessions() {
    let dir = common::synth("wakwak-2005", 5, 0.05, 1);
    let packets = common::ingest(&dir, "cap", &[&dir.join("before.pcap")]);
    type Key = (std::net::IpAddr, u16, std::net::IpAddr, u16);
    let key = |r: &SessionRecord| -> Key { (r.client, r.client_port, r.server, r.server_port) };
    let from_capture: BTreeMap<Key, &SessionRecord> = packets.iter().map(|r| (key(r), r)).collect();
    // The three exports together: the same packets metered three times
    // (one router exporting each format, or three routers on the path)
    // must still be each connection once, with its packets counted once.
    let all: &[&str] = &[
        "before-netflow9.pcap",
        "before-ipfix.pcap",
        "before-netflow5.pcap",
    ];
    let formats = [Source::Netflow5, Source::Netflow9, Source::Ipfix];
    for (file, inputs, sources, v4_only) in [
        ("before-netflow5.pcap", &all[2..], &formats[..1], true),
        ("before-netflow9.pcap", &all[..1], &formats[1..2], false),
        ("before-ipfix.pcap", &all[1..2], &formats[2..], false),
        ("all three exports", all, &formats[..], false),
    ] {
        let paths: Vec<_> = inputs.iter().map(|f| dir.join(f)).collect();
        let paths: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
        let flows = common::ingest(&dir, &file.replace(' ', "-"), &paths);
        assert!(
            flows.iter().all(|r| sources.contains(&r.source)),
            "{file}: source"
        );
        let from_flows: BTreeMap<Key, &SessionRecord> = flows.iter().map(|r| (key(r), r)).collect();
        let expected: Vec<&Key> = from_capture
            .keys()
            .filter(|k| !v4_only || k.0.is_ipv4())
            .collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|k| !from_flows.contains_key(**k))
            .collect();
        assert!(
            missing.is_empty(),
            "{file}: {} sessions missing, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        // The records, not the map: a connection cut in two is one key.
        assert_eq!(flows.len(), expected.len(), "{file}: no extra sessions");
        for (k, f) in &from_flows {
            let c = from_capture[k];
            assert_eq!(
                f.packets_c2s + f.packets_s2c,
                c.packets_c2s + c.packets_s2c,
                "{file}: packets of {k:?}"
            );
            assert_eq!(f.bytes_c2s, c.bytes_c2s, "{file}: bytes c2s of {k:?}");
            // Flow times have milliseconds (v9's header only whole seconds:
            // the capture's receive time gives the rest).
            assert!(
                f.start.abs_diff(c.start) <= 1_000 && f.end.abs_diff(c.end) <= 1_000,
                "{file}: times of {k:?}: {}..{} against {}..{}",
                f.start,
                f.end,
                c.start,
                c.end
            );
            if c.outcome == Outcome::NoAnswer {
                assert_eq!(f.outcome, Outcome::NoAnswer, "{file}: {k:?}");
            }
        }
    }
}

/// With 1-in-N packet sampling the export misses connections whose packets
/// were all skipped, but what it shows must be real: every session from the
/// sampled flows is a connection of the capture, with no more packets than
/// it had, and carries the sampling interval.
#[test]
fn sampled_netflow_shows_a_subset_with_its_interval() {
    let n = 10;
    let dir = common::synth("wakwak-2005", 6, 0.05, n);
    let packets = common::ingest(&dir, "cap", &[&dir.join("before.pcap")]);
    type Key = (std::net::IpAddr, u16, std::net::IpAddr, u16);
    let key = |r: &SessionRecord| -> Key { (r.client, r.client_port, r.server, r.server_port) };
    let from_capture: BTreeMap<Key, &SessionRecord> = packets.iter().map(|r| (key(r), r)).collect();
    for file in [
        "before-netflow5.pcap",
        "before-netflow9.pcap",
        "before-ipfix.pcap",
    ] {
        let flows = common::ingest(&dir, file, &[&dir.join(file)]);
        assert!(
            !flows.is_empty(),
            "{file}: a sampled export still shows sessions"
        );
        assert!(
            flows.len() < packets.len(),
            "{file}: sampling loses some connections"
        );
        for f in &flows {
            assert_eq!(f.sampling, n, "{file}: sampling interval recorded");
            let c = from_capture
                .get(&key(f))
                .unwrap_or_else(|| panic!("{file}: session {:?} is not in the capture", key(f)));
            assert!(
                f.packets_c2s <= c.packets_c2s && f.packets_s2c <= c.packets_s2c,
                "{file}: {:?}",
                key(f)
            );
        }
    }
}
