//! The captures, read back with a small independent reader: classic pcap
//! headers, non-decreasing timestamps, VLAN stacks, valid IPv4 header, TCP
//! and UDP checksums, and the packet counts truth.json states.

mod common;

use common::{generate, u};

/// RFC 1071 checksum, written here independently of the crate.
fn ones_sum(data: &[u8], mut acc: u32) -> u32 {
    let mut i = 0;
    while i + 1 < data.len() {
        acc += u32::from(data[i]) << 8 | u32::from(data[i + 1]);
        i += 2;
    }
    if i < data.len() {
        acc += u32::from(data[i]) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

#[derive(Default, Debug)]
struct Stats {
    packets: u64,
    dot1q: u64,
    qinq: u64,
    ipv4: u64,
    ipv6: u64,
    tcp: u64,
    udp: u64,
}

fn check(path: &std::path::Path) -> Stats {
    let data = std::fs::read(path).expect("capture");
    assert_eq!(
        &data[0..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond magic"
    );
    assert_eq!(
        u32::from_le_bytes([data[20], data[21], data[22], data[23]]),
        1,
        "Ethernet"
    );
    let mut off = 24;
    let mut last = 0u64;
    let mut st = Stats::default();
    while off < data.len() {
        let h = &data[off..off + 16];
        let secs = u64::from(u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
        let usec = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        assert!(usec < 1_000_000);
        let incl = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let orig = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
        assert_eq!(incl, orig, "whole packets");
        let ts = secs * 1_000_000 + usec;
        assert!(ts >= last, "timestamps go backwards at offset {off}");
        last = ts;
        let frame = &data[off + 16..off + 16 + incl];
        off += 16 + incl;
        st.packets += 1;
        let mut l2 = 12;
        let mut ethertype = u16::from_be_bytes([frame[l2], frame[l2 + 1]]);
        if ethertype == 0x88a8 {
            st.qinq += 1;
            l2 += 4;
            ethertype = u16::from_be_bytes([frame[l2], frame[l2 + 1]]);
            assert_eq!(ethertype, 0x8100, "QinQ inner tag");
        }
        if ethertype == 0x8100 {
            st.dot1q += 1;
            l2 += 4;
            ethertype = u16::from_be_bytes([frame[l2], frame[l2 + 1]]);
        }
        let ip = &frame[l2 + 2..];
        let (proto, l4, pseudo) = match ethertype {
            0x0800 => {
                st.ipv4 += 1;
                assert_eq!(ip[0], 0x45);
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                assert_eq!(total, ip.len(), "IPv4 total length");
                assert_eq!(fold(ones_sum(&ip[..20], 0)), 0xFFFF, "IPv4 header checksum");
                let l4 = &ip[20..];
                let pseudo = ones_sum(&ip[12..20], 0) + u32::from(ip[9]) + l4.len() as u32;
                (ip[9], l4, pseudo)
            }
            0x86dd => {
                st.ipv6 += 1;
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                assert_eq!(plen + 40, ip.len(), "IPv6 payload length");
                let l4 = &ip[40..];
                let pseudo = ones_sum(&ip[8..40], 0) + u32::from(ip[6]) + l4.len() as u32;
                (ip[6], l4, pseudo)
            }
            other => panic!("unexpected ethertype {other:#x}"),
        };
        match proto {
            6 => st.tcp += 1,
            17 => st.udp += 1,
            p => panic!("unexpected protocol {p}"),
        }
        assert_eq!(
            fold(ones_sum(l4, pseudo)),
            0xFFFF,
            "transport checksum, packet {}",
            st.packets
        );
    }
    assert_eq!(off, data.len(), "no trailing bytes");
    st
}

#[test]
fn captures_are_well_formed_and_counted() {
    let s = generate("wakwak-2005", 21, 0.1, 1);
    for phase in ["before", "after"] {
        let st = check(&s.path(&format!("{phase}.pcap")));
        assert_eq!(
            st.packets,
            u(&s.truth["phases"][phase]["packets"]),
            "{phase}"
        );
        assert!(st.tcp > 0 && st.udp > 0, "{st:?}");
        assert!(st.dot1q > 0 && st.qinq > 0, "VLAN tags present: {st:?}");
        assert!(st.qinq < st.dot1q, "{st:?}");
        let exports = &s.truth["phases"][phase]["flow_exports"];
        for (file, key) in [
            ("netflow5", "netflow5"),
            ("netflow9", "netflow9"),
            ("ipfix", "ipfix"),
        ] {
            let est = check(&s.path(&format!("{phase}-{file}.pcap")));
            assert_eq!(est.packets, u(&exports[key]["datagrams"]), "{phase} {file}");
            assert_eq!(est.udp, est.packets);
        }
    }
}

#[test]
fn some_hosts_speak_ipv6() {
    let s = generate("wakwak-2005", 22, 0.5, 1);
    let st = check(&s.path("before.pcap"));
    assert!(st.ipv6 > 0 && st.ipv6 < st.ipv4 / 4, "{st:?}");
    let v5 = &s.truth["phases"]["before"]["flow_exports"]["netflow5"];
    assert!(u(&v5["not_exportable_ipv6_flows"]) > 0);
}
