//! Writers for a ranking: the `hosts.csv` of CONTRACT.md, JSON lines, and a
//! terminal table.

use crate::HostRank;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Column names of `hosts.csv`: CONTRACT.md's, in its order, then the ones
/// op25b-rank adds.
pub const CSV_COLUMNS: &[&str] = &[
    "rank",
    "host",
    "verdict",
    "score",
    "reasons",
    "sessions",
    "fanout",
    "fanout_prefixes",
    "failed_share",
    "rejected_share",
    "messages",
    "rcpt_accepted",
    "rcpt_rejected",
    "dynamic",
    "first_seen",
    "last_seen",
    // Added by op25b-rank:
    "internal",
    "configured_relay",
    "relay_inferred",
    "direct25_sessions",
    "outbound_sessions",
    "outbound_mail_sessions",
    "outbound_messages",
    "blockable_sessions",
    "submitted_sessions",
    "submitted_messages",
    "answered_sessions",
    "mail_sessions",
    "syn_only_sessions",
    "tls_sessions",
    "auth_sessions",
    "helo_sessions",
    "helo_distinct",
    "helo_top",
    "mean_per_minute",
    "peak_minute_sessions",
    "peak_hour_sessions",
    "peak_hour_failed",
    "active_minutes",
    "burstiness",
    "submitters",
    "outbound_answered_sessions",
    "outbound_transactions",
    "outbound_hidden_mail_sessions",
    "blockable_hidden_mail_sessions",
    "submitted_mail_sessions",
    "submitted_hidden_mail_sessions",
    "direct25_fanout",
];

/// Formats µs since the epoch as RFC 3339 UTC with microseconds,
/// e.g. `2005-03-01T00:00:01.000000Z`.
pub fn rfc3339_us(us: i64) -> String {
    op25b_core::time::format_rfc3339_us(us)
}

/// Text the sender chose (a HELO name), made safe to open in a spreadsheet:
/// one starting with `=`, `+`, `-`, `@` or a tab would be run as a formula
/// there (CSV injection). No host name or address literal starts so, so
/// only a bot's HELO gets the leading `'` that makes it text.
fn spreadsheet_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `hosts.csv`: a header, then one row per host in the given order.
pub fn write_hosts_csv<W: Write>(w: W, hosts: &[HostRank]) -> io::Result<()> {
    let mut w = io::BufWriter::new(w);
    writeln!(w, "{}", CSV_COLUMNS.join(","))?;
    for h in hosts {
        let f = &h.features;
        let row = [
            h.rank.to_string(),
            f.host.to_string(),
            h.verdict.as_str().to_string(),
            format!("{:.2}", h.score),
            csv_field(&h.reasons.join(";")),
            f.sessions.to_string(),
            f.fanout.to_string(),
            f.fanout_prefixes.to_string(),
            format!("{:.4}", f.failed_share),
            format!("{:.4}", f.rejected_share),
            f.messages.to_string(),
            f.rcpt_accepted.to_string(),
            f.rcpt_rejected.to_string(),
            f.dynamic.to_string(),
            rfc3339_us(f.first_seen),
            rfc3339_us(f.last_seen),
            f.internal.to_string(),
            f.configured_relay.to_string(),
            f.relay_inferred.to_string(),
            f.direct25_sessions.to_string(),
            f.outbound_sessions.to_string(),
            f.outbound_mail_sessions.to_string(),
            f.outbound_messages.to_string(),
            f.blockable_sessions.to_string(),
            f.submitted_sessions.to_string(),
            f.submitted_messages.to_string(),
            f.answered_sessions.to_string(),
            f.mail_sessions.to_string(),
            f.syn_only_sessions.to_string(),
            f.tls_sessions.to_string(),
            f.auth_sessions.to_string(),
            f.helo_sessions.to_string(),
            f.helo_distinct.to_string(),
            csv_field(&spreadsheet_text(&f.helo_top)),
            format!("{:.3}", f.mean_per_minute),
            f.peak_minute_sessions.to_string(),
            f.peak_hour_sessions.to_string(),
            f.peak_hour_failed.to_string(),
            f.active_minutes.to_string(),
            format!("{:.2}", f.burstiness),
            f.submitters.to_string(),
            f.outbound_answered_sessions.to_string(),
            f.outbound_transactions.to_string(),
            f.outbound_hidden_mail_sessions.to_string(),
            f.blockable_hidden_mail_sessions.to_string(),
            f.submitted_mail_sessions.to_string(),
            f.submitted_hidden_mail_sessions.to_string(),
            f.direct25_fanout.to_string(),
        ];
        debug_assert_eq!(row.len(), CSV_COLUMNS.len());
        writeln!(w, "{}", row.join(","))?;
    }
    w.flush()
}

/// Writes one JSON object per host and line (the `HostRank` with its features,
/// plus `first_seen_utc` / `last_seen_utc` in RFC 3339).
pub fn write_json_lines<W: Write>(w: W, hosts: &[HostRank]) -> io::Result<()> {
    let mut w = io::BufWriter::new(w);
    for h in hosts {
        let mut value = serde_json::to_value(h).map_err(io::Error::other)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "first_seen_utc".into(),
                rfc3339_us(h.features.first_seen).into(),
            );
            obj.insert(
                "last_seen_utc".into(),
                rfc3339_us(h.features.last_seen).into(),
            );
        }
        serde_json::to_writer(&mut w, &value).map_err(io::Error::other)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// A plain-text table of the first `top` hosts, for a terminal.
pub fn format_table(hosts: &[HostRank], top: usize) -> String {
    const REASONS_WIDTH: usize = 64;
    let rows: Vec<[String; 9]> = hosts
        .iter()
        .take(top)
        .map(|h| {
            let f = &h.features;
            let mut reasons = h.reasons.join(" ");
            if reasons.chars().count() > REASONS_WIDTH {
                reasons = reasons.chars().take(REASONS_WIDTH - 1).collect::<String>() + "…";
            }
            [
                h.rank.to_string(),
                f.host.to_string(),
                h.verdict.as_str().to_string(),
                format!("{:.2}", h.score),
                f.sessions.to_string(),
                f.fanout.to_string(),
                format!("{:.2}", f.failed_share),
                format!("{:.2}", f.rejected_share),
                reasons,
            ]
        })
        .collect();
    let header = [
        "rank", "host", "verdict", "score", "sessions", "fanout", "failed", "rejected", "reasons",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Numbers right-aligned, words left-aligned; the last column unpadded.
    let right = [true, false, false, true, true, true, true, true, false];
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(cell.chars().count());
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else if right.get(i).copied().unwrap_or(false) {
                let _ = write!(s, "{}{}  ", " ".repeat(pad), cell);
            } else {
                let _ = write!(s, "{}{}  ", cell, " ".repeat(pad));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}
