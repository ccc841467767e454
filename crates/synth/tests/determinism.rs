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
