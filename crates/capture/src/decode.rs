//! Frame decoding: link layer -> IPv4/IPv6 -> TCP/UDP, by hand, bounded.
//!
//! One pass over the headers, zero-copy, every length checked before use.
//! Checksums are never verified (offloaded and anonymised captures carry bad
//! ones). Byte counts come from the IP total length, never the captured
//! length, so snaplen-cut packets still count fully; the payload handed on is
//! only what was captured, with the claimed length alongside so that the
//! stream reassembler can mark the rest as a gap.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Link types this decoder understands (pcap LINKTYPE_* values).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_12: u32 = 12;
    pub const RAW_14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// Why a frame was not decoded to a TCP/UDP packet: the stats key.
pub mod skip {
    pub const UNSUPPORTED_LINKTYPE: &str = "unsupported_linktype";
    pub const NOT_IP: &str = "not_ip";
    pub const NOT_TCP: &str = "not_tcp";
    pub const TRUNCATED: &str = "truncated";
    pub const FRAGMENT: &str = "fragment";
    pub const BAD_HEADER: &str = "bad_header";
}

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// A decoded TCP segment or UDP datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP-layer length: IPv4 total length, or 40 + IPv6 payload length.
    pub ip_len: u32,
    /// TCP only (0 for UDP).
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Transport payload as captured (possibly cut short by the snaplen).
    pub payload: &'a [u8],
    /// Payload length the IP header claims; `>= payload.len()`.
    pub payload_len: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

/// Decodes one frame of the given link type.
pub fn decode(linktype: u32, frame: &[u8]) -> Result<Packet<'_>, &'static str> {
    match linktype {
        linktype::ETHERNET => ethernet(frame),
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 => ip_by_version(frame),
        linktype::IPV4 => ipv4(frame),
        linktype::IPV6 => ipv6(frame),
        linktype::LINUX_SLL => {
            let proto = be16(frame, 14).ok_or(skip::TRUNCATED)?;
            by_ethertype(proto, frame.get(16..).ok_or(skip::TRUNCATED)?)
        }
        linktype::LINUX_SLL2 => {
            let proto = be16(frame, 0).ok_or(skip::TRUNCATED)?;
            by_ethertype(proto, frame.get(20..).ok_or(skip::TRUNCATED)?)
        }
        linktype::NULL | linktype::LOOP => {
            let family = frame.get(..4).ok_or(skip::TRUNCATED)?;
            // DLT_NULL is in the capturing host's byte order, DLT_LOOP in network
            // order; files from either kind of host exist, so accept both.
            let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
            let family = if le <= 0xffff { le } else { be };
            let rest = frame.get(4..).ok_or(skip::TRUNCATED)?;
            match family {
                2 => ipv4(rest),
                // AF_INET6 differs by OS: Linux 10, BSDs 24, FreeBSD 28, Darwin 30.
                10 | 24 | 28 | 30 => ipv6(rest),
                _ => Err(skip::NOT_IP),
            }
        }
        _ => Err(skip::UNSUPPORTED_LINKTYPE),
    }
}

fn ethernet(frame: &[u8]) -> Result<Packet<'_>, &'static str> {
    let mut ethertype = be16(frame, 12).ok_or(skip::TRUNCATED)?;
    let mut at = 14usize;
    // Any stack of 802.1Q / 802.1ad tags; bounded by the frame length.
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2
    ) {
        ethertype = be16(frame, at + 2).ok_or(skip::TRUNCATED)?;
        at += 4;
    }
    by_ethertype(ethertype, frame.get(at..).ok_or(skip::TRUNCATED)?)
}

fn by_ethertype(ethertype: u16, rest: &[u8]) -> Result<Packet<'_>, &'static str> {
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(rest),
        ETHERTYPE_IPV6 => ipv6(rest),
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
            // Label stack until the bottom-of-stack bit, then guess by IP version.
            let mut at = 0usize;
            loop {
                let label = be32(rest, at).ok_or(skip::TRUNCATED)?;
                at += 4;
                if label & 0x100 != 0 {
                    break;
                }
            }
            ip_by_version(rest.get(at..).ok_or(skip::TRUNCATED)?)
        }
        ETHERTYPE_PPPOE_SESSION => {
            // PPPoE header (6 bytes) then the PPP protocol field.
            match be16(rest, 6).ok_or(skip::TRUNCATED)? {
                0x0021 => ipv4(rest.get(8..).ok_or(skip::TRUNCATED)?),
                0x0057 => ipv6(rest.get(8..).ok_or(skip::TRUNCATED)?),
                _ => Err(skip::NOT_IP),
            }
        }
        _ => Err(skip::NOT_IP),
    }
}

fn ip_by_version(rest: &[u8]) -> Result<Packet<'_>, &'static str> {
    match rest.first().map(|b| b >> 4) {
        Some(4) => ipv4(rest),
        Some(6) => ipv6(rest),
        Some(_) => Err(skip::NOT_IP),
        None => Err(skip::TRUNCATED),
    }
}

fn ipv4(b: &[u8]) -> Result<Packet<'_>, &'static str> {
    let first = *b.first().ok_or(skip::TRUNCATED)?;
    if first >> 4 != 4 {
        return Err(skip::BAD_HEADER);
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 {
        return Err(skip::BAD_HEADER);
    }
    if b.len() < header_len {
        return Err(skip::TRUNCATED);
    }
    let total = be16(b, 2).ok_or(skip::TRUNCATED)?;
    // Captures taken on the sending host with segmentation offload carry a
    // total length of 0: the captured length is the only measure left.
    let total = if total == 0 {
        u32::try_from(b.len()).unwrap_or(u32::MAX)
    } else {
        u32::from(total)
    };
    if (total as usize) < header_len {
        return Err(skip::BAD_HEADER);
    }
    let frag = be16(b, 6).ok_or(skip::TRUNCATED)?;
    if frag & 0x3fff != 0 {
        return Err(skip::FRAGMENT);
    }
    let protocol = b[9];
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    // Ethernet padding lies beyond the total length: never payload.
    let end = b.len().min(total as usize);
    let l4 = &b[header_len..end];
    transport(
        IpAddr::V4(src),
        IpAddr::V4(dst),
        protocol,
        total,
        l4,
        total - header_len as u32,
    )
}

fn ipv6(b: &[u8]) -> Result<Packet<'_>, &'static str> {
    let first = *b.first().ok_or(skip::TRUNCATED)?;
    if first >> 4 != 6 {
        return Err(skip::BAD_HEADER);
    }
    if b.len() < 40 {
        return Err(skip::TRUNCATED);
    }
    let payload_len = u32::from(be16(b, 4).ok_or(skip::TRUNCATED)?);
    // Jumbograms (payload length 0) are measured by what was captured.
    let payload_len = if payload_len == 0 {
        u32::try_from(b.len() - 40).unwrap_or(u32::MAX)
    } else {
        payload_len
    };
    let mut next = b[6];
    let mut src = [0u8; 16];
    src.copy_from_slice(&b[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&b[24..40]);
    let ip_len = 40u32.saturating_add(payload_len);
    let end = b.len().min(ip_len as usize);
    let mut at = 40usize;
    // Extension headers, at most 16 of them: a longer chain is not real traffic.
    for _ in 0..16 {
        match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                let nh = *b.get(at).ok_or(skip::TRUNCATED)?;
                let len = (usize::from(*b.get(at + 1).ok_or(skip::TRUNCATED)?) + 1) * 8;
                next = nh;
                at += len;
            }
            44 => {
                let nh = *b.get(at).ok_or(skip::TRUNCATED)?;
                let off_m = be16(b, at + 2).ok_or(skip::TRUNCATED)?;
                if off_m & 0xfff9 != 0 {
                    return Err(skip::FRAGMENT);
                }
                next = nh;
                at += 8;
            }
            51 => {
                let nh = *b.get(at).ok_or(skip::TRUNCATED)?;
                let len = (usize::from(*b.get(at + 1).ok_or(skip::TRUNCATED)?) + 2) * 4;
                next = nh;
                at += len;
            }
            _ => break,
        }
        if at > end {
            return Err(skip::TRUNCATED);
        }
    }
    let headers = u32::try_from(at).unwrap_or(u32::MAX);
    if headers > ip_len {
        return Err(skip::BAD_HEADER);
    }
    let l4 = b.get(at..end).ok_or(skip::TRUNCATED)?;
    transport(
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
        next,
        ip_len,
        l4,
        ip_len - headers,
    )
}

/// `l4` is the captured transport bytes; `l4_len` what the IP header claims.
fn transport<'a>(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    ip_len: u32,
    l4: &'a [u8],
    l4_len: u32,
) -> Result<Packet<'a>, &'static str> {
    match protocol {
        PROTO_TCP => {
            if l4.len() < 20 {
                return Err(skip::TRUNCATED);
            }
            let header_len = usize::from(l4[12] >> 4) * 4;
            if header_len < 20 || header_len as u32 > l4_len {
                return Err(skip::BAD_HEADER);
            }
            // Options cut by the snaplen: the fixed header is enough for ports,
            // sequence numbers and flags; the payload is then all missing.
            let payload = l4.get(header_len..).unwrap_or(&[]);
            Ok(Packet {
                src,
                dst,
                protocol,
                src_port: be16(l4, 0).ok_or(skip::TRUNCATED)?,
                dst_port: be16(l4, 2).ok_or(skip::TRUNCATED)?,
                ip_len,
                seq: be32(l4, 4).ok_or(skip::TRUNCATED)?,
                ack: be32(l4, 8).ok_or(skip::TRUNCATED)?,
                flags: l4[13],
                payload,
                payload_len: l4_len - header_len as u32,
            })
        }
        PROTO_UDP => {
            if l4.len() < 8 {
                return Err(skip::TRUNCATED);
            }
            if l4_len < 8 {
                return Err(skip::BAD_HEADER);
            }
            Ok(Packet {
                src,
                dst,
                protocol,
                src_port: be16(l4, 0).ok_or(skip::TRUNCATED)?,
                dst_port: be16(l4, 2).ok_or(skip::TRUNCATED)?,
                ip_len,
                seq: 0,
                ack: 0,
                flags: 0,
                payload: &l4[8..],
                payload_len: l4_len - 8,
            })
        }
        _ => Err(skip::NOT_TCP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_ipv4(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 20 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ];
        p.extend_from_slice(&[10, 0, 0, 1, 192, 0, 2, 1]);
        p.extend_from_slice(&[0x04, 0xd2, 0, 25]); // 1234 -> 25
        p.extend_from_slice(&100u32.to_be_bytes());
        p.extend_from_slice(&200u32.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ethernet_with_two_vlan_tags_and_padding() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
        f.extend_from_slice(&tcp_ipv4(b"EHLO x\r\n"));
        f.extend_from_slice(&[0u8; 6]); // Ethernet padding
        let p = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(p.dst_port, 25);
        assert_eq!(p.payload, b"EHLO x\r\n");
        assert_eq!(p.ip_len, 48);
        assert_eq!(p.flags, 0x18);
    }

    #[test]
    fn null_loopback_either_byte_order() {
        for family in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = family.to_vec();
            f.extend_from_slice(&tcp_ipv4(b"x"));
            assert_eq!(decode(linktype::NULL, &f).unwrap().payload, b"x");
            assert_eq!(decode(linktype::LOOP, &f).unwrap().payload, b"x");
        }
    }

    #[test]
    fn snaplen_cut_keeps_claimed_lengths() {
        let full = tcp_ipv4(b"MAIL FROM:<a@b>\r\n");
        let cut = &full[..44];
        let p = decode(linktype::RAW, cut).unwrap();
        assert_eq!(p.ip_len as usize, full.len());
        assert_eq!(p.payload, b"MAIL");
        assert_eq!(p.payload_len as usize, full.len() - 40);
    }

    #[test]
    fn fragments_and_garbage_are_classified() {
        let mut f = tcp_ipv4(b"x");
        f[6] = 0x20; // more fragments
        assert_eq!(decode(linktype::RAW, &f), Err(skip::FRAGMENT));
        assert_eq!(decode(linktype::RAW, &[0x45]), Err(skip::TRUNCATED));
        assert_eq!(decode(linktype::RAW, &[0x12, 0, 0]), Err(skip::NOT_IP));
        assert_eq!(decode(9999, &[0; 64]), Err(skip::UNSUPPORTED_LINKTYPE));
        assert_eq!(decode(linktype::IPV4, &[0x60; 40]), Err(skip::BAD_HEADER));
    }

    #[test]
    fn ipv6_with_hop_by_hop_header() {
        let payload = b"QUIT\r\n";
        let tcp = &tcp_ipv4(payload)[20..];
        let plen = 8 + tcp.len();
        let mut f = vec![0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 0, 64];
        f.extend_from_slice(&[0u8; 32]);
        f.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> TCP
        f.extend_from_slice(tcp);
        let p = decode(linktype::IPV6, &f).unwrap();
        assert_eq!(p.protocol, PROTO_TCP);
        assert_eq!(p.payload, payload);
        assert_eq!(p.ip_len as usize, f.len());
    }
}
