//! The outbound SMTP timeline: sessions per verdict and time bin, the ones a
//! server answered apart from the ones that got no answer or a reset. One
//! table feeds both timeline.csv and timeline.png, so the chart draws
//! exactly the file's numbers.

use crate::charts::VERDICTS;
use op25b_rank::{Ranking, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const MINUTE_US: i64 = 60_000_000;

/// At most this many bins per timeline: beyond it minutes are grouped, so
/// a week of input still draws (and writes) a few hundred rows.
pub const MAX_BINS: i64 = 480;

/// Outbound sessions of one time bin, per verdict in the order of the
/// charts' `VERDICTS` (zombie, suspect, clean, relay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelineBin {
    /// Start of the bin, µs since the epoch, on a whole minute.
    pub start: i64,
    /// Width of the bin in minutes (the same for every bin of a timeline).
    pub minutes: i64,
    /// Sessions an outside server answered.
    pub answered: [u64; 4],
    /// Sessions that got no answer or a reset (the numerator of
    /// `failed_share`): all that a block leaves of an attempt, and what a
    /// dead or refusing server leaves too.
    pub failed: [u64; 4],
}

/// A verdict's place in `VERDICTS`: exhaustive, so a new verdict cannot be
/// left out of the timeline unnoticed.
fn layer(v: Verdict) -> usize {
    match v {
        Verdict::Zombie => 0,
        Verdict::Suspect => 1,
        Verdict::Clean => 2,
        Verdict::Relay => 3,
    }
}

/// Every host's outbound sessions by minute, grouped into at most
/// [`MAX_BINS`] bins of equal width from the first minute with a session to
/// the last, empty bins included. Empty where there was no outbound session.
pub fn timeline_bins(r: &Ranking) -> Vec<TimelineBin> {
    // minute -> (all sessions, failed sessions) per verdict
    let mut minutes: BTreeMap<i64, [[u64; 4]; 2]> = BTreeMap::new();
    for h in &r.hosts {
        let l = layer(h.verdict);
        let f = &h.features;
        for (kind, list) in [&f.outbound_minutes, &f.outbound_failed_minutes]
            .into_iter()
            .enumerate()
        {
            for &(minute, n) in list {
                minutes.entry(minute).or_default()[kind][l] += u64::from(n);
            }
        }
    }
    let (Some((&first, _)), Some((&last, _))) =
        (minutes.first_key_value(), minutes.last_key_value())
    else {
        return Vec::new();
    };
    let span = last.saturating_sub(first) / MINUTE_US + 1;
    let width = ((span + MAX_BINS - 1) / MAX_BINS).max(1);
    let count = (span + width - 1) / width;
    let mut bins: Vec<TimelineBin> = (0..count)
        .map(|b| TimelineBin {
            start: first.saturating_add(b * width * MINUTE_US),
            minutes: width,
            ..TimelineBin::default()
        })
        .collect();
    for (minute, [all, failed]) in minutes {
        let b = (minute.saturating_sub(first) / MINUTE_US / width) as usize;
        if let Some(bin) = bins.get_mut(b) {
            for l in 0..4 {
                bin.failed[l] += failed[l];
                bin.answered[l] += all[l].saturating_sub(failed[l]);
            }
        }
    }
    bins
}

/// Columns of timeline.csv.
pub fn timeline_csv_columns() -> Vec<String> {
    let mut columns = vec!["start".to_string(), "minutes".to_string()];
    for kind in ["answered", "failed"] {
        columns.extend(VERDICTS.iter().map(|(v, _)| format!("{v}_{kind}")));
    }
    columns
}

/// timeline.csv: one row per bin of timeline.png, its start (RFC 3339, UTC)
/// and width, then sessions per verdict, answered and failed.
pub fn timeline_csv(bins: &[TimelineBin]) -> String {
    let mut out = timeline_csv_columns().join(",");
    out.push('\n');
    for b in bins {
        out.push_str(&op25b_core::time::format_rfc3339_us(b.start));
        let _ = write!(out, ",{}", b.minutes);
        for n in b.answered.iter().chain(&b.failed) {
            let _ = write!(out, ",{n}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_charts_verdict_order() {
        for v in [
            Verdict::Zombie,
            Verdict::Suspect,
            Verdict::Clean,
            Verdict::Relay,
        ] {
            assert_eq!(VERDICTS[layer(v)].0, v.as_str());
        }
    }
}
