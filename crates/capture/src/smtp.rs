//! The SMTP dialogue reader: a push parser fed the two reassembled byte
//! streams of one connection (client bytes, server bytes) in capture order.
//!
//! It keeps no more than a bounded line per direction, a bounded queue of
//! commands waiting for their replies (PIPELINING pairs them in order), and a
//! bounded hold of client bytes sent after DATA or STARTTLS while the reply
//! that decides what those bytes are (message body, commands, TLS) is still
//! to come. It never fails: bytes it cannot make sense of are counted.
//!
//! It knows nothing about TCP, so it can be fuzzed alone; the session layer
//! tells it about holes in a stream with [`SmtpReader::gap_client`] /
//! [`SmtpReader::gap_server`].
//!
//! # Holes in the server's stream
//!
//! Servers write whole replies per write() and TCP segment, so a segment
//! the capture lost is mostly one or more whole reply lines. After a hole,
//! the first line is read if it begins as a reply line (three digits, the
//! first 2 to 5, then a space, '-' or the line end), counted
//! `resynced_after_gap`; anything else is the tail of a line the hole cut
//! and is dropped, counted `gap_tails_dropped`. A hole is found when the
//! client acknowledges bytes the capture never held, before the client
//! bytes that carry that acknowledgement, so the commands pending at that
//! moment were sent before the client had the hole's bytes. The replies the
//! hole held are then told from what came after it, and the commands they
//! answered are dropped (their replies not counted either way), counted
//! `replies_lost_in_gap`:
//!
//! - the client sent commands after the hole (after it had received its
//!   bytes): the replies to the commands pending before were in the hole
//!   (a multi-line reply whose first lines were read ends there), where the
//!   reply read next can answer the first command sent after;
//! - a code that answers one kind of command only answers the first such
//!   command waiting: 354 DATA, 334 and 235 AUTH, 220 STARTTLS, 221 QUIT
//!   (once the server's stream had a hole);
//! - DATA was pending at the hole and the reply read next is not a 354:
//!   where the client's bytes held since DATA end a body, the 354 was in the
//!   hole, and so were the replies to the commands before DATA (a client
//!   sends a body only after its 354); the body is read, and where the
//!   whole body was held before the hole was found and commands follow it,
//!   the body's reply was in the hole too. Without a body, a 2xx means
//!   DATA's refusal was in the hole;
//! - after STARTTLS, a TLS handshake record from the client means its 220
//!   was in the hole (`encrypted`); after AUTH, a client line that is no
//!   SASL response (base64 or "*") is a command: the reply that ended AUTH
//!   was in the hole.
//!
//! In the client's stream, a line after a hole that begins with a command
//! verb is read the same way. A line a hole cut keeps what its start holds:
//! a command its verb (so that its reply answers it), a greeting its code;
//! later replies cut short are not read, since on captures cut to a few
//! bytes a packet they paired refusals with the wrong commands (counted
//! `cut_lines_read`).
//!
//! Not told: replies to pipelined commands of which the hole held only the
//! first ones (a batch's replies over several segments, one lost) are
//! paired from the first command on, so the counts around them shift by
//! the replies lost (measured in crates/capture/README.md).

use std::collections::VecDeque;

/// Longest command or reply line kept; the rest of a longer line is skipped
/// and counted (RFC 5321 allows 512 for commands, 1000 for text lines).
pub const MAX_LINE: usize = 2048;
/// Client bytes held while waiting for the reply to DATA or STARTTLS. A
/// client that sends more without waiting is streaming a message body.
pub const MAX_HOLD: usize = 64 * 1024;
/// Commands waiting for replies; more are dropped and counted.
pub const MAX_PENDING: usize = 1024;
/// Longest HELO/EHLO argument kept, in bytes.
pub const MAX_HELO: usize = 255;

/// Counts stop at `u32::MAX`: one connection can carry more than 4 G lines.
fn bump(count: &mut u32) {
    *count = count.saturating_add(1);
}

/// What one connection's dialogue showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpSummary {
    /// The first HELO/EHLO argument.
    pub helo: String,
    /// STARTTLS answered 220, or implicit TLS.
    pub tls: bool,
    /// What followed TLS was a TLS stream (hidden); false where a capture
    /// holds the decrypted dialogue after STARTTLS and it was read on.
    pub tls_hidden: bool,
    /// AUTH command sent.
    pub auth: bool,
    /// The server's first reply code, 0 where not seen.
    pub greeting_code: u16,
    /// MAIL commands.
    pub transactions: u32,
    pub rcpt_accepted: u32,
    pub rcpt_rejected: u32,
    /// 2xx replies to the end of DATA or to BDAT LAST.
    pub messages: u32,
    /// Client command lines read (AUTH exchange lines excluded).
    pub commands: u32,
    /// Server replies read (multi-line replies count once).
    pub replies: u32,
    /// Lines longer than [`MAX_LINE`], cut.
    pub long_lines: u32,
    /// Replies with no command waiting for them.
    pub unmatched_replies: u32,
    /// Server lines that are not replies (no 3-digit code).
    pub bad_lines: u32,
    /// Replies the client went on from before they ended: a multi-line
    /// reply without its last line, a line without its line end (closed at
    /// the client's next command).
    pub unterminated_replies: u32,
    /// Commands dropped because [`MAX_PENDING`] were waiting.
    pub pending_overflow: u32,
    /// Lines read after a hole because they begin as a reply line (server)
    /// or with a command verb (client): the hole ended at a line end.
    pub resynced_after_gap: u32,
    /// Lines dropped after a hole: the tail of a line the hole cut.
    pub gap_tails_dropped: u32,
    /// Lines a hole cut (a snaplen, a lost segment) whose start holds what
    /// matters, read: a command naming its verb, a greeting its code.
    pub cut_lines_read: u32,
    /// Commands whose replies the reader took as lost in a hole in the
    /// server's stream (not counted either way).
    pub replies_lost_in_gap: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Helo,
    Mail,
    Rcpt,
    Data,
    DataEnd,
    Bdat { last: bool },
    StartTls,
    Auth,
    Quit,
    Other,
}

impl Pending {
    /// A command after which a client must wait for the whole reply before
    /// it sends another (RFC 2920 section 3.1: EHLO, DATA; STARTTLS and AUTH
    /// change what follows).
    fn waits_for_reply(self) -> bool {
        matches!(
            self,
            Pending::Helo | Pending::Data | Pending::StartTls | Pending::Auth
        )
    }
}

impl Pending {
    /// Whether a reply with this code can answer this command: 354 answers
    /// DATA only, 334 and 235 AUTH only, 220 STARTTLS only (or greets), 221
    /// QUIT only; DATA, STARTTLS and AUTH get those or a refusal.
    fn may_answer(self, code: u16) -> bool {
        let refusal = code / 100 == 4 || code / 100 == 5;
        match code {
            354 => self == Pending::Data,
            334 | 235 => self == Pending::Auth,
            220 => self == Pending::StartTls,
            221 => self == Pending::Quit,
            _ => match self {
                Pending::Data | Pending::StartTls | Pending::Auth => refusal,
                _ => true,
            },
        }
    }
}

/// The start of a reply line: three digits, the first 2 to 5, then a space,
/// '-' or the line end.
fn starts_reply(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line {
        [a, b, c, rest @ ..] => {
            (b'2'..=b'5').contains(a)
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && matches!(rest.first(), None | Some(b' ' | b'-'))
        }
        _ => false,
    }
}

/// The start of a line cut short that begins as a reply: three digits,
/// the first 2 to 5, then a space or '-' (a line cut right after its code
/// cannot tell a last line from a continuation: not read).
fn starts_reply_prefix(line: &[u8]) -> bool {
    matches!(line.get(3), Some(b' ' | b'-')) && starts_reply(line)
}

/// The start of a command line cut short that names its verb: 4 to 8
/// letters and a space (MAIL, RCPT, EHLO, AUTH...). Not BDAT, whose chunk
/// size the cut may have shortened.
fn names_verb(line: &[u8]) -> bool {
    let verb_len = line.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    (4..=8).contains(&verb_len)
        && line.get(verb_len) == Some(&b' ')
        && !line
            .get(..verb_len)
            .is_some_and(|verb| verb.eq_ignore_ascii_case(b"BDAT"))
}

/// A line that begins with an SMTP command verb (RFC 5321, 3030, 3207,
/// 4954), then a space or the line end: after a hole, not the tail of the
/// line the hole cut (tails are addresses, parameters, base64).
fn starts_command(line: &[u8]) -> bool {
    const VERBS: [&[u8]; 15] = [
        b"HELO",
        b"EHLO",
        b"MAIL",
        b"RCPT",
        b"DATA",
        b"BDAT",
        b"QUIT",
        b"RSET",
        b"NOOP",
        b"VRFY",
        b"EXPN",
        b"HELP",
        b"AUTH",
        b"STARTTLS",
        b"ETRN",
    ];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let verb_len = line.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let Some(verb) = line.get(..verb_len) else {
        return false;
    };
    VERBS.iter().any(|v| verb.eq_ignore_ascii_case(v))
        && matches!(line.get(verb_len), None | Some(b' '))
}

/// A SASL response line (RFC 4954 4): base64, or "*" to cancel.
fn is_sasl_response(line: &[u8]) -> bool {
    line == b"*"
        || line
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Client bytes held after DATA hold a whole body: a line "." ends them.
fn holds_body_end(held: &[u8]) -> bool {
    held.starts_with(b".\n")
        || held.starts_with(b".\r\n")
        || memchr::memmem::find(held, b"\n.\n").is_some()
        || memchr::memmem::find(held, b"\n.\r\n").is_some()
}

/// Where the current body line stands, to find the lone "." that ends DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyLine {
    Start,
    Dot,
    DotCr,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientMode {
    Command,
    Body(BodyLine),
    Chunk(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    Data,
    StartTls,
    /// STARTTLS accepted: the next client bytes tell TLS from decrypted text.
    AfterTls,
}

/// A bounded line assembler for one direction.
#[derive(Debug, Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// The current line went past [`MAX_LINE`].
    cut: bool,
    /// A gap cut the current line: drop it when its end arrives.
    damaged: bool,
}

impl LineBuf {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.cut = false;
        self.damaged = false;
    }
}

/// The reader for one connection. See the module documentation.
#[derive(Debug)]
pub struct SmtpReader {
    summary: SmtpSummary,
    client_line: LineBuf,
    server_line: LineBuf,
    mode: ClientMode,
    hold: Option<Hold>,
    held: Vec<u8>,
    pending: VecDeque<Pending>,
    /// The code of a multi-line reply whose last line has not come yet.
    open_reply: Option<u16>,
    /// The client sent a command while `open_reply` was open: the next
    /// server line tells whether the reply goes on or was left unfinished.
    open_reply_stale: bool,
    expect_greeting: bool,
    auth_in_progress: bool,
    /// Commands waiting when the last hole in the server's stream was
    /// found, until the first reply line after it is read.
    gap_pending: Option<usize>,
    /// Client bytes held when the last hole in the server's stream was found.
    gap_held: usize,
    /// The server's stream had a hole.
    server_gap_seen: bool,
    /// ... since the client's current body began: the first reply after it
    /// need not be the one to the body's end.
    server_gap_in_body: bool,
    /// STARTTLS accepted, or nothing to read: ignore everything from here.
    stopped: bool,
}

impl Default for SmtpReader {
    fn default() -> Self {
        Self::new()
    }
}

impl SmtpReader {
    /// A reader for a dialogue seen from its start: the first reply is the greeting.
    pub fn new() -> Self {
        SmtpReader {
            summary: SmtpSummary::default(),
            client_line: LineBuf::default(),
            server_line: LineBuf::default(),
            mode: ClientMode::Command,
            hold: None,
            held: Vec::new(),
            pending: VecDeque::new(),
            open_reply: None,
            open_reply_stale: false,
            expect_greeting: true,
            auth_in_progress: false,
            gap_pending: None,
            gap_held: 0,
            server_gap_seen: false,
            server_gap_in_body: false,
            stopped: false,
        }
    }

    /// The server's stream was picked up mid-way: its first reply answers a
    /// command, it is not the greeting.
    pub fn server_started_midstream(&mut self) {
        if self.summary.replies == 0 {
            self.expect_greeting = false;
        }
    }

    /// Implicit TLS (port 465): nothing will be readable.
    pub fn implicit_tls(&mut self) {
        self.summary.tls = true;
        self.summary.tls_hidden = true;
        self.stopped = true;
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    pub fn summary(&self) -> &SmtpSummary {
        &self.summary
    }

    /// Ends the dialogue: client bytes still held after a DATA nobody
    /// answered (a one-direction capture) are read as the message body.
    pub fn finish(&mut self) -> &SmtpSummary {
        // Each round consumes the held bytes; a body may end and be followed by
        // another DATA, which holds again. Bounded by the bytes held.
        while self.hold == Some(Hold::Data) && !self.stopped {
            self.release_hold(true);
        }
        &self.summary
    }

    /// Bytes from the client, in stream order.
    pub fn feed_client(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.stopped {
            if self.hold == Some(Hold::AfterTls) {
                // A TLS record starts with content type 20..=23 and version 3.x.
                if data.first().is_some_and(|b| (20..=23).contains(b)) {
                    self.stopped = true;
                    return;
                }
                // A capture decrypted after the fact: the dialogue goes on in clear.
                self.summary.tls_hidden = false;
                self.hold = None;
                continue;
            }
            if let Some(hold) = self.hold {
                if hold == Hold::StartTls
                    && self.server_gap_seen
                    && self.held.is_empty()
                    && data.starts_with(&[22, 3])
                {
                    // The client began TLS (a handshake record): the 220 to
                    // STARTTLS was in a hole in the server's stream.
                    if let Some(at) = self.pending.iter().position(|p| *p == Pending::StartTls) {
                        self.drop_pending(at + 1);
                    }
                    self.summary.tls = true;
                    self.summary.tls_hidden = true;
                    self.stopped = true;
                    return;
                }
                if self.held.len() + data.len() <= MAX_HOLD {
                    self.held.extend_from_slice(data);
                    return;
                }
                match hold {
                    // Not waiting for 354: the client is streaming its body.
                    Hold::Data => {
                        self.release_hold(true);
                        continue;
                    }
                    // A TLS handshake already under way: unreadable.
                    Hold::StartTls | Hold::AfterTls => return,
                }
            }
            match self.mode {
                ClientMode::Command => match memchr::memchr(b'\n', data) {
                    None => {
                        self.client_line.push(data);
                        return;
                    }
                    Some(i) => {
                        self.client_line.push(&data[..i]);
                        data = &data[i + 1..];
                        let mut line = std::mem::take(&mut self.client_line);
                        if line.cut {
                            bump(&mut self.summary.long_lines);
                        }
                        if !line.damaged {
                            self.client_command(&line.buf);
                        } else if !self.auth_in_progress && starts_command(&line.buf) {
                            // Clients write whole commands: after a hole, a
                            // line that begins with a command verb is one.
                            bump(&mut self.summary.resynced_after_gap);
                            self.client_command(&line.buf);
                        } else {
                            bump(&mut self.summary.gap_tails_dropped);
                        }
                        line.clear();
                        self.client_line = line;
                    }
                },
                ClientMode::Body(state) => {
                    let used = self.body(state, data);
                    data = &data[used..];
                }
                ClientMode::Chunk(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    data = &data[take..];
                    let left = remaining - take as u64;
                    self.mode = if left == 0 {
                        ClientMode::Command
                    } else {
                        ClientMode::Chunk(left)
                    };
                }
            }
        }
    }

    /// Bytes from the server, in stream order.
    pub fn feed_server(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.stopped {
            match memchr::memchr(b'\n', data) {
                None => {
                    self.server_line.push(data);
                    return;
                }
                Some(i) => {
                    self.server_line.push(&data[..i]);
                    data = &data[i + 1..];
                    let mut line = std::mem::take(&mut self.server_line);
                    if line.cut {
                        bump(&mut self.summary.long_lines);
                    }
                    if !line.damaged {
                        self.server_reply_line(&line.buf);
                    } else if starts_reply(&line.buf) {
                        // Servers write whole replies: after a hole, a line
                        // that begins as a reply is one.
                        bump(&mut self.summary.resynced_after_gap);
                        self.server_reply_line(&line.buf);
                    } else {
                        bump(&mut self.summary.gap_tails_dropped);
                    }
                    line.clear();
                    self.server_line = line;
                }
            }
        }
    }

    /// `len` client bytes were never seen.
    pub fn gap_client(&mut self, len: u64) {
        if self.stopped {
            return;
        }
        if self.hold.is_some() {
            // What was held is now of unknown shape; the reply still decides.
            self.held.clear();
            self.gap_held = 0;
            return;
        }
        match self.mode {
            ClientMode::Command => {
                // The start of a command the hole cut names its verb (a
                // snaplen cuts "RCPT TO:<someone@..." after a few bytes):
                // read it, so that its reply answers it and not the next.
                if !self.client_line.damaged
                    && !self.auth_in_progress
                    && names_verb(&self.client_line.buf)
                {
                    let line = std::mem::take(&mut self.client_line);
                    bump(&mut self.summary.cut_lines_read);
                    self.client_command(&line.buf);
                    self.client_line = line;
                }
                self.client_line.clear();
                self.client_line.damaged = true;
            }
            ClientMode::Body(_) => self.mode = ClientMode::Body(BodyLine::Other),
            ClientMode::Chunk(remaining) => {
                let left = remaining.saturating_sub(len);
                self.mode = if left == 0 {
                    ClientMode::Command
                } else {
                    ClientMode::Chunk(left)
                };
                if left == 0 && len > remaining {
                    // The gap ran past the chunk into command bytes.
                    self.client_line.clear();
                    self.client_line.damaged = true;
                }
            }
        }
    }

    /// Server bytes were never seen: the line after them is read only where
    /// it begins as a reply, and the commands pending now are those whose
    /// replies the hole may hold (see the module documentation).
    pub fn gap_server(&mut self, _len: u64) {
        // A greeting cut by the hole (a snaplen cuts "220 mx.example ESMTP"
        // after a few bytes) still shows its code: read it. Not later
        // replies: on captures cut to 36 bytes a payload, reading those
        // paired refusals with the wrong commands and counted 39 messages
        // of 2 311 sessions that were never accepted.
        if self.expect_greeting
            && !self.server_line.damaged
            && starts_reply_prefix(&self.server_line.buf)
        {
            let line = std::mem::take(&mut self.server_line);
            bump(&mut self.summary.cut_lines_read);
            self.server_reply_line(&line.buf);
            self.server_line = line;
        }
        if matches!(self.mode, ClientMode::Body(_)) {
            self.server_gap_in_body = true;
        }
        self.server_line.clear();
        self.server_line.damaged = true;
        self.gap_pending = Some(self.pending.len());
        self.gap_held = self.held.len();
        self.server_gap_seen = true;
    }

    fn push_pending(&mut self, p: Pending) {
        if self.pending.len() >= MAX_PENDING {
            bump(&mut self.summary.pending_overflow);
        } else {
            self.pending.push_back(p);
        }
    }

    fn client_command(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.auth_in_progress {
            // A SASL response line (base64, or "*" to cancel), not a command;
            // after a hole in the server's stream a line that cannot be one
            // is a command: the reply that ended AUTH was in the hole.
            if !self.server_gap_seen || is_sasl_response(line) {
                return;
            }
            self.auth_in_progress = false;
            if let Some(at) = self.pending.iter().position(|p| *p == Pending::Auth) {
                self.drop_pending(at + 1);
            }
        }
        let line = trim_start(line);
        if line.is_empty() {
            return;
        }
        bump(&mut self.summary.commands);
        // A client that sends a command while the reply it must wait on
        // (to the greeting, EHLO, DATA, STARTTLS, AUTH) has a last line
        // without its line end took that line as whole: it is one (a
        // greeting sent without CRLF).
        let waited = self
            .pending
            .front()
            .map_or(self.expect_greeting, |p| p.waits_for_reply());
        if waited && !self.server_line.buf.is_empty() && !self.server_line.damaged {
            let line = std::mem::take(&mut self.server_line);
            bump(&mut self.summary.unterminated_replies);
            self.server_reply_line(&line.buf);
        }
        // A command sent while such a reply to a command (not the greeting)
        // has had only continuation lines: the reply may never get its last
        // line (a server's lone "250-" to EHLO, a gap), or a client that does
        // not wait may have cut into it. The next server line decides.
        // Not the greeting: postscreen sends "220-" on purpose, so that a
        // client talking before its last line shows itself a bot, and that
        // last line is then still to come.
        if !self.expect_greeting
            && self.pending.front().is_some_and(|p| p.waits_for_reply())
            && self.open_reply.is_some()
        {
            self.open_reply_stale = true;
        }
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], trim_start(&line[i + 1..])),
            None => (line, &[][..]),
        };
        let is = |name: &[u8]| verb.eq_ignore_ascii_case(name);
        // Verbs are case-insensitive ("staRttLs" is seen in the wild); the
        // arguments of MAIL and RCPT do not matter for the counts.
        if is(b"HELO") || is(b"EHLO") {
            if self.summary.helo.is_empty() {
                let arg = trim_end(arg);
                let arg = &arg[..arg.len().min(MAX_HELO)];
                self.summary.helo = String::from_utf8_lossy(arg).into_owned();
            }
            self.push_pending(Pending::Helo);
        } else if is(b"MAIL") {
            bump(&mut self.summary.transactions);
            self.push_pending(Pending::Mail);
        } else if is(b"RCPT") {
            self.push_pending(Pending::Rcpt);
        } else if is(b"DATA") {
            self.push_pending(Pending::Data);
            self.hold = Some(Hold::Data);
        } else if is(b"BDAT") {
            match parse_bdat(arg) {
                Some((size, last)) => {
                    self.push_pending(Pending::Bdat { last });
                    if size > 0 {
                        self.mode = ClientMode::Chunk(size);
                    }
                }
                None => self.push_pending(Pending::Other),
            }
        } else if is(b"STARTTLS") {
            self.push_pending(Pending::StartTls);
            self.hold = Some(Hold::StartTls);
        } else if is(b"QUIT") {
            self.push_pending(Pending::Quit);
        } else if is(b"AUTH") {
            self.summary.auth = true;
            self.auth_in_progress = true;
            self.push_pending(Pending::Auth);
        } else {
            self.push_pending(Pending::Other);
        }
    }

    /// Reads body bytes from `state`; returns how many were used (all, or up
    /// to and including the line "." that ends the body). Only "\n." needs
    /// looking at, so the scan jumps from one to the next (memmem), not line
    /// by line: bodies are most of the bytes of a mail capture.
    fn body(&mut self, state: BodyLine, data: &[u8]) -> usize {
        let mut at = 0usize;
        let mut st = state;
        // Finish the line in progress byte by byte (at most a few bytes).
        while st != BodyLine::Other {
            let Some(&b) = data.get(at) else {
                self.mode = ClientMode::Body(st);
                return at;
            };
            at += 1;
            st = match (st, b) {
                (BodyLine::Dot | BodyLine::DotCr, b'\n') => return self.end_of_body(at),
                (_, b'\n') => BodyLine::Start,
                (BodyLine::Start, b'.') => BodyLine::Dot,
                (BodyLine::Dot, b'\r') => BodyLine::DotCr,
                _ => BodyLine::Other,
            };
        }
        let mut from = at;
        loop {
            let Some(i) = memchr::memmem::find(data.get(from..).unwrap_or(&[]), b"\n.") else {
                let ends_line = data.len() > at && data.last() == Some(&b'\n');
                self.mode = ClientMode::Body(if ends_line {
                    BodyLine::Start
                } else {
                    BodyLine::Other
                });
                return data.len();
            };
            let dot = from + i + 1;
            match (data.get(dot + 1), data.get(dot + 2)) {
                (Some(b'\n'), _) => return self.end_of_body(dot + 2),
                (Some(b'\r'), Some(b'\n')) => return self.end_of_body(dot + 3),
                (Some(b'\r'), None) => {
                    self.mode = ClientMode::Body(BodyLine::DotCr);
                    return data.len();
                }
                (None, _) => {
                    self.mode = ClientMode::Body(BodyLine::Dot);
                    return data.len();
                }
                _ => from = dot + 1,
            }
        }
    }

    fn end_of_body(&mut self, used: usize) -> usize {
        self.mode = ClientMode::Command;
        self.push_pending(Pending::DataEnd);
        used
    }

    fn release_hold(&mut self, as_body: bool) {
        let held = std::mem::take(&mut self.held);
        self.gap_held = 0;
        self.hold = None;
        if as_body && !matches!(self.mode, ClientMode::Body(_)) {
            self.mode = ClientMode::Body(BodyLine::Start);
            self.server_gap_in_body = false;
        }
        self.feed_client(&held);
    }

    fn server_reply_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let code = match line.get(..3) {
            Some(d) if d.iter().all(u8::is_ascii_digit) => {
                u16::from(d[0] - b'0') * 100 + u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0')
            }
            _ => {
                bump(&mut self.summary.bad_lines);
                return;
            }
        };
        let continuation = line.get(3) == Some(&b'-');
        // (Not the greeting: it answers no command.)
        let waiting = self.gap_pending.take();
        if (waiting.is_some() || self.server_gap_seen) && !self.expect_greeting {
            self.after_gap(waiting, code);
        }
        // The last line of a reply to EHLO names an extension: a client that
        // did not wait cut in just before it, and it still ends that reply.
        let stale = std::mem::take(&mut self.open_reply_stale)
            && !(self.pending.front() == Some(&Pending::Helo)
                && is_ehlo_keyword_line(line.get(4..).unwrap_or_default()));
        if let Some(open) = self.open_reply
            && (code != open || (stale && !continuation))
        {
            // The open reply's last line never came: every line of one reply
            // has its code (RFC 5321 4.2.1), so another code starts another
            // reply; and after the client went on, a last line of the same
            // code answers the client's command (more continuation lines are
            // the reply going on: a client that did not wait). Closed here,
            // or every later reply would answer the command before its own.
            self.open_reply = None;
            bump(&mut self.summary.unterminated_replies);
            self.reply(open);
        }
        if continuation {
            self.open_reply = Some(code);
            return;
        }
        self.open_reply = None;
        self.reply(code);
    }

    /// A reply line after a hole in the server's stream: `waiting` is the
    /// number of commands that were pending when the hole was found, for the
    /// first reply line after it (None for later ones). Drops the commands
    /// whose replies the hole must have held, where the dialogue tells (see
    /// the module documentation); each is counted `replies_lost_in_gap`.
    fn after_gap(&mut self, waiting: Option<usize>, code: u16) {
        if let Some(waiting) = waiting {
            let waiting = waiting.min(self.pending.len());
            // The client sent commands after it had received the hole's bytes
            // (a hole is found when the client acknowledges them): it had the
            // replies to the commands before, which the hole held.
            if waiting > 0
                && self.pending.len() > waiting
                && self.free_to_drop(waiting)
                && self
                    .pending
                    .get(waiting)
                    .is_some_and(|p| p.may_answer(code))
            {
                if let Some(open) = self.open_reply.take() {
                    // Its first lines were read, its last one was in the hole.
                    self.open_reply_stale = false;
                    bump(&mut self.summary.unterminated_replies);
                    let before = self.pending.len();
                    self.reply(open);
                    let answered = before.saturating_sub(self.pending.len());
                    self.drop_pending(waiting.saturating_sub(answered));
                } else {
                    self.drop_pending(waiting);
                }
                return;
            }
        }
        if self.open_reply.is_some() {
            return;
        }
        // A code that answers one kind of command only (354 DATA, 334 and
        // 235 AUTH, 220 STARTTLS, 221 QUIT) answers the first such command
        // waiting.
        if let Some(at) = self.pending.iter().position(|p| p.may_answer(code))
            && at > 0
            && self.free_to_drop(at)
        {
            self.drop_pending(at);
            return;
        }
        // DATA was waiting when the hole was found and this is not its 354:
        // where the client's bytes held since DATA end a body, the 354 was
        // in the hole, and so were the replies to the commands before DATA
        // (a client sends a body only after the 354, which comes after
        // them); a 2xx does not answer DATA either, so without a body a 2xx
        // means DATA's refusal was in the hole.
        let Some(waiting) = waiting else { return };
        if code != 354
            && self.hold == Some(Hold::Data)
            && let Some(at) = self
                .pending
                .iter()
                .take(waiting)
                .position(|p| *p == Pending::Data)
            && self.free_to_drop(at)
        {
            let body = holds_body_end(&self.held);
            // The whole body was sent before the client acknowledged the
            // hole's bytes.
            let body_before_hole =
                holds_body_end(self.held.get(..self.gap_held).unwrap_or_default());
            if body || (at == 0 && code / 100 == 2) {
                self.drop_pending(at + 1);
                self.release_hold(body);
                // And commands after it: the client had the reply to the body
                // before it sent them, so the hole held that reply too.
                if body_before_hole
                    && self.pending.len() > 1
                    && self.pending.front() == Some(&Pending::DataEnd)
                {
                    self.drop_pending(1);
                }
            }
        }
    }

    /// The first `n` pending commands can be dropped: none of them is the
    /// DATA, STARTTLS or AUTH whose reply still decides what the client's
    /// bytes are (held bytes, SASL lines).
    fn free_to_drop(&self, n: usize) -> bool {
        !self.pending.iter().take(n).any(|p| match p {
            Pending::Data => self.hold == Some(Hold::Data),
            Pending::StartTls => self.hold == Some(Hold::StartTls),
            Pending::Auth => self.auth_in_progress,
            _ => false,
        })
    }

    /// The first `n` pending commands' replies were lost in a hole.
    fn drop_pending(&mut self, n: usize) {
        for _ in 0..n {
            if self.pending.pop_front().is_none() {
                return;
            }
            bump(&mut self.summary.replies_lost_in_gap);
            // It was among those pending when the last hole was found.
            if let Some(waiting) = &mut self.gap_pending {
                *waiting = waiting.saturating_sub(1);
            }
        }
    }

    fn reply(&mut self, code: u16) {
        bump(&mut self.summary.replies);
        if self.expect_greeting {
            self.expect_greeting = false;
            // A greeting is 220 or a refusal; a 250 with commands waiting
            // answers one of them (the greeting was never sent or captured).
            let answers_command = code / 100 == 2 && code != 220 && !self.pending.is_empty();
            if !answers_command {
                self.summary.greeting_code = code;
                return;
            }
        }
        let class = code / 100;
        if matches!(self.mode, ClientMode::Body(_)) && self.pending.front() != Some(&Pending::Data)
        {
            // The server answers inside a body only once the body has ended:
            // its "." was lost in a gap. Only a 250 accepts the message, and
            // only where the server's stream had no hole since the body
            // began: else the body's reply may be in that hole, and this one
            // answers a command the lost "." turned into body text (on a
            // capture cut to 34 bytes a packet, a 221 to QUIT and a 250 to
            // the next MAIL counted messages never accepted).
            self.mode = ClientMode::Command;
            if code == 250 && !self.server_gap_in_body {
                bump(&mut self.summary.messages);
            }
            return;
        }
        let Some(front) = self.pending.front().copied() else {
            bump(&mut self.summary.unmatched_replies);
            return;
        };
        if front == Pending::Auth && code == 334 {
            return; // the SASL exchange goes on
        }
        self.pending.pop_front();
        match front {
            Pending::Auth => self.auth_in_progress = false,
            Pending::Rcpt if class == 2 => bump(&mut self.summary.rcpt_accepted),
            Pending::Rcpt if class == 4 || class == 5 => bump(&mut self.summary.rcpt_rejected),
            Pending::Data if self.hold == Some(Hold::Data) => self.release_hold(code == 354),
            Pending::DataEnd if class == 2 => bump(&mut self.summary.messages),
            Pending::Bdat { last: true } if class == 2 => bump(&mut self.summary.messages),
            Pending::StartTls => {
                if code == 220 {
                    self.summary.tls = true;
                    self.summary.tls_hidden = true;
                    self.pending.clear();
                    self.auth_in_progress = false;
                    self.server_line.clear();
                    let held = std::mem::take(&mut self.held);
                    self.hold = Some(Hold::AfterTls);
                    self.feed_client(&held);
                } else if self.hold == Some(Hold::StartTls) {
                    self.release_hold(false);
                }
            }
            _ => {}
        }
    }
}

/// The text of a reply line that names an ESMTP extension (RFC 5321
/// 4.1.1.1: the EHLO reply's lines after the first), by the keywords servers
/// announce; a reply to another command ("ok", "2.1.0 Ok", "Sender ok")
/// names none of them.
fn is_ehlo_keyword_line(text: &[u8]) -> bool {
    const KEYWORDS: &[&[u8]] = &[
        b"8BITMIME",
        b"AUTH",
        b"BINARYMIME",
        b"CHUNKING",
        b"DELIVERBY",
        b"DSN",
        b"ENHANCEDSTATUSCODES",
        b"ETRN",
        b"EXPN",
        b"HELP",
        b"MTRK",
        b"PIPELINING",
        b"REQUIRETLS",
        b"SIZE",
        b"SMTPUTF8",
        b"STARTTLS",
        b"VRFY",
        b"XCLIENT",
        b"XFORWARD",
    ];
    let word = text
        .split(|&b| b == b' ' || b == b'=' || b == b'\r')
        .next()
        .unwrap_or_default();
    KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k))
        || (word.len() > 2 && word[..2].eq_ignore_ascii_case(b"X-"))
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    &b[..b.len() - n]
}

/// "BDAT <size> [LAST]": the chunk size (decimal, no sign) and whether it is the last.
fn parse_bdat(arg: &[u8]) -> Option<(u64, bool)> {
    let mut words = arg
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty());
    let size = words.next()?;
    if size.is_empty() || !size.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in size {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return None,
    };
    Some((n, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays a dialogue given as (is_client, bytes) steps.
    fn play(steps: &[(bool, &[u8])]) -> SmtpSummary {
        let mut r = SmtpReader::new();
        for (client, bytes) in steps {
            if *client {
                r.feed_client(bytes);
            } else {
                r.feed_server(bytes);
            }
        }
        r.finish().clone()
    }

    const C: bool = true;
    const S: bool = false;

    #[test]
    fn plain_session_with_one_message() {
        let s = play(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"EHLO client.example\r\n"),
            (S, b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<e@f>\r\n"),
            (S, b"550 no such user\r\n"),
            (C, b"DATA\r\n"),
            (S, b"354 go\r\n"),
            (C, b"Subject: x\r\n\r\nbody\r\n."),
            (C, b"\r\n"),
            (S, b"250 queued\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]);
        assert_eq!(s.helo, "client.example");
        assert_eq!(s.greeting_code, 220);
        assert_eq!(s.transactions, 1);
        assert_eq!((s.rcpt_accepted, s.rcpt_rejected), (1, 1));
        assert_eq!(s.messages, 1);
        assert_eq!(s.unmatched_replies, 0);
    }

    /// A reply to EHLO that never got its last line (a server that sends a
    /// lone "250-", as in suricata-verify's detect-email-received): the
    /// client's next command closes it, and the replies after it pair with
    /// their own commands.
    #[test]
    fn a_reply_without_its_last_line_is_closed_by_the_next_command() {
        let s = play(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"EHLO Simone\r\n"),
            (S, b"250-smtp001.example\r\n"),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<e@f>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"DATA\r\n"),
            (S, b"354 go\r\n"),
            (C, b"Subject: x\r\n\r\nhi\r\n.\r\n"),
            (S, b"250 ok: queued as 12345\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]);
        assert_eq!(
            (s.rcpt_accepted, s.rcpt_rejected, s.messages),
            (2, 0, 1),
            "{s:?}"
        );
        assert_eq!((s.unterminated_replies, s.unmatched_replies), (1, 0));
        // A greeting with only its continuation line, the same.
        let s = play(&[
            (S, b"220-mx first line\r\n"),
            (C, b"HELO h\r\n"),
            (S, b"250 hi\r\n"),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
        ]);
        assert_eq!(
            (s.greeting_code, s.unterminated_replies, s.unmatched_replies),
            (220, 1, 0)
        );
        // A greeting without its CRLF (detect-email-received): the EHLO
        // reply's first line must not be read as the rest of it.
        let s = play(&[
            (S, b"220 mx ESMTP AAAA"),
            (C, b"EHLO Simone\r\n"),
            (S, b"250-smtp001.example\r\n"),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"RCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n"),
            (C, b"DATA\r\n"),
            (S, b"354 go\r\n"),
            (C, b"hi\r\n.\r\n"),
            (S, b"250 queued\r\n"),
        ]);
        assert_eq!(
            (s.greeting_code, s.rcpt_accepted, s.messages),
            (220, 1, 1),
            "{s:?}"
        );
        assert_eq!(s.unterminated_replies, 2);
        // Postscreen's "220-" before its greeting's last line, and a bot that
        // talks into it: the greeting ends at "220 ", and every reply after
        // answers its own command.
        let s = play(&[
            (S, b"220-mx pregreet\r\n"),
            (
                C,
                b"EHLO bot\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
            ),
            (
                S,
                b"220 mx ESMTP\r\n250 mx\r\n250 ok\r\n550 no\r\n554 no valid recipients\r\n",
            ),
        ]);
        assert_eq!(
            (
                s.greeting_code,
                s.rcpt_accepted,
                s.rcpt_rejected,
                s.messages
            ),
            (220, 0, 1, 0),
            "{s:?}"
        );
        assert_eq!((s.unterminated_replies, s.unmatched_replies), (0, 0));
        // A bot that sends MAIL while the server's EHLO reply is still
        // coming line by line: the reply goes on, and MAIL gets the next.
        let s = play(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO bot\r\n"),
            (S, b"250-mx\r\n"),
            (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            (S, b"250-PIPELINING\r\n250 8BITMIME\r\n250 ok\r\n550 no\r\n"),
        ]);
        assert_eq!(
            (s.rcpt_accepted, s.rcpt_rejected, s.unterminated_replies),
            (0, 1, 0),
            "{s:?}"
        );
        // The same bot cutting in just before the reply's last line, which
        // names an extension: it still ends the EHLO reply.
        let s = play(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO bot\r\n"),
            (S, b"250-mx\r\n250-PIPELINING\r\n"),
            (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            (S, b"250 8BITMIME\r\n250 ok\r\n550 no\r\n"),
        ]);
        assert_eq!(
            (
                s.rcpt_accepted,
                s.rcpt_rejected,
                s.unterminated_replies,
                s.unmatched_replies
            ),
            (0, 1, 0, 0),
            "{s:?}"
        );
        // Pipelined commands do not wait, so they close nothing: a reply
        // to MAIL still in its continuation lines stays open.
        let s = play(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO h\r\n"),
            (S, b"250-mx\r\n250 PIPELINING\r\n"),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250-sender\r\n"),
            (C, b"RCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n550 no\r\n"),
        ]);
        assert_eq!(
            (s.rcpt_accepted, s.rcpt_rejected, s.unterminated_replies),
            (0, 1, 0)
        );
    }

    #[test]
    fn pipelined_burst_before_greeting_and_body_sent_blind() {
        // A bot that never waits: everything in one write, body included.
        let s = play(&[
            (C, b"HELO [0.0.0.0]\r\nMAIL FROM:<x@y>\r\nRCPT TO:<a@b>\r\nDATA\r\nHi\r\n.\r\nQUIT\r\n"),
            (S, b"220 hello\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n"),
        ]);
        assert_eq!(s.greeting_code, 220);
        assert_eq!(s.helo, "[0.0.0.0]");
        assert_eq!(s.rcpt_accepted, 1);
        assert_eq!(s.messages, 1);
        assert_eq!(s.commands, 5);
    }

    #[test]
    fn rejected_data_keeps_following_commands() {
        let s = play(&[
            (S, b"220 hi\r\n"),
            (C, b"HELO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
            (
                S,
                b"250 a\r\n250 b\r\n554 no rcpt\r\n554 no valid recipients\r\n",
            ),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
        ]);
        assert_eq!(s.transactions, 2);
        assert_eq!(s.rcpt_rejected, 1);
        assert_eq!(s.messages, 0);
    }

    #[test]
    fn end_of_data_split_and_bare_lf() {
        let s = play(&[
            (S, b"220 hi\n"),
            (C, b"HELO h\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n"),
            (S, b"250 a\n250 b\n250 c\n354 d\n"),
            (C, b"line\n.stuffed\n"),
            (C, b"\n"),
            (C, b"."),
            (C, b"\n"),
            (S, b"250 queued\n"),
        ]);
        assert_eq!(s.messages, 1);
        assert_eq!(s.rcpt_accepted, 1);
    }

    #[test]
    fn bdat_chunks_with_last() {
        let s = play(&[
            (S, b"220 hi\r\n"),
            (C, b"EHLO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            (S, b"250 a\r\n250 b\r\n250 c\r\n"),
            (C, b"BDAT 5\r\nQUIT\r"),
            (C, b"\nBDAT 0 LAST\r\n"),
            (S, b"250 5 octets\r\n250 message ok\r\n"),
        ]);
        assert_eq!(s.messages, 1);
        assert_eq!(s.commands, 5);
    }

    #[test]
    fn starttls_stops_reading() {
        let s = play(&[
            (S, b"220 hi\r\n"),
            (
                C,
                b"EHLO h\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00MAIL FROM:<x>\r\n",
            ),
            (S, b"250 a\r\n220 go ahead\r\n"),
            (C, b"MAIL FROM:<x>\r\n"),
        ]);
        assert!(s.tls && s.tls_hidden);
        assert_eq!(s.transactions, 0);
    }

    #[test]
    fn decrypted_dialogue_after_starttls_is_read() {
        let s = play(&[
            (S, b"220 hi\r\n"),
            (C, b"EHLO h\r\nSTARTTLS\r\n"),
            (S, b"250 a\r\n220 go ahead\r\n"),
            (C, b"EHLO h\r\nMAIL FROM:<x>\r\n"),
            (S, b"250 a\r\n250 ok\r\n"),
        ]);
        assert!(s.tls && !s.tls_hidden);
        assert_eq!(s.transactions, 1);
        assert_eq!(s.unmatched_replies, 0);
    }

    #[test]
    fn first_reply_250_answers_a_command_when_no_greeting_came() {
        let s = play(&[
            (C, b"EHLO h\n"),
            (S, b"250 a\n"),
            (C, b"rset\nstaRttLs\n"),
            (S, b"250 b\n220 go\n"),
        ]);
        assert_eq!(s.greeting_code, 0);
        assert!(s.tls);
    }

    #[test]
    fn refused_starttls_reads_on() {
        let s = play(&[
            (S, b"220 hi\r\n"),
            (C, b"EHLO h\r\nSTARTTLS\r\n"),
            (S, b"250 a\r\n454 not now\r\n"),
            (C, b"MAIL FROM:<x>\r\n"),
        ]);
        assert!(!s.tls);
        assert_eq!(s.transactions, 1);
    }

    #[test]
    fn auth_exchange_lines_are_not_commands() {
        let s = play(&[
            (S, b"220 hi\r\n"),
            (C, b"EHLO h\r\n"),
            (S, b"250 a\r\n"),
            (C, b"AUTH LOGIN\r\n"),
            (S, b"334 VXNlcm5hbWU6\r\n"),
            (C, b"TUFJTCBGUk9NOg==\r\n"),
            (S, b"334 UGFzc3dvcmQ6\r\n"),
            (C, b"cGFzcw==\r\n"),
            (S, b"235 ok\r\n"),
            (C, b"MAIL FROM:<a@b>\r\n"),
            (S, b"250 ok\r\n"),
        ]);
        assert!(s.auth);
        assert_eq!(s.commands, 3);
        assert_eq!(s.transactions, 1);
        assert_eq!(s.unmatched_replies, 0);
    }

    #[test]
    fn one_direction_only_reads_commands_and_bodies() {
        let s = play(&[(
            C,
            b"EHLO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<e@f>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n",
        )]);
        assert_eq!(s.transactions, 2);
        assert_eq!(s.commands, 8);
        assert_eq!(s.greeting_code, 0);
    }

    #[test]
    fn over_long_line_is_cut_and_counted() {
        let mut long = b"EHLO ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 5000));
        long.extend_from_slice(b"\r\nMAIL FROM:<a@b>\r\n");
        let s = play(&[(S, b"220 hi\r\n"), (C, &long)]);
        assert_eq!(s.long_lines, 1);
        assert_eq!(s.helo.len(), MAX_HELO);
        assert_eq!(s.transactions, 1);
    }

    #[test]
    fn gap_in_body_is_closed_by_the_servers_reply() {
        let mut r = SmtpReader::new();
        r.feed_server(b"220 hi\r\n");
        r.feed_client(b"HELO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        r.feed_server(b"250 a\r\n250 b\r\n250 c\r\n354 d\r\n");
        r.feed_client(b"some body");
        r.gap_client(100);
        r.feed_server(b"250 queued\r\n");
        r.feed_client(b"QUIT\r\n");
        r.feed_server(b"221 bye\r\n");
        let s = r.finish();
        assert_eq!(s.messages, 1);
        assert_eq!(s.unmatched_replies, 0);
    }

    /// One step of a dialogue whose server stream has holes.
    #[derive(Clone, Copy)]
    enum St<'a> {
        C(&'a [u8]),
        S(&'a [u8]),
        /// Server bytes never seen: found when the client's next segment
        /// acknowledges them, so before the client bytes that follow.
        Hole(u64),
    }

    fn play_holes(steps: &[St]) -> SmtpSummary {
        let mut r = SmtpReader::new();
        for step in steps {
            match *step {
                St::C(b) => r.feed_client(b),
                St::S(b) => r.feed_server(b),
                St::Hole(n) => r.gap_server(n),
            }
        }
        r.finish().clone()
    }

    /// Lines cut by a hole (a snaplen, the rest of the segment lost): a
    /// command still names its verb, so its reply answers it and not the
    /// next; a greeting still shows its code. A cut shorter than that is
    /// not read.
    #[test]
    fn lines_cut_short_by_a_hole_keep_their_verb_or_greeting_code() {
        let mut r = SmtpReader::new();
        r.feed_server(b"220 mx.exa");
        r.gap_server(30);
        r.feed_client(b"EHLO a\r\n");
        r.feed_server(b"250 mx\r\n");
        r.feed_client(b"MAIL FROM:<a@b>\r\n");
        r.feed_server(b"250 2.1.0 Ok\r\n");
        r.feed_client(b"RCPT TO:<some");
        r.gap_client(20);
        r.feed_server(b"550 5.1.1 unknown user\r\n");
        r.feed_client(b"QUIT\r\n");
        r.feed_server(b"221 2.0.0 Bye\r\n");
        let s = r.finish().clone();
        assert_eq!((s.greeting_code, s.rcpt_rejected), (220, 1), "{s:?}");
        assert_eq!((s.cut_lines_read, s.unmatched_replies), (2, 0), "{s:?}");

        let mut r = SmtpReader::new();
        r.feed_server(b"220 mx ESMTP\r\n");
        r.feed_client(b"RC");
        r.gap_client(20);
        r.feed_server(b"550 5.1.1 unknown user\r\n");
        assert_eq!(
            (r.summary().cut_lines_read, r.summary().rcpt_rejected),
            (0, 0)
        );
        // BDAT's chunk size may be what the cut shortened: not read.
        assert!(!names_verb(b"BDAT 10"));
        assert!(names_verb(b"MAIL FROM:<"));
        assert!(!starts_reply_prefix(b"22"));
    }

    /// A body whose "." was lost: the reply after it accepts a message only
    /// if it is a 250 and the server's stream had no hole since the body
    /// began (else the body's refusal may be in the hole, and the 250 or
    /// 221 answers a command the lost "." made body text).
    #[test]
    fn a_body_without_its_end_counts_a_message_only_on_a_250_read_whole() {
        let run = |after_body: &[(bool, &'static [u8])], server_hole: bool| {
            let mut r = SmtpReader::new();
            for (client, bytes) in [
                (false, &b"220 mx ESMTP\r\n"[..]),
                (true, b"EHLO a\r\n"),
                (false, b"250 mx\r\n"),
                (true, b"MAIL FROM:<a@b>\r\n"),
                (false, b"250 2.1.0 Ok\r\n"),
                (true, b"RCPT TO:<x@y>\r\n"),
                (false, b"250 2.1.5 Ok\r\n"),
                (true, b"DATA\r\n"),
                (false, b"354 go ahead\r\n"),
                (true, b"Subject: hi\r\n\r\nbody"),
            ] {
                if client {
                    r.feed_client(bytes)
                } else {
                    r.feed_server(bytes)
                }
            }
            // The rest of the body and its "." were never captured.
            r.gap_client(500);
            if server_hole {
                r.gap_server(40);
            }
            for &(client, bytes) in after_body {
                if client {
                    r.feed_client(bytes)
                } else {
                    r.feed_server(bytes)
                }
            }
            r.finish().clone()
        };
        let accepted = run(&[(false, b"250 2.0.0 Ok: queued as 1\r\n")], false);
        assert_eq!(accepted.messages, 1, "{accepted:?}");
        let quit = run(&[(true, b"QUIT\r\n"), (false, b"221 2.0.0 Bye\r\n")], false);
        assert_eq!(quit.messages, 0, "{quit:?}");
        let next_mail = run(
            &[(true, b"MAIL FROM:<a@b>\r\n"), (false, b"250 2.1.0 Ok\r\n")],
            true,
        );
        assert_eq!(next_mail.messages, 0, "{next_mail:?}");
    }

    /// A hole that ends at a line end (a lost segment of whole replies): the
    /// reply after it is read, and the command whose reply the hole held is
    /// dropped, so each later reply answers its own command.
    #[test]
    fn a_reply_after_a_hole_ending_at_a_line_end_is_read() {
        use St::*;
        let s = play_holes(&[
            S(b"220 mx ESMTP\r\n"),
            C(b"EHLO h\r\n"),
            S(b"250 mx\r\n"),
            C(b"MAIL FROM:<a@b>\r\n"),
            Hole(14), // "250 2.1.0 Ok\r\n"
            C(b"RCPT TO:<x@d>\r\n"),
            S(b"550 5.1.1 <x@d>: User unknown\r\n"),
            C(b"RCPT TO:<c@d>\r\n"),
            S(b"250 2.1.5 Ok\r\n"),
            C(b"DATA\r\n"),
            S(b"354 go ahead\r\n"),
            C(b"Subject: x\r\n\r\nhi\r\n.\r\n"),
            S(b"250 2.0.0 Ok: queued\r\n"),
            C(b"QUIT\r\n"),
            S(b"221 bye\r\n"),
        ]);
        // Before: the line after the hole was dropped and every later
        // reply answered the command before its own (no message).
        assert_eq!(
            (s.transactions, s.rcpt_accepted, s.rcpt_rejected, s.messages),
            (1, 1, 1, 1),
            "{s:?}"
        );
        assert_eq!(
            (
                s.resynced_after_gap,
                s.gap_tails_dropped,
                s.replies_lost_in_gap
            ),
            (1, 0, 1)
        );
        assert_eq!(s.unmatched_replies, 0);
    }

    /// A hole that ends inside a line: the line's tail is dropped, not read
    /// as a reply; the next whole line is.
    #[test]
    fn the_tail_of_a_line_a_hole_cut_is_dropped() {
        use St::*;
        let s = play_holes(&[
            S(b"220 mx ESMTP\r\n"),
            C(b"HELO h\r\n"),
            S(b"250 mx\r\n"),
            C(b"MAIL FROM:<a@b>\r\n"),
            // "250 2.1.0 Sender <a@b> ok\r\n": the first 12 bytes lost.
            Hole(12),
            C(b"RCPT TO:<x@d>\r\n"),
            S(b"ender <a@b> ok\r\n550 5.1.1 <x@d>: User unknown\r\n"),
            C(b"RCPT TO:<c@d>\r\n"),
            S(b"250 2.1.5 Ok\r\n"),
            C(b"DATA\r\n"),
            S(b"354 go ahead\r\n"),
            C(b"hi\r\n.\r\n"),
            S(b"250 queued\r\n"),
        ]);
        assert_eq!(
            (s.rcpt_accepted, s.rcpt_rejected, s.messages),
            (1, 1, 1),
            "{s:?}"
        );
        assert_eq!(
            (s.resynced_after_gap, s.gap_tails_dropped, s.bad_lines),
            (0, 1, 0)
        );
        // Digits at the start of a tail are not enough: "5.1.1 ..." is no reply.
        let mut r = SmtpReader::new();
        r.feed_server(b"220 mx\r\n");
        r.gap_server(4);
        r.feed_server(b"5.1.1 <x@d>: unknown\r\n421 closing\r\n");
        let t = r.summary();
        assert_eq!((t.gap_tails_dropped, t.bad_lines, t.replies), (1, 0, 2));
        // A line that begins as a reply but is split after the hole is read
        // once whole.
        let mut r = SmtpReader::new();
        r.feed_server(b"220 mx\r\n");
        r.feed_client(b"HELO h\r\n");
        r.gap_server(10);
        r.feed_server(b"25");
        r.feed_server(b"0 ok\r\n");
        assert_eq!(r.summary().resynced_after_gap, 1);
        assert_eq!(r.summary().replies, 2);
    }

    /// A hole that took the last line of a multi-line reply (to EHLO): the
    /// client went on, so the reply ended in the hole.
    #[test]
    fn a_hole_that_took_the_end_of_a_multi_line_reply() {
        use St::*;
        let s = play_holes(&[
            S(b"220 mx ESMTP\r\n"),
            C(b"EHLO h\r\n"),
            S(b"250-mx\r\n250-PIPELINING\r\n"),
            Hole(14), // "250 8BITMIME\r\n"
            C(b"MAIL FROM:<a@b>\r\n"),
            S(b"250 2.1.0 Ok\r\n"),
            C(b"RCPT TO:<c@d>\r\n"),
            S(b"250 2.1.5 Ok\r\n"),
        ]);
        assert_eq!((s.transactions, s.rcpt_accepted), (1, 1), "{s:?}");
        assert_eq!((s.unterminated_replies, s.replies_lost_in_gap), (1, 0));
    }

    /// What the client sent after a hole shows what the lost reply was.
    #[test]
    fn the_clients_next_bytes_tell_a_lost_reply() {
        use St::*;
        // A 354 lost: a body followed, so DATA got it; the reply after the
        // body answers the body.
        let s = play_holes(&[
            S(b"220 mx\r\n"),
            C(b"HELO h\r\n"),
            S(b"250 mx\r\n"),
            C(b"MAIL FROM:<a@b>\r\n"),
            S(b"250 ok\r\n"),
            C(b"RCPT TO:<c@d>\r\n"),
            S(b"250 ok\r\n"),
            C(b"DATA\r\n"),
            Hole(14), // "354 go ahead\r\n"
            C(b"Subject: x\r\n\r\nhi\r\n.\r\n"),
            S(b"250 queued\r\n"),
            C(b"QUIT\r\n"),
            S(b"221 bye\r\n"),
        ]);
        assert_eq!((s.messages, s.commands), (1, 5), "{s:?}");
        assert_eq!((s.replies_lost_in_gap, s.unmatched_replies), (1, 0));
        // A pipelined batch whose replies (354 included) were one lost
        // segment, and QUIT sent right after the body's end.
        let s = play_holes(&[
            S(b"220 mx\r\n"),
            C(b"EHLO h\r\n"),
            S(b"250 PIPELINING\r\n"),
            C(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
            Hole(30), // "250 ok\r\n250 ok\r\n354 go ahead\r\n"
            C(b"hi\r\n.\r\nQUIT\r\n"),
            S(b"250 queued\r\n221 bye\r\n"),
        ]);
        assert_eq!((s.messages, s.replies_lost_in_gap), (1, 3), "{s:?}");
        // The 354 and the body's refusal both lost: the client sent its next
        // MAIL after it had the refusal, so the 250 answers MAIL, not the body.
        let s = play_holes(&[
            S(b"220 mx\r\n"),
            C(b"HELO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            S(b"250 mx\r\n250 ok\r\n250 ok\r\n"),
            C(b"DATA\r\n"),
            Hole(14), // "354 go ahead\r\n"
            C(b"hi\r\n.\r\n"),
            Hole(20), // "554 looks like spam\r\n"
            C(b"MAIL FROM:<e@f>\r\n"),
            S(b"250 2.1.0 Ok\r\n"),
            C(b"RCPT TO:<g@h>\r\n"),
            S(b"250 2.1.5 Ok\r\n"),
        ]);
        assert_eq!(
            (s.messages, s.transactions, s.rcpt_accepted),
            (0, 2, 2),
            "{s:?}"
        );
        // STARTTLS's 220 lost: the client's TLS handshake shows it came.
        let s = play_holes(&[
            S(b"220 mx\r\n"),
            C(b"EHLO h\r\n"),
            S(b"250-mx\r\n250 STARTTLS\r\n"),
            C(b"STARTTLS\r\n"),
            Hole(14), // "220 go ahead\r\n"
            C(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            S(b"\x16\x03\x03\x00\x4a\x02\x00\x00\x46\x03\x03\n250 ok\r\n"),
        ]);
        assert!(s.tls && s.tls_hidden, "{s:?}");
        // AUTH's last reply lost: a line that is no SASL response is a command.
        let s = play_holes(&[
            S(b"220 mx\r\n"),
            C(b"EHLO h\r\n"),
            S(b"250 AUTH LOGIN\r\n"),
            C(b"AUTH LOGIN\r\n"),
            S(b"334 VXNlcm5hbWU6\r\n"),
            C(b"dXNlcg==\r\n"),
            S(b"334 UGFzc3dvcmQ6\r\n"),
            C(b"cGFzcw==\r\n"),
            Hole(16), // "235 2.7.0 Ok\r\n"
            C(b"MAIL FROM:<a@b>\r\n"),
            S(b"250 2.1.0 Ok\r\n"),
            C(b"RCPT TO:<c@d>\r\n"),
            S(b"250 2.1.5 Ok\r\n"),
        ]);
        assert!(s.auth);
        assert_eq!((s.transactions, s.rcpt_accepted), (1, 1), "{s:?}");
    }

    /// A code that answers one kind of command only is not paired with
    /// another after a hole: the reply to the body's end was lost and QUIT
    /// followed it in the same write, so 221 is QUIT's, not a message.
    #[test]
    fn after_a_hole_221_answers_quit_only() {
        use St::*;
        let s = play_holes(&[
            S(b"220 mx\r\n"),
            C(b"HELO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            S(b"250 mx\r\n250 ok\r\n250 ok\r\n"),
            C(b"DATA\r\n"),
            S(b"354 go ahead\r\n"),
            C(b"hi\r\n.\r\nQUIT\r\n"),
            Hole(12), // "250 queued\r\n"
            S(b"221 bye\r\n"),
        ]);
        assert_eq!((s.messages, s.replies_lost_in_gap), (0, 1), "{s:?}");
        assert_eq!(s.unmatched_replies, 0);
    }

    #[test]
    fn any_split_of_the_client_stream_reads_the_same() {
        let server: &[&[u8]] = &[
            b"220 hi\r\n",
            b"250 a\r\n250 b\r\n250 c\r\n354 d\r\n",
            b"250 queued\r\n250 e\r\n250 f\r\n354 g\r\n250 queued\r\n221 bye\r\n",
        ];
        let client: &[u8] = b"EHLO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n\
            ..dot\r\n.\r\r\n.x\n\r\n.\r\nMAIL FROM:<a@b>\nRCPT TO:<e@f>\nDATA\nbody\n.\nQUIT\n";
        // The client's bytes up to each server reply, as a real capture orders them.
        let cuts = [0, 65, client.len()];
        let reference = {
            let mut r = SmtpReader::new();
            for (i, reply) in server.iter().enumerate() {
                r.feed_client(&client[if i == 0 { 0 } else { cuts[i - 1] }..cuts[i]]);
                r.feed_server(reply);
            }
            r.finish().clone()
        };
        assert_eq!(reference.messages, 2, "{reference:?}");
        assert_eq!(reference.transactions, 2);
        assert_eq!(reference.unmatched_replies, 0);
        for split in 0..client.len() {
            let mut r = SmtpReader::new();
            for (i, reply) in server.iter().enumerate() {
                let (lo, hi) = (if i == 0 { 0 } else { cuts[i - 1] }, cuts[i]);
                let mid = split.clamp(lo, hi);
                r.feed_client(&client[lo..mid]);
                r.feed_client(&client[mid..hi]);
                r.feed_server(reply);
            }
            assert_eq!(r.finish(), &reference, "split at {split}");
        }
    }

    #[test]
    fn bdat_size_parsing() {
        assert_eq!(parse_bdat(b"12 LAST"), Some((12, true)));
        assert_eq!(parse_bdat(b"0 last"), Some((0, true)));
        assert_eq!(parse_bdat(b"7"), Some((7, false)));
        assert_eq!(parse_bdat(b"-5"), None);
        assert_eq!(parse_bdat(b"99999999999999999999999"), None);
        assert_eq!(parse_bdat(b""), None);
    }
}
