//! Any bytes as a capture file (plain, or gzip/zstd when they start so):
//! ingest must return records or an error, never panic, and account for
//! every packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use op25b_capture::{CaptureOptions, ingest};
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("op25b-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path: PathBuf = dir.join("input.pcap");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let opts = CaptureOptions {
        threads: 1,
        max_sessions: 64,
        // Small, so that fuzzed reordering reaches the budget's path too.
        reorder_budget: 4096,
        ..CaptureOptions::default()
    };
    let mut sessions = 0u64;
    if let Ok(stats) = ingest(&[path], &opts, &mut |_| sessions += 1, &mut |_| {}) {
        assert_eq!(stats.packets, stats.packets_used + stats.skipped_total());
        assert_eq!(stats.sessions_total(), sessions);
    }
});
