//! Every estimator on hand-made rankings whose answers were worked out by
//! hand (the arithmetic is written out in each test, independent of the code).

mod common;

use common::*;
use op25b_rank::{RankConfig, Verdict};
use op25b_report::{
    HostCounts, SplitMix64, Strata, Totals, Unit, bootstrap, choose_unit, estimate,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// The worked example (one message per session, unit messages):
///
/// | host | verdict | score | outbound | blockable | submitted |
/// | Z1 | zombie  | 9   | 60 | 60 | 0  |
/// | Z2 | zombie  | 6   | 30 | 30 | 10 |
/// | S1 | suspect | 3   | 10 | 10 | 0  |
/// | C1 | clean   | 0.5 | 0  | 0  | 30 |
/// | C2 | clean   | 1   | 20 | 20 | 0  |
/// | C3 | clean, static | 0.2 | 15 | 0 | 0 |
/// | R1 | relay   | 0   | 40 | 0  | 0  |
fn worked_example() -> op25b_rank::Ranking {
    let hosts = vec![
        host(1, Verdict::Zombie, 9.0, |f| counts(f, 60, 60, 0)),
        host(2, Verdict::Zombie, 6.0, |f| counts(f, 30, 30, 10)),
        host(3, Verdict::Suspect, 3.0, |f| counts(f, 10, 10, 0)),
        host(4, Verdict::Clean, 0.5, |f| counts(f, 0, 0, 30)),
        host(5, Verdict::Clean, 1.0, |f| counts(f, 20, 20, 0)),
        host(6, Verdict::Clean, 0.2, |f| {
            counts(f, 15, 0, 0);
            f.dynamic = false;
        }),
        host(7, Verdict::Relay, 0.0, |f| {
            counts(f, 40, 0, 0);
            f.configured_relay = true;
        }),
    ];
    ranking(hosts, T0, T0 + HOUR_US)
}

#[test]
fn attribution_on_the_worked_example() {
    let s = estimate(&input(worked_example(), None), 0, 1);
    assert_eq!(s.unit, Unit::Messages);
    // V = 60 + 30 + 10 + 0 + 20 + 15 + 40 = 175 messages.
    assert!(close(s.before.outbound_volume, 175.0));
    assert_eq!(s.before.outbound_messages, 175);
    // Relay spam fraction f = (10 + 0.5 * 0) / (10 + 30) = 0.25.
    assert!(close(s.before.relay_spam_fraction, 0.25));
    // spam = 60 + 30 + 0.5 * 10 + 0.25 * 40 = 105; 105 / 175 = 0.6.
    assert!(close(s.before.spam_volume, 105.0));
    assert!(close(s.before.spam_share.unwrap(), 0.6));
    // Suspects as clean: 60 + 30 + 10 = 100 -> 100/175; as spam: 110/175.
    assert!(close(
        s.before.spam_share_suspects_as_clean.unwrap(),
        100.0 / 175.0
    ));
    assert!(close(
        s.before.spam_share_suspects_as_spam.unwrap(),
        110.0 / 175.0
    ));
    assert_eq!(
        (
            s.before.zombies,
            s.before.suspects,
            s.before.clean,
            s.before.relays
        ),
        (2, 1, 3, 1)
    );
    // No bootstrap asked: no interval.
    assert!(s.before.spam_share_ci95.is_none());
    assert!(s.after.is_none() && s.differential.is_none());
}

#[test]
fn simulated_block_on_the_worked_example() {
    let s = estimate(&input(worked_example(), None), 0, 1);
    let sim = &s.simulated_after;
    // Blocked: 60 + 30 + 10 + 20 = 120; what remains: C3 15 + R1 40 = 55.
    assert!(close(sim.blocked_volume, 120.0));
    assert!(close(sim.scenario.outbound_volume, 55.0));
    assert_eq!(sim.scenario.outbound_sessions, 55);
    // Spam left: only the relay's 0.25 * 40 = 10 -> 10 / 55.
    assert!(close(sim.scenario.spam_share.unwrap(), 10.0 / 55.0));
    assert_eq!(sim.blocked_sessions, 120);
    // Collateral: C2 (clean, 20 blockable); the suspect S1 (10) apart.
    assert_eq!(sim.collateral_hosts, 1);
    assert_eq!(sim.collateral_sessions, 20);
    assert_eq!(sim.collateral_suspect_hosts, 1);
    assert_eq!(sim.collateral_suspect_sessions, 10);
    // Legitimate blocked mail resubmitted: blocked spam = 90 + 0.5 * 10 = 95,
    // moved = 120 - 95 = 25 -> 10 / (55 + 25).
    assert!(close(sim.spam_share_if_legit_moves.unwrap(), 10.0 / 80.0));
}

/// Hosts the block cuts off, judged on before and again on after (the
/// after verdict counts where the host's direct port-25 attempts reached
/// more than rank's `fanout_low` = 3 outside servers, fewer than twice each
/// on average):
///
/// | host | before | score | blockable | after | score | blockable / submitted / 587 after | servers after |
/// | 1 | zombie  | 9   | 60 | zombie  | 10  | 50 / 0 / 0 | 40 |
/// | 3 | suspect | 3   | 10 | clean   | 0.4 | 0 / 5 / 0  | 0 |
/// | 5 | clean   | 1   | 20 | zombie  | 7   | 15 / 0 / 0 | 15 |
/// | 8 | clean   | 1.5 | 5  | suspect | 4   | 6 / 0 / 0  | 6 |
/// | 9 | clean   | 0.5 | 3  | (absent) |    |            | |
/// | 10 | clean  | 0.5 | 4  | clean   | 0.3 | 0 / 4 / 0  | 0 |
/// | 11 | clean  | 0.5 | 2  | clean   | 0   | 0 / 0 / 2 (port 587 elsewhere) | 0 |
/// | 12 | clean  | 0.5 | 1  | clean   | 1   | 1 / 0 / 0  | 1 |
/// | 13 | clean  | 0.5 | 2  | suspect | 3.3 | 5 / 0 / 0  | 1 (its queue retried) |
/// | 14 | clean  | 0.5 | 3  | zombie  | 8   | 40 / 0 / 0 | 8 (its queue retried, 5 times each) |
fn blocked_before_and_after() -> (op25b_rank::Ranking, op25b_rank::Ranking) {
    let before = ranking(
        vec![
            host(1, Verdict::Zombie, 9.0, |f| counts(f, 60, 60, 0)),
            host(3, Verdict::Suspect, 3.0, |f| counts(f, 10, 10, 0)),
            host(5, Verdict::Clean, 1.0, |f| counts(f, 20, 20, 0)),
            host(8, Verdict::Clean, 1.5, |f| counts(f, 5, 5, 0)),
            host(9, Verdict::Clean, 0.5, |f| counts(f, 3, 3, 0)),
            host(10, Verdict::Clean, 0.5, |f| counts(f, 4, 4, 0)),
            host(11, Verdict::Clean, 0.5, |f| counts(f, 2, 2, 0)),
            host(12, Verdict::Clean, 0.5, |f| counts(f, 1, 1, 0)),
            host(13, Verdict::Clean, 0.5, |f| counts(f, 2, 2, 0)),
            host(14, Verdict::Clean, 0.5, |f| counts(f, 3, 3, 0)),
        ],
        T0,
        T0 + HOUR_US,
    );
    let after = ranking(
        vec![
            host(1, Verdict::Zombie, 10.0, |f| {
                counts(f, 50, 50, 0);
                f.direct25_fanout = 40;
            }),
            host(3, Verdict::Clean, 0.4, |f| counts(f, 0, 0, 5)),
            host(5, Verdict::Zombie, 7.0, |f| {
                counts(f, 15, 15, 0);
                f.direct25_fanout = 15;
            }),
            host(8, Verdict::Suspect, 4.0, |f| {
                counts(f, 6, 6, 0);
                f.direct25_fanout = 6;
            }),
            host(10, Verdict::Clean, 0.3, |f| counts(f, 0, 0, 4)),
            host(11, Verdict::Clean, 0.0, |f| {
                f.sessions = 2;
                f.submission_port_sessions = 2;
            }),
            host(12, Verdict::Clean, 1.0, |f| {
                counts(f, 1, 1, 0);
                f.direct25_fanout = 1;
            }),
            host(13, Verdict::Suspect, 3.3, |f| {
                counts(f, 5, 5, 0);
                f.direct25_fanout = 1;
            }),
            host(14, Verdict::Zombie, 8.0, |f| {
                counts(f, 40, 40, 0);
                f.direct25_fanout = 8;
            }),
        ],
        T0 + 2 * HOUR_US,
        T0 + 3 * HOUR_US,
    );
    (before, after)
}

#[test]
fn collateral_counts_the_worse_verdict_after_the_block() {
    let (before, after) = blocked_before_and_after();
    // Before alone: clean 5, 8, 9, 10, 11, 12, 13, 14 (20 + 5 + 3 + 4 + 2 +
    // 1 + 2 + 3 = 40 sessions); suspect 3 (10).
    let alone = estimate(&input(before.clone(), None), 0, 1);
    let sim = &alone.simulated_after;
    assert_eq!((sim.collateral_hosts, sim.collateral_sessions), (8, 40));
    assert_eq!(
        (
            sim.collateral_suspect_hosts,
            sim.collateral_suspect_sessions
        ),
        (1, 10)
    );
    assert_eq!(sim.collateral_bots_after_hosts, None);
    assert_eq!(sim.collateral_moved_hosts, None);
    assert_eq!(sim.inputs_days_apart, None);

    // With after: 5 went on like a zombie (not collateral), 8 like a suspect
    // (undecided), both spraying many servers; 13 is a suspect after too,
    // but from retrying one server, and 14 a zombie from retrying eight
    // five times each, which is not evidence; 3 looks clean after but a
    // suspect stays a suspect; 9 is not there. Collateral: 9, 10, 11, 12,
    // 13, 14 (3 + 4 + 2 + 1 + 2 + 3 = 15 sessions); suspects 3 and 8 (10 +
    // 5 = 15); two hosts counted by their verdict after. Of the collateral,
    // 10 (through the ISP's servers) and 11 (on port 587 elsewhere) moved;
    // 12, 13 and 14 still tried port 25.
    let both = estimate(&input(before.clone(), Some(after.clone())), 0, 1);
    let sim = &both.simulated_after;
    assert_eq!((sim.collateral_hosts, sim.collateral_sessions), (6, 15));
    assert_eq!(
        (
            sim.collateral_suspect_hosts,
            sim.collateral_suspect_sessions
        ),
        (2, 15)
    );
    assert_eq!(sim.collateral_bots_after_hosts, Some(2));
    assert_eq!(sim.collateral_moved_hosts, Some(2));
    // Before ends at T0 + 1 h, after starts at T0 + 2 h: 1/24 day apart.
    assert!(close(sim.inputs_days_apart.unwrap(), 1.0 / 24.0));
    // The collateral volume is the collateral hosts' blocked messages.
    assert!(close(sim.collateral_volume, 15.0));
    // Nothing else in the scenario moves: the spam share of what the block
    // lets through is the same with or without the after input's verdicts.
    assert_eq!(
        sim.scenario.spam_share,
        alone.simulated_after.scenario.spam_share
    );

    // The sensitivity table re-draws both verdicts at each threshold. At
    // factor 2 (zombie 12, suspect 6): before, 1 is a suspect and everyone
    // else clean; after, 1 and 5 are suspects. Collateral: 3, 8, 9, 10, 11,
    // 12, 13, 14.
    let row = |factor: f64| {
        both.sensitivity
            .iter()
            .find(|r| r.factor == factor)
            .expect("factor row")
            .collateral_hosts
    };
    assert_eq!(row(1.0), 6);
    assert_eq!(row(2.0), 8);
    // At factor 0.5 (zombie 3, suspect 1.5): 8 is a suspect on both (6
    // attempts after, fewer than the 10 a zombie needs), 5 a zombie after,
    // 13 a suspect after from one server; collateral 9, 10, 11, 12, 13, 14.
    assert_eq!(row(0.5), 6);

    // collateral.csv lists every host blocked, collateral first, with the
    // verdict after, what the address did after the block and what it was
    // counted as.
    let csv = op25b_report::collateral_csv(
        &before,
        Some(&after),
        Unit::Messages,
        &RankConfig::default(),
    );
    let table = CsvTable::parse(&csv, op25b_report::COLLATERAL_CSV_COLUMNS);
    let rows = &table.rows;
    assert_eq!(
        table.pick([
            "host",
            "verdict",
            "verdict_after",
            "after_the_block",
            "counted_as"
        ]),
        vec![
            ["198.18.0.10", "clean", "clean", "moved", "collateral"],
            ["198.18.0.9", "clean", "", "not_seen", "collateral"],
            [
                "198.18.0.14",
                "clean",
                "zombie",
                "still_blocked",
                "collateral"
            ],
            ["198.18.0.11", "clean", "clean", "moved", "collateral"],
            [
                "198.18.0.13",
                "clean",
                "suspect",
                "still_blocked",
                "collateral"
            ],
            [
                "198.18.0.12",
                "clean",
                "clean",
                "still_blocked",
                "collateral"
            ],
            ["198.18.0.3", "suspect", "clean", "moved", "suspect"],
            ["198.18.0.8", "clean", "suspect", "still_blocked", "suspect"],
            ["198.18.0.1", "zombie", "zombie", "still_blocked", "zombie"],
            ["198.18.0.5", "clean", "zombie", "still_blocked", "zombie"],
        ]
    );
    // Host 8's row in full: 5 blocked before, 6 port-25 attempts after.
    assert_eq!(
        rows[7],
        [
            "198.18.0.8",
            "clean",
            "1.50",
            "5",
            "5",
            "suspect",
            "4.00",
            "6",
            "0",
            "0",
            "still_blocked",
            "suspect"
        ]
    );
    // Without after, the after cells are empty.
    let csv = op25b_report::collateral_csv(&before, None, Unit::Messages, &RankConfig::default());
    let row = csv.lines().nth(1).unwrap();
    assert_eq!(row, "198.18.0.5,clean,1.00,20,20,,,,,,,collateral");
}

/// The block measured on the after input of [`blocked_before_and_after`],
/// with three addresses that are not on before:
///
/// | host | after | score | blocked (answered) | servers |
/// | 20 | clean   | 0.8 | 3 (2) | 1 |
/// | 21 | zombie  | 9   | 30    | 30 (sprayed) |
/// | 22 | suspect | 3.5 | 8     | 1 (retried) |
#[test]
fn the_block_measured_after_counts_customers_still_trying_port_25() {
    let (before, mut after) = blocked_before_and_after();
    after.hosts.extend([
        host(20, Verdict::Clean, 0.8, |f| {
            counts(f, 3, 3, 0);
            f.direct25_fanout = 1;
            f.direct25.answered = 2;
        }),
        host(21, Verdict::Zombie, 9.0, |f| {
            counts(f, 30, 30, 0);
            f.direct25_fanout = 30;
        }),
        host(22, Verdict::Suspect, 3.5, |f| {
            counts(f, 8, 8, 0);
            f.direct25_fanout = 1;
        }),
    ]);
    let s = estimate(&input(before.clone(), Some(after.clone())), 0, 1);
    let a = s.after.as_ref().unwrap();
    // Blocked on after: 1 (50), 5 (15), 8 (6), 12 (1), 13 (5), 14 (40),
    // 20 (3), 21 (30), 22 (8): 158 sessions from 9 hosts, 2 of them
    // answered (20's).
    assert_eq!(
        (a.blocked_sessions, a.blocked_hosts, a.leaked_sessions),
        (158, 9, 2)
    );
    // Customers: 12, 13 and 14 (clean before; 13 and 14 retried), 20 and 22
    // (not on before; 22 retried): 1 + 5 + 40 + 3 + 8 = 57 sessions.
    // Suspect: 8 (sprayed, 6). Zombies: 1 (zombie before), 5 and 21
    // (sprayed like bots after).
    assert_eq!((a.collateral_hosts, a.collateral_sessions), (5, 57));
    assert_eq!(
        (a.collateral_suspect_hosts, a.collateral_suspect_sessions),
        (1, 6)
    );
    // The simulated block counts every host of before with a blockable
    // session: 1, 3, 5, 8, 9, 10, 11, 12, 13, 14.
    assert_eq!(s.simulated_after.blocked_hosts, 10);

    // blocked-after.csv: customers first, then most sessions blocked.
    let csv = op25b_report::blocked_after_csv(&after, &before, &RankConfig::default());
    let table = CsvTable::parse(&csv, op25b_report::BLOCKED_AFTER_CSV_COLUMNS);
    let rows = &table.rows;
    assert_eq!(
        table.pick(["host", "verdict_before", "verdict", "sprayed", "counted_as"]),
        vec![
            ["198.18.0.14", "clean", "zombie", "false", "collateral"],
            ["198.18.0.22", "", "suspect", "false", "collateral"],
            ["198.18.0.13", "clean", "suspect", "false", "collateral"],
            ["198.18.0.20", "", "clean", "false", "collateral"],
            ["198.18.0.12", "clean", "clean", "false", "collateral"],
            ["198.18.0.8", "clean", "suspect", "true", "suspect"],
            ["198.18.0.1", "zombie", "zombie", "true", "zombie"],
            ["198.18.0.21", "", "zombie", "true", "zombie"],
            ["198.18.0.5", "clean", "zombie", "true", "zombie"],
        ]
    );
    // Host 20's row in full.
    assert_eq!(
        rows[3],
        [
            "198.18.0.20",
            "",
            "",
            "clean",
            "0.80",
            "3",
            "2",
            "3",
            "1",
            "false",
            "0",
            "0",
            "collateral"
        ]
    );
}

#[test]
fn measured_after_and_differential_with_different_durations() {
    // After: half the duration (30 min): zombies blocked,
    // C2 submits its mail; the relay sent 30, C3 8.
    let after = ranking(
        vec![
            host(2, Verdict::Zombie, 6.0, |f| counts(f, 0, 0, 10)),
            host(4, Verdict::Clean, 0.5, |f| counts(f, 0, 0, 30)),
            host(5, Verdict::Clean, 1.0, |f| counts(f, 0, 0, 20)),
            host(6, Verdict::Clean, 0.2, |f| counts(f, 8, 0, 0)),
            host(7, Verdict::Relay, 0.0, |f| counts(f, 30, 0, 0)),
        ],
        T0,
        T0 + HOUR_US / 2,
    );
    let s = estimate(&input(worked_example(), Some(after)), 0, 1);
    let a = &s.after.as_ref().unwrap().scenario;
    // After: V = 38; f = 10 / 60; spam = 30 / 6 = 5 -> 5 / 38.
    assert!(close(a.spam_share.unwrap(), 5.0 / 38.0));
    let d = s.differential.as_ref().unwrap();
    // k = 3600 s / 1800 s = 2: after volume 76, relay after 60.
    assert!(close(d.scale.unwrap(), 2.0));
    assert!(close(d.volume_after_normalised.unwrap(), 76.0));
    // direct before 135, direct after 16: 119 disappeared; relays +20;
    // removed 99 -> 99 / 175.
    assert!(close(d.disappeared.unwrap(), 119.0));
    assert!(close(d.moved_to_relays.unwrap(), 20.0));
    assert!(close(d.removed.unwrap(), 99.0));
    assert!(close(d.spam_share.unwrap(), 99.0 / 175.0));
    assert!(close(d.duration_after_s, 1800.0));
}

#[test]
fn differential_is_clamped_when_traffic_grew() {
    let before = ranking(
        vec![host(1, Verdict::Clean, 0.0, |f| counts(f, 10, 0, 0))],
        T0,
        T0 + HOUR_US,
    );
    let after = ranking(
        vec![host(1, Verdict::Clean, 0.0, |f| counts(f, 15, 0, 0))],
        T0,
        T0 + HOUR_US,
    );
    let s = estimate(&input(before, Some(after)), 0, 1);
    let d = s.differential.unwrap();
    // (10 - 15) / 10 = -0.5, reported raw and clamped to 0.
    assert!(close(d.spam_share_unclamped.unwrap(), -0.5));
    assert_eq!(d.spam_share, Some(0.0));
}

#[test]
fn sessions_unit_when_a_sender_was_seen_only_in_flows() {
    let mut r = worked_example();
    // Z1 seen in flows only: its 100 sessions carried mail in 40 of them.
    if let Some(z1) = r.hosts.first_mut() {
        z1.features.has_dialogue = false;
        z1.features.outbound_sessions = 100;
        z1.features.outbound_mail_sessions = 40;
        z1.features.blockable_mail_sessions = 40;
    }
    assert_eq!(choose_unit(&[&r]), Unit::Sessions);
    let s = estimate(&input(r, None), 0, 1);
    assert_eq!(s.unit, Unit::Sessions);
    // Volumes are mail sessions now: 40 + 30 + 10 + 20 + 15 + 40 = 155;
    // spam = 40 + 30 + 5 + 0.25 * 40 = 85.
    assert!(close(s.before.outbound_volume, 155.0));
    assert!(close(s.before.spam_share.unwrap(), 85.0 / 155.0));
    // A host without mail does not decide the unit.
    let quiet = ranking(
        vec![
            host(1, Verdict::Clean, 0.0, |f| f.has_dialogue = false),
            host(2, Verdict::Clean, 0.0, |f| counts(f, 3, 0, 0)),
        ],
        T0,
        T0 + 1,
    );
    assert_eq!(choose_unit(&[&quiet]), Unit::Messages);
    // Where nothing was outbound (the network description puts every host
    // outside `internal`), every host decides: a capture stays messages.
    let nothing_out = |dialogue: bool| {
        ranking(
            vec![host(1, Verdict::Clean, 0.0, |f| f.has_dialogue = dialogue)],
            T0,
            T0 + 1,
        )
    };
    assert_eq!(choose_unit(&[&nothing_out(true)]), Unit::Messages);
    assert_eq!(choose_unit(&[&nothing_out(false)]), Unit::Sessions);
    assert_eq!(choose_unit(&[]), Unit::Messages);
}

#[test]
fn no_outbound_mail_gives_no_share_rather_than_zero() {
    let r = ranking(
        vec![host(1, Verdict::Clean, 0.0, |f| counts(f, 0, 0, 4))],
        T0,
        T0 + HOUR_US,
    );
    let s = estimate(&input(r, None), 50, 1);
    assert_eq!(s.before.spam_share, None);
    assert_eq!(s.before.spam_share_ci95, None);
    assert_eq!(s.bootstrap.undefined_replicates, 50);
}

#[test]
fn sensitivity_redraws_verdicts_by_score() {
    // Default RankConfig: zombie 6, suspect 3, min attempts as configured.
    let cfg = op25b_rank::RankConfig::default();
    let s = estimate(&input(worked_example(), None), 0, 1);
    let row = |factor: f64| s.sensitivity.iter().find(|r| r.factor == factor).unwrap();
    // Factor 1 (zombie >= 6, suspect >= 3): Z1, Z2 zombies, S1 suspect, as ranked.
    let one = row(1.0);
    assert!(close(one.zombie_score, cfg.zombie_score));
    assert_eq!((one.zombies, one.suspects), (2, 1));
    assert!(close(one.spam_share.unwrap(), 0.6));
    // Factor 0.5 (zombie >= 3, suspect >= 1.5): S1 (score 3) becomes a zombie,
    // C2 (score 1) stays clean: spam = 60 + 30 + 10 + 0.25 * 40 = 110.
    let half = row(0.5);
    assert_eq!((half.zombies, half.suspects), (3, 0));
    assert!(close(half.spam_share.unwrap(), 110.0 / 175.0));
    // Factor 2 (zombie >= 12, suspect >= 6): Z1 (9) and Z2 (6) suspects, S1 clean:
    // f = 0.5 * 10 / 40 = 0.125; spam = 0.5 * 90 + 0.125 * 40 = 50.
    let two = row(2.0);
    assert_eq!((two.zombies, two.suspects), (0, 2));
    assert!(close(two.spam_share.unwrap(), 50.0 / 175.0));
    // Shares never rise with the threshold on this example.
    for w in s.sensitivity.windows(2) {
        assert!(w[0].spam_share.unwrap() >= w[1].spam_share.unwrap() - 1e-12);
    }
}

#[test]
fn bootstrap_is_deterministic_and_depends_on_the_seed() {
    let r = population(5, 30, 300, T0, 1);
    let a = estimate(&input(r, None), 300, 42);
    let r = population(5, 30, 300, T0, 1);
    let b = estimate(&input(r, None), 300, 42);
    assert_eq!(a.before.spam_share_ci95, b.before.spam_share_ci95);
    assert_eq!(
        a.simulated_after.scenario.spam_share_ci95,
        b.simulated_after.scenario.spam_share_ci95
    );
    let r = population(5, 30, 300, T0, 1);
    let c = estimate(&input(r, None), 300, 43);
    assert_ne!(a.before.spam_share_ci95, c.before.spam_share_ci95);
    let [lo, hi] = a.before.spam_share_ci95.unwrap();
    let point = a.before.spam_share.unwrap();
    assert!(lo < point && point < hi, "{lo} {point} {hi}");
}

/// Coverage on a synthetic population with a known answer: hosts are zombies
/// with probability 0.3; a zombie sends U{1..99} messages (mean 50), a clean
/// host U{1..19} (mean 10). The population spam share is
/// 0.3 * 50 / (0.3 * 50 + 0.7 * 10) = 15 / 22. Samples of 300 hosts, 400
/// replicates each: the 95% interval must hold 15/22 in about 95% of samples.
#[test]
fn bootstrap_interval_covers_the_population_share() {
    let truth = 15.0 / 22.0;
    let samples = 120u32;
    let mut covered = 0u32;
    let mut rng = SplitMix64::new(2005);
    for sample in 0..samples {
        let hosts: Vec<HostCounts> = (0..300)
            .map(|_| {
                let zombie = rng.unit_f64() < 0.3;
                let volume = if zombie {
                    1 + rng.below(99)
                } else {
                    1 + rng.below(19)
                } as f64;
                HostCounts {
                    class: if zombie {
                        op25b_report::Class::Zombie
                    } else {
                        op25b_report::Class::Clean
                    },
                    score: 0.0,
                    mail_attempts: 0,
                    outbound_sessions: volume as u64,
                    outbound_messages: volume as u64,
                    volume,
                    blockable_volume: 0.0,
                    blockable_sessions: 0,
                    blockable_messages: 0,
                    submitted: 0.0,
                    relay_logged: None,
                    attempts: volume,
                    accepted: volume,
                    after: None,
                }
            })
            .collect();
        let boot = bootstrap(&Strata::new(&hosts), None, None, 400, u64::from(sample));
        let [lo, hi] = boot.before.unwrap();
        if lo <= truth && truth <= hi {
            covered += 1;
        }
        // The point estimate lies inside its own interval.
        let point = Totals::of(&hosts).spam_share(0.5).unwrap();
        assert!(lo <= point && point <= hi);
    }
    let rate = f64::from(covered) / f64::from(samples);
    // Binomial(120, 0.95): sd 2%; 0.88 is 3.5 sd below, 0.995 catches an
    // interval so wide it says nothing.
    assert!((0.88..=0.995).contains(&rate), "coverage {rate}");
}

/// Flows only: a zombie (host 1) with `zombie` submission sessions, of
/// which `zombie_with_body` carried mail; a customer (host 2) with
/// `customer`, every one with a body; the relay with 10 outbound mail
/// sessions.
fn flows_with_submissions(
    zombie: u64,
    zombie_with_body: u64,
    customer: u64,
) -> op25b_rank::Ranking {
    let zombie = host(1, Verdict::Zombie, 9.0, |f| {
        counts(f, 0, 0, zombie);
        f.submitted_mail_sessions = zombie_with_body;
        f.has_dialogue = false;
    });
    let customer = host(2, Verdict::Clean, 0.0, |f| {
        counts(f, 0, 0, customer);
        f.has_dialogue = false;
    });
    let relay = host(3, Verdict::Relay, 0.0, |f| {
        counts(f, 10, 0, 0);
        f.host = "198.19.255.10".parse().unwrap();
        f.configured_relay = true;
        f.has_dialogue = false;
    });
    ranking(vec![zombie, customer, relay], T0, T0 + HOUR_US)
}

#[test]
fn sessions_unit_relay_fraction_counts_submissions_that_carried_mail() {
    // A zombie made 10 submission sessions, 6 of them failed AUTH (no
    // body); a customer made 6, every one with a body. The relay sent 10
    // mail sessions: f = 4 / (4 + 6) = 0.4, not 10 / 16.
    let r = flows_with_submissions(10, 4, 6);
    let s = estimate(&input(r, None), 0, 1);
    assert_eq!(s.unit, Unit::Sessions);
    assert!(close(s.before.relay_spam_fraction, 0.4));
    assert!(close(s.before.spam_share.unwrap(), 4.0 / 10.0));
}

/// The worked example with delivery attempts: the relay R1 made 50 mail
/// transactions for its 40 accepted messages (A = 0.8); the clean senders C2
/// and C3 made 24 and 16 for their 20 and 15 (a = 35 / 40 = 0.875).
fn worked_example_with_refusals(relay_transactions: u64) -> op25b_rank::Ranking {
    let mut r = worked_example();
    for h in &mut r.hosts {
        let f = &mut h.features;
        f.outbound_transactions = match h.rank {
            5 => 24,
            6 => 16,
            7 => relay_transactions,
            _ => f.outbound_messages,
        };
    }
    r
}

#[test]
fn relay_refusals_beyond_the_legitimate_rate_are_spam() {
    let s = estimate(&input(worked_example_with_refusals(50), None), 0, 1);
    // f = 0.25 submitted; legitimate share of the relay's accepted output
    // (1 - f) a / A = 0.75 * 0.875 / 0.8 = 0.8203125, so 0.1796875 is spam
    // (inside [1 - 0.75 / 0.8, 0.25 / 0.8] = [0.0625, 0.3125]).
    assert!(close(s.before.relay_spam_fraction, 0.1796875));
    // spam = 60 + 30 + 0.5 * 10 + 0.1796875 * 40 = 102.1875 of 175.
    assert!(close(s.before.spam_volume, 102.1875));
    assert!(close(s.before.spam_share.unwrap(), 102.1875 / 175.0));
    // The simulated block keeps the relay's output and its fraction:
    // remaining spam 0.1796875 * 40 = 7.1875 of 15 + 40 = 55.
    assert!(close(
        s.simulated_after.scenario.spam_share.unwrap(),
        7.1875 / 55.0
    ));
}

#[test]
fn legitimate_acceptance_is_pooled_over_before_and_after() {
    // After the block (half an hour): the relay made 40 transactions for its
    // 30 accepted messages (A = 0.75); the only clean direct sender left, a
    // newsletter with a stale list, got 8 of 16 accepted (0.5 on its own).
    let after = ranking(
        vec![
            host(2, Verdict::Zombie, 6.0, |f| counts(f, 0, 0, 10)),
            host(4, Verdict::Clean, 0.5, |f| counts(f, 0, 0, 30)),
            host(5, Verdict::Clean, 1.0, |f| counts(f, 0, 0, 20)),
            host(6, Verdict::Clean, 0.2, |f| {
                counts(f, 8, 0, 0);
                f.outbound_transactions = 16;
            }),
            host(7, Verdict::Relay, 0.0, |f| {
                counts(f, 30, 0, 0);
                f.outbound_transactions = 40;
            }),
        ],
        T0,
        T0 + HOUR_US / 2,
    );
    let s = estimate(&input(worked_example_with_refusals(50), Some(after)), 0, 1);
    // a over the clean hosts of both: (20 + 15 + 8) / (24 + 16 + 16) = 43/56.
    let a = 43.0 / 56.0;
    let after = &s.after.as_ref().unwrap().scenario;
    assert!(close(s.before.clean_acceptance.unwrap(), a));
    assert!(close(after.clean_acceptance.unwrap(), a));
    // After: f = 10/60, φ = 1 - (5/6)(43/56)/0.75 = 37/252, inside
    // [0, (1/6)/0.75]; with the after hour's a = 0.5 alone it would have hit
    // the cap 2/9. Spam 30 · 37/252 of V = 8 + 30.
    assert!(close(after.relay_spam_fraction, 37.0 / 252.0));
    assert!(close(after.spam_share.unwrap(), 30.0 * 37.0 / 252.0 / 38.0));
    // Before: φ = 1 - 0.75 (43/56) / 0.8 = 251/896 (it was 0.1796875 with
    // the before hour's a = 0.875), and the simulated block keeps it.
    assert!(close(s.before.relay_spam_fraction, 251.0 / 896.0));
    assert!(close(
        s.simulated_after.scenario.relay_spam_fraction,
        251.0 / 896.0
    ));
    // The sensitivity table at the configured thresholds is the headline.
    let row = s.sensitivity.iter().find(|r| r.factor == 1.0).unwrap();
    assert!(close(row.spam_share.unwrap(), s.before.spam_share.unwrap()));
}

#[test]
fn relay_spam_fraction_stays_inside_what_the_attempts_allow() {
    // A relay refused nothing (A = 1) while clean senders were refused 1 in 8:
    // 1 - 0.75 * 0.875 = 0.34375 would need more spam accepted than was
    // submitted; the fraction is capped at f / A = 0.25.
    let s = estimate(&input(worked_example_with_refusals(40), None), 0, 1);
    assert!(close(s.before.relay_spam_fraction, 0.25));
    // A relay refused 3 in 4 (A = 40 / 160 = 0.25): the estimate
    // 1 - 0.75 * 0.875 / 0.25 = -1.625 is raised to 0.
    let s = estimate(&input(worked_example_with_refusals(160), None), 0, 1);
    assert!(close(s.before.relay_spam_fraction, 0.0));
    // Nothing of the relay's dialogue seen (a relay that always uses TLS): 40
    // sessions carried mail, no transaction or message was visible. The
    // submitted fraction itself.
    let mut r = worked_example_with_refusals(0);
    for h in &mut r.hosts {
        if h.rank == 7 {
            h.features.outbound_messages = 0;
            h.features.outbound_hidden_mail_sessions = 40;
        }
    }
    let s = estimate(&input(r, None), 0, 1);
    assert!(close(s.before.outbound_volume, 175.0));
    assert!(close(s.before.relay_spam_fraction, 0.25));
}

#[test]
fn hidden_sessions_hold_as_many_messages_as_the_hosts_visible_ones() {
    // A clean business MTA: 14 outbound sessions carried mail, 10 of them
    // in clear with 25 messages, 4 under STARTTLS (no message seen): 2.5 per
    // session, so 25 + 4 * 2.5 = 35 messages. Of them, 6 blockable sessions:
    // 2 in clear with 5 messages, 4 hidden: 5 + 4 * 2.5 = 15. A second host
    // showed no dialogue at all in its 3 mail sessions: one message each.
    let mta = host(1, Verdict::Clean, 0.0, |f| {
        f.outbound_sessions = 14;
        f.outbound_mail_sessions = 14;
        f.outbound_messages = 25;
        f.outbound_hidden_mail_sessions = 4;
        f.blockable_sessions = 6;
        f.blockable_mail_sessions = 6;
        f.blockable_messages = 5;
        f.blockable_hidden_mail_sessions = 4;
    });
    let tls_only = host(2, Verdict::Zombie, 9.0, |f| {
        f.outbound_sessions = 3;
        f.outbound_mail_sessions = 3;
        f.outbound_hidden_mail_sessions = 3;
        f.blockable_sessions = 3;
        f.blockable_mail_sessions = 3;
        f.blockable_hidden_mail_sessions = 3;
    });
    let r = ranking(vec![mta, tls_only], T0, T0 + HOUR_US);
    let s = estimate(&input(r, None), 0, 1);
    assert_eq!(s.unit, Unit::Messages);
    assert!(close(s.before.outbound_volume, 38.0));
    assert!(close(s.before.spam_share.unwrap(), 3.0 / 38.0));
    // The block removes 15 of the MTA's 35 (it is collateral) and all 3.
    assert!(close(s.simulated_after.blocked_volume, 18.0));
    assert!(close(s.simulated_after.collateral_volume, 15.0));
    assert_eq!(s.simulated_after.collateral_hosts, 1);
    // The lower bound would have said max(25, 14) + max(0, 3) = 28.
    assert_eq!(op25b_report::messages_per_mail_session(25, 14, 4), 2.5);
    assert_eq!(op25b_report::messages_per_mail_session(0, 3, 3), 1.0);
}

#[test]
fn submissions_hidden_by_starttls_count_like_the_visible_ones() {
    // A customer submitted in 5 sessions that carried mail: 3 showed 6
    // messages, 2 were STARTTLS (nothing seen): S = 6 + 2 * 6/3 = 10. A
    // zombie submitted 2 messages in the clear. f = 2 / 12; with no delivery
    // attempt seen anywhere, the relays' fraction is f itself.
    let customer = host(1, Verdict::Clean, 0.0, |f| {
        f.submitted_sessions = 5;
        f.submitted_mail_sessions = 5;
        f.submitted_messages = 6;
        f.submitted_hidden_mail_sessions = 2;
    });
    let zombie = host(2, Verdict::Zombie, 9.0, |f| {
        counts(f, 10, 10, 2);
    });
    let relay = host(3, Verdict::Relay, 0.0, |f| {
        counts(f, 12, 0, 0);
        f.configured_relay = true;
    });
    let r = ranking(vec![customer, zombie, relay], T0, T0 + HOUR_US);
    let s = estimate(&input(r.clone(), None), 0, 1);
    assert!(close(s.before.submitted_spam_fraction, 2.0 / 12.0));
    assert!(close(s.before.relay_spam_fraction, 2.0 / 12.0));
    // submitters.csv lists the two, most submitted first, relays aside.
    let csv = op25b_report::submitters_csv(&r, Unit::Messages, None);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with("198.18.0.1,clean,0.00,0,5,5,6,2,10"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("198.18.0.2,zombie,9.00,1,2,2,2,0,2"),
        "{csv}"
    );
}

#[test]
fn a_session_that_carried_mail_counts_at_least_one_message() {
    // Counts from a ranker that did not split off hidden sessions: 5 mail
    // sessions, no message seen, none marked hidden. Still 5 messages, not 0.
    let h = host(1, Verdict::Clean, 0.0, |f| {
        f.outbound_sessions = 5;
        f.outbound_mail_sessions = 5;
        f.blockable_sessions = 5;
        f.blockable_mail_sessions = 5;
    });
    let c = HostCounts::of(&h, Unit::Messages, None);
    assert!(
        close(c.volume, 5.0) && close(c.blockable_volume, 5.0),
        "{c:?}"
    );
}

/// The relays' log, hand-made: `(host number, body_sent, accepted)` traced
/// to hosts 198.18.0.n, plus deliveries nobody can be weighed by.
fn relay_log_of(
    r: &op25b_rank::Ranking,
    traced: &[(u32, u64, u64)],
) -> op25b_report::relay_log::RelayLog {
    use op25b_report::relay_log::{LoggedDeliveries, RelayLog, RelayLogWindow};
    let mut w = RelayLogWindow {
        start_us: r.start_us,
        end_us: r.end_us,
        ..RelayLogWindow::default()
    };
    for &(n, body_sent, accepted) in traced {
        let d = LoggedDeliveries {
            body_sent,
            accepted,
        };
        w.by_client
            .insert(std::net::IpAddr::from([198, 18, 0, n as u8]), d);
        w.deliveries.body_sent += body_sent;
        w.deliveries.accepted += accepted;
    }
    w.local = LoggedDeliveries {
        body_sent: 3,
        accepted: 3,
    };
    w.deliveries.body_sent += 3;
    w.deliveries.accepted += 3;
    RelayLog {
        before: w,
        after: None,
        outside_inputs: 0,
        classic_year: 2005,
        classic_utc_offset_s: 0,
        stats: Default::default(),
    }
}

#[test]
fn the_relays_log_replaces_the_inferred_fraction() {
    // The worked example: from submissions f = 0.25 and the relay's 40
    // messages carry 10 spam. Its log says otherwise: of the 40 deliveries
    // receivers accepted, 28 came from Z2 (host 2), 2 from S1 (host 3),
    // 10 from C1 (host 4); 3 more were bounces made on the relay and 5 came
    // from a customer whose traffic is not in the input (host 99), both left
    // out. phi = (28 + 0.5 * 2) / (28 + 2 + 10) = 0.725.
    let r = worked_example();
    let log = relay_log_of(&r, &[(2, 30, 28), (3, 2, 2), (4, 10, 10), (99, 5, 5)]);
    let mut inp = input(r, None);
    inp.relay_log = Some(log);
    let s = estimate(&inp, 200, 1);
    assert!(close(s.before.submitted_spam_fraction, 0.25));
    assert!(close(s.before.relay_log_spam_fraction.unwrap(), 0.725));
    assert!(close(s.before.relay_spam_fraction, 0.725));
    assert_eq!(s.before.relay_spam_fraction_source, "relay_log");
    assert!(close(s.before.relay_log_volume.unwrap(), 40.0));
    // spam = 60 + 30 + 0.5 * 10 + 0.725 * 40 = 124; 124 / 175.
    assert!(close(s.before.spam_share.unwrap(), 124.0 / 175.0));
    // The simulated block removes Z1, Z2, S1 and C2's direct mail: C3's 15
    // (static) and the relay's 40 are left, 0.725 * 40 = 29 of it spam.
    assert!(close(
        s.simulated_after.scenario.spam_share.unwrap(),
        0.725 * 40.0 / 55.0
    ));
    // summary.csv's cells for the same: 48 deliveries, 8 not traced.
    assert_eq!(s.before.relay_log_deliveries, Some(48.0));
    assert_eq!(s.before.relay_log_untraced, Some(8.0));
    assert_eq!(s.simulated_after.scenario.relay_log_untraced, Some(8.0));
    let span = &s.relay_log.as_ref().unwrap().before;
    assert_eq!(
        (
            span.deliveries,
            span.ranked_hosts,
            span.unranked_clients,
            span.local
        ),
        (48.0, 40.0, 5.0, 3.0)
    );
    // The interval is built from the same fraction, resampled with the hosts.
    let [lo, hi] = s.before.spam_share_ci95.unwrap();
    assert!(lo <= 124.0 / 175.0 && 124.0 / 175.0 <= hi, "{lo} {hi}");
}

#[test]
fn a_log_that_traces_nothing_to_ranked_hosts_leaves_the_inferred_fraction() {
    let r = worked_example();
    let log = relay_log_of(&r, &[(99, 5, 5)]);
    let mut inp = input(r, None);
    inp.relay_log = Some(log);
    let s = estimate(&inp, 0, 1);
    assert_eq!(s.before.relay_spam_fraction_source, "submissions");
    assert!(s.before.relay_log_spam_fraction.is_none());
    assert!(close(s.before.relay_log_volume.unwrap(), 0.0));
    assert!(close(s.before.relay_spam_fraction, 0.25));
}

#[test]
fn in_the_sessions_unit_the_log_counts_deliveries_whose_receiver_got_the_body() {
    // Flows only: Z (host 1) handed in 2 submission sessions and C (host 2)
    // 2, so f = 0.5; but the relay's 10 sessions that carried a body were 8
    // of Z's messages and 2 of C's. Receivers accepted 5 of Z's 8 (the
    // messages unit would count those; this one does not).
    let r = flows_with_submissions(2, 2, 2);
    let log = relay_log_of(&r, &[(1, 8, 5), (2, 2, 2)]);
    let mut inp = input(r, None);
    inp.relay_log = Some(log);
    let s = estimate(&inp, 0, 1);
    assert_eq!(s.unit, Unit::Sessions);
    assert!(close(s.before.submitted_spam_fraction, 0.5));
    assert!(close(s.before.relay_spam_fraction, 0.8));
    assert!(close(s.before.spam_share.unwrap(), 0.8));
}
