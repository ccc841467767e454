#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test (unit, corpus,
# end-to-end against synth ground truth), and the notebooks executed.
# README.md names this command; .ci/run calls exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build (release binary for the end-to-end tests and notebooks)"
cargo build --release --quiet -p op25b
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== notebooks"
python3 scripts/run_notebooks.py
