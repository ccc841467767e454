//! The ISP mail servers' Postfix log, as a central syslog host keeps it
//! (RFC 3339 timestamps in Japan time, one line per event): which customer
//! handed in each message, how the submission server passed it to the
//! relay, and what became of every recipient of the relay's deliveries.
//!
//! Lines come out in time order, as a syslog host writes them: a message's
//! later lines (cleanup, qmgr, the hop to the relay) are held until no
//! earlier line can follow, since the scheduler calls in event order but
//! each call logs up to a quarter second ahead.
//!
//! This is the second input an ISP has beside its traffic: what `op25b
//! report` uses to tell the spam share of the relays' output by message
//! instead of by submission session. It draws no random numbers, so the
//! captures and flow exports are the same bytes as without it; queue IDs
//! and process IDs are derived from a counter.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::rng::mix;
use crate::smtp::civil_from_days;

/// The two ISP mail servers as they name themselves in the log.
pub const RELAY_LOG_HOST: &str = "mail";
pub const SUBMISSION_LOG_HOST: &str = "smtp";

/// What the receiver said to one recipient of a relay delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcptFate {
    /// Refused at RCPT TO (the body was not sent for it).
    UserUnknown,
    /// Taken at RCPT TO; then the reply to the end of DATA decides.
    Accepted,
}

/// The receiver's reply to the end of DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFate {
    Queued,
    Spam554,
    Temp451,
}

/// One message handed in by a customer.
pub struct Submission<'a> {
    pub t_us: u64,
    /// The submission server (port 587, or 25 to smtp.isp.example) rather
    /// than the relay itself.
    pub via_submission_server: bool,
    pub client_name: &'a str,
    pub client_ip: &'a str,
    pub sasl_username: Option<&'a str>,
    pub from: &'a str,
    pub size: usize,
    /// The recipients the server took.
    pub rcpts: Vec<&'a str>,
}

pub struct MailLog {
    out: BufWriter<File>,
    path: PathBuf,
    bytes: u64,
    salt: u64,
    counter: u64,
    /// Lines not yet written, by (time, order logged): written once a call
    /// at a later time shows nothing earlier can come.
    pending: BinaryHeap<Reverse<(u64, u64, String)>>,
    logged: u64,
    /// The first write error, reported by [`MailLog::finish`]: the scheduler
    /// that calls this has no error path of its own.
    error: Option<std::io::Error>,
}

impl MailLog {
    pub fn create(path: &Path, salt: u64) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(MailLog {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            bytes: 0,
            salt,
            counter: 0,
            pending: BinaryHeap::new(),
            logged: 0,
            error: None,
        })
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        mix(self.salt ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// A Postfix short queue ID: 10 upper-case hex digits.
    fn queue_id(&mut self) -> String {
        format!("{:010X}", self.next() & 0xFF_FFFF_FFFF)
    }

    fn pid(&mut self) -> u64 {
        1000 + self.next() % 60_000
    }

    fn line(&mut self, t_us: u64, host: &str, daemon: &str, pid: u64, text: &str) {
        let l = format!(
            "{} {host} postfix/{daemon}[{pid}]: {text}\n",
            jst_rfc3339(t_us)
        );
        self.logged += 1;
        self.pending.push(Reverse((t_us, self.logged, l)));
    }

    /// Writes the lines up to `now`: every later call logs at `now` or after.
    fn release(&mut self, now_us: u64) {
        while self
            .pending
            .peek()
            .is_some_and(|Reverse((t, _, _))| *t <= now_us)
        {
            let Some(Reverse((_, _, l))) = self.pending.pop() else {
                break;
            };
            self.bytes += l.len() as u64;
            if let Err(e) = self.out.write_all(l.as_bytes()) {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Logs a message accepted from a customer and returns the relay's queue
    /// ID for it, under which its deliveries are logged.
    pub fn submission(&mut self, s: &Submission<'_>) -> String {
        let host = if s.via_submission_server {
            SUBMISSION_LOG_HOST
        } else {
            RELAY_LOG_HOST
        };
        let qid = self.queue_id();
        let (smtpd, cleanup, qmgr) = (self.pid(), self.pid(), self.pid());
        let sasl = s
            .sasl_username
            .map(|u| format!(", sasl_method=PLAIN, sasl_username={u}"))
            .unwrap_or_default();
        let t = s.t_us;
        self.release(t);
        self.line(
            t,
            host,
            "smtpd",
            smtpd,
            &format!("{qid}: client={}[{}]{sasl}", s.client_name, s.client_ip),
        );
        let msgid = format!("{}.{}@isp.example", t / 1_000_000, &qid);
        self.line(
            t + 40_000,
            host,
            "cleanup",
            cleanup,
            &format!("{qid}: message-id=<{msgid}>"),
        );
        let nrcpt = s.rcpts.len();
        let queued = format!(
            "{qid}: from=<{}>, size={}, nrcpt={nrcpt} (queue active)",
            s.from, s.size
        );
        self.line(t + 45_000, host, "qmgr", qmgr, &queued);
        if !s.via_submission_server {
            return qid;
        }
        // The submission server hands the message on to the relay, which
        // logs it under a queue ID of its own.
        let relay_qid = self.queue_id();
        let (rsmtpd, rcleanup, rqmgr, hop) = (self.pid(), self.pid(), self.pid(), self.pid());
        self.line(
            t + 50_000,
            RELAY_LOG_HOST,
            "smtpd",
            rsmtpd,
            &format!("{relay_qid}: client=smtp.isp.example[198.19.255.25]"),
        );
        self.line(
            t + 52_000,
            RELAY_LOG_HOST,
            "cleanup",
            rcleanup,
            &format!("{relay_qid}: message-id=<{msgid}>"),
        );
        for rcpt in &s.rcpts {
            self.line(
                t + 55_000,
                SUBMISSION_LOG_HOST,
                "smtp",
                hop,
                &format!("{qid}: to=<{rcpt}>, relay=mail.isp.example[198.19.255.10]:25, delay=0.06, delays=0.05/0/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {relay_qid})"),
            );
        }
        self.line(
            t + 56_000,
            RELAY_LOG_HOST,
            "qmgr",
            rqmgr,
            &format!(
                "{relay_qid}: from=<{}>, size={}, nrcpt={nrcpt} (queue active)",
                s.from,
                s.size + 400
            ),
        );
        self.line(
            t + 57_000,
            SUBMISSION_LOG_HOST,
            "qmgr",
            qmgr,
            &format!("{qid}: removed"),
        );
        relay_qid
    }

    /// Logs the relay's delivery of queue ID `qid` to a server (name,
    /// address), one line per recipient, and the message's removal.
    pub fn delivery(
        &mut self,
        t_us: u64,
        submitted_us: u64,
        qid: &str,
        (server_name, server_ip): (&str, &str),
        rcpts: &[(String, RcptFate)],
        data: DataFate,
    ) {
        self.release(t_us);
        let pid = self.pid();
        let delay = t_us.saturating_sub(submitted_us) as f64 / 1e6;
        let done = t_us + 250_000;
        let mut deferred = false;
        for (rcpt, fate) in rcpts {
            let (dsn, status) = match (fate, data) {
                (RcptFate::UserUnknown, _) => (
                    "5.1.1",
                    format!(
                        "bounced (host {server_name}[{server_ip}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown (in reply to RCPT TO command))"
                    ),
                ),
                (RcptFate::Accepted, DataFate::Queued) => (
                    "2.0.0",
                    format!("sent (250 2.0.0 Ok: queued as {})", self.queue_id()),
                ),
                (RcptFate::Accepted, DataFate::Spam554) => (
                    "5.7.1",
                    format!(
                        "bounced (host {server_name}[{server_ip}] said: 554 5.7.1 Message rejected: looks like spam (in reply to end of DATA command))"
                    ),
                ),
                (RcptFate::Accepted, DataFate::Temp451) => {
                    deferred = true;
                    (
                        "4.3.0",
                        format!(
                            "deferred (host {server_name}[{server_ip}] said: 451 4.3.0 Error: queue file write error (in reply to end of DATA command))"
                        ),
                    )
                }
            };
            self.line(
                done,
                RELAY_LOG_HOST,
                "smtp",
                pid,
                &format!("{qid}: to=<{rcpt}>, relay={server_name}[{server_ip}]:25, delay={delay:.1}, delays={:.1}/0.01/0.08/0.16, dsn={dsn}, status={status}", (delay - 0.25).max(0.0)),
            );
        }
        if !deferred {
            let qmgr = self.pid();
            self.line(
                done + 1_000,
                RELAY_LOG_HOST,
                "qmgr",
                qmgr,
                &format!("{qid}: removed"),
            );
        }
    }

    pub fn finish(mut self) -> anyhow::Result<(PathBuf, u64)> {
        self.release(u64::MAX);
        if let Some(e) = self.error.take() {
            return Err(e).with_context(|| format!("writing {}", self.path.display()));
        }
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok((self.path, self.bytes))
    }
}

/// `2005-11-01T10:00:00.123456+09:00` for a time in microseconds since the
/// epoch: rsyslog's RFC 3339 template on a host set to Japan time.
fn jst_rfc3339(t_us: u64) -> String {
    let local = (t_us / 1_000_000) as i64 + 9 * 3600;
    let (days, sod) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+09:00",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        t_us % 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_japan_time_with_offset() {
        assert_eq!(
            jst_rfc3339(1_130_806_800_000_123),
            "2005-11-01T10:00:00.000123+09:00"
        );
    }
}
