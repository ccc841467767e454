//! The hand-written decoder against etherparse (strict `SlicedPacket`), an
//! independent decoder, on every Ethernet frame of the corpus captures:
//! where etherparse decodes TCP or UDP over IPv4/IPv6, both must agree on
//! addresses, ports, sequence number and payload.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use op25b_capture::decode::{PROTO_TCP, PROTO_UDP, decode, linktype};
use std::net::IpAddr;
use std::path::PathBuf;

/// Frames of a little-endian microsecond Ethernet pcap (what most of the corpus is).
fn ethernet_frames(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    if bytes.len() < 24 || bytes[..4] != [0xd4, 0xc3, 0xb2, 0xa1] || bytes[20..24] != [1, 0, 0, 0] {
        return out;
    }
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen =
            u32::from_le_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]])
                as usize;
        let Some(frame) = bytes.get(at + 16..at + 16 + caplen) else {
            break;
        };
        out.push(frame);
        at += 16 + caplen;
    }
    out
}

#[test]
fn agrees_with_etherparse_on_the_corpus() {
    let dir = std::env::var_os("OP25B_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpus"
            ))
        });
    if !dir.join("smtp").is_dir() {
        println!("skipped: corpus not found");
        return;
    }
    let mut compared = 0u64;
    for sub in [
        "smtp/zeek",
        "smtp/suricata-verify",
        "smtp/arkime",
        "smtp/ndpi",
        "netflow/pmacct",
        "netflow/akvorado",
    ] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            for frame in ethernet_frames(&bytes) {
                let Ok(theirs) = SlicedPacket::from_ethernet(frame) else {
                    continue;
                };
                let (src, dst): (IpAddr, IpAddr) = match &theirs.net {
                    Some(NetSlice::Ipv4(v4)) => (
                        v4.header().source_addr().into(),
                        v4.header().destination_addr().into(),
                    ),
                    Some(NetSlice::Ipv6(v6)) => (
                        v6.header().source_addr().into(),
                        v6.header().destination_addr().into(),
                    ),
                    _ => continue,
                };
                let (proto, sport, dport, seq, payload) = match &theirs.transport {
                    Some(TransportSlice::Tcp(t)) => (
                        PROTO_TCP,
                        t.source_port(),
                        t.destination_port(),
                        t.sequence_number(),
                        t.payload(),
                    ),
                    Some(TransportSlice::Udp(u)) => (
                        PROTO_UDP,
                        u.source_port(),
                        u.destination_port(),
                        0,
                        u.payload(),
                    ),
                    _ => continue,
                };
                let ours = decode(linktype::ETHERNET, frame).unwrap_or_else(|r| {
                    panic!("{}: etherparse decodes, ours: {r}", e.path().display())
                });
                assert_eq!((ours.src, ours.dst), (src, dst), "{}", e.path().display());
                assert_eq!(
                    (ours.protocol, ours.src_port, ours.dst_port, ours.seq),
                    (proto, sport, dport, seq),
                    "{}",
                    e.path().display()
                );
                assert_eq!(ours.payload, payload, "{}", e.path().display());
                compared += 1;
            }
        }
    }
    assert!(compared > 5000, "only {compared} frames compared");
}
