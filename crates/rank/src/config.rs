//! `[rank]` of isp.toml: the thresholds and weights of the score.
//!
//! Every key is optional; a missing key keeps the default documented on its
//! field (and in the crate README). Unknown keys are rejected so that a typo
//! never silently leaves a default in force.

use op25b_core::IspConfig;
use serde::{Deserialize, Serialize};

/// Thresholds and weights of the zombie score. See the crate README for the
/// table of signals; each `w_*` is the most points a signal can add.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RankConfig {
    /// Score from which a host is a zombie (given `zombie_min_attempts`).
    pub zombie_score: f64,
    /// Score from which a host is a suspect.
    pub suspect_score: f64,
    /// Mail attempts (direct port-25 sessions to servers other than the ISP's
    /// mail servers, plus sessions to the ISP's mail servers: see
    /// [`crate::score::mail_attempts`]) a host needs before it can be called a
    /// zombie; below, at most suspect.
    pub zombie_min_attempts: u64,
    /// Sessions from which share-based signals (failed, rejected) count in full;
    /// below they count in proportion, so one unlucky session is not evidence.
    pub evidence_sessions: u64,

    /// Fan-out (distinct port-25 servers) at which the fan-out signal starts
    /// and where it reaches `w_fanout` (log scale between).
    pub fanout_low: f64,
    pub fanout_high: f64,
    pub w_fanout: f64,

    /// Failed share (no_answer + reset) / sessions: start and full points.
    pub failed_low: f64,
    pub failed_high: f64,
    pub w_failed: f64,

    /// Rejected share (rejected / answered sessions): start and full points.
    pub rejected_low: f64,
    pub rejected_high: f64,
    pub w_rejected: f64,

    /// RCPT refused / RCPT answered: start and full points.
    pub rcpt_rejected_low: f64,
    pub rcpt_rejected_high: f64,
    pub w_rcpt_rejected: f64,

    /// A host in a dynamic pool that sends port 25 straight to outside servers.
    pub w_dynamic_direct: f64,

    /// Peak direct port-25 sessions in one minute: start and full points (log scale).
    pub rate_low: f64,
    pub rate_high: f64,
    pub w_rate: f64,

    /// Burstiness = peak hour / mean per active hour, counted from
    /// `burst_min_peak_hour` sessions in the peak hour.
    pub burst_ratio: f64,
    pub burst_min_peak_hour: u64,
    pub w_burst: f64,

    /// Share of HELO-bearing sessions that must show a HELO property for it to count.
    pub helo_share: f64,
    /// HELO-bearing sessions from which the HELO signals count in full (all
    /// but `w_helo_bogus_literal`, which counts from the first session: no
    /// honest client announces itself as `[0.0.0.0]`).
    pub helo_evidence_sessions: u64,
    pub w_helo_bogus_literal: f64,
    pub w_helo_ip_literal: f64,
    pub w_helo_random: f64,
    pub w_helo_not_fqdn: f64,
    pub w_helo_claims_provider: f64,
    /// Distinct HELO names from which "many names" counts.
    pub helo_many: u64,
    pub w_helo_many: f64,
    /// Fewer names than `helo_many`, but a new one in at least this share of
    /// the HELO-bearing sessions (and at least two): one configured client
    /// announces one name.
    pub helo_vary_share: f64,
    pub w_helo_varies: f64,

    /// Two mail paths from one dynamic address: sessions to the ISP's own
    /// mail servers (a mail client configured for them) and direct port 25
    /// to at least `mixed_paths_fanout` outside servers (something else
    /// sending). One outside server or two is a customer's second provider.
    pub mixed_paths_fanout: u64,
    pub w_mixed_paths: f64,
    /// Domains a subscriber's machine has no business announcing in HELO.
    pub big_provider_domains: Vec<String>,

    /// Credit (negative points) for a well-behaved MTA: acceptance at least
    /// `legit_acceptance`, failed share below `legit_max_failed`, one stable
    /// proper HELO (or none seen, on flows, from a static address), not
    /// random.
    pub legit_acceptance: f64,
    pub legit_max_failed: f64,
    pub w_legit_mta: f64,
    /// On a dynamic address the credit needs HELO names seen: flows show
    /// that bodies went out and few attempts failed, which a low-rate bot
    /// mailing live servers shows as well; only the HELO of a configured
    /// MTA sets a customer's own server apart from it.
    pub legit_mta_dynamic_needs_helo: bool,

    /// Relay inference: an internal host that receives mail from at least
    /// `relay_min_submitters` distinct internal hosts and itself sends port 25
    /// to at least `relay_min_fanout` servers.
    pub relay_min_submitters: u64,
    pub relay_min_fanout: u64,

    /// On flow records, client payload bytes beyond the server's (scaled by
    /// sampling) above which a session with data both ways "carried mail"
    /// (a message body was transmitted; see `FLOW_MAIL_BYTES`).
    pub flow_mail_bytes: u64,

    /// A host seen only in flows cannot show HELO or SMTP-reply evidence
    /// (up to 9 of the positive points); its score is multiplied by this so
    /// that the same thresholds apply. 1.2 brings the flow-only scores of the
    /// simulated ISP's bots to their capture scores without lifting any
    /// legitimate host above 3 (crates/rank/README.md).
    pub flow_score_factor: f64,

    /// Set from `IspConfig::is_default`; not a `[rank]` key.
    #[serde(skip)]
    pub network_is_default: bool,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            zombie_score: 6.0,
            suspect_score: 3.0,
            zombie_min_attempts: 10,
            evidence_sessions: 10,
            fanout_low: 3.0,
            fanout_high: 50.0,
            w_fanout: 3.0,
            failed_low: 0.2,
            failed_high: 0.6,
            w_failed: 2.5,
            rejected_low: 0.2,
            rejected_high: 0.6,
            w_rejected: 2.0,
            rcpt_rejected_low: 0.2,
            rcpt_rejected_high: 0.6,
            w_rcpt_rejected: 1.5,
            w_dynamic_direct: 1.5,
            rate_low: 3.0,
            rate_high: 30.0,
            w_rate: 1.5,
            burst_ratio: 4.0,
            burst_min_peak_hour: 20,
            w_burst: 1.0,
            helo_share: 0.3,
            helo_evidence_sessions: 3,
            w_helo_bogus_literal: 2.0,
            w_helo_ip_literal: 1.0,
            w_helo_random: 1.5,
            w_helo_not_fqdn: 1.0,
            w_helo_claims_provider: 2.0,
            helo_many: 4,
            w_helo_many: 1.5,
            helo_vary_share: 0.5,
            w_helo_varies: 1.0,
            mixed_paths_fanout: 3,
            w_mixed_paths: 1.5,
            big_provider_domains: DEFAULT_BIG_PROVIDERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            legit_acceptance: 0.8,
            legit_max_failed: 0.1,
            w_legit_mta: 4.0,
            legit_mta_dynamic_needs_helo: true,
            relay_min_submitters: 5,
            relay_min_fanout: 5,
            flow_mail_bytes: crate::FLOW_MAIL_BYTES,
            flow_score_factor: 1.2,
            network_is_default: false,
        }
    }
}

/// Large mailbox providers: their names in a subscriber's HELO are a lie.
pub const DEFAULT_BIG_PROVIDERS: &[&str] = &[
    "gmail.com",
    "google.com",
    "yahoo.com",
    "yahoo.co.jp",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "microsoft.com",
    "aol.com",
    "icloud.com",
    "apple.com",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
];

impl RankConfig {
    /// Reads `[rank]` of an isp.toml (already parsed by op25b-core); defaults
    /// where it is absent. Errors name the offending key.
    pub fn from_isp(cfg: &IspConfig) -> Result<RankConfig, String> {
        let mut rank = match cfg.extra.get("rank") {
            None => RankConfig::default(),
            Some(value) => {
                let table = value
                    .as_table()
                    .ok_or_else(|| "[rank] must be a table".to_string())?;
                Self::from_table(table)?
            }
        };
        rank.network_is_default = cfg.is_default;
        Ok(rank)
    }

    /// Parses the keys of a `[rank]` table.
    pub fn from_table(table: &toml::Table) -> Result<RankConfig, String> {
        let rank: RankConfig = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| format!("[rank]: {}", e.message().trim()))?;
        rank.validate()?;
        Ok(rank)
    }

    /// Checks that thresholds are ordered and weights are finite.
    pub fn validate(&self) -> Result<(), String> {
        let ranges = [
            ("fanout", self.fanout_low, self.fanout_high),
            ("failed", self.failed_low, self.failed_high),
            ("rejected", self.rejected_low, self.rejected_high),
            (
                "rcpt_rejected",
                self.rcpt_rejected_low,
                self.rcpt_rejected_high,
            ),
            ("rate", self.rate_low, self.rate_high),
        ];
        for (name, low, high) in ranges {
            if !(low.is_finite() && high.is_finite() && low < high && low >= 0.0) {
                return Err(format!(
                    "[rank]: {name}_low ({low}) must be >= 0 and below {name}_high ({high})"
                ));
            }
        }
        if !(self.flow_score_factor.is_finite() && self.flow_score_factor > 0.0) {
            return Err(format!(
                "[rank]: flow_score_factor ({}) must be a number above 0",
                self.flow_score_factor
            ));
        }
        if self.fanout_low <= 0.0 || self.rate_low <= 0.0 {
            return Err("[rank]: fanout_low and rate_low must be above 0 (log scale)".into());
        }
        if !(self.suspect_score.is_finite()
            && self.zombie_score.is_finite()
            && self.suspect_score <= self.zombie_score)
        {
            return Err(format!(
                "[rank]: suspect_score ({}) must not exceed zombie_score ({})",
                self.suspect_score, self.zombie_score
            ));
        }
        let weights = [
            self.w_fanout,
            self.w_failed,
            self.w_rejected,
            self.w_rcpt_rejected,
            self.w_dynamic_direct,
            self.w_rate,
            self.w_burst,
            self.w_helo_ip_literal,
            self.w_helo_bogus_literal,
            self.w_helo_random,
            self.w_helo_not_fqdn,
            self.w_helo_claims_provider,
            self.w_helo_many,
            self.w_helo_varies,
            self.w_mixed_paths,
            self.helo_vary_share,
            self.w_legit_mta,
            self.helo_share,
            self.legit_acceptance,
            self.legit_max_failed,
            self.burst_ratio,
        ];
        if weights.iter().any(|w| !w.is_finite()) {
            return Err("[rank]: weights must be finite numbers".into());
        }
        Ok(())
    }
}
