//! op25b-maillog: the ISP mail servers' Postfix log, read into the relays'
//! outbound deliveries, each traced to the customer who handed the message
//! in.
//!
//! Flows show how many sessions a relay opened, never whose mail was in
//! them; a customer's submission session may hold several messages, and a
//! relay opens a session per message and destination. The log closes that
//! gap: `client=` names the customer, `queued as` follows the message from
//! the submission server through content filters to the relay, and each
//! `to=… relay=… status=…` line says where it went and whether the receiver
//! got the body. op25b-report uses this to weigh the relays' output by who
//! submitted it.
//!
//! Modules: [`line`] (syslog fields), [`postfix`] (the messages used).
//! [`MailLogReader`] keeps the trail between lines and across files and
//! emits one [`RelayDelivery`] per SMTP transaction to a server outside the
//! ISP. Memory is bounded by the messages in the queue (an entry is dropped
//! when `qmgr` logs `removed`, or after [`QUEUE_LIFETIME_US`]) and by the
//! delivery processes running at once.

pub mod line;
pub mod postfix;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use op25b_core::{InputError, Network};

pub use line::{ClassicTime, LineError, SyslogLine, parse_line};
pub use postfix::{Event, EventError, RcptLine, Relay, Status, parse_event};

/// Postfix gives up on a message after `maximal_queue_lifetime` (5 days by
/// default); a queue ID not seen removed by then is forgotten a day later,
/// so a log cut without its `removed` lines cannot grow the trail forever.
pub const QUEUE_LIFETIME_US: i64 = 6 * 86_400_000_000;

/// Recipient lines of one delivery process for the same message and
/// receiver, this close together, are one SMTP transaction.
const TRANSACTION_GAP_US: i64 = 2_000_000;

/// Longer lines are counted unreadable and skipped, so that a file that is
/// not text cannot make one line take all memory. Postfix lines stay under
/// a few kilobytes (`line_length_limit` is 2048 for SMTP input).
pub const MAX_LINE: usize = 64 * 1024;

/// Lines that do not parse before the first one that does: more and the
/// file is not a syslog file, which is an error rather than damage.
const HEAD_LINES: u64 = 64;

/// Who handed a message in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A client over SMTP: the customer, once hops between the ISP's own
    /// servers are followed.
    Client(IpAddr),
    /// Mail made on the server itself (`pickup`: sendmail, cron).
    Local,
    /// The message's `client=` line is not in the log (before its start).
    Unknown,
}

/// One SMTP transaction from a relay to a server outside the ISP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayDelivery {
    /// Time of the first recipient line (microseconds since the epoch, UTC).
    pub time_us: i64,
    pub origin: Origin,
    pub receiver: IpAddr,
    pub recipients: u32,
    /// The receiver got the body (flows see this as a session that carried
    /// mail).
    pub body_sent: bool,
    /// At least one recipient was delivered (`status=sent`).
    pub accepted: bool,
}

/// What the reader saw, for the summary: every line is in one count.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MailLogStats {
    pub files: Vec<PathBuf>,
    /// Files whose reading broke off (truncated compression): what was read
    /// before is used; each entry names the file and the offset.
    pub damaged_files: Vec<String>,
    pub bytes: u64,
    pub lines: u64,
    /// Lines that are not `timestamp host program[pid]: message`.
    pub unreadable_lines: u64,
    /// Lines that are not UTF-8 (read with replacement characters).
    pub non_utf8_lines: u64,
    /// Lines of programs other than Postfix.
    pub other_program_lines: u64,
    /// Postfix lines op25b does not use (`connect from`, `cleanup`, …).
    pub unused_postfix_lines: u64,
    /// `client=` / `to=` lines in a form not understood.
    pub malformed_postfix_lines: u64,
    pub submissions: u64,
    pub local_submissions: u64,
    /// Messages followed from one of the ISP's servers to the next.
    pub hops: u64,
    /// Bounces the servers made, traced to whoever sent the message they
    /// are about.
    pub bounces: u64,
    pub removed: u64,
    /// Queue IDs forgotten after [`QUEUE_LIFETIME_US`] without `removed`.
    pub expired_queue_ids: u64,
    pub recipient_lines: u64,
    /// Transactions to servers outside the ISP (emitted).
    pub deliveries: u64,
    /// Of those, by origin.
    pub deliveries_from_clients: u64,
    pub deliveries_local: u64,
    pub deliveries_unknown_origin: u64,
    /// Lines earlier than the line before them from the same host: a log
    /// out of time order (joined or sorted by another tool), where a
    /// message's delivery can come before its `client=` line and lose its
    /// origin.
    pub lines_back_in_time: u64,
    /// Recipient lines with `relay=none`: no server reached.
    pub not_connected_recipients: u64,
    /// Transactions to the ISP's own servers or local transports.
    pub internal_deliveries: u64,
}

impl fmt::Display for MailLogStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "relay log: {} file(s), {} lines ({} unreadable, {} not UTF-8, {} other programs, {} Postfix lines not used, {} malformed)",
            self.files.len(),
            self.lines,
            self.unreadable_lines,
            self.non_utf8_lines,
            self.other_program_lines,
            self.unused_postfix_lines,
            self.malformed_postfix_lines
        )?;
        for d in &self.damaged_files {
            writeln!(f, "  damaged, read up to the damage: {d}")?;
        }
        if self.lines_back_in_time > 0 {
            writeln!(
                f,
                "  {} lines earlier than the line before them from the same host (out of time order)",
                self.lines_back_in_time
            )?;
        }
        writeln!(
            f,
            "  {} messages handed in by clients, {} locally, {} bounces made, {} hops between the ISP's servers; {} outbound deliveries ({} from clients, {} local, {} of unknown origin), {} to internal or local transports, {} recipients not connected",
            self.submissions,
            self.local_submissions,
            self.bounces,
            self.hops,
            self.deliveries,
            self.deliveries_from_clients,
            self.deliveries_local,
            self.deliveries_unknown_origin,
            self.internal_deliveries,
            self.not_connected_recipients
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Trail {
    origin: Origin,
    /// Set by `queued as` from an earlier hop: the next server's own
    /// `client=` line names the previous server, not the customer.
    followed: bool,
    seen_us: i64,
}

#[derive(Clone, Debug)]
struct OpenTransaction {
    qid: String,
    /// Looked up when the transaction starts: `removed` may come before
    /// the line that closes it.
    origin: Origin,
    relay: Relay,
    first_us: i64,
    last_us: i64,
    recipients: u32,
    body_sent: bool,
    accepted: bool,
}

/// Reads Postfix logs into [`RelayDelivery`]s. Feed files oldest first
/// ([`read_files`] sorts them), then [`MailLogReader::finish`].
pub struct MailLogReader {
    network: Network,
    classic: ClassicTime,
    trails: HashMap<String, Trail>,
    open: HashMap<(String, u32), OpenTransaction>,
    stats: MailLogStats,
    lines_since_sweep: u64,
    /// The latest time seen per host in the file being read.
    latest: HashMap<String, i64>,
}

impl MailLogReader {
    /// `network` tells outbound receivers from the ISP's own servers;
    /// `classic` dates timestamps without a year or zone.
    pub fn new(network: Network, classic: ClassicTime) -> Self {
        MailLogReader {
            network,
            classic,
            trails: HashMap::new(),
            open: HashMap::new(),
            stats: MailLogStats::default(),
            lines_since_sweep: 0,
            latest: HashMap::new(),
        }
    }

    /// Reads one file (plain, gzip or zstd, told from its first bytes).
    pub fn read_file(
        &mut self,
        path: &Path,
        out: &mut dyn FnMut(RelayDelivery),
    ) -> Result<(), InputError> {
        let mut reader = open_text(path)?;
        self.stats.files.push(path.to_path_buf());
        // Time order is a file's own: rotated files may overlap a little.
        self.latest.clear();
        let mut buf = Vec::with_capacity(512);
        let mut offset = 0u64;
        let mut parsed_any = false;
        let mut file_lines = 0u64;
        loop {
            buf.clear();
            let n = match (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
            {
                Ok(n) => n,
                Err(e) => {
                    self.damaged(path, offset, &e, parsed_any)?;
                    break;
                }
            };
            if n == 0 {
                break;
            }
            offset += n as u64;
            self.stats.bytes += n as u64;
            if n > MAX_LINE && buf.last() != Some(&b'\n') {
                // Skip to the end of the overlong line.
                let mut broken = false;
                loop {
                    buf.clear();
                    let m = match (&mut reader)
                        .take(MAX_LINE as u64)
                        .read_until(b'\n', &mut buf)
                    {
                        Ok(m) => m,
                        Err(e) => {
                            self.damaged(path, offset, &e, parsed_any)?;
                            broken = true;
                            break;
                        }
                    };
                    offset += m as u64;
                    self.stats.bytes += m as u64;
                    if m == 0 || buf.last() == Some(&b'\n') {
                        break;
                    }
                }
                file_lines += 1;
                self.stats.lines += 1;
                self.stats.unreadable_lines += 1;
                if broken {
                    break;
                }
                continue;
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if buf.is_empty() {
                continue;
            }
            file_lines += 1;
            self.stats.lines += 1;
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => {
                    self.stats.non_utf8_lines += 1;
                    String::from_utf8_lossy(&buf)
                }
            };
            if self.line(&text, out) {
                parsed_any = true;
            } else if !parsed_any && file_lines >= HEAD_LINES {
                return Err(InputError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "not a syslog file: none of its first {HEAD_LINES} lines is `timestamp host program[pid]: message`"
                    ),
                });
            }
        }
        if !parsed_any && file_lines > 0 {
            return Err(InputError::Unsupported {
                path: path.to_path_buf(),
                what: "not a syslog file: no line is `timestamp host program[pid]: message`".into(),
            });
        }
        Ok(())
    }

    /// A read error in the middle of a file (a gzip'd log cut off while
    /// it was being rotated or copied) is damage: counted, named, and the
    /// lines before it kept. Before any syslog line it is the file's error.
    fn damaged(
        &mut self,
        path: &Path,
        offset: u64,
        e: &std::io::Error,
        parsed_any: bool,
    ) -> Result<(), InputError> {
        if !parsed_any {
            return Err(InputError::Malformed {
                path: path.to_path_buf(),
                offset,
                what: format!("reading the log (offset in the decompressed text): {e}"),
            });
        }
        self.stats.damaged_files.push(format!(
            "{}: stopped at byte {offset} of the decompressed text: {e}",
            path.display()
        ));
        Ok(())
    }

    /// One line; false where it is not a syslog line at all.
    fn line(&mut self, text: &str, out: &mut dyn FnMut(RelayDelivery)) -> bool {
        let l = match parse_line(text, self.classic) {
            Ok(l) => l,
            Err(_) => {
                self.stats.unreadable_lines += 1;
                return false;
            }
        };
        match self.latest.get_mut(l.host) {
            Some(t) if l.time_us < *t => self.stats.lines_back_in_time += 1,
            Some(t) => *t = l.time_us,
            None => {
                self.latest.insert(l.host.to_string(), l.time_us);
            }
        }
        self.lines_since_sweep += 1;
        if self.lines_since_sweep >= 1 << 16 {
            self.sweep(l.time_us, out);
        }
        // `postfix/smtpd`, `postfix-out/smtp`: the first component is a prefix.
        if !l.program.starts_with("postfix") {
            self.stats.other_program_lines += 1;
            return true;
        }
        let daemon = l.program.rsplit('/').next().unwrap_or_default();
        match parse_event(daemon, l.message) {
            Ok(Some(e)) => self.event(&l, e, out),
            Ok(None) => self.stats.unused_postfix_lines += 1,
            Err(_) => self.stats.malformed_postfix_lines += 1,
        }
        true
    }

    fn event(&mut self, l: &SyslogLine<'_>, e: Event<'_>, out: &mut dyn FnMut(RelayDelivery)) {
        match e {
            Event::Client { qid, client } => {
                self.stats.submissions += 1;
                let origin = client.map_or(Origin::Unknown, Origin::Client);
                self.start_trail(qid, origin, l.time_us);
            }
            Event::Local { qid } => {
                self.stats.local_submissions += 1;
                self.start_trail(qid, Origin::Local, l.time_us);
            }
            Event::Bounce { about, bounce } => {
                self.stats.bounces += 1;
                // A bounce is mail its original's sender caused: to a forged
                // sender address it is backscatter of that sender's spam.
                let origin = self.trails.get(about).map_or(Origin::Unknown, |t| t.origin);
                self.trails.insert(
                    bounce.to_string(),
                    Trail {
                        origin,
                        followed: true,
                        seen_us: l.time_us,
                    },
                );
            }
            Event::Removed { qid } => {
                self.stats.removed += 1;
                self.trails.remove(qid);
            }
            Event::Recipient { qid, rcpt } => {
                self.stats.recipient_lines += 1;
                if rcpt.relay == Relay::None {
                    self.stats.not_connected_recipients += 1;
                    return;
                }
                if let (Relay::Remote(ip), Some(next)) = (rcpt.relay, rcpt.queued_as)
                    && !self.is_outbound(&ip)
                {
                    let origin = self.trails.get(qid).map_or(Origin::Unknown, |t| t.origin);
                    let fresh = !self.trails.get(next).is_some_and(|t| t.followed);
                    if fresh {
                        self.stats.hops += 1;
                    }
                    self.trails.insert(
                        next.to_string(),
                        Trail {
                            origin,
                            followed: true,
                            seen_us: l.time_us,
                        },
                    );
                }
                let key = (l.host.to_string(), l.pid);
                if let Some(t) = self.open.get_mut(&key) {
                    if t.qid == qid
                        && t.relay == rcpt.relay
                        && l.time_us.abs_diff(t.last_us) <= TRANSACTION_GAP_US.unsigned_abs()
                    {
                        t.last_us = l.time_us;
                        t.recipients += 1;
                        t.body_sent |= rcpt.body_sent;
                        t.accepted |= rcpt.status == Status::Sent;
                        return;
                    }
                    if let Some(done) = self.open.remove(&key) {
                        self.close(done, out);
                    }
                }
                let origin = self.trails.get(qid).map_or(Origin::Unknown, |t| t.origin);
                self.open.insert(
                    key,
                    OpenTransaction {
                        qid: qid.to_string(),
                        origin,
                        relay: rcpt.relay,
                        first_us: l.time_us,
                        last_us: l.time_us,
                        recipients: 1,
                        body_sent: rcpt.body_sent,
                        accepted: rcpt.status == Status::Sent,
                    },
                );
            }
        }
    }

    fn start_trail(&mut self, qid: &str, origin: Origin, t: i64) {
        // A hop's `queued as` may come before or after the next server's
        // own `client=` line; the customer it carries wins either way.
        if self.trails.get(qid).is_some_and(|t| t.followed) {
            return;
        }
        self.trails.insert(
            qid.to_string(),
            Trail {
                origin,
                followed: false,
                seen_us: t,
            },
        );
    }

    fn is_outbound(&self, ip: &IpAddr) -> bool {
        !(ip.is_loopback() || ip.is_unspecified() || self.network.internal.contains(ip))
    }

    fn close(&mut self, t: OpenTransaction, out: &mut dyn FnMut(RelayDelivery)) {
        let receiver = match t.relay {
            Relay::Remote(ip) if self.is_outbound(&ip) => ip,
            _ => {
                self.stats.internal_deliveries += 1;
                return;
            }
        };
        let origin = t.origin;
        self.stats.deliveries += 1;
        match origin {
            Origin::Client(_) => self.stats.deliveries_from_clients += 1,
            Origin::Local => self.stats.deliveries_local += 1,
            Origin::Unknown => self.stats.deliveries_unknown_origin += 1,
        }
        out(RelayDelivery {
            time_us: t.first_us,
            origin,
            receiver,
            recipients: t.recipients,
            body_sent: t.body_sent,
            accepted: t.accepted,
        });
    }

    /// Closes transactions no line can continue any more and forgets queue
    /// IDs older than the queue lifetime, as of `now`: the current line's
    /// time, not the latest seen, so that a file whose clock steps back
    /// (logs of two hosts joined, a rotated file out of order) does not
    /// close what its own next lines continue.
    fn sweep(&mut self, now: i64, out: &mut dyn FnMut(RelayDelivery)) {
        self.lines_since_sweep = 0;
        let mut stale: Vec<(i64, (String, u32))> = self
            .open
            .iter()
            .filter(|(_, t)| now.saturating_sub(t.last_us) > TRANSACTION_GAP_US)
            .map(|(k, t)| (t.first_us, k.clone()))
            .collect();
        // In time order (then host and process), whatever the map's order.
        stale.sort();
        for (_, k) in stale {
            if let Some(t) = self.open.remove(&k) {
                self.close(t, out);
            }
        }
        let before = self.trails.len();
        self.trails
            .retain(|_, t| now.saturating_sub(t.seen_us) <= QUEUE_LIFETIME_US);
        self.stats.expired_queue_ids += (before - self.trails.len()) as u64;
    }

    /// Closes what is still open and returns the counts.
    pub fn finish(mut self, out: &mut dyn FnMut(RelayDelivery)) -> MailLogStats {
        let mut open: Vec<((i64, String, u32), OpenTransaction)> = self
            .open
            .drain()
            .map(|((host, pid), t)| ((t.first_us, host, pid), t))
            .collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, t) in open {
            self.close(t, out);
        }
        self.stats
    }
}

/// Opens a log file, decompressing gzip (`1f 8b`) or zstd (`28 b5 2f fd`).
fn open_text(path: &Path) -> Result<Box<dyn BufRead>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(io)?);
    let head = file.fill_buf().map_err(io)?;
    let inner: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(io)?)
    } else {
        return Ok(Box::new(file));
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, inner)))
}

/// The time of the first syslog line of a file, to put rotated files in
/// order; `None` where no line in the first [`HEAD_LINES`] parses.
pub fn first_time_us(path: &Path, classic: ClassicTime) -> Result<Option<i64>, InputError> {
    let mut reader = open_text(path)?;
    let mut line = Vec::with_capacity(512);
    let mut read_line = |line: &mut Vec<u8>, limit: usize| {
        line.clear();
        (&mut reader)
            .take(limit as u64)
            .read_until(b'\n', line)
            .map_err(|source| InputError::Io {
                path: path.to_path_buf(),
                source,
            })
    };
    for _ in 0..=HEAD_LINES {
        let n = read_line(&mut line, MAX_LINE + 1)?;
        if n == 0 {
            break;
        }
        if n > MAX_LINE {
            // Overlong: passed over to its end, never held whole.
            while !line.ends_with(b"\n") {
                if read_line(&mut line, MAX_LINE)? == 0 {
                    return Ok(None);
                }
            }
            continue;
        }
        if let Ok(l) = parse_line(String::from_utf8_lossy(&line).trim_end(), classic) {
            return Ok(Some(l.time_us));
        }
    }
    Ok(None)
}

/// Reads several files oldest first (by their first line), so that a
/// message handed in before a rotation is still traced after it.
pub fn read_files(
    paths: &[PathBuf],
    network: &Network,
    classic: ClassicTime,
    out: &mut dyn FnMut(RelayDelivery),
) -> Result<MailLogStats, InputError> {
    let mut ordered = Vec::with_capacity(paths.len());
    for p in paths {
        ordered.push((first_time_us(p, classic)?.unwrap_or(i64::MAX), p));
    }
    ordered.sort();
    let mut reader = MailLogReader::new(network.clone(), classic);
    for (_, p) in ordered {
        reader.read_file(p, out)?;
    }
    Ok(reader.finish(out))
}
