//! The files of a report directory: summary.json, summary.csv, hosts.csv,
//! collateral.csv, submitters.csv, timeline.csv (and with `--after`
//! hosts-after.csv, blocked-after.csv, submitters-after.csv,
//! timeline-after.csv), the charts, report.md and report.html.
//!
//! summary.csv is made from the very JSON objects written to summary.json,
//! so the two cannot disagree; report.md and report.html only print numbers
//! that are cells of summary.csv or hosts.csv (shares as rounded percents).

use crate::charts::{self, ShareBar, TopHost};
use crate::estimate::{
    AfterTheBlock, Class, ESTIMATORS, HostCounts, SENSITIVITY_FACTORS, SUSPECT_WEIGHT, Summary,
    Unit, before_counts, blocked_after, collateral_class, same_address, spam_weight,
};
use crate::relay_log::RelayLogWindow;
use crate::time::format_utc;
use crate::timeline::{timeline_bins, timeline_csv};
use crate::{ReportInput, ReportOptions};
use anyhow::{Context, anyhow};
use op25b_rank::{HostRank, RankConfig, Ranking, Verdict, write_hosts_csv};
use plotters::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Columns of summary.csv: `scenario`, then the CONTRACT keys, then the keys
/// op25b adds (a JSON `[lo, hi]` pair becomes `_low` / `_high`).
pub const SUMMARY_CSV_COLUMNS: &[&str] = &[
    "scenario",
    // CONTRACT.md keys
    "outbound_sessions",
    "outbound_messages",
    "unit",
    "spam_share",
    "spam_share_ci95_low",
    "spam_share_ci95_high",
    "zombies",
    "suspects",
    "blocked_sessions",
    "collateral_hosts",
    "collateral_sessions",
    // added by op25b
    "clean",
    "relays",
    "hosts",
    "outbound_volume",
    "spam_volume",
    "relay_volume",
    "relay_spam_fraction",
    "spam_share_suspects_as_clean",
    "spam_share_suspects_as_spam",
    "duration_s",
    "blocked_volume",
    "collateral_volume",
    "collateral_suspect_hosts",
    "collateral_suspect_sessions",
    "spam_share_if_legit_moves",
    "spam_share_unclamped",
    "volume_before",
    "volume_after_normalised",
    "direct_before",
    "direct_after_normalised",
    "relay_before",
    "relay_after_normalised",
    "disappeared",
    "moved_to_relays",
    "removed",
    "duration_before_s",
    "duration_after_s",
    "scale",
    "factor",
    "zombie_score",
    "suspect_score",
    "simulated_spam_share",
    "submitted_spam_fraction",
    "relay_acceptance",
    "clean_acceptance",
    "relay_log_spam_fraction",
    "relay_log_volume",
    "relay_spam_fraction_source",
    "relay_log_deliveries",
    "relay_log_untraced",
    "collateral_bots_after_hosts",
    "collateral_moved_hosts",
    "blocked_hosts",
    "leaked_sessions",
    "inputs_days_apart",
    "sampling_interval",
    "sampled_record_share",
];

fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.clone()
            }
        }
        Some(other) => other.to_string(),
    }
}

fn csv_row(scenario: &str, obj: &Value) -> String {
    let cells: Vec<String> = SUMMARY_CSV_COLUMNS
        .iter()
        .map(|&col| {
            if col == "scenario" {
                return scenario.to_string();
            }
            let (key, idx) = match col {
                "spam_share_ci95_low" => ("spam_share_ci95", Some(0)),
                "spam_share_ci95_high" => ("spam_share_ci95", Some(1)),
                other => (other, None),
            };
            let v = obj.get(key);
            match idx {
                Some(i) => csv_cell(v.and_then(|a| a.get(i))),
                None => csv_cell(v),
            }
        })
        .collect();
    cells.join(",")
}

/// summary.csv: one row per scenario present (before, after, simulated_after,
/// differential), then one `sensitivity` row per threshold factor.
pub fn summary_csv(summary: &Summary) -> anyhow::Result<String> {
    let json = serde_json::to_value(summary)?;
    let mut out = SUMMARY_CSV_COLUMNS.join(",");
    out.push('\n');
    for scenario in ["before", "after", "simulated_after", "differential"] {
        if let Some(obj) = json.get(scenario).filter(|v| v.is_object()) {
            out.push_str(&csv_row(scenario, obj));
            out.push('\n');
        }
    }
    if let Some(rows) = json.get("sensitivity").and_then(Value::as_array) {
        for row in rows {
            // Sensitivity rows carry the unit of the report.
            let mut row = row.clone();
            if let (Some(obj), Some(unit)) = (row.as_object_mut(), json.get("unit")) {
                obj.insert("unit".into(), unit.clone());
            }
            out.push_str(&csv_row("sensitivity", &row));
            out.push('\n');
        }
    }
    Ok(out)
}

/// Standard base64 with padding (RFC 4648 §4), for data: URIs.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, s) in sextets.iter().enumerate() {
            // A chunk of k bytes yields k + 1 significant characters.
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[*s as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Under the relays' table in report.md and report.html.
const RELAY_NOTE: &str = "Columns of summary.csv: relay_volume, submitted_spam_fraction, relay_acceptance, \
     clean_acceptance, relay_spam_fraction. Receivers refuse spam more often than legitimate mail, so the \
     relays' refusals beyond the clean hosts' rate count as spam: 1 − (1 − f)·a/A, kept within what the \
     attempts allow (see Method, attribution). With --after, a is taken over the clean hosts of both inputs.";

/// "1 zombie", "2 zombies".
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{:.1}%", v * 100.0))
}

fn ci(x: Option<[f64; 2]>) -> String {
    x.map_or_else(
        || "n/a".to_string(),
        |[lo, hi]| format!("{:.1}–{:.1}%", lo * 100.0, hi * 100.0),
    )
}

/// Volumes are whole numbers except where normalised to another duration.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.1}")
    }
}

fn opt_num(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), num)
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown table cells must not contain a bare `|`.
fn escape_md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A chart that was written, for the report pages.
struct ChartFile {
    file: String,
    alt: String,
    png: Vec<u8>,
}

/// Chart size in pixels, kept between 320x180 (text still fits) and
/// 8000x8000 (a 190 MB frame buffer): `--size` cannot make plotting fail or
/// exhaust memory.
pub(crate) fn chart_size(opts: &ReportOptions) -> (u32, u32) {
    (opts.width.clamp(320, 8000), opts.height.clamp(180, 8000))
}

/// Renders one chart as PNG (and SVG with `--svg`) and returns the PNG bytes.
macro_rules! render {
    ($dir:expr, $name:expr, $opts:expr, |$root:ident| $body:expr) => {{
        let png_path = $dir.join(format!("{}.png", $name));
        let (width, height) = chart_size($opts);
        {
            let $root = BitMapBackend::new(&png_path, (width, height)).into_drawing_area();
            $body.map_err(|e| anyhow!("{}: {e}", png_path.display()))?;
        }
        if $opts.svg {
            let svg_path = $dir.join(format!("{}.svg", $name));
            let $root = SVGBackend::new(&svg_path, (width, height)).into_drawing_area();
            $body.map_err(|e| anyhow!("{}: {e}", svg_path.display()))?;
        }
        std::fs::read(&png_path).with_context(|| format!("reading back {}", png_path.display()))?
    }};
}

fn share_bars(summary: &Summary) -> Vec<ShareBar> {
    let mut bars = vec![ShareBar {
        label: "Before".into(),
        share: summary.before.spam_share,
        ci95: summary.before.spam_share_ci95,
        color: charts::ZOMBIE,
    }];
    if let Some(after) = &summary.after {
        bars.push(ShareBar {
            label: "After (measured)".into(),
            share: after.scenario.spam_share,
            ci95: after.scenario.spam_share_ci95,
            color: charts::AFTER,
        });
    }
    bars.push(ShareBar {
        label: "Simulated OP25B".into(),
        share: summary.simulated_after.scenario.spam_share,
        ci95: summary.simulated_after.scenario.spam_share_ci95,
        color: charts::SIMULATED,
    });
    if let Some(d) = &summary.differential {
        bars.push(ShareBar {
            label: "Differential".into(),
            share: d.spam_share,
            ci95: d.spam_share_ci95,
            color: charts::DIFFERENTIAL,
        });
    }
    bars
}

fn fanout_points(r: &Ranking) -> Vec<(u64, bool)> {
    r.hosts
        .iter()
        .filter(|h| h.features.outbound_sessions > 0)
        .map(|h| (h.features.fanout, h.verdict == Verdict::Zombie))
        .collect()
}

/// The top `n` hosts by score (ties by rank) among the rows of hosts.csv.
fn top_by_score(rows: &[HostRank], n: usize) -> Vec<&HostRank> {
    let mut hosts: Vec<&HostRank> = rows.iter().collect();
    hosts.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.rank.cmp(&b.rank)));
    hosts.truncate(n);
    hosts
}

fn top_points(rows: &[HostRank]) -> Vec<TopHost> {
    top_by_score(rows, 20)
        .into_iter()
        .map(|h| TopHost {
            label: format!("#{} {}", h.rank, h.features.host),
            score: h.score,
            verdict: h.verdict.as_str(),
            reason: h
                .reasons
                .first()
                .cloned()
                .unwrap_or_else(|| "no signal".to_string()),
        })
        .collect()
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// hosts.csv holds CONTRACT's host table: `Ranking::contract_hosts`.
fn write_hosts(path: &Path, rows: &[HostRank]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    write_hosts_csv(&mut w, rows).with_context(|| format!("writing {}", path.display()))?;
    w.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Columns of collateral.csv: every host the block would cut off.
pub const COLLATERAL_CSV_COLUMNS: &[&str] = &[
    "host",
    "verdict",
    "score",
    "blockable_sessions",
    "blockable_volume",
    "verdict_after",
    "score_after",
    "blockable_sessions_after",
    "submitted_sessions_after",
    "submission_port_sessions_after",
    "after_the_block",
    "counted_as",
];

/// What a host the block cuts off counts as in `simulated_after`.
fn counted_as(class: Class) -> &'static str {
    match class {
        Class::Zombie => "zombie",
        Class::Suspect => "suspect",
        Class::Clean | Class::Relay => "collateral",
    }
}

/// The order of collateral.csv and blocked-after.csv: customers first,
/// then suspects, then bots; in each, most blocked sessions first.
fn list_order(judged: Class, h: &HostRank) -> (u8, std::cmp::Reverse<u64>, std::net::IpAddr) {
    let class = match judged {
        Class::Clean | Class::Relay => 0,
        Class::Suspect => 1,
        Class::Zombie => 2,
    };
    (
        class,
        std::cmp::Reverse(h.features.blockable_sessions),
        h.features.host,
    )
}

/// collateral.csv: one row per host of `before` with sessions OP25B would
/// block, the customers an abuse team has to move to port 587 first. Its
/// `counted_as` ([`collateral_class`]: the verdict, or the worse verdict the
/// same address got on `after`) gives `simulated_after` its counts:
/// `collateral_hosts` and `collateral_sessions` are the rows counted as
/// `collateral` and the sum of their `blockable_sessions`,
/// `collateral_suspect_*` the same for `suspect`, and
/// `collateral_bots_after_hosts` the rows whose `counted_as` is worse than
/// their `verdict`, `collateral_moved_hosts` the `collateral` rows whose
/// `after_the_block` is `moved` ([`AfterTheBlock`]; empty without `after`).
/// Collateral first, then most blocked sessions.
pub fn collateral_csv(
    before: &Ranking,
    after: Option<&Ranking>,
    unit: Unit,
    cfg: &RankConfig,
) -> String {
    let after_hosts = same_address(before, after);
    let mut rows: Vec<(&HostRank, HostCounts, Option<&HostRank>, Class)> = before
        .hosts
        .iter()
        .zip(before_counts(before, &after_hosts, unit, None, cfg))
        .zip(after_hosts.iter().copied())
        .filter(|((h, _), _)| h.features.blockable_sessions > 0)
        .map(|((h, c), a)| {
            let judged = collateral_class(c.class, c.after);
            (h, c, a, judged)
        })
        .collect();
    rows.sort_by_key(|(h, _, _, judged)| list_order(*judged, h));
    let mut out = COLLATERAL_CSV_COLUMNS.join(",");
    out.push('\n');
    for (h, c, a, judged) in rows {
        let _ = writeln!(
            out,
            "{},{},{:.2},{},{},{},{},{},{},{},{},{}",
            h.features.host,
            h.verdict.as_str(),
            h.score,
            h.features.blockable_sessions,
            c.blockable_volume,
            a.map(|a| a.verdict.as_str()).unwrap_or_default(),
            a.map(|a| format!("{:.2}", a.score)).unwrap_or_default(),
            a.map(|a| a.features.blockable_sessions.to_string())
                .unwrap_or_default(),
            a.map(|a| a.features.submitted_sessions.to_string())
                .unwrap_or_default(),
            a.map(|a| a.features.submission_port_sessions.to_string())
                .unwrap_or_default(),
            if after.is_some() {
                c.after
                    .map_or(AfterTheBlock::NotSeen, |v| v.conduct)
                    .as_str()
            } else {
                ""
            },
            counted_as(judged),
        );
    }
    out
}

/// How blocked-after.csv counts a host, under its table in the report.
const BLOCKED_AFTER_NOTE: &str = "One row per host in blocked-after.csv. A host counts by its verdict before the \
     block (clean where its address is not in the before input), or by its verdict after where that is worse and \
     its attempts were sprayed: more outside servers than fanout_low, fewer than two attempts each. Refused \
     attempts that go back to the same few servers are a customer's mail server retrying its queue, however \
     much they raise its score.";

/// Columns of blocked-after.csv: every host of `--after` the block stopped.
pub const BLOCKED_AFTER_CSV_COLUMNS: &[&str] = &[
    "host",
    "verdict_before",
    "score_before",
    "verdict",
    "score",
    "blocked_sessions",
    "leaked_sessions",
    "direct25_sessions",
    "direct25_fanout",
    "sprayed",
    "submitted_sessions",
    "submission_port_sessions",
    "counted_as",
];

/// blocked-after.csv: one row per host of `after` with sessions OP25B stops
/// ([`blocked_after`]), the customers still trying port 25 first (those an
/// abuse team hears from), then most blocked sessions. `sprayed` says
/// whether its verdict on `after` counted ([`AfterVerdict::evidence`]);
/// `counted_as` gives the `after` keys `collateral_hosts` and
/// `collateral_sessions` (rows counted as `collateral`, the sum of their
/// `blocked_sessions`), `collateral_suspect_*` the same for `suspect`;
/// `blocked_sessions` and `leaked_sessions` summed over every row are the
/// keys of the same name.
pub fn blocked_after_csv(after: &Ranking, before: &Ranking, cfg: &RankConfig) -> String {
    let mut rows = blocked_after(after, before, cfg);
    rows.sort_by_key(|r| list_order(r.judged, r.host));
    let mut out = BLOCKED_AFTER_CSV_COLUMNS.join(",");
    out.push('\n');
    for r in rows {
        let f = &r.host.features;
        let _ = writeln!(
            out,
            "{},{},{},{},{:.2},{},{},{},{},{},{},{},{}",
            f.host,
            r.before.map(|b| b.verdict.as_str()).unwrap_or_default(),
            r.before
                .map(|b| format!("{:.2}", b.score))
                .unwrap_or_default(),
            r.host.verdict.as_str(),
            r.host.score,
            f.blockable_sessions,
            r.leaked_sessions,
            f.direct25_sessions,
            f.direct25_fanout,
            r.verdict.spread,
            f.submitted_sessions,
            f.submission_port_sessions,
            counted_as(r.judged),
        );
    }
    out
}

/// Columns of submitters.csv: what every customer handed to the ISP's mail
/// servers, the input of the relays' spam fraction f.
pub const SUBMITTERS_CSV_COLUMNS: &[&str] = &[
    "host",
    "verdict",
    "score",
    "spam_weight",
    "submitted_sessions",
    "submitted_mail_sessions",
    "submitted_messages",
    "submitted_hidden_mail_sessions",
    "submitted_volume",
    "relay_log_volume",
];

/// submitters.csv: one row per host (relays aside) that submitted to the
/// ISP's mail servers, most submitted first; `submitted_spam_fraction` of
/// summary.csv is Σ spam_weight × submitted_volume / Σ submitted_volume.
/// With the relays' log (`log`), `relay_log_volume` is what it traces to the
/// host, and `relay_log_spam_fraction` is Σ spam_weight × relay_log_volume /
/// Σ relay_log_volume; hosts the log names are listed even where their
/// submissions were not in the traffic.
pub fn submitters_csv(ranking: &Ranking, unit: Unit, log: Option<&RelayLogWindow>) -> String {
    let mut rows: Vec<(&HostRank, HostCounts)> = ranking
        .hosts
        .iter()
        .filter(|h| h.verdict != Verdict::Relay)
        .map(|h| (h, HostCounts::of(h, unit, log)))
        .filter(|(h, c)| h.features.submitted_sessions > 0 || c.relay_logged.unwrap_or(0.0) > 0.0)
        .collect();
    rows.sort_by(|(ha, ca), (hb, cb)| {
        cb.submitted
            .total_cmp(&ca.submitted)
            .then(ha.features.host.cmp(&hb.features.host))
    });
    let mut out = SUBMITTERS_CSV_COLUMNS.join(",");
    out.push('\n');
    for (h, c) in rows {
        let f = &h.features;
        let _ = writeln!(
            out,
            "{},{},{:.2},{},{},{},{},{},{},{}",
            f.host,
            h.verdict.as_str(),
            h.score,
            spam_weight(c.class),
            f.submitted_sessions,
            f.submitted_mail_sessions,
            f.submitted_messages,
            f.submitted_hidden_mail_sessions,
            c.submitted,
            c.relay_logged.map(|v| v.to_string()).unwrap_or_default()
        );
    }
    out
}

pub(crate) fn write_all(
    input: &ReportInput,
    opts: &ReportOptions,
    summary: &Summary,
) -> anyhow::Result<()> {
    let dir = opts.out_dir.as_path();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_file(
        &dir.join("summary.json"),
        &(serde_json::to_string_pretty(summary)? + "\n"),
    )?;
    write_file(&dir.join("summary.csv"), &summary_csv(summary)?)?;
    let before_rows = input.before.contract_hosts();
    write_hosts(&dir.join("hosts.csv"), &before_rows)?;
    write_file(
        &dir.join("collateral.csv"),
        &collateral_csv(
            &input.before,
            input.after.as_ref(),
            summary.unit,
            &input.rank_cfg,
        ),
    )?;
    write_file(
        &dir.join("submitters.csv"),
        &submitters_csv(
            &input.before,
            summary.unit,
            input.relay_log.as_ref().map(|l| &l.before),
        ),
    )?;
    if let Some(after) = &input.after {
        write_hosts(&dir.join("hosts-after.csv"), &after.contract_hosts())?;
        write_file(
            &dir.join("blocked-after.csv"),
            &blocked_after_csv(after, &input.before, &input.rank_cfg),
        )?;
        write_file(
            &dir.join("submitters-after.csv"),
            &submitters_csv(
                after,
                summary.unit,
                input.relay_log.as_ref().and_then(|l| l.after.as_ref()),
            ),
        )?;
    }

    charts::register_embedded_font();
    let unit = summary.unit.as_str();
    let mut files = Vec::new();
    let bars = share_bars(summary);
    let title = format!("Share of outbound mail that is spam ({unit}, 95% CI)");
    let png = render!(dir, "spam-share", opts, |root| charts::spam_share(
        &root, &title, unit, &bars
    ));
    files.push(ChartFile {
        file: "spam-share.png".into(),
        alt: "Spam share of outbound mail before, after and with OP25B simulated".into(),
        png,
    });
    let points = fanout_points(&input.before);
    let png = render!(dir, "fanout", opts, |root| charts::fanout(
        &root,
        "Fan-out per host (before)",
        &points
    ));
    files.push(ChartFile {
        file: "fanout.png".into(),
        alt: "Distribution of fan-out per host, zombies against the rest".into(),
        png,
    });
    let top = top_points(&before_rows);
    let png = render!(dir, "top-hosts", opts, |root| charts::top_hosts(
        &root,
        "Top hosts by zombie score (before), with their main reason",
        &top
    ));
    files.push(ChartFile {
        file: "top-hosts.png".into(),
        alt: "The 20 highest zombie scores".into(),
        png,
    });
    let bins = timeline_bins(&input.before);
    write_file(&dir.join("timeline.csv"), &timeline_csv(&bins))?;
    let png = render!(dir, "timeline", opts, |root| charts::timeline(
        &root,
        "Outbound SMTP sessions by verdict (before)",
        &bins
    ));
    files.push(ChartFile {
        file: "timeline.png".into(),
        alt: "Outbound SMTP sessions per minute by verdict, before; pale: no answer or reset (numbers in timeline.csv)".into(),
        png,
    });
    if let Some(after) = &input.after {
        let bins = timeline_bins(after);
        write_file(&dir.join("timeline-after.csv"), &timeline_csv(&bins))?;
        let png = render!(dir, "timeline-after", opts, |root| charts::timeline(
            &root,
            "Outbound SMTP sessions by verdict (after)",
            &bins
        ));
        files.push(ChartFile {
            file: "timeline-after.png".into(),
            alt: "Outbound SMTP sessions per minute by verdict, after; pale: no answer or reset (numbers in timeline-after.csv)".into(),
            png,
        });
    }

    let doc = Document {
        input,
        opts,
        s: summary,
        before_rows: &before_rows,
    };
    write_file(&dir.join("report.md"), &doc.markdown(&files))?;
    write_file(&dir.join("report.html"), &doc.html(&files))?;
    Ok(())
}

/// The text of the report, shared by the Markdown and HTML renderings.
struct Document<'a> {
    input: &'a ReportInput,
    opts: &'a ReportOptions,
    s: &'a Summary,
    /// The rows of hosts.csv (their ranks are the ones printed).
    before_rows: &'a [HostRank],
}

/// A table: header and rows of already formatted cells.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl<'a> Document<'a> {
    fn title(&self) -> &str {
        if self.s.title.is_empty() {
            crate::DEFAULT_TITLE
        } else {
            &self.s.title
        }
    }

    /// The sentences an abuse team puts on a slide: (bold number, rest).
    fn headlines(&self) -> Vec<(String, String)> {
        let s = self.s;
        let unit = s.unit.as_str();
        let mut out = vec![(
            pct(s.before.spam_share),
            format!(
                "of outbound mail ({unit}) was spam before the block (95% CI {}; {}, {} among {}).",
                ci(s.before.spam_share_ci95),
                count(s.before.zombies, "zombie"),
                count(s.before.suspects, "suspect"),
                count(s.before.hosts, "host")
            ),
        )];
        if let Some(after) = &s.after {
            let customers = match after.collateral_hosts {
                0 => "none of them a customer".to_string(),
                1 => "1 of them a customer".to_string(),
                n => format!("{n} of them customers"),
            };
            out.push((
                pct(after.scenario.spam_share),
                format!(
                    "after the block, as measured (95% CI {}; {}, {}). {} still tried port 25 to outside \
                     servers ({} sessions, {} of them answered), {customers}.",
                    ci(after.scenario.spam_share_ci95),
                    count(after.scenario.zombies, "zombie"),
                    count(after.scenario.suspects, "suspect"),
                    count(after.blocked_hosts, "host"),
                    after.blocked_sessions,
                    after.leaked_sessions,
                ),
            ));
        }
        let sim = &s.simulated_after;
        out.push((
            pct(sim.scenario.spam_share),
            format!(
                "with OP25B simulated on the before traffic (95% CI {}): {} sessions blocked.",
                ci(sim.scenario.spam_share_ci95),
                sim.blocked_sessions
            ),
        ));
        let moved = match sim.collateral_moved_hosts {
            Some(m) => format!(" After the block, {m} of them had moved to submission."),
            None => String::new(),
        };
        let suspects = match sim.collateral_suspect_hosts {
            1 => "1 more host blocked is a suspect".to_string(),
            n => format!("{n} more hosts blocked are suspects"),
        };
        out.push((
            sim.collateral_hosts.to_string(),
            format!(
                "legitimate customers (hosts judged clean) send on port 25 from a dynamic pool and would have \
                 to move to port 587 ({} sessions); {suspects} ({} sessions).{moved}",
                sim.collateral_sessions, sim.collateral_suspect_sessions,
            ),
        ));
        if let Some(d) = s.differential.as_ref().filter(|d| d.spam_share.is_some()) {
            out.push((
                pct(d.spam_share),
                format!(
                    "of the outbound volume before disappeared with the block, net of mail moved onto the ISP's relays \
                     (differential method, 95% CI {}).",
                    ci(d.spam_share_ci95)
                ),
            ));
        }
        out
    }

    /// Where an input came from packet-sampled flows: how much of it, at
    /// what interval, and why its shares are not the unsampled traffic's.
    fn sampling_warning(&self) -> Option<String> {
        let sampled: Vec<String> = self
            .s
            .measured()
            .filter(|(_, sc)| sc.sampling_interval > 1)
            .map(|(name, sc)| {
                format!(
                    "{:.1}% of the {name} input's session records (sampled_record_share) come from flows \
                     that sampled one packet in {} (sampling_interval)",
                    sc.sampled_record_share * 100.0,
                    sc.sampling_interval
                )
            })
            .collect();
        if sampled.is_empty() {
            return None;
        }
        Some(format!(
            "{}. Packet sampling misses short sessions (a refused attempt, a one-message spam run) far more \
             often than long ones, drops hosts with few sessions from the ranking, and leaves too few packets \
             of a session to tell whether it carried mail. The shares above are therefore not estimates of \
             the unsampled traffic: on the simulated ISP they were off by several percentage points at one \
             packet in ten and by far more at one in a hundred (crates/report/README.md, \"Sampled flows\"). \
             Use unsampled flows or captures for the shares; the ranking still finds the busiest senders.",
            sampled.join("; ")
        ))
    }

    /// Where `--relay-log` was given but traces nothing in an input's span
    /// that had relay traffic: that scenario fell back to the submissions.
    fn relay_log_warning(&self) -> Option<String> {
        let log = self.s.relay_log.as_ref()?;
        let unused = self.s.relay_log_unused();
        if unused.is_empty() {
            return None;
        }
        Some(format!(
            "The relays' log (--relay-log) traces no delivery to the hosts of the {} input's span, though \
             the relays sent mail in it (relay_spam_fraction_source: submissions); {} of its deliveries \
             fall in neither input's span. Check that the log covers the inputs' time and, for classic \
             syslog timestamps (no year, no zone), [relay_log] utc_offset in isp.toml.",
            unused.join(" and the "),
            num(log.outside_inputs as f64)
        ))
    }

    /// Where the relays' log goes back in time: a delivery read before its
    /// message's `client=` line has no sender to be weighed by.
    fn relay_log_order_warning(&self) -> Option<String> {
        let log = self.s.relay_log.as_ref()?;
        let back = log.read.lines_back_in_time;
        if back == 0 {
            return None;
        }
        let spans: Vec<String> = std::iter::once(("before", &log.before))
            .chain(log.after.as_ref().map(|a| ("after", a)))
            .map(|(name, sp)| {
                format!(
                    "{} of {} in the {name} span",
                    num(sp.unknown_origin),
                    num(sp.deliveries)
                )
            })
            .collect();
        Some(format!(
            "The relays' log is out of time order in places: {} of its {} lines are earlier than the line \
             before them from the same server (relay_log.lines_back_in_time). A message is followed from \
             its client= line to its deliveries in the order the log gives them, so a delivery read before \
             its submission is of unknown origin ({}; relay_log.*.unknown_origin) and leaves the relays' \
             spam fraction, which is read from the deliveries traced to customers. Give the files as the \
             servers wrote them (rotated files in any order are fine), not merged or sorted by another tool.",
            num(back as f64),
            num(log.read.lines as f64),
            spans.join(", ")
        ))
    }

    /// Where the differential cannot be trusted from its own numbers: an
    /// input that spans no time, spans of very different lengths, a share
    /// outside [0, 1] before it was limited.
    fn differential_warning(&self) -> Option<String> {
        let d = self.s.differential.as_ref()?;
        let (b, a) = (d.duration_before_s, d.duration_after_s);
        let Some(k) = d.scale else {
            let instant: Vec<&str> = [("before", b), ("after", a)]
                .iter()
                .filter(|(_, span)| *span <= 0.0)
                .map(|(name, _)| *name)
                .collect();
            return Some(format!(
                "The {} input spans no time (no record, or all at one instant: duration_before_s, \
                 duration_after_s): the differential scales the after volumes by the ratio of the spans, \
                 so it is not defined (n/a).",
                instant.join(" and the ")
            ));
        };
        let mut why = Vec::new();
        if !(0.25..=4.0).contains(&k) {
            why.push(format!(
                "the inputs span {} s and {} s, so the after volumes are multiplied by k = {k:.4} (scale): \
                 mail varies by hour of day and day of week, so spans of the same length (a week against a \
                 week) compare far better",
                num(b),
                num(a)
            ));
        }
        if let Some(u) = d.spam_share_unclamped.filter(|u| !(0.0..=1.0).contains(u)) {
            why.push(format!(
                "it came out at {} (spam_share_unclamped) and is shown limited to [0, 1]: {}",
                pct(Some(u)),
                if u < 0.0 {
                    "more direct mail left after the block than before, once scaled, so the inputs are not \
                     views of the same network before and after the block"
                } else {
                    "the relays' growth is negative beyond the direct mail that disappeared"
                }
            ));
        }
        (!why.is_empty()).then(|| {
            format!(
                "The differential is unreliable here: {}.",
                why.join("; and ")
            )
        })
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.input.defaults_used {
            out.push(format!(
                "No isp.toml was given: every private (RFC 1918), CGNAT and ULA address was taken as internal \
                 and dynamic, and no mail server was known (relays were inferred). Numbers depend on this; \
                 the network used: {}",
                self.s.config.network_toml.replace('\n', " ")
            ));
        }
        for w in self.input.network.inconsistencies() {
            out.push(format!("isp.toml: {w}."));
        }
        let outside: Vec<&str> = std::iter::once(("before", &self.input.before))
            .chain(self.input.after.as_ref().map(|a| ("after", a)))
            .filter(|(_, r)| r.all_clients_ranked)
            .map(|(name, _)| name)
            .collect();
        if !outside.is_empty() {
            out.push(format!(
                "No client of the {} input is inside the network's internal address space, so every client \
                 host was ranked (hosts.csv) and none of their mail counts as outbound: the shares below \
                 describe nothing that left the network. Give the network this traffic was captured in \
                 ([network] internal and dynamic_pools in isp.toml).",
                outside.join(" and the ")
            ));
        }
        let empty: Vec<&str> = std::iter::once(("before", &self.input.before))
            .chain(self.input.after.as_ref().map(|a| ("after", a)))
            .filter(|(_, r)| r.records == 0)
            .map(|(name, _)| name)
            .collect();
        if !empty.is_empty() {
            out.push(format!(
                "The {} input held no SMTP session record (no connection to an SMTP port, in packets or \
                 flows): there is nothing to estimate from it. The summary on stderr says what it held.",
                empty.join(" and the ")
            ));
        }
        if let Some(note) = self.sampling_warning() {
            out.push(note);
        }
        out.extend(self.relay_log_warning());
        out.extend(self.relay_log_order_warning());
        out.extend(self.differential_warning());
        if self.s.unit.as_str() == "sessions" && self.input.before.records > 0 {
            out.push(
                "Some hosts were seen only in flow records (no SMTP dialogue): volumes count outbound \
                 sessions that carried mail, not messages."
                    .to_string(),
            );
            // The one bias flows cannot correct: a relay sends about a session
            // per message, and the submission sessions its spam share is read
            // from hold more messages for bots (crates/report/README.md).
            let relayed = self.s.measured().any(|(_, sc)| {
                sc.relay_volume > 0.0
                    && sc.relay_spam_fraction > 0.0
                    && sc.relay_spam_fraction_source == "submissions"
            });
            if relayed {
                out.push(
                    "The relays' spam fraction is the share of submission sessions that came from suspected \
                     hosts; flows cannot show how many messages each held. Bots that put more messages into \
                     a session than customers do make it, and the shares built on it, too low (on the \
                     simulated ISP after the block, by 0.02-0.05). The relays' own log (--relay-log) \
                     removes this."
                        .to_string(),
                );
            }
        }
        if let (Some(n), Some(gap_days)) = (
            self.s.simulated_after.collateral_bots_after_hosts,
            self.s.simulated_after.inputs_days_apart,
        ) && n > 0
        {
            out.push(format!(
                "{} the block cuts off {} counted by {} verdict on the after input (collateral.csv, \
                 verdict_after): this takes an address to be the same machine in both inputs, which are \
                 {gap_days:.1} days apart (inputs_days_apart). Where the dynamic pools reassign addresses more \
                 often than that, check those rows.",
                count(n, "host"),
                if n == 1 { "is" } else { "are" },
                if n == 1 { "its" } else { "their" }
            ));
        }
        if let Some(a) = self.s.after.as_ref().filter(|a| a.leaked_sessions > 0) {
            out.push(format!(
                "On the after input, outside servers answered {} of the {} port-25 sessions from the dynamic \
                 pools that OP25B stops (leaked_sessions; hosts in blocked-after.csv): the block is not in \
                 place for every pool of dynamic_pools, or the after input is not traffic from after the block.",
                a.leaked_sessions, a.blocked_sessions
            ));
        }
        let replicates = self.s.bootstrap.replicates;
        if (1..200).contains(&replicates) {
            out.push(format!(
                "The 95% intervals come from {} (--bootstrap): the 2.5% and 97.5% percentiles of so few \
                 draws move from one seed to the next, and may not even hold the point estimate. Use 1000 \
                 (the default) or more for numbers to cite.",
                count(u64::from(replicates), "bootstrap replicate")
            ));
        }
        if self.s.bootstrap.undefined_replicates > 0 {
            out.push(format!(
                "{} bootstrap replicates had no outbound mail in at least one scenario (with OP25B \
                 simulated, the block can remove it all); each interval is over the replicates where its \
                 share was defined.",
                self.s.bootstrap.undefined_replicates
            ));
        }
        out
    }

    /// A table with one row per scenario (before, after when given,
    /// simulated after): the scenario's name, then `cells` of it.
    fn per_scenario(
        &self,
        header: &[&str],
        cells: impl Fn(&crate::Scenario) -> Vec<String>,
    ) -> Table {
        let s = self.s;
        let mut scenarios: Vec<_> = self.s.measured().collect();
        scenarios.push(("simulated_after", &s.simulated_after.scenario));
        Table {
            header: std::iter::once("scenario")
                .chain(header.iter().copied())
                .map(String::from)
                .collect(),
            rows: scenarios
                .into_iter()
                .map(|(name, sc)| std::iter::once(name.to_string()).chain(cells(sc)).collect())
                .collect(),
        }
    }

    fn scenario_table(&self) -> Table {
        let header = [
            "spam share",
            "95% CI",
            "suspects as clean / as spam",
            "outbound volume",
            "spam volume",
            "outbound sessions",
            "outbound messages",
            "zombies",
            "suspects",
        ];
        self.per_scenario(&header, |sc| {
            vec![
                pct(sc.spam_share),
                ci(sc.spam_share_ci95),
                format!(
                    "{} / {}",
                    pct(sc.spam_share_suspects_as_clean),
                    pct(sc.spam_share_suspects_as_spam)
                ),
                num(sc.outbound_volume),
                num(sc.spam_volume),
                sc.outbound_sessions.to_string(),
                sc.outbound_messages.to_string(),
                sc.zombies.to_string(),
                sc.suspects.to_string(),
            ]
        })
    }

    /// Whom the block stopped on `--after` (None without it).
    fn blocked_after_table(&self) -> Option<Table> {
        let a = self.s.after.as_ref()?;
        let row = |what: &str, value: u64, column: &str| {
            vec![what.into(), value.to_string(), column.into()]
        };
        Some(Table {
            header: ["quantity", "value", "summary.csv column (after row)"]
                .map(String::from)
                .to_vec(),
            rows: vec![
                row(
                    "port-25 sessions from the dynamic pools to outside servers",
                    a.blocked_sessions,
                    "blocked_sessions",
                ),
                row(
                    "of them answered (the block let them through)",
                    a.leaked_sessions,
                    "leaked_sessions",
                ),
                row("hosts that tried them", a.blocked_hosts, "blocked_hosts"),
                row(
                    "customers still trying port 25 (judged clean)",
                    a.collateral_hosts,
                    "collateral_hosts",
                ),
                row(
                    "their sessions",
                    a.collateral_sessions,
                    "collateral_sessions",
                ),
                row(
                    "suspects among the hosts blocked",
                    a.collateral_suspect_hosts,
                    "collateral_suspect_hosts",
                ),
                row(
                    "their sessions",
                    a.collateral_suspect_sessions,
                    "collateral_suspect_sessions",
                ),
            ],
        })
    }

    fn simulated_table(&self) -> Table {
        let sim = &self.s.simulated_after;
        // Counts that compare with the after input: absent without one.
        let with_after =
            |n: Option<u64>| n.map_or_else(|| "(no --after)".into(), |n| n.to_string());
        Table {
            header: ["quantity", "value", "summary.csv column"]
                .map(String::from)
                .to_vec(),
            rows: vec![
                vec![
                    "sessions OP25B would block".into(),
                    sim.blocked_sessions.to_string(),
                    "blocked_sessions".into(),
                ],
                vec![
                    format!("{} blocked", self.s.unit.as_str()),
                    num(sim.blocked_volume),
                    "blocked_volume".into(),
                ],
                vec![
                    "collateral hosts (judged clean)".into(),
                    sim.collateral_hosts.to_string(),
                    "collateral_hosts".into(),
                ],
                vec![
                    "collateral sessions".into(),
                    sim.collateral_sessions.to_string(),
                    "collateral_sessions".into(),
                ],
                vec![
                    "suspects blocked (upper bound adds them)".into(),
                    sim.collateral_suspect_hosts.to_string(),
                    "collateral_suspect_hosts".into(),
                ],
                vec![
                    "their sessions".into(),
                    sim.collateral_suspect_sessions.to_string(),
                    "collateral_suspect_sessions".into(),
                ],
                vec![
                    format!("collateral {}", self.s.unit.as_str()),
                    num(sim.collateral_volume),
                    "collateral_volume".into(),
                ],
                vec![
                    "collateral hosts that moved to submission after the block".into(),
                    with_after(sim.collateral_moved_hosts),
                    "collateral_moved_hosts".into(),
                ],
                vec![
                    "hosts blocked counted by a worse verdict after the block".into(),
                    with_after(sim.collateral_bots_after_hosts),
                    "collateral_bots_after_hosts".into(),
                ],
                vec![
                    "spam share if legitimate blocked mail moves to the relays".into(),
                    pct(sim.spam_share_if_legit_moves),
                    "spam_share_if_legit_moves".into(),
                ],
            ],
        }
    }

    /// How the relays' spam fraction of each scenario came about (estimator
    /// (a)): what was submitted, and the relays' refusals against the clean
    /// hosts'.
    fn relay_table(&self) -> Table {
        let mut header = vec![
            "relay volume",
            "spam submitted (f)",
            "accepted: relays (A)",
            "accepted: clean hosts (a)",
        ];
        let logged = self.s.relay_log.is_some();
        if logged {
            header.extend([
                "relays' log: deliveries",
                "not traced",
                "traced to ranked hosts",
                "their spam fraction",
            ]);
        }
        header.push("relays' spam fraction");
        self.per_scenario(&header, |sc| {
            let mut row = vec![
                num(sc.relay_volume),
                pct(Some(sc.submitted_spam_fraction)),
                pct(sc.relay_acceptance),
                pct(sc.clean_acceptance),
            ];
            if logged {
                let or_na = |v: Option<f64>| v.map_or_else(|| "n/a".into(), num);
                row.push(or_na(sc.relay_log_deliveries));
                row.push(or_na(sc.relay_log_untraced));
                row.push(or_na(sc.relay_log_volume));
                row.push(pct(sc.relay_log_spam_fraction));
            }
            row.push(format!(
                "{} ({})",
                pct(Some(sc.relay_spam_fraction)),
                sc.relay_spam_fraction_source
            ));
            row
        })
    }

    /// Under the relays' table: where the fraction came from.
    fn relay_note(&self) -> String {
        let mut note = RELAY_NOTE.to_string();
        if self.s.relay_log.is_some() {
            let _ = write!(
                note,
                " With the relays' log (see Inputs), each of the relays' outbound deliveries is traced to the \
                 customer who submitted it; where any is traced to a ranked host, the relays' spam fraction is \
                 the weighted share of those (relay_log_spam_fraction over relay_log_volume, counted in {}; \
                 per host in submitters.csv) and f, A and a are not used. Deliveries not traced to a ranked \
                 host (relay_log_untraced of relay_log_deliveries: made on the relays, submitted before the \
                 log starts, or by customers not in the traffic) are left out of it.",
                if self.s.unit.as_str() == "messages" {
                    "deliveries the receiver accepted"
                } else {
                    "deliveries whose receiver got the body"
                }
            );
        }
        note
    }

    fn differential_table(&self) -> Option<Table> {
        let d = self.s.differential.as_ref()?;
        let rows = [
            (
                "duration before (s)",
                num(d.duration_before_s),
                "duration_before_s",
            ),
            (
                "duration after (s)",
                num(d.duration_after_s),
                "duration_after_s",
            ),
            (
                "scale k applied to after volumes",
                d.scale.map_or_else(|| "n/a".into(), |k| format!("{k:.4}")),
                "scale",
            ),
            (
                "outbound volume before",
                num(d.volume_before),
                "volume_before",
            ),
            (
                "outbound volume after (× k)",
                opt_num(d.volume_after_normalised),
                "volume_after_normalised",
            ),
            (
                "direct (non-relay) before",
                num(d.direct_before),
                "direct_before",
            ),
            (
                "direct (non-relay) after (× k)",
                opt_num(d.direct_after_normalised),
                "direct_after_normalised",
            ),
            ("relays before", num(d.relay_before), "relay_before"),
            (
                "relays after (× k)",
                opt_num(d.relay_after_normalised),
                "relay_after_normalised",
            ),
            (
                "direct volume that disappeared",
                opt_num(d.disappeared),
                "disappeared",
            ),
            (
                "increase through the relays",
                opt_num(d.moved_to_relays),
                "moved_to_relays",
            ),
            (
                "removed = disappeared − increase",
                opt_num(d.removed),
                "removed",
            ),
            (
                "share of the volume before",
                pct(d.spam_share),
                "spam_share",
            ),
        ];
        Some(Table {
            header: ["quantity", "value", "summary.csv column (differential row)"]
                .map(String::from)
                .to_vec(),
            rows: rows
                .into_iter()
                .map(|(a, b, c)| vec![a.to_string(), b, c.to_string()])
                .collect(),
        })
    }

    fn sensitivity_table(&self) -> Table {
        let configured = self.input.rank_cfg.zombie_score;
        Table {
            header: [
                "zombie score ≥",
                "suspect score ≥",
                "zombies",
                "suspects",
                "spam share",
                "suspects as clean / as spam",
                "simulated after",
                "collateral hosts",
            ]
            .map(String::from)
            .to_vec(),
            rows: self
                .s
                .sensitivity
                .iter()
                .map(|r| {
                    let mark = if (r.zombie_score - configured).abs() < 1e-12 {
                        " (configured)"
                    } else {
                        ""
                    };
                    vec![
                        format!("{}{mark}", r.zombie_score),
                        format!("{}", r.suspect_score),
                        r.zombies.to_string(),
                        r.suspects.to_string(),
                        pct(r.spam_share),
                        format!(
                            "{} / {}",
                            pct(r.spam_share_suspects_as_clean),
                            pct(r.spam_share_suspects_as_spam)
                        ),
                        pct(r.simulated_spam_share),
                        r.collateral_hosts.to_string(),
                    ]
                })
                .collect(),
        }
    }

    fn top_table(&self) -> Table {
        Table {
            header: [
                "rank", "host", "verdict", "score", "reasons", "fanout", "sessions",
            ]
            .map(String::from)
            .to_vec(),
            rows: top_by_score(self.before_rows, 10)
                .into_iter()
                .map(|h| {
                    vec![
                        h.rank.to_string(),
                        h.features.host.to_string(),
                        h.verdict.as_str().to_string(),
                        format!("{}", h.score),
                        h.reasons.join(";"),
                        h.features.fanout.to_string(),
                        h.features.sessions.to_string(),
                    ]
                })
                .collect(),
        }
    }

    fn input_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let span = |r: &Ranking| {
            if r.records == 0 {
                return "no session record (0 hosts)".to_string();
            }
            format!(
                "{} to {} ({} s, {} hosts)",
                format_utc(r.start_us),
                format_utc(r.end_us),
                num(crate::estimate::duration_s(r)),
                r.hosts.len()
            )
        };
        out.push(format!("before: {}", span(&self.input.before)));
        if let Some(a) = &self.input.after {
            out.push(format!("after: {}", span(a)));
        }
        for i in &self.opts.inputs {
            out.push(format!("input: {i}"));
        }
        for a in &self.s.input_accounting {
            let counts: Vec<String> = a.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(format!(
                "{} read: {}; damage: {}",
                a.input,
                counts.join(" "),
                if a.damage.is_empty() {
                    "none"
                } else {
                    "file and offset of each in summary.json (input_accounting)"
                }
            ));
        }
        if let Some(l) = &self.s.relay_log {
            for f in &l.read.files {
                out.push(format!("relays' log: {}", f.display()));
            }
            out.push(format!(
                "relays' log: {} lines ({} unreadable, {} malformed Postfix lines), {} messages handed in, \
                 {} hops between the ISP's servers, {} outbound deliveries ({} in neither input's span)",
                l.read.lines,
                l.read.unreadable_lines,
                l.read.malformed_postfix_lines,
                l.read.submissions,
                l.read.hops,
                l.read.deliveries,
                l.outside_inputs
            ));
        }
        out
    }

    fn method_lines(&self) -> Vec<(String, String)> {
        let unit_text = format!(
            "Unit: {}. Messages (accepted by the receiving server) where every sending host was seen \
             with its SMTP dialogue; otherwise outbound sessions that carried mail (flow records). In messages, \
             a host's volume is max(messages seen, sessions that carried mail): a session whose dialogue was \
             hidden by TLS counts as one message. outbound_messages is the count seen, outbound volume the \
             count the share is computed over.",
            self.s.unit.as_str()
        );
        let mut out = vec![("unit".to_string(), unit_text)];
        for e in ESTIMATORS {
            out.push((
                format!("{} ({})", e.name, e.scenario),
                format!("{}. Assumptions: {}.", e.formula, e.assumptions),
            ));
        }
        out.push((
            "confidence intervals".into(),
            format!(
                "{} replicates, seed {}: {}. The interval says how much the share depends on which hosts \
                 happened to be there: where a few heavy senders carry most of the spam it is wide.",
                self.s.bootstrap.replicates, self.s.bootstrap.seed, self.s.bootstrap.method
            ),
        ));
        out.push((
            "suspects".into(),
            format!(
                "A suspect counts with weight {SUSPECT_WEIGHT} as spam; the band next to every share counts \
                 suspects as clean (0) and as zombies (1). Collateral damage counts hosts judged clean; suspects \
                 that would be blocked are listed apart."
            ),
        ));
        out.push((
            "sensitivity".into(),
            format!(
                "Verdicts re-drawn from the scores with the zombie and suspect thresholds multiplied by {:?}, \
                 by rank's rules (relays kept; a zombie needs zombie_min_attempts mail attempts, direct port-25 \
                 sessions plus submissions, below \
                 that it is a suspect); the row marked configured reproduces rank's verdicts. Shares with w = 0.5.",
                SENSITIVITY_FACTORS
            ),
        ));
        out
    }

    fn markdown(&self, charts: &[ChartFile]) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# {}\n", self.title());
        let _ = writeln!(
            md,
            "op25b {}: every number below is a cell of `summary.csv` or `hosts.csv` (shares shown as rounded percents; \
             what customers submitted to the ISP's mail servers is in `submitters.csv`, the hosts the block cuts off \
             in `collateral.csv`{}; how the relays' log and the bootstrap went is in `summary.json`).\n",
            self.s.version,
            if self.s.after.is_some() {
                ", those it stopped after the block in `blocked-after.csv`"
            } else {
                ""
            }
        );
        for (big, rest) in self.headlines() {
            let _ = writeln!(md, "- **{big}** {rest}");
        }
        md.push('\n');
        for w in self.warnings() {
            let _ = writeln!(md, "> **Note:** {w}\n");
        }
        let _ = writeln!(md, "![spam share](spam-share.png)\n");
        let _ = writeln!(md, "## Inputs\n");
        for l in self.input_lines() {
            let _ = writeln!(md, "- {}", escape_md(&l));
        }
        let _ = writeln!(md, "\n## Scenarios\n");
        md_table(&mut md, &self.scenario_table());
        let _ = writeln!(md, "\n## The relays' spam fraction\n");
        md_table(&mut md, &self.relay_table());
        let _ = writeln!(md, "\n{}", self.relay_note());
        let _ = writeln!(md, "\n## OP25B simulated on the before traffic\n");
        md_table(&mut md, &self.simulated_table());
        if let Some(t) = self.blocked_after_table() {
            let _ = writeln!(md, "\n## Whom the block stopped (after)\n");
            md_table(&mut md, &t);
            let _ = writeln!(md, "\n{}", BLOCKED_AFTER_NOTE);
        }
        if let Some(t) = self.differential_table() {
            let _ = writeln!(md, "\n## Differential (WAKWAK) estimate\n");
            md_table(&mut md, &t);
        }
        let _ = writeln!(md, "\n## Sensitivity to the zombie threshold\n");
        md_table(&mut md, &self.sensitivity_table());
        let _ = writeln!(md, "\n## Top hosts (before)\n");
        md_table(&mut md, &self.top_table());
        let _ = writeln!(md, "\n## Charts\n");
        for c in charts {
            let _ = writeln!(md, "![{}]({})\n", c.alt, c.file);
        }
        let _ = writeln!(md, "## Method\n");
        for (name, text) in self.method_lines() {
            let _ = writeln!(md, "- **{name}**: {}", escape_md(&text));
        }
        md
    }

    fn html(&self, charts: &[ChartFile]) -> String {
        let mut h = String::new();
        let title = escape_html(self.title());
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n\
             <p class=\"sub\">op25b {} — every number is a cell of <code>summary.csv</code> or <code>hosts.csv</code> \
             (submissions: <code>submitters.csv</code>; hosts the block cuts off: <code>collateral.csv</code>{}; \
             the relays' log and the bootstrap: <code>summary.json</code>).</p>\n",
            escape_html(self.s.version),
            if self.s.after.is_some() {
                "; hosts it stopped after the block: <code>blocked-after.csv</code>"
            } else {
                ""
            }
        );
        h.push_str("<section class=\"cards\">\n");
        for (i, (big, rest)) in self.headlines().iter().enumerate() {
            let id = if i == 0 { " id=\"headline\"" } else { "" };
            let _ = writeln!(
                h,
                "<div class=\"card\"><div class=\"big\"{id}>{}</div><div>{}</div></div>",
                escape_html(big),
                escape_html(rest)
            );
        }
        h.push_str("</section>\n");
        for w in self.warnings() {
            let _ = writeln!(h, "<p class=\"note\"><b>Note:</b> {}</p>", escape_html(&w));
        }
        if let Some(first) = charts.first() {
            html_figure(&mut h, first);
        }
        h.push_str("<h2>Inputs</h2>\n<ul>\n");
        for l in self.input_lines() {
            let _ = writeln!(h, "<li>{}</li>", escape_html(&l));
        }
        h.push_str("</ul>\n<h2>Scenarios</h2>\n");
        html_table(&mut h, &self.scenario_table());
        h.push_str("<h2>The relays' spam fraction</h2>\n");
        html_table(&mut h, &self.relay_table());
        let _ = writeln!(h, "<p>{}</p>", escape_html(&self.relay_note()));
        h.push_str("<h2>OP25B simulated on the before traffic</h2>\n");
        html_table(&mut h, &self.simulated_table());
        if let Some(t) = self.blocked_after_table() {
            h.push_str("<h2>Whom the block stopped (after)</h2>\n");
            html_table(&mut h, &t);
            let _ = writeln!(h, "<p>{}</p>", escape_html(BLOCKED_AFTER_NOTE));
        }
        if let Some(t) = self.differential_table() {
            h.push_str("<h2>Differential (WAKWAK) estimate</h2>\n");
            html_table(&mut h, &t);
        }
        h.push_str("<h2>Sensitivity to the zombie threshold</h2>\n");
        html_table(&mut h, &self.sensitivity_table());
        h.push_str("<h2>Top hosts (before)</h2>\n");
        html_table(&mut h, &self.top_table());
        h.push_str("<h2>Charts</h2>\n");
        for c in charts.iter().skip(1) {
            html_figure(&mut h, c);
        }
        h.push_str("<h2>Method</h2>\n<dl>\n");
        for (name, text) in self.method_lines() {
            let _ = writeln!(
                h,
                "<dt>{}</dt><dd>{}</dd>",
                escape_html(&name),
                escape_html(&text)
            );
        }
        h.push_str("</dl>\n</main>\n</body>\n</html>\n");
        h
    }
}

const CSS: &str = "body{margin:0;background:#f4f5f7;color:#222;font:16px/1.5 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:2em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:2px solid #eee;padding-bottom:.2em}
.sub{color:#666}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:16px;margin:20px 0}
.card{border:1px solid #e3e3e3;border-left:6px solid #c0392b;border-radius:6px;padding:12px 16px;background:#fcfcfc}
.card .big{font-size:2.4em;font-weight:700;color:#c0392b;line-height:1.1}
.note{background:#fff8e1;border-left:6px solid #e67e22;padding:8px 12px}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}.tw{overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}td{white-space:nowrap}td.wrap{white-space:normal;min-width:320px;text-align:left}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
figure{margin:16px 0}figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{color:#666;font-size:.9em}
dt{font-weight:700;margin-top:.6em}dd{margin-left:1.2em}
code{background:#f0f0f0;padding:0 3px}
";

fn md_table(md: &mut String, t: &Table) {
    let _ = writeln!(
        md,
        "| {} |",
        t.header
            .iter()
            .map(|c| escape_md(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(md, "|{}", " --- |".repeat(t.header.len()));
    for row in &t.rows {
        let _ = writeln!(
            md,
            "| {} |",
            row.iter()
                .map(|c| escape_md(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}

fn html_table(h: &mut String, t: &Table) {
    h.push_str("<div class=\"tw\"><table>\n<tr>");
    for c in &t.header {
        let _ = write!(h, "<th>{}</th>", escape_html(c));
    }
    h.push_str("</tr>\n");
    for row in &t.rows {
        h.push_str("<tr>");
        for c in row {
            // Long cells (reason lists) wrap; numbers never do.
            let class = if c.len() > 40 { " class=\"wrap\"" } else { "" };
            // Break reason lists after their separators.
            let text = if class.is_empty() {
                escape_html(c)
            } else {
                escape_html(c).replace(';', ";<wbr>")
            };
            let _ = write!(h, "<td{class}>{text}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
}

fn html_figure(h: &mut String, c: &ChartFile) {
    let _ = writeln!(
        h,
        "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{} ({})</figcaption></figure>",
        escape_html(&c.alt),
        base64_encode(&c.png),
        escape_html(&c.alt),
        escape_html(&c.file)
    );
}
