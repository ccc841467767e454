//! The zombie score: a sum of named, bounded signals, and the verdict rules.
//!
//! Each signal adds between 0 and its weight (`w_*` in [`RankConfig`]),
//! growing linearly (or on a log scale for counts) between a low and a high
//! threshold; the well-behaved-MTA credit subtracts. Share-based signals count
//! in full only from `evidence_sessions` sessions on ("evidence" below), the
//! HELO signals from `helo_evidence_sessions` sessions with a HELO ("helo
//! evidence"), except the bogus literal. The reasons of a host
//! are the signals that gave it points, strongest first, each with the value
//! that can be checked in the same CSV row.
//!
//! | signal | reason | points |
//! | --- | --- | --- |
//! | distinct port-25 servers | `fanout=N` | `w_fanout` × log-ramp(N, `fanout_low`, `fanout_high`) |
//! | (no_answer + reset) / sessions, or the SYN-only share where higher (flows) | `failed=S` / `syn_only=S` | `w_failed` × ramp × evidence |
//! | rejected / answered sessions | `rejected=S` | `w_rejected` × ramp × evidence |
//! | RCPT refused / RCPT answered | `rcpt_rejected=S` | `w_rcpt_rejected` × ramp × evidence |
//! | flows only (no dialogue): answered sessions that carried no mail | `no_mail=S` | (`w_rejected` + `w_rcpt_rejected`) × ramp(`rejected_low`, `rejected_high`) × evidence |
//! | dynamic pool, port 25 to outside servers | `dynamic_direct` | `w_dynamic_direct` |
//! | dynamic pool, sessions to the ISP's mail servers and direct port 25 to ≥ `mixed_paths_fanout` outside servers | `mixed_paths=N` (`direct25_fanout`) | `w_mixed_paths` |
//! | peak direct port-25 sessions per minute | `peak_min=N` | `w_rate` × log-ramp(N, `rate_low`, `rate_high`) |
//! | peak hour ≥ `burst_ratio` × mean active hour | `burst=Rx` | `w_burst` |
//! | HELO `[0.0.0.0]`, loopback, a public address not its own (share ≥ `helo_share`) | `helo_bogus_literal` | `w_helo_bogus_literal` |
//! | HELO an address literal (share ≥ `helo_share`) | `helo_ip_literal` | `w_helo_ip_literal` × helo evidence |
//! | HELO looks random | `helo_random` | `w_helo_random` × helo evidence |
//! | HELO not a FQDN (and not an IP literal) | `helo_not_fqdn` | `w_helo_not_fqdn` × helo evidence |
//! | HELO claims a big provider | `helo_claims=DOMAIN` | `w_helo_claims_provider` × helo evidence |
//! | many distinct HELO names | `helo_names=N` | `w_helo_many` |
//! | fewer, but at least 2 and ≥ `helo_vary_share` of the HELO sessions | `helo_varies=D/N` | `w_helo_varies` × helo evidence |
//! | well-behaved MTA (on a dynamic address: HELO seen, `legit_mta_dynamic_needs_helo`) | `legit_mta` | − `w_legit_mta` |
//!
//! Verdicts, first that applies: `relay` (configured in `mail_servers`, or
//! inferred: internal, at least `relay_min_submitters` internal hosts send to
//! it, and it sends port 25 to at least `relay_min_fanout` servers);
//! `zombie` (score ≥ `zombie_score` and at least `zombie_min_attempts` mail
//! attempts, [`mail_attempts`]); `suspect` (score ≥ `suspect_score`); `clean`.

use crate::{HostFeatures, HostRank, RankConfig, Verdict};
use rayon::prelude::*;

/// One signal's share of a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub reason: String,
    pub points: f64,
}

/// 0 below `low`, 1 from `high` on, linear between.
fn ramp(x: f64, low: f64, high: f64) -> f64 {
    if !x.is_finite() || high <= low {
        return 0.0;
    }
    ((x - low) / (high - low)).clamp(0.0, 1.0)
}

/// [`ramp`] on a log scale (for counts).
fn log_ramp(x: f64, low: f64, high: f64) -> f64 {
    if x <= 0.0 || low <= 0.0 {
        return 0.0;
    }
    ramp(x.ln(), low.ln(), high.ln())
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The acceptance of a host's mail: RCPT accepted / answered where the
/// dialogue was seen, else sessions that carried mail / answered sessions.
pub fn acceptance(f: &HostFeatures) -> f64 {
    let rcpt = f.rcpt_accepted + f.rcpt_rejected;
    if rcpt > 0 {
        share(f.rcpt_accepted, rcpt)
    } else {
        share(f.mail_sessions, f.answered_sessions)
    }
}

/// Whether the HELO names of a host look like one properly configured MTA:
/// none seen (flows), or at most two names, none an IP literal, random,
/// claiming a provider, and mostly fully qualified.
fn helo_consistent(f: &HostFeatures, cfg: &RankConfig) -> bool {
    f.helo_sessions == 0
        || (f.helo_distinct <= 2
            && f.helo_ip_literal == 0
            && f.helo_random == 0
            && f.helo_claims_provider == 0
            && share(f.helo_not_fqdn, f.helo_sessions) < cfg.helo_share)
}

/// The signals that give a host points, strongest first (credits last).
pub fn contributions(f: &HostFeatures, cfg: &RankConfig) -> Vec<Contribution> {
    let mut out = Vec::new();
    // The reason is formatted only for signals that gave points: most hosts
    // of an ISP give none, and formatting dominated `finish` otherwise.
    let mut add = |points: f64, reason: &dyn Fn() -> String| {
        if points.abs() > 1e-9 {
            out.push(Contribution {
                reason: reason(),
                points,
            });
        }
    };
    let evidence = |n: u64| share(n, cfg.evidence_sessions.max(1)).min(1.0);

    add(
        cfg.w_fanout * log_ramp(f.fanout as f64, cfg.fanout_low, cfg.fanout_high),
        &|| format!("fanout={}", f.fanout),
    );
    // Each share signal is taken over all sessions and over the direct
    // port-25 sessions alone (`Direct25Counts`), the one giving more points
    // counting: submissions through the ISP's servers (a bot with stolen
    // credentials) must not dilute refused and failed port-25 attempts.
    // (share, sessions it is over) of the better-scoring of the two.
    let stronger = |all: (f64, u64), direct: (f64, u64), low: f64, high: f64| -> (f64, f64) {
        let points = |(s, n): (f64, u64)| ramp(s, low, high) * evidence(n);
        let (pa, pd) = (points(all), points(direct));
        if pd > pa { (direct.0, pd) } else { (all.0, pa) }
    };
    let d = &f.direct25;
    let n25 = f.direct25_sessions;
    // On flows the outcome may stay `unknown` where the client only ever sent
    // SYNs: the SYN-only share stands in for the failed share then.
    let (syn_only, syn_points) = stronger(
        (share(f.syn_only_sessions, f.sessions), f.sessions),
        (share(d.syn_only, n25), n25),
        cfg.failed_low,
        cfg.failed_high,
    );
    let (failed, failed_points) = stronger(
        (f.failed_share, f.sessions),
        (share(d.failed, n25), n25),
        cfg.failed_low,
        cfg.failed_high,
    );
    if syn_only > failed {
        add(cfg.w_failed * syn_points, &|| {
            format!("syn_only={syn_only:.2}")
        });
    } else {
        add(cfg.w_failed * failed_points, &|| {
            format!("failed={failed:.2}")
        });
    }
    if f.has_dialogue {
        let (rejected, points) = stronger(
            (f.rejected_share, f.answered_sessions),
            (share(d.rejected, d.answered), d.answered),
            cfg.rejected_low,
            cfg.rejected_high,
        );
        add(cfg.w_rejected * points, &|| {
            format!("rejected={rejected:.2}")
        });
        let rcpt = f.rcpt_accepted + f.rcpt_rejected;
        let rcpt25 = d.rcpt_accepted + d.rcpt_rejected;
        // Evidence by sessions, as for every share: the recipients of one
        // session share its server and its fate (a greylisting server
        // refuses them all), so ten of them are one session's worth.
        let (rcpt_rejected, points) = stronger(
            (share(f.rcpt_rejected, rcpt), rcpt.min(f.answered_sessions)),
            (share(d.rcpt_rejected, rcpt25), rcpt25.min(d.answered)),
            cfg.rcpt_rejected_low,
            cfg.rcpt_rejected_high,
        );
        add(cfg.w_rcpt_rejected * points, &|| {
            format!("rcpt_rejected={rcpt_rejected:.2}")
        });
    } else {
        // Flows hide the dialogue, so neither refusal can be seen; what can
        // is an answered connection that never carried a message's worth of
        // bytes. A bot's refused greetings and refused RCPTs end exactly so,
        // a legitimate MTA's sessions almost never: this one signal stands in
        // for both, with both weights.
        let no_mail_of = |mail: u64, answered: u64| {
            if answered == 0 {
                0.0
            } else {
                1.0 - share(mail, answered)
            }
        };
        let (no_mail, points) = stronger(
            (
                no_mail_of(f.mail_sessions, f.answered_sessions),
                f.answered_sessions,
            ),
            (no_mail_of(d.mail, d.answered), d.answered),
            cfg.rejected_low,
            cfg.rejected_high,
        );
        add((cfg.w_rejected + cfg.w_rcpt_rejected) * points, &|| {
            format!("no_mail={no_mail:.2}")
        });
    }
    if f.dynamic && f.blockable_sessions > 0 {
        add(cfg.w_dynamic_direct, &|| "dynamic_direct".into());
    }
    // The customer's mail client uses the ISP's servers, yet port 25 goes
    // straight to several outside servers too: a second sender on the
    // machine. Before the block it is the bot with stolen credentials that
    // also mails directly; after it, the same bot's blocked attempts.
    if f.dynamic && f.submitted_sessions > 0 && f.direct25_fanout >= cfg.mixed_paths_fanout {
        add(cfg.w_mixed_paths, &|| {
            format!("mixed_paths={}", f.direct25_fanout)
        });
    }
    add(
        cfg.w_rate * log_ramp(f.peak_minute_sessions as f64, cfg.rate_low, cfg.rate_high),
        &|| format!("peak_min={}", f.peak_minute_sessions),
    );
    if f.peak_hour_sessions >= cfg.burst_min_peak_hour && f.burstiness >= cfg.burst_ratio {
        add(cfg.w_burst, &|| format!("burst={:.1}x", f.burstiness));
    }
    if f.helo_sessions > 0 {
        let frac = |n: u64| share(n, f.helo_sessions) >= cfg.helo_share && n > 0;
        // One odd name in one session is weak evidence (anonymised captures,
        // a PC's own name); a pattern over several sessions is not.
        let helo_evidence = share(f.helo_sessions, cfg.helo_evidence_sessions.max(1)).min(1.0);
        if frac(f.helo_bogus_literal) {
            add(cfg.w_helo_bogus_literal, &|| "helo_bogus_literal".into());
        }
        if frac(f.helo_ip_literal) {
            add(cfg.w_helo_ip_literal * helo_evidence, &|| {
                "helo_ip_literal".into()
            });
        }
        if frac(f.helo_random) {
            add(cfg.w_helo_random * helo_evidence, &|| "helo_random".into());
        }
        if frac(f.helo_not_fqdn.saturating_sub(f.helo_ip_literal)) {
            add(cfg.w_helo_not_fqdn * helo_evidence, &|| {
                "helo_not_fqdn".into()
            });
        }
        if f.helo_claims_provider > 0 {
            add(cfg.w_helo_claims_provider * helo_evidence, &|| {
                format!("helo_claims={}", f.helo_claimed)
            });
        }
        if f.helo_distinct >= cfg.helo_many {
            add(cfg.w_helo_many, &|| {
                let plus = if f.helo_distinct_at_least { "+" } else { "" };
                format!("helo_names={}{plus}", f.helo_distinct)
            });
        } else if f.helo_distinct >= 2
            && share(f.helo_distinct, f.helo_sessions) >= cfg.helo_vary_share
        {
            // A bot that takes a new name for every few sessions shows it in
            // three or four sessions, long before it reaches `helo_many`.
            add(cfg.w_helo_varies * helo_evidence, &|| {
                format!("helo_varies={}/{}", f.helo_distinct, f.helo_sessions)
            });
        }
    }
    let accept = acceptance(f);
    if f.answered_sessions > 0
        && accept >= cfg.legit_acceptance
        && f.failed_share.max(syn_only) <= cfg.legit_max_failed
        && helo_consistent(f, cfg)
        && !(cfg.legit_mta_dynamic_needs_helo && f.dynamic && f.helo_sessions == 0)
    {
        add(-cfg.w_legit_mta, &|| {
            format!("legit_mta:accept={accept:.2}")
        });
    }
    out.sort_by(|a, b| b.points.total_cmp(&a.points));
    out
}

/// The sessions in which a host tried to send mail, the evidence the zombie
/// verdict needs `zombie_min_attempts` of: direct port-25 attempts plus
/// sessions to the ISP's own mail servers. Submissions count because after
/// OP25B a bot with stolen credentials shows itself in both: a few blocked
/// direct attempts and a dozen authenticated submissions under as many HELO
/// names are twenty sessions of evidence, not five.
pub fn mail_attempts(f: &HostFeatures) -> u64 {
    f.direct25_sessions.saturating_add(f.submitted_sessions)
}

/// Whether traffic shows a host to be a relay (see the module doc).
pub fn relay_inferred(f: &HostFeatures, cfg: &RankConfig) -> bool {
    f.internal && f.submitters >= cfg.relay_min_submitters && f.fanout >= cfg.relay_min_fanout
}

/// Scores one host: (verdict, score, reasons).
pub fn judge(f: &HostFeatures, cfg: &RankConfig) -> (Verdict, f64, Vec<String>) {
    let parts = contributions(f, cfg);
    let mut raw: f64 = parts.iter().map(|c| c.points).sum();
    let flow_only = !f.has_dialogue && f.sessions > 0 && cfg.flow_score_factor != 1.0;
    if flow_only {
        raw *= cfg.flow_score_factor;
    }
    // Two decimals: the CSV shows them, and ties then sort the same everywhere.
    // (`+ 0.0` turns the -0.0 of an empty float sum into 0.0.)
    let score = (raw.max(0.0) * 100.0).round() / 100.0 + 0.0;
    let mut reasons: Vec<String> = Vec::new();
    let verdict = if f.configured_relay {
        reasons.push("configured_relay".into());
        Verdict::Relay
    } else if relay_inferred(f, cfg) {
        reasons.push("relay_inferred".into());
        reasons.push(format!("submitters={}", f.submitters));
        Verdict::Relay
    } else if score >= cfg.zombie_score && mail_attempts(f) >= cfg.zombie_min_attempts {
        Verdict::Zombie
    } else if score >= cfg.suspect_score {
        if score >= cfg.zombie_score {
            reasons.push(format!("few_attempts={}", mail_attempts(f)));
        }
        Verdict::Suspect
    } else {
        Verdict::Clean
    };
    reasons.extend(parts.into_iter().map(|c| c.reason));
    if flow_only {
        reasons.push(format!("flows_only_x{}", cfg.flow_score_factor));
    }
    (verdict, score, reasons)
}

/// Scores every host and sorts: zombies, suspects, clean, relays; within a
/// verdict by score, then sessions (both descending), then address.
pub fn rank_hosts(features: Vec<HostFeatures>, cfg: &RankConfig) -> Vec<HostRank> {
    let mut hosts: Vec<HostRank> = features
        .into_par_iter()
        .map(|mut f| {
            f.relay_inferred = !f.configured_relay && relay_inferred(&f, cfg);
            let (verdict, score, reasons) = judge(&f, cfg);
            HostRank {
                rank: 0,
                verdict,
                score,
                reasons,
                features: f,
            }
        })
        .collect();
    // Sort small keys, then move each row at most once: sorting the ~600-byte
    // rows themselves moved them O(n log n) times and dominated `finish`.
    let mut keys: Vec<(Verdict, f64, u64, std::net::IpAddr, usize)> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.verdict, h.score, h.features.sessions, h.features.host, i))
        .collect();
    keys.par_sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.total_cmp(&a.1))
            .then(b.2.cmp(&a.2))
            .then(a.3.cmp(&b.3))
    });
    // Apply the permutation in place: every swap puts one row where it belongs.
    let mut dest = vec![0usize; keys.len()];
    for (position, k) in keys.iter().enumerate() {
        dest[k.4] = position;
    }
    for i in 0..hosts.len() {
        while dest[i] != i {
            let d = dest[i];
            hosts.swap(i, d);
            dest.swap(i, d);
        }
    }
    for (i, h) in hosts.iter_mut().enumerate() {
        h.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    hosts
}
