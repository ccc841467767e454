//! The reader on whole logs: a customer's message followed through the
//! submission server and a content filter to the outside, rotated files,
//! compression, damage; and on the simulated ISP's log against its ground
//! truth.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use op25b_core::{InputError, IspConfig, Network};
use op25b_maillog::{ClassicTime, MailLogStats, Origin, RelayDelivery, read_files};

const UTC_2026: ClassicTime = ClassicTime {
    year: 2026,
    utc_offset_s: 0,
};

fn network() -> Network {
    IspConfig::parse_str(
        "[network]\ninternal = [\"198.18.0.0/15\"]\ndynamic_pools = [\"198.18.0.0/17\"]\nmail_servers = [\"198.19.255.10\", \"198.19.255.25\"]\n",
    )
    .unwrap()
    .network
}

fn read(paths: &[PathBuf]) -> Result<(Vec<RelayDelivery>, MailLogStats), InputError> {
    let mut out = Vec::new();
    let stats = read_files(paths, &network(), UTC_2026, &mut |d| out.push(d))?;
    Ok((out, stats))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A customer submits on 587 to `smtp`, which hands the message to the
/// relay `mail`; the relay passes it through amavis on 127.0.0.1 and
/// delivers to two outside servers (one refuses the body, one takes it).
/// Another customer's message handed in before the rotation is delivered
/// after it, and refused: the relay's bounce to its sender goes out too,
/// and so does a message made on the relay itself.
const FIRST: &str = "\
Nov 28 23:59:58 mail postfix/smtpd[2001]: 1A2B3C4D5E: client=p1.isp.example[198.18.0.7], sasl_method=PLAIN, sasl_username=u7
Nov 28 23:59:58 mail postfix/cleanup[2002]: 1A2B3C4D5E: message-id=<x1@isp.example>
Nov 28 23:59:59 mail postfix/qmgr[2003]: 1A2B3C4D5E: from=<u7@isp.example>, size=1200, nrcpt=1 (queue active)
";

const SECOND: &str = "\
Nov 29 00:00:01 smtp postfix/submission/smtpd[100]: AAAA000001: client=unknown[198.18.3.4], sasl_method=LOGIN, sasl_username=bot
Nov 29 00:00:01 smtp postfix/qmgr[101]: AAAA000001: from=<a@isp.example>, size=900, nrcpt=3 (queue active)
Nov 29 00:00:02 mail postfix/smtpd[200]: BBBB000002: client=smtp.isp.example[198.19.255.25]
Nov 29 00:00:02 smtp postfix/smtp[102]: AAAA000001: to=<x@a.example>, relay=mail.isp.example[198.19.255.10]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB000002)
Nov 29 00:00:02 smtp postfix/smtp[102]: AAAA000001: to=<y@a.example>, relay=mail.isp.example[198.19.255.10]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB000002)
Nov 29 00:00:02 smtp postfix/smtp[102]: AAAA000001: to=<z@b.example>, relay=mail.isp.example[198.19.255.10]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB000002)
Nov 29 00:00:02 smtp postfix/qmgr[101]: AAAA000001: removed
Nov 29 00:00:03 mail postfix/smtp[201]: BBBB000002: to=<x@a.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as CCCC000003)
Nov 29 00:00:03 mail postfix/smtpd[202]: CCCC000003: client=localhost[127.0.0.1]
Nov 29 00:00:03 mail postfix/qmgr[203]: BBBB000002: removed
Nov 29 00:00:04 mail postfix/smtp[204]: CCCC000003: to=<x@a.example>, relay=mx.a.example[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
Nov 29 00:00:04 mail postfix/smtp[204]: CCCC000003: to=<y@a.example>, relay=mx.a.example[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
Nov 29 00:00:04 mail postfix/smtp[205]: CCCC000003: to=<z@b.example>, relay=mx.b.example[2001:db8::b]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.7.1, status=bounced (host mx.b.example[2001:db8::b] said: 554 5.7.1 spam (in reply to end of DATA command))
Nov 29 00:00:05 mail postfix/qmgr[203]: CCCC000003: removed
Nov 29 00:00:06 mail postfix/smtp[206]: 1A2B3C4D5E: to=<q@c.example>, relay=mx.c.example[192.0.2.3]:25, delay=8, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.c.example[192.0.2.3] said: 550 5.1.1 unknown user (in reply to RCPT TO command))
Nov 29 00:00:06 mail postfix/bounce[207]: 1A2B3C4D5E: sender non-delivery notification: DDDD000004
Nov 29 00:00:07 mail postfix/smtp[206]: DDDD000004: to=<u7@c.example>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.c.example[192.0.2.3]:25: Connection timed out)
Nov 29 00:00:08 mail postfix/smtp[208]: DDDD000004: to=<u7@c.example>, relay=mx2.c.example[192.0.2.4]:25, delay=2, delays=0/0/1/1, dsn=2.0.0, status=sent (250 ok)
Nov 29 00:00:09 mail dovecot: imap-login: Login: user=<u7>
Nov 29 00:00:09 mail postfix/pickup[210]: EEEE000006: uid=0 from=<root>
Nov 29 00:00:09 mail postfix/smtp[211]: EEEE000006: to=<ops@d.example>, relay=mx.d.example[192.0.2.8]:25, delay=0.3, delays=0/0/0.1/0.2, dsn=2.0.0, status=sent (250 ok)
Nov 29 00:00:09 mail postfix/smtpd[209]: connect from unknown[198.18.9.9]
Nov 29 00:00:10 mail postfix/smtpd[209]: XXXX000009: client=mangled
this line is not syslog
";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn messages_are_followed_from_the_customer_to_the_outside() {
    let dir = tempfile::tempdir().unwrap();
    // Named so that name order is the wrong order: the reader sorts by time.
    let rotated = write(dir.path(), "maillog.1.gz", &gzip(FIRST));
    let current = write(dir.path(), "maillog", SECOND.as_bytes());
    let (deliveries, stats) = read(&[current, rotated]).unwrap();

    let bot = Origin::Client(ip("198.18.3.4"));
    let summary: Vec<(Origin, IpAddr, u32, bool, bool)> = deliveries
        .iter()
        .map(|d| (d.origin, d.receiver, d.recipients, d.body_sent, d.accepted))
        .collect();
    assert_eq!(
        summary,
        vec![
            (bot, ip("192.0.2.1"), 2, true, true),
            (bot, ip("2001:db8::b"), 1, true, false),
            (
                Origin::Client(ip("198.18.0.7")),
                ip("192.0.2.3"),
                1,
                false,
                false
            ),
            // The bounce about that message: its sender's.
            (
                Origin::Client(ip("198.18.0.7")),
                ip("192.0.2.4"),
                1,
                true,
                true
            ),
            (Origin::Local, ip("192.0.2.8"), 1, true, true),
        ]
    );
    assert_eq!(stats.files.len(), 2);
    assert_eq!(stats.hops, 2, "smtp → mail, mail → amavis → mail");
    assert_eq!(stats.internal_deliveries, 2);
    assert_eq!(stats.not_connected_recipients, 1);
    assert_eq!(stats.deliveries, 5);
    assert_eq!(stats.bounces, 1);
    assert_eq!(
        (
            stats.deliveries_from_clients,
            stats.deliveries_local,
            stats.deliveries_unknown_origin
        ),
        (4, 1, 0)
    );
    assert_eq!(stats.malformed_postfix_lines, 1, "client=mangled");
    assert_eq!(stats.unreadable_lines, 1);
    assert_eq!(stats.other_program_lines, 1, "dovecot");
    // Every line is in exactly one count.
    let used = stats.submissions
        + stats.local_submissions
        + stats.bounces
        + stats.removed
        + stats.recipient_lines;
    assert_eq!(
        stats.lines,
        used + stats.unreadable_lines
            + stats.other_program_lines
            + stats.unused_postfix_lines
            + stats.malformed_postfix_lines
    );
}

#[test]
fn a_delivery_whose_submission_is_not_in_the_log_has_an_unknown_origin() {
    let dir = tempfile::tempdir().unwrap();
    let only_second = write(dir.path(), "maillog", SECOND.as_bytes());
    let (deliveries, stats) = read(&[only_second]).unwrap();
    // The message handed in before the log starts, and the bounce about it.
    assert_eq!(deliveries[2].origin, Origin::Unknown);
    assert_eq!(deliveries[3].origin, Origin::Unknown);
    assert_eq!(stats.deliveries_unknown_origin, 2);
    assert_eq!(deliveries[4].origin, Origin::Local);
}

#[test]
fn a_file_that_is_not_a_syslog_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "flows.csv",
        "ts,sa,da\n1,2,3\n".repeat(100).as_bytes(),
    );
    let err = read(std::slice::from_ref(&csv)).unwrap_err().to_string();
    assert!(err.contains(&csv.display().to_string()), "{err}");
    assert!(err.contains("not a syslog file"), "{err}");
    let missing = dir.path().join("nope");
    let err = read(&[missing]).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn binary_junk_and_overlong_lines_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = SECOND.as_bytes().to_vec();
    bytes.extend(std::iter::repeat_n(b'x', op25b_maillog::MAX_LINE * 3));
    bytes.push(b'\n');
    bytes.extend(b"Nov 29 00:00:11 mail postfix/qmgr[203]: 1A2B3C4D5E: removed\n");
    bytes.extend([0xff, 0xfe, b'\n']);
    bytes.extend(b"Nov 29 00:00:12 mail postfix/smtpd[1]: EEEE000005: client=h[198.18.0.9]\xff\n");
    let p = write(dir.path(), "maillog", &bytes);
    let (_, stats) = read(&[p]).unwrap();
    assert_eq!(stats.unreadable_lines, 3, "text line, overlong line, junk");
    assert_eq!(stats.non_utf8_lines, 2);
    assert_eq!(stats.removed, 4);
    assert_eq!(stats.submissions, 4, "three in SECOND, one here");
}

#[test]
fn rotated_files_are_ordered_past_an_overlong_first_line() {
    // The older file starts with a line longer than any syslog writes; its
    // first timestamp is still found, so it is read first and the message
    // it hands in is traced in the newer one.
    let dir = tempfile::tempdir().unwrap();
    let mut older = vec![b'x'; op25b_maillog::MAX_LINE * 3];
    older.push(b'\n');
    older.extend(FIRST.as_bytes());
    let older = write(dir.path(), "maillog.1", &older);
    let newer = write(dir.path(), "maillog", SECOND.as_bytes());
    let first = op25b_maillog::first_time_us(&older, UTC_2026)
        .unwrap()
        .expect("a time after the overlong line");
    let second = op25b_maillog::first_time_us(&newer, UTC_2026)
        .unwrap()
        .unwrap();
    assert!(first < second);
    let (in_order, _) = read(&[older.clone(), newer.clone()]).unwrap();
    let (swapped, _) = read(&[newer, older]).unwrap();
    assert_eq!(in_order, swapped);
}

/// The simulated ISP writes its servers' log beside the captures; every
/// relay session in the ground truth must come out of it as one delivery,
/// with the customer who submitted it.
#[test]
fn the_simulated_isps_log_accounts_for_every_relay_session() {
    let dir = tempfile::tempdir().unwrap();
    op25b_synth::run(&op25b_synth::SynthOptions {
        profile: "wakwak-2005".into(),
        out_dir: dir.path().to_path_buf(),
        seed: 3,
        scale: 0.2,
        sampling: 1,
    })
    .unwrap();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    let hosts = truth["hosts"].as_array().unwrap();
    let zombie: HashMap<IpAddr, bool> = hosts
        .iter()
        .map(|h| {
            (
                ip(h["ip"].as_str().unwrap()),
                h["zombie"].as_bool().unwrap(),
            )
        })
        .collect();
    let relay = hosts.iter().find(|h| h["role"] == "isp_relay").unwrap();
    let net = IspConfig::load(&dir.path().join("isp.toml"))
        .unwrap()
        .network;
    let jst = ClassicTime {
        year: 2005,
        utc_offset_s: 9 * 3600,
    };
    for phase in ["before", "after"] {
        let mut deliveries = Vec::new();
        let stats = read_files(
            &[dir.path().join(format!("{phase}-maillog"))],
            &net,
            jst,
            &mut |d| deliveries.push(d),
        )
        .unwrap();
        let t = &relay[phase];
        assert_eq!(
            deliveries.len() as u64,
            t["outbound_sessions"].as_u64().unwrap(),
            "{phase}"
        );
        let accepted = deliveries.iter().filter(|d| d.accepted).count() as u64;
        assert_eq!(
            accepted,
            t["outbound_messages"].as_u64().unwrap(),
            "{phase}"
        );
        let from_zombies = deliveries
            .iter()
            .filter(|d| d.accepted && matches!(d.origin, Origin::Client(c) if zombie[&c]))
            .count() as u64;
        assert_eq!(
            from_zombies,
            t["spam_messages"].as_u64().unwrap(),
            "{phase}"
        );
        assert_eq!(stats.deliveries_unknown_origin, 0, "{phase}");
        assert_eq!(
            stats.unreadable_lines + stats.malformed_postfix_lines,
            0,
            "{phase}"
        );
        assert!(stats.hops > 0, "{phase}: submissions via smtp.isp.example");
        let start = truth["phases"][phase]["start_us"].as_i64().unwrap();
        let end = truth["phases"][phase]["end_us"].as_i64().unwrap();
        assert!(
            deliveries
                .iter()
                .all(|d| (start..=end).contains(&d.time_us)),
            "{phase}"
        );
    }
}

/// Two hosts' logs joined one after the other: the clock steps back an
/// hour in the middle, past the point where the reader sweeps (every 65 536
/// lines). No transaction may be split or merged by that.
#[test]
fn a_clock_that_steps_back_splits_no_transaction() {
    let messages = 9_000u32;
    // Five lines of another program first, so that the sweep (line 65 536)
    // falls on the fourth line of a message's seven, the third recipient:
    // inside a transaction.
    let mut text = "Nov 29 01:00:00 mail1 dovecot: starting\n".repeat(5);
    for (host, pid0) in [("mail1", 1000u32), ("mail2", 1000)] {
        for m in 0..messages {
            let (min, sec) = ((m / 100) % 60, (m % 100) * 6 / 10);
            let ts = format!("Nov 29 01:{min:02}:{sec:02}");
            let qid = format!("{host}Q{m:06}").replace("mail", "M");
            let pid = pid0 + m % 50;
            text += &format!(
                "{ts} {host} postfix/smtpd[9]: {qid}: client=c[198.18.1.{}]\n",
                m % 200
            );
            for r in 0..5 {
                text += &format!(
                    "{ts} {host} postfix/smtp[{pid}]: {qid}: to=<r{r}@x.example>, relay=mx.x.example[192.0.2.{}]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
                    1 + m % 7
                );
            }
            text += &format!("{ts} {host} postfix/qmgr[8]: {qid}: removed\n");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "joined", text.as_bytes());
    let (deliveries, stats) = read(&[p]).unwrap();
    assert!(
        stats.lines > 1 << 16,
        "the reader swept in the second host's part"
    );
    assert_eq!(deliveries.len() as u32, 2 * messages);
    assert!(deliveries.iter().all(|d| d.recipients == 5 && d.accepted));
    assert_eq!(stats.deliveries_unknown_origin, 0);
    // Each host's clock wraps past the hour: counted, and nothing lost by it.
    assert!(stats.lines_back_in_time > 0);
}

/// Lines of one host out of time order are counted: a delivery before its
/// `client=` line loses its origin, and the summary says why.
#[test]
fn lines_out_of_time_order_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (_, in_order) = read(&[write(dir.path(), "ok", SECOND.as_bytes())]).unwrap();
    assert_eq!(in_order.lines_back_in_time, 0);
    let mut lines: Vec<&str> = SECOND.lines().collect();
    // The relay's delivery of BBBB000002 (00:00:03) before the line that
    // says it came from the submission server (00:00:02).
    let at = lines
        .iter()
        .position(|l| l.contains("BBBB000002: to="))
        .unwrap();
    let from = lines
        .iter()
        .position(|l| l.contains("BBBB000002: client="))
        .unwrap();
    let moved = lines.remove(at);
    lines.insert(from, moved);
    let text = lines.join("\n") + "\n";
    let (_, swapped) = read(&[write(dir.path(), "swapped", text.as_bytes())]).unwrap();
    assert_eq!(swapped.lines_back_in_time, 1, "{swapped}");
    assert!(
        swapped
            .to_string()
            .contains("1 lines earlier than the line before them")
    );
}

/// A gzip'd log cut off (rotated while it was copied): the lines before the
/// cut are used, the damage is named with the file, and reading goes on with
/// the next file. A file broken before its first line is an error.
#[test]
fn a_truncated_compressed_log_is_damage_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let full = gzip(SECOND);
    let cut = write(dir.path(), "maillog.2.gz", &full[..full.len() * 2 / 3]);
    let (whole, _) = read(&[write(dir.path(), "whole", SECOND.as_bytes())]).unwrap();
    let (deliveries, stats) = read(std::slice::from_ref(&cut)).unwrap();
    assert_eq!(stats.damaged_files.len(), 1, "{:?}", stats.damaged_files);
    assert!(stats.damaged_files[0].contains("maillog.2.gz"));
    assert!(stats.lines > 0 && stats.lines < SECOND.lines().count() as u64);
    assert!(deliveries.len() < whole.len());
    let header_only = write(dir.path(), "header.gz", &full[..12]);
    let err = read(&[header_only]).unwrap_err().to_string();
    assert!(err.contains("header.gz"), "{err}");
}
