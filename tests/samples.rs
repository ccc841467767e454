//! The shipped samples and the reports committed beside them agree: the
//! sample report is regenerated from sample-pcaps/ exactly as
//! scripts/report-samples.sh does, and every text output must equal the
//! committed one. When this fails, run scripts/report-samples.sh and commit.

mod common;

use std::path::Path;

fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn check(report: &str, before: &str, after: &str, extra: &[&str]) {
    let root = workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(report);
    let o = common::op25b()
        .current_dir(root)
        .args([
            "report",
            "--config",
            "sample-pcaps/isp.toml",
            "--before",
            before,
            "--after",
            after,
            "-o",
        ])
        .arg(&out)
        .args(extra)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let committed = root.join("reports").join(report);
    for file in [
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
    ] {
        let want = std::fs::read_to_string(committed.join(file)).unwrap_or_else(|e| {
            panic!("reports/{report}/{file}: {e}: run scripts/report-samples.sh")
        });
        // The output directory is the one thing that differs between the two runs.
        let got = std::fs::read_to_string(out.join(file))
            .unwrap()
            .replace(out.to_str().unwrap(), &format!("reports/{report}"));
        assert!(
            want == got,
            "reports/{report}/{file} is out of date: run scripts/report-samples.sh and commit"
        );
    }
}

#[test]
fn sample_report_is_up_to_date() {
    check(
        "sample",
        "sample-pcaps/before.pcap.gz",
        "sample-pcaps/after.pcap.gz",
        &[],
    );
}

#[test]
fn sample_netflow_report_is_up_to_date() {
    check(
        "sample-netflow",
        "sample-pcaps/before-netflow5.pcap.gz",
        "sample-pcaps/after-netflow5.pcap.gz",
        &[],
    );
}

#[test]
fn sample_netflow_relay_log_report_is_up_to_date() {
    check(
        "sample-netflow-relay-log",
        "sample-pcaps/before-netflow5.pcap.gz",
        "sample-pcaps/after-netflow5.pcap.gz",
        &[
            "--relay-log",
            "sample-pcaps/before-maillog.gz",
            "sample-pcaps/after-maillog.gz",
        ],
    );
}

/// The samples are what their README says: made by `op25b synth` with the
/// stated arguments, so anyone can regenerate and check them.
#[test]
fn samples_are_reproducible_from_synth() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("sample-pcaps/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("op25b synth"))
        .expect("sample-pcaps/README.md gives the synth command");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = common::op25b();
    for a in args {
        cmd.arg(if a == "sample-pcaps" {
            tmp.path().to_str().unwrap()
        } else {
            a
        });
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let truth_now = std::fs::read(tmp.path().join("truth.json")).unwrap();
    let truth_shipped = std::fs::read(root.join("sample-pcaps/truth.json")).unwrap();
    assert!(
        truth_now == truth_shipped,
        "sample-pcaps/truth.json differs from what the README's command makes"
    );
    for name in [
        "before.pcap",
        "after.pcap",
        "before-netflow5.pcap",
        "after-netflow5.pcap",
        "before-maillog",
        "after-maillog",
    ] {
        let made = std::fs::read(tmp.path().join(name)).unwrap();
        let gz = std::fs::read(root.join(format!("sample-pcaps/{name}.gz"))).unwrap();
        let mut shipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut shipped)
            .unwrap();
        assert!(
            made == shipped,
            "sample-pcaps/{name}.gz is not what the README's command makes"
        );
    }
}
