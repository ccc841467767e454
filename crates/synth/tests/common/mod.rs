//! Helpers shared by the integration tests: generate a small sample into a
//! temporary directory and read its truth.json.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use op25b_synth::{SynthOptions, run};
use serde_json::Value;

pub struct Sample {
    pub dir: tempfile::TempDir,
    pub truth: Value,
}

impl Sample {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn generate(profile: &str, seed: u64, scale: f64, sampling: u32) -> Sample {
    let dir = tempfile::tempdir().expect("tempdir");
    run(&SynthOptions {
        profile: profile.to_string(),
        out_dir: dir.path().to_path_buf(),
        seed,
        scale,
        sampling,
    })
    .expect("synth run");
    let text = std::fs::read_to_string(dir.path().join("truth.json")).expect("truth.json");
    let truth: Value = serde_json::from_str(&text).expect("truth.json parses");
    Sample { dir, truth }
}

pub fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned integer: {v}"))
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// True when `tool -v`/`--version` runs.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Run tshark with arguments on a file; stdout as text.
pub fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
