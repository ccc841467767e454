//! The public SMTP captures of /work/shared/corpus against the references
//! beside them (Zeek smtp.log, Arkime session JSON, suricata-verify test
//! expectations, nDPI flow lists). The references are parsed here; nothing is
//! copied from op25b's own output. Each known disagreement has its own test
//! below saying why.

use op25b_capture::{CaptureOptions, CaptureStats, Outcome, SessionRecord, ingest};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("OP25B_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpus"
            ))
        });
    if dir.join("smtp").is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus not found");
        None
    }
}

fn run_with(path: &Path, opts: &CaptureOptions) -> (Vec<SessionRecord>, CaptureStats) {
    let mut records = Vec::new();
    let stats = ingest(
        &[path.to_path_buf()],
        opts,
        &mut |r| records.push(r),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    records.sort_by_key(|r| (r.start, r.client_port));
    (records, stats)
}

fn run(path: &Path) -> Vec<SessionRecord> {
    let opts = CaptureOptions {
        threads: 1,
        ..CaptureOptions::default()
    };
    run_with(path, &opts).0
}

fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for tool in ["zeek", "suricata-verify", "arkime", "ndpi"] {
        let Ok(entries) = std::fs::read_dir(dir.join("smtp").join(tool)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.to_string_lossy();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The reference file beside a capture: `NAME.<suffix>` with NAME the capture
/// name without (or, for nDPI, with) its extension.
fn beside(capture: &Path, suffix: &str) -> Option<PathBuf> {
    let stem = capture.file_stem()?.to_string_lossy().into_owned();
    let name = capture.file_name()?.to_string_lossy().into_owned();
    [format!("{stem}.{suffix}"), format!("{name}.{suffix}")]
        .into_iter()
        .map(|n| capture.with_file_name(n))
        .find(|p| p.is_file())
}

#[test]
fn every_capture_ingests_and_every_packet_is_accounted_for() {
    let Some(dir) = corpus() else { return };
    let files = captures(&dir);
    assert!(files.len() >= 60, "corpus holds {} captures", files.len());
    for f in files {
        for threads in [1, 2] {
            let opts = CaptureOptions {
                threads,
                ..CaptureOptions::default()
            };
            let (records, stats) = run_with(&f, &opts);
            assert_eq!(
                stats.packets,
                stats.packets_used + stats.skipped_total(),
                "{}: {stats}",
                f.display()
            );
            assert_eq!(
                stats.sessions_total(),
                records.len() as u64,
                "{}",
                f.display()
            );
            assert!(stats.damage.is_empty(), "{}: {stats}", f.display());
            // Real captures hold far less out of order than the budget.
            assert_eq!(stats.reorder_budget_flushes, 0, "{}", f.display());
            // Nor does a real capture's clock jump or leave the years 0000-9999.
            for reason in ["timestamp_jump", "timestamp_out_of_range"] {
                assert!(
                    !stats.skipped.contains_key(reason),
                    "{}: {stats}",
                    f.display()
                );
            }
            for r in &records {
                assert!(r.start <= r.end, "{}", f.display());
            }
        }
    }
}

// ---------------------------------------------------------------- Zeek

struct ZeekRow {
    conn: (String, u16, String, u16),
    helo: String,
    mailfrom: String,
    rcptto: usize,
}

fn zeek_smtp_log(path: &Path) -> Vec<ZeekRow> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let get = |name: &str| {
            fields
                .iter()
                .position(|f| f == name)
                .and_then(|i| cols.get(i))
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        let unset = |s: String| {
            if s == "-" || s == "(empty)" {
                String::new()
            } else {
                s
            }
        };
        let rcpt = unset(get("rcptto"));
        rows.push(ZeekRow {
            conn: (
                get("id.orig_h"),
                get("id.orig_p").parse().unwrap(),
                get("id.resp_h"),
                get("id.resp_p").parse().unwrap(),
            ),
            helo: unset(get("helo")),
            mailfrom: unset(get("mailfrom")),
            rcptto: if rcpt.is_empty() {
                0
            } else {
                rcpt.split(',').count()
            },
        });
    }
    rows
}

/// Captures where op25b and Zeek differ on purpose; each has its own test.
const ZEEK_DIFFERENT: &[&str] = &[
    "connect-with-smtp.pcap",   // SMTP inside an HTTP CONNECT tunnel on 8240
    "smtp-one-side-only.pcap",  // no replies: RCPT counted by their answers
    "smtp-attachment-msg.pcap", // client side only: same
    "smtp-bdat-gap.pcap",       // a content gap cuts a RCPT's answer
];

#[test]
fn zeek_sessions_helo_mail_and_rcpt_agree() {
    let Some(dir) = corpus() else { return };
    let mut compared = 0;
    for f in captures(&dir) {
        let Some(log) = beside(&f, "zeek-smtp.log") else {
            continue;
        };
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if ZEEK_DIFFERENT.contains(&name.as_str()) {
            continue;
        }
        let rows = zeek_smtp_log(&log);
        let records = run(&f);
        let conns: BTreeSet<_> = rows.iter().map(|r| r.conn.clone()).collect();
        let ours: BTreeSet<_> = records
            .iter()
            .map(|r| {
                (
                    r.client.to_string(),
                    r.client_port,
                    r.server.to_string(),
                    r.server_port,
                )
            })
            .collect();
        assert_eq!(ours, conns, "{name}: sessions");
        for conn in &conns {
            let rec = records
                .iter()
                .find(|r| (r.client.to_string(), r.client_port) == (conn.0.clone(), conn.1))
                .unwrap();
            let zeek_rows: Vec<_> = rows.iter().filter(|r| &r.conn == conn).collect();
            let mails = zeek_rows.iter().filter(|r| !r.mailfrom.is_empty()).count();
            let rcpts: usize = zeek_rows.iter().map(|r| r.rcptto).sum();
            let helo = zeek_rows
                .iter()
                .map(|r| r.helo.clone())
                .find(|h| !h.is_empty());
            if let Some(helo) = helo {
                assert_eq!(rec.helo, helo, "{name}: helo");
            }
            assert_eq!(rec.transactions as usize, mails, "{name}: MAIL");
            assert_eq!(
                (rec.rcpt_accepted + rec.rcpt_rejected) as usize,
                rcpts,
                "{name}: RCPT"
            );
        }
        compared += 1;
    }
    assert!(compared >= 12, "only {compared} Zeek logs compared");
}

#[test]
fn zeek_connect_tunnel_on_8240_is_not_an_smtp_port() {
    // Zeek finds the SMTP dialogue inside an HTTP CONNECT tunnel by content;
    // op25b records connections by port, and 8240 is not an SMTP port. With
    // the port added, the tunnelled session is there (its first bytes are the
    // HTTP CONNECT exchange, so the dialogue itself is not read).
    let Some(dir) = corpus() else { return };
    let f = dir.join("smtp/zeek/connect-with-smtp.pcap");
    let rows = zeek_smtp_log(&beside(&f, "zeek-smtp.log").unwrap());
    assert_eq!(rows.len(), 1);
    assert!(run(&f).is_empty());
    let opts = CaptureOptions {
        smtp_ports: vec![8240],
        threads: 1,
        ..CaptureOptions::default()
    };
    let (records, _) = run_with(&f, &opts);
    let conn = &rows[0].conn;
    assert!(
        records
            .iter()
            .any(|r| r.client.to_string() == conn.0 && r.client_port == conn.1),
        "{records:?}"
    );
}

#[test]
fn zeek_one_direction_captures_are_partial_and_rcpt_needs_replies() {
    // Only the client's half was captured: Zeek lists the RCPT TO addresses
    // the client sent; op25b counts RCPT by their answer (accepted/rejected),
    // and there is no answer. MAIL commands and HELO agree; outcome partial.
    let Some(dir) = corpus() else { return };
    for name in ["smtp-one-side-only.pcap", "smtp-attachment-msg.pcap"] {
        let f = dir.join("smtp/zeek").join(name);
        let rows = zeek_smtp_log(&beside(&f, "zeek-smtp.log").unwrap());
        let records = run(&f);
        assert_eq!(records.len(), 1, "{name}");
        let r = &records[0];
        assert_eq!(r.packets_s2c, 0, "{name}");
        assert_eq!(r.outcome, op25b_capture::Outcome::Partial, "{name}");
        let mails = rows.iter().filter(|r| !r.mailfrom.is_empty()).count();
        assert_eq!(r.transactions as usize, mails, "{name}");
        assert!(rows.iter().map(|z| z.rcptto).sum::<usize>() > 0, "{name}");
        assert_eq!(r.rcpt_accepted + r.rcpt_rejected, 0, "{name}");
        assert_eq!(r.helo, rows[0].helo, "{name}");
    }
}

#[test]
fn zeek_content_gap_marks_the_session() {
    // Bytes are missing from the client stream: the session carries gaps =
    // true and its counts are a lower bound; Zeek reports the same MAIL.
    let Some(dir) = corpus() else { return };
    let f = dir.join("smtp/zeek/smtp-bdat-gap.pcap");
    let rows = zeek_smtp_log(&beside(&f, "zeek-smtp.log").unwrap());
    let records = run(&f);
    assert_eq!(records.len(), 1);
    assert!(records[0].gaps);
    assert_eq!(
        records[0].transactions as usize,
        rows.iter().filter(|r| !r.mailfrom.is_empty()).count()
    );
    assert_eq!(records[0].helo, rows[0].helo);
}

// ---------------------------------------------------------------- Arkime

fn arkime_sessions(path: &Path) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["sessions3"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| s["body"].clone())
        .collect()
}

#[test]
fn arkime_sessions_and_helo_agree() {
    let Some(dir) = corpus() else { return };
    let smtp_ports = op25b_capture::DEFAULT_SMTP_PORTS;
    let mut compared = 0;
    for f in captures(&dir) {
        let Some(json) = beside(&f, "arkime.test.json") else {
            continue;
        };
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name == "smtp-decrypted.pcap" {
            continue; // own test: two of its sessions are on port 2525
        }
        let records = run(&f);
        let theirs: Vec<_> = arkime_sessions(&json)
            .into_iter()
            .filter(|s| {
                s["destination"]["port"]
                    .as_u64()
                    .is_some_and(|p| smtp_ports.contains(&(p as u16)))
            })
            .collect();
        assert_eq!(records.len(), theirs.len(), "{name}: sessions");
        for s in &theirs {
            let port = s["source"]["port"].as_u64().unwrap() as u16;
            let r = records.iter().find(|r| r.client_port == port).unwrap();
            assert_eq!(
                r.packets_c2s + r.packets_s2c,
                s["network"]["packets"].as_u64().unwrap(),
                "{name}: packets"
            );
            if let Some(helo) = s["email"]["smtpHello"][0].as_str() {
                assert!(
                    r.helo.eq_ignore_ascii_case(helo),
                    "{name}: helo {:?} vs {helo:?}",
                    r.helo
                );
            }
            // Arkime's sender list merges MAIL FROM with header From:
            // addresses, distinct: it tells only whether there was a sender.
            let senders = s["email"]["src"].as_array().map_or(0, Vec::len);
            assert_eq!(r.transactions > 0, senders > 0, "{name}: MAIL seen");
        }
        compared += 1;
    }
    assert!(compared >= 12, "only {compared} Arkime references compared");
}

#[test]
fn arkime_decrypted_starttls_capture_reads_on_with_port_2525() {
    // Two of the four sessions are on port 2525 (not a default SMTP port);
    // all four hold the decrypted dialogue after STARTTLS, which op25b reads
    // on (tls = true, outcome from the dialogue).
    let Some(dir) = corpus() else { return };
    let f = dir.join("smtp/arkime/smtp-decrypted.pcap");
    let theirs = arkime_sessions(&beside(&f, "arkime.test.json").unwrap());
    let opts = CaptureOptions {
        smtp_ports: vec![25, 2525],
        threads: 1,
        ..CaptureOptions::default()
    };
    let (records, _) = run_with(&f, &opts);
    assert_eq!(records.len(), theirs.len());
    for s in &theirs {
        let port = s["source"]["port"].as_u64().unwrap() as u16;
        let r = records.iter().find(|r| r.client_port == port).unwrap();
        assert!(r.tls);
        let helo = s["email"]["smtpHello"][0].as_str().unwrap();
        assert!(r.helo.eq_ignore_ascii_case(helo), "{} vs {helo}", r.helo);
        let senders = s["email"]["src"].as_array().map_or(0, Vec::len);
        assert_eq!(r.transactions > 0, senders > 0);
    }
    assert_eq!(run(&f).len(), 2, "only port 25 by default");
}

// ---------------------------------------------------------------- suricata-verify

/// `- filter:` blocks: their count and `key: value` lines.
fn suricata_filters(path: &Path) -> Vec<(u64, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for block in text.split("- filter:").skip(1) {
        let mut count = 1;
        let mut kv = BTreeMap::new();
        for line in block.lines() {
            let line = line.trim();
            if line.starts_with("- ") {
                break;
            }
            if let Some((k, v)) = line.split_once(": ") {
                if k == "count" {
                    count = v.trim().parse().unwrap_or(1);
                } else {
                    let v = v.trim();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    kv.insert(k.to_string(), v.to_string());
                }
            }
        }
        out.push((count, kv));
    }
    out
}

#[test]
fn suricata_helo_mail_rcpt_and_flows_agree() {
    let Some(dir) = corpus() else { return };
    let mut compared = 0;
    for f in captures(&dir) {
        let Some(yaml) = beside(&f, "sv-test.yaml").or_else(|| beside(&f, "sv-smtp-eve.test.yaml"))
        else {
            continue;
        };
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name == "smtp-url-b64.pcap" {
            continue; // own test: port 2525
        }
        let records = run(&f);
        let filters = suricata_filters(&yaml);
        let helos: BTreeSet<&str> = records.iter().map(|r| r.helo.as_str()).collect();
        let mails: u64 = records.iter().map(|r| u64::from(r.transactions)).sum();
        let rcpts: u64 = records
            .iter()
            .map(|r| u64::from(r.rcpt_accepted + r.rcpt_rejected))
            .sum();
        let mut want_mails = 0;
        for (count, kv) in &filters {
            if kv.contains_key("lt-version") {
                continue; // the expectation of an older suricata, repeated
            }
            if let Some(h) = kv.get("smtp.helo") {
                // op25b keeps the first MAX_HELO bytes of an over-long argument.
                let kept = &h.as_bytes()[..h.len().min(op25b_capture::smtp::MAX_HELO)];
                assert!(
                    helos.iter().any(|ours| ours.as_bytes() == kept),
                    "{name}: helo {h} not in {helos:?}"
                );
            }
            if *count > 0 && kv.get("event_type").map(String::as_str) == Some("smtp") {
                if kv.contains_key("smtp.mail_from") {
                    want_mails += count;
                }
                let rcpt_idx = kv
                    .keys()
                    .filter_map(|k| {
                        k.strip_prefix("smtp.rcpt_to[")?
                            .strip_suffix(']')?
                            .parse::<u64>()
                            .ok()
                    })
                    .max();
                if let Some(i) = rcpt_idx {
                    assert!(rcpts > i, "{name}: RCPT {rcpts} <= index {i}");
                }
            }
            if kv.get("app_proto").map(String::as_str) == Some("smtp")
                && kv.get("event_type").map(String::as_str) == Some("flow")
            {
                assert_eq!(records.len() as u64, *count, "{name}: flows");
            }
        }
        assert!(mails >= want_mails, "{name}: MAIL {mails} < {want_mails}");
        compared += 1;
    }
    assert!(
        compared >= 20,
        "only {compared} suricata references compared"
    );
}

#[test]
fn suricata_port_2525_needs_the_port() {
    // suricata-verify runs this test with SMTP forced on 2525; op25b only
    // records configured ports.
    let Some(dir) = corpus() else { return };
    let f = dir.join("smtp/suricata-verify/smtp-url-b64.pcap");
    assert!(run(&f).is_empty());
    let opts = CaptureOptions {
        smtp_ports: vec![2525],
        threads: 1,
        ..CaptureOptions::default()
    };
    let (records, _) = run_with(&f, &opts);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].transactions, 1);
}

// ---------------------------------------------------------------- nDPI

#[test]
fn ndpi_smtp_flows_agree() {
    let Some(dir) = corpus() else { return };
    let mut compared = 0;
    for f in captures(&dir) {
        let Some(out) = beside(&f, "ndpi.out") else {
            continue;
        };
        let text = std::fs::read_to_string(&out).unwrap();
        let theirs = text
            .lines()
            .filter(|l| {
                l.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            })
            .filter(|l| l.contains("TCP ") && l.contains("SMTP"))
            .count();
        let records = run(&f);
        assert_eq!(records.len(), theirs, "{}", f.display());
        compared += 1;
    }
    assert_eq!(compared, 4);
}

/// suricata-verify's detect-email-received: the server's greeting has no
/// CRLF, so the first line of its EHLO reply ran on from it and every reply
/// after answered the command before its own (the session read `rejected`,
/// 4 RCPTs, no message). The client's EHLO shows the greeting was whole.
#[test]
fn a_greeting_without_its_line_end_is_read_as_whole() {
    let Some(dir) = corpus() else { return };
    let f = dir.join("smtp/suricata-verify/detect-email-received.pcap");
    let opts = CaptureOptions {
        threads: 1,
        ..CaptureOptions::default()
    };
    let (records, stats) = run_with(&f, &opts);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Delivered, "{r:?}");
    assert_eq!(
        (
            r.greeting_code,
            r.rcpt_accepted,
            r.rcpt_rejected,
            r.messages
        ),
        (220, 5, 0, 1)
    );
    assert_eq!(stats.smtp_unterminated_replies, 2);
}
