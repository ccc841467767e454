//! `op25b-report`: the share of an ISP's outbound mail that is spam, before
//! and after Outbound Port 25 Blocking, with confidence intervals, collateral
//! damage, CSV/JSON for scripts, PNG charts for slides and a self-contained
//! HTML report.
//!
//! Input is a ranking from `op25b-rank` (one for the traffic before the
//! block, optionally one after); [`estimate`] computes the numbers,
//! [`write_report`] writes every file of the report directory.

mod charts;
mod estimate;
mod output;
pub mod relay_log;
mod rng;
mod time;
mod timeline;

pub use estimate::{
    AfterTheBlock, AfterVerdict, BlockedAfter, BootstrapResult, Class, ConfigSummary, Differential,
    DifferentialParts, ESTIMATORS, EstimatorDoc, HostCounts, InputAccounting, MeasuredAfter,
    RelayLogSpan, RelayLogSummary, SENSITIVITY_FACTORS, SUSPECT_WEIGHT, Scenario, SensitivityRow,
    Simulated, Strata, Summary, Totals, Unit, blocked_after, bootstrap, choose_unit,
    collateral_class, differential, duration_scale, estimate, messages_per_mail_session,
    percentile_interval, reclassify, sensitivity, spam_weight,
};
pub use output::{
    BLOCKED_AFTER_CSV_COLUMNS, COLLATERAL_CSV_COLUMNS, SUBMITTERS_CSV_COLUMNS, SUMMARY_CSV_COLUMNS,
    base64_encode, blocked_after_csv, collateral_csv, submitters_csv, summary_csv,
};
pub use rng::SplitMix64;
pub use timeline::{
    MAX_BINS as TIMELINE_MAX_BINS, TimelineBin, timeline_bins, timeline_csv, timeline_csv_columns,
};

use op25b_core::Network;
use op25b_rank::{RankConfig, Ranking};
use std::path::PathBuf;

/// The version written into every summary.json.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The default title of a report.
pub const DEFAULT_TITLE: &str = "Outbound spam before and after OP25B";

/// How and where to write a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub out_dir: PathBuf,
    /// Chart size in pixels (1600x900 by default: a 16:9 slide).
    pub width: u32,
    pub height: u32,
    /// Also write every chart as SVG.
    pub svg: bool,
    /// Bootstrap replicates for the confidence intervals (0: no intervals).
    pub bootstrap: u32,
    pub seed: u64,
    pub title: String,
    /// The input files, shown in the report.
    pub inputs: Vec<String>,
    /// What each input held and what of it was not used (summary.json
    /// `input_accounting`, report.md's Inputs).
    pub accounting: Vec<estimate::InputAccounting>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            out_dir: PathBuf::from("report"),
            width: 1600,
            height: 900,
            svg: false,
            bootstrap: 1000,
            seed: 25,
            title: DEFAULT_TITLE.to_string(),
            inputs: Vec::new(),
            accounting: Vec::new(),
        }
    }
}

/// What a report is computed from.
pub struct ReportInput {
    pub network: Network,
    pub rank_cfg: RankConfig,
    pub before: Ranking,
    pub after: Option<Ranking>,
    /// The network came from defaults (no isp.toml): said in the report.
    pub defaults_used: bool,
    /// The ISP relays' log (`--relay-log`): the relays' spam fraction is
    /// then counted from it (see [`relay_log`]).
    pub relay_log: Option<relay_log::RelayLog>,
}

/// Computes every estimate and writes the whole report directory:
/// summary.json, summary.csv, hosts.csv (hosts-after.csv), timeline.csv
/// (timeline-after.csv), the charts,
/// report.md and report.html. Returns the summary.
pub fn write_report(input: &ReportInput, opts: &ReportOptions) -> anyhow::Result<Summary> {
    let mut summary = estimate::estimate_titled(
        input,
        opts.bootstrap,
        opts.seed,
        opts.title.clone(),
        opts.inputs.clone(),
    );
    summary.input_accounting = opts.accounting.clone();
    output::write_all(input, opts, &summary)?;
    Ok(summary)
}
