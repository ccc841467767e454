//! Hand-built session records that model each kind of sender, and what the
//! ranking must say about them.

use op25b_core::{IspConfig, Network, Outcome, SessionRecord, Source, tcp_flags};
use op25b_rank::{HostAggregator, HostRank, RankConfig, Ranking, Verdict};
use std::net::{IpAddr, Ipv4Addr};

const ISP: &str = r#"
[network]
internal      = ["198.18.0.0/15", "2001:db8::/32"]
dynamic_pools = ["198.18.0.0/17"]
mail_servers  = ["198.19.255.10", "198.19.255.25"]
"#;

const T0: i64 = 1_109_635_200_000_000; // 2005-03-01T00:00:00Z
const MIN: i64 = 60_000_000;

fn network() -> Network {
    IspConfig::parse_str(ISP).unwrap().network
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A small deterministic generator (xorshift64*), so the records vary without
/// depending on a crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// An outside server: one of `pool` addresses spread over many /24s.
fn outside(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        203,
        (i / 200 % 200) as u8 + 1,
        (i % 200) as u8,
        (i * 7 % 250) as u8 + 1,
    ))
}

fn session(
    client: IpAddr,
    server: IpAddr,
    port: u16,
    start: i64,
    outcome: Outcome,
) -> SessionRecord {
    let mut r = SessionRecord::new(Source::Pcap, client, 40000, server, port);
    r.start = start;
    r.end = start + 2_000_000;
    r.outcome = outcome;
    r.flags_c2s = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN;
    r.flags_s2c = r.flags_c2s;
    r.packets_c2s = 10;
    r.packets_s2c = 8;
    r.bytes_c2s = 900;
    r.bytes_s2c = 700;
    r.greeting_code = 220;
    match outcome {
        Outcome::NoAnswer => {
            r.flags_c2s = tcp_flags::SYN;
            r.flags_s2c = 0;
            r.packets_c2s = 3;
            r.packets_s2c = 0;
            r.bytes_c2s = 180;
            r.bytes_s2c = 0;
            r.greeting_code = 0;
        }
        Outcome::Reset => {
            r.flags_s2c = tcp_flags::RST | tcp_flags::ACK;
            r.packets_s2c = 1;
            r.bytes_s2c = 40;
            r.greeting_code = 0;
        }
        Outcome::Rejected => {
            r.greeting_code = if start % 2 == 0 { 554 } else { 220 };
            if r.greeting_code == 220 {
                r.transactions = 1;
                r.rcpt_rejected = 3;
            }
        }
        Outcome::Delivered => {
            r.transactions = 1;
            r.rcpt_accepted = 1;
            r.messages = 1;
            r.bytes_c2s = 4000;
        }
        _ => {}
    }
    r
}

/// The heavy bot: hundreds of direct port-25 attempts within twenty minutes,
/// half unanswered or reset, most of the rest refused, HELO an IP literal.
fn heavy_bot(host: IpAddr, seed: u64) -> Vec<SessionRecord> {
    let mut rng = Rng(seed | 1);
    (0..400)
        .map(|i| {
            let outcome = if rng.chance(0.5) {
                if rng.chance(0.5) {
                    Outcome::NoAnswer
                } else {
                    Outcome::Reset
                }
            } else if rng.chance(0.7) {
                Outcome::Rejected
            } else {
                Outcome::Delivered
            };
            let mut r = session(
                host,
                outside(rng.below(5000)),
                25,
                T0 + 3 * 3600 * 1_000_000 + i * 3_000_000,
                outcome,
            );
            if !outcome.is_failed() {
                r.helo = format!("[{host}]");
            }
            r
        })
        .collect()
}

/// The low-and-slow bot: one attempt every fifteen minutes all day, to a new
/// server each time, HELO a random word, mostly refused.
fn slow_bot(host: IpAddr, seed: u64) -> Vec<SessionRecord> {
    let mut rng = Rng(seed | 1);
    (0..96)
        .map(|i| {
            let outcome = if rng.chance(0.25) {
                Outcome::NoAnswer
            } else if rng.chance(0.6) {
                Outcome::Rejected
            } else {
                Outcome::Delivered
            };
            let mut r = session(
                host,
                outside(rng.below(100_000)),
                25,
                T0 + i * 15 * MIN,
                outcome,
            );
            if !outcome.is_failed() {
                let letters = b"bcdfghjklmnpqrstvwxz";
                r.helo = (0..7)
                    .map(|_| char::from(letters[rng.below(letters.len() as u64) as usize]))
                    .collect();
            }
            r
        })
        .collect()
}

/// A business's newsletter server: static, one proper HELO, STARTTLS, wide
/// fan-out, nearly everything accepted, a burst when the newsletter goes out.
fn newsletter(host: IpAddr, seed: u64) -> Vec<SessionRecord> {
    let mut rng = Rng(seed | 1);
    (0..1500)
        .map(|i| {
            let outcome = if rng.chance(0.97) {
                Outcome::Delivered
            } else if rng.chance(0.5) {
                Outcome::Rejected
            } else {
                Outcome::NoAnswer
            };
            let start = T0 + 9 * 3600 * 1_000_000 + i * 1_000_000;
            let mut r = session(host, outside(rng.below(600)), 25, start, outcome);
            if !outcome.is_failed() {
                r.helo = "mail.shop.example.co.jp".into();
                r.tls = rng.chance(0.5);
            }
            r
        })
        .collect()
}

/// An ordinary subscriber: a few messages a day through the ISP's submission
/// server, authenticated.
fn subscriber(host: IpAddr, seed: u64) -> Vec<SessionRecord> {
    let mut rng = Rng(seed | 1);
    (0..6)
        .map(|i| {
            let mut r = session(
                host,
                ip("198.19.255.25"),
                587,
                T0 + i * 3 * 3600 * 1_000_000 + rng.below(3600) as i64 * 1_000_000,
                Outcome::Delivered,
            );
            r.helo = "ANNA-PC".into();
            r.auth = true;
            r
        })
        .collect()
}

/// A relay: what the subscribers submit, it sends on to outside MXs.
fn relay_outbound(host: IpAddr, seed: u64, n: i64) -> Vec<SessionRecord> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let outcome = if rng.chance(0.9) {
                Outcome::Delivered
            } else {
                Outcome::Rejected
            };
            let mut r = session(
                host,
                outside(rng.below(3000)),
                25,
                T0 + i * 20_000_000,
                outcome,
            );
            r.helo = "relay.isp.example.ne.jp".into();
            r
        })
        .collect()
}

fn rank(records: &[SessionRecord], cfg: &RankConfig) -> Ranking {
    let mut agg = HostAggregator::new(&network());
    agg.push_batch(records);
    agg.finish(cfg)
}

fn find<'a>(r: &'a Ranking, host: &str) -> &'a HostRank {
    let host = ip(host);
    r.hosts
        .iter()
        .find(|h| h.features.host == host)
        .unwrap_or_else(|| panic!("{host} not ranked"))
}

fn population(seed: u64) -> Vec<SessionRecord> {
    let mut all = Vec::new();
    all.extend(heavy_bot(ip("198.18.3.7"), seed));
    all.extend(slow_bot(ip("198.18.9.200"), seed + 1));
    all.extend(newsletter(ip("198.19.10.5"), seed + 2));
    all.extend(relay_outbound(ip("198.19.255.10"), seed + 3, 800));
    for i in 0..40u8 {
        all.extend(subscriber(
            IpAddr::V4(Ipv4Addr::new(198, 18, 20, i)),
            seed + 10 + u64::from(i),
        ));
    }
    // A second, unconfigured relay that many subscribers submit to.
    let inferred = ip("198.19.0.25");
    for i in 0..30u8 {
        let mut r = session(
            IpAddr::V4(Ipv4Addr::new(198, 18, 40, i)),
            inferred,
            587,
            T0 + i64::from(i) * MIN,
            Outcome::Delivered,
        );
        r.auth = true;
        r.helo = "home-pc".into();
        all.push(r);
    }
    all.extend(relay_outbound(inferred, seed + 4, 300));
    // An inbound sender (outside client): never ranked against an internal network.
    all.extend(
        relay_outbound(ip("192.0.2.1"), seed + 5, 50)
            .into_iter()
            .map(|mut r| {
                r.server = ip("198.19.255.10");
                r
            }),
    );
    all
}

#[test]
fn each_kind_of_sender_gets_its_verdict() {
    for seed in [1u64, 7, 99] {
        let r = rank(&population(seed), &RankConfig::default());
        let heavy = find(&r, "198.18.3.7");
        assert_eq!(heavy.verdict, Verdict::Zombie, "seed {seed}: {heavy:?}");
        assert!(
            heavy.reasons.iter().any(|s| s.starts_with("fanout=")),
            "{:?}",
            heavy.reasons
        );
        assert!(
            heavy.reasons.iter().any(|s| s == "helo_ip_literal"),
            "{:?}",
            heavy.reasons
        );
        assert!(
            heavy.reasons.iter().any(|s| s == "dynamic_direct"),
            "{:?}",
            heavy.reasons
        );
        assert!(
            heavy.reasons.iter().any(|s| s.starts_with("failed=")),
            "{:?}",
            heavy.reasons
        );

        let slow = find(&r, "198.18.9.200");
        assert_eq!(slow.verdict, Verdict::Zombie, "seed {seed}: {slow:?}");
        assert!(
            slow.reasons.iter().any(|s| s == "helo_random"),
            "{:?}",
            slow.reasons
        );
        assert!(slow.features.peak_minute_sessions <= 1);

        let news = find(&r, "198.19.10.5");
        assert_eq!(news.verdict, Verdict::Clean, "seed {seed}: {news:?}");
        assert!(
            news.reasons.iter().any(|s| s.starts_with("legit_mta")),
            "{:?}",
            news.reasons
        );

        let relay = find(&r, "198.19.255.10");
        assert_eq!(relay.verdict, Verdict::Relay);
        assert_eq!(
            relay.reasons.first().map(String::as_str),
            Some("configured_relay")
        );

        let inferred = find(&r, "198.19.0.25");
        assert_eq!(inferred.verdict, Verdict::Relay, "{inferred:?}");
        assert!(inferred.features.relay_inferred);
        assert!(
            inferred.reasons.iter().any(|s| s == "submitters=30"),
            "{:?}",
            inferred.reasons
        );

        for i in 0..40u8 {
            let h = find(&r, &format!("198.18.20.{i}"));
            assert_eq!(h.verdict, Verdict::Clean, "{h:?}");
            assert_eq!(h.features.submitted_sessions, 6);
            assert_eq!(h.features.outbound_sessions, 0);
        }
        assert!(r.hosts.iter().all(|h| h.features.host != ip("192.0.2.1")));
        assert_eq!(r.count(Verdict::Zombie), 2);
        assert_eq!(r.hosts[0].rank, 1);
        assert!(r.hosts[0].verdict == Verdict::Zombie && r.hosts[1].verdict == Verdict::Zombie);
        // The contract's table holds only hosts with outbound SMTP.
        let rows = r.contract_hosts();
        assert_eq!(
            rows.len(),
            5,
            "{:?}",
            rows.iter().map(|h| h.features.host).collect::<Vec<_>>()
        );
        assert!(
            rows.iter()
                .enumerate()
                .all(|(i, h)| h.rank as usize == i + 1)
        );
    }
}

#[test]
fn counts_are_the_sums_of_the_records() {
    let records = population(3);
    let r = rank(&records, &RankConfig::default());
    let heavy = find(&r, "198.18.3.7");
    let mine: Vec<&SessionRecord> = records
        .iter()
        .filter(|s| s.client == ip("198.18.3.7"))
        .collect();
    let f = &heavy.features;
    assert_eq!(f.sessions, mine.len() as u64);
    let failed = mine
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::NoAnswer | Outcome::Reset))
        .count() as f64;
    assert!((f.failed_share - failed / mine.len() as f64).abs() < 1e-12);
    let servers: std::collections::BTreeSet<IpAddr> = mine.iter().map(|s| s.server).collect();
    assert_eq!(f.fanout, servers.len() as u64);
    let prefixes: std::collections::BTreeSet<[u8; 3]> = servers
        .iter()
        .map(|s| match s {
            IpAddr::V4(a) => [a.octets()[0], a.octets()[1], a.octets()[2]],
            IpAddr::V6(_) => unreachable!(),
        })
        .collect();
    assert_eq!(f.fanout_prefixes, prefixes.len() as u64);
    assert_eq!(
        f.messages,
        mine.iter().map(|s| u64::from(s.messages)).sum::<u64>()
    );
    assert_eq!(f.blockable_sessions, mine.len() as u64);
    assert_eq!(f.outbound_sessions, mine.len() as u64);
    assert_eq!(f.first_seen, mine.iter().map(|s| s.start).min().unwrap());
    assert_eq!(f.last_seen, mine.iter().map(|s| s.end).max().unwrap());
    // 400 sessions, one every 3 s: 20 per minute, all in one or two hours.
    assert_eq!(f.peak_minute_sessions, 20);
    assert_eq!(
        f.outbound_minutes
            .iter()
            .map(|m| u64::from(m.1))
            .sum::<u64>(),
        400
    );
    assert!(f.outbound_minutes.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(f.outbound_minutes[0].0 % MIN, 0);
    // The failed minutes are the same minutes' no_answer and reset sessions.
    assert!(failed > 0.0);
    assert_eq!(
        f.outbound_failed_minutes
            .iter()
            .map(|m| u64::from(m.1))
            .sum::<u64>(),
        failed as u64
    );
    for &(minute, n) in &f.outbound_failed_minutes {
        let in_minute = mine
            .iter()
            .filter(|s| s.start.div_euclid(MIN) * MIN == minute && s.outcome.is_failed())
            .count();
        assert_eq!(n as usize, in_minute, "minute {minute}");
    }
    assert_eq!(r.start_us, records.iter().map(|s| s.start).min().unwrap());
    assert_eq!(r.end_us, records.iter().map(|s| s.end).max().unwrap());
    assert_eq!(r.records, records.len() as u64);
}

#[test]
fn a_ten_minute_burst_stands_out_in_a_day() {
    // A host that sends a handful of mails all day, then 300 attempts in ten minutes.
    let host = ip("198.18.5.5");
    let mut records: Vec<SessionRecord> = (0..24)
        .map(|h| {
            session(
                host,
                outside(h),
                25,
                T0 + h as i64 * 3600 * 1_000_000,
                Outcome::Delivered,
            )
        })
        .collect();
    for i in 0..300 {
        records.push(session(
            host,
            outside(1000 + i),
            25,
            T0 + 12 * 3600 * 1_000_000 + i as i64 * 2_000_000,
            Outcome::NoAnswer,
        ));
    }
    let r = rank(&records, &RankConfig::default());
    let h = find(&r, "198.18.5.5");
    assert!(h.features.peak_minute_sessions >= 30);
    assert!(h.features.mean_per_minute < 1.0);
    assert!(h.features.burstiness > 4.0, "{}", h.features.burstiness);
    assert!(
        h.reasons.iter().any(|s| s.starts_with("burst=")),
        "{:?}",
        h.reasons
    );
    assert!(
        h.reasons.iter().any(|s| s.starts_with("peak_min=")),
        "{:?}",
        h.reasons
    );
    assert_eq!(h.verdict, Verdict::Zombie, "{h:?}");
}

/// A port-25 flow that carried a message body (client payload well beyond
/// the server's), as a NetFlow v5 exporter reports it.
fn accepted_flow(client: IpAddr, server: IpAddr, start: i64) -> SessionRecord {
    let mut r = SessionRecord::new(Source::Netflow5, client, 1024, server, 25);
    r.start = start;
    r.end = start + 3_000_000;
    r.flags_c2s = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN;
    r.flags_s2c = r.flags_c2s;
    r.packets_c2s = 20;
    r.packets_s2c = 12;
    r.bytes_c2s = 9000;
    r.bytes_s2c = 1200;
    r
}

#[test]
fn flow_only_bot_and_flow_only_business_sender() {
    let bot = ip("198.18.7.7");
    let biz = ip("198.19.7.7");
    let mut records = Vec::new();
    let mut rng = Rng(42);
    for i in 0..300i64 {
        let mut r = SessionRecord::new(Source::Netflow5, bot, 1024, outside(rng.below(10_000)), 25);
        r.start = T0 + i * 5_000_000;
        r.end = r.start + 6_000_000;
        if rng.chance(0.6) {
            r.flags_c2s = tcp_flags::SYN;
            r.packets_c2s = 2;
            r.bytes_c2s = 120;
            r.outcome = Outcome::NoAnswer;
        } else {
            r.flags_c2s = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN;
            r.flags_s2c = r.flags_c2s;
            r.packets_c2s = 6;
            r.packets_s2c = 5;
            r.bytes_c2s = 400;
            r.bytes_s2c = 500;
        }
        records.push(r);
    }
    for i in 0..600i64 {
        records.push(accepted_flow(
            biz,
            outside(rng.below(400)),
            T0 + i * 30_000_000,
        ));
    }
    let r = rank(&records, &RankConfig::default());
    let b = find(&r, "198.18.7.7");
    assert_eq!(b.verdict, Verdict::Zombie, "{b:?}");
    assert!(!b.features.has_dialogue);
    assert!(b.features.syn_only_sessions > 100);
    let z = find(&r, "198.19.7.7");
    assert_eq!(z.verdict, Verdict::Clean, "{z:?}");
    assert_eq!(z.features.mail_sessions, 600);
    assert_eq!(z.features.outbound_mail_sessions, 600);
}

#[test]
fn a_subscriber_with_one_failed_direct_attempt_is_not_suspect() {
    let host = ip("198.18.8.8");
    let records = vec![session(host, outside(5), 25, T0, Outcome::NoAnswer)];
    let r = rank(&records, &RankConfig::default());
    assert_eq!(find(&r, "198.18.8.8").verdict, Verdict::Clean);
}

#[test]
fn big_provider_claims_and_helo_rotation() {
    let host = ip("198.18.6.6");
    let records: Vec<SessionRecord> = (0..30)
        .map(|i| {
            let mut r = session(host, outside(i), 25, T0 + i as i64 * MIN, Outcome::Rejected);
            r.helo = if i % 2 == 0 {
                "mx.gmail.com".into()
            } else {
                format!("host{i}.example.net")
            };
            r
        })
        .collect();
    let r = rank(&records, &RankConfig::default());
    let h = find(&r, "198.18.6.6");
    assert!(
        h.reasons.iter().any(|s| s == "helo_claims=gmail.com"),
        "{:?}",
        h.reasons
    );
    assert!(
        h.reasons.iter().any(|s| s.starts_with("helo_names=")),
        "{:?}",
        h.reasons
    );
    assert_ne!(h.verdict, Verdict::Clean);
}

#[test]
fn without_internal_clients_every_client_is_ranked() {
    // A capture from outside the described network: rank everybody rather than nobody.
    let records = heavy_bot(ip("192.0.2.77"), 5);
    let r = rank(&records, &RankConfig::default());
    assert!(r.all_clients_ranked);
    assert_eq!(r.hosts.len(), 1);
    assert_eq!(r.contract_hosts().len(), 1);
}

#[test]
fn memory_grows_with_hosts_not_sessions() {
    let host = ip("198.18.1.1");
    let server = outside(1);
    let mut agg = HostAggregator::new(&network());
    let batch: Vec<SessionRecord> = (0..5000)
        .map(|i| {
            session(
                host,
                server,
                25,
                T0 + (i % 60) * 1_000_000,
                Outcome::Delivered,
            )
        })
        .collect();
    for _ in 0..20 {
        agg.push_batch(&batch);
    }
    assert_eq!(agg.hosts(), 1);
    assert_eq!(agg.records(), 100_000);
    let r = agg.finish(&RankConfig::default());
    assert_eq!(r.hosts[0].features.sessions, 100_000);
    assert_eq!(r.hosts[0].features.outbound_minutes.len(), 1);
}

#[test]
fn flows_without_outcomes_fall_back_on_syn_only() {
    // A flow exporter that leaves every outcome `unknown`: the bot's flows are
    // SYN-only, so the SYN-only share stands in for the failed share.
    let bot = ip("198.18.7.8");
    let mut rng = Rng(9);
    let records: Vec<SessionRecord> = (0..200i64)
        .map(|i| {
            let mut r =
                SessionRecord::new(Source::Ipfix, bot, 1024, outside(rng.below(10_000)), 25);
            r.start = T0 + i * 10_000_000;
            r.end = r.start + 3_000_000;
            r.outcome = Outcome::Unknown;
            r.flags_c2s = tcp_flags::SYN;
            r.packets_c2s = 3;
            r.bytes_c2s = 180;
            r
        })
        .collect();
    let r = rank(&records, &RankConfig::default());
    let h = find(&r, "198.18.7.8");
    assert_eq!(h.features.failed_share, 0.0);
    assert_eq!(h.features.syn_only_sessions, 200);
    assert!(
        h.reasons.iter().any(|s| s == "syn_only=1.00"),
        "{:?}",
        h.reasons
    );
    assert_eq!(h.verdict, Verdict::Zombie, "{h:?}");
}

/// After OP25B: a bot with stolen credentials makes seven direct port-25
/// attempts (all dropped by the block) to seven servers under random HELO
/// names, and submits through the ISP's server; `with_submissions` of them.
fn blocked_bot_submitting(host: IpAddr, with_submissions: i64) -> Vec<SessionRecord> {
    let mut rng = Rng(7);
    let mut records: Vec<SessionRecord> = (0..7)
        .map(|i| {
            session(
                host,
                outside(i * 31),
                25,
                T0 + i as i64 * 4 * MIN,
                Outcome::NoAnswer,
            )
        })
        .collect();
    let letters = b"bcdfghjklmnpqrstvwxz";
    for i in 0..with_submissions {
        let mut r = session(
            host,
            ip("198.19.255.25"),
            587,
            T0 + i * 3 * MIN + MIN,
            Outcome::Delivered,
        );
        r.auth = true;
        r.helo = (0..8)
            .map(|_| char::from(letters[rng.below(letters.len() as u64) as usize]))
            .collect();
        records.push(r);
    }
    records
}

#[test]
fn submissions_count_as_evidence_for_the_zombie_verdict() {
    let cfg = RankConfig::default();
    let host = ip("198.18.7.7");
    // Seven direct attempts alone: a high score on too little evidence.
    let alone = rank(&blocked_bot_submitting(host, 0), &cfg);
    let h = find(&alone, "198.18.7.7");
    assert_eq!(h.verdict, Verdict::Suspect, "{h:?}");
    // The same attempts with thirteen submissions under thirteen HELO names:
    // twenty sessions of evidence, a zombie, and its reasons say why.
    let both = rank(&blocked_bot_submitting(host, 13), &cfg);
    let h = find(&both, "198.18.7.7");
    assert!(h.score >= cfg.zombie_score, "{h:?}");
    assert_eq!(h.verdict, Verdict::Zombie, "{h:?}");
    assert_eq!(op25b_rank::score::mail_attempts(&h.features), 20);
    assert!(
        h.reasons.iter().any(|r| r.starts_with("helo_names=")),
        "{:?}",
        h.reasons
    );
    // A customer who only submits (one HELO name) stays clean however much
    // it submits.
    let mut customer: Vec<SessionRecord> = (0..40)
        .map(|i| {
            let mut r = session(
                ip("198.18.8.8"),
                ip("198.19.255.25"),
                587,
                T0 + i * MIN,
                Outcome::Delivered,
            );
            r.auth = true;
            r.helo = "home-pc".into();
            r
        })
        .collect();
    customer.extend(blocked_bot_submitting(host, 13));
    let r = rank(&customer, &cfg);
    assert_eq!(find(&r, "198.18.8.8").verdict, Verdict::Clean);
}

/// A customer whose mail client hands mail to the ISP's relay on port 25
/// (five sessions) and who also delivers directly to `outside_servers`
/// servers on port 25, all accepted, under one proper HELO name.
fn customer_with_two_paths(host: IpAddr, outside_servers: u64) -> Vec<SessionRecord> {
    let mut records: Vec<SessionRecord> = (0..5)
        .map(|i| {
            session(
                host,
                ip("198.19.255.10"),
                25,
                T0 + i * MIN,
                Outcome::Delivered,
            )
        })
        .collect();
    records.extend((0..outside_servers).map(|i| {
        session(
            host,
            outside(i * 17),
            25,
            T0 + (10 + i as i64) * MIN,
            Outcome::Delivered,
        )
    }));
    for r in &mut records {
        r.helo = "home-pc.example.jp".into();
    }
    records
}

fn has_reason(h: &HostRank, prefix: &str) -> bool {
    h.reasons.iter().any(|r| r.starts_with(prefix))
}

#[test]
fn two_mail_paths_from_one_dynamic_address() {
    let cfg = RankConfig::default();
    // A second provider's server or two: what OP25B inconveniences, not a bot.
    let r = rank(&customer_with_two_paths(ip("198.18.9.1"), 2), &cfg);
    let h = find(&r, "198.18.9.1");
    // The ISP's relay is a port-25 server but not an outside one.
    assert_eq!((h.features.fanout, h.features.direct25_fanout), (3, 2));
    assert!(!has_reason(h, "mixed_paths"), "{:?}", h.reasons);
    // Three outside servers: a second sender on the machine.
    let r = rank(&customer_with_two_paths(ip("198.18.9.1"), 3), &cfg);
    let h = find(&r, "198.18.9.1");
    assert!(
        h.reasons.iter().any(|r| r == "mixed_paths=3"),
        "{:?}",
        h.reasons
    );
    // The signal is a lead, not a verdict: mail that is all accepted under
    // one proper name still earns the well-behaved credit.
    assert_eq!(h.verdict, Verdict::Clean, "{h:?}");
    // A static address (198.19.0.0/16 is internal, not dynamic) is not a
    // subscriber's PC.
    let r = rank(&customer_with_two_paths(ip("198.19.0.9"), 3), &cfg);
    assert!(!has_reason(find(&r, "198.19.0.9"), "mixed_paths"));
    // The blocked bot with stolen credentials of the test above shows it.
    let r = rank(&blocked_bot_submitting(ip("198.18.7.7"), 13), &cfg);
    let h = find(&r, "198.18.7.7");
    assert!(
        h.reasons.iter().any(|r| r == "mixed_paths=7"),
        "{:?}",
        h.reasons
    );
}

#[test]
fn a_new_helo_name_every_session_shows_in_a_few_sessions() {
    let cfg = RankConfig::default();
    let host = ip("198.18.5.5");
    let ranked = |names: &[&str]| {
        let records: Vec<SessionRecord> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut r = session(
                    host,
                    outside(i as u64 * 13),
                    25,
                    T0 + i as i64 * MIN,
                    Outcome::Rejected,
                );
                r.helo = (*name).into();
                r
            })
            .collect();
        rank(&records, &cfg).hosts.remove(0)
    };
    // Three sessions, three names: long before `helo_many` (4) names.
    let varied = ranked(&["gonese.kr", "makume.com", "komu.fr"]);
    assert!(
        varied.reasons.iter().any(|r| r == "helo_varies=3/3"),
        "{:?}",
        varied.reasons
    );
    // The same sessions under one name give no HELO points.
    let one = ranked(&["gonese.kr", "gonese.kr", "gonese.kr"]);
    assert!(!has_reason(&one, "helo_"), "{:?}", one.reasons);
    assert!(varied.score > one.score, "{varied:?} {one:?}");
    // Two names in five sessions is below `helo_vary_share` (0.5).
    let two = ranked(&[
        "a.example.jp",
        "a.example.jp",
        "a.example.jp",
        "b.example.jp",
        "a.example.jp",
    ]);
    assert!(!has_reason(&two, "helo_varies"), "{:?}", two.reasons);
    // Four names count as `helo_names`, not twice.
    let four = ranked(&["gonese.kr", "makume.com", "komu.fr", "zato.de"]);
    assert!(has_reason(&four, "helo_names=4"), "{:?}", four.reasons);
    assert!(!has_reason(&four, "helo_varies"), "{:?}", four.reasons);
}

/// Ten sessions to ten outside servers, each carrying a body, as flows see
/// them: what a small MTA and a low-rate bot mailing live servers both look
/// like without the dialogue.
fn ten_accepted_flows(host: IpAddr) -> Vec<SessionRecord> {
    (0..10u64)
        .map(|i| accepted_flow(host, outside(i * 31), T0 + i as i64 * 5 * MIN))
        .collect()
}

#[test]
fn on_a_dynamic_address_the_well_behaved_credit_needs_a_helo() {
    let cfg = RankConfig::default();
    // Flows from a dynamic address: nothing shows a configured MTA.
    let r = rank(&ten_accepted_flows(ip("198.18.3.3")), &cfg);
    let dynamic = find(&r, "198.18.3.3");
    assert_eq!(dynamic.features.mail_sessions, 10);
    assert!(!has_reason(dynamic, "legit_mta"), "{:?}", dynamic.reasons);
    assert!(
        has_reason(dynamic, "dynamic_direct"),
        "{:?}",
        dynamic.reasons
    );
    assert_eq!(dynamic.verdict, Verdict::Suspect, "{dynamic:?}");
    // The same flows from a static address keep the credit.
    let r = rank(&ten_accepted_flows(ip("198.19.3.3")), &cfg);
    let fixed = find(&r, "198.19.3.3");
    assert!(has_reason(fixed, "legit_mta"), "{:?}", fixed.reasons);
    assert_eq!(fixed.verdict, Verdict::Clean, "{fixed:?}");
    // The same dynamic address seen in a capture, one proper HELO name in
    // every session: the customer's own server, credited.
    let records: Vec<SessionRecord> = (0..10u64)
        .map(|i| {
            let mut s = session(
                ip("198.18.3.3"),
                outside(i * 31),
                25,
                T0 + i as i64 * 5 * MIN,
                Outcome::Delivered,
            );
            s.helo = "mail.shop.example.jp".into();
            s
        })
        .collect();
    let r = rank(&records, &cfg);
    let captured = find(&r, "198.18.3.3");
    assert!(has_reason(captured, "legit_mta"), "{:?}", captured.reasons);
    assert_eq!(captured.verdict, Verdict::Clean, "{captured:?}");
    // The old rule stays one key away.
    let old = RankConfig {
        legit_mta_dynamic_needs_helo: false,
        ..RankConfig::default()
    };
    let r = rank(&ten_accepted_flows(ip("198.18.3.3")), &old);
    assert!(has_reason(find(&r, "198.18.3.3"), "legit_mta"));
}

/// A bot with hundreds of HELO names, of every kind: the names kept (64)
/// and so its HELO shares, top name and score must not depend on the order
/// its sessions arrive in, which several capture threads change from run to
/// run.
#[test]
fn many_helo_names_give_the_same_features_in_any_order() {
    let host = ip("198.18.3.3");
    let mut rng = Rng(77);
    let records: Vec<SessionRecord> = (0..400)
        .map(|i| {
            let mut r = session(
                host,
                outside(rng.below(100_000)),
                25,
                T0 + i * MIN,
                Outcome::Delivered,
            );
            r.helo = match i % 4 {
                0 => format!("[10.{}.{}.{}]", i % 7, i % 11, i % 13),
                1 => (0..8)
                    .map(|_| char::from(b'a' + rng.below(26) as u8))
                    .collect(),
                2 => format!("mail{i}.example.co.jp"),
                _ => format!("host{}", rng.below(1000)),
            };
            r
        })
        .collect();
    let cfg = RankConfig::default();
    let forward = rank(&records, &cfg);
    let mut reversed = records.clone();
    reversed.reverse();
    let backward = rank(&reversed, &cfg);
    let mut agg = HostAggregator::new(&network());
    for chunk in records.chunks(37).rev() {
        agg.push_batch(chunk);
    }
    let chunked = agg.finish(&cfg);
    let (a, b, c) = (
        find(&forward, "198.18.3.3"),
        find(&backward, "198.18.3.3"),
        find(&chunked, "198.18.3.3"),
    );
    // Every session's name counts, not only the 64 kept: the shares are
    // those of all 400 sessions, the names all distinct names.
    let names: std::collections::BTreeSet<&str> = records.iter().map(|r| r.helo.as_str()).collect();
    assert!(names.len() > 200, "{}", names.len());
    let f = &a.features;
    assert_eq!(
        (f.helo_distinct, f.helo_distinct_at_least),
        (names.len() as u64, false)
    );
    let count = |pick: fn(&op25b_rank::helo::HeloClass) -> bool| {
        records
            .iter()
            .filter(|r| pick(&op25b_rank::helo::classify_for(&r.helo, &host)))
            .count() as u64
    };
    assert_eq!(f.helo_sessions, 400);
    assert_eq!(f.helo_ip_literal, count(|c| c.ip_literal));
    assert_eq!(f.helo_random, count(|c| c.random));
    assert_eq!(f.helo_not_fqdn, count(|c| c.not_fqdn));
    assert!(f.helo_random > 0 && f.helo_not_fqdn > f.helo_ip_literal);
    for other in [b, c] {
        assert_eq!(a.features.helo_top, other.features.helo_top);
        assert_eq!(a.score, other.score);
        assert_eq!(a.reasons, other.reasons);
        assert_eq!(format!("{:?}", a.features), format!("{:?}", other.features));
    }
}

/// A bot with a fresh random name for every session, past the names kept
/// and past the names counted: its HELO shares stay those of all its
/// sessions (so it scores as high as a bot with fewer names), and its
/// distinct names show as a lower bound.
#[test]
fn a_fresh_helo_name_every_session_keeps_every_share() {
    let host = ip("198.18.3.4");
    let mut rng = Rng(5);
    let session_named = |i: i64, name: String| {
        let mut r = session(
            host,
            outside(1000 + i as u64),
            25,
            T0 + i * 1_000_000,
            Outcome::Delivered,
        );
        r.helo = name;
        r
    };
    let random_name = |rng: &mut Rng| -> String {
        let body: String = (0..9)
            .map(|_| char::from(b'a' + rng.below(26) as u8))
            .collect();
        format!("HOME-{}", body.to_uppercase())
    };
    let cfg = RankConfig::default();
    let ranked = |n: i64, rng: &mut Rng| {
        let records: Vec<SessionRecord> =
            (0..n).map(|i| session_named(i, random_name(rng))).collect();
        let random = records
            .iter()
            .filter(|r| op25b_rank::helo::classify_for(&r.helo, &host).random)
            .count() as u64;
        let r = rank(&records, &cfg);
        (find(&r, "198.18.3.4").clone(), random)
    };
    let (few, few_random) = ranked(95, &mut rng);
    let (many, many_random) = ranked(2000, &mut rng);
    for (h, random) in [(&few, few_random), (&many, many_random)] {
        assert!(has_reason(h, "helo_random"), "{:?}", h.reasons);
        assert!(has_reason(h, "helo_not_fqdn"), "{:?}", h.reasons);
        assert_eq!(h.features.helo_random, random);
        assert_eq!(h.features.helo_not_fqdn, h.features.helo_sessions);
    }
    assert_eq!(
        (
            few.features.helo_distinct,
            few.features.helo_distinct_at_least
        ),
        (95, false)
    );
    assert!(many.features.helo_distinct_at_least);
    assert_eq!(many.features.helo_distinct, 64 + 1024);
    assert!(
        many.reasons.iter().any(|r| r == "helo_names=1088+"),
        "{:?}",
        many.reasons
    );
    assert!(many.score >= few.score, "{} < {}", many.score, few.score);
}

/// Refused recipients are evidence by the sessions they came in: ten
/// refused in one session (a greylisting server refuses them all) weigh a
/// tenth of ten sessions' worth, as one refused session would.
#[test]
fn refused_recipients_weigh_by_their_sessions() {
    let cfg = RankConfig::default();
    let points = |answered: u64| {
        let f = op25b_rank::HostFeatures {
            sessions: answered,
            answered_sessions: answered,
            has_dialogue: true,
            rcpt_rejected: 10,
            ..op25b_rank::HostFeatures::default()
        };
        op25b_rank::score::contributions(&f, &cfg)
            .iter()
            .filter(|c| c.reason.starts_with("rcpt_rejected="))
            .map(|c| c.points)
            .sum::<f64>()
    };
    assert!(
        (points(10) - cfg.w_rcpt_rejected).abs() < 1e-9,
        "{}",
        points(10)
    );
    assert!(
        (points(1) - cfg.w_rcpt_rejected / 10.0).abs() < 1e-9,
        "{}",
        points(1)
    );
}
