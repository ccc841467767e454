//! The report directory: every file is written, summary.json and summary.csv
//! hold CONTRACT.md's keys, report.html is self-contained and renders.

mod common;

use common::*;
use op25b_report::{ReportOptions, SUMMARY_CSV_COLUMNS, write_report};
use std::path::{Path, PathBuf};

/// Where to write: `$OP25B_REPORT_LOOK/<name>` when set (to look at the
/// charts), a temporary directory otherwise.
fn out_dir(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("OP25B_REPORT_LOOK") {
        Some(dir) => (None, PathBuf::from(dir).join(name)),
        None => {
            let t = tempfile::tempdir().expect("tempdir");
            let p = t.path().join(name);
            (Some(t), p)
        }
    }
}

fn options(dir: &Path, svg: bool) -> ReportOptions {
    ReportOptions {
        out_dir: dir.to_path_buf(),
        svg,
        bootstrap: 200,
        seed: 7,
        inputs: vec!["before.pcap".into(), "after.pcap".into()],
        accounting: vec![op25b_report::InputAccounting {
            input: "before".into(),
            counts: [
                ("session_records", 4321),
                ("packets", 98765),
                ("packets_not_used_not_smtp_port", 1234),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            damage: vec!["before.pcap: at byte offset 98760: truncated last record".into()],
        }],
        ..ReportOptions::default()
    }
}

fn before_after() -> op25b_report::ReportInput {
    let before = population(11, 60, 600, T0, 3);
    // After the block: the zombies are gone, the relay carries a little more.
    let mut after = population(12, 0, 600, T0 + 30 * 24 * HOUR_US, 2);
    after
        .hosts
        .retain(|h| h.features.outbound_sessions > 0 || h.features.submitted_sessions > 0);
    input(before, Some(after))
}

/// The CONTRACT.md keys of summary.json (section "Report").
const CONTRACT_SCENARIO_KEYS: &[&str] = &[
    "outbound_sessions",
    "outbound_messages",
    "unit",
    "spam_share",
    "spam_share_ci95",
    "zombies",
    "suspects",
];
const CONTRACT_SIMULATED_KEYS: &[&str] = &[
    "blocked_sessions",
    "collateral_hosts",
    "collateral_sessions",
];

/// Every file of a report made with `--after`, and `more`.
fn assert_files(dir: &Path, more: &[&str]) {
    let every = [
        "summary.json",
        "summary.csv",
        "hosts.csv",
        "hosts-after.csv",
        "collateral.csv",
        "blocked-after.csv",
        "submitters.csv",
        "submitters-after.csv",
        "timeline.csv",
        "timeline-after.csv",
        "report.md",
        "report.html",
        "spam-share.png",
        "fanout.png",
        "top-hosts.png",
        "timeline.png",
    ];
    for f in every.iter().chain(more) {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
}

/// The keys inside the JSON example of CONTRACT.md's "Report" section, when
/// the contract is at hand: the test above must not drift from it.
fn contract_json_keys() -> Option<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/CONTRACT.md");
    let text = std::fs::read_to_string(path).ok()?;
    let report = text.split("## Report").nth(1)?;
    let json = report.split("```json").nth(1)?.split("```").next()?;
    // A key is a quoted string followed by a colon.
    let pieces: Vec<&str> = json.split('"').collect();
    let keys = pieces
        .iter()
        .enumerate()
        .skip(1)
        .step_by(2)
        .filter(|(i, _)| {
            pieces
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with(':'))
        })
        .map(|(_, k)| k.to_string())
        .collect();
    Some(keys)
}

#[test]
fn summary_has_contract_keys_and_csv_matches_json() {
    let (_keep, dir) = out_dir("contract");
    let input = before_after();
    write_report(&input, &options(&dir, false)).expect("report written");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for scenario in ["before", "after", "simulated_after"] {
        for key in CONTRACT_SCENARIO_KEYS {
            assert!(
                json[scenario].get(key).is_some(),
                "{scenario}.{key} missing"
            );
        }
    }
    for key in CONTRACT_SIMULATED_KEYS {
        assert!(
            json["simulated_after"].get(key).is_some(),
            "simulated_after.{key}"
        );
    }
    assert!(json["differential"]["spam_share"].is_number());
    assert_eq!(json["before"]["unit"], "messages");
    assert_eq!(
        json["before"]["spam_share_ci95"].as_array().map(Vec::len),
        Some(2)
    );
    match contract_json_keys() {
        Some(keys) => {
            let known: Vec<&str> = CONTRACT_SCENARIO_KEYS
                .iter()
                .chain(CONTRACT_SIMULATED_KEYS)
                .chain(&["before", "after", "simulated_after", "differential", "..."])
                .copied()
                .collect();
            for k in keys.iter().filter(|k| !k.contains(' ')) {
                assert!(known.contains(&k.as_str()), "CONTRACT key {k} not checked");
            }
            assert!(keys.len() >= 12, "{keys:?}");
        }
        None => println!("skipped: CONTRACT.md not found"),
    }

    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, SUMMARY_CSV_COLUMNS);
    for key in CONTRACT_SCENARIO_KEYS.iter().chain(CONTRACT_SIMULATED_KEYS) {
        let present = if *key == "spam_share_ci95" {
            header.contains(&"spam_share_ci95_low") && header.contains(&"spam_share_ci95_high")
        } else {
            header.contains(key)
        };
        assert!(present, "summary.csv lacks {key}");
    }
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let scenarios: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(
        &scenarios[..4],
        ["before", "after", "simulated_after", "differential"]
    );
    assert!(scenarios[4..].iter().all(|s| *s == "sensitivity"));
    // Every CSV cell of the four scenarios is the JSON value.
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (row, scenario) in rows
        .iter()
        .zip(["before", "after", "simulated_after", "differential"])
    {
        let share: f64 = row[col("spam_share")].parse().unwrap();
        assert_eq!(share, json[scenario]["spam_share"].as_f64().unwrap());
        let lo: f64 = row[col("spam_share_ci95_low")].parse().unwrap();
        assert_eq!(lo, json[scenario]["spam_share_ci95"][0].as_f64().unwrap());
    }
    assert_eq!(
        rows[2][col("collateral_hosts")],
        json["simulated_after"]["collateral_hosts"].to_string()
    );
    // collateral.csv gives simulated_after its collateral counts.
    {
        let text = std::fs::read_to_string(dir.join("collateral.csv")).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header, op25b_report::COLLATERAL_CSV_COLUMNS);
        let at = |name: &str| header.iter().position(|c| *c == name).unwrap();
        let (mut hosts, mut sessions, mut suspects, mut worse_after, mut moved, mut rows) =
            (0, 0, 0, 0, 0, 0);
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let blocked: u64 = cells[at("blockable_sessions")].parse().unwrap();
            assert!(blocked > 0, "{line}");
            let counted = cells[at("counted_as")];
            match counted {
                "collateral" => {
                    hosts += 1;
                    sessions += blocked;
                    moved += u64::from(cells[at("after_the_block")] == "moved");
                }
                "suspect" => suspects += 1,
                _ => assert_eq!(counted, "zombie", "{line}"),
            }
            let verdict = cells[at("verdict")];
            let same = verdict == counted
                || (counted == "collateral" && matches!(verdict, "clean" | "relay"));
            worse_after += u64::from(!same);
            rows += 1;
        }
        let sim = &json["simulated_after"];
        assert!(rows > 0, "collateral.csv has no rows");
        assert_eq!(hosts, sim["collateral_hosts"].as_u64().unwrap());
        assert_eq!(sessions, sim["collateral_sessions"].as_u64().unwrap());
        assert_eq!(suspects, sim["collateral_suspect_hosts"].as_u64().unwrap());
        assert_eq!(
            worse_after,
            sim["collateral_bots_after_hosts"].as_u64().unwrap()
        );
        assert_eq!(moved, sim["collateral_moved_hosts"].as_u64().unwrap());
    }
    // blocked-after.csv gives the after row of summary.csv its counts of
    // whom the block stopped.
    {
        let text = std::fs::read_to_string(dir.join("blocked-after.csv")).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header, op25b_report::BLOCKED_AFTER_CSV_COLUMNS);
        let at = |name: &str| header.iter().position(|c| *c == name).unwrap();
        let mut sums = [0u64; 5];
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let blocked: u64 = cells[at("blocked_sessions")].parse().unwrap();
            assert!(blocked > 0, "{line}");
            sums[0] += blocked;
            sums[1] += 1;
            sums[2] += cells[at("leaked_sessions")].parse::<u64>().unwrap();
            if cells[at("counted_as")] == "collateral" {
                sums[3] += 1;
                sums[4] += blocked;
            }
        }
        assert!(sums[3] > 0, "no customer still blocked in the fixture");
        let after_row = &rows[1];
        assert_eq!(after_row[col("scenario")], "after");
        let cells = [
            "blocked_sessions",
            "blocked_hosts",
            "leaked_sessions",
            "collateral_hosts",
            "collateral_sessions",
        ]
        .map(|c| after_row[col(c)].parse::<u64>().unwrap());
        assert_eq!(sums, cells);
    }
    // submitters.csv holds the relays' f: sum of weight x volume over sum of
    // volume, recomputed here from its cells.
    for (file, scenario) in [
        ("submitters.csv", "before"),
        ("submitters-after.csv", "after"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header, op25b_report::SUBMITTERS_CSV_COLUMNS);
        let at = |name: &str| header.iter().position(|c| *c == name).unwrap();
        let (mut spam, mut all, mut rows) = (0.0, 0.0, 0);
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            assert_ne!(cells[at("verdict")], "relay", "{file}: {line}");
            let w: f64 = cells[at("spam_weight")].parse().unwrap();
            let v: f64 = cells[at("submitted_volume")].parse().unwrap();
            spam += w * v;
            all += v;
            rows += 1;
        }
        assert!(rows > 0 && all > 0.0, "{file} has no submissions");
        let f = json[scenario]["submitted_spam_fraction"].as_f64().unwrap();
        assert!(
            (spam / all - f).abs() < 1e-12,
            "{file}: {} vs {f}",
            spam / all
        );
    }
    assert_files(&dir, &["timeline-after.png"]);
}

#[test]
fn svg_versions_are_written_on_request() {
    let (_keep, dir) = out_dir("svg");
    let input = input(population(3, 10, 100, T0, 1), None);
    write_report(&input, &options(&dir, true)).expect("report written");
    for name in ["spam-share", "fanout", "top-hosts", "timeline"] {
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("</svg>"),
            "{name}.svg"
        );
        let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
    // Without --after there is no after and no differential, in JSON and CSV.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(json["after"].is_null() && json["differential"].is_null());
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert!(!csv.contains("\nafter,") && !csv.contains("\ndifferential,"));
    assert!(!dir.join("hosts-after.csv").exists());
}

/// Every URL-like reference of an HTML text: src=, href=, url(.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for pat in ["src=\"", "href=\"", "url("] {
        for part in html.split(pat).skip(1) {
            let end = part.find(['"', ')']).unwrap_or(part.len());
            out.push(part[..end.min(60)].to_string());
        }
    }
    out
}

#[test]
fn html_is_self_contained_and_renders() {
    let (_keep, dir) = out_dir("html");
    let input = before_after();
    let summary = write_report(&input, &options(&dir, false)).expect("report written");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("http://") && !lower.contains("https://") && !lower.contains("file:"));
    assert!(!lower.contains("@import") && !lower.contains("<link") && !lower.contains("<script"));
    let refs = references(&html);
    assert_eq!(refs.len(), 5, "{refs:?}");
    assert!(
        refs.iter().all(|r| r.starts_with("data:image/png;base64,")),
        "{refs:?}"
    );
    let img_tags = html.matches("<img ").count();
    assert_eq!(img_tags, 5);
    let headline = format!("{:.1}%", summary.before.spam_share.unwrap() * 100.0);
    assert!(html.contains(&format!("id=\"headline\">{headline}<")));

    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        println!("skipped: chromium not installed");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let url = format!(
        "file://{}",
        dir.join("report.html").canonicalize().unwrap().display()
    );
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(&headline),
        "rendered DOM lacks the headline {headline}"
    );
    assert!(dom.contains("data:image/png;base64,"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ERR_FILE_NOT_FOUND") && !stderr.contains("net::ERR"),
        "{stderr}"
    );
}

#[test]
fn empty_input_and_odd_sizes_still_give_a_whole_report() {
    let (_keep, dir) = out_dir("empty");
    let empty = || ranking(Vec::new(), 0, 0);
    let mut opts = options(&dir, true);
    opts.width = 10;
    opts.height = 100_000;
    let summary = write_report(&input(empty(), Some(empty())), &opts).expect("report written");
    assert_eq!(summary.before.spam_share, None);
    assert_eq!(
        summary.differential.as_ref().and_then(|d| d.spam_share),
        None
    );
    assert_files(&dir, &["timeline.svg"]);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("**n/a** of outbound mail"), "{md}");
    assert!(
        md.contains("The before and the after input held no SMTP session record"),
        "{md}"
    );
    // The size was clamped to 320 x 8000: PNG IHDR width and height.
    let png = std::fs::read(dir.join("spam-share.png")).unwrap();
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 320);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 8000);
}

#[test]
fn a_differential_that_cannot_be_trusted_says_why() {
    let md_of = |name: &str, input: &op25b_report::ReportInput| {
        let (_keep, dir) = out_dir(name);
        let summary = write_report(input, &options(&dir, false)).expect("report");
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        (summary, md, json)
    };
    // All of the after input at one instant: nothing to scale by.
    let mut instant = before_after();
    if let Some(a) = instant.after.as_mut() {
        a.end_us = a.start_us;
    }
    let (summary, md, json) = md_of("diff-instant", &instant);
    let d = summary.differential.as_ref().expect("present with --after");
    assert_eq!((d.spam_share, d.scale, d.removed), (None, None, None));
    assert!(json["differential"]["scale"].is_null() && json["differential"]["removed"].is_null());
    assert!(md.contains("The after input spans no time"), "{md}");
    assert!(
        !md.contains("of the outbound volume before disappeared"),
        "{md}"
    );
    assert!(
        !md.contains("bootstrap replicates had no outbound mail"),
        "{md}"
    );

    // An hour against a second.
    let mut second = before_after();
    if let Some(a) = second.after.as_mut() {
        a.end_us = a.start_us + 1_000_000;
    }
    let (summary, md, _) = md_of("diff-second", &second);
    let k = summary.differential.as_ref().and_then(|d| d.scale).unwrap();
    assert!(md.contains("The differential is unreliable here"), "{md}");
    assert!(md.contains(&format!("k = {k:.4}")), "{md}");
    assert!(md.contains("limited to [0, 1]"), "{md}");

    // The same spans, but more direct mail after than before.
    let pair = before_after();
    let swapped = input(pair.after.unwrap(), Some(pair.before));
    let (summary, md, _) = md_of("diff-grew", &swapped);
    let d = summary.differential.as_ref().unwrap();
    assert!(d.spam_share_unclamped.unwrap() < 0.0 && d.spam_share == Some(0.0));
    assert!(
        md.contains("limited to [0, 1]: more direct mail left after"),
        "{md}"
    );

    // A comparable pair says nothing.
    let (_, md, _) = md_of("diff-fine", &before_after());
    assert!(!md.contains("The differential is unreliable"), "{md}");
    // The options above draw 200 replicates: enough to say nothing about.
    assert!(!md.contains("bootstrap replicate"), "{md}");
}

#[test]
fn intervals_from_few_replicates_are_said_to_be_rough() {
    let (_keep, dir) = out_dir("few-replicates");
    let mut opts = options(&dir, false);
    opts.bootstrap = 2;
    write_report(&before_after(), &opts).expect("report");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("The 95% intervals come from 2 bootstrap replicates (--bootstrap)"),
        "{md}"
    );
}

#[test]
fn flows_say_what_the_relay_share_cannot_see() {
    // Flow records only: no host shows a dialogue, so the unit is sessions.
    let flows = |zombie_submits: bool| {
        let mut r = population(21, 10, 120, T0, 1);
        for h in &mut r.hosts {
            h.features.has_dialogue = false;
            // Suspects' submissions count half: none where nothing suspected
            // is to reach the relay.
            if !zombie_submits && h.verdict == op25b_rank::Verdict::Suspect {
                h.verdict = op25b_rank::Verdict::Clean;
            }
        }
        if zombie_submits {
            let z = r
                .hosts
                .iter_mut()
                .find(|h| h.verdict == op25b_rank::Verdict::Zombie)
                .expect("a zombie");
            z.features.submitted_sessions = 6;
            z.features.submitted_mail_sessions = 6;
        }
        input(r, None)
    };
    const NOTE: &str = "flows cannot show how many messages each held";
    for zombie_submits in [true, false] {
        let (_keep, dir) = out_dir(&format!("flows-{zombie_submits}"));
        let summary = write_report(&flows(zombie_submits), &options(&dir, false)).expect("report");
        assert_eq!(summary.unit.as_str(), "sessions");
        assert_eq!(summary.before.relay_spam_fraction > 0.0, zombie_submits);
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(md.contains("seen only in flow records"), "{md}");
        // Said only where a relay carried mail from suspected hosts.
        assert_eq!(md.contains(NOTE), zombie_submits, "{md}");
        assert_eq!(html.contains(NOTE), zombie_submits);
    }
}

#[test]
fn a_block_that_lets_sessions_through_is_reported() {
    const NOTE: &str = "the block is not in place for every pool of dynamic_pools";
    for leaks in [false, true] {
        let mut both = before_after();
        let after = both.after.as_mut().expect("after");
        let blocked = after
            .hosts
            .iter_mut()
            .find(|h| h.features.blockable_sessions > 1)
            .expect("a host blocked after");
        if leaks {
            // Two of its attempts were answered by the outside server.
            blocked.features.direct25.answered = 2;
        }
        let (_keep, dir) = out_dir(&format!("leaks-{leaks}"));
        let summary = write_report(&both, &options(&dir, false)).expect("report");
        let measured = summary.after.as_ref().expect("after");
        assert_eq!(measured.leaked_sessions, if leaks { 2 } else { 0 });
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert_eq!(md.contains(NOTE), leaks, "{md}");
        assert_eq!(html.contains(NOTE), leaks);
        // The headline gives both, each a cell of summary.csv.
        let tried = format!(
            "({} sessions, {} of them answered)",
            measured.blocked_sessions, measured.leaked_sessions
        );
        assert!(md.contains(&tried), "{md}");
    }
}

/// The words of `text` that are numbers (`12`, `0.46`, `92.3%`): words are
/// runs of letters, digits, `_`, `.` and `%`, so that `ci95`, `x1.2` and
/// `198.18.4.171` are not numbers and `4.6–92.3%` is two.
fn numbers(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '%')))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| {
            let digits = w.strip_suffix('%').unwrap_or(w);
            !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                && digits.matches('.').count() <= 1
                && !digits.starts_with('.')
        })
        .map(String::from)
        .collect()
}

/// Every way the report prints the number `x`: as written, whole, with one,
/// two or four decimals, and as a percent.
fn printed_forms(x: f64) -> Vec<String> {
    let mut out = vec![
        format!("{x}"),
        format!("{x:.1}"),
        format!("{x:.2}"),
        format!("{x:.4}"),
        format!("{:.1}%", x * 100.0),
        format!("{:.1}", x * 100.0),
    ];
    if x.fract() == 0.0 {
        out.push(format!("{}", x as i64));
    }
    out
}

/// The numbers of report.md in `dir` that are no cell of its CSV files or
/// summary.json, in any form the report prints: (line, number). Left out:
/// the method section (formulas and their constants), the charts' captions,
/// the title line, the input spans' clock times, and the phrases "95% CI",
/// "port 25" and "port 587".
fn untraced_numbers(dir: &Path) -> Vec<(String, String)> {
    let mut cells = std::collections::HashSet::new();
    fn leaves(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Number(n) => out.extend(n.as_f64()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| leaves(x, out)),
            _ => {}
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let mut values = Vec::new();
    leaves(&json, &mut values);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read_to_string(&path).unwrap();
            for cell in text.lines().skip(1).flat_map(|l| l.split(',')) {
                match cell.parse::<f64>() {
                    Ok(x) => values.push(x),
                    // Cells of words (reasons: fanout=198;no_mail=0.46).
                    Err(_) => cells.extend(numbers(cell)),
                }
            }
        }
    }
    for x in values {
        cells.extend(printed_forms(x));
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let mut out = Vec::new();
    let mut section = String::new();
    for line in md.lines().skip(1) {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.to_string();
            continue;
        }
        if matches!(section.as_str(), "Method" | "Charts") || line.starts_with("op25b ") {
            continue;
        }
        let mut text = line.to_string();
        for phrase in ["95% CI", "port 25", "port-25", "port 587"] {
            text = text.replace(phrase, " ");
        }
        // The input spans: "before: 2005-11-01 01:00:00 UTC to ...".
        if section == "Inputs" && text.contains(" UTC to ") {
            text = text
                .split_once(" UTC (")
                .map_or(text.clone(), |(_, rest)| rest.to_string());
        }
        for n in numbers(&text) {
            if !cells.contains(&n) {
                out.push((line.to_string(), n));
            }
        }
    }
    out
}

/// The issue's rule: every number in the report is a cell of summary.csv
/// or hosts.csv (or of the report's other CSV files, or summary.json's
/// relay-log and bootstrap details), on the committed sample reports and on
/// a report whose block let sessions through.
#[test]
fn every_number_in_report_md_is_a_cell() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reports");
    let mut dirs: Vec<PathBuf> = ["sample", "sample-netflow", "sample-netflow-relay-log"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    let (_keep, leaky) = out_dir("traced-leaky");
    let mut both = before_after();
    if let Some(h) = both.after.as_mut().and_then(|a| {
        a.hosts
            .iter_mut()
            .find(|h| h.features.blockable_sessions > 1)
    }) {
        h.features.direct25.answered = 1;
    }
    write_report(&both, &options(&leaky, false)).expect("report");
    dirs.push(leaky);
    // Flows sampled one packet in 100, nine records in ten of them: the
    // note says so with cells.
    let (_keep_sampled, sampled) = out_dir("traced-sampled");
    let mut thinned = before_after();
    thinned.before.records = 1000;
    thinned.before.sampled_records = 900;
    thinned.before.max_sampling = 100;
    write_report(&thinned, &options(&sampled, false)).expect("report");
    let md = std::fs::read_to_string(sampled.join("report.md")).unwrap();
    assert!(
        md.contains("90.0% of the before input's session records (sampled_record_share)")
            && md.contains("one packet in 100 (sampling_interval)")
            && !md.contains("of the after input's session records"),
        "{md}"
    );
    dirs.push(sampled);
    for dir in dirs {
        let untraced = untraced_numbers(&dir);
        assert!(
            untraced.is_empty(),
            "{}: numbers that are no cell: {untraced:#?}",
            dir.display()
        );
    }
}

/// A week of input: minutes grouped into at most TIMELINE_MAX_BINS equal
/// bins, contiguous from the first minute, every session in exactly one
/// bin, failed sessions apart; timeline.csv writes exactly those bins.
#[test]
fn a_long_timeline_is_grouped_without_losing_a_session() {
    use op25b_report::{TIMELINE_MAX_BINS, timeline_bins, timeline_csv, timeline_csv_columns};
    let start = 1_131_408_000_000_000; // 2005-11-08 00:00 UTC
    let mut week = common::population(7, 30, 200, start, 24 * 7);
    // Half of each zombie's sessions in its first minute got no answer.
    let mut failed_by_verdict = [0u64; 4];
    for h in &mut week.hosts {
        if h.verdict == op25b_rank::Verdict::Zombie {
            let f = &mut h.features;
            f.outbound_failed_minutes = f
                .outbound_minutes
                .iter()
                .take(1)
                .map(|&(m, n)| (m, n / 2))
                .collect();
            failed_by_verdict[0] += f
                .outbound_failed_minutes
                .iter()
                .map(|m| u64::from(m.1))
                .sum::<u64>();
        }
    }
    let bins = timeline_bins(&week);
    assert!(bins.len() as i64 <= TIMELINE_MAX_BINS && bins.len() as i64 > TIMELINE_MAX_BINS / 2);
    let width = bins[0].minutes;
    assert_eq!(
        width,
        (24 * 7 * 60 + TIMELINE_MAX_BINS - 1) / TIMELINE_MAX_BINS
    );
    let first = week
        .hosts
        .iter()
        .flat_map(|h| h.features.outbound_minutes.iter().map(|m| m.0))
        .min()
        .unwrap();
    for (i, b) in bins.iter().enumerate() {
        assert_eq!(b.minutes, width);
        assert_eq!(b.start, first + i as i64 * width * 60_000_000);
    }
    use op25b_rank::Verdict;
    let verdicts = [
        Verdict::Zombie,
        Verdict::Suspect,
        Verdict::Clean,
        Verdict::Relay,
    ];
    for (v, verdict) in verdicts.iter().enumerate() {
        let sessions: u64 = week
            .hosts
            .iter()
            .filter(|h| h.verdict == *verdict)
            .flat_map(|h| h.features.outbound_minutes.iter().map(|m| u64::from(m.1)))
            .sum();
        let failed: u64 = bins.iter().map(|b| b.failed[v]).sum();
        let answered: u64 = bins.iter().map(|b| b.answered[v]).sum();
        assert_eq!(answered + failed, sessions, "{verdict:?}");
        assert_eq!(failed, failed_by_verdict[v], "{verdict:?}");
    }
    let csv = timeline_csv(&bins);
    let columns = timeline_csv_columns();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let table = common::CsvTable::parse(&csv, &columns);
    assert_eq!(table.rows.len(), bins.len());
    for (row, b) in table.rows.iter().zip(&bins) {
        let cells: Vec<u64> = row[2..].iter().map(|c| c.parse().unwrap()).collect();
        let want: Vec<u64> = b.answered.iter().chain(&b.failed).copied().collect();
        assert_eq!(cells, want);
    }
    // Starts are whole minutes in RFC 3339, as hosts.csv writes times.
    assert!(
        table
            .rows
            .iter()
            .all(|r| r[0].starts_with("2005-11-") && r[0].ends_with(":00.000000Z")),
        "{}",
        table.rows[0][0]
    );
}
