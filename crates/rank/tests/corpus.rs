//! Real captures from the shared corpus: the spam bot of suricata-verify's
//! smtperr.pcap must be flagged with reasons; the ordinary SMTP sessions of
//! the other captures must not.

use op25b_capture::{CaptureOptions, ingest};
use op25b_core::{IspConfig, SessionRecord};
use op25b_rank::{HostAggregator, RankConfig, Ranking, Verdict};
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("OP25B_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    dir.is_dir().then_some(dir)
}

/// Ranks one capture as the CLI does without an isp.toml.
fn rank_capture(path: &Path) -> (Ranking, Vec<SessionRecord>) {
    let isp = IspConfig::default_network();
    let cfg = RankConfig::from_isp(&isp).unwrap();
    let mut records = Vec::new();
    let opts = CaptureOptions {
        threads: 1,
        ..CaptureOptions::default()
    };
    // Damaged captures still yield the sessions read before the damage.
    let _ = ingest(
        &[path.to_path_buf()],
        &opts,
        &mut |r| records.push(r),
        &mut |_| {},
    );
    let mut agg = HostAggregator::new(&isp.network);
    agg.push_batch(&records);
    (agg.finish(&cfg), records)
}

#[test]
fn smtperr_spam_bot_is_flagged_with_reasons() {
    let Some(dir) = corpus() else {
        println!("skipped: corpus not found");
        return;
    };
    let (ranking, records) = rank_capture(&dir.join("smtp/suricata-verify/smtperr.pcap"));
    assert!(!records.is_empty());
    for h in &ranking.hosts {
        println!(
            "{} {} {} {:?} sessions={} fanout={}",
            h.features.host, h.verdict, h.score, h.reasons, h.features.sessions, h.features.fanout
        );
    }
    // The bot: the client that announced itself as [0.0.0.0] (MANIFEST.md).
    let bot_ip = records
        .iter()
        .find(|r| r.helo == "[0.0.0.0]")
        .map(|r| r.client)
        .expect("a session with HELO [0.0.0.0]");
    let bot = ranking
        .hosts
        .iter()
        .find(|h| h.features.host == bot_ip)
        .expect("bot ranked");
    assert!(
        matches!(bot.verdict, Verdict::Zombie | Verdict::Suspect),
        "{bot:?}"
    );
    // The capture holds one session per lab machine: the bot's evidence is
    // its HELO, its dynamic address sending straight to an MX, and the refusal.
    assert!(
        bot.reasons.iter().any(|r| r == "helo_bogus_literal"),
        "{:?}",
        bot.reasons
    );
    assert!(
        bot.reasons.iter().any(|r| r == "dynamic_direct"),
        "{:?}",
        bot.reasons
    );
    assert!(
        bot.reasons.iter().any(|r| r.starts_with("rejected=")),
        "{:?}",
        bot.reasons
    );
}

#[test]
fn ordinary_corpus_sessions_are_not_flagged() {
    let Some(dir) = corpus() else {
        println!("skipped: corpus not found");
        return;
    };
    let mut files = Vec::new();
    for sub in [
        "smtp/zeek",
        "smtp/suricata-verify",
        "smtp/arkime",
        "smtp/ndpi",
    ] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            // The spam bot and the port scan are not ordinary sessions.
            if (name.ends_with(".pcap") || name.ends_with(".pcapng"))
                && name != "smtperr.pcap"
                && name != "synscan.pcap"
            {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 20, "{}", files.len());
    let mut flagged = Vec::new();
    let mut hosts = 0;
    for f in &files {
        let (ranking, _) = rank_capture(f);
        hosts += ranking.hosts.len();
        for h in &ranking.hosts {
            if matches!(h.verdict, Verdict::Zombie | Verdict::Suspect) {
                flagged.push(format!(
                    "{}: {} {} {} {:?}",
                    f.display(),
                    h.features.host,
                    h.verdict,
                    h.score,
                    h.reasons
                ));
            }
        }
    }
    println!("{} captures, {hosts} client hosts ranked", files.len());
    assert!(hosts > 20);
    assert!(flagged.is_empty(), "{flagged:#?}");
}
