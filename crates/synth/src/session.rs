//! One connection on the wire: an application script (who sends what, after
//! how long) turned into TCP segments with correct sequence and
//! acknowledgement numbers, MSS segmentation, delayed ACKs, handshakes,
//! retransmitted SYNs, resets and FIN closes; or a UDP exchange.
//!
//! Times are as seen at the capture point between the ISP and the
//! Internet: a packet from one side is followed by the other side's
//! reaction one round trip (capture point to that side and back) later.

use std::collections::VecDeque;

use crate::content::{Pools, tls};
use crate::rng::Rng;
use crate::wire::{self, IpPair, Link, TcpSeg};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// What one application write carries.
#[derive(Debug)]
pub enum Data {
    Bytes(Vec<u8>),
    /// A mail body sent after 354: `head`, text lines, `mid`, base64 lines, `tail`
    /// (which ends with the "." line).
    Mail {
        head: Vec<u8>,
        text_len: usize,
        mid: Vec<u8>,
        b64_len: usize,
        tail: Vec<u8>,
    },
    /// An HTTP response: `head` (with Content-Length) and exactly `body_len`
    /// bytes of text.
    Http {
        head: Vec<u8>,
        body_len: usize,
    },
    TlsClientHello,
    TlsServerResume,
    TlsClientFinished,
    /// Application data records carrying this much plaintext.
    TlsApp(usize),
    TlsCloseNotify,
}

#[derive(Debug)]
pub enum Step {
    Send {
        client: bool,
        think_us: u64,
        data: Data,
    },
    Close {
        client: bool,
        think_us: u64,
    },
    Abort {
        client: bool,
        think_us: u64,
    },
}

/// How the connection begins.
#[derive(Clone, Copy, Debug)]
pub enum Open {
    Handshake,
    /// SYNs at these offsets (µs), never answered.
    NoAnswer(&'static [u64]),
    /// SYN answered by RST.
    Reset,
    Udp,
}

#[derive(Clone, Copy, Debug)]
struct Pkt {
    t: u64,
    client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    off: u32,
    len: u32,
}

/// Parameters fixed when a connection is created.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub link: Link,
    pub v6: bool,
    pub client: [u8; 16],
    pub server: [u8; 16],
    pub cport: u16,
    pub sport: u16,
    pub c_ttl: u8,
    pub s_ttl: u8,
    pub c_win: u16,
    pub s_win: u16,
    pub c_mss: u16,
    pub s_mss: u16,
    /// Round trip capture point -> client -> capture point.
    pub rtt_c_us: u64,
    /// Round trip capture point -> server -> capture point.
    pub rtt_s_us: u64,
    /// Throughput client -> server and server -> client, bytes per second.
    pub c_bps: u64,
    pub s_bps: u64,
}

/// What one emitted packet was: for the flow meter, and where its payload
/// lies (see [`Session::payload`]).
#[derive(Clone, Copy, Debug)]
pub struct Emitted {
    pub t: u64,
    pub client: bool,
    pub ip_len: u32,
    pub flags: u8,
    off: u32,
    len: u32,
}

pub struct Session {
    pub ep: Endpoints,
    udp: bool,
    c_next: u32,
    s_next: u32,
    c_ident: u16,
    s_ident: u16,
    steps: VecDeque<Step>,
    queue: VecDeque<Pkt>,
    staging: Vec<Pkt>,
    arena: Vec<u8>,
    /// Time of the last packet that carries the conversation forward.
    last_t: u64,
    last_client: bool,
    /// No new packet may be earlier than this (latest packet generated).
    floor_t: u64,
    first_step: bool,
}

fn syn_options(mss: u16) -> [u8; 8] {
    let m = mss.to_be_bytes();
    [2, 4, m[0], m[1], 1, 1, 4, 2]
}

impl Session {
    pub fn new(
        ep: Endpoints,
        steps: Vec<Step>,
        open: Open,
        t0: u64,
        rng: &mut Rng,
        pools: &Pools,
    ) -> Self {
        let mut s = Session {
            ep,
            udp: matches!(open, Open::Udp),
            c_next: rng.next_u32(),
            s_next: rng.next_u32(),
            c_ident: rng.next_u64() as u16,
            s_ident: rng.next_u64() as u16,
            steps: steps.into(),
            queue: VecDeque::new(),
            staging: Vec::new(),
            arena: Vec::new(),
            last_t: t0,
            last_client: true,
            floor_t: t0,
            first_step: true,
        };
        s.open(open, t0);
        while s.queue.is_empty() && !s.steps.is_empty() {
            s.expand(rng, pools);
        }
        s
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        t: u64,
        client: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        off: usize,
        len: usize,
    ) {
        self.floor_t = self.floor_t.max(t);
        self.staging.push(Pkt {
            t,
            client,
            flags,
            seq,
            ack,
            off: off as u32,
            len: len as u32,
        });
    }

    fn commit(&mut self) {
        self.staging.sort_by_key(|p| p.t);
        self.queue.extend(self.staging.drain(..));
    }

    fn open(&mut self, open: Open, t0: u64) {
        match open {
            Open::Udp => {}
            Open::NoAnswer(offsets) => {
                let isn = self.c_next;
                for off in offsets {
                    self.push(t0 + off, true, SYN, isn, 0, 0, 0);
                }
                self.steps.clear();
            }
            Open::Reset => {
                let isn = self.c_next;
                self.push(t0, true, SYN, isn, 0, 0, 0);
                self.push(
                    t0 + self.ep.rtt_s_us,
                    false,
                    RST | ACK,
                    0,
                    isn.wrapping_add(1),
                    0,
                    0,
                );
                self.steps.clear();
            }
            Open::Handshake => {
                let (c, s) = (self.c_next, self.s_next);
                self.push(t0, true, SYN, c, 0, 0, 0);
                let t1 = t0 + self.ep.rtt_s_us;
                self.push(t1, false, SYN | ACK, s, c.wrapping_add(1), 0, 0);
                let t2 = t1 + self.ep.rtt_c_us;
                self.c_next = c.wrapping_add(1);
                self.s_next = s.wrapping_add(1);
                self.push(t2, true, ACK, self.c_next, self.s_next, 0, 0);
                self.last_t = t2;
                self.last_client = true;
                self.first_step = false;
            }
        }
        self.commit();
    }

    pub fn next_time(&self) -> Option<u64> {
        self.queue.front().map(|p| p.t)
    }

    fn react(&self, client: bool, think_us: u64) -> u64 {
        let base = if self.first_step {
            self.last_t
        } else if client != self.last_client {
            self.last_t
                + if client {
                    self.ep.rtt_c_us
                } else {
                    self.ep.rtt_s_us
                }
        } else {
            self.last_t + 150
        };
        (base + think_us).max(self.floor_t)
    }

    fn generate(&mut self, rng: &mut Rng, pools: &Pools, data: &Data) {
        let out = &mut self.arena;
        match data {
            Data::Bytes(b) => out.extend_from_slice(b),
            Data::Mail {
                head,
                text_len,
                mid,
                b64_len,
                tail,
            } => {
                out.extend_from_slice(head);
                pools.text_lines(rng, *text_len, out);
                out.extend_from_slice(mid);
                if *b64_len > 0 {
                    pools.base64_lines(rng, *b64_len, out);
                }
                out.extend_from_slice(tail);
            }
            Data::Http { head, body_len } => {
                out.extend_from_slice(head);
                let start = out.len();
                pools.text_lines(rng, *body_len, out);
                out.resize(start + body_len, b' ');
            }
            Data::TlsClientHello => tls::client_hello(rng, out),
            Data::TlsServerResume => tls::server_resume(rng, pools, out),
            Data::TlsClientFinished => tls::change_cipher_finished(rng, pools, out),
            Data::TlsApp(n) => tls::app_data(rng, pools, *n, out),
            Data::TlsCloseNotify => tls::close_notify(rng, pools, out),
        }
    }

    /// Turn the next script step into packets.
    fn expand(&mut self, rng: &mut Rng, pools: &Pools) {
        let Some(step) = self.steps.pop_front() else {
            return;
        };
        self.arena.clear();
        match step {
            Step::Send {
                client,
                think_us,
                data,
            } => {
                let start = self.react(client, think_us);
                self.first_step = false;
                self.generate(rng, pools, &data);
                let total = self.arena.len();
                if self.udp {
                    self.push(start, client, 0, 0, 0, 0, total);
                    self.last_t = start;
                    self.last_client = client;
                    self.commit();
                    return;
                }
                let mss = usize::from(self.ep.c_mss.min(self.ep.s_mss).max(536));
                let bps = if client { self.ep.c_bps } else { self.ep.s_bps }.max(1000);
                let rtt = self.ep.rtt_c_us + self.ep.rtt_s_us;
                let rtt_recv = if client {
                    self.ep.rtt_s_us
                } else {
                    self.ep.rtt_c_us
                };
                let mut t = start;
                let mut off = 0usize;
                // Line-oriented writes (commands, replies) are cut at line
                // ends, as an application writing line by line would.
                let by_lines = matches!(data, Data::Bytes(_) | Data::Mail { .. });
                let mut i = 0usize;
                while off < total || i == 0 {
                    let mut len = mss.min(total - off);
                    if by_lines
                        && off + len < total
                        && let Some(cut) =
                            self.arena[off..off + len].iter().rposition(|&b| b == b'\n')
                    {
                        len = cut + 1;
                    }
                    let last = off + len >= total;
                    let (seq, ack) = if client {
                        (self.c_next, self.s_next)
                    } else {
                        (self.s_next, self.c_next)
                    };
                    let flags = if last { ACK | PSH } else { ACK };
                    self.push(t, client, flags, seq, ack, off, len);
                    let after = seq.wrapping_add(len as u32);
                    if client {
                        self.c_next = after;
                    } else {
                        self.s_next = after;
                    }
                    // The receiver acknowledges every second full segment.
                    if i % 2 == 1 && !last {
                        let rseq = if client { self.s_next } else { self.c_next };
                        self.push(t + rtt_recv, !client, ACK, rseq, after, 0, 0);
                    }
                    if last {
                        self.last_t = t;
                    }
                    off += len;
                    i += 1;
                    // Serialisation at the sender's rate, and never more
                    // than ~60 kB in flight per round trip (no window scaling).
                    let gap_rate = (len as u64 * 1_000_000) / bps;
                    let gap_window = (len as u64 * rtt) / 60_000;
                    t += gap_rate.max(gap_window).max(1);
                    if last {
                        break;
                    }
                }
                // A delayed ACK for the last segment unless the peer answers
                // at once (the answer carries the ACK) or the connection
                // closes right after.
                let needs_ack = match self.steps.front() {
                    None => true,
                    Some(Step::Send {
                        client: c,
                        think_us,
                        ..
                    }) => *c != client && *think_us > 100_000,
                    Some(_) => false,
                };
                if needs_ack {
                    let (rseq, rack) = if client {
                        (self.s_next, self.c_next)
                    } else {
                        (self.c_next, self.s_next)
                    };
                    self.push(
                        self.last_t + rtt_recv + 40_000,
                        !client,
                        ACK,
                        rseq,
                        rack,
                        0,
                        0,
                    );
                }
                self.last_client = client;
            }
            Step::Close { client, think_us } => {
                let t = self.react(client, think_us);
                let (rtt_x, rtt_y) = if client {
                    (self.ep.rtt_c_us, self.ep.rtt_s_us)
                } else {
                    (self.ep.rtt_s_us, self.ep.rtt_c_us)
                };
                let (mut x, mut y) = if client {
                    (self.c_next, self.s_next)
                } else {
                    (self.s_next, self.c_next)
                };
                self.push(t, client, FIN | ACK, x, y, 0, 0);
                x = x.wrapping_add(1);
                let t2 = t + rtt_y;
                self.push(t2, !client, FIN | ACK, y, x, 0, 0);
                y = y.wrapping_add(1);
                self.push(t2 + rtt_x, client, ACK, x, y, 0, 0);
                if client {
                    (self.c_next, self.s_next) = (x, y);
                } else {
                    (self.s_next, self.c_next) = (x, y);
                }
                self.last_t = t2 + rtt_x;
                self.last_client = client;
                self.steps.clear();
            }
            Step::Abort { client, think_us } => {
                let t = self.react(client, think_us);
                let (x, y) = if client {
                    (self.c_next, self.s_next)
                } else {
                    (self.s_next, self.c_next)
                };
                self.push(t, client, RST | ACK, x, y, 0, 0);
                self.last_t = t;
                self.steps.clear();
            }
        }
        self.commit();
    }

    /// The payload of an emitted packet (valid until [`Session::advance`]).
    pub fn payload(&self, e: &Emitted) -> &[u8] {
        let off = e.off as usize;
        self.arena
            .get(off..off + e.len as usize)
            .unwrap_or_default()
    }

    /// Prepare the packets after the ones emitted so far.
    pub fn advance(&mut self, rng: &mut Rng, pools: &Pools) {
        while self.queue.is_empty() && !self.steps.is_empty() {
            self.expand(rng, pools);
        }
    }

    /// Build the next packet's headers into `frame` (its payload is
    /// [`Session::payload`]). None when finished. Call
    /// [`Session::advance`] after using the payload.
    pub fn emit(&mut self, frame: &mut Vec<u8>) -> Option<Emitted> {
        let p = self.queue.pop_front()?;
        let ep = &self.ep;
        let (src, dst, ttl, sport, dport) = if p.client {
            (&ep.client, &ep.server, ep.c_ttl, ep.cport, ep.sport)
        } else {
            (&ep.server, &ep.client, ep.s_ttl, ep.sport, ep.cport)
        };
        let ident = if p.client {
            self.c_ident = self.c_ident.wrapping_add(1);
            self.c_ident
        } else {
            self.s_ident = self.s_ident.wrapping_add(1);
            self.s_ident
        };
        let ip = IpPair {
            v6: ep.v6,
            src,
            dst,
            ttl,
            ident,
        };
        let off = p.off as usize;
        let payload = self
            .arena
            .get(off..off + p.len as usize)
            .unwrap_or_default();
        let ip_len = if self.udp {
            wire::udp_frame(frame, &ep.link, p.client, &ip, sport, dport, payload)
        } else {
            let opts;
            let options: &[u8] = if p.flags & SYN != 0 {
                opts = syn_options(if p.client { ep.c_mss } else { ep.s_mss });
                &opts
            } else {
                &[]
            };
            let seg = TcpSeg {
                sport,
                dport,
                seq: p.seq,
                ack: p.ack,
                flags: p.flags,
                window: if p.client { ep.c_win } else { ep.s_win },
                options,
                payload,
            };
            wire::tcp_frame(frame, &ep.link, p.client, &ip, &seg)
        };
        Some(Emitted {
            t: p.t,
            client: p.client,
            ip_len,
            flags: p.flags,
            off: p.off,
            len: p.len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Tags;

    fn endpoints() -> Endpoints {
        let mut client = [0u8; 16];
        client[..4].copy_from_slice(&[198, 18, 1, 2]);
        let mut server = [0u8; 16];
        server[..4].copy_from_slice(&[61, 2, 3, 4]);
        Endpoints {
            link: Link {
                host_mac: [2, 0, 0, 0, 0, 1],
                peer_mac: [2, 0, 0, 0, 0, 2],
                tags: Tags::None,
            },
            v6: false,
            client,
            server,
            cport: 1100,
            sport: 25,
            c_ttl: 127,
            s_ttl: 50,
            c_win: 64240,
            s_win: 65535,
            c_mss: 1460,
            s_mss: 1460,
            rtt_c_us: 20_000,
            rtt_s_us: 80_000,
            c_bps: 64_000,
            s_bps: 1_000_000,
        }
    }

    /// Parse (client?, seq, ack, flags, payload len) back out of the frames.
    fn run(steps: Vec<Step>, open: Open) -> Vec<(bool, u32, u32, u8, usize, u64)> {
        let pools = Pools::new();
        let mut rng = Rng::new(1);
        let mut s = Session::new(endpoints(), steps, open, 1_000_000, &mut rng, &pools);
        let mut frame = Vec::new();
        let mut out = Vec::new();
        while let Some(e) = s.emit(&mut frame) {
            frame.extend_from_slice(s.payload(&e));
            s.advance(&mut rng, &pools);
            let tcp = &frame[14 + 20..];
            let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
            let ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
            let hl = usize::from(tcp[12] >> 4) * 4;
            out.push((e.client, seq, ack, tcp[13], tcp.len() - hl, e.t));
        }
        out
    }

    #[test]
    fn sequence_numbers_follow_the_bytes_sent() {
        let steps = vec![
            Step::Send {
                client: false,
                think_us: 0,
                data: Data::Bytes(b"220 mx ESMTP\r\n".to_vec()),
            },
            Step::Send {
                client: true,
                think_us: 0,
                data: Data::Bytes(vec![b'a'; 4000]),
            },
            Step::Send {
                client: false,
                think_us: 0,
                data: Data::Bytes(b"250 ok\r\n".to_vec()),
            },
            Step::Close {
                client: true,
                think_us: 0,
            },
        ];
        let pkts = run(steps, Open::Handshake);
        // Timestamps never go backwards.
        assert!(pkts.windows(2).all(|w| w[0].5 <= w[1].5));
        let (c_isn, s_isn) = (pkts[0].1, pkts[1].1);
        assert_eq!(pkts[1].2, c_isn.wrapping_add(1));
        // Each side's next seq equals the previous seq + payload (+1 for SYN/FIN).
        let mut next = [c_isn, s_isn];
        for p in &pkts {
            let side = usize::from(!p.0);
            if p.4 > 0 || p.3 & (SYN | FIN) != 0 {
                assert_eq!(p.1, next[side], "{p:?}");
            }
            let adv = p.4 as u32 + u32::from(p.3 & (SYN | FIN) != 0);
            next[side] = p.1.wrapping_add(adv);
        }
        // Client data was cut at the MSS: 1460 + 1460 + 1080.
        let client_data: Vec<usize> = pkts
            .iter()
            .filter(|p| p.0 && p.4 > 0)
            .map(|p| p.4)
            .collect();
        assert_eq!(client_data, vec![1460, 1460, 1080]);
        // The last packet acknowledges the server's FIN.
        let last = pkts.last().copied().unwrap_or_default();
        assert_eq!(last.2, next[1]);
    }

    #[test]
    fn unanswered_connection_is_three_syns() {
        static OFFSETS: [u64; 3] = [0, 3_000_000, 9_000_000];
        let pkts = run(Vec::new(), Open::NoAnswer(&OFFSETS));
        assert_eq!(pkts.len(), 3);
        assert!(pkts.iter().all(|p| p.0 && p.3 == SYN && p.1 == pkts[0].1));
        assert_eq!(pkts[2].5 - pkts[0].5, 9_000_000);
    }
}
