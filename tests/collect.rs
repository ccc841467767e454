//! `op25b collect` over loopback UDP: the synth NetFlow v9 and IPFIX exports
//! are replayed to a running collector, which is stopped with SIGTERM; the
//! sessions it wrote must be the sessions offline decoding of the same
//! datagrams gives. Nothing it received may be lost.

mod common;

use op25b_core::SessionRecord;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
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

fn datagrams_of(capture: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    op25b_capture::ingest(
        &[capture.to_path_buf()],
        &op25b_capture::CaptureOptions::default(),
        &mut |_| {},
        &mut |d| out.push(d.payload.to_vec()),
    )
    .unwrap();
    out
}

#[test]
fn collector_loses_nothing_it_received() {
    let dir = common::synth("wakwak-2005", 21, 0.05, 1);
    for file in ["before-netflow9.pcap", "before-ipfix.pcap"] {
        let offline = common::ingest(&dir, file, &[&dir.join(file)]);
        assert!(!offline.is_empty());
        let datagrams = datagrams_of(&dir.join(file));

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
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{file}: collector failed: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{} datagrams", datagrams.len())),
            "{file}: {stderr}"
        );
        // The counts are named lines, not debug structures.
        for line in [
            format!("  sessions: {} total;", offline.len()),
            "  malformed: none\n".to_string(),
        ] {
            assert!(stderr.contains(&line), "{file}: no {line:?} in {stderr}");
        }

        let mut live = Vec::new();
        for entry in std::fs::read_dir(out.path()).unwrap() {
            let path = entry.unwrap().path();
            op25b_store::read_sessions(&path, &mut |r| live.push(r)).unwrap();
        }
        assert_eq!(
            by_key(&live),
            by_key(&offline),
            "{file}: live and offline sessions differ"
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
