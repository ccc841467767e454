//! synth -> NetFlow v5 export, and the IPFIX export of the same traffic
//! (each inside a capture) -> flow decoding and pairing -> rank -> estimate,
//! against the simulator's ground truth, over several seeds of the
//! wakwak-2005 profile. NetFlow v5 carries IPv4 only; IPFIX carries the
//! customers' IPv6 too.
//!
//! Flows hide the dialogue, so the report counts in the `sessions` unit; the
//! truth it is compared with is what a flow can see: outbound sessions in
//! which a message body was transmitted (truth.json's
//! `spam_share_data_sessions`), whatever the receiver answered after it.
//!
//! Each seed is estimated twice: from the flows alone, and with the ISP mail
//! servers' Postfix log (`--relay-log`), which traces each relay delivery
//! to the customer who submitted it.
//!
//! Seeds and scale: `OP25B_E2E_SEEDS` (default 10), `OP25B_E2E_SCALE`
//! (default 0.5) and `OP25B_E2E_FIRST_SEED` (default 1), as in
//! `end_to_end.rs`.

mod common;

use op25b_capture::{CaptureOptions, Datagram, ingest};
use op25b_core::{DEFAULT_SMTP_PORTS, IspConfig};
use op25b_flow::{DecoderOptions, FlowDecoder, PairerOptions, SessionPairer};
use op25b_rank::{HostAggregator, RankConfig, Ranking};
use op25b_report::Summary;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

/// The CLI's path for flow exports inside a capture (crates/cli/src/sources.rs):
/// capture ingest hands every export datagram to one FlowDecoder, whose flow
/// records a SessionPairer joins into session records.
fn rank_netflow(path: &Path, cfg: &IspConfig, rank_cfg: &RankConfig) -> (Ranking, u64) {
    let agg = RefCell::new(HostAggregator::new(&cfg.network));
    let decoder = RefCell::new(FlowDecoder::new(DecoderOptions::default()));
    let pairer = RefCell::new(SessionPairer::new(
        DEFAULT_SMTP_PORTS,
        PairerOptions::default(),
    ));
    let records = RefCell::new(0u64);
    let emit = |r: op25b_core::SessionRecord| {
        *records.borrow_mut() += 1;
        agg.borrow_mut().push(&r);
    };
    let opts = CaptureOptions {
        threads: 1,
        ..CaptureOptions::default()
    };
    let mut flows = Vec::new();
    ingest(
        &[path.to_path_buf()],
        &opts,
        // The capture holds only the exporter's UDP datagrams: no SMTP packets.
        &mut |r| emit(r),
        &mut |d: Datagram<'_>| {
            decoder
                .borrow_mut()
                .decode(d.src, d.ts_us, d.payload, &mut flows);
            let mut p = pairer.borrow_mut();
            for fr in flows.drain(..) {
                p.push(&fr, &mut |r| emit(r));
            }
        },
    )
    .unwrap_or_else(|e| panic!("ingest {}: {e}", path.display()));
    let mut rest = Vec::new();
    decoder.borrow_mut().finish(&mut rest);
    {
        let mut p = pairer.borrow_mut();
        for fr in rest.drain(..) {
            p.push(&fr, &mut |r| emit(r));
        }
        p.finish(&mut |r| emit(r));
    }
    let records = records.into_inner();
    (agg.into_inner().finish(rank_cfg), records)
}

struct SeedResult {
    /// From the flows alone, and with the ISP mail servers' log.
    flows_only: Summary,
    with_relay_log: Summary,
    truth: Value,
    collateral_addresses: Vec<String>,
    /// The same from the before input's verdicts alone.
    collateral_before_only: Vec<String>,
    /// Those of `collateral_addresses` that moved to submission after the
    /// block.
    moved_addresses: Vec<String>,
    /// truth.json's collateral machines the before flows show.
    visible_collateral: BTreeSet<String>,
    /// The hosts blocked-after.csv counts as customers still trying port
    /// 25 after the block.
    blocked_customers: Vec<String>,
}

/// truth.json's collateral machines among those the flows of `before` show
/// (every client address of its ranking).
fn visible_truth_collateral(before: &Ranking, truth: &Value) -> BTreeSet<String> {
    let ranked: Vec<String> = before
        .hosts
        .iter()
        .map(|h| h.features.host.to_string())
        .collect();
    let visible = common::machines(&ranked, truth);
    common::truth_collateral(truth)
        .into_iter()
        .filter(|m| visible.contains(m))
        .collect()
}

/// `export`: the name synth gives the export, `netflow5` or `ipfix`.
fn run_seed(seed: u64, scale: f64, export: &str) -> SeedResult {
    let common::SynthSeed {
        mut input,
        truth,
        relay_log,
    } = common::synth_seed(
        "wakwak-2005",
        seed,
        scale,
        (
            &format!("before-{export}.pcap"),
            &format!("after-{export}.pcap"),
        ),
        &format!("{export}-seed{seed}"),
        |path, cfg, rank_cfg| {
            let (ranking, records) = rank_netflow(path, cfg, rank_cfg);
            assert!(records > 0, "no session records from {}", path.display());
            ranking
        },
    );
    let (flows_only, with_relay_log) =
        common::estimate_without_and_with_log(&mut input, relay_log, seed);
    let (collateral_addresses, moved_addresses) =
        common::collateral_and_moved(&input, input.after.as_ref(), flows_only.unit);
    SeedResult {
        collateral_addresses,
        moved_addresses,
        collateral_before_only: common::collateral_and_moved(&input, None, flows_only.unit).0,
        visible_collateral: visible_truth_collateral(&input.before, &truth),
        blocked_customers: common::blocked_customers_after(&input, &flows_only),
        flows_only,
        with_relay_log,
        truth,
    }
}

const NAMES: [&str; 4] = ["before", "after", "simulated", "differential"];
/// The bounds.
const BOUNDS: [f64; 4] = [0.02, 0.02, 0.02, 0.05];

/// Errors, closeness and coverage of one way of estimating over the seeds.
struct Tally {
    label: &'static str,
    guards: [f64; 4],
    worst: [f64; 4],
    close: [u32; 4],
    covered: [u32; 3],
}

impl Tally {
    fn new(label: &'static str, guards: [f64; 4]) -> Tally {
        Tally {
            label,
            guards,
            worst: [0.0; 4],
            close: [0; 4],
            covered: [0; 3],
        }
    }

    /// Adds one seed; returns its line for the log and pushes what fails.
    fn add(
        &mut self,
        seed: u64,
        s: &Summary,
        truths: &[f64; 4],
        failures: &mut Vec<String>,
    ) -> String {
        assert_eq!(s.unit.as_str(), "sessions", "flows hide the dialogue");
        let after = &s.after.as_ref().expect("after").scenario;
        let diff = s.differential.as_ref().expect("differential");
        let sim = &s.simulated_after;
        let estimates = [
            s.before.spam_share,
            after.spam_share,
            sim.scenario.spam_share,
            diff.spam_share,
        ]
        .map(|e| e.unwrap_or(f64::NAN));
        let mut line = format!("  {}:", self.label);
        for i in 0..4 {
            // NaN (no estimate) counts as a miss and fails.
            let err = (estimates[i] - truths[i]).abs();
            self.worst[i] = if err.is_nan() {
                f64::NAN
            } else {
                self.worst[i].max(err)
            };
            self.close[i] += u32::from(err <= BOUNDS[i]);
            line += &format!(
                " {} {:.4} (err {:+.4})",
                NAMES[i],
                estimates[i],
                estimates[i] - truths[i]
            );
            if err.is_nan() || err > self.guards[i] {
                failures.push(format!(
                    "seed {seed} {} {}: estimate {:.4}, truth {:.4}, over {}",
                    self.label, NAMES[i], estimates[i], truths[i], self.guards[i]
                ));
            }
        }
        for (i, ci) in [
            s.before.spam_share_ci95,
            after.spam_share_ci95,
            sim.scenario.spam_share_ci95,
        ]
        .into_iter()
        .enumerate()
        {
            self.covered[i] += u32::from(common::inside(ci, truths[i]));
        }
        line
    }

    fn report(&self, seeds: u64) {
        println!(
            "{}: largest |estimate - truth| (before, after, simulated, differential): {:.4?}; \
             within the issue's bounds {BOUNDS:?} on {:?} of {seeds} seeds; truth inside \
             the 95% CI (before, after, simulated): {:?}",
            self.label, self.worst, self.close, self.covered
        );
    }

    fn assert_coverage(&self, seeds: u64) {
        // The coverage requirement.
        for c in self.covered {
            assert!(
                f64::from(c) >= 0.9 * seeds as f64,
                "{}: coverage {:?} of {seeds}",
                self.label,
                self.covered
            );
        }
    }
}

#[test]
fn netflow_estimates_match_the_simulators_truth() {
    estimates_match_the_simulators_truth("netflow5");
}

#[test]
fn ipfix_estimates_match_the_simulators_truth() {
    estimates_match_the_simulators_truth("ipfix");
}

fn estimates_match_the_simulators_truth(export: &str) {
    println!("== {export}");
    let seed_range = common::seeds("OP25B_E2E_SEEDS", 10);
    let seeds = seed_range.clone().count() as u64;
    let scale: f64 = common::env_or("OP25B_E2E_SCALE", 0.5);
    // What is asserted on every seed, from the flows alone: differential
    // and before, the bounds (before: up to 0.03 on rare seeds,
    // low-rate zombies that rank leaves suspect or clean on flows). After
    // and simulated after: NOT the 0.02, which flows alone do not
    // meet (crates/report/README.md, "The sessions unit"): the relays'
    // spam fraction counts submission sessions where the relay sends one
    // session per message. These guard against regressions.
    let mut flows_only = Tally::new("flows only", [0.03, 0.08, 0.06, 0.05]);
    // With the ISP mail servers' log, the relays' output is weighed by who
    // submitted each delivery: the bounds on at least 90% of seeds
    // (asserted below), 0.03 on every seed. What is left is verdicts: a
    // low-rate stolen-credential bot that rank on flows leaves suspect.
    // Measured 2026-11-29, 20 seeds: within 0.02 on 20/19/20 (before,
    // after, simulated) at scale 0.5, 20/20/19 at 1, 20/20/20 at 2; largest
    // misses 0.024 (after, scale 0.5) and 0.025 (simulated, scale 1).
    let mut with_log = Tally::new("flows + relay log", [0.03, 0.03, 0.03, 0.05]);
    let (mut collateral_ok, mut before_only_ok, mut moved_ok) = (0u32, 0u32, 0u32);
    let mut blocked_ok = 0u32;
    let mut failures = Vec::new();
    for seed in seed_range {
        let r = run_seed(seed, scale, export);
        let truth = &r.truth;
        let (b, a) = (&truth["phases"]["before"], &truth["phases"]["after"]);
        let k = (common::num(&b["end_us"]) - common::num(&b["start_us"]))
            / (common::num(&a["end_us"]) - common::num(&a["start_us"]));
        let truths = [
            common::num(&b["spam_share_data_sessions"]),
            common::num(&a["spam_share_data_sessions"]),
            common::num(&truth["simulated_after"]["spam_share_data_sessions"]),
            // The spam the block removed, in data sessions, as a share of
            // the data sessions before (durations normalised).
            (common::num(&b["spam_data_sessions"]) - k * common::num(&a["spam_data_sessions"]))
                / common::num(&b["outbound_data_sessions"]),
        ];
        println!(
            "seed {seed}: truth before {:.4} after {:.4} simulated {:.4} differential {:.4}",
            truths[0], truths[1], truths[2], truths[3]
        );
        println!(
            "{}",
            flows_only.add(seed, &r.flows_only, &truths, &mut failures)
        );
        println!(
            "{}",
            with_log.add(seed, &r.with_relay_log, &truths, &mut failures)
        );
        let logged = &r.with_relay_log.after.as_ref().expect("after").scenario;
        assert_eq!(
            logged.relay_spam_fraction_source, "relay_log",
            "seed {seed}"
        );
        assert_eq!(
            r.flows_only.simulated_after.collateral_hosts as usize,
            r.collateral_addresses.len(),
            "seed {seed}: collateral.csv against summary"
        );
        let found = common::machines(&r.collateral_addresses, truth);
        // NetFlow v5 cannot carry IPv6: a customer whose blocked sessions
        // all went over IPv6 is not in its flows at all, and is left out.
        let all = common::truth_collateral(truth);
        let expected = r.visible_collateral.clone();
        // IPFIX carries IPv6: every customer the block cuts off is there.
        if export != "netflow5" && expected != all {
            failures.push(format!(
                "seed {seed}: collateral machines not in the {export} flows: {:?}",
                all.difference(&expected).collect::<Vec<_>>()
            ));
        }
        collateral_ok += u32::from(found == expected);
        before_only_ok += u32::from(common::machines(&r.collateral_before_only, truth) == expected);
        if found != expected {
            println!("  collateral {found:?} vs truth (visible) {expected:?}");
        }
        // Customers who moved to submission after the block, against truth.
        match common::check_moved(&common::machines(&r.moved_addresses, truth), &found, truth) {
            Ok(equal) => moved_ok += u32::from(equal),
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
        // Measured after the block: every attempt the block refused is a
        // flow (NetFlow v5 leaves out IPv6), none answered; the customers
        // still trying port 25 against truth's.
        let measured = r.flows_only.after.as_ref().expect("after");
        let dropped = truth["phases"]["after"]["op25b_dropped_sessions"]
            .as_u64()
            .unwrap_or(u64::MAX);
        let seen_all = if export == "netflow5" {
            measured.blocked_sessions <= dropped
        } else {
            measured.blocked_sessions == dropped
        };
        if !seen_all || measured.leaked_sessions > 0 {
            failures.push(format!(
                "seed {seed}: after the block {} sessions refused (truth {dropped}), {} answered",
                measured.blocked_sessions, measured.leaked_sessions
            ));
        }
        let blocked = common::machines(&r.blocked_customers, truth);
        let truth_blocked = common::truth_blocked_customers_after(truth);
        blocked_ok += u32::from(blocked == truth_blocked);
        if blocked != truth_blocked {
            println!("  customers still blocked after: {blocked:?} vs truth {truth_blocked:?}");
        }
        // Every legitimate customer the block cuts off is found, on every
        // seed. Extra addresses are low-rate zombies that rank, on flows,
        // called clean before the block and, with 3 refused attempts, after
        // it too (asserted below: at most one seed in ten).
        let missed: Vec<&String> = expected.difference(&found).collect();
        if !missed.is_empty() {
            failures.push(format!(
                "seed {seed}: collateral machines missed: {missed:?}"
            ));
        }
    }
    flows_only.report(seeds);
    with_log.report(seeds);
    println!(
        "{export}: collateral machines equal (those in the flows) on {collateral_ok} of {seeds} \
         ({before_only_ok} from the before verdicts alone); moved to submission equal on {moved_ok}; \
         customers still blocked after the block equal on {blocked_ok}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // Measured 2026-11-29, 20 seeds: 20, 20 and 18 of 20 at scales 0.5, 1
    // and 2 (from the before verdicts alone: printed above).
    assert!(
        f64::from(collateral_ok) >= 0.9 * seeds as f64,
        "collateral equal to truth on only {collateral_ok} of {seeds} seeds"
    );
    assert!(
        f64::from(blocked_ok) >= 0.9 * seeds as f64,
        "customers still blocked after the block equal to truth on only {blocked_ok} of {seeds} seeds"
    );
    flows_only.assert_coverage(seeds);
    with_log.assert_coverage(seeds);
    for (i, c) in with_log.close.iter().enumerate() {
        assert!(
            f64::from(*c) >= 0.9 * seeds as f64,
            "flows + relay log: {} within {} on only {c} of {seeds} seeds",
            NAMES[i],
            BOUNDS[i]
        );
    }
}

/// A simulated ISP whose customers cut off by the block run their own mail
/// server, which after the block retries each message five times on port
/// 25 to the MX of each of its 1-4 recipient domains (synth profile
/// `wakwak-2005-retries`). Every refused retry raises rank's score, so rank
/// calls such a customer a suspect, or a zombie, after the block; having
/// come back to the same servers rather than sprayed new ones, it stays
/// collateral. Seeds: `OP25B_E2E_RETRY_SEEDS` (default 3), scale 0.5,
/// NetFlow v5.
#[test]
fn customers_whose_mail_server_retries_after_the_block_stay_collateral() {
    let seed_range = common::seeds("OP25B_E2E_RETRY_SEEDS", 3);
    let seeds = seed_range.clone().count() as u64;
    let mut suspect_after = 0;
    let (mut collateral_ok, mut blocked_ok) = (0u32, 0u32);
    for seed in seed_range {
        let common::SynthSeed { input, truth, .. } = common::synth_seed(
            "wakwak-2005-retries",
            seed,
            0.5,
            ("before-netflow5.pcap", "after-netflow5.pcap"),
            &format!("retries-seed{seed}"),
            |path, cfg, rank_cfg| rank_netflow(path, cfg, rank_cfg).0,
        );
        let summary = op25b_report::estimate(&input, 0, seed);
        let csv = op25b_report::collateral_csv(
            &input.before,
            input.after.as_ref(),
            summary.unit,
            &input.rank_cfg,
        );
        let table = common::CsvTable::parse(&csv, op25b_report::COLLATERAL_CSV_COLUMNS);
        suspect_after += table
            .pick(["counted_as", "verdict_after"])
            .iter()
            .filter(|[counted, after]| {
                *counted == "collateral" && matches!(*after, "suspect" | "zombie")
            })
            .count();
        let (addresses, _) =
            common::collateral_and_moved(&input, input.after.as_ref(), summary.unit);
        assert_eq!(
            summary.simulated_after.collateral_hosts as usize,
            addresses.len()
        );
        let expected = visible_truth_collateral(&input.before, &truth);
        let found = common::machines(&addresses, &truth);
        // After the block the same customers are still trying port 25,
        // retrying: blocked-after.csv counts them as customers, not bots.
        let blocked = common::machines(&common::blocked_customers_after(&input, &summary), &truth);
        let truth_blocked = common::truth_blocked_customers_after(&truth);
        println!(
            "retries seed {seed}: collateral {} (truth {}), judged suspect or zombie after so far \
             {suspect_after}; still blocked after {} (truth {})",
            found.len(),
            expected.len(),
            blocked.len(),
            truth_blocked.len()
        );
        collateral_ok += u32::from(found == expected);
        blocked_ok += u32::from(blocked == truth_blocked);
        if (&found, &blocked) != (&expected, &truth_blocked) {
            println!(
                "  collateral {found:?} vs truth {expected:?}; still blocked after {blocked:?} vs \
                 truth {truth_blocked:?}"
            );
        }
    }
    // Measured 2026-11-29, seeds 1-40: both equal to truth on 39. Seed 17
    // misses a customer whose mail server, in the last minutes of the
    // hour, sent a new message to four domains it had no time to retry:
    // five servers, nine attempts, which looks sprayed.
    for (what, ok) in [
        ("collateral", collateral_ok),
        ("still blocked after", blocked_ok),
    ] {
        assert!(
            f64::from(ok) >= 0.9 * seeds as f64,
            "{what} equal to truth on only {ok} of {seeds} seeds"
        );
    }
    // Measured 2026-11-29, seeds 1-3: every one of the 8 customers a seed
    // cuts off was a suspect or a zombie after the block.
    assert!(
        suspect_after > 0,
        "no retrying customer was judged worse after the block: nothing was tested"
    );
}
