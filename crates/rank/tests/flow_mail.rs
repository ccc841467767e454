//! "Carried mail" on flow records (a message body was transmitted, seen in
//! byte counts only) and share signals that submissions cannot dilute.
//!
//! The flow records' byte counts are computed here from the SMTP text of
//! each dialogue (one TCP segment per command or reply, 40 bytes of IPv4 +
//! TCP header each, plus the handshake and FIN packets), the way an exporter
//! would count them, so the expected answers follow from RFC 5321 dialogues
//! rather than from the code under test.

use op25b_core::{IspConfig, Outcome, SessionRecord, Source, tcp_flags};
use op25b_rank::{HostAggregator, RankConfig, carried_mail};
use std::net::IpAddr;

const HEADER: u64 = 40;

/// A flow-paired session record whose per-direction counts are those of the
/// given segments (payload texts), plus SYN/SYN-ACK, the final ACKs and FINs.
fn flow_record(client_segments: &[&str], server_segments: &[&str]) -> SessionRecord {
    let client: IpAddr = "198.18.1.2".parse().unwrap();
    let server: IpAddr = "203.0.113.9".parse().unwrap();
    let mut r = SessionRecord::new(Source::Netflow5, client, 40000, server, 25);
    // SYN, handshake ACK, FIN: 3 bare packets per side (SYN-ACK, ACK, FIN).
    let bytes =
        |segs: &[&str]| segs.iter().map(|s| s.len() as u64 + HEADER).sum::<u64>() + 3 * HEADER;
    r.packets_c2s = client_segments.len() as u64 + 3;
    r.packets_s2c = server_segments.len() as u64 + 3;
    r.bytes_c2s = bytes(client_segments);
    r.bytes_s2c = bytes(server_segments);
    r.flags_c2s = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN;
    r.flags_s2c = r.flags_c2s;
    r.outcome = Outcome::Unknown;
    r
}

const GREETING: &str = "220 mx.example.net ESMTP Postfix\r\n";
const EHLO_REPLY: &str = "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n";

fn body(len: usize) -> String {
    let mut b = String::from(
        "From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: hello\r\n\
         Date: Tue, 1 Nov 2005 10:00:00 +0900\r\nMessage-ID: <1@example.org>\r\n\r\n",
    );
    while b.len() < len {
        b.push_str("some words of a short note\r\n");
    }
    b.push_str(".\r\n");
    b
}

#[test]
fn many_refused_recipients_without_data_carry_no_mail() {
    let rcpts: Vec<String> = (0..25)
        .map(|i| format!("RCPT TO:<user{i:02}@example.net>\r\n"))
        .collect();
    let mut c = vec!["EHLO [192.168.1.2]\r\n", "MAIL FROM:<x@example.com>\r\n"];
    c.extend(rcpts.iter().map(String::as_str));
    c.extend(["RSET\r\n", "QUIT\r\n"]);
    let refusal = "550 5.1.1 <userNN@example.net>: Recipient address rejected: User unknown\r\n";
    let mut s = vec![GREETING, EHLO_REPLY, "250 2.1.0 Ok\r\n"];
    s.extend(std::iter::repeat_n(refusal, 25));
    s.extend(["250 2.0.0 Ok\r\n", "221 2.0.0 Bye\r\n"]);
    let r = flow_record(&c, &s);
    assert!(r.bytes_c2s > 1500, "a busy dialogue: {} bytes", r.bytes_c2s);
    assert!(!carried_mail(&r));
}

#[test]
fn a_short_body_counts_whether_accepted_or_refused() {
    let b = body(600);
    let c = [
        "EHLO [192.168.1.2]\r\n",
        "MAIL FROM:<x@example.com>\r\n",
        "RCPT TO:<b@example.net>\r\n",
        "DATA\r\n",
        b.as_str(),
        "QUIT\r\n",
    ];
    for last in [
        "250 2.0.0 Ok: queued as 4F2A1B3C9D\r\n",
        "554 5.7.1 Message rejected: looks like spam\r\n",
    ] {
        let s = [
            GREETING,
            EHLO_REPLY,
            "250 2.1.0 Ok\r\n",
            "250 2.1.5 Ok\r\n",
            "354 End data with <CR><LF>.<CR><LF>\r\n",
            last,
            "221 2.0.0 Bye\r\n",
        ];
        let r = flow_record(&c, &s);
        // Under the 2000 bytes a byte threshold on the client side wanted.
        assert!(r.bytes_c2s < 2000, "{} bytes", r.bytes_c2s);
        assert!(carried_mail(&r), "body with final reply {last:?}");
    }
}

#[test]
fn submissions_do_not_dilute_refused_port25_attempts() {
    let cfg = IspConfig::parse_str(
        "[network]\ninternal = [\"198.18.0.0/15\"]\ndynamic_pools = [\"198.18.0.0/17\"]\n\
         mail_servers = [\"198.19.255.10\", \"198.19.255.25\"]\n",
    )
    .unwrap();
    let bot: IpAddr = "198.18.7.7".parse().unwrap();
    // 12 direct port-25 attempts to different servers, each refused at RCPT
    // (answered, no body), and 30 submissions with a body to the ISP.
    let refused = |i: u64| {
        let mut r = flow_record(
            &[
                "EHLO x\r\n",
                "MAIL FROM:<a@b.c>\r\n",
                "RCPT TO:<d@e.f>\r\n",
                "QUIT\r\n",
            ],
            &[
                GREETING,
                EHLO_REPLY,
                "250 2.1.0 Ok\r\n",
                "554 5.7.1 Relay access denied\r\n",
                "221 Bye\r\n",
            ],
        );
        r.client = bot;
        r.server = IpAddr::from([203, 0, 113, (i + 1) as u8]);
        r.start = 1_130_806_800_000_000 + i as i64 * 60_000_000;
        r.end = r.start + 1_000_000;
        r
    };
    let b = body(3000);
    let submission = |i: u64| {
        let mut r = flow_record(
            &[
                "EHLO x\r\n",
                "AUTH PLAIN AGFAYg==\r\n",
                "MAIL FROM:<a@b.c>\r\n",
                "RCPT TO:<d@e.f>\r\n",
                "DATA\r\n",
                b.as_str(),
                "QUIT\r\n",
            ],
            &[
                GREETING,
                EHLO_REPLY,
                "235 ok\r\n",
                "250 Ok\r\n",
                "250 Ok\r\n",
                "354 go\r\n",
                "250 queued\r\n",
                "221 Bye\r\n",
            ],
        );
        r.client = bot;
        r.server = "198.19.255.25".parse().unwrap();
        r.server_port = 587;
        r.start = 1_130_806_800_000_000 + i as i64 * 90_000_000;
        r.end = r.start + 1_000_000;
        r
    };
    let rank = |with_submissions: bool| {
        let mut agg = HostAggregator::new(&cfg.network);
        for i in 0..12 {
            agg.push(&refused(i));
        }
        if with_submissions {
            for i in 0..30 {
                agg.push(&submission(i));
            }
        }
        agg.finish(&RankConfig::default())
    };
    let alone = rank(false);
    let mixed = rank(true);
    let (a, m) = (&alone.hosts[0], &mixed.hosts[0]);
    assert_eq!(m.features.submitted_mail_sessions, 30);
    assert_eq!(m.features.direct25.answered, 12);
    assert_eq!(m.features.direct25.mail, 0);
    assert!(
        m.reasons.iter().any(|r| r == "no_mail=1.00"),
        "{:?}",
        m.reasons
    );
    assert!(
        m.score + 1e-9 >= a.score,
        "submissions lowered the score: {} < {}",
        m.score,
        a.score
    );
}
