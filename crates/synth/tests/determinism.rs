//! Same seed, same bytes; another seed, other bytes with the same shape.

mod common;

use common::{f, generate};

const FILES: &[&str] = &[
    "before.pcap",
    "after.pcap",
    "before-netflow5.pcap",
    "before-netflow9.pcap",
    "before-ipfix.pcap",
    "after-netflow5.pcap",
    "after-netflow9.pcap",
    "after-ipfix.pcap",
    "isp.toml",
    "truth.json",
];

fn read(s: &common::Sample, name: &str) -> Vec<u8> {
    std::fs::read(s.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn same_seed_gives_identical_files() {
    let a = generate("wakwak-2005", 42, 0.05, 1);
    let b = generate("wakwak-2005", 42, 0.05, 1);
    for name in FILES {
        let (x, y) = (read(&a, name), read(&b, name));
        assert!(x.len() > 24, "{name} is empty");
        assert!(x == y, "{name} differs between two runs with the same seed");
    }
}

#[test]
fn different_seeds_differ_but_keep_the_profile_band() {
    let mut captures = Vec::new();
    for seed in [1u64, 2, 3] {
        let s = generate("wakwak-2005", seed, 0.05, 1);
        let share = f(&s.truth["phases"]["before"]["spam_share_messages"]);
        assert!(
            (0.80..=0.86).contains(&share),
            "seed {seed}: before spam share {share} outside [0.80, 0.86]"
        );
        // The block removes most spam.
        let after = f(&s.truth["phases"]["after"]["spam_share_messages"]);
        assert!(after < share / 2.0, "seed {seed}: after share {after}");
        captures.push(read(&s, "before.pcap"));
    }
    assert!(captures[0] != captures[1] && captures[1] != captures[2]);
}

#[test]
fn clean_profile_has_no_spam_and_heavy_has_a_lot() {
    let clean = generate("clean", 5, 0.05, 1);
    for phase in ["before", "after"] {
        assert_eq!(clean.truth["phases"][phase]["spam_messages"], 0);
        assert!(common::u(&clean.truth["phases"][phase]["outbound_messages"]) > 0);
    }
    let heavy = generate("heavy", 5, 0.05, 1);
    let share = f(&heavy.truth["phases"]["before"]["spam_share_messages"]);
    assert!((0.93..=0.97).contains(&share), "heavy share {share}");
}

#[test]
fn retries_profile_changes_only_what_the_customers_cut_off_do_after_the_block() {
    // wakwak-2005-retries is wakwak-2005 whose direct-25 customers' mail
    // servers retry each message 5 times on port 25 after the block.
    let base = generate("wakwak-2005", 7, 0.2, 1);
    let retries = generate("wakwak-2005-retries", 7, 0.2, 1);
    // The before phase draws the same numbers: the same traffic.
    assert!(read(&base, "before.pcap") == read(&retries, "before.pcap"));
    let hosts = |s: &common::Sample| s.truth["hosts"].as_array().cloned().unwrap_or_default();
    let (b, r) = (hosts(&base), hosts(&retries));
    assert_eq!(b.len(), r.len());
    let mut retried = 0;
    for (hb, hr) in b.iter().zip(&r) {
        assert_eq!(hb["ip"], hr["ip"]);
        let blocked = common::u(&hr["after"]["op25b_blocked_sessions"]);
        if hr["role"] == "subscriber_direct25" {
            // Every message after the block was retried (up to 5 times
            // within the hour, 5 minutes apart, for each of up to 4
            // recipient domains); none of it got out.
            let sent = common::u(&hr["after"]["smtp_sessions"]) - blocked;
            assert!(blocked <= 4 * 5 * sent, "{hr}");
            assert!(sent == 0 || blocked > 0, "{hr}");
            assert_eq!(
                common::u(&hr["after"]["port25_outbound_sessions"]),
                blocked,
                "{hr}"
            );
            retried += u64::from(blocked > 0);
        } else if !hr["zombie"].as_bool().unwrap_or(false) {
            assert_eq!(blocked, 0, "{hr}");
        }
    }
    assert!(retried > 0, "no customer's mail server retried");
}
