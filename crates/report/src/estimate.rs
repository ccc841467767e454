//! The numbers of a report: outbound spam share before, after and with OP25B
//! simulated, the differential (WAKWAK) estimate, their bootstrap confidence
//! intervals and the sensitivity of the estimate to the zombie threshold.
//!
//! Every estimator works on per-host totals ([`HostCounts`]), never on
//! sessions, so that the bootstrap can resample hosts (the unit that is
//! judged zombie or not) and recompute everything cheaply. The formulas are
//! written out in the crate README and in every report.md.

use crate::relay_log::{RelayLog, RelayLogWindow};
use crate::rng::SplitMix64;
use crate::{ReportInput, VERSION};
use op25b_core::IspConfig;
use op25b_maillog::MailLogStats;
use op25b_rank::{HostRank, RankConfig, Ranking, Verdict};
use rayon::prelude::*;
use serde::Serialize;

/// How much of a suspect's mail counts as spam in the point estimate: a
/// suspect is by definition a host the ranker could not decide about, and
/// half is the estimate that is wrong by at most half either way. The band
/// with 0 and 1 is reported next to every share.
pub const SUSPECT_WEIGHT: f64 = 0.5;

/// Factors applied to the configured zombie (and suspect) score thresholds in
/// the sensitivity table.
pub const SENSITIVITY_FACTORS: &[f64] = &[0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0];

/// What the volumes count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Messages accepted by the receiving server: the SMTP dialogue was seen.
    Messages,
    /// Outbound sessions that carried mail: only flow records were available.
    Sessions,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Messages => "messages",
            Unit::Sessions => "sessions",
        }
    }
}

/// How the estimators treat a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zombie,
    Suspect,
    Clean,
    Relay,
}

impl Class {
    fn of(verdict: Verdict) -> Class {
        match verdict {
            Verdict::Zombie => Class::Zombie,
            Verdict::Suspect => Class::Suspect,
            Verdict::Clean => Class::Clean,
            Verdict::Relay => Class::Relay,
        }
    }
}

/// One host reduced to what the estimators add up.
#[derive(Clone, Copy, Debug)]
pub struct HostCounts {
    pub class: Class,
    pub score: f64,
    /// Mail attempts ([`op25b_rank::score::mail_attempts`]): rank calls
    /// nobody a zombie below `zombie_min_attempts` of them, and neither does
    /// the sensitivity table.
    pub mail_attempts: u64,
    pub outbound_sessions: u64,
    pub outbound_messages: u64,
    /// Outbound mail in the report's unit.
    pub volume: f64,
    /// The part of `volume` OP25B would stop.
    pub blockable_volume: f64,
    pub blockable_sessions: u64,
    pub blockable_messages: u64,
    /// Mail handed to the ISP's own mail servers, in the report's unit.
    pub submitted: f64,
    /// Outbound delivery attempts and how many of them the receiving servers
    /// accepted, where that could be seen: mail transactions and messages
    /// (messages unit), answered sessions and sessions that carried mail
    /// (sessions unit). What the relays' refusals say about their spam.
    pub attempts: f64,
    pub accepted: f64,
    /// The relays' outbound deliveries the relays' log traces to this host's
    /// submissions, in the report's unit; `None` without a log.
    pub relay_logged: Option<f64>,
    /// How rank judged the same address on `--after`, where it is there.
    pub after: Option<AfterVerdict>,
}

/// Rank's judgement of an address on `--after`: evidence on whether a host
/// the block cuts off on `--before` is a customer. A customer whose mail
/// client is blocked stops, or retries its one or few servers; a bot goes on
/// spreading port-25 attempts over many servers, blocked or not, and rank
/// judges that on `--after` as it does on `--before`.
#[derive(Clone, Copy, Debug)]
pub struct AfterVerdict {
    pub class: Class,
    pub score: f64,
    pub mail_attempts: u64,
    pub conduct: AfterTheBlock,
    /// Its direct port-25 attempts reached more outside servers than rank's
    /// `fanout_low`, where fan-out starts to count as evidence, and came
    /// back to them less than twice on average: sprayed like a bot's, not
    /// retried like a mail server's queue. A customer's own mail server
    /// retries each queued message, every few minutes, to the same few
    /// servers, and each refused retry raises its score (on flows, four an
    /// hour to one server make a suspect); spambots rarely retry (the
    /// premise of greylisting).
    pub spread: bool,
}

impl AfterVerdict {
    pub fn of(h: &HostRank, cfg: &RankConfig) -> AfterVerdict {
        AfterVerdict {
            class: Class::of(h.verdict),
            score: h.score,
            mail_attempts: op25b_rank::score::mail_attempts(&h.features),
            conduct: AfterTheBlock::of(h),
            spread: {
                let f = &h.features;
                f.direct25_fanout as f64 > cfg.fanout_low
                    && f.direct25_sessions < 2 * f.direct25_fanout
            },
        }
    }

    /// The class this is evidence for in [`collateral_class`]: only a
    /// verdict reached while spraying attempts over many servers.
    pub fn evidence(&self) -> Option<Class> {
        self.spread.then_some(self.class)
    }
}

/// What an address did on `--after`, for a host the block cuts off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterTheBlock {
    /// It submitted (to the ISP's mail servers, or on port 587/465
    /// anywhere) and made no attempt the block stops: it moved.
    Moved,
    /// It still made attempts the block stops.
    StillBlocked,
    /// Not in `--after`, or there without either.
    NotSeen,
}

impl AfterTheBlock {
    /// What `after`, the address on `--after`, did.
    pub fn of(after: &HostRank) -> AfterTheBlock {
        let f = &after.features;
        if f.blockable_sessions > 0 {
            AfterTheBlock::StillBlocked
        } else if f.submitted_sessions > 0 || f.submission_port_sessions > 0 {
            AfterTheBlock::Moved
        } else {
            AfterTheBlock::NotSeen
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AfterTheBlock::Moved => "moved",
            AfterTheBlock::StillBlocked => "still_blocked",
            AfterTheBlock::NotSeen => "not_seen",
        }
    }
}

/// The host with the same address in `other` for each host of `hosts`, in
/// `hosts`' order (before's hosts on after, or after's on before).
pub(crate) fn same_address<'a>(
    hosts: &Ranking,
    other: Option<&'a Ranking>,
) -> Vec<Option<&'a HostRank>> {
    let by_address: std::collections::HashMap<_, _> = other
        .map(|a| a.hosts.iter().map(|h| (h.features.host, h)).collect())
        .unwrap_or_default();
    hosts
        .hosts
        .iter()
        .map(|h| by_address.get(&h.features.host).copied())
        .collect()
}

/// [`HostCounts`] of every host of `before`, each with its verdict on
/// `--after` where the address is there (`after`: [`same_address`]).
pub(crate) fn before_counts(
    before: &Ranking,
    after: &[Option<&HostRank>],
    unit: Unit,
    log: Option<&RelayLogWindow>,
    cfg: &RankConfig,
) -> Vec<HostCounts> {
    before
        .hosts
        .iter()
        .zip(after)
        .map(|(h, a)| HostCounts {
            after: a.map(|a| AfterVerdict::of(a, cfg)),
            ..HostCounts::of(h, unit, log)
        })
        .collect()
}

/// The class that decides whether a host the block cuts off counts as a
/// legitimate customer (collateral), an undecided suspect, or a bot: its
/// class on `--before`, or its class on `--after` where that is worse
/// (zombie over suspect over clean; a relay counts as clean here), where
/// the verdict on `--after` is evidence at all ([`AfterVerdict::evidence`]).
pub fn collateral_class(before: Class, after: Option<AfterVerdict>) -> Class {
    match (before, after.and_then(|a| a.evidence())) {
        (Class::Clean | Class::Relay, Some(a @ (Class::Zombie | Class::Suspect))) => a,
        (Class::Suspect, Some(Class::Zombie)) => Class::Zombie,
        (b, _) => b,
    }
}

/// A host of `--after` that made attempts OP25B stops: the customers an
/// abuse team hears from after the block, and the bots it is stopping.
#[derive(Clone, Copy, Debug)]
pub struct BlockedAfter<'a> {
    /// The host on `--after`.
    pub host: &'a HostRank,
    /// The same address on `--before`, where it is there.
    pub before: Option<&'a HostRank>,
    pub verdict: AfterVerdict,
    /// Of its blocked attempts, those an outside server answered: the
    /// block did not stop them.
    pub leaked_sessions: u64,
    /// What it counts as, by the rule of the simulated collateral
    /// ([`collateral_class`]): its verdict on `--before` (clean where the
    /// address is not there), or the worse verdict of `--after` where its
    /// attempts were sprayed. A host whose refused attempts go back to the
    /// same few servers is a customer's mail server retrying its queue,
    /// whatever score the refusals gave it.
    pub judged: Class,
}

/// Every host of `after` with attempts the block stops, in `after`'s order.
pub fn blocked_after<'a>(
    after: &'a Ranking,
    before: &'a Ranking,
    cfg: &RankConfig,
) -> Vec<BlockedAfter<'a>> {
    after
        .hosts
        .iter()
        .zip(same_address(after, Some(before)))
        .filter(|(h, _)| h.features.blockable_sessions > 0)
        .map(|(h, before)| {
            let verdict = AfterVerdict::of(h, cfg);
            let f = &h.features;
            BlockedAfter {
                host: h,
                before,
                verdict,
                // For an address in a dynamic pool every direct port-25
                // session is one the block stops.
                leaked_sessions: f.direct25.answered.min(f.blockable_sessions),
                judged: collateral_class(
                    before.map_or(Class::Clean, |b| Class::of(b.verdict)),
                    Some(verdict),
                ),
            }
        })
        .collect()
}

impl HostCounts {
    /// `log`: the relays' log over this input's span, where one was given.
    pub fn of(h: &HostRank, unit: Unit, log: Option<&RelayLogWindow>) -> HostCounts {
        let f = &h.features;
        let (attempts, accepted) = match unit {
            Unit::Messages => (f.outbound_transactions, f.outbound_messages),
            Unit::Sessions => (f.outbound_answered_sessions, f.outbound_mail_sessions),
        };
        let (volume, blockable, submitted) = match unit {
            // Sessions whose dialogue was hidden (STARTTLS, port 465) carried
            // mail but showed no message: each is taken to hold as many
            // messages as the host's sessions that showed theirs (at least
            // one; one where none showed).
            Unit::Messages => {
                let per_session = messages_per_mail_session(
                    f.outbound_messages,
                    f.outbound_mail_sessions,
                    f.outbound_hidden_mail_sessions,
                );
                let per_submission = messages_per_mail_session(
                    f.submitted_messages,
                    f.submitted_mail_sessions,
                    f.submitted_hidden_mail_sessions,
                );
                (
                    messages_with_hidden(
                        f.outbound_messages,
                        f.outbound_hidden_mail_sessions,
                        f.outbound_mail_sessions,
                        per_session,
                    ),
                    messages_with_hidden(
                        f.blockable_messages,
                        f.blockable_hidden_mail_sessions,
                        f.blockable_mail_sessions,
                        per_session,
                    ),
                    messages_with_hidden(
                        f.submitted_messages,
                        f.submitted_hidden_mail_sessions,
                        f.submitted_mail_sessions,
                        per_submission,
                    ),
                )
            }
            // Submissions count like the relays' output: sessions that
            // carried mail (a failed AUTH submitted nothing).
            Unit::Sessions => (
                f.outbound_mail_sessions as f64,
                f.blockable_mail_sessions as f64,
                f.submitted_mail_sessions as f64,
            ),
        };
        HostCounts {
            class: Class::of(h.verdict),
            score: h.score,
            mail_attempts: op25b_rank::score::mail_attempts(f),
            outbound_sessions: f.outbound_sessions,
            outbound_messages: f.outbound_messages,
            volume,
            // Blocking cannot remove more than was sent; a ranker that counts
            // blockable sessions to internal servers too must not make the
            // remainder negative.
            blockable_volume: blockable.min(volume),
            blockable_sessions: f.blockable_sessions,
            blockable_messages: f.blockable_messages.min(f.outbound_messages),
            submitted,
            // A parser that counted a message without its transaction must not
            // make the acceptance rate exceed 1.
            attempts: attempts.max(accepted) as f64,
            accepted: accepted as f64,
            relay_logged: log.map(|w| w.volume_of(&f.host, unit)),
            after: None,
        }
    }

    /// This host on `--after` with its class at the given thresholds (see
    /// [`reclassify`]).
    fn after_at(
        &self,
        zombie_score: f64,
        suspect_score: f64,
        min_attempts: u64,
    ) -> Option<AfterVerdict> {
        self.after.map(|a| AfterVerdict {
            class: reclassify_parts(
                a.class,
                a.score,
                a.mail_attempts,
                zombie_score,
                suspect_score,
                min_attempts,
            ),
            ..a
        })
    }
}

/// Messages per outbound session that carried mail, from the sessions whose
/// messages were seen (`mail_sessions - hidden` of them, `messages` in all);
/// 1 where none was seen. Never below 1: a session that carried mail carried
/// at least one message.
pub fn messages_per_mail_session(messages: u64, mail_sessions: u64, hidden: u64) -> f64 {
    let seen = mail_sessions.saturating_sub(hidden);
    if seen == 0 {
        1.0
    } else {
        (messages as f64 / seen as f64).max(1.0)
    }
}

/// Messages seen plus `per_session` for each hidden session that carried
/// mail; never below one message per session that carried mail.
fn messages_with_hidden(messages: u64, hidden: u64, mail_sessions: u64, per_session: f64) -> f64 {
    (messages as f64 + per_session * hidden as f64).max(mail_sessions as f64)
}

/// The unit of the whole report: messages only where every host that sent or
/// submitted mail was seen with its dialogue (in every input), sessions
/// otherwise, so that all scenarios count the same thing. Where no host sent
/// or submitted mail (nothing is outbound under the network description),
/// every host decides: messages unless one was seen only in flows.
pub fn choose_unit(rankings: &[&Ranking]) -> Unit {
    let hosts = || rankings.iter().flat_map(|r| &r.hosts).map(|h| &h.features);
    let mailing =
        |f: &&op25b_rank::HostFeatures| f.outbound_sessions > 0 || f.submitted_sessions > 0;
    let deciding: Vec<_> = if hosts().any(|f| mailing(&f)) {
        hosts().filter(mailing).collect()
    } else {
        hosts().collect()
    };
    if deciding.iter().all(|f| f.has_dialogue) {
        Unit::Messages
    } else {
        Unit::Sessions
    }
}

/// How much of a host's mail counts as spam in the point estimate.
pub fn spam_weight(class: Class) -> f64 {
    match class {
        Class::Zombie => 1.0,
        Class::Suspect => SUSPECT_WEIGHT,
        Class::Clean | Class::Relay => 0.0,
    }
}

/// Sums over a set of hosts: everything the shares are computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub hosts: u64,
    pub zombies: u64,
    pub suspects: u64,
    pub clean: u64,
    pub relays: u64,
    pub outbound_sessions: u64,
    pub outbound_messages: u64,
    pub volume: f64,
    pub zombie_volume: f64,
    pub suspect_volume: f64,
    pub clean_volume: f64,
    pub relay_volume: f64,
    pub submitted: f64,
    pub zombie_submitted: f64,
    pub suspect_submitted: f64,
    pub blocked_sessions: u64,
    pub blocked_hosts: u64,
    pub blocked_messages: u64,
    pub blocked_volume: f64,
    pub zombie_blocked: f64,
    pub suspect_blocked: f64,
    pub relay_blocked: f64,
    /// Delivery attempts and acceptances of the relays and of the hosts
    /// judged clean (see [`HostCounts::attempts`]).
    pub relay_attempts: f64,
    pub relay_accepted: f64,
    pub clean_attempts: f64,
    pub clean_accepted: f64,
    /// The clean hosts' attempts and acceptances of the other input, where
    /// [`pool_legit_acceptance`] joined before and after: evidence for the
    /// acceptance of legitimate mail (`a`) too.
    pub other_clean_attempts: f64,
    pub other_clean_accepted: f64,
    /// Hosts judged legitimate (clean or relay) with blockable sessions.
    pub collateral_hosts: u64,
    pub collateral_sessions: u64,
    pub collateral_volume: f64,
    /// Suspects with blockable sessions: undecided, reported apart.
    pub collateral_suspect_hosts: u64,
    pub collateral_suspect_sessions: u64,
    /// Hosts with blockable sessions counted by a worse class on `--after`
    /// than on `--before` ([`collateral_class`]).
    pub collateral_bots_after_hosts: u64,
    /// Collateral hosts that moved to submission on `--after`.
    pub collateral_moved_hosts: u64,
    /// The relays' outbound deliveries traced by their log to the hosts
    /// summed (relays excluded), and to the zombies and suspects among them;
    /// `relay_log` is set once a host with a log count is added.
    pub relay_log: bool,
    pub logged: f64,
    pub zombie_logged: f64,
    pub suspect_logged: f64,
}

impl Totals {
    /// `after`: the host on `--after`, its class at the same thresholds;
    /// only the collateral counts use it.
    pub fn add(&mut self, h: &HostCounts, class: Class, after: Option<AfterVerdict>) {
        self.hosts += 1;
        self.outbound_sessions += h.outbound_sessions;
        self.outbound_messages += h.outbound_messages;
        self.volume += h.volume;
        self.blocked_sessions += h.blockable_sessions;
        self.blocked_hosts += u64::from(h.blockable_sessions > 0);
        self.blocked_messages += h.blockable_messages;
        self.blocked_volume += h.blockable_volume;
        match class {
            Class::Zombie => {
                self.zombies += 1;
                self.zombie_volume += h.volume;
                self.zombie_submitted += h.submitted;
                self.zombie_blocked += h.blockable_volume;
            }
            Class::Suspect => {
                self.suspects += 1;
                self.suspect_volume += h.volume;
                self.suspect_submitted += h.submitted;
                self.suspect_blocked += h.blockable_volume;
            }
            Class::Clean => {
                self.clean += 1;
                self.clean_volume += h.volume;
                self.clean_attempts += h.attempts;
                self.clean_accepted += h.accepted;
            }
            Class::Relay => {
                self.relays += 1;
                self.relay_volume += h.volume;
                self.relay_blocked += h.blockable_volume;
                self.relay_attempts += h.attempts;
                self.relay_accepted += h.accepted;
            }
        }
        // Relays hand mail to each other; only what customers submit tells
        // what the relays carry.
        if class != Class::Relay {
            self.submitted += h.submitted;
        }
        if let Some(v) = h.relay_logged {
            self.relay_log = true;
            match class {
                Class::Relay => {}
                Class::Zombie => self.zombie_logged += v,
                Class::Suspect => self.suspect_logged += v,
                Class::Clean => {}
            }
            if class != Class::Relay {
                self.logged += v;
            }
        }
        if h.blockable_sessions > 0 {
            let judged = collateral_class(class, after);
            if judged != class {
                self.collateral_bots_after_hosts += 1;
            }
            if matches!(judged, Class::Clean | Class::Relay)
                && after.is_some_and(|a| a.conduct == AfterTheBlock::Moved)
            {
                self.collateral_moved_hosts += 1;
            }
            match judged {
                Class::Zombie => {}
                Class::Suspect => {
                    self.collateral_suspect_hosts += 1;
                    self.collateral_suspect_sessions += h.blockable_sessions;
                }
                Class::Clean | Class::Relay => {
                    self.collateral_hosts += 1;
                    self.collateral_sessions += h.blockable_sessions;
                    self.collateral_volume += h.blockable_volume;
                }
            }
        }
    }

    pub fn of(hosts: &[HostCounts]) -> Totals {
        let mut t = Totals::default();
        for h in hosts {
            t.add(h, h.class, h.after);
        }
        t
    }

    /// The spam fraction of what customers submitted to the relays (0 when
    /// nothing was seen submitted).
    pub fn submitted_spam_fraction(&self, suspect_weight: f64) -> f64 {
        if self.submitted > 0.0 {
            ((self.zombie_submitted + suspect_weight * self.suspect_submitted) / self.submitted)
                .clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The spam fraction of the relays' output as their log traces it to
    /// the customers who submitted it; `None` without a log or where the
    /// log traces nothing to a ranked host.
    pub fn logged_spam_fraction(&self, suspect_weight: f64) -> Option<f64> {
        (self.relay_log && self.logged > 0.0).then(|| {
            ((self.zombie_logged + suspect_weight * self.suspect_logged) / self.logged)
                .clamp(0.0, 1.0)
        })
    }

    /// Share of the relays' delivery attempts that receivers accepted, and
    /// the same for the hosts judged clean (of both inputs, once pooled);
    /// `None` where no attempt was seen.
    pub fn acceptance(&self) -> (Option<f64>, Option<f64>) {
        let rate = |acc: f64, att: f64| (att > 0.0).then(|| (acc / att).clamp(0.0, 1.0));
        (
            rate(self.relay_accepted, self.relay_attempts),
            rate(
                self.clean_accepted + self.other_clean_accepted,
                self.clean_attempts + self.other_clean_attempts,
            ),
        )
    }

    /// The spam fraction of what the relays deliver.
    ///
    /// The relays try to deliver what they were given, a fraction `f` of it
    /// spam (`submitted_spam_fraction`), but receivers refuse spam more often
    /// than legitimate mail, so `f` overstates the spam in what was accepted.
    /// With `A` the relays' acceptance rate and `a` that of the hosts judged
    /// clean (in before and after together where both were given, see
    /// [`pool_legit_acceptance`]; legitimate mail is assumed accepted at the
    /// same rate wherever it comes from), the legitimate part of the relays'
    /// accepted output is `(1 - f) a / A`, and the rest is spam:
    /// `1 - (1 - f) a / A`, kept inside what the attempts allow,
    /// `[max(0, 1 - (1 - f) / A), min(1, f / A)]` (spam accepted at a rate
    /// between 0 and 1, legitimate mail at most always). Where either rate
    /// is unknown (flows without an answered session, no clean sender) or
    /// nothing was accepted, `f` itself.
    ///
    /// With the relays' log, none of this: the log says which customer each
    /// delivery came from and whether the receiver took it (or got its
    /// body, in the sessions unit), so the fraction is counted in the
    /// report's own unit ([`Totals::logged_spam_fraction`]).
    pub fn relay_spam_fraction(&self, suspect_weight: f64) -> f64 {
        if let Some(logged) = self.logged_spam_fraction(suspect_weight) {
            return logged;
        }
        let f = self.submitted_spam_fraction(suspect_weight);
        match self.acceptance() {
            (Some(relay), Some(clean)) if relay > 0.0 => {
                let lower = (1.0 - (1.0 - f) / relay).max(0.0);
                let upper = (f / relay).min(1.0);
                (1.0 - (1.0 - f) * clean / relay).clamp(lower, upper.max(lower))
            }
            _ => f,
        }
    }

    /// Estimated spam volume (attribution estimator (a)).
    pub fn spam_volume(&self, suspect_weight: f64) -> f64 {
        self.zombie_volume
            + suspect_weight * self.suspect_volume
            + self.relay_spam_fraction(suspect_weight) * self.relay_volume
    }

    /// Attribution estimator (a): spam volume over all outbound volume.
    pub fn spam_share(&self, suspect_weight: f64) -> Option<f64> {
        (self.volume > 0.0).then(|| self.spam_volume(suspect_weight) / self.volume)
    }

    /// Estimator (c), spam volume left when OP25B removes the blockable part.
    pub fn simulated_spam_volume(&self, suspect_weight: f64) -> f64 {
        (self.zombie_volume - self.zombie_blocked)
            + suspect_weight * (self.suspect_volume - self.suspect_blocked)
            + self.relay_spam_fraction(suspect_weight) * (self.relay_volume - self.relay_blocked)
    }

    pub fn simulated_volume(&self) -> f64 {
        self.volume - self.blocked_volume
    }

    /// Estimator (c): the spam share of what OP25B lets through.
    pub fn simulated_spam_share(&self, suspect_weight: f64) -> Option<f64> {
        let v = self.simulated_volume();
        (v > 0.0).then(|| self.simulated_spam_volume(suspect_weight) / v)
    }

    /// Estimator (c), variant: legitimate blocked mail is resubmitted through
    /// the ISP's relays (port 587) and leaves anyway; spam does not come back.
    pub fn simulated_spam_share_if_legit_moves(&self, suspect_weight: f64) -> Option<f64> {
        let blocked_spam = self.zombie_blocked + suspect_weight * self.suspect_blocked;
        let moved = (self.blocked_volume - blocked_spam).max(0.0);
        let v = self.simulated_volume() + moved;
        (v > 0.0).then(|| self.simulated_spam_volume(suspect_weight) / v)
    }
}

/// Gives before and after one acceptance rate for legitimate mail, from the
/// clean hosts of both. How often receivers accept legitimate mail does not
/// depend on the block, and the clean direct senders of one hour are few: a
/// single newsletter with a stale list moved `a` by 0.04 and the after-block
/// share by 0.02 on the simulator (crates/report/README.md).
pub fn pool_legit_acceptance(before: &mut Totals, after: &mut Totals) {
    before.other_clean_attempts = after.clean_attempts;
    before.other_clean_accepted = after.clean_accepted;
    after.other_clean_attempts = before.clean_attempts;
    after.other_clean_accepted = before.clean_accepted;
}

/// Volumes of the differential estimator (d), after-volumes scaled to the
/// duration of the before input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DifferentialParts {
    pub scale: f64,
    pub volume_before: f64,
    pub volume_after: f64,
    pub relay_before: f64,
    pub relay_after: f64,
    pub direct_before: f64,
    pub direct_after: f64,
    /// Direct (non-relay) outbound volume that disappeared.
    pub disappeared: f64,
    /// The increase of relay output: mail that moved onto the ISP's relays.
    pub moved_to_relays: f64,
    /// `disappeared - moved_to_relays`: the mail that stopped leaving.
    pub removed: f64,
    /// `removed / volume_before`, not clamped.
    pub share: Option<f64>,
}

/// Estimator (d), the WAKWAK before/after method.
pub fn differential(before: &Totals, after: &Totals, scale: f64) -> DifferentialParts {
    let volume_after = after.volume * scale;
    let relay_after = after.relay_volume * scale;
    let direct_before = before.volume - before.relay_volume;
    let direct_after = volume_after - relay_after;
    let disappeared = direct_before - direct_after;
    let moved_to_relays = relay_after - before.relay_volume;
    let removed = disappeared - moved_to_relays;
    DifferentialParts {
        scale,
        volume_before: before.volume,
        volume_after,
        relay_before: before.relay_volume,
        relay_after,
        direct_before,
        direct_after,
        disappeared,
        moved_to_relays,
        removed,
        share: (before.volume > 0.0).then(|| removed / before.volume),
    }
}

/// Duration of a ranking's input in seconds (0 when unknown).
pub fn duration_s(r: &Ranking) -> f64 {
    (r.end_us.saturating_sub(r.start_us)).max(0) as f64 / 1e6
}

/// How much to multiply after-volumes by to compare them with before-volumes:
/// the ratio of the durations; `None` where an input spans no time (no
/// record, or all at one instant), so that nothing can be scaled.
pub fn duration_scale(before: &Ranking, after: &Ranking) -> Option<f64> {
    let (b, a) = (duration_s(before), duration_s(after));
    (b > 0.0 && a > 0.0).then(|| b / a)
}

/// A host set split the way the bootstrap resamples it: relays and the rest
/// separately (stratified), so that every replicate keeps the number of relays
/// and a resample without the one relay does not turn its output into noise.
#[derive(Clone, Debug, Default)]
pub struct Strata {
    pub relays: Vec<HostCounts>,
    pub others: Vec<HostCounts>,
}

impl Strata {
    pub fn new(hosts: &[HostCounts]) -> Strata {
        let (relays, others) = hosts.iter().partition(|h| h.class == Class::Relay);
        Strata { relays, others }
    }

    pub fn resample(&self, rng: &mut SplitMix64) -> Totals {
        let mut t = Totals::default();
        for stratum in [&self.relays, &self.others] {
            // How often each host was drawn, then one pass over the hosts
            // in order: the same draws as adding each host as it is drawn,
            // without a cache miss per draw (a million hosts' counts are
            // hundreds of MB, their draw counts a few).
            let mut drawn = vec![0u32; stratum.len()];
            for _ in 0..stratum.len() {
                // `below` is always < len: the index is in bounds.
                if let Some(d) = drawn.get_mut(rng.below(stratum.len())) {
                    *d += 1;
                }
            }
            for (h, &d) in stratum.iter().zip(&drawn) {
                for _ in 0..d {
                    t.add(h, h.class, h.after);
                }
            }
        }
        t
    }
}

/// Percentile interval of the finite values (linear interpolation between
/// order statistics); `None` with fewer than two values.
pub fn percentile_interval(values: &mut [f64], level: f64) -> Option<[f64; 2]> {
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some([
        quantile_sorted(values, tail),
        quantile_sorted(values, 1.0 - tail),
    ])
}

fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (
        sorted.get(lo).copied().unwrap_or(f64::NAN),
        sorted.get(hi).copied().unwrap_or(f64::NAN),
    );
    a + (b - a) * (pos - lo as f64)
}

/// One bootstrap replicate of every share.
#[derive(Clone, Copy, Debug)]
struct Replicate {
    before: Option<f64>,
    simulated: Option<f64>,
    after: Option<f64>,
    differential: Option<f64>,
}

/// The 95% intervals of every scenario, and how many replicates had no mail
/// (the share undefined) and were left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BootstrapResult {
    pub replicates: u32,
    pub seed: u64,
    pub method: &'static str,
    pub undefined_replicates: u32,
    #[serde(skip)]
    pub before: Option<[f64; 2]>,
    #[serde(skip)]
    pub simulated: Option<[f64; 2]>,
    #[serde(skip)]
    pub after: Option<[f64; 2]>,
    #[serde(skip)]
    pub differential: Option<[f64; 2]>,
}

pub const BOOTSTRAP_METHOD: &str = "nonparametric bootstrap over hosts, stratified (relays / other hosts), \
     resampled with replacement; 95% percentile interval; before and after resampled independently; \
     SplitMix64 seeded per replicate (deterministic)";

/// Bootstraps every share by resampling hosts (replicates run in parallel;
/// each has its own seeded stream, so the result does not depend on threads).
pub fn bootstrap(
    before: &Strata,
    after: Option<&Strata>,
    scale: Option<f64>,
    replicates: u32,
    seed: u64,
) -> BootstrapResult {
    let reps: Vec<Replicate> = (0..replicates)
        .into_par_iter()
        .map(|i| {
            let mut rng = SplitMix64::for_replicate(seed, u64::from(i));
            let mut b = before.resample(&mut rng);
            let a = after.map(|after| {
                let mut a = after.resample(&mut rng);
                pool_legit_acceptance(&mut b, &mut a);
                a
            });
            Replicate {
                before: b.spam_share(SUSPECT_WEIGHT),
                simulated: b.simulated_spam_share(SUSPECT_WEIGHT),
                after: a.as_ref().and_then(|a| a.spam_share(SUSPECT_WEIGHT)),
                differential: a
                    .as_ref()
                    .zip(scale)
                    .and_then(|(a, k)| differential(&b, a, k).share.map(|s| s.clamp(0.0, 1.0))),
            }
        })
        .collect();
    let interval = |pick: fn(&Replicate) -> Option<f64>| {
        let mut v: Vec<f64> = reps.iter().filter_map(pick).collect();
        percentile_interval(&mut v, 0.95)
    };
    let undefined = reps
        .iter()
        .filter(|r| {
            r.before.is_none()
                || r.simulated.is_none()
                || (after.is_some() && r.after.is_none())
                || (after.is_some() && scale.is_some() && r.differential.is_none())
        })
        .count();
    BootstrapResult {
        replicates,
        seed,
        method: BOOTSTRAP_METHOD,
        undefined_replicates: u32::try_from(undefined).unwrap_or(u32::MAX),
        before: interval(|r| r.before),
        simulated: interval(|r| r.simulated),
        after: interval(|r| r.after),
        differential: interval(|r| r.differential),
    }
}

/// One scenario of summary.json (the CONTRACT keys first).
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub outbound_sessions: u64,
    pub outbound_messages: u64,
    pub unit: Unit,
    /// Null when there was no outbound mail at all.
    pub spam_share: Option<f64>,
    pub spam_share_ci95: Option<[f64; 2]>,
    pub zombies: u64,
    pub suspects: u64,
    // Added by op25b:
    pub clean: u64,
    pub relays: u64,
    pub hosts: u64,
    pub outbound_volume: f64,
    pub spam_volume: f64,
    pub relay_volume: f64,
    pub relay_spam_fraction: f64,
    /// What `relay_spam_fraction` is computed from: the spam fraction of what
    /// customers submitted (f), and the share of delivery attempts accepted
    /// for the relays (A) and the hosts judged clean (a); null where none
    /// was seen.
    pub submitted_spam_fraction: f64,
    pub relay_acceptance: Option<f64>,
    pub clean_acceptance: Option<f64>,
    /// The spam fraction of the relays' deliveries that their log traces to
    /// ranked hosts, and how many deliveries (in the unit) that was; null
    /// without `--relay-log`. Where set, it is `relay_spam_fraction`.
    pub relay_log_spam_fraction: Option<f64>,
    pub relay_log_volume: Option<f64>,
    /// `relay_log` or `submissions`: where `relay_spam_fraction` came from.
    pub relay_spam_fraction_source: &'static str,
    /// The relays' outbound deliveries in the input's span, in the unit, and
    /// those not traced to a ranked host (made on the relays, submitted
    /// before the log starts, or by customers not in the traffic: the
    /// breakdown is in `relay_log`); null without a log.
    pub relay_log_deliveries: Option<f64>,
    pub relay_log_untraced: Option<f64>,
    /// The share with suspects counted as legitimate / as zombies.
    pub spam_share_suspects_as_clean: Option<f64>,
    pub spam_share_suspects_as_spam: Option<f64>,
    pub duration_s: f64,
    /// The largest packet-sampling interval among the input's session
    /// records (1: unsampled) and the share of its records that came from
    /// sampled flows. Sampling misses short sessions far more often than
    /// long ones, so shares from sampled records are not the unsampled
    /// traffic's (crates/report/README.md, "Sampled flows").
    pub sampling_interval: u32,
    pub sampled_record_share: f64,
}

impl Scenario {
    fn measured(t: &Totals, unit: Unit, ci: Option<[f64; 2]>, duration_s: f64) -> Scenario {
        let logged = t.logged_spam_fraction(SUSPECT_WEIGHT);
        Scenario {
            outbound_sessions: t.outbound_sessions,
            outbound_messages: t.outbound_messages,
            unit,
            spam_share: t.spam_share(SUSPECT_WEIGHT),
            spam_share_ci95: ci,
            zombies: t.zombies,
            suspects: t.suspects,
            clean: t.clean,
            relays: t.relays,
            hosts: t.hosts,
            outbound_volume: t.volume,
            spam_volume: t.spam_volume(SUSPECT_WEIGHT),
            relay_volume: t.relay_volume,
            relay_spam_fraction: t.relay_spam_fraction(SUSPECT_WEIGHT),
            submitted_spam_fraction: t.submitted_spam_fraction(SUSPECT_WEIGHT),
            relay_acceptance: t.acceptance().0,
            clean_acceptance: t.acceptance().1,
            relay_log_spam_fraction: logged,
            relay_log_volume: t.relay_log.then_some(t.logged),
            relay_spam_fraction_source: if logged.is_some() {
                "relay_log"
            } else {
                "submissions"
            },
            // Set from the log's span by `estimate_titled`.
            relay_log_deliveries: None,
            relay_log_untraced: None,
            spam_share_suspects_as_clean: t.spam_share(0.0),
            spam_share_suspects_as_spam: t.spam_share(1.0),
            duration_s,
            // Set from the ranking by `estimate_titled`.
            sampling_interval: 1,
            sampled_record_share: 0.0,
        }
    }
}

/// `after` of summary.json: the after traffic measured, and whom the block
/// stopped in it.
#[derive(Clone, Debug, Serialize)]
pub struct MeasuredAfter {
    #[serde(flatten)]
    pub scenario: Scenario,
    /// Sessions on `--after` that OP25B stops (port 25 from the dynamic
    /// pools to anything but the ISP's mail servers), and the hosts that
    /// tried them ([`blocked_after`]).
    pub blocked_sessions: u64,
    pub blocked_hosts: u64,
    /// Of those sessions, the ones an outside server answered: the block
    /// is not in place for every pool of `dynamic_pools`, or `--after` is
    /// not traffic from after the block.
    pub leaked_sessions: u64,
    /// Blocked hosts counted as customers (clean or relay): still trying
    /// port 25 after the block, the measured collateral; and those counted
    /// as suspects.
    pub collateral_hosts: u64,
    pub collateral_sessions: u64,
    pub collateral_suspect_hosts: u64,
    pub collateral_suspect_sessions: u64,
}

impl MeasuredAfter {
    fn of(scenario: Scenario, blocked: &[BlockedAfter]) -> MeasuredAfter {
        let mut m = MeasuredAfter {
            scenario,
            blocked_sessions: 0,
            blocked_hosts: 0,
            leaked_sessions: 0,
            collateral_hosts: 0,
            collateral_sessions: 0,
            collateral_suspect_hosts: 0,
            collateral_suspect_sessions: 0,
        };
        for b in blocked {
            let sessions = b.host.features.blockable_sessions;
            m.blocked_hosts += 1;
            m.blocked_sessions += sessions;
            m.leaked_sessions += b.leaked_sessions;
            match b.judged {
                Class::Clean | Class::Relay => {
                    m.collateral_hosts += 1;
                    m.collateral_sessions += sessions;
                }
                Class::Suspect => {
                    m.collateral_suspect_hosts += 1;
                    m.collateral_suspect_sessions += sessions;
                }
                Class::Zombie => {}
            }
        }
        m
    }
}

/// `simulated_after` of summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Simulated {
    #[serde(flatten)]
    pub scenario: Scenario,
    pub blocked_sessions: u64,
    /// Hosts judged legitimate (clean, or a relay) that OP25B would cut off.
    pub collateral_hosts: u64,
    pub collateral_sessions: u64,
    // Added by op25b:
    pub blocked_volume: f64,
    pub collateral_volume: f64,
    /// Suspects OP25B would cut off: add them for the upper bound.
    pub collateral_suspect_hosts: u64,
    pub collateral_suspect_sessions: u64,
    pub spam_share_if_legit_moves: Option<f64>,
    /// Hosts with sessions OP25B would block, whatever their verdict.
    pub blocked_hosts: u64,
    /// Hosts the block cuts off that `--after` judged worse than `--before`
    /// (they went on trying port 25 like bots) and were counted so; null
    /// without `--after`.
    pub collateral_bots_after_hosts: Option<u64>,
    /// Collateral hosts seen on `--after` submitting (to the ISP's mail
    /// servers, or on port 587/465) with no attempt the block stops; null
    /// without `--after`.
    pub collateral_moved_hosts: Option<u64>,
    /// Days between the end of the earlier input and the start of the
    /// later (0 where they overlap); null without `--after`. Dynamic
    /// addresses are reassigned: the longer the gap, the likelier an
    /// address changed hands, and the after verdicts above assume it did
    /// not.
    pub inputs_days_apart: Option<f64>,
}

impl Simulated {
    fn of(t: &Totals, unit: Unit, ci: Option<[f64; 2]>, duration_s: f64) -> Simulated {
        // Sessions that remain: what was sent minus what the block stops (the
        // same subtraction as for the volumes).
        let remaining_sessions = t.outbound_sessions.saturating_sub(t.blocked_sessions);
        Simulated {
            // The counts of hosts, the relays' fraction, the interval and the
            // duration are those of the before traffic; the volumes are what
            // the block lets through.
            scenario: Scenario {
                outbound_sessions: remaining_sessions,
                outbound_messages: t.outbound_messages.saturating_sub(t.blocked_messages),
                spam_share: t.simulated_spam_share(SUSPECT_WEIGHT),
                outbound_volume: t.simulated_volume(),
                spam_volume: t.simulated_spam_volume(SUSPECT_WEIGHT),
                relay_volume: t.relay_volume - t.relay_blocked,
                spam_share_suspects_as_clean: t.simulated_spam_share(0.0),
                spam_share_suspects_as_spam: t.simulated_spam_share(1.0),
                ..Scenario::measured(t, unit, ci, duration_s)
            },
            blocked_sessions: t.blocked_sessions,
            collateral_hosts: t.collateral_hosts,
            collateral_sessions: t.collateral_sessions,
            blocked_volume: t.blocked_volume,
            collateral_volume: t.collateral_volume,
            collateral_suspect_hosts: t.collateral_suspect_hosts,
            collateral_suspect_sessions: t.collateral_suspect_sessions,
            spam_share_if_legit_moves: t.simulated_spam_share_if_legit_moves(SUSPECT_WEIGHT),
            blocked_hosts: t.blocked_hosts,
            collateral_bots_after_hosts: None,
            collateral_moved_hosts: None,
            inputs_days_apart: None,
        }
    }
}

/// `differential` of summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Differential {
    pub unit: Unit,
    /// `spam_share_unclamped` limited to [0, 1].
    pub spam_share: Option<f64>,
    pub spam_share_ci95: Option<[f64; 2]>,
    pub spam_share_unclamped: Option<f64>,
    pub volume_before: f64,
    /// This and the other quantities scaled by `scale` are `None` (null)
    /// where an input spans no time and nothing can be scaled.
    pub volume_after_normalised: Option<f64>,
    pub direct_before: f64,
    pub direct_after_normalised: Option<f64>,
    pub relay_before: f64,
    pub relay_after_normalised: Option<f64>,
    pub disappeared: Option<f64>,
    pub moved_to_relays: Option<f64>,
    pub removed: Option<f64>,
    pub duration_before_s: f64,
    pub duration_after_s: f64,
    pub scale: Option<f64>,
}

/// One row of the threshold sensitivity table.
#[derive(Clone, Debug, Serialize)]
pub struct SensitivityRow {
    pub factor: f64,
    pub zombie_score: f64,
    pub suspect_score: f64,
    pub zombies: u64,
    pub suspects: u64,
    pub spam_share: Option<f64>,
    pub spam_share_suspects_as_clean: Option<f64>,
    pub spam_share_suspects_as_spam: Option<f64>,
    pub simulated_spam_share: Option<f64>,
    pub collateral_hosts: u64,
}

/// A host's class when verdicts are re-drawn at other thresholds, by rank's
/// rules: relays stay relays (that judgement does not come from the score),
/// a zombie needs `zombie_min_attempts` mail attempts.
pub fn reclassify(
    h: &HostCounts,
    zombie_score: f64,
    suspect_score: f64,
    zombie_min_attempts: u64,
) -> Class {
    reclassify_parts(
        h.class,
        h.score,
        h.mail_attempts,
        zombie_score,
        suspect_score,
        zombie_min_attempts,
    )
}

fn reclassify_parts(
    class: Class,
    score: f64,
    mail_attempts: u64,
    zombie_score: f64,
    suspect_score: f64,
    zombie_min_attempts: u64,
) -> Class {
    match class {
        Class::Relay => Class::Relay,
        _ if score >= zombie_score && mail_attempts >= zombie_min_attempts => Class::Zombie,
        _ if score >= suspect_score => Class::Suspect,
        _ => Class::Clean,
    }
}

/// Estimate (a) (and (c)) with verdicts re-drawn at thresholds around the
/// configured ones.
pub fn sensitivity(
    hosts: &[HostCounts],
    after_hosts: Option<&[HostCounts]>,
    cfg: &RankConfig,
) -> Vec<SensitivityRow> {
    SENSITIVITY_FACTORS
        .iter()
        .map(|&factor| {
            let (z, s) = scaled_thresholds(cfg, factor);
            let redrawn = |hosts: &[HostCounts]| {
                let mut t = Totals::default();
                for h in hosts {
                    let min = cfg.zombie_min_attempts;
                    t.add(h, reclassify(h, z, s, min), h.after_at(z, s, min));
                }
                t
            };
            let mut t = redrawn(hosts);
            // The same legitimate acceptance as the headline estimate.
            if let Some(after) = after_hosts {
                pool_legit_acceptance(&mut t, &mut redrawn(after));
            }
            SensitivityRow {
                factor,
                zombie_score: z,
                suspect_score: s,
                zombies: t.zombies,
                suspects: t.suspects,
                spam_share: t.spam_share(SUSPECT_WEIGHT),
                spam_share_suspects_as_clean: t.spam_share(0.0),
                spam_share_suspects_as_spam: t.spam_share(1.0),
                simulated_spam_share: t.simulated_spam_share(SUSPECT_WEIGHT),
                collateral_hosts: t.collateral_hosts,
            }
        })
        .collect()
}

/// Thresholds scaled by `factor`; for a non-positive configured threshold
/// (where scaling would run the wrong way) the factor shifts it by
/// `(factor - 1)` units instead.
fn scaled_thresholds(cfg: &RankConfig, factor: f64) -> (f64, f64) {
    // Rounded to 1e-6 so that tables show 4.02, not 4.0200000000000005;
    // scores themselves have two decimals.
    let round = |x: f64| (x * 1e6).round() / 1e6;
    if cfg.zombie_score > 0.0 {
        (
            round(cfg.zombie_score * factor),
            round(cfg.suspect_score * factor),
        )
    } else {
        (
            round(cfg.zombie_score + (factor - 1.0)),
            round(cfg.suspect_score + (factor - 1.0)),
        )
    }
}

/// One estimator, described for summary.json and the report.
#[derive(Clone, Debug, Serialize)]
pub struct EstimatorDoc {
    pub name: &'static str,
    pub scenario: &'static str,
    pub formula: &'static str,
    pub assumptions: &'static str,
}

pub const ESTIMATORS: &[EstimatorDoc] = &[
    EstimatorDoc {
        name: "attribution",
        scenario: "before, after",
        formula: "spam = V(zombies) + w*V(suspects) + phi*V(relays), f = (S(zombies) + w*S(suspects)) / S(all non-relay hosts), \
                  phi = 1 - (1 - f) * a / A kept within [max(0, 1 - (1 - f) / A), min(1, f / A)] (phi = f where A or a is unknown); \
                  spam_share = spam / V(all hosts); V = outbound volume, S = volume submitted to the ISP's mail servers, \
                  A, a = share of outbound delivery attempts accepted, relays and clean hosts (messages per mail transaction; \
                  sessions that carried mail per answered session in the sessions unit; a over the clean hosts of before \
                  and after together where both inputs were given), w = 0.5; with the relays' log (--relay-log): \
                  phi = (L(zombies) + w*L(suspects)) / L(all non-relay hosts), L = the relays' outbound deliveries \
                  the log traces to a host's submissions (accepted ones; ones whose receiver got the body in the \
                  sessions unit)",
        assumptions: "everything a zombie sends out is spam and nothing a clean host sends is; a suspect is spam with weight w \
                      (band: w = 0 and w = 1); the relays are handed mail with the spam fraction of what customers submitted \
                      to them, and receivers accept its legitimate part at the rate they accept clean hosts' mail, with or without \
                      the block: the relays' refusals beyond that rate are spam; with the log, only that mail a \
                      zombie submits is spam, and deliveries made on the relays or of unknown origin are spam in the \
                      same proportion as the traced ones",
    },
    EstimatorDoc {
        name: "simulated",
        scenario: "simulated_after",
        formula: "the attribution estimator on the before input with each host's OP25B-blockable volume \
                  (port 25 from dynamic_pools to anything but mail_servers) removed; \
                  collateral = hosts judged clean (or relays) with blockable sessions; suspects with blockable \
                  sessions are counted apart (collateral_suspect_hosts, the upper bound); with --after, a host \
                  whose address rank judged worse on --after, its port-25 attempts there reaching more than \
                  fanout_low outside servers fewer than twice each on average, counts by that verdict \
                  (collateral_bots_after_hosts); \
                  collateral_moved_hosts = collateral hosts whose address on --after submitted and made no \
                  attempt the block stops",
        assumptions: "blocked mail is not resent another way (spam_share_if_legit_moves: legitimate blocked mail \
                      is resubmitted through the relays); verdicts as before; a suspect is not called a legitimate \
                      customer (on the simulated ISP they are zombies with few attempts); with --after, a customer \
                      stops after the block, or its mail server retries the same few servers, while a bot goes on \
                      spraying port-25 attempts over new servers, and an address stays with its machine between \
                      the two inputs",
    },
    EstimatorDoc {
        name: "whom the block stopped",
        scenario: "after",
        formula: "blocked_sessions = sessions on --after that OP25B stops (port 25 from dynamic_pools to \
                  anything but mail_servers), blocked_hosts = hosts with any, leaked_sessions = those an outside \
                  server answered; collateral_hosts, collateral_sessions = blocked hosts counted as customers: \
                  by their verdict on --before (clean where the address is not there), or by their verdict on \
                  --after where that is worse and their port-25 attempts there reached more than fanout_low \
                  outside servers fewer than twice each on average; collateral_suspect_* the same for suspects",
        assumptions: "the after input is taken on the customers' side of the block, so the attempts it drops \
                      are in it; a customer's mail server retries the same few servers, while a bot sprays new \
                      ones; an address stays with its machine between the two inputs",
    },
    EstimatorDoc {
        name: "differential",
        scenario: "differential",
        formula: "k = duration_before / duration_after; disappeared = direct_before - k*direct_after; \
                  moved = k*relay_after - relay_before; spam_share = (disappeared - moved) / V_before \
                  (= (V_before - k*V_after) / V_before)",
        assumptions: "the block removes spam only; legitimate mail moves onto the ISP's relays; \
                      traffic is otherwise stationary between the two inputs; no scoring involved",
    },
];

/// `config` of summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigSummary {
    pub network_toml: String,
    pub defaults_used: bool,
    pub rank: RankConfig,
    pub suspect_weight: f64,
    pub sensitivity_factors: &'static [f64],
}

/// Everything summary.json holds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub before: Scenario,
    /// Null without `--after`.
    pub after: Option<MeasuredAfter>,
    pub simulated_after: Simulated,
    /// Null without `--after`.
    pub differential: Option<Differential>,
    // Added by op25b:
    pub version: &'static str,
    pub title: String,
    pub unit: Unit,
    pub bootstrap: BootstrapResult,
    pub sensitivity: Vec<SensitivityRow>,
    pub estimators: &'static [EstimatorDoc],
    pub config: ConfigSummary,
    pub inputs: Vec<String>,
    /// What the relays' log held (null without `--relay-log`).
    pub relay_log: Option<RelayLogSummary>,
    /// What each input held and what of it was not used, as its reader
    /// counted (empty where the caller gave none).
    pub input_accounting: Vec<InputAccounting>,
}

/// One input's reading, as its reader counted it: records made, packets and
/// flows read and the reasons some were not used, exports lost before
/// reading, and each damaged place (file and offset). `op25b report` fills
/// it from the same counts its stderr summary prints.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InputAccounting {
    /// `before` or `after`.
    pub input: String,
    /// Non-zero counts by name (`session_records` always).
    pub counts: std::collections::BTreeMap<String, u64>,
    pub damage: Vec<String>,
}

impl Summary {
    /// The scenarios measured on an input, by name: before, and after when
    /// given.
    pub fn measured(&self) -> impl Iterator<Item = (&'static str, &Scenario)> {
        std::iter::once(("before", &self.before))
            .chain(self.after.as_ref().map(|a| ("after", &a.scenario)))
    }

    /// The measured inputs (before, after) in whose span `--relay-log` traced
    /// nothing though the relays sent mail: their relays' spam fraction fell
    /// back to the submissions. Empty without `--relay-log`.
    pub fn relay_log_unused(&self) -> Vec<&'static str> {
        if self.relay_log.is_none() {
            return Vec::new();
        }
        self.measured()
            .filter(|(_, sc)| sc.relay_volume > 0.0 && sc.relay_spam_fraction_source != "relay_log")
            .map(|(name, _)| name)
            .collect()
    }
}

/// `relay_log` of summary.json: the files, how their lines were used
/// (op25b-maillog's counts), and the deliveries in each input's span by whom
/// they are traced to.
#[derive(Clone, Debug, Serialize)]
pub struct RelayLogSummary {
    #[serde(flatten)]
    pub read: MailLogStats,
    /// Outbound deliveries in neither input's span.
    pub outside_inputs: u64,
    pub classic_year: i64,
    pub classic_utc_offset_s: i64,
    pub before: RelayLogSpan,
    pub after: Option<RelayLogSpan>,
}

/// The relays' outbound deliveries of one input's span, in the report's
/// unit: traced to ranked hosts (the fraction's denominator), to customers
/// not in the traffic, made locally, or of unknown origin.
#[derive(Clone, Debug, Serialize)]
pub struct RelayLogSpan {
    pub deliveries: f64,
    pub ranked_hosts: f64,
    pub unranked_clients: f64,
    pub local: f64,
    pub unknown_origin: f64,
}

impl RelayLogSpan {
    fn of(w: &RelayLogWindow, ranking: &Ranking, unit: Unit) -> RelayLogSpan {
        let unranked = w.unranked(ranking).volume(unit);
        let clients: f64 = w.by_client.values().map(|d| d.volume(unit)).sum();
        RelayLogSpan {
            deliveries: w.deliveries.volume(unit),
            ranked_hosts: clients - unranked,
            unranked_clients: unranked,
            local: w.local.volume(unit),
            unknown_origin: w.unknown_origin.volume(unit),
        }
    }
}

impl RelayLogSummary {
    fn of(log: &RelayLog, before: &Ranking, after: Option<&Ranking>, unit: Unit) -> Self {
        RelayLogSummary {
            read: log.stats.clone(),
            outside_inputs: log.outside_inputs,
            classic_year: log.classic_year,
            classic_utc_offset_s: log.classic_utc_offset_s,
            before: RelayLogSpan::of(&log.before, before, unit),
            after: match (&log.after, after) {
                (Some(w), Some(r)) => Some(RelayLogSpan::of(w, r, unit)),
                _ => None,
            },
        }
    }
}

/// The numbers alone: every estimator, interval and the sensitivity table.
pub fn estimate(input: &ReportInput, bootstrap_replicates: u32, seed: u64) -> Summary {
    estimate_titled(input, bootstrap_replicates, seed, String::new(), Vec::new())
}

pub(crate) fn estimate_titled(
    input: &ReportInput,
    bootstrap_replicates: u32,
    seed: u64,
    title: String,
    inputs: Vec<String>,
) -> Summary {
    let mut rankings = vec![&input.before];
    if let Some(a) = &input.after {
        rankings.push(a);
    }
    let unit = choose_unit(&rankings);
    let counts = |r: &Ranking, log: Option<&RelayLogWindow>| -> Vec<HostCounts> {
        r.hosts
            .iter()
            .map(|h| HostCounts::of(h, unit, log))
            .collect()
    };
    let log = input.relay_log.as_ref();
    let before_hosts = before_counts(
        &input.before,
        &same_address(&input.before, input.after.as_ref()),
        unit,
        log.map(|l| &l.before),
        &input.rank_cfg,
    );
    let after_hosts = input
        .after
        .as_ref()
        .map(|a| counts(a, log.and_then(|l| l.after.as_ref())));
    let mut before_totals = Totals::of(&before_hosts);
    let mut after_totals = after_hosts.as_deref().map(Totals::of);
    if let Some(a) = after_totals.as_mut() {
        pool_legit_acceptance(&mut before_totals, a);
    }
    let scale = input
        .after
        .as_ref()
        .and_then(|a| duration_scale(&input.before, a));

    let before_strata = Strata::new(&before_hosts);
    let after_strata = after_hosts.as_deref().map(Strata::new);
    let boot = bootstrap(
        &before_strata,
        after_strata.as_ref(),
        scale,
        bootstrap_replicates,
        seed,
    );
    let dur_before = duration_s(&input.before);

    let differential = match (&input.after, &after_totals) {
        (Some(after), Some(at)) => {
            // The before-only quantities do not depend on the scale.
            let d = differential(&before_totals, at, scale.unwrap_or(1.0));
            let scaled = |v: f64| scale.map(|_| v);
            let share = scale.and(d.share);
            Some(Differential {
                unit,
                spam_share: share.map(|s| s.clamp(0.0, 1.0)),
                spam_share_ci95: boot.differential,
                spam_share_unclamped: share,
                volume_before: d.volume_before,
                volume_after_normalised: scaled(d.volume_after),
                direct_before: d.direct_before,
                direct_after_normalised: scaled(d.direct_after),
                relay_before: d.relay_before,
                relay_after_normalised: scaled(d.relay_after),
                disappeared: scaled(d.disappeared),
                moved_to_relays: scaled(d.moved_to_relays),
                removed: scaled(d.removed),
                duration_before_s: dur_before,
                duration_after_s: duration_s(after),
                scale,
            })
        }
        _ => None,
    };

    let relay_log = log.map(|l| RelayLogSummary::of(l, &input.before, input.after.as_ref(), unit));
    // What a scenario's input itself says: the relays' log over its span,
    // and how much of it came from sampled flows.
    let with_input = |mut sc: Scenario, r: &Ranking, span: Option<&RelayLogSpan>| {
        if let Some(sp) = span {
            sc.relay_log_deliveries = Some(sp.deliveries);
            sc.relay_log_untraced = Some(sp.deliveries - sp.ranked_hosts);
        }
        sc.sampling_interval = r.max_sampling.max(1);
        sc.sampled_record_share = if r.records > 0 {
            r.sampled_records as f64 / r.records as f64
        } else {
            0.0
        };
        sc
    };
    let before_span = relay_log.as_ref().map(|l| &l.before);
    let after_span = relay_log.as_ref().and_then(|l| l.after.as_ref());
    let mut simulated_after = Simulated::of(&before_totals, unit, boot.simulated, dur_before);
    if let Some(after) = &input.after {
        simulated_after.collateral_bots_after_hosts =
            Some(before_totals.collateral_bots_after_hosts);
        simulated_after.collateral_moved_hosts = Some(before_totals.collateral_moved_hosts);
        let before = &input.before;
        let gap_us = (after.start_us - before.end_us)
            .max(before.start_us - after.end_us)
            .max(0);
        // An input without records has no time of its own.
        simulated_after.inputs_days_apart =
            (before.records > 0 && after.records > 0).then_some(gap_us as f64 / 86_400e6);
    }
    simulated_after.scenario = with_input(simulated_after.scenario, &input.before, before_span);
    Summary {
        before: with_input(
            Scenario::measured(&before_totals, unit, boot.before, dur_before),
            &input.before,
            before_span,
        ),
        after: match (&input.after, &after_totals) {
            (Some(a), Some(t)) => Some(MeasuredAfter::of(
                with_input(
                    Scenario::measured(t, unit, boot.after, duration_s(a)),
                    a,
                    after_span,
                ),
                &blocked_after(a, &input.before, &input.rank_cfg),
            )),
            _ => None,
        },
        simulated_after,
        differential,
        version: VERSION,
        title,
        unit,
        bootstrap: boot,
        sensitivity: sensitivity(&before_hosts, after_hosts.as_deref(), &input.rank_cfg),
        estimators: ESTIMATORS,
        config: ConfigSummary {
            network_toml: IspConfig::network_toml(&input.network),
            defaults_used: input.defaults_used,
            rank: input.rank_cfg.clone(),
            suspect_weight: SUSPECT_WEIGHT,
            sensitivity_factors: SENSITIVITY_FACTORS,
        },
        inputs,
        input_accounting: Vec::new(),
        relay_log,
    }
}
