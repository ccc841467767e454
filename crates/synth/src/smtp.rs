//! SMTP dialogues (RFC 5321, with PIPELINING, STARTTLS, AUTH, implicit TLS)
//! written as session scripts, together with what a full-visibility
//! observer knows about them (the ground truth).

use crate::content::{base64, hex_token};
use crate::rng::Rng;
use crate::session::{Data, Step};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greeting {
    Ok,
    Reject554,
    Temp421,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcptReply {
    Ok,
    UserUnknown,
    RelayDenied,
    Greylisted,
    Blocked,
}

impl RcptReply {
    fn accepted(self) -> bool {
        self == RcptReply::Ok
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataReply {
    Queued,
    Spam554,
    Content550,
    Temp451,
}

#[derive(Clone, Debug)]
pub struct Body {
    pub text_len: usize,
    pub b64_len: usize,
    pub spam: bool,
    pub from_name: String,
    pub subject: String,
    pub mailer: &'static str,
}

#[derive(Clone, Debug)]
pub struct Txn {
    pub from: String,
    pub mail_rejected: bool,
    pub rcpts: Vec<(String, RcptReply)>,
    pub data: DataReply,
    pub body: Body,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Quit,
    ClientClose,
    ClientAbort,
}

#[derive(Clone, Debug)]
pub struct Auth {
    pub login: bool,
    pub user: String,
    pub pass: String,
    pub ok: bool,
}

/// Everything that decides one dialogue.
#[derive(Clone, Debug)]
pub struct Dialogue {
    pub port: u16,
    pub server_name: String,
    pub software: u8,
    pub greeting: Greeting,
    pub greet_delay_us: u64,
    pub ehlo: bool,
    pub helo_arg: String,
    pub offer_pipelining: bool,
    pub offer_starttls: bool,
    pub offer_auth: bool,
    pub starttls: bool,
    pub implicit_tls: bool,
    pub auth: Option<Auth>,
    pub pipelining: bool,
    pub txns: Vec<Txn>,
    pub ending: Ending,
    /// Client think time between commands (µs), and server reply time.
    pub client_think_us: u64,
    pub server_think_us: u64,
    /// Queueing/filtering delay after the end of DATA.
    pub data_delay_us: u64,
    pub date_unix_s: u64,
    pub client_ip: String,
}

/// Outcome per CONTRACT.md, for a full-visibility observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    NoAnswer,
    Reset,
    Rejected,
    NoMail,
    Delivered,
    Encrypted,
}

impl Outcome {
    pub const KEYS: [&'static str; 8] = [
        "no_answer",
        "reset",
        "rejected",
        "no_mail",
        "delivered",
        "encrypted",
        "partial",
        "unknown",
    ];

    pub fn index(self) -> usize {
        match self {
            Outcome::NoAnswer => 0,
            Outcome::Reset => 1,
            Outcome::Rejected => 2,
            Outcome::NoMail => 3,
            Outcome::Delivered => 4,
            Outcome::Encrypted => 5,
        }
    }
}

/// SMTP commands tshark reports, in a fixed order.
pub const COMMANDS: [&str; 9] = [
    "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "QUIT",
];

/// What one SMTP session was, counted both in full and as visible in
/// clear text on the wire.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub outcome_index: usize,
    pub tls: bool,
    pub auth: bool,
    pub transactions: u64,
    pub messages: u64,
    pub spam_messages: u64,
    pub rcpt_accepted: u64,
    pub rcpt_rejected: u64,
    pub visible_transactions: u64,
    pub visible_messages: u64,
    pub visible_rcpt_accepted: u64,
    pub visible_rcpt_rejected: u64,
    /// Message bodies the client transmitted (after `354`, in clear or inside
    /// TLS), whatever the server then answered: what a flow record can see.
    pub data_bodies: u64,
    /// Counts of `COMMANDS` seen in clear.
    pub visible_commands: [u64; 9],
    /// Reply codes of every reply line seen in clear.
    pub visible_codes: Vec<u16>,
}

impl Facts {
    pub fn no_answer() -> Self {
        Facts {
            outcome_index: Outcome::NoAnswer.index(),
            ..Facts::default()
        }
    }
    pub fn reset() -> Self {
        Facts {
            outcome_index: Outcome::Reset.index(),
            ..Facts::default()
        }
    }
}

struct Builder<'a> {
    steps: Vec<Step>,
    facts: Facts,
    tls: bool,
    d: &'a Dialogue,
    rng: &'a mut Rng,
}

impl Builder<'_> {
    fn think(&mut self, base: u64) -> u64 {
        base / 2 + self.rng.below(base.max(1))
    }

    fn server(&mut self, text: String) {
        let think = self.think(self.d.server_think_us);
        self.server_after(text, think);
    }

    fn server_after(&mut self, text: String, think_us: u64) {
        if !self.tls {
            // One code per reply: continuation lines ("250-...") belong
            // to the reply their last line ("250 ...") ends.
            for line in text.split("\r\n").filter(|l| l.len() >= 3) {
                if line.as_bytes().get(3) == Some(&b'-') {
                    continue;
                }
                if let Ok(code) = line[..3].parse::<u16>() {
                    self.facts.visible_codes.push(code);
                }
            }
        }
        let data = if self.tls {
            Data::TlsApp(text.len())
        } else {
            Data::Bytes(text.into_bytes())
        };
        self.steps.push(Step::Send {
            client: false,
            think_us,
            data,
        });
    }

    fn client(&mut self, text: String, commands: &[&str]) {
        if !self.tls {
            for c in commands {
                if let Some(i) = COMMANDS.iter().position(|x| x == c) {
                    self.facts.visible_commands[i] += 1;
                }
            }
        }
        let think = self.think(self.d.client_think_us);
        let data = if self.tls {
            Data::TlsApp(text.len())
        } else {
            Data::Bytes(text.into_bytes())
        };
        self.steps.push(Step::Send {
            client: true,
            think_us: think,
            data,
        });
    }

    fn tls_handshake(&mut self) {
        self.steps.push(Step::Send {
            client: true,
            think_us: 2_000,
            data: Data::TlsClientHello,
        });
        self.steps.push(Step::Send {
            client: false,
            think_us: 3_000,
            data: Data::TlsServerResume,
        });
        self.steps.push(Step::Send {
            client: true,
            think_us: 1_000,
            data: Data::TlsClientFinished,
        });
        self.tls = true;
        self.facts.tls = true;
    }

    fn ehlo_reply(&self) -> String {
        let name = &self.d.server_name;
        if !self.d.ehlo {
            return format!("250 {name}\r\n");
        }
        let mut lines: Vec<String> = vec![name.clone()];
        if self.d.offer_pipelining {
            lines.push("PIPELINING".into());
        }
        lines.push("SIZE 20480000".into());
        if self.d.software.is_multiple_of(2) {
            lines.push("VRFY".into());
            lines.push("ETRN".into());
        }
        if self.d.offer_starttls && !self.tls && !self.d.implicit_tls {
            lines.push("STARTTLS".into());
        }
        if self.d.offer_auth && (self.tls || self.d.port == 587 || self.d.software == 1) {
            lines.push("AUTH PLAIN LOGIN".into());
            lines.push("AUTH=PLAIN LOGIN".into());
        }
        lines.push("ENHANCEDSTATUSCODES".into());
        lines.push("8BITMIME".into());
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{l}\r\n"));
        }
        out
    }

    fn quit(&mut self) {
        match self.d.ending {
            Ending::Quit => {
                self.client("QUIT\r\n".into(), &["QUIT"]);
                self.server("221 2.0.0 Bye\r\n".into());
                if self.tls {
                    self.steps.push(Step::Send {
                        client: false,
                        think_us: 200,
                        data: Data::TlsCloseNotify,
                    });
                }
                self.steps.push(Step::Close {
                    client: false,
                    think_us: 300,
                });
            }
            Ending::ClientClose => self.steps.push(Step::Close {
                client: true,
                think_us: 1_000,
            }),
            Ending::ClientAbort => self.steps.push(Step::Abort {
                client: true,
                think_us: 1_000,
            }),
        }
    }
}

/// Append the reply to one RCPT (plain pushes: this runs for every
/// recipient of every zombie, and `format!` showed in profiles).
fn push_rcpt_reply(out: &mut String, r: RcptReply, rcpt: &str) {
    let (head, tail) = match r {
        RcptReply::Ok => return out.push_str("250 2.1.5 Ok\r\n"),
        RcptReply::Blocked => {
            return out.push_str(
                "550 5.7.1 Service unavailable; client host blocked using bl.spamcop.net\r\n",
            );
        }
        RcptReply::UserUnknown => (
            "550 5.1.1 <",
            ">: Recipient address rejected: User unknown in local recipient table\r\n",
        ),
        RcptReply::RelayDenied => ("554 5.7.1 <", ">: Relay access denied\r\n"),
        RcptReply::Greylisted => (
            "450 4.7.1 <",
            ">: Recipient address rejected: Greylisted, try again later\r\n",
        ),
    };
    out.push_str(head);
    out.push_str(rcpt);
    out.push_str(tail);
}

fn push_rcpt_command(out: &mut String, rcpt: &str) {
    out.push_str("RCPT TO:<");
    out.push_str(rcpt);
    out.push_str(">\r\n");
}

/// Days since 1970-01-01 to (year, month, day) (Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 5322 date in JST.
pub fn rfc5322_date(unix_s: u64) -> String {
    let local = unix_s as i64 + 9 * 3600;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const DOW: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0900",
        DOW[days.rem_euclid(7) as usize],
        d,
        MON[(m as usize).saturating_sub(1).min(11)],
        y,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn message(d: &Dialogue, t: &Txn, rng: &mut Rng) -> Data {
    let b = &t.body;
    let to = t
        .rcpts
        .first()
        .map(|(r, _)| r.as_str())
        .unwrap_or("undisclosed-recipients");
    let msgid_host = t.from.split('@').nth(1).unwrap_or("localhost");
    let mut head = format!(
        "Message-ID: <{}.{}@{}>\r\nDate: {}\r\nFrom: \"{}\" <{}>\r\nTo: <{}>\r\nSubject: {}\r\nMIME-Version: 1.0\r\nX-Mailer: {}\r\n",
        hex_token(rng, 12),
        hex_token(rng, 8),
        msgid_host,
        rfc5322_date(d.date_unix_s),
        b.from_name,
        t.from,
        to,
        b.subject,
        b.mailer
    );
    let boundary = format!("----=_NextPart_000_{}", hex_token(rng, 16));
    let (mid, tail) = if b.b64_len > 0 {
        head.push_str(&format!(
            "Content-Type: multipart/mixed;\r\n\tboundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=\"iso-2022-jp\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        ));
        let (ctype, fname) = if b.spam {
            ("image/gif", format!("{}.gif", hex_token(rng, 6)))
        } else {
            (
                "application/pdf",
                format!("document{}.pdf", rng.range(1, 99)),
            )
        };
        let mid = format!(
            "\r\n--{boundary}\r\nContent-Type: {ctype};\r\n\tname=\"{fname}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n\tfilename=\"{fname}\"\r\n\r\n"
        );
        (
            mid.into_bytes(),
            format!("\r\n--{boundary}--\r\n.\r\n").into_bytes(),
        )
    } else {
        head.push_str("Content-Type: text/plain; charset=\"iso-2022-jp\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n");
        (Vec::new(), b".\r\n".to_vec())
    };
    Data::Mail {
        head: head.into_bytes(),
        text_len: b.text_len,
        mid,
        b64_len: b.b64_len,
        tail,
    }
}

/// Approximate wire size of a message body (for TLS-wrapped sessions).
fn message_len(t: &Txn) -> usize {
    600 + t.body.text_len + t.body.b64_len + if t.body.b64_len > 0 { 400 } else { 0 }
}

/// Build the script of an established SMTP connection and its facts.
pub fn script(d: &Dialogue, rng: &mut Rng) -> (Vec<Step>, Facts) {
    let mut b = Builder {
        steps: Vec::with_capacity(24),
        facts: Facts::default(),
        tls: false,
        d,
        rng,
    };
    if d.implicit_tls {
        b.tls_handshake();
    }
    let banner = match d.software {
        0 => format!("220 {} ESMTP Postfix\r\n", d.server_name),
        1 => format!(
            "220 {} Microsoft ESMTP MAIL Service, Version: 6.0.3790.1830 ready at  {}\r\n",
            d.server_name,
            rfc5322_date(d.date_unix_s)
        ),
        2 => format!(
            "220 {} ESMTP Sendmail 8.13.1/8.13.1; {}\r\n",
            d.server_name,
            rfc5322_date(d.date_unix_s)
        ),
        _ => format!(
            "220 {} ESMTP Exim 4.54 {}\r\n",
            d.server_name,
            rfc5322_date(d.date_unix_s)
        ),
    };
    let greet_delay = d.greet_delay_us;
    match d.greeting {
        Greeting::Reject554 => {
            b.server_after(
                format!(
                    "554 5.7.1 {}: Client host [{}] blocked using sbl-xbl.spamhaus.org\r\n",
                    d.server_name, d.client_ip
                ),
                greet_delay,
            );
            b.quit();
            return finish(b, false);
        }
        Greeting::Temp421 => {
            b.server_after(
                format!(
                    "421 4.7.0 {} Too many connections, try again later\r\n",
                    d.server_name
                ),
                greet_delay,
            );
            b.steps.push(Step::Close {
                client: false,
                think_us: 200,
            });
            return finish(b, false);
        }
        Greeting::Ok => b.server_after(banner, greet_delay),
    }
    let (verb, cmd) = if d.ehlo {
        ("EHLO", "EHLO")
    } else {
        ("HELO", "HELO")
    };
    b.client(format!("{verb} {}\r\n", d.helo_arg), &[cmd]);
    let reply = b.ehlo_reply();
    b.server(reply);
    if d.starttls && d.offer_starttls && !d.implicit_tls {
        b.client("STARTTLS\r\n".into(), &["STARTTLS"]);
        b.server("220 2.0.0 Ready to start TLS\r\n".into());
        b.tls_handshake();
        b.client(format!("EHLO {}\r\n", d.helo_arg), &["EHLO"]);
        let reply = b.ehlo_reply();
        b.server(reply);
    }
    if let Some(a) = &d.auth {
        b.facts.auth = true;
        if a.login {
            b.client("AUTH LOGIN\r\n".into(), &["AUTH"]);
            b.server("334 VXNlcm5hbWU6\r\n".into());
            b.client(format!("{}\r\n", base64(a.user.as_bytes())), &[]);
            b.server("334 UGFzc3dvcmQ6\r\n".into());
            b.client(format!("{}\r\n", base64(a.pass.as_bytes())), &[]);
        } else {
            let cred = format!("\0{}\0{}", a.user, a.pass);
            b.client(
                format!("AUTH PLAIN {}\r\n", base64(cred.as_bytes())),
                &["AUTH"],
            );
        }
        if a.ok {
            b.server("235 2.7.0 Authentication successful\r\n".into());
        } else {
            let delay = 1_000_000 + b.rng.below(1_000_000);
            b.server_after(
                "535 5.7.8 Error: authentication failed: authentication failure\r\n".into(),
                delay,
            );
            b.quit();
            return finish(b, false);
        }
    }
    let mut any_message = false;
    for t in &d.txns {
        let visible = !b.tls;
        b.facts.transactions += 1;
        if visible {
            b.facts.visible_transactions += 1;
        }
        let mail = format!("MAIL FROM:<{}>\r\n", t.from);
        let mail_reply = if t.mail_rejected {
            format!(
                "553 5.1.8 <{}>: Sender address rejected: Domain not found\r\n",
                t.from
            )
        } else {
            "250 2.1.0 Ok\r\n".to_string()
        };
        let rcpts: &[(String, RcptReply)] = if t.mail_rejected { &[] } else { &t.rcpts };
        let mut accepted = 0u64;
        for (_, r) in rcpts {
            if r.accepted() {
                accepted += 1;
            }
        }
        let rejected = rcpts.len() as u64 - accepted;
        b.facts.rcpt_accepted += accepted;
        b.facts.rcpt_rejected += rejected;
        if visible {
            b.facts.visible_rcpt_accepted += accepted;
            b.facts.visible_rcpt_rejected += rejected;
        }
        if d.pipelining && d.offer_pipelining && !t.mail_rejected {
            let mut cmds = mail;
            let mut names = vec!["MAIL"];
            let mut replies = mail_reply;
            for (r, code) in rcpts {
                push_rcpt_command(&mut cmds, r);
                names.push("RCPT");
                push_rcpt_reply(&mut replies, *code, r);
            }
            b.client(cmds, &names);
            b.server(replies);
        } else {
            b.client(mail, &["MAIL"]);
            b.server(mail_reply);
            for (r, code) in rcpts {
                let mut cmd = String::with_capacity(r.len() + 12);
                push_rcpt_command(&mut cmd, r);
                b.client(cmd, &["RCPT"]);
                let mut reply = String::with_capacity(r.len() + 80);
                push_rcpt_reply(&mut reply, *code, r);
                b.server(reply);
            }
        }
        if accepted == 0 {
            b.client("RSET\r\n".into(), &["RSET"]);
            b.server("250 2.0.0 Ok\r\n".into());
            continue;
        }
        b.client("DATA\r\n".into(), &["DATA"]);
        b.server("354 End data with <CR><LF>.<CR><LF>\r\n".into());
        let body = if b.tls {
            Data::TlsApp(message_len(t))
        } else {
            message(d, t, b.rng)
        };
        let think = b.think(b.d.client_think_us);
        b.steps.push(Step::Send {
            client: true,
            think_us: think,
            data: body,
        });
        b.facts.data_bodies += 1;
        let reply = match t.data {
            DataReply::Queued => {
                b.facts.messages += 1;
                if t.body.spam {
                    b.facts.spam_messages += 1;
                }
                if visible {
                    b.facts.visible_messages += 1;
                }
                any_message = true;
                format!("250 2.0.0 Ok: queued as {}\r\n", hex_token(b.rng, 10))
            }
            DataReply::Spam554 => "554 5.7.1 Message rejected: looks like spam\r\n".into(),
            DataReply::Content550 => "550 5.7.1 Message content rejected\r\n".into(),
            DataReply::Temp451 => "451 4.3.0 Error: queue file write error\r\n".into(),
        };
        let delay = d.data_delay_us / 2 + b.rng.below(d.data_delay_us.max(1));
        b.server_after(reply, delay);
    }
    b.quit();
    finish(b, any_message)
}

fn finish(b: Builder<'_>, _any_message: bool) -> (Vec<Step>, Facts) {
    let mut facts = b.facts;
    let greeting_bad = b.d.greeting != Greeting::Ok;
    let outcome = if facts.tls {
        Outcome::Encrypted
    } else if facts.messages > 0 {
        Outcome::Delivered
    } else if greeting_bad || facts.transactions > 0 {
        Outcome::Rejected
    } else {
        Outcome::NoMail
    };
    facts.outcome_index = outcome.index();
    (b.steps, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_in_jst() {
        // 2005-11-01 01:00:00 UTC is Tuesday 10:00 in Japan.
        assert_eq!(
            rfc5322_date(1_130_806_800),
            "Tue, 01 Nov 2005 10:00:00 +0900"
        );
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 09:00:00 +0900");
    }
}
