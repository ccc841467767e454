//! synth -> capture -> rank -> estimate against the simulator's ground truth
//! (truth.json), over several seeds of the wakwak-2005 profile.
//!
//! Seeds and scale: `OP25B_E2E_SEEDS` (default 10) and `OP25B_E2E_SCALE`
//! (default 0.5) so that the run stays short on a 2-core machine;
//! `OP25B_E2E_FIRST_SEED` (default 1) starts the seeds elsewhere, for a run
//! on seeds the estimators were not tuned on.

mod common;

use op25b_capture::{CaptureOptions, ingest};
use op25b_core::IspConfig;
use op25b_rank::{HostAggregator, RankConfig, Ranking};
use op25b_report::Summary;
use serde_json::Value;
use std::path::Path;

fn rank_capture(path: &Path, cfg: &IspConfig, rank_cfg: &RankConfig) -> Ranking {
    let mut agg = HostAggregator::new(&cfg.network);
    let opts = CaptureOptions {
        threads: 1,
        ..CaptureOptions::default()
    };
    ingest(
        &[path.to_path_buf()],
        &opts,
        &mut |r| agg.push(&r),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("ingest {}: {e}", path.display()));
    agg.finish(rank_cfg)
}

struct SeedResult {
    seed: u64,
    summary: Summary,
    /// The same with the ISP mail servers' log (`--relay-log`).
    with_relay_log: Summary,
    truth: Value,
    /// The report's collateral hosts (collateral.csv).
    collateral_addresses: Vec<String>,
    /// Those that moved to submission after the block.
    moved_addresses: Vec<String>,
    /// The hosts blocked-after.csv counts as customers still trying port 25.
    blocked_customers: Vec<String>,
}

fn run_seed(seed: u64, scale: f64) -> SeedResult {
    let common::SynthSeed {
        mut input,
        truth,
        relay_log,
    } = common::synth_seed(
        "wakwak-2005",
        seed,
        scale,
        ("before.pcap", "after.pcap"),
        &format!("seed{seed}"),
        rank_capture,
    );
    let (summary, with_relay_log) =
        common::estimate_without_and_with_log(&mut input, relay_log, seed);
    let (collateral_addresses, moved_addresses) =
        common::collateral_and_moved(&input, input.after.as_ref(), summary.unit);
    SeedResult {
        seed,
        collateral_addresses,
        moved_addresses,
        blocked_customers: common::blocked_customers_after(&input, &summary),
        summary,
        with_relay_log,
        truth,
    }
}

#[test]
fn estimates_match_the_simulators_truth() {
    let seed_range = common::seeds("OP25B_E2E_SEEDS", 10);
    let seeds = seed_range.clone().count() as u64;
    let scale: f64 = common::env_or("OP25B_E2E_SCALE", 0.5);
    let mut covered = [0u32; 3];
    let mut after_close = 0u32;
    let mut moved_ok = 0u32;
    let mut blocked_ok = 0u32;
    let mut logged_covered = [0u32; 3];
    let mut failures = Vec::new();
    for seed in seed_range {
        let SeedResult {
            seed,
            summary: s,
            with_relay_log: logged,
            truth,
            collateral_addresses,
            moved_addresses,
            blocked_customers,
        } = run_seed(seed, scale);
        let before_truth = common::num(&truth["phases"]["before"]["spam_share_messages"]);
        let after_truth = common::num(&truth["phases"]["after"]["spam_share_messages"]);
        let sim_truth = common::num(&truth["simulated_after"]["spam_share_messages"]);
        // What the differential method measures: the spam that stopped
        // leaving, as a share of the volume before (durations normalised).
        let (b, a) = (&truth["phases"]["before"], &truth["phases"]["after"]);
        let k = (common::num(&b["end_us"]) - common::num(&b["start_us"]))
            / (common::num(&a["end_us"]) - common::num(&a["start_us"]));
        let diff_truth = (common::num(&b["spam_messages"]) - k * common::num(&a["spam_messages"]))
            / common::num(&b["outbound_messages"]);
        let after = &s.after.as_ref().expect("after").scenario;
        let diff = s.differential.as_ref().expect("differential");
        let sim = &s.simulated_after;
        println!(
            "seed {seed}: before {:.4} (truth {before_truth:.4}, CI {:?}), after {:.4} (truth {after_truth:.4}), \
             simulated {:.4} (truth {sim_truth:.4}), differential {:.4} (truth {diff_truth:.4}), \
             collateral {} (truth {}), zombies {} (truth {})",
            s.before.spam_share.unwrap_or(f64::NAN),
            s.before.spam_share_ci95,
            after.spam_share.unwrap_or(f64::NAN),
            sim.scenario.spam_share.unwrap_or(f64::NAN),
            diff.spam_share.unwrap_or(f64::NAN),
            sim.collateral_hosts,
            truth["simulated_after"]["collateral_hosts"],
            s.before.zombies,
            truth["population"]["zombies"],
        );
        assert_eq!(s.unit.as_str(), "messages");
        // The sensitivity row at the configured thresholds reproduces rank.
        let one = s
            .sensitivity
            .iter()
            .find(|r| r.factor == 1.0)
            .expect("factor 1 row");
        assert_eq!(
            (one.zombies, one.suspects),
            (s.before.zombies, s.before.suspects)
        );
        assert_eq!(one.spam_share, s.before.spam_share);
        // "after": the 0.02 on at least 90% of seeds (counted,
        // asserted below) and 0.03 on every seed. After the block most spam
        // leaves through the ISP's relay, whose spam fraction is inferred
        // from who submitted to it and corrected for the relay's refused
        // deliveries (crates/report/README.md); what is left is noise in the
        // legitimate acceptance rate and stolen-credential bots that rank
        // leaves suspect (weight 0.5). Measured 2026-11-28: 18 of 20 seeds
        // within 0.02 at scale 0.5, 20 of 20 at scale 1 and at scale 2.
        let after_est = after.spam_share.unwrap_or(f64::NAN);
        if (after_est - after_truth).abs() <= 0.02 {
            after_close += 1;
        }
        let checks = [
            ("before", s.before.spam_share, before_truth, 0.02),
            ("after", after.spam_share, after_truth, 0.03),
            ("simulated", sim.scenario.spam_share, sim_truth, 0.02),
            ("differential", diff.spam_share, diff_truth, 0.05),
        ];
        for (name, est, truth, tol) in checks {
            let est = est.unwrap_or(f64::NAN);
            // NaN (no estimate) fails too.
            let within = (est - truth).abs() <= tol;
            if !within {
                failures.push(format!(
                    "seed {seed} {name}: estimate {est:.4}, truth {truth:.4}"
                ));
            }
        }
        // Collateral: the report counts addresses, truth.json machines; a
        // dual-stack customer is one machine with two addresses. Every
        // address must belong to a truth collateral machine, and every truth
        // collateral machine must be found.
        assert_eq!(sim.collateral_hosts as usize, collateral_addresses.len());
        let found = common::machines(&collateral_addresses, &truth);
        let expected = common::truth_collateral(&truth);
        if found != expected {
            failures.push(format!(
                "seed {seed} collateral machines: {found:?} vs truth {expected:?}"
            ));
        }
        // Customers who moved to submission after the block, against truth.
        let moved = common::machines(&moved_addresses, &truth);
        assert_eq!(
            moved_addresses.len() as u64,
            s.simulated_after.collateral_moved_hosts.unwrap_or(u64::MAX),
            "seed {seed}: collateral.csv against collateral_moved_hosts"
        );
        match common::check_moved(&moved, &found, &truth) {
            Ok(equal) => moved_ok += u32::from(equal),
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
        // Measured after the block: the capture sees every attempt the
        // block refused, none answered; the customers still trying port 25
        // against truth's.
        let measured = s.after.as_ref().expect("after");
        assert_eq!(
            (measured.blocked_sessions, measured.leaked_sessions),
            (
                truth["phases"]["after"]["op25b_dropped_sessions"]
                    .as_u64()
                    .unwrap_or(u64::MAX),
                0
            ),
            "seed {seed}: sessions the block stopped"
        );
        let blocked = common::machines(&blocked_customers, &truth);
        let truth_blocked = common::truth_blocked_customers_after(&truth);
        blocked_ok += u32::from(blocked == truth_blocked);
        if blocked != truth_blocked {
            println!("  customers still blocked after: {blocked:?} vs truth {truth_blocked:?}");
        }
        assert_eq!(
            expected.len() as u64,
            truth["simulated_after"]["collateral_hosts"]
                .as_u64()
                .unwrap_or(0)
        );
        for (i, (ci, t)) in [
            (s.before.spam_share_ci95, before_truth),
            (after.spam_share_ci95, after_truth),
            (sim.scenario.spam_share_ci95, sim_truth),
        ]
        .into_iter()
        .enumerate()
        {
            covered[i] += u32::from(common::inside(ci, t));
        }
        // With the relays' log their spam fraction is counted, not
        // inferred: the 0.02 on every seed, the differential
        // unchanged (it does not use the fraction).
        let logged_after = &logged.after.as_ref().expect("after").scenario;
        assert_eq!(logged_after.relay_spam_fraction_source, "relay_log");
        let logged_checks = [
            (
                "before",
                logged.before.spam_share,
                before_truth,
                logged.before.spam_share_ci95,
            ),
            (
                "after",
                logged_after.spam_share,
                after_truth,
                logged_after.spam_share_ci95,
            ),
            (
                "simulated",
                logged.simulated_after.scenario.spam_share,
                sim_truth,
                logged.simulated_after.scenario.spam_share_ci95,
            ),
        ];
        let mut line = format!("  with the relays' log, seed {seed}:");
        for (i, (name, est, truth, ci)) in logged_checks.into_iter().enumerate() {
            let est = est.unwrap_or(f64::NAN);
            line += &format!(" {name} {est:.4} (err {:+.4})", est - truth);
            if (est - truth).abs().is_nan() || (est - truth).abs() > 0.02 {
                failures.push(format!(
                    "seed {seed} {name} with the relays' log: estimate {est:.4}, truth {truth:.4}"
                ));
            }
            logged_covered[i] += u32::from(common::inside(ci, truth));
        }
        assert_eq!(
            logged.differential.as_ref().and_then(|d| d.spam_share),
            diff.spam_share
        );
        println!("{line}");
    }
    println!(
        "with the relays' log, truth inside the 95% CI (before, after, simulated): {logged_covered:?} of {seeds}"
    );
    println!("truth inside the 95% CI (before, after, simulated): {covered:?} of {seeds}");
    println!("after within 0.02 of the truth: {after_close} of {seeds}");
    println!("collateral moved to submission equal to truth on {moved_ok} of {seeds}");
    println!("customers still blocked after the block equal to truth on {blocked_ok} of {seeds}");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        f64::from(blocked_ok) >= 0.9 * seeds as f64,
        "customers still blocked after the block equal to truth on only {blocked_ok} of {seeds} seeds"
    );
    assert!(
        f64::from(after_close) >= 0.9 * seeds as f64,
        "after within 0.02 on only {after_close} of {seeds} seeds"
    );
    for c in covered.into_iter().chain(logged_covered) {
        assert!(
            f64::from(c) >= 0.9 * seeds as f64,
            "coverage {covered:?} of {seeds}"
        );
    }
}
