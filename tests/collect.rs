//! `op25b collect` over loopback UDP: the synth NetFlow v9 and IPFIX exports
//! are replayed to a running collector, which is stopped with SIGTERM; the
//! sessions it wrote must be the sessions offline decoding of the same
//! datagrams gives. Nothing it received may be lost, and what it never
//! received is counted from the exporters' sequence numbers.

mod common;

use op25b_core::SessionRecord;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

type Key = (std::net::IpAddr, u16, std::net::IpAddr, u16);

fn by_key(records: &[SessionRecord]) -> BTreeMap<Key, (u64, u64, u64, u64)> {
    records
        .iter()
        .map(|r| {
            (
                (r.client, r.client_port, r.server, r.server_port),
                (r.packets_c2s, r.packets_s2c, r.bytes_c2s, r.bytes_s2c),
            )
        })
        .collect()
}

/// Replays `datagrams` over loopback to a running `op25b collect`, stops it
/// with SIGTERM; its stderr and the sessions it wrote.
fn replay(datagrams: &[Vec<u8>]) -> (String, Vec<SessionRecord>) {
    // A free loopback port: bind, read it, release, hand it to the collector.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tempfile::tempdir().unwrap();
    let child = common::op25b()
        .args(["collect", "--listen", &format!("127.0.0.1:{port}"), "-o"])
        .arg(out.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, d) in datagrams.iter().enumerate() {
        sender.send_to(d, ("127.0.0.1", port)).unwrap();
        if i % 32 == 31 {
            // Stay within the receive buffer: the test is about shutdown, not overload.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "collector failed: {stderr}");
    let mut live = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        op25b_store::read_sessions(&path, &mut |r| live.push(r)).unwrap();
    }
    (stderr, live)
}

#[test]
fn collector_loses_nothing_it_received() {
    let dir = common::synth("wakwak-2005", 21, 0.05, 1);
    for file in ["before-netflow9.pcap", "before-ipfix.pcap"] {
        let offline = common::ingest(&dir, file, &[&dir.join(file)]);
        assert!(!offline.is_empty());
        let datagrams = common::datagrams_of(&dir.join(file));
        let (stderr, live) = replay(&datagrams);
        assert!(
            stderr.contains(&format!("{} datagrams", datagrams.len())),
            "{file}: {stderr}"
        );
        // The counts are named lines, not debug structures; nothing was
        // skipped in the exporters' sequence numbers.
        for line in [
            format!("  sessions: {} total;", offline.len()),
            "  malformed: none\n".to_string(),
            "  sequence numbers skipped (lost before reading): none\n".to_string(),
        ] {
            assert!(stderr.contains(&line), "{file}: no {line:?} in {stderr}");
        }
        assert_eq!(
            by_key(&live),
            by_key(&offline),
            "{file}: live and offline sessions differ"
        );
    }
}

/// Datagrams lost between exporter and collector (here: not sent) show in
/// the exporters' sequence numbers, and the collector's summary counts
/// exactly what they held: IPFIX data records, v9 datagrams.
#[test]
fn datagrams_lost_on_the_way_are_counted() {
    let dir = common::synth("wakwak-2005", 22, 0.05, 1);
    for (file, unit) in [
        ("before-ipfix.pcap", "ipfix_records"),
        ("before-netflow9.pcap", "v9_datagrams"),
    ] {
        let datagrams = common::datagrams_of(&dir.join(file));
        // What each datagram holds, read alone in order: data records, and
        // whether it carries templates (losing one would hold later data).
        let mut decoder = op25b_flow::FlowDecoder::new(op25b_flow::DecoderOptions::default());
        let from: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut sent = Vec::new();
        let mut lost = 0u64;
        for (i, d) in datagrams.iter().enumerate() {
            let before = decoder.stats().clone();
            decoder.decode(from, 0, d, &mut Vec::new());
            let after = decoder.stats();
            let records = (after.records()
                + after.options_records
                + after.records_without_addresses)
                - (before.records() + before.options_records + before.records_without_addresses);
            let templates = (after.templates + after.options_templates + after.templates_refreshed)
                != (before.templates + before.options_templates + before.templates_refreshed);
            if i % 7 == 3 && !templates && i + 1 < datagrams.len() {
                lost += if unit == "v9_datagrams" { 1 } else { records };
            } else {
                sent.push(d.clone());
            }
        }
        assert!(lost > 5, "{file}: {lost}");
        let (stderr, _) = replay(&sent);
        let line = stderr
            .lines()
            .find(|l| l.contains("sequence numbers skipped"))
            .unwrap_or_default();
        assert!(
            line.contains(&format!("{unit}={lost}")),
            "{file}: {lost} lost, but: {stderr}"
        );
    }
}

/// A port already in use fails before anything is announced or created; a
/// port of 0 is announced as the port the system chose.
#[test]
fn collector_binds_before_it_announces() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let o = common::op25b()
        .args(["collect", "--listen", &format!("127.0.0.1:{port}"), "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(!out.exists());

    let mut child = common::op25b()
        .args(["collect", "--listen", "127.0.0.1:0", "-o"])
        .arg(dir.path().join("any"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let announced = stderr
        .split("listening on udp 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|p| p.parse::<u16>().ok());
    assert!(announced.is_some_and(|p| p != 0), "{stderr}");
}
