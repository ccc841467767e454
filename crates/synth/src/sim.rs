//! One phase of simulated time: hosts start connections (a binary heap of
//! host activities and live sessions ordered by their next packet time),
//! packets are written in global time order to the phase capture and fed to
//! the flow meter, and every SMTP session is counted for the ground truth.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;

use crate::content::{Pools, dns, hex_token, name, random_token};
use crate::flow::{FlowKey, FlowMeter, FlowSummary};
use crate::maillog::{DataFate, MailLog, RcptFate, Submission};
use crate::pcap::PcapWriter;
use crate::population::{
    ISP_RELAY, ISP_RESOLVER, ISP_SUBMISSION, Internet, MX_PER_PROVIDER, MX_POOL, POPULAR_PROVIDERS,
    Population, Role, SUBMISSION_PROVIDERS, Server, WEB_SERVERS, v4,
};
use crate::profile::{PHASE_DURATION_US, rates};
use crate::rng::Rng;
use crate::session::{Data, Endpoints, Open, Session, Step};
use crate::smtp::{
    self, Auth, Body, DataReply, Dialogue, Ending, Facts, Greeting, Outcome, RcptReply, Txn,
};
use crate::wire::PROTO_TCP;
use crate::wire::PROTO_UDP;

static SYN_WINDOWS: [u64; 3] = [0, 3_000_000, 9_000_000];
static SYN_LINUX: [u64; 3] = [0, 1_000_000, 3_000_000];

/// Totals of one phase.
#[derive(Clone, Debug, Default)]
pub struct PhaseStats {
    pub start_us: u64,
    pub end_us: u64,
    pub packets: u64,
    pub capture_bytes: u64,
    pub smtp_sessions: u64,
    pub by_port: [u64; 3],
    pub outcomes: [u64; 8],
    pub transactions: u64,
    pub messages: u64,
    pub rcpt_accepted: u64,
    pub rcpt_rejected: u64,
    pub all_transactions: u64,
    pub all_messages: u64,
    pub outbound_sessions: u64,
    pub outbound_mail_sessions: u64,
    pub outbound_spam_mail_sessions: u64,
    /// Outbound sessions in which a message body was transmitted (accepted
    /// or not), and those of them that were spam.
    pub outbound_data_sessions: u64,
    pub outbound_spam_data_sessions: u64,
    pub outbound_messages: u64,
    pub spam_messages: u64,
    pub outbound_messages_visible: u64,
    pub spam_messages_visible: u64,
    pub relay_submitted_messages: u64,
    pub relay_submitted_spam: u64,
    pub visible_commands: [u64; 9],
    pub visible_codes: BTreeMap<u16, u64>,
    pub op25b_dropped_sessions: u64,
    pub http_sessions: u64,
    pub dns_exchanges: u64,
    pub smtp_bytes: u64,
    pub other_bytes: u64,
    /// OP25B applied to this phase (meaningful for `before`).
    pub sim_blocked_sessions: u64,
    pub sim_blocked_messages: u64,
    pub sim_blocked_spam: u64,
    pub sim_blocked_mail_sessions: u64,
    pub sim_blocked_spam_mail_sessions: u64,
    pub sim_blocked_data_sessions: u64,
    pub sim_blocked_spam_data_sessions: u64,
    pub sim_collateral_sessions: u64,
    pub flows: Option<FlowSummary>,
}

/// What a phase run returns: totals, per-host counts, files written.
pub type PhaseOutput = (PhaseStats, Vec<HostStats>, Vec<(std::path::PathBuf, u64)>);

/// Per-host counts of one phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostStats {
    pub smtp_sessions: u64,
    pub port25_sessions: u64,
    pub port25_outbound_sessions: u64,
    pub outbound_sessions: u64,
    pub outbound_messages: u64,
    pub spam_messages: u64,
    pub submitted_messages: u64,
    pub blocked_sessions: u64,
}

struct Live {
    session: Session,
    c2s: FlowKey,
    s2c: FlowKey,
    smtp: bool,
}

struct Delivery {
    spam: bool,
    /// The relay's queue ID in the mail log, and when the customer handed
    /// the message in.
    queue_id: String,
    submitted_us: u64,
    rcpts: u8,
    text_len: usize,
    b64_len: usize,
}

enum Plan {
    NoAnswer,
    Reset,
    Talk(Box<Dialogue>),
}

/// What kind of sender a dialogue comes from (sets its habits).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    Mua,
    Mta,
}

const KIND_HOST: u64 = 0;
const KIND_SESSION: u64 = 1;
const KIND_DELIVERY: u64 = 2;

const SPAM_SUBJECTS: &[&str] = &[
    "Re: your account",
    "V1AGRA 80% off",
    "Cheap replica watches",
    "You have won!",
    "Low mortgage rates approved",
    "Hot stock alert: ZXPQ",
    "Urgent business proposal",
    "Re: hello",
    "Your order #48213",
    "Meet singles tonight",
    "Rolex from $99",
    "Refinance now",
    "Important notice from your bank",
    "Fw: photos",
];
const LEGIT_SUBJECTS: &[&str] = &[
    "Meeting tomorrow",
    "Re: project schedule",
    "Invoice for October",
    "Photos from the weekend",
    "Re: Re: lunch?",
    "Quarterly report draft",
    "Fw: notes",
    "Shipping confirmation",
    "Family dinner",
    "Re: budget",
    "Minutes of today's meeting",
    "Question about the order",
];
const BIG_PROVIDERS: &[&str] = &[
    "yahoo.com",
    "hotmail.com",
    "aol.com",
    "msn.com",
    "mail.ru",
    "yahoo.co.jp",
    "gmail.com",
];
const MAILERS_LEGIT: &[&str] = &[
    "Microsoft Outlook Express 6.00.2900.2180",
    "Microsoft Office Outlook, Build 11.0.6353",
    "Becky! ver. 2.24.02",
    "Thunderbird 1.0.7 (Windows/20050923)",
    "Mozilla Thunderbird 1.0.6 (X11/20050716)",
];
const MAILERS_SPAM: &[&str] = &[
    "Microsoft Outlook Express 6.00.2600.0000",
    "The Bat! (v2.00.3) Personal",
    "Microsoft Outlook, Build 10.0.2627",
    "AOL 9.0 for Windows",
];

pub struct PhaseRun<'a> {
    phase: usize,
    start_us: u64,
    stop_us: u64,
    rng: Rng,
    pop: &'a mut Population,
    net: &'a Internet,
    pools: &'a Pools,
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    seq: u64,
    sessions: Vec<Option<Box<Live>>>,
    free_sessions: Vec<usize>,
    deliveries: Vec<Option<Delivery>>,
    free_deliveries: Vec<usize>,
    salt: u64,
    pcap: PcapWriter,
    meter: Option<FlowMeter>,
    maillog: Option<MailLog>,
    frame: Vec<u8>,
    pub stats: PhaseStats,
    pub host_stats: Vec<HostStats>,
    relay_server_side: [Server; 2],
    spam_target: f64,
    /// `Profile::direct25_mta_retries`.
    direct25_mta_retries: u32,
    /// Legitimate messages the relay has accepted and not yet delivered.
    pending_legit: u64,
}

fn isp_server(submission: bool) -> Server {
    Server {
        ip: v4(if submission {
            ISP_SUBMISSION
        } else {
            ISP_RELAY
        }),
        ip6: None,
        name: if submission {
            "smtp.isp.example"
        } else {
            "mail.isp.example"
        }
        .into(),
        domain: "isp.example".into(),
        dead: false,
        starttls: false,
        pipelining: true,
        rtt_us: 600,
        ttl: 64,
        software: 0,
    }
}

impl<'a> PhaseRun<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        phase: usize,
        start_us: u64,
        seed: u64,
        pop: &'a mut Population,
        net: &'a Internet,
        pools: &'a Pools,
        out_dir: &Path,
        prefix: &str,
        sampling: u32,
        spam_target: f64,
        direct25_mta_retries: u32,
    ) -> anyhow::Result<Self> {
        let pcap = PcapWriter::create(&out_dir.join(format!("{prefix}.pcap")))?;
        // The exporter has been up for 12 days and a bit.
        let boot_us = start_us - 12 * 86_400_000_000 - 3_723_000_000;
        let meter = FlowMeter::new(out_dir, prefix, sampling, boot_us)?;
        let maillog = MailLog::create(
            &out_dir.join(format!("{prefix}-maillog")),
            crate::rng::mix(seed ^ (0x6d61_696c_6c6f_6700 + phase as u64)),
        )?;
        let n = pop.hosts.len();
        Ok(PhaseRun {
            phase,
            start_us,
            stop_us: start_us + PHASE_DURATION_US,
            rng: Rng::new(seed ^ (0x7068_6173_6500 + phase as u64)),
            pop,
            net,
            pools,
            heap: BinaryHeap::new(),
            seq: 0,
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            deliveries: Vec::new(),
            free_deliveries: Vec::new(),
            salt: crate::rng::mix(seed ^ (0x6275_7273_7400 + phase as u64)),
            pcap,
            meter: Some(meter),
            maillog: Some(maillog),
            frame: Vec::with_capacity(2048),
            stats: PhaseStats {
                start_us,
                ..PhaseStats::default()
            },
            host_stats: vec![HostStats::default(); n],
            relay_server_side: [isp_server(false), isp_server(true)],
            spam_target,
            direct25_mta_retries,
            pending_legit: 0,
        })
    }

    fn push(&mut self, t: u64, kind: u64, payload: u64) {
        self.seq += 1;
        self.heap
            .push(Reverse((t, self.seq, (kind << 60) | payload)));
    }

    fn push_host(&mut self, t: u64, host: usize, stream: u64) {
        if t < self.stop_us {
            self.push(t, KIND_HOST, ((host as u64) << 4) | stream);
        }
    }

    fn mean_gap_us(per_hour: f64) -> f64 {
        3_600_000_000.0 / per_hour.max(1e-6)
    }

    fn stream_rate(&self, host: usize, stream: u64) -> f64 {
        let h = &self.pop.hosts[host];
        let base = match (stream, h.role) {
            (0, Role::ZombieHeavy) => rates::HEAVY_ATTEMPTS_PER_HOUR_IN_BURST,
            (0, Role::ZombieMedium) | (0, Role::ZombieLow) => h.attempts_per_hour,
            (0, Role::SubscriberRelay) => rates::RELAY_MAIL_PER_HOUR,
            (0, Role::SubscriberSubmission) => rates::SUBMISSION_MAIL_PER_HOUR,
            (0, Role::SubscriberDirect25) => rates::DIRECT25_MAIL_PER_HOUR,
            (0, Role::BusinessMx) => rates::BUSINESS_MAIL_PER_HOUR,
            (0, Role::BusinessNewsletter) => rates::NEWSLETTER_SESSIONS_PER_HOUR,
            (1, r) if r.is_zombie() => return rates::WEB_PER_HOUR_ZOMBIE,
            (1, Role::BusinessMx) | (1, Role::BusinessNewsletter) => {
                return rates::WEB_PER_HOUR_BUSINESS;
            }
            (1, Role::IspRelay) | (1, Role::IspSubmission) => 0.0,
            (1, _) => return rates::WEB_PER_HOUR_SUBSCRIBER,
            (2, _) if h.stolen_credentials[self.phase] => rates::STOLEN_SUBMISSIONS_PER_HOUR,
            _ => 0.0,
        };
        base * h.rate_factor
    }

    /// Start of the heavy zombie's burst in the cycle holding `t`.
    fn burst_window(&mut self, host: usize, cycle: u64) -> (u64, u64) {
        let cycle_us = rates::HEAVY_CYCLE_MIN * 60_000_000;
        let burst_us = rates::HEAVY_BURST_MIN * 60_000_000;
        let h = crate::rng::mix(self.salt ^ ((host as u64) << 20) ^ cycle);
        let start = self.start_us + cycle * cycle_us + h % (cycle_us - burst_us);
        (start, start + burst_us)
    }

    /// Next activity time of a host stream after `t`, honouring bursts.
    fn next_activity(&mut self, host: usize, stream: u64, t: u64) -> Option<u64> {
        let rate = self.stream_rate(host, stream);
        if rate <= 0.0 {
            return None;
        }
        // Gaps spread evenly around the mean (coefficient of variation
        // 0.4, not 1 as for Poisson arrivals): small samples keep the
        // profile's mix instead of swinging with a few hosts' luck.
        let gap = (Self::mean_gap_us(rate) * (0.3 + 1.4 * self.rng.unit())) as u64 + 1;
        let mut next = t + gap;
        if stream == 0 && self.pop.hosts[host].role == Role::ZombieHeavy {
            let cycle_us = rates::HEAVY_CYCLE_MIN * 60_000_000;
            let mut cycle = t.saturating_sub(self.start_us) / cycle_us;
            loop {
                let (start, end) = self.burst_window(host, cycle);
                if next < start {
                    next = start + next.saturating_sub(t).min(60_000_000);
                }
                if next < end {
                    break;
                }
                cycle += 1;
                next = self.burst_window(host, cycle).0 + gap.min(60_000_000);
                if next >= self.stop_us {
                    break;
                }
            }
        }
        Some(next)
    }

    /// Run the phase to completion and close the files.
    pub fn run(mut self) -> anyhow::Result<PhaseOutput> {
        for host in 0..self.pop.hosts.len() {
            for stream in 0..3u64 {
                let rate = self.stream_rate(host, stream);
                if rate <= 0.0 {
                    continue;
                }
                let first = if self.pop.hosts[host].role == Role::ZombieHeavy && stream == 0 {
                    self.burst_window(host, 0).0
                } else {
                    let gap = self.rng.unit() * Self::mean_gap_us(rate);
                    self.start_us + gap as u64
                };
                self.push_host(first, host, stream);
            }
        }
        let mut last_t = self.start_us;
        while let Some(Reverse((t, _, code))) = self.heap.pop() {
            let kind = code >> 60;
            let payload = code & ((1 << 60) - 1);
            match kind {
                KIND_HOST => {
                    let host = (payload >> 4) as usize;
                    let stream = payload & 0xF;
                    self.host_activity(t, host, stream);
                    if let Some(next) = self.next_activity(host, stream, t) {
                        self.push_host(next, host, stream);
                    }
                }
                KIND_SESSION => {
                    last_t = last_t.max(t);
                    self.step_session(payload as usize)?;
                }
                _ => {
                    let idx = payload as usize;
                    if let Some(d) = self.deliveries.get_mut(idx).and_then(Option::take) {
                        self.free_deliveries.push(idx);
                        self.relay_delivery(t, d);
                    }
                }
            }
        }
        let end = last_t.max(self.stop_us);
        self.stats.end_us = end;
        let meter = self.meter.take();
        let mut files = Vec::new();
        self.stats.packets = self.pcap.packets();
        let (path, bytes) = self.pcap.finish()?;
        self.stats.capture_bytes = bytes;
        files.push((path, bytes));
        if let Some(log) = self.maillog.take() {
            files.push(log.finish()?);
        }
        if let Some(m) = meter {
            let summary = m.finish(end)?;
            files.extend(summary.files.iter().cloned());
            self.stats.flows = Some(summary);
        }
        Ok((self.stats, self.host_stats, files))
    }

    fn step_session(&mut self, idx: usize) -> anyhow::Result<()> {
        let Some(live) = self.sessions.get_mut(idx).and_then(Option::as_mut) else {
            return Ok(());
        };
        let Some(e) = live.session.emit(&mut self.frame) else {
            self.sessions[idx] = None;
            self.free_sessions.push(idx);
            return Ok(());
        };
        let key = if e.client { live.c2s } else { live.s2c };
        let smtp = live.smtp;
        let payload = live.session.payload(&e);
        self.pcap.write_parts(e.t, &self.frame, payload)?;
        let frame_len = (self.frame.len() + payload.len()) as u64;
        live.session.advance(&mut self.rng, self.pools);
        let next = live.session.next_time();
        if smtp {
            self.stats.smtp_bytes += frame_len;
        } else {
            self.stats.other_bytes += frame_len;
        }
        if let Some(m) = self.meter.as_mut() {
            m.packet(e.t, &key, e.ip_len, e.flags)?;
        }
        match next {
            Some(nt) => self.push(nt, KIND_SESSION, idx as u64),
            None => {
                self.sessions[idx] = None;
                self.free_sessions.push(idx);
            }
        }
        Ok(())
    }

    fn add_session(&mut self, session: Session, udp: bool, smtp: bool) {
        let ep = &session.ep;
        let proto = if udp { PROTO_UDP } else { PROTO_TCP };
        let c2s = FlowKey {
            v6: ep.v6,
            proto,
            src: ep.client,
            dst: ep.server,
            sport: ep.cport,
            dport: ep.sport,
        };
        let s2c = FlowKey {
            v6: ep.v6,
            proto,
            src: ep.server,
            dst: ep.client,
            sport: ep.sport,
            dport: ep.cport,
        };
        let Some(t) = session.next_time() else {
            return;
        };
        let live = Box::new(Live {
            session,
            c2s,
            s2c,
            smtp,
        });
        let idx = match self.free_sessions.pop() {
            Some(i) => {
                self.sessions[i] = Some(live);
                i
            }
            None => {
                self.sessions.push(Some(live));
                self.sessions.len() - 1
            }
        };
        self.push(t, KIND_SESSION, idx as u64);
    }

    /// Endpoints between a host and a server.
    fn endpoints(&mut self, host: usize, server: &Server, sport: u16, v6: bool) -> Endpoints {
        let rng = &mut self.rng;
        let h = &mut self.pop.hosts[host];
        let cport = h.ephemeral_port(rng);
        let (client, srv) = match (v6, h.ip6, server.ip6) {
            (true, Some(c), Some(s)) => (c, s),
            _ => (h.ip, server.ip),
        };
        let v6 = v6 && h.ip6.is_some() && server.ip6.is_some();
        let (rtt_c, c_bps, s_bps) = match h.role {
            Role::IspRelay | Role::IspSubmission => (400 + rng.below(400), 12_500_000, 12_500_000),
            Role::BusinessMx | Role::BusinessNewsletter => {
                (1_500 + rng.below(4_000), 1_250_000, 1_250_000)
            }
            _ => (
                8_000 + rng.below(30_000),
                64_000 + rng.below(64_000),
                900_000 + rng.below(600_000),
            ),
        };
        let jitter = server.rtt_us / 10;
        Endpoints {
            link: h.link,
            v6,
            client,
            server: srv,
            cport,
            sport,
            c_ttl: if h.windows { 127 } else { 63 },
            s_ttl: server.ttl,
            c_win: if h.windows { 64_240 } else { 65_535 },
            s_win: 65_535,
            c_mss: if v6 { 1440 } else { h.mss },
            s_mss: if v6 { 1440 } else { 1460 },
            rtt_c_us: rtt_c,
            rtt_s_us: server.rtt_us - jitter / 2 + rng.below(jitter.max(1)),
            c_bps,
            s_bps,
        }
    }

    fn host_activity(&mut self, t: u64, host: usize, stream: u64) {
        match stream {
            0 => self.mail_activity(t, host),
            1 => self.web_activity(t, host),
            _ => self.stolen_submission(t, host),
        }
    }

    // ---------------------------------------------------------------- web, dns

    #[allow(clippy::too_many_arguments)]
    fn dns_exchange(
        &mut self,
        t: u64,
        host: usize,
        resolver: [u8; 16],
        rtt: u64,
        qname: &str,
        qtype: u16,
        mx: &str,
    ) {
        let id = self.rng.next_u32() as u16;
        let mut q = Vec::with_capacity(64);
        dns::query(id, qname, qtype, &mut q);
        let mut r = Vec::with_capacity(96);
        let addr: Vec<u8> = if qtype == dns::TYPE_AAAA {
            let mut a = vec![0x2a, 0x01];
            a.extend_from_slice(&self.rng.next_u64().to_be_bytes());
            a.extend_from_slice(&self.rng.next_u64().to_be_bytes()[..6]);
            a
        } else {
            let h = crate::rng::mix(self.rng.next_u64());
            vec![
                61 + (h % 150) as u8,
                (h >> 8) as u8,
                (h >> 16) as u8,
                1 + (h >> 24) as u8 % 250,
            ]
        };
        dns::response(id, qname, qtype, &addr, mx, &mut r);
        let server = Server {
            ip: resolver,
            ip6: None,
            name: String::new(),
            domain: String::new(),
            dead: false,
            starttls: false,
            pipelining: false,
            rtt_us: rtt,
            ttl: 64,
            software: 0,
        };
        let mut ep = self.endpoints(host, &server, 53, false);
        ep.cport = self.rng.range(1025, 65000) as u16;
        let steps = vec![
            Step::Send {
                client: true,
                think_us: 0,
                data: Data::Bytes(q),
            },
            Step::Send {
                client: false,
                think_us: 200 + self.rng.below(20_000),
                data: Data::Bytes(r),
            },
        ];
        let s = Session::new(ep, steps, Open::Udp, t, &mut self.rng, self.pools);
        self.stats.dns_exchanges += 1;
        self.add_session(s, true, false);
    }

    fn web_activity(&mut self, t: u64, host: usize) {
        let server = self.net.web(self.rng.below(WEB_SERVERS));
        let has6 = self.pop.hosts[host].ip6.is_some() && server.ip6.is_some();
        let v6 = has6 && self.rng.chance(rates::IPV6_USE);
        let qtype = if has6 { dns::TYPE_AAAA } else { dns::TYPE_A };
        let rtt = 600 + self.rng.below(1500);
        self.dns_exchange(t, host, v4(ISP_RESOLVER), rtt, &server.name, qtype, "");
        let https = self.rng.chance(0.35);
        let t0 = t + 3_000 + self.rng.below(30_000);
        let ep = self.endpoints(host, &server, if https { 443 } else { 80 }, v6);
        let requests = self.rng.range(1, 2);
        let mut steps = Vec::new();
        if https {
            steps.push(Step::Send {
                client: true,
                think_us: 500,
                data: Data::TlsClientHello,
            });
            steps.push(Step::Send {
                client: false,
                think_us: 2_000,
                data: Data::TlsServerResume,
            });
            steps.push(Step::Send {
                client: true,
                think_us: 500,
                data: Data::TlsClientFinished,
            });
        }
        for i in 0..requests {
            let body_len = (self.rng.exp(rates::WEB_MEAN_BODY) as usize + 300).min(400_000);
            let path = format!(
                "/{}/{}.html",
                random_token(&mut self.rng, 6),
                random_token(&mut self.rng, 8)
            );
            let think = if i == 0 {
                1_000
            } else {
                50_000 + self.rng.below(2_000_000)
            };
            if https {
                steps.push(Step::Send {
                    client: true,
                    think_us: think,
                    data: Data::TlsApp(380 + path.len()),
                });
                steps.push(Step::Send {
                    client: false,
                    think_us: 5_000 + self.rng.below(50_000),
                    data: Data::TlsApp(body_len + 250),
                });
            } else {
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)\r\nAccept: */*\r\nAccept-Language: ja\r\nAccept-Encoding: gzip, deflate\r\nConnection: Keep-Alive\r\n\r\n",
                    server.name
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\nDate: {}\r\nServer: Apache/2.0.54 (Unix)\r\nContent-Length: {body_len}\r\nKeep-Alive: timeout=15, max=100\r\nConnection: Keep-Alive\r\nContent-Type: text/html; charset=Shift_JIS\r\n\r\n",
                    smtp::rfc5322_date(t / 1_000_000)
                );
                steps.push(Step::Send {
                    client: true,
                    think_us: think,
                    data: Data::Bytes(req.into_bytes()),
                });
                steps.push(Step::Send {
                    client: false,
                    think_us: 5_000 + self.rng.below(50_000),
                    data: Data::Http {
                        head: head.into_bytes(),
                        body_len,
                    },
                });
            }
        }
        if https {
            steps.push(Step::Send {
                client: true,
                think_us: 100_000,
                data: Data::TlsCloseNotify,
            });
        }
        steps.push(Step::Close {
            client: true,
            think_us: 200_000 + self.rng.below(3_000_000),
        });
        let s = Session::new(ep, steps, Open::Handshake, t0, &mut self.rng, self.pools);
        self.stats.http_sessions += 1;
        self.add_session(s, false, false);
    }

    // ---------------------------------------------------------------- mail

    fn mail_activity(&mut self, t: u64, host: usize) {
        let role = self.pop.hosts[host].role;
        match role {
            Role::ZombieHeavy | Role::ZombieMedium | Role::ZombieLow => {
                self.zombie_attempt(t, host)
            }
            Role::SubscriberRelay => self.subscriber_to_isp(t, host, false),
            Role::SubscriberSubmission => self.submission_elsewhere(t, host),
            Role::SubscriberDirect25 => {
                if self.phase == 0 {
                    self.direct_delivery(t, host, Sender::Mua);
                } else {
                    self.mta_retries(t, host);
                    if self.rng.chance(rates::DIRECT25_MOVE_TO_587) {
                        self.submission_elsewhere(t, host);
                    } else {
                        self.subscriber_to_isp(t, host, false);
                    }
                }
            }
            Role::BusinessMx | Role::BusinessNewsletter => {
                self.direct_delivery(t, host, Sender::Mta)
            }
            Role::IspRelay | Role::IspSubmission => {}
        }
    }

    /// After the block, a direct-25 customer's own mail server retrying a
    /// message on port 25: the message goes to 1-4 recipient domains, each
    /// its own MX and queue entry, each retried `direct25_mta_retries` times
    /// `MTA_RETRY_US` apart within the phase; the SYNs never get out. Draws
    /// nothing where the profile has no retries.
    fn mta_retries(&mut self, t: u64, host: usize) {
        if self.direct25_mta_retries == 0 {
            return;
        }
        for _ in 0..self.rng.range(1, 4) {
            let server = if self.rng.chance(0.7) {
                self.popular_mx()
            } else {
                self.alive_mx()
            };
            for k in 0..u64::from(self.direct25_mta_retries) {
                let at = t + k * rates::MTA_RETRY_US;
                if at >= self.stop_us {
                    break;
                }
                self.stats.op25b_dropped_sessions += 1;
                self.smtp_session(at, host, &server, 25, false, Plan::NoAnswer, false);
            }
        }
    }

    fn alive_mx(&mut self) -> Server {
        loop {
            let s = self.net.mx(self.rng.below(MX_POOL));
            if !s.dead {
                return s;
            }
        }
    }

    fn popular_mx(&mut self) -> Server {
        // A few providers get most of the mail.
        let p = (self.rng.unit().powi(2) * POPULAR_PROVIDERS as f64) as u64;
        let j = self.rng.below(MX_PER_PROVIDER);
        self.net.popular_mx(p, j)
    }

    fn local_part(&mut self) -> String {
        match self.rng.below(4) {
            0 => name(&mut self.rng),
            1 => {
                let mut s = name(&mut self.rng);
                s.push('.');
                s.push_str(&name(&mut self.rng));
                s
            }
            2 => {
                use std::fmt::Write;
                let mut s = name(&mut self.rng);
                let _ = write!(s, "{}", self.rng.range(1, 999));
                s
            }
            _ => random_token(&mut self.rng, 7),
        }
    }

    fn spam_body(&mut self) -> Body {
        let b64_len = if self.rng.chance(0.25) {
            self.rng.range(4_000, 12_000) as usize
        } else {
            0
        };
        Body {
            text_len: self.rng.range(600, 3_000) as usize,
            b64_len,
            spam: true,
            from_name: name(&mut self.rng),
            subject: self.rng.pick_str(SPAM_SUBJECTS).to_string(),
            mailer: self.rng.pick_str(MAILERS_SPAM),
        }
    }

    fn legit_body(&mut self, newsletter: bool) -> Body {
        let (text_len, b64_len) = if newsletter {
            (self.rng.range(6_000, 25_000) as usize, 0)
        } else {
            let text = (self.rng.exp(2_500.0) as usize + 300).min(30_000);
            let att = if self.rng.chance(0.15) {
                (self.rng.exp(40_000.0) as usize + 5_000).min(600_000)
            } else {
                0
            };
            (text, att)
        };
        Body {
            text_len,
            b64_len,
            spam: false,
            from_name: name(&mut self.rng),
            subject: if newsletter {
                "Newsletter: this week's news".to_string()
            } else {
                self.rng.pick_str(LEGIT_SUBJECTS).to_string()
            },
            mailer: self.rng.pick_str(MAILERS_LEGIT),
        }
    }

    fn zombie_helo(&mut self, host: usize, server: &Server) -> String {
        let style = self.pop.hosts[host].helo_style;
        match style {
            0 => {
                if self.rng.chance(0.5) {
                    "[0.0.0.0]".to_string()
                } else {
                    format!(
                        "[192.168.{}.{}]",
                        self.rng.range(0, 2),
                        self.rng.range(2, 200)
                    )
                }
            }
            1 => random_token(&mut self.rng, 8),
            2 => format!("{}.com", name(&mut self.rng)),
            3 => self.rng.pick_str(BIG_PROVIDERS).to_string(),
            4 => server.domain.clone(),
            _ => format!("HOME-{}", hex_token(&mut self.rng, 8)),
        }
    }

    /// Probability that a zombie's message is accepted after DATA: 0.8,
    /// steered by the messages accepted so far in this phase towards the
    /// profile's spam share, so that small samples keep the profile's mix
    /// (receiving servers' filters are the knob: nothing else changes).
    fn zombie_queue_probability(&self) -> f64 {
        let target = self.spam_target;
        if !(target > 0.0 && target < 1.0) {
            return 0.8;
        }
        let spam = self.stats.spam_messages as f64;
        let legit = self.stats.outbound_messages as f64 - spam + self.pending_legit as f64;
        let desired = target / (1.0 - target) * legit;
        let r = (spam + 10.0) / (desired + 10.0);
        (0.8 / (r * r * r)).clamp(0.2, 0.97)
    }

    fn zombie_attempt(&mut self, t: u64, host: usize) {
        let server = if self.rng.chance(0.2) {
            self.popular_mx()
        } else {
            self.net.mx(self.rng.below(MX_POOL))
        };
        let mut t = t;
        if self.rng.chance(rates::ZOMBIE_MX_LOOKUP) {
            let resolver = self.net.public_resolver(self.rng.below(4));
            let rtt = 20_000 + self.rng.below(60_000);
            let domain = server.domain.clone();
            let mx_name = server.name.clone();
            self.dns_exchange(t, host, resolver, rtt, &domain, dns::TYPE_MX, &mx_name);
            t += rtt + 40_000;
        }
        if self.phase == 1 {
            // OP25B: the SYNs never get out.
            self.stats.op25b_dropped_sessions += 1;
            self.smtp_session(t, host, &server, 25, false, Plan::NoAnswer, true);
            return;
        }
        let role = self.pop.hosts[host].role;
        let plan = if server.dead {
            Plan::NoAnswer
        } else {
            let x = self.rng.unit();
            if x < 0.10 {
                Plan::NoAnswer
            } else if x < 0.18 {
                Plan::Reset
            } else {
                let greeting = if x < 0.40 {
                    Greeting::Reject554
                } else if x < 0.44 {
                    Greeting::Temp421
                } else {
                    Greeting::Ok
                };
                let helo = self.zombie_helo(host, &server);
                let (max_txn, max_rcpt) = match role {
                    Role::ZombieHeavy => (4, 25),
                    Role::ZombieMedium => (3, 15),
                    _ => (2, 8),
                };
                let n_txn = if self.rng.chance(0.05) {
                    0
                } else {
                    self.rng.range(1, max_txn)
                };
                let mut txns = Vec::new();
                for _ in 0..n_txn {
                    let from_domain = if self.rng.chance(0.5) {
                        self.rng.pick_str(BIG_PROVIDERS).to_string()
                    } else {
                        format!("{}.com", name(&mut self.rng))
                    };
                    let from = format!("{}@{}", self.local_part(), from_domain);
                    let n_rcpt = self.rng.range(1, max_rcpt);
                    let mut rcpts = Vec::new();
                    for _ in 0..n_rcpt {
                        let mut r = self.local_part();
                        r.push('@');
                        r.push_str(&server.domain);
                        let x = self.rng.unit();
                        let reply = if x < 0.40 {
                            RcptReply::Ok
                        } else if x < 0.80 {
                            RcptReply::UserUnknown
                        } else if x < 0.90 {
                            RcptReply::Greylisted
                        } else if x < 0.95 {
                            RcptReply::RelayDenied
                        } else {
                            RcptReply::Blocked
                        };
                        rcpts.push((r, reply));
                    }
                    let p_queued = self.zombie_queue_probability();
                    let x = self.rng.unit();
                    let data = if x < p_queued {
                        DataReply::Queued
                    } else {
                        let y = self.rng.unit();
                        if y < 0.6 {
                            DataReply::Spam554
                        } else if y < 0.85 {
                            DataReply::Content550
                        } else {
                            DataReply::Temp451
                        }
                    };
                    txns.push(Txn {
                        from,
                        mail_rejected: self.rng.chance(0.05),
                        rcpts,
                        data,
                        body: self.spam_body(),
                    });
                }
                let x = self.rng.unit();
                let ending = if x < 0.5 {
                    Ending::Quit
                } else if x < 0.8 {
                    Ending::ClientClose
                } else {
                    Ending::ClientAbort
                };
                let greet_delay = if self.rng.chance(0.1) {
                    5_000_000
                } else {
                    5_000 + self.rng.below(300_000)
                };
                Plan::Talk(Box::new(Dialogue {
                    port: 25,
                    server_name: server.name.clone(),
                    software: server.software,
                    greeting,
                    greet_delay_us: greet_delay,
                    ehlo: self.rng.chance(0.4),
                    helo_arg: helo,
                    offer_pipelining: server.pipelining,
                    offer_starttls: server.starttls,
                    offer_auth: false,
                    starttls: false,
                    implicit_tls: false,
                    auth: None,
                    pipelining: self.pop.hosts[host].pipelining,
                    txns,
                    ending,
                    client_think_us: 2_000,
                    server_think_us: 8_000,
                    data_delay_us: 200_000,
                    date_unix_s: t / 1_000_000,
                    client_ip: self.pop.hosts[host].ip_string(),
                }))
            }
        };
        self.smtp_session(t, host, &server, 25, false, plan, true);
    }

    /// Legitimate delivery straight to the recipient's MX on port 25.
    fn direct_delivery(&mut self, t: u64, host: usize, sender: Sender) {
        let role = self.pop.hosts[host].role;
        let newsletter = role == Role::BusinessNewsletter;
        let server = if newsletter {
            if self.rng.chance(0.3) {
                self.popular_mx()
            } else {
                self.alive_mx()
            }
        } else if self.rng.chance(0.7) {
            self.popular_mx()
        } else {
            self.alive_mx()
        };
        let n_txn = if newsletter || self.rng.chance(0.8) {
            1
        } else {
            2
        };
        let max_rcpt = if newsletter { 3 } else { 4 };
        let (rcpt_ok, grey) = if newsletter {
            (0.95, 0.02)
        } else {
            (0.97, 0.01)
        };
        let domain = self.pop.hosts[host].domain.clone();
        let mut txns = Vec::new();
        for _ in 0..n_txn {
            let from = if newsletter {
                format!("news@{domain}")
            } else if sender == Sender::Mua {
                format!("{}@{}", self.local_part(), self.rng.pick_str(BIG_PROVIDERS))
            } else {
                format!("{}@{}", self.local_part(), domain)
            };
            let n = self.rng.range(1, max_rcpt);
            let mut rcpts = Vec::new();
            for _ in 0..n {
                let x = self.rng.unit();
                let reply = if x < rcpt_ok {
                    RcptReply::Ok
                } else if x < rcpt_ok + grey {
                    RcptReply::Greylisted
                } else {
                    RcptReply::UserUnknown
                };
                rcpts.push((format!("{}@{}", self.local_part(), server.domain), reply));
            }
            txns.push(Txn {
                from,
                mail_rejected: false,
                rcpts,
                data: if self.rng.chance(0.99) {
                    DataReply::Queued
                } else {
                    DataReply::Temp451
                },
                body: self.legit_body(newsletter),
            });
        }
        let v6 = self.pop.hosts[host].ip6.is_some()
            && server.ip6.is_some()
            && self.rng.chance(rates::IPV6_USE);
        let x = self.rng.unit();
        let plan = if x < 0.005 {
            Plan::NoAnswer
        } else {
            let greeting = if x < 0.015 {
                Greeting::Temp421
            } else {
                Greeting::Ok
            };
            let hostname = self.pop.hosts[host].hostname.clone();
            Plan::Talk(Box::new(Dialogue {
                port: 25,
                server_name: server.name.clone(),
                software: server.software,
                greeting,
                greet_delay_us: 3_000 + self.rng.below(200_000),
                ehlo: true,
                helo_arg: hostname,
                offer_pipelining: server.pipelining,
                offer_starttls: server.starttls,
                offer_auth: false,
                starttls: self
                    .rng
                    .chance(if sender == Sender::Mta { 0.3 } else { 0.1 }),
                implicit_tls: false,
                auth: None,
                pipelining: sender == Sender::Mta || newsletter,
                txns,
                ending: Ending::Quit,
                client_think_us: if sender == Sender::Mta { 1_000 } else { 5_000 },
                server_think_us: 6_000,
                data_delay_us: 150_000,
                date_unix_s: t / 1_000_000,
                client_ip: self.pop.hosts[host].ip_string(),
            }))
        };
        self.smtp_session(t, host, &server, 25, v6, plan, false);
    }

    fn subscriber_to_isp(&mut self, t: u64, host: usize, stolen: bool) {
        let p25 = if self.phase == 0 {
            rates::RELAY_PORT25_BEFORE
        } else {
            rates::RELAY_PORT25_AFTER
        };
        let (port, submission) = if !stolen && self.rng.chance(p25) {
            (25, self.rng.chance(0.5))
        } else {
            (587, true)
        };
        let server = self.relay_server_side[usize::from(submission)].clone();
        let auth = (port == 587).then(|| Auth {
            login: self.rng.chance(if stolen { 0.5 } else { 0.6 }),
            user: format!("{}@{}", self.local_part(), "isp.example"),
            pass: random_token(&mut self.rng, 8),
            ok: self.rng.chance(if stolen { 0.85 } else { 0.99 }),
        });
        let n_txn = if stolen {
            self.rng.range(1, 3)
        } else {
            *self.rng.pick(&[1u64, 1, 1, 1, 1, 1, 1, 2, 2, 3])
        };
        let mut txns = Vec::new();
        for _ in 0..n_txn {
            let from = format!("{}@isp.example", self.local_part());
            let n = if stolen {
                self.rng.range(10, 50)
            } else {
                self.rng.range(1, 3)
            };
            let mut rcpts = Vec::new();
            for _ in 0..n {
                let dom = if self.rng.chance(0.5) {
                    self.rng.pick_str(BIG_PROVIDERS).to_string()
                } else {
                    format!("{}.co.jp", name(&mut self.rng))
                };
                let reply = if self.rng.chance(if stolen { 0.95 } else { 0.995 }) {
                    RcptReply::Ok
                } else {
                    RcptReply::UserUnknown
                };
                rcpts.push((format!("{}@{}", self.local_part(), dom), reply));
            }
            let body = if stolen {
                self.spam_body()
            } else {
                self.legit_body(false)
            };
            txns.push(Txn {
                from,
                mail_rejected: false,
                rcpts,
                data: if self.rng.chance(if stolen { 0.92 } else { 0.995 }) {
                    DataReply::Queued
                } else {
                    DataReply::Temp451
                },
                body,
            });
        }
        let hostname = self.pop.hosts[host].hostname.clone();
        let dialogue = Dialogue {
            port,
            server_name: server.name.clone(),
            software: 0,
            greeting: Greeting::Ok,
            greet_delay_us: 1_000 + self.rng.below(20_000),
            ehlo: stolen || self.rng.chance(0.85),
            helo_arg: if stolen {
                self.zombie_helo(host, &server)
            } else {
                hostname
            },
            offer_pipelining: true,
            offer_starttls: false,
            offer_auth: port == 587,
            starttls: false,
            implicit_tls: false,
            auth,
            pipelining: stolen && self.pop.hosts[host].pipelining,
            txns,
            ending: Ending::Quit,
            client_think_us: if stolen { 2_000 } else { 8_000 },
            server_think_us: 3_000,
            data_delay_us: 80_000,
            date_unix_s: t / 1_000_000,
            client_ip: self.pop.hosts[host].ip_string(),
        };
        self.smtp_session(
            t,
            host,
            &server,
            port,
            false,
            Plan::Talk(Box::new(dialogue)),
            stolen,
        );
    }

    fn stolen_submission(&mut self, t: u64, host: usize) {
        self.subscriber_to_isp(t, host, true);
    }

    fn submission_elsewhere(&mut self, t: u64, host: usize) {
        let server = self.net.submission(self.rng.below(SUBMISSION_PROVIDERS));
        let port = if self.rng.chance(0.3) { 465 } else { 587 };
        let starttls = port == 587 && self.rng.chance(0.85);
        let n_txn = if self.rng.chance(0.8) { 1 } else { 2 };
        let mut txns = Vec::new();
        for _ in 0..n_txn {
            let n = self.rng.range(1, 3);
            let rcpts = (0..n)
                .map(|_| {
                    (
                        format!("{}@{}", self.local_part(), self.rng.pick_str(BIG_PROVIDERS)),
                        RcptReply::Ok,
                    )
                })
                .collect();
            txns.push(Txn {
                from: format!("{}@{}", self.local_part(), server.domain),
                mail_rejected: false,
                rcpts,
                data: DataReply::Queued,
                body: self.legit_body(false),
            });
        }
        let v6 = self.pop.hosts[host].ip6.is_some()
            && server.ip6.is_some()
            && self.rng.chance(rates::IPV6_USE);
        let hostname = self.pop.hosts[host].hostname.clone();
        let dialogue = Dialogue {
            port,
            server_name: server.name.clone(),
            software: server.software,
            greeting: Greeting::Ok,
            greet_delay_us: 2_000 + self.rng.below(50_000),
            ehlo: true,
            helo_arg: hostname,
            offer_pipelining: true,
            offer_starttls: true,
            offer_auth: true,
            starttls,
            implicit_tls: port == 465,
            auth: Some(Auth {
                login: self.rng.chance(0.5),
                user: format!("{}@{}", self.local_part(), server.domain),
                pass: random_token(&mut self.rng, 10),
                ok: true,
            }),
            pipelining: false,
            txns,
            ending: Ending::Quit,
            client_think_us: 8_000,
            server_think_us: 5_000,
            data_delay_us: 100_000,
            date_unix_s: t / 1_000_000,
            client_ip: self.pop.hosts[host].ip_string(),
        };
        self.smtp_session(
            t,
            host,
            &server,
            port,
            v6,
            Plan::Talk(Box::new(dialogue)),
            false,
        );
    }

    fn relay_delivery(&mut self, t: u64, d: Delivery) {
        if !d.spam {
            self.pending_legit = self.pending_legit.saturating_sub(1);
        }
        let host = self.pop.relay_index;
        let server = if d.spam {
            if self.rng.chance(0.2) {
                self.popular_mx()
            } else {
                self.alive_mx()
            }
        } else if self.rng.chance(0.75) {
            self.popular_mx()
        } else {
            self.alive_mx()
        };
        let ok_share = if d.spam { 0.5 } else { 0.97 };
        let rcpts = (0..d.rcpts.max(1))
            .map(|_| {
                let reply = if self.rng.chance(ok_share) {
                    RcptReply::Ok
                } else {
                    RcptReply::UserUnknown
                };
                (format!("{}@{}", self.local_part(), server.domain), reply)
            })
            .collect();
        let mut body = if d.spam {
            self.spam_body()
        } else {
            self.legit_body(false)
        };
        body.text_len = d.text_len;
        body.b64_len = d.b64_len;
        let queued = self.rng.chance(if d.spam { 0.85 } else { 0.995 });
        let txn = Txn {
            from: format!("{}@isp.example", self.local_part()),
            mail_rejected: false,
            rcpts,
            data: if queued {
                DataReply::Queued
            } else if d.spam {
                DataReply::Spam554
            } else {
                DataReply::Temp451
            },
            body,
        };
        let dialogue = Dialogue {
            port: 25,
            server_name: server.name.clone(),
            software: server.software,
            greeting: Greeting::Ok,
            greet_delay_us: 3_000 + self.rng.below(100_000),
            ehlo: true,
            helo_arg: "mx-out1.isp.example".into(),
            offer_pipelining: server.pipelining,
            offer_starttls: server.starttls,
            offer_auth: false,
            starttls: self.rng.chance(0.3),
            implicit_tls: false,
            auth: None,
            pipelining: true,
            txns: vec![txn],
            ending: Ending::Quit,
            client_think_us: 500,
            server_think_us: 5_000,
            data_delay_us: 150_000,
            date_unix_s: t / 1_000_000,
            client_ip: "198.19.255.10".into(),
        };
        if let Some(log) = self.maillog.as_mut() {
            let rcpts: Vec<(String, RcptFate)> = dialogue.txns[0]
                .rcpts
                .iter()
                .map(|(a, r)| {
                    let fate = if *r == RcptReply::Ok {
                        RcptFate::Accepted
                    } else {
                        RcptFate::UserUnknown
                    };
                    (a.clone(), fate)
                })
                .collect();
            let data = match dialogue.txns[0].data {
                DataReply::Queued => DataFate::Queued,
                DataReply::Spam554 => DataFate::Spam554,
                _ => DataFate::Temp451,
            };
            let ip = format!(
                "{}.{}.{}.{}",
                server.ip[0], server.ip[1], server.ip[2], server.ip[3]
            );
            log.delivery(
                t,
                d.submitted_us,
                &d.queue_id,
                (&server.name, &ip),
                &rcpts,
                data,
            );
        }
        self.smtp_session(
            t,
            host,
            &server,
            25,
            false,
            Plan::Talk(Box::new(dialogue)),
            d.spam,
        );
    }

    /// Logs a message the ISP's servers took from a customer; returns the
    /// relay's queue ID for it.
    fn log_submission(
        &mut self,
        t: u64,
        host: usize,
        server: &Server,
        d: &Dialogue,
        txn: &Txn,
        accepted: usize,
    ) -> String {
        let h = &self.pop.hosts[host];
        // Postfix names the client by its verified reverse DNS, "unknown"
        // without one; a subscriber's own machine name is not in the DNS.
        let client_name = if h.hostname.contains('.') {
            h.hostname.as_str()
        } else {
            "unknown"
        };
        let sasl_username = d.auth.as_ref().filter(|a| a.ok).map(|a| a.user.as_str());
        let rcpts: Vec<&str> = txn
            .rcpts
            .iter()
            .filter(|(_, r)| *r == RcptReply::Ok)
            .map(|(a, _)| a.as_str())
            .collect();
        debug_assert_eq!(rcpts.len(), accepted);
        let submission = Submission {
            t_us: t,
            via_submission_server: server.ip[..4] == [198, 19, 255, 25],
            client_name,
            client_ip: &d.client_ip,
            sasl_username,
            from: &txn.from,
            size: 600 + txn.body.text_len + txn.body.b64_len,
            rcpts,
        };
        match self.maillog.as_mut() {
            Some(log) => log.submission(&submission),
            None => String::new(),
        }
    }

    /// Start an SMTP connection and count it for the ground truth.
    #[allow(clippy::too_many_arguments)]
    fn smtp_session(
        &mut self,
        t: u64,
        host: usize,
        server: &Server,
        port: u16,
        v6: bool,
        plan: Plan,
        spam: bool,
    ) {
        let ep = self.endpoints(host, server, port, v6);
        let windows = self.pop.hosts[host].windows;
        let (steps, facts, open) = match plan {
            Plan::NoAnswer => (
                Vec::new(),
                Facts::no_answer(),
                Open::NoAnswer(if windows { &SYN_WINDOWS } else { &SYN_LINUX }),
            ),
            Plan::Reset => (Vec::new(), Facts::reset(), Open::Reset),
            Plan::Talk(d) => {
                let (steps, facts) = smtp::script(&d, &mut self.rng);
                // Mail accepted by the ISP's servers goes out through the relay.
                if matches!(server.ip[..4], [198, 19, 255, 10] | [198, 19, 255, 25]) {
                    let mut delay = 3_000_000 + self.rng.below(40_000_000);
                    for txn in d.txns.iter() {
                        let accepted = txn
                            .rcpts
                            .iter()
                            .filter(|(_, r)| *r == RcptReply::Ok)
                            .count();
                        if accepted == 0 || txn.data != DataReply::Queued || facts.messages == 0 {
                            continue;
                        }
                        delay += self.rng.below(2_000_000);
                        let when = t + delay;
                        let queue_id = self.log_submission(t, host, server, &d, txn, accepted);
                        if when >= self.stop_us {
                            continue;
                        }
                        let dlv = Delivery {
                            spam: txn.body.spam,
                            queue_id,
                            submitted_us: t,
                            rcpts: accepted.min(5) as u8,
                            text_len: txn.body.text_len,
                            b64_len: txn.body.b64_len,
                        };
                        if !dlv.spam {
                            self.pending_legit += 1;
                        }
                        let idx = match self.free_deliveries.pop() {
                            Some(i) => {
                                self.deliveries[i] = Some(dlv);
                                i
                            }
                            None => {
                                self.deliveries.push(Some(dlv));
                                self.deliveries.len() - 1
                            }
                        };
                        self.push(when, KIND_DELIVERY, idx as u64);
                    }
                }
                (steps, facts, Open::Handshake)
            }
        };
        let server_is_isp = matches!(server.ip[..4], [198, 19, 255, _]) && !ep.v6;
        self.account(host, port, server_is_isp, &facts, spam);
        let s = Session::new(ep, steps, open, t, &mut self.rng, self.pools);
        self.add_session(s, false, true);
    }

    fn account(&mut self, host: usize, port: u16, server_is_isp: bool, f: &Facts, spam: bool) {
        let st = &mut self.stats;
        st.smtp_sessions += 1;
        match port {
            25 => st.by_port[0] += 1,
            587 => st.by_port[1] += 1,
            _ => st.by_port[2] += 1,
        }
        st.outcomes[f.outcome_index] += 1;
        st.transactions += f.visible_transactions;
        st.messages += f.visible_messages;
        st.rcpt_accepted += f.visible_rcpt_accepted;
        st.rcpt_rejected += f.visible_rcpt_rejected;
        st.all_transactions += f.transactions;
        st.all_messages += f.messages;
        for (i, n) in f.visible_commands.iter().enumerate() {
            st.visible_commands[i] += n;
        }
        for c in &f.visible_codes {
            *st.visible_codes.entry(*c).or_default() += 1;
        }
        let h = &self.pop.hosts[host];
        let hs = &mut self.host_stats[host];
        hs.smtp_sessions += 1;
        let outbound = !server_is_isp;
        if port == 25 {
            hs.port25_sessions += 1;
            if outbound {
                hs.port25_outbound_sessions += 1;
            }
        }
        let spam_msgs = if spam { f.messages } else { f.spam_messages };
        if outbound {
            st.outbound_sessions += 1;
            hs.outbound_sessions += 1;
            st.outbound_messages += f.messages;
            st.spam_messages += spam_msgs;
            st.outbound_messages_visible += f.visible_messages;
            if spam {
                st.spam_messages_visible += f.visible_messages;
            }
            hs.outbound_messages += f.messages;
            hs.spam_messages += spam_msgs;
            if f.messages > 0 {
                st.outbound_mail_sessions += 1;
                if spam {
                    st.outbound_spam_mail_sessions += 1;
                }
            }
            if f.data_bodies > 0 {
                st.outbound_data_sessions += 1;
                if spam {
                    st.outbound_spam_data_sessions += 1;
                }
            }
        } else {
            st.relay_submitted_messages += f.messages;
            st.relay_submitted_spam += spam_msgs;
            hs.submitted_messages += f.messages;
        }
        // OP25B applied to this traffic: port 25 from a dynamic pool to
        // anything but the ISP's mail servers.
        if port == 25 && h.dynamic && !server_is_isp {
            hs.blocked_sessions += 1;
            st.sim_blocked_sessions += 1;
            st.sim_blocked_messages += f.messages;
            st.sim_blocked_spam += spam_msgs;
            if f.messages > 0 {
                st.sim_blocked_mail_sessions += 1;
                if spam {
                    st.sim_blocked_spam_mail_sessions += 1;
                }
            }
            if f.data_bodies > 0 {
                st.sim_blocked_data_sessions += 1;
                if spam {
                    st.sim_blocked_spam_data_sessions += 1;
                }
            }
            if !h.role.is_zombie() {
                st.sim_collateral_sessions += 1;
            }
        }
    }
}

/// Share, 0 when the denominator is 0.
pub fn share(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

pub fn outcome_keys() -> [&'static str; 8] {
    Outcome::KEYS
}
