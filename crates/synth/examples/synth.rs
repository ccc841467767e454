//! Runner for development: `cargo run -p op25b-synth --example synth -- PROFILE DIR [SEED] [SCALE] [SAMPLING]`.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let profile = args.get(1).cloned().unwrap_or_else(|| "wakwak-2005".into());
    let out_dir = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/var/tmp/op25b-synth".into());
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let scale = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let sampling = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1);
    let t0 = std::time::Instant::now();
    let summary = op25b_synth::run(&op25b_synth::SynthOptions {
        profile,
        out_dir: out_dir.into(),
        seed,
        scale,
        sampling,
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let total: u64 = summary.files.iter().map(|(_, b)| b).sum();
    for (p, b) in &summary.files {
        println!("{:>14} {}", b, p.display());
    }
    println!(
        "{} packets, {} bytes in {:.2} s ({:.1} MB/s); hosts {}, zombies {}; spam share before {:.4} after {:.4} simulated {:.4}",
        summary.packets,
        total,
        secs,
        total as f64 / secs / 1e6,
        summary.hosts,
        summary.zombies,
        summary.spam_share_messages[0],
        summary.spam_share_messages[1],
        summary.simulated_after_spam_share
    );
    Ok(())
}
