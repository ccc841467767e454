//! Hand-built captures for tests that must not depend on the corpus: frames
//! with correct TCP sequence numbers, written as pcap or pcapng.
#![allow(dead_code)]

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

/// An Ethernet/IPv4/TCP frame.
pub fn frame(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    let total = (40 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A full SMTP session from `client_port`: handshake, one delivered message
/// with `rcpts` recipients, QUIT, FIN both ways. Frames are (ts_us, bytes).
pub fn session(client_ip: [u8; 4], client_port: u16, t0: i64, rcpts: usize) -> Vec<(i64, Vec<u8>)> {
    let c = (client_ip, client_port);
    let s = ([192, 0, 2, 25], 25u16);
    let mut cs: u32 = 1000;
    let mut ss: u32 = 5000;
    let mut t = t0;
    let mut out = Vec::new();
    let step = |out: &mut Vec<(i64, Vec<u8>)>, t: &mut i64, f: Vec<u8>| {
        *t += 1000;
        out.push((*t, f));
    };
    step(&mut out, &mut t, frame(c, s, cs, 0, SYN, b""));
    step(&mut out, &mut t, frame(s, c, ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    step(&mut out, &mut t, frame(c, s, cs, ss, ACK, b""));
    let mut dialogue: Vec<(bool, Vec<u8>)> = vec![
        (false, b"220 mx.example ESMTP\r\n".to_vec()),
        (true, b"EHLO zombie.example\r\n".to_vec()),
        (false, b"250-mx.example\r\n250 PIPELINING\r\n".to_vec()),
        (true, b"MAIL FROM:<a@zombie.example>\r\n".to_vec()),
        (false, b"250 ok\r\n".to_vec()),
    ];
    for i in 0..rcpts {
        dialogue.push((true, format!("RCPT TO:<u{i}@example.net>\r\n").into_bytes()));
        dialogue.push((false, b"250 ok\r\n".to_vec()));
    }
    dialogue.extend([
        (true, b"DATA\r\n".to_vec()),
        (false, b"354 go on\r\n".to_vec()),
        (
            true,
            b"Subject: cheap pills\r\n\r\nbuy now\r\n.\r\n".to_vec(),
        ),
        (false, b"250 queued\r\n".to_vec()),
        (true, b"QUIT\r\n".to_vec()),
        (false, b"221 bye\r\n".to_vec()),
    ]);
    for (from_client, bytes) in dialogue {
        if from_client {
            step(&mut out, &mut t, frame(c, s, cs, ss, PSH | ACK, &bytes));
            cs += bytes.len() as u32;
        } else {
            step(&mut out, &mut t, frame(s, c, ss, cs, PSH | ACK, &bytes));
            ss += bytes.len() as u32;
        }
    }
    step(&mut out, &mut t, frame(s, c, ss, cs, FIN | ACK, b""));
    step(&mut out, &mut t, frame(c, s, cs, ss + 1, FIN | ACK, b""));
    step(&mut out, &mut t, frame(s, c, ss + 1, cs + 1, ACK, b""));
    out
}

/// A pcap file: micro- or nanosecond magic, either byte order.
pub fn pcap(frames: &[(i64, Vec<u8>)], nanos: bool, big_endian: bool, linktype: u32) -> Vec<u8> {
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&w32(0));
    out.extend_from_slice(&w32(0));
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(linktype));
    for (ts, f) in frames {
        let sec = (ts / 1_000_000) as u32;
        let frac = (ts % 1_000_000) as u32 * if nanos { 1000 } else { 1 };
        out.extend_from_slice(&w32(sec));
        out.extend_from_slice(&w32(frac));
        out.extend_from_slice(&w32(f.len() as u32));
        out.extend_from_slice(&w32(f.len() as u32));
        out.extend_from_slice(f);
    }
    out
}

fn ng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// A little-endian pcapng section with the given interfaces (link type,
/// if_tsresol) and packets (interface, timestamp in that interface's units, frame).
pub fn pcapng(interfaces: &[(u16, u8)], packets: &[(u32, u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = ng_block(
        0x0a0d_0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    for (linktype, tsresol) in interfaces {
        let mut body = Vec::new();
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&0u32.to_le_bytes());
        // if_tsresol option (code 9, length 1), then opt_endofopt.
        body.extend_from_slice(&[9, 0, 1, 0, *tsresol, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(ng_block(1, &body));
    }
    for (ifc, ts, f) in packets {
        out.extend(enhanced_packet_block(*ifc, *ts, f));
    }
    out
}

/// A pcapng enhanced packet block (timestamp in the interface's units).
pub fn enhanced_packet_block(interface: u32, ts: u64, frame: &[u8]) -> Vec<u8> {
    packet_block(6, interface.to_le_bytes(), ts, frame)
}

/// A packet block of `block_type` whose body starts with `head` (the
/// interface, and in the obsolete block the drops count), then timestamp,
/// lengths and frame.
fn packet_block(block_type: u32, head: [u8; 4], ts: u64, frame: &[u8]) -> Vec<u8> {
    let mut body = head.to_vec();
    body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts as u32).to_le_bytes());
    body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    body.extend_from_slice(frame);
    ng_block(block_type, &body)
}

/// A pcapng simple packet block (no timestamp, interface 0).
pub fn simple_packet_block(frame: &[u8]) -> Vec<u8> {
    let mut body = (frame.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(frame);
    ng_block(3, &body)
}

/// A pcapng obsolete Packet Block (type 2: 16-bit interface, drops count,
/// timestamp, lengths, frame), as old Wireshark versions wrote.
pub fn obsolete_packet_block(interface: u16, ts: u64, frame: &[u8]) -> Vec<u8> {
    let [a, b] = interface.to_le_bytes();
    packet_block(2, [a, b, 0, 0], ts, frame)
}

/// A big-endian pcapng section (as captured on a big-endian machine): one
/// Ethernet interface in microseconds and every frame in an obsolete Packet
/// Block.
pub fn pcapng_big_endian_obsolete(frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        let mut b = block_type.to_be_bytes().to_vec();
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&len.to_be_bytes());
        b
    }
    let mut out = block(
        0x0a0d_0d0a,
        &[
            0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    out.extend(block(1, &[0, 1, 0, 0, 0, 0, 0xff, 0xff]));
    for (ts, f) in frames {
        let ts = *ts as u64;
        let mut body = vec![0, 0, 0, 0];
        body.extend_from_slice(&((ts >> 32) as u32).to_be_bytes());
        body.extend_from_slice(&(ts as u32).to_be_bytes());
        body.extend_from_slice(&(f.len() as u32).to_be_bytes());
        body.extend_from_slice(&(f.len() as u32).to_be_bytes());
        body.extend_from_slice(f);
        out.extend(block(2, &body));
    }
    out
}
