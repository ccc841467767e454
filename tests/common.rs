//! Helpers shared by the end-to-end tests: run the binary, make synth data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn op25b() -> Command {
    Command::new(env!("CARGO_BIN_EXE_op25b"))
}

pub fn run(args: &[&str]) -> Output {
    op25b().args(args).output().expect("the op25b binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shared corpus of real captures (`$OP25B_CORPUS`, else
/// `../shared/corpus`), where it is present.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("OP25B_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    dir.is_dir().then_some(dir)
}

/// Where this test process keeps its synth data sets:
/// `$TMPDIR/op25b-e2e/<pid>`. The data sets are shared by the tests of one
/// process and there is no hook after the last test, so each process
/// removes what processes no longer running left there (1 881 data
/// sets, 20 GB, had piled up here).
fn e2e_dir() -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let root = std::env::temp_dir().join("op25b-e2e");
    SWEPT.call_once(|| {
        // Without /proc (not Linux) nothing tells a finished process.
        if !Path::new("/proc/self").exists() {
            return;
        }
        let gone = |pid: &str| pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists();
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                if gone(&e.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        // The layout before: $TMPDIR/op25b-e2e-<pid>-<profile>-...
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(rest) = name.strip_prefix("op25b-e2e-")
                    && rest.split('-').next().is_some_and(gone)
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    });
    root.join(std::process::id().to_string())
}

/// Makes (once per test binary and arguments) a synth data set and returns its directory.
pub fn synth(profile: &str, seed: u64, scale: f64, sampling: u32) -> PathBuf {
    let dir = e2e_dir().join(format!("{profile}-{seed}-{scale}-{sampling}"));
    std::fs::create_dir_all(e2e_dir()).expect("the e2e directory can be made");
    if !dir.join("truth.json").exists() {
        // Tests run in parallel threads: each makes its own copy and renames
        // it into place, so nobody reads a half-written capture.
        let tmp = dir.with_extension(
            format!("tmp-{:?}", std::thread::current().id()).replace(['(', ')'], ""),
        );
        let o = run(&[
            "synth",
            "--profile",
            profile,
            "--seed",
            &seed.to_string(),
            "--scale",
            &scale.to_string(),
            "--sampling",
            &sampling.to_string(),
            "-o",
            tmp.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "synth failed: {}", stderr(&o));
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another thread got there first with the same bytes.
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    dir
}

pub fn truth(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

/// Ingests `inputs` into a CSV in `dir` and reads the records back.
pub fn ingest(dir: &Path, name: &str, inputs: &[&Path]) -> Vec<op25b_core::SessionRecord> {
    let out = dir.join(format!("{name}.parquet"));
    let mut cmd = op25b();
    cmd.arg("ingest").args(inputs).arg("-o").arg(&out).arg("-q");
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "ingest failed: {}", stderr(&o));
    let mut records = Vec::new();
    op25b_store::read_sessions(&out, &mut |r| records.push(r)).unwrap();
    // Workers finish sessions in any order; compare in time order.
    records.sort_by_key(|r| r.time_order());
    records
}

/// The NetFlow/IPFIX export datagrams in a capture, in capture order.
pub fn datagrams_of(capture: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    op25b_capture::ingest(
        &[capture.to_path_buf()],
        &op25b_capture::CaptureOptions::default(),
        &mut |_| {},
        &mut |d| out.push(d.payload.to_vec()),
    )
    .unwrap();
    out
}
