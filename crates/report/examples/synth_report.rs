//! A whole report from simulated traffic, for looking at the charts:
//! `cargo run -p op25b-report --example synth_report -- OUT_DIR [SEED] [SCALE] [WxH]`.
//! Runs op25b-synth (wakwak-2005), op25b-capture and op25b-rank in process.

use op25b_capture::{CaptureOptions, ingest};
use op25b_core::IspConfig;
use op25b_rank::{HostAggregator, RankConfig, Ranking};
use op25b_report::{ReportInput, ReportOptions, write_report};
use std::path::{Path, PathBuf};

fn rank(path: &Path, cfg: &IspConfig, rank_cfg: &RankConfig) -> anyhow::Result<Ranking> {
    let mut agg = HostAggregator::new(&cfg.network);
    ingest(
        &[path.to_path_buf()],
        &CaptureOptions::default(),
        &mut |r| agg.push(&r),
        &mut |_| {},
    )?;
    Ok(agg.finish(rank_cfg))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(
        args.get(1)
            .map_or("/tmp/op25b-synth-report", String::as_str),
    );
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let scale = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let (width, height) = args
        .get(4)
        .and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((1600, 900));
    let synth_dir = out.join("synth");
    op25b_synth::run(&op25b_synth::SynthOptions {
        profile: "wakwak-2005".into(),
        out_dir: synth_dir.clone(),
        seed,
        scale,
        sampling: 1,
    })?;
    let cfg = IspConfig::load(&synth_dir.join("isp.toml"))?;
    let rank_cfg = RankConfig::from_isp(&cfg).map_err(anyhow::Error::msg)?;
    let before = rank(&synth_dir.join("before.pcap"), &cfg, &rank_cfg)?;
    let after = rank(&synth_dir.join("after.pcap"), &cfg, &rank_cfg)?;
    let input = ReportInput {
        network: cfg.network.clone(),
        rank_cfg,
        before,
        after: Some(after),
        defaults_used: false,
        relay_log: None,
    };
    let t0 = std::time::Instant::now();
    let summary = write_report(
        &input,
        &ReportOptions {
            out_dir: out.join("report"),
            width,
            height,
            svg: true,
            inputs: vec!["synth/before.pcap".into(), "synth/after.pcap".into()],
            ..ReportOptions::default()
        },
    )?;
    println!(
        "report in {:.2} s: before {:?}, after {:?}, simulated {:?}",
        t0.elapsed().as_secs_f64(),
        summary.before.spam_share,
        summary.after.as_ref().and_then(|a| a.scenario.spam_share),
        summary.simulated_after.scenario.spam_share
    );
    Ok(())
}
