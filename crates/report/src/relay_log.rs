//! The ISP relays' own log as a second input to the attribution estimator.
//!
//! From traffic alone the relays' spam fraction is read off what customers
//! submitted, counted in submission sessions where only flows were seen; a
//! relay sends a session per message and destination, and bots put more
//! messages into a session than customers do, so that fraction runs low.
//! The log (op25b-maillog) names the customer behind each of the relays'
//! outbound deliveries, so the relays' output can be weighed by the
//! verdict of whoever submitted each delivery, in the report's unit: a
//! delivery whose receiver got the body (sessions unit) or took the message
//! (messages unit).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use op25b_core::time::civil_from_days;
use op25b_core::{InputError, IspConfig, Network};
use op25b_maillog::{ClassicTime, MailLogStats, Origin, RelayDelivery};
use op25b_rank::Ranking;
use serde::Serialize;

use crate::estimate::Unit;

/// The relays' outbound deliveries traced to one customer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoggedDeliveries {
    /// Deliveries whose receiver got the message body.
    pub body_sent: u64,
    /// Deliveries with at least one recipient delivered.
    pub accepted: u64,
}

impl LoggedDeliveries {
    /// The count in the report's unit.
    pub fn volume(&self, unit: Unit) -> f64 {
        match unit {
            Unit::Messages => self.accepted as f64,
            Unit::Sessions => self.body_sent as f64,
        }
    }

    fn add(&mut self, d: &RelayDelivery) {
        self.body_sent += u64::from(d.body_sent);
        self.accepted += u64::from(d.accepted);
    }
}

/// The deliveries of one input's time span.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RelayLogWindow {
    pub start_us: i64,
    pub end_us: i64,
    /// Every outbound delivery in the span.
    pub deliveries: LoggedDeliveries,
    /// By the customer who submitted it.
    #[serde(skip)]
    pub by_client: HashMap<IpAddr, LoggedDeliveries>,
    /// Made on the relay itself (bounces, local senders) or of a message
    /// whose submission is not in the log: nobody to weigh them by.
    pub local: LoggedDeliveries,
    pub unknown_origin: LoggedDeliveries,
}

impl RelayLogWindow {
    fn new(r: &Ranking) -> RelayLogWindow {
        RelayLogWindow {
            start_us: r.start_us,
            end_us: r.end_us,
            ..RelayLogWindow::default()
        }
    }

    fn contains(&self, t: i64) -> bool {
        (self.start_us..=self.end_us).contains(&t)
    }

    fn add(&mut self, d: &RelayDelivery) {
        self.deliveries.add(d);
        match d.origin {
            Origin::Client(ip) => self.by_client.entry(ip).or_default().add(d),
            Origin::Local => self.local.add(d),
            Origin::Unknown => self.unknown_origin.add(d),
        }
    }

    /// The deliveries traced to `host`, in `unit`.
    pub fn volume_of(&self, host: &IpAddr, unit: Unit) -> f64 {
        self.by_client.get(host).map_or(0.0, |d| d.volume(unit))
    }

    /// Deliveries from customers the ranking does not list (their traffic
    /// was not in the input): left out of the fraction like the local ones.
    pub fn unranked(&self, ranking: &Ranking) -> LoggedDeliveries {
        let ranked: std::collections::HashSet<IpAddr> =
            ranking.hosts.iter().map(|h| h.features.host).collect();
        let mut out = LoggedDeliveries::default();
        for (ip, d) in &self.by_client {
            if !ranked.contains(ip) {
                out.body_sent += d.body_sent;
                out.accepted += d.accepted;
            }
        }
        out
    }
}

/// The log, cut to the before and after inputs' spans.
#[derive(Clone, Debug, Serialize)]
pub struct RelayLog {
    pub before: RelayLogWindow,
    pub after: Option<RelayLogWindow>,
    /// Outbound deliveries in neither span.
    pub outside_inputs: u64,
    /// How classic (`Nov  8 10:00:18`) timestamps were dated.
    pub classic_year: i64,
    pub classic_utc_offset_s: i64,
    /// The reader's counts, with the files in the order read.
    #[serde(skip)]
    pub stats: MailLogStats,
}

impl RelayLog {
    /// Reads `paths` (oldest first by their first line) and keeps the
    /// outbound deliveries that fall in the span of `before` or `after`.
    pub fn read(
        paths: &[PathBuf],
        network: &Network,
        utc_offset_s: i64,
        before: &Ranking,
        after: Option<&Ranking>,
    ) -> Result<RelayLog, InputError> {
        // Classic timestamps carry no year: the year the before input
        // starts in, on the log's clock.
        let local_s = before.start_us.div_euclid(1_000_000) + utc_offset_s;
        let classic = ClassicTime {
            year: civil_from_days(local_s.div_euclid(86_400)).0,
            utc_offset_s,
        };
        let mut b = RelayLogWindow::new(before);
        let mut a = after.map(RelayLogWindow::new);
        let mut outside = 0u64;
        let stats = op25b_maillog::read_files(paths, network, classic, &mut |d| {
            if b.contains(d.time_us) {
                b.add(&d);
            } else if let Some(a) = a.as_mut().filter(|a| a.contains(d.time_us)) {
                a.add(&d);
            } else {
                outside += 1;
            }
        })?;
        Ok(RelayLog {
            before: b,
            after: a,
            outside_inputs: outside,
            classic_year: classic.year,
            classic_utc_offset_s: utc_offset_s,
            stats,
        })
    }
}

/// `[relay_log] utc_offset = "+09:00"` of isp.toml: the clock of a log with
/// classic timestamps, in seconds east of UTC (0 without the key).
pub fn utc_offset_from_isp(cfg: &IspConfig) -> Result<i64, String> {
    let Some(section) = cfg.extra.get("relay_log") else {
        return Ok(0);
    };
    let table = section
        .as_table()
        .ok_or_else(|| "[relay_log] must be a table".to_string())?;
    for key in table.keys() {
        if key != "utc_offset" {
            return Err(format!(
                "[relay_log]: unknown key {key:?} (known: utc_offset)"
            ));
        }
    }
    match table.get("utc_offset") {
        None => Ok(0),
        Some(v) => {
            let s = v.as_str().ok_or_else(|| {
                "[relay_log] utc_offset must be a string like \"+09:00\"".to_string()
            })?;
            parse_utc_offset(s).ok_or_else(|| {
                format!("[relay_log] utc_offset {s:?}: expected +HH:MM or -HH:MM (or Z)")
            })
        }
    }
}

fn parse_utc_offset(s: &str) -> Option<i64> {
    if s == "Z" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = s.get(1..)?.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("+09:00"), Some(32_400));
        assert_eq!(parse_utc_offset("-05:30"), Some(-19_800));
        assert_eq!(parse_utc_offset("Z"), Some(0));
        for bad in ["09:00", "+9:00", "+15:00", "+09:60", "", "+", "+\u{e9}9:00"] {
            assert_eq!(parse_utc_offset(bad), None, "{bad:?}");
        }
    }
}
