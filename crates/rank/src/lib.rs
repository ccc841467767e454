//! op25b-rank: per-host aggregation of SMTP session records and a transparent
//! zombie score.
//!
//! Records stream into a [`HostAggregator`] (in parallel with
//! [`HostAggregator::push_batch`]); [`HostAggregator::finish`] turns the
//! per-host state into [`HostFeatures`], scores them with the weights of a
//! [`RankConfig`] and returns a [`Ranking`], best suspect first. Every point
//! of a score comes from a named signal, and the signals that gave points are
//! listed in [`HostRank::reasons`], so that an abuse desk can check a verdict
//! against the numbers in the same row. The signals, weights and thresholds
//! are tabled in the crate README and in [`score`].

mod aggregate;
mod config;
pub mod helo;
mod output;
pub mod score;

pub use aggregate::HostAggregator;
pub use config::{DEFAULT_BIG_PROVIDERS, RankConfig};
pub use output::{CSV_COLUMNS, format_table, rfc3339_us, write_hosts_csv, write_json_lines};

use op25b_core::{Outcome, SessionRecord};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};

/// The result of ranking one input.
#[derive(Clone, Debug, Serialize)]
pub struct Ranking {
    /// Best suspect first; `rank` = 1.. in this order.
    pub hosts: Vec<HostRank>,
    /// Span of the input (first start, last end), µs; 0 when empty.
    pub start_us: i64,
    pub end_us: i64,
    /// The network came from defaults (no isp.toml).
    pub defaults_used: bool,
    /// No client of the input was internal, so every client host was ranked
    /// (a capture taken outside the configured network).
    pub all_clients_ranked: bool,
    /// Records aggregated.
    pub records: u64,
    /// Records from packet-sampled flows (`sampling` > 1), and the largest
    /// interval among them (1 when none was sampled). Sampling drops short
    /// sessions far more often than long ones, so what the report estimates
    /// from such records is not the unsampled traffic's share.
    pub sampled_records: u64,
    pub max_sampling: u32,
}

impl Ranking {
    /// The rows of CONTRACT.md's host table: hosts with outbound SMTP (or,
    /// when `all_clients_ranked`, every host), ranks renumbered 1.. in order.
    /// `hosts` itself keeps every internal client, for reports that need the
    /// submissions of hosts without outbound traffic.
    pub fn contract_hosts(&self) -> Vec<HostRank> {
        let mut rows: Vec<HostRank> = self
            .hosts
            .iter()
            .filter(|h| self.all_clients_ranked || h.features.outbound_sessions > 0)
            .cloned()
            .collect();
        for (i, h) in rows.iter_mut().enumerate() {
            h.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        rows
    }

    /// Hosts with a given verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.hosts.iter().filter(|h| h.verdict == verdict).count()
    }
}

/// A verdict on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Zombie,
    Suspect,
    Clean,
    Relay,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Zombie => "zombie",
            Verdict::Suspect => "suspect",
            Verdict::Clean => "clean",
            Verdict::Relay => "relay",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ranked host.
#[derive(Clone, Debug, Serialize)]
pub struct HostRank {
    pub rank: u32,
    pub verdict: Verdict,
    pub score: f64,
    /// The signals that gave points, as short words with values, strongest first
    /// (e.g. "fanout=212", "failed=0.71", "helo_ip_literal", "dynamic_direct").
    pub reasons: Vec<String>,
    pub features: HostFeatures,
}

/// Every count a report needs, per client host (all sessions where the host is
/// the client), plus the measures the score uses.
#[derive(Clone, Debug, Serialize)]
pub struct HostFeatures {
    pub host: IpAddr,
    /// All SMTP sessions as client.
    pub sessions: u64,
    /// Distinct servers on port 25.
    pub fanout: u64,
    /// Distinct /24 (IPv4) or /64 (IPv6) among them.
    pub fanout_prefixes: u64,
    /// (no_answer + reset) / sessions.
    pub failed_share: f64,
    /// rejected / answered sessions (sessions that were neither no_answer nor reset).
    pub rejected_share: f64,
    pub messages: u64,
    pub rcpt_accepted: u64,
    pub rcpt_rejected: u64,
    pub dynamic: bool,
    pub internal: bool,
    /// The host is one of `mail_servers`.
    pub configured_relay: bool,
    /// First session start, last session end, µs.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Client internal, server external.
    pub outbound_sessions: u64,
    /// Outbound sessions that carried mail ([`carried_mail`]).
    pub outbound_mail_sessions: u64,
    /// Messages accepted by external servers.
    pub outbound_messages: u64,
    /// Outbound sessions the server answered (not no_answer, not reset): the
    /// delivery attempts that could carry mail, in the sessions unit.
    pub outbound_answered_sessions: u64,
    /// Mail transactions (MAIL FROM) seen in outbound sessions: the delivery
    /// attempts behind `outbound_messages`, where the dialogue was visible.
    pub outbound_transactions: u64,
    /// Outbound sessions that carried mail in which no message was seen (the
    /// dialogue hidden by TLS or port 465, or cut): how many messages they
    /// held is not known.
    pub outbound_hidden_mail_sessions: u64,
    /// The same among the blockable sessions.
    pub blockable_hidden_mail_sessions: u64,
    /// The same among the sessions to the ISP's mail servers (STARTTLS on
    /// 587 hides what was submitted).
    pub submitted_hidden_mail_sessions: u64,
    /// Sessions `Network::op25b_blocks(client, server, port)` would stop.
    pub blockable_sessions: u64,
    pub blockable_mail_sessions: u64,
    pub blockable_messages: u64,
    /// Sessions to the ISP's `mail_servers` (any port) and messages they accepted.
    pub submitted_sessions: u64,
    pub submitted_messages: u64,
    /// Sessions to the ISP's `mail_servers` that carried mail ([`carried_mail`]).
    pub submitted_mail_sessions: u64,
    /// At least one session came with payload (source pcap).
    pub has_dialogue: bool,
    /// (minute start µs, outbound sessions), sorted, for timelines.
    pub outbound_minutes: Vec<(i64, u32)>,
    /// (minute start µs, outbound sessions that got no answer or a reset),
    /// sorted, minutes without any left out: the part of `outbound_minutes`
    /// that a block refused or nobody answered.
    pub outbound_failed_minutes: Vec<(i64, u32)>,

    // ---- added: what the score reads ----
    /// Port-25 sessions to servers other than the ISP's mail servers.
    pub direct25_sessions: u64,
    /// Distinct servers of those sessions (`fanout` without the ISP's mail
    /// servers).
    pub direct25_fanout: u64,
    /// Outcome counts over those direct port-25 sessions alone.
    pub direct25: Direct25Counts,
    pub failed_sessions: u64,
    pub rejected_sessions: u64,
    /// Sessions that got an answer (not no_answer, not reset).
    pub answered_sessions: u64,
    /// Sessions that carried mail ([`carried_mail`]).
    pub mail_sessions: u64,
    /// Flow records whose client sent SYN without ever ACKing (or got no packet back).
    pub syn_only_sessions: u64,
    pub tls_sessions: u64,
    pub auth_sessions: u64,
    /// Sessions to ports 587/465.
    pub submission_port_sessions: u64,
    /// HELO statistics over the sessions that carried a HELO.
    pub helo_sessions: u64,
    /// Distinct names: exact up to 1088, and past that a lower bound
    /// (`helo_distinct_at_least`), since a bot with a fresh name for every
    /// session must not grow the ranking's memory with every name.
    pub helo_distinct: u64,
    pub helo_distinct_at_least: bool,
    /// The most frequent HELO name (empty if none seen); for a host with
    /// more than 64 names, the most frequent of the 64 alphabetically first.
    pub helo_top: String,
    pub helo_ip_literal: u64,
    /// Of those, literals no honest client sends (`[0.0.0.0]`, loopback, a
    /// public address not its own): see [`helo::HeloClass::bogus_literal`].
    pub helo_bogus_literal: u64,
    pub helo_random: u64,
    pub helo_not_fqdn: u64,
    pub helo_claims_provider: u64,
    /// The alphabetically first big-provider domain claimed, if any.
    pub helo_claimed: String,
    /// Direct port-25 sessions: mean per minute over the active span, peak minute,
    /// peak hour, and failed in the peak-failed hour.
    pub mean_per_minute: f64,
    pub peak_minute_sessions: u64,
    pub peak_hour_sessions: u64,
    pub peak_hour_failed: u64,
    pub active_minutes: u64,
    pub active_hours: u64,
    /// Peak hour / mean per active hour (1 = even; large = bursts).
    pub burstiness: f64,
    /// Distinct internal hosts that sent SMTP to this host (capped at 64).
    pub submitters: u64,
    /// Relay inferred from traffic (see [`score`]).
    pub relay_inferred: bool,
}

impl Default for HostFeatures {
    fn default() -> Self {
        HostFeatures {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            sessions: 0,
            fanout: 0,
            fanout_prefixes: 0,
            failed_share: 0.0,
            rejected_share: 0.0,
            messages: 0,
            rcpt_accepted: 0,
            rcpt_rejected: 0,
            dynamic: false,
            internal: false,
            configured_relay: false,
            first_seen: 0,
            last_seen: 0,
            outbound_sessions: 0,
            outbound_mail_sessions: 0,
            outbound_messages: 0,
            outbound_answered_sessions: 0,
            outbound_transactions: 0,
            outbound_hidden_mail_sessions: 0,
            blockable_hidden_mail_sessions: 0,
            submitted_hidden_mail_sessions: 0,
            blockable_sessions: 0,
            blockable_mail_sessions: 0,
            blockable_messages: 0,
            submitted_sessions: 0,
            submitted_messages: 0,
            submitted_mail_sessions: 0,
            has_dialogue: false,
            outbound_minutes: Vec::new(),
            outbound_failed_minutes: Vec::new(),
            direct25_sessions: 0,
            direct25_fanout: 0,
            direct25: Direct25Counts::default(),
            failed_sessions: 0,
            rejected_sessions: 0,
            answered_sessions: 0,
            mail_sessions: 0,
            syn_only_sessions: 0,
            tls_sessions: 0,
            auth_sessions: 0,
            submission_port_sessions: 0,
            helo_sessions: 0,
            helo_distinct: 0,
            helo_distinct_at_least: false,
            helo_top: String::new(),
            helo_ip_literal: 0,
            helo_bogus_literal: 0,
            helo_random: 0,
            helo_not_fqdn: 0,
            helo_claims_provider: 0,
            helo_claimed: String::new(),
            mean_per_minute: 0.0,
            peak_minute_sessions: 0,
            peak_hour_sessions: 0,
            peak_hour_failed: 0,
            active_minutes: 0,
            active_hours: 0,
            burstiness: 0.0,
            submitters: 0,
            relay_inferred: false,
        }
    }
}

/// Outcome counts over a host's direct port-25 sessions (port 25 to anything
/// but the ISP's mail servers). The share signals of the score are taken
/// over these as well as over all sessions, the higher counting: a bot that
/// also submits mail through the ISP with stolen credentials must not have
/// its failed and refused port-25 attempts diluted by successful submissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Direct25Counts {
    pub failed: u64,
    pub syn_only: u64,
    pub answered: u64,
    pub rejected: u64,
    pub mail: u64,
    pub rcpt_accepted: u64,
    pub rcpt_rejected: u64,
}

impl Direct25Counts {
    pub(crate) fn merge(&mut self, o: &Direct25Counts) {
        self.failed += o.failed;
        self.syn_only += o.syn_only;
        self.answered += o.answered;
        self.rejected += o.rejected;
        self.mail += o.mail;
        self.rcpt_accepted += o.rcpt_accepted;
        self.rcpt_rejected += o.rcpt_rejected;
    }
}

/// Payload bytes the client sent beyond what the server sent (both scaled by
/// sampling) above which a session without a readable dialogue is taken to
/// have transmitted a message body. In SMTP every command is answered by a
/// reply at least about as long (greeting, multi-line EHLO, `250 2.1.5 Ok`,
/// `550 5.1.1 <user>: Recipient address rejected`), so a dialogue without
/// DATA leaves the client behind the server, however many RCPTs it sends; the
/// only bulk the client sends is a message, whose RFC 5322 headers alone are
/// a few hundred bytes. On synth data (wakwak-2005, seeds 1-3, scale 0.2) the
/// excess was at most 8 bytes in sessions without a body and at least 195 in
/// all but 3 of ~1100 with one. A full TLS handshake (a 2-5 kB certificate
/// chain from the server) can hide a short message: the rule errs towards
/// "no mail" there.
pub const FLOW_MAIL_BYTES: u64 = 128;

/// IP + TCP header bytes per packet without options (IPv4 20 + 20, IPv6
/// 40 + 20): what flow byte counts include besides the payload.
fn header_bytes(r: &SessionRecord) -> u64 {
    if r.client.is_ipv4() { 40 } else { 60 }
}

/// Payload bytes client to server minus server to client, from the IP-layer
/// counts of a session record, scaled by its sampling interval.
pub fn payload_excess_c2s(r: &SessionRecord) -> i64 {
    let h = header_bytes(r);
    let payload = |bytes: u64, packets: u64| bytes.saturating_sub(packets.saturating_mul(h));
    let c2s = payload(r.bytes_c2s, r.packets_c2s);
    let s2c = payload(r.bytes_s2c, r.packets_s2c);
    let scale = i64::from(r.sampling.max(1));
    let diff = i64::try_from(c2s)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(s2c).unwrap_or(i64::MAX));
    diff.saturating_mul(scale)
}

/// Whether a session carried mail: messages were accepted where the dialogue
/// was seen; otherwise (flow records, or an encrypted dialogue) whether a
/// message body was transmitted: packets both ways and the client's payload
/// more than [`FLOW_MAIL_BYTES`] beyond the server's ([`payload_excess_c2s`]).
/// So on flows a body the receiver refused after DATA counts (the flow
/// cannot see the reply), and the estimand is "sessions in which a message
/// was transmitted".
pub fn carried_mail(r: &SessionRecord) -> bool {
    carried_mail_with(r, FLOW_MAIL_BYTES)
}

/// [`carried_mail`] with a configurable byte threshold (`[rank] flow_mail_bytes`).
pub fn carried_mail_with(r: &SessionRecord, flow_mail_bytes: u64) -> bool {
    let dialogue_readable = r.source.has_payload() && r.outcome != Outcome::Encrypted;
    if dialogue_readable && r.outcome != Outcome::Partial {
        return r.messages > 0;
    }
    if r.messages > 0 {
        return true;
    }
    if r.outcome.is_failed() {
        return false;
    }
    r.packets_s2c > 0
        && r.bytes_s2c > 0
        && payload_excess_c2s(r) > i64::try_from(flow_mail_bytes).unwrap_or(i64::MAX)
}
