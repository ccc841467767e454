//! The decoder's, pairer's and nfdump reader's counts as the lines `ingest`
//! and `collect` print: named counts, zeros left out, "none" where a whole
//! group is zero, so that a non-zero count of anything not used always shows
//! and nothing else crowds it.

use crate::{FlowStats, NfdumpStats, PairerStats};
use op25b_core::Outcome;
use std::fmt;

/// ` name=value` for each non-zero value, or ` none`.
fn counts(f: &mut fmt::Formatter<'_>, counts: &[(&str, u64)]) -> fmt::Result {
    let mut any = false;
    for (name, n) in counts.iter().filter(|(_, n)| *n > 0) {
        write!(f, " {name}={n}")?;
        any = true;
    }
    if !any {
        write!(f, " none")?;
    }
    Ok(())
}

/// One indented line: `  {label}:` and its [`counts`].
fn line(f: &mut fmt::Formatter<'_>, label: &str, values: &[(&str, u64)]) -> fmt::Result {
    write!(f, "  {label}:")?;
    counts(f, values)?;
    writeln!(f)
}

impl fmt::Display for FlowStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(
            f,
            "export datagrams",
            &[
                ("v5", self.datagrams_v5),
                ("v9", self.datagrams_v9),
                ("ipfix", self.datagrams_ipfix),
                ("unknown_version", self.unknown_version),
            ],
        )?;
        line(
            f,
            "flow records",
            &[
                ("v5", self.records_v5),
                ("v9", self.records_v9),
                ("ipfix", self.records_ipfix),
                ("time_from_export_header", self.time_from_header),
            ],
        )?;
        line(
            f,
            "records not flows",
            &[
                ("options", self.options_records),
                ("without_addresses", self.records_without_addresses),
            ],
        )?;
        line(
            f,
            "templates",
            &[
                ("learnt", self.templates),
                ("options_learnt", self.options_templates),
                ("refreshed", self.templates_refreshed),
                ("replaced", self.templates_replaced),
                ("withdrawn", self.template_withdrawals),
                ("refused_cache_full", self.templates_refused),
            ],
        )?;
        line(
            f,
            "data sets before their template",
            &[
                ("held", self.sets_buffered),
                ("decoded_late", self.sets_decoded_late),
                ("undecodable_expired", self.sets_expired),
                ("undecodable_queue_full", self.sets_overflowed),
                ("undecodable_at_end", self.sets_unresolved_at_finish),
            ],
        )?;
        line(
            f,
            "sequence numbers skipped (lost before reading)",
            &[
                ("gaps", self.sequence_gaps),
                ("v5_flows", self.lost_v5_flows),
                ("v9_datagrams", self.lost_v9_datagrams),
                ("ipfix_records", self.lost_ipfix_records),
                ("restarts", self.sequence_restarts),
            ],
        )?;
        let m = &self.malformed;
        line(
            f,
            "malformed",
            &[
                ("truncated_header", m.truncated_header),
                ("bad_datagram_length", m.bad_datagram_length),
                ("bad_set_length", m.bad_set_length),
                ("bad_template", m.bad_template),
                ("record_overrun", m.record_overrun),
                ("reserved_set_id", m.reserved_set_id),
            ],
        )
    }
}

impl fmt::Display for PairerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(
            f,
            "pairing",
            &[
                ("flows", self.flows),
                ("not_tcp", self.non_tcp),
                ("tcp_without_smtp_port", self.not_smtp),
                ("biflows", self.biflows),
                ("joined_open_session", self.joined),
                ("metered_twice", self.metered_twice),
                ("sessions_metered_twice", self.sessions_metered_twice),
                ("split_by_gap", self.split_by_gap),
                ("split_by_port_reuse", self.port_reused),
                ("late", self.late_flows),
                ("checked_without_exporter_clock", self.flows_without_clock),
            ],
        )?;
        line(
            f,
            "flow times",
            &[
                ("dropped_out_of_range", self.out_of_range_times),
                ("dropped_time_jump", self.time_jumps),
                ("end_before_start_mended", self.end_before_start),
            ],
        )?;
        let by_outcome: Vec<(&str, u64)> = Outcome::ALL
            .iter()
            .zip(self.outcomes)
            .map(|(o, n)| (o.as_str(), n))
            .collect();
        write!(f, "  sessions: {} total;", self.sessions)?;
        counts(f, &by_outcome)?;
        write!(f, "; ended before the input did:")?;
        counts(
            f,
            &[
                ("pairing_window_passed", self.flushed_by_time),
                ("table_full", self.evicted),
            ],
        )?;
        writeln!(f)
    }
}

impl fmt::Display for NfdumpStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(
            f,
            "nfdump csv",
            &[
                ("lines", self.lines),
                ("flow_records", self.records),
                ("header_or_summary_lines", self.skipped_lines),
                ("bad_lines_skipped", self.bad_lines),
                ("end_before_start_mended", self.end_before_start),
                ("files_merged_by_time", self.files_merged),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MalformedStats;

    /// Every field gets its own value (primes from 1009 up): each must show
    /// in the text as `=value`.
    fn distinct_values() -> impl Iterator<Item = u64> {
        (1009u64..).filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
    }

    fn shows_all(text: &str, values: &[u64]) {
        for v in values {
            let pair = format!("={v}");
            let shown = text
                .match_indices(&pair)
                .any(|(at, _)| !text[at + pair.len()..].starts_with(|c: char| c.is_ascii_digit()));
            assert!(shown, "count {v} not shown in:\n{text}");
        }
    }

    #[test]
    fn decoder_counts_all_show_and_zeros_do_not() {
        let mut v = distinct_values();
        let mut n = || v.next().unwrap_or(0);
        let s = FlowStats {
            datagrams_v5: n(),
            datagrams_v9: n(),
            datagrams_ipfix: n(),
            unknown_version: n(),
            records_v5: n(),
            records_v9: n(),
            records_ipfix: n(),
            options_records: n(),
            records_without_addresses: n(),
            templates: n(),
            options_templates: n(),
            templates_refreshed: n(),
            templates_replaced: n(),
            template_withdrawals: n(),
            templates_refused: n(),
            sets_buffered: n(),
            sets_decoded_late: n(),
            sets_expired: n(),
            sets_overflowed: n(),
            sets_unresolved_at_finish: n(),
            time_from_header: n(),
            sequence_gaps: n(),
            lost_v5_flows: n(),
            lost_v9_datagrams: n(),
            lost_ipfix_records: n(),
            sequence_restarts: n(),
            malformed: MalformedStats {
                truncated_header: n(),
                bad_datagram_length: n(),
                bad_set_length: n(),
                bad_template: n(),
                record_overrun: n(),
                reserved_set_id: n(),
            },
        };
        // The literal above names every field (no `..`), so a field added
        // later fails to compile here until it is given a value and a line.
        let values: Vec<u64> = distinct_values().take(32).collect();
        shows_all(&s.to_string(), &values);

        let zero = FlowStats {
            records_v9: 7,
            ..FlowStats::default()
        }
        .to_string();
        assert!(zero.contains("  flow records: v9=7\n"), "{zero}");
        assert!(zero.contains("  malformed: none\n"), "{zero}");
        assert!(!zero.contains("=0"), "{zero}");
    }

    #[test]
    fn pairer_counts_all_show_with_outcomes_named() {
        let mut v = distinct_values();
        let mut n = || v.next().unwrap_or(0);
        let s = PairerStats {
            flows: n(),
            non_tcp: n(),
            not_smtp: n(),
            biflows: n(),
            joined: n(),
            metered_twice: n(),
            sessions_metered_twice: n(),
            split_by_gap: n(),
            port_reused: n(),
            late_flows: n(),
            out_of_range_times: n(),
            end_before_start: n(),
            time_jumps: n(),
            flows_without_clock: n(),
            sessions: n(),
            flushed_by_time: n(),
            evicted: n(),
            outcomes: [n(), n(), n(), n(), n(), n(), n(), n()],
        };
        let text = s.to_string();
        let values: Vec<u64> = distinct_values()
            .take(25)
            .filter(|v| *v != s.sessions)
            .collect();
        shows_all(&text, &values);
        // `sessions` is the total, not a name=value pair.
        assert!(text.contains(&format!("sessions: {} total;", s.sessions)));
        assert!(text.contains(&format!("no_answer={}", s.outcomes[0])));
        assert!(text.contains(&format!("unknown={}", s.outcomes[7])));

        let empty = PairerStats::default().to_string();
        assert!(
            empty.contains("  sessions: 0 total; none; ended before the input did: none\n"),
            "{empty}"
        );
    }

    #[test]
    fn nfdump_counts_show() {
        let s = NfdumpStats {
            lines: 12,
            records: 9,
            skipped_lines: 2,
            bad_lines: 1,
            end_before_start: 0,
            files_merged: 0,
        };
        assert_eq!(
            s.to_string(),
            "  nfdump csv: lines=12 flow_records=9 header_or_summary_lines=2 bad_lines_skipped=1\n"
        );
    }
}
