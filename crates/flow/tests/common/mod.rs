//! Test scaffolding: find the corpus, walk pcaps for export datagrams, and
//! parse the reference decodes (tshark `-O cflow` text, telegraf line
//! protocol). Not part of the library: the capture crate does the real pcap
//! work.
#![allow(dead_code)]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use op25b_flow::{FlowDecoder, FlowRecord};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};

pub fn corpus() -> Option<PathBuf> {
    let dir = match std::env::var_os("OP25B_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    if dir.join("netflow").is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus not found");
        None
    }
}

/// One UDP datagram out of a capture.
pub struct Datagram {
    pub from: SocketAddr,
    pub ts_us: i64,
    pub payload: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The UDP payload of an IPv4/IPv6 packet (no extension headers, no fragments).
fn udp_in_ip(ip: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let version = ip.first()? >> 4;
    let (src, l4) = match version {
        4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if *ip.get(9)? != 17 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(src)), ip.get(ihl..)?)
        }
        6 => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(src)), ip.get(40..)?)
        }
        _ => return None,
    };
    let sport = be16(l4, 0)?;
    let ulen = usize::from(be16(l4, 4)?);
    let payload = l4.get(8..ulen.min(l4.len()).max(8))?;
    Some((SocketAddr::new(src, sport), payload))
}

/// Every UDP datagram in a classic pcap (Ethernet + VLAN, Linux SLL, raw IP).
pub fn pcap_datagrams(path: &Path) -> Vec<Datagram> {
    let file = File::open(path).unwrap();
    let mut reader = LegacyPcapReader::new(1 << 20, file).unwrap();
    let mut linktype = 1;
    let mut out = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => linktype = h.network.0,
                    PcapBlockOwned::Legacy(b) => {
                        let data = b.data;
                        let ip = match linktype {
                            1 => {
                                let mut at = 12;
                                let mut et = be16(data, at);
                                while matches!(et, Some(0x8100) | Some(0x88a8)) {
                                    at += 4;
                                    et = be16(data, at);
                                }
                                data.get(at + 2..)
                            }
                            113 => data.get(16..),
                            101 | 228 | 229 => Some(data),
                            _ => None,
                        };
                        if let Some((from, payload)) = ip.and_then(udp_in_ip) {
                            out.push(Datagram {
                                from,
                                ts_us: i64::from(b.ts_sec) * 1_000_000 + i64::from(b.ts_usec),
                                payload: payload.to_vec(),
                            });
                        }
                    }
                    PcapBlockOwned::NG(_) => panic!("pcapng not expected"),
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    out
}

pub fn decode_pcap(path: &Path, dec: &mut FlowDecoder, out: &mut Vec<FlowRecord>) -> usize {
    let dgs = pcap_datagrams(path);
    for d in &dgs {
        dec.decode(d.from, d.ts_us, &d.payload, out);
    }
    dgs.len()
}

/// The fields compared against references.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub packets: u64,
    pub bytes: u64,
}

pub fn key_of(r: &FlowRecord) -> Key {
    Key {
        src: r.src,
        dst: r.dst,
        src_port: r.src_port,
        dst_port: r.dst_port,
        packets: r.packets,
        bytes: r.bytes,
    }
}

/// A flow record as tshark printed it.
#[derive(Clone, Debug, Default)]
pub struct TsharkFlow {
    pub src: Vec<IpAddr>,
    pub dst: Vec<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub octets: Option<u64>,
    pub total_packets: Option<u64>,
    pub total_octets: Option<u64>,
    pub initiator_packets: Option<u64>,
    pub initiator_octets: Option<u64>,
    pub post_packets: Option<u64>,
    pub post_octets: Option<u64>,
    /// flowDirection (61): "Ingress (0)", "Egress (1)".
    pub direction: Option<u8>,
}

impl TsharkFlow {
    fn pick(v: &[IpAddr]) -> Option<IpAddr> {
        v.iter()
            .find(|a| !a.is_unspecified())
            .or(v.first())
            .copied()
    }

    /// The reference key, by the decoder's documented preferences (deltas,
    /// then totals, then initiator counts, then post counters; the first
    /// non-zero address announced, else the first).
    pub fn key(&self) -> Option<Key> {
        Some(Key {
            src: Self::pick(&self.src)?,
            dst: Self::pick(&self.dst)?,
            src_port: self.src_port.unwrap_or(0),
            dst_port: self.dst_port.unwrap_or(0),
            packets: (self.packets.or(self.total_packets))
                .or(self.initiator_packets)
                .or(self.post_packets)
                .unwrap_or(0),
            bytes: (self.octets.or(self.total_octets))
                .or(self.initiator_octets)
                .or(self.post_octets)
                .unwrap_or(0),
        })
    }
}

/// Reference decode: flows (blocks "Flow N" / "pdu N/M") and the number of
/// data sets tshark found no template for.
pub struct TsharkRef {
    pub flows: Vec<TsharkFlow>,
    pub no_template_sets: usize,
}

fn num(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Some(inner) = v.rsplit_once('(').and_then(|(_, r)| r.strip_suffix(')'))
        && let Ok(n) = inner.parse()
    {
        return Some(n);
    }
    v.split_whitespace().next()?.parse().ok()
}

pub fn parse_tshark(path: &Path) -> TsharkRef {
    let text = std::fs::read_to_string(path).unwrap();
    let mut flows = Vec::new();
    let mut cur: Option<(usize, TsharkFlow)> = None;
    let mut no_template_sets = 0;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        if t.starts_with("Data (") && t.ends_with("no template found") && !t.starts_with('[') {
            no_template_sets += 1;
        }
        let starts_block = (t.starts_with("Flow ")
            && t[5..]
                .split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok()))
            || (t.starts_with("pdu ") && t.contains('/'));
        if (starts_block || cur.as_ref().is_some_and(|(ind, _)| indent <= *ind))
            && let Some((_, f)) = cur.take()
        {
            flows.push(f);
        }
        if starts_block {
            cur = Some((indent, TsharkFlow::default()));
            continue;
        }
        let Some((_, f)) = cur.as_mut() else { continue };
        let Some((name, value)) = t.split_once(": ") else {
            continue;
        };
        match name {
            "SrcAddr" => f.src.extend(value.trim().parse::<IpAddr>().ok()),
            "DstAddr" => f.dst.extend(value.trim().parse::<IpAddr>().ok()),
            "SrcPort" => f.src_port = f.src_port.or(num(value).map(|v| v as u16)),
            "DstPort" => f.dst_port = f.dst_port.or(num(value).map(|v| v as u16)),
            "Protocol" => f.protocol = f.protocol.or(num(value).map(|v| v as u8)),
            "Packets" => f.packets = f.packets.or(num(value)),
            "Octets" => f.octets = f.octets.or(num(value)),
            "Permanent Packets" => f.total_packets = f.total_packets.or(num(value)),
            "Initiator Packets" => f.initiator_packets = f.initiator_packets.or(num(value)),
            "Initiator Octets" => f.initiator_octets = f.initiator_octets.or(num(value)),
            "Permanent Octets" => f.total_octets = f.total_octets.or(num(value)),
            "Post Packets" => f.post_packets = f.post_packets.or(num(value)),
            "Post Octets" => f.post_octets = f.post_octets.or(num(value)),
            "Direction" => f.direction = f.direction.or(num(value).map(|v| v as u8)),
            _ => {}
        }
    }
    if let Some((_, f)) = cur.take() {
        flows.push(f);
    }
    TsharkRef {
        flows,
        no_template_sets,
    }
}

/// Telegraf line protocol: the `netflow` measurement lines (not
/// `netflow_options`) as reference keys.
pub fn parse_telegraf(path: &Path) -> Vec<Key> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut keys = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("netflow,") else {
            continue;
        };
        let Some((_, fields)) = rest.split_once(' ') else {
            continue;
        };
        let mut get = std::collections::HashMap::new();
        // Split the field set on commas outside quotes; it ends at the first
        // space outside quotes (then comes the timestamp).
        let mut items = Vec::new();
        let (mut cur, mut quoted, mut escaped) = (String::new(), false, false);
        for c in fields.chars() {
            match c {
                _ if escaped => {
                    cur.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                '"' => {
                    quoted = !quoted;
                    cur.push(c);
                }
                ',' if !quoted => items.push(std::mem::take(&mut cur)),
                ' ' if !quoted => break,
                _ => cur.push(c),
            }
        }
        items.push(cur);
        for kv in items {
            if let Some((k, v)) = kv.split_once('=') {
                get.insert(
                    k.to_string(),
                    v.trim_matches('"').trim_end_matches('u').to_string(),
                );
            }
        }
        let n = |k: &str| get.get(k).and_then(|v| v.parse::<u64>().ok());
        let (Some(src), Some(dst)) = (
            get.get("src").and_then(|v| v.parse().ok()),
            get.get("dst").and_then(|v| v.parse().ok()),
        ) else {
            continue;
        };
        keys.push(Key {
            src,
            dst,
            src_port: n("src_port").unwrap_or(0) as u16,
            dst_port: n("dst_port").unwrap_or(0) as u16,
            packets: n("in_packets").or(n("in_total_packets")).unwrap_or(0),
            bytes: n("in_bytes").or(n("in_total_bytes")).unwrap_or(0),
        });
    }
    keys
}
