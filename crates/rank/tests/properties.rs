//! Property tests: the aggregation does not depend on how records are split
//! into batches or aggregators, and the score moves the right way with each
//! signal.

use op25b_core::{IspConfig, Network, Outcome, SessionRecord, Source};
use op25b_rank::score::contributions;
use op25b_rank::{HostAggregator, HostFeatures, RankConfig, write_hosts_csv, write_json_lines};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn network() -> Network {
    IspConfig::parse_str(
        "[network]\ninternal=[\"198.18.0.0/15\",\"2001:db8::/32\"]\ndynamic_pools=[\"198.18.0.0/17\"]\nmail_servers=[\"198.19.255.10\"]\n",
    )
    .unwrap()
    .network
}

fn addr(internal: bool, v6: bool, n: u16) -> IpAddr {
    match (internal, v6) {
        (true, false) => IpAddr::V4(Ipv4Addr::new(
            198,
            18 + (n % 2) as u8,
            (n >> 8) as u8,
            n as u8,
        )),
        (false, false) => IpAddr::V4(Ipv4Addr::new(203, 0, (n % 7) as u8, n as u8)),
        (true, true) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n)),
        (false, true) => IpAddr::V6(Ipv6Addr::new(0x2a00, 0, n % 5, 0, 0, 0, 0, n)),
    }
}

prop_compose! {
    fn record()(
        ci in any::<bool>(), cv6 in any::<bool>(), cn in 0u16..40,
        si in any::<bool>(), sn in 0u16..300,
        relay in 0u8..10,
        port in prop::sample::select(vec![25u16, 25, 25, 587, 465]),
        start in 0i64..(6 * 3600 * 1_000_000),
        dur in 0i64..60_000_000,
        outcome in prop::sample::select(Outcome::ALL.to_vec()),
        source in prop::sample::select(Source::ALL.to_vec()),
        helo in prop::sample::select(vec!["", "[1.2.3.4]", "mail.example.com", "xkqzvbnm", "mx.gmail.com", "PC"]),
        msgs in 0u32..3, acc in 0u32..4, rej in 0u32..4,
        bytes in 0u64..20_000,
    ) -> SessionRecord {
        let client = addr(ci, cv6, cn);
        let server = if relay == 0 && !cv6 { "198.19.255.10".parse().unwrap() } else { addr(si, cv6, sn) };
        let mut r = SessionRecord::new(source, client, 1024 + cn, server, port);
        r.start = 1_100_000_000_000_000 + start;
        r.end = r.start + dur;
        r.outcome = outcome;
        r.helo = helo.to_string();
        r.messages = msgs;
        r.rcpt_accepted = acc;
        r.rcpt_rejected = rej;
        r.bytes_c2s = bytes;
        r.bytes_s2c = bytes / 3;
        r.packets_c2s = 1 + bytes / 500;
        r.packets_s2c = bytes / 1500;
        r.flags_c2s = 0x02 | if bytes > 300 { 0x10 } else { 0 };
        r
    }
}

fn csv(agg: HostAggregator) -> String {
    let ranking = agg.finish(&RankConfig::default());
    // Best suspect first: verdict, then score and sessions descending, then address.
    for (i, w) in ranking.hosts.windows(2).enumerate() {
        let (a, b) = (&w[0], &w[1]);
        let key = |h: &op25b_rank::HostRank| {
            (
                h.verdict,
                -h.score,
                std::cmp::Reverse(h.features.sessions),
                h.features.host,
            )
        };
        assert!(
            key(a).partial_cmp(&key(b)) == Some(std::cmp::Ordering::Less),
            "{i}"
        );
        assert_eq!(a.rank as usize, i + 1);
    }
    let mut out = Vec::new();
    write_hosts_csv(&mut out, &ranking.hosts).unwrap();
    write_json_lines(&mut out, &ranking.hosts).unwrap();
    String::from_utf8(out).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// One record at a time, one parallel batch, or two aggregators merged:
    /// the same rows, byte for byte.
    #[test]
    fn batching_and_merging_do_not_change_the_result(
        records in prop::collection::vec(record(), 0..3000),
        cut in 0usize..3000,
    ) {
        let net = network();
        let mut serial = HostAggregator::new(&net);
        for r in &records {
            serial.push(r);
        }
        let mut batched = HostAggregator::new(&net);
        batched.push_batch(&records);
        // Force the parallel path even for small inputs by repeating the batch
        // into a second aggregator and comparing it with a doubled serial one.
        let cut = cut.min(records.len());
        let mut left = HostAggregator::new(&net);
        left.push_batch(&records[..cut]);
        let mut right = HostAggregator::new(&net);
        right.push_batch(&records[cut..]);
        left.merge(right);
        let expected = csv(serial);
        prop_assert_eq!(&expected, &csv(batched));
        prop_assert_eq!(&expected, &csv(left));
    }

    /// More fan-out, more failures, more refusals or a higher peak rate never
    /// lower the score; the score stays within the sum of the weights.
    #[test]
    fn score_is_monotone_in_each_bad_signal(
        fanout in 0u64..500, extra_fanout in 0u64..500,
        sessions in 1u64..1000,
        failed in 0.0f64..1.0, extra_failed in 0.0f64..1.0,
        rejected in 0.0f64..1.0, extra_rejected in 0.0f64..1.0,
        peak in 0u64..100, extra_peak in 0u64..100,
        dynamic in any::<bool>(),
    ) {
        let cfg = RankConfig::default();
        let base = HostFeatures {
            fanout,
            sessions,
            answered_sessions: sessions,
            direct25_sessions: sessions,
            blockable_sessions: if dynamic { sessions } else { 0 },
            failed_share: failed,
            rejected_share: rejected,
            peak_minute_sessions: peak,
            dynamic,
            ..HostFeatures::default()
        };
        let score = |f: &HostFeatures| contributions(f, &cfg).iter().map(|c| c.points).sum::<f64>();
        let s0 = score(&base);
        let max = cfg.w_fanout + cfg.w_failed + cfg.w_rejected + cfg.w_rcpt_rejected
            + cfg.w_dynamic_direct + cfg.w_rate + cfg.w_burst;
        prop_assert!(s0 >= -cfg.w_legit_mta - 1e-9 && s0 <= max + 1e-9);
        let worse = [
            HostFeatures { fanout: fanout + extra_fanout, ..base.clone() },
            HostFeatures { failed_share: (failed + extra_failed).min(1.0), ..base.clone() },
            HostFeatures { rejected_share: (rejected + extra_rejected).min(1.0), ..base.clone() },
            HostFeatures { peak_minute_sessions: peak + extra_peak, ..base.clone() },
        ];
        for w in &worse {
            // A worse failed share can also remove the legit-MTA credit: still not lower.
            prop_assert!(score(w) >= s0 - 1e-9, "{} < {}", score(w), s0);
        }
    }
}
