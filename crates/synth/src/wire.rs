//! Frame builders: Ethernet (optionally 802.1Q / QinQ tagged), IPv4, IPv6,
//! TCP and UDP, with correct IPv4 header, TCP and UDP checksums.

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86DD;
const ETH_8021Q: u16 = 0x8100;
const ETH_8021AD: u16 = 0x88A8;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// VLAN tags a host's frames carry on the capture link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tags {
    None,
    Dot1q(u16),
    QinQ { outer: u16, inner: u16 },
}

/// The layer-2 view of one endpoint pair on the capture link.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub host_mac: [u8; 6],
    pub peer_mac: [u8; 6],
    pub tags: Tags,
}

/// Addresses of a packet. IPv4 addresses use the first 4 bytes.
#[derive(Clone, Copy, Debug)]
pub struct IpPair<'a> {
    pub v6: bool,
    pub src: &'a [u8; 16],
    pub dst: &'a [u8; 16],
    pub ttl: u8,
    pub ident: u16,
}

/// A TCP segment to build.
#[derive(Clone, Copy, Debug)]
pub struct TcpSeg<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// One's complement sum of `data` (big-endian 16-bit words) added to `acc`.
pub fn sum_words(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Add the two 32-bit halves; the 64-bit accumulator cannot overflow
        // for any packet size we write.
        acc += w >> 32;
        acc += w & 0xFFFF_FFFF;
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

fn ethernet(buf: &mut Vec<u8>, dst: &[u8; 6], src: &[u8; 6], tags: Tags, ethertype: u16) {
    buf.extend_from_slice(dst);
    buf.extend_from_slice(src);
    match tags {
        Tags::None => {}
        Tags::Dot1q(vid) => {
            buf.extend_from_slice(&ETH_8021Q.to_be_bytes());
            buf.extend_from_slice(&(vid & 0x0FFF).to_be_bytes());
        }
        Tags::QinQ { outer, inner } => {
            buf.extend_from_slice(&ETH_8021AD.to_be_bytes());
            buf.extend_from_slice(&(outer & 0x0FFF).to_be_bytes());
            buf.extend_from_slice(&ETH_8021Q.to_be_bytes());
            buf.extend_from_slice(&(inner & 0x0FFF).to_be_bytes());
        }
    }
    buf.extend_from_slice(&ethertype.to_be_bytes());
}

/// Write the IP header for an upper-layer packet of `l4_len` bytes; returns
/// the pseudo-header sum for the transport checksum.
fn ip_header(buf: &mut Vec<u8>, ip: &IpPair<'_>, proto: u8, l4_len: usize) -> u64 {
    if ip.v6 {
        buf.extend_from_slice(&[0x60, 0, 0, 0]);
        buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
        buf.push(proto);
        buf.push(ip.ttl);
        buf.extend_from_slice(ip.src);
        buf.extend_from_slice(ip.dst);
        let mut acc = sum_words(0, ip.src);
        acc = sum_words(acc, ip.dst);
        acc + l4_len as u64 + u64::from(proto)
    } else {
        let start = buf.len();
        let total = (20 + l4_len) as u16;
        buf.extend_from_slice(&[0x45, 0]);
        buf.extend_from_slice(&total.to_be_bytes());
        buf.extend_from_slice(&ip.ident.to_be_bytes());
        buf.extend_from_slice(&0x4000u16.to_be_bytes()); // DF
        buf.push(ip.ttl);
        buf.push(proto);
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&ip.src[..4]);
        buf.extend_from_slice(&ip.dst[..4]);
        let csum = fold(sum_words(0, &buf[start..start + 20]));
        buf[start + 10..start + 12].copy_from_slice(&csum.to_be_bytes());
        let mut acc = sum_words(0, &ip.src[..4]);
        acc = sum_words(acc, &ip.dst[..4]);
        acc + l4_len as u64 + u64::from(proto)
    }
}

/// Starts a frame in `buf`: Ethernet (with the link's tags, MACs by
/// direction) and the IP header for `l4_len` bytes of `proto`; returns the
/// pseudo-header sum for the layer-4 checksum.
fn link_and_ip_headers(
    buf: &mut Vec<u8>,
    link: &Link,
    from_host: bool,
    ip: &IpPair<'_>,
    proto: u8,
    l4_len: usize,
) -> u64 {
    buf.clear();
    let (dst_mac, src_mac) = if from_host {
        (&link.peer_mac, &link.host_mac)
    } else {
        (&link.host_mac, &link.peer_mac)
    };
    ethernet(
        buf,
        dst_mac,
        src_mac,
        link.tags,
        if ip.v6 { ETH_IPV6 } else { ETH_IPV4 },
    );
    ip_header(buf, ip, proto, l4_len)
}

/// Build the headers of an Ethernet frame holding one TCP segment into
/// `buf` (cleared first); the frame is `buf` followed by `seg.payload`,
/// which is checksummed but not copied. `from_host` says which MAC is the
/// source. Returns the IP-layer length (what flow exports count as bytes).
pub fn tcp_frame(
    buf: &mut Vec<u8>,
    link: &Link,
    from_host: bool,
    ip: &IpPair<'_>,
    seg: &TcpSeg<'_>,
) -> u32 {
    let hdr_len = 20 + seg.options.len();
    let l4_len = hdr_len + seg.payload.len();
    let pseudo = link_and_ip_headers(buf, link, from_host, ip, PROTO_TCP, l4_len);
    let tcp_start = buf.len();
    buf.extend_from_slice(&seg.sport.to_be_bytes());
    buf.extend_from_slice(&seg.dport.to_be_bytes());
    buf.extend_from_slice(&seg.seq.to_be_bytes());
    buf.extend_from_slice(&seg.ack.to_be_bytes());
    buf.push(((hdr_len / 4) as u8) << 4);
    buf.push(seg.flags);
    buf.extend_from_slice(&seg.window.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(seg.options);
    // The header is a multiple of 4 bytes long, so summing it and the
    // payload separately gives the same 16-bit word alignment.
    let csum = fold(sum_words(sum_words(pseudo, &buf[tcp_start..]), seg.payload));
    buf[tcp_start + 16..tcp_start + 18].copy_from_slice(&csum.to_be_bytes());
    (if ip.v6 { 40 } else { 20 } + l4_len) as u32
}

/// Build the headers of an Ethernet frame holding one UDP datagram; the
/// frame is `buf` followed by `payload` (checksummed, not copied).
pub fn udp_frame(
    buf: &mut Vec<u8>,
    link: &Link,
    from_host: bool,
    ip: &IpPair<'_>,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> u32 {
    let l4_len = 8 + payload.len();
    let pseudo = link_and_ip_headers(buf, link, from_host, ip, PROTO_UDP, l4_len);
    let udp_start = buf.len();
    buf.extend_from_slice(&sport.to_be_bytes());
    buf.extend_from_slice(&dport.to_be_bytes());
    buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    let mut csum = fold(sum_words(sum_words(pseudo, &buf[udp_start..]), payload));
    if csum == 0 {
        csum = 0xFFFF;
    }
    buf[udp_start + 6..udp_start + 8].copy_from_slice(&csum.to_be_bytes());
    (if ip.v6 { 40 } else { 20 } + l4_len) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_matches_rfc1071_example() {
        // Header from the Wikipedia IPv4 checksum example: checksum 0xB861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum_words(0, &hdr)), 0xB861);
    }

    #[test]
    fn tcp_checksum_verifies_to_zero() {
        let link = Link {
            host_mac: [2, 0, 0, 0, 0, 1],
            peer_mac: [2, 0, 0, 0, 0, 2],
            tags: Tags::Dot1q(10),
        };
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..4].copy_from_slice(&[198, 18, 0, 1]);
        dst[..4].copy_from_slice(&[203, 0, 113, 9]);
        let ip = IpPair {
            v6: false,
            src: &src,
            dst: &dst,
            ttl: 64,
            ident: 1,
        };
        let seg = TcpSeg {
            sport: 1025,
            dport: 25,
            seq: 1,
            ack: 2,
            flags: 0x18,
            window: 65535,
            options: &[],
            payload: b"EHLO x\r\n!",
        };
        let mut buf = Vec::new();
        let ip_len = tcp_frame(&mut buf, &link, true, &ip, &seg);
        buf.extend_from_slice(seg.payload);
        assert_eq!(ip_len as usize, buf.len() - 18);
        let ip_start = 18;
        assert_eq!(fold(sum_words(0, &buf[ip_start..ip_start + 20])), 0);
        let tcp = &buf[ip_start + 20..];
        let mut pseudo = sum_words(0, &src[..4]);
        pseudo = sum_words(pseudo, &dst[..4]);
        pseudo += 6 + tcp.len() as u64;
        assert_eq!(fold(sum_words(pseudo, tcp)), 0);
    }
}
