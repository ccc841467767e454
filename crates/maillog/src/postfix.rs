//! The few Postfix log messages that say where a message came from and
//! where it went, parsed from the message text of one syslog line.
//!
//! Formats as Postfix writes them (src/smtpd/smtpd.c, src/global/log_adhoc.c,
//! src/qmgr/qmgr_active.c, src/pickup/pickup.c):
//!
//! - `smtpd`: `QID: client=NAME[ADDR]` (then `, sasl_method=…` and others)
//! - `pickup`: `QID: uid=N from=<SENDER>` (mail handed in on the server itself)
//! - `bounce`: `QID: sender non-delivery notification: NEWQID` (a bounce the
//!   server made about QID: mail QID's sender caused; backscatter when QID
//!   was spam with a forged sender)
//! - `smtp`/`lmtp`: `QID: to=<RCPT>, [orig_to=<…>, ]relay=NAME[ADDR]:PORT|none,
//!   [conn_use=N, ]delay=…, delays=…, dsn=X.Y.Z, status=sent|bounced|deferred (TEXT)`
//! - `qmgr`: `QID: removed`
//!
//! Everything else (`connect from`, `NOQUEUE: reject`, `cleanup`, warnings)
//! is not needed and not parsed.

use std::net::IpAddr;

/// What one Postfix line says, where it says something op25b uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message was handed in over SMTP by `client` (`None`: `unknown`).
    Client {
        qid: &'a str,
        client: Option<IpAddr>,
    },
    /// A message was handed in on the server itself (sendmail, a bounce).
    Local { qid: &'a str },
    /// The server made `bounce`, a notification about message `about`.
    Bounce { about: &'a str, bounce: &'a str },
    /// One recipient of a delivery attempt.
    Recipient { qid: &'a str, rcpt: RcptLine<'a> },
    /// The message left the queue.
    Removed { qid: &'a str },
}

/// The delivery agent's verdict on one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Sent,
    Bounced,
    Deferred,
    /// `expired`, `undeliverable`, …: nothing op25b counts as a delivery.
    Other,
}

/// Where a delivery attempt went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    /// A server reached over the network (`NAME[ADDR]:PORT`).
    Remote(IpAddr),
    /// `relay=none`: no server could be reached.
    None,
    /// A local transport (`relay=local`, `relay=dovecot`, `relay=NAME[private/…]`).
    Local,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RcptLine<'a> {
    pub relay: Relay,
    pub status: Status,
    /// The receiver got the message body: the recipient was delivered, or
    /// the refusal came in reply to the end of DATA (or broke off in the body).
    pub body_sent: bool,
    /// `queued as QID` in a `sent` reply: the next server's queue ID, which
    /// continues the message's trail where that server logs here too.
    pub queued_as: Option<&'a str>,
}

/// Why a Postfix line that should say something could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventError {
    /// `to=` without `relay=` or `status=`.
    Delivery,
    /// `client=` without `NAME[ADDR]`.
    Client,
}

/// Parses the message of a line from `daemon` (the last component of the
/// program name: `smtpd`, `smtp`, …). `Ok(None)`: nothing op25b uses.
pub fn parse_event<'a>(daemon: &str, message: &'a str) -> Result<Option<Event<'a>>, EventError> {
    let Some((qid, text)) = message.split_once(": ") else {
        return Ok(None);
    };
    if !is_queue_id(qid) {
        return Ok(None);
    }
    match daemon {
        "smtpd" => match text.strip_prefix("client=") {
            Some(c) => {
                let (_, addr) = bracketed(c).ok_or(EventError::Client)?;
                Ok(Some(Event::Client {
                    qid,
                    client: addr.parse().ok(),
                }))
            }
            None => Ok(None),
        },
        "pickup" if text.starts_with("uid=") || text.starts_with("sender=") => {
            Ok(Some(Event::Local { qid }))
        }
        "smtp" | "lmtp" if text.starts_with("to=<") => {
            parse_recipient(text).map(|rcpt| Some(Event::Recipient { qid, rcpt }))
        }
        "qmgr" if text == "removed" => Ok(Some(Event::Removed { qid })),
        "bounce" => Ok(text
            .split_once("notification: ")
            .map(|(_, new)| new.trim())
            .filter(|new| is_queue_id(new))
            .map(|new| Event::Bounce {
                about: qid,
                bounce: new,
            })),
        _ => Ok(None),
    }
}

/// Short queue IDs are upper-case hex, long ones base 52 with digits; either
/// way letters and digits only (`NOQUEUE` is the one word that is not one).
fn is_queue_id(s: &str) -> bool {
    (5..=20).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric()) && s != "NOQUEUE"
}

/// `NAME[ADDR]…` → (NAME, ADDR).
fn bracketed(s: &str) -> Option<(&str, &str)> {
    let open = s.find('[')?;
    let close = open + s[open..].find(']')?;
    Some((&s[..open], &s[open + 1..close]))
}

fn parse_recipient(text: &str) -> Result<RcptLine<'_>, EventError> {
    // The address may itself contain ", " inside its angle brackets.
    let after_to = text
        .find(">, ")
        .map(|i| &text[i + 3..])
        .ok_or(EventError::Delivery)?;
    let relay_at = after_to.find("relay=").ok_or(EventError::Delivery)?;
    let relay_field = after_to[relay_at + 6..]
        .split(", ")
        .next()
        .unwrap_or_default();
    let relay = if relay_field == "none" {
        Relay::None
    } else {
        match bracketed(relay_field).and_then(|(_, a)| a.parse::<IpAddr>().ok()) {
            Some(ip) => Relay::Remote(ip),
            None => Relay::Local,
        }
    };
    let status_at = after_to.find(", status=").ok_or(EventError::Delivery)?;
    let status_text = &after_to[status_at + 9..];
    let (word, detail) = match status_text.split_once(' ') {
        Some((w, d)) => (w, d),
        None => (status_text, ""),
    };
    let status = match word {
        "sent" => Status::Sent,
        "bounced" => Status::Bounced,
        "deferred" => Status::Deferred,
        _ => Status::Other,
    };
    let body_sent = status == Status::Sent
        || detail.contains("end of DATA")
        || detail.contains("end of data")
        || detail.contains("message body");
    let queued_as = (status == Status::Sent)
        .then(|| detail.rfind("queued as "))
        .flatten()
        .map(|i| {
            let id = &detail[i + 10..];
            let end = id
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(id.len());
            &id[..end]
        })
        .filter(|id| is_queue_id(id));
    Ok(RcptLine {
        relay,
        status,
        body_sent,
        queued_as,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(text: &str) -> RcptLine<'_> {
        match parse_event("smtp", text) {
            Ok(Some(Event::Recipient { rcpt, .. })) => rcpt,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn client_lines_give_the_address() {
        assert_eq!(
            parse_event(
                "smtpd",
                "4F1A2B3C4D: client=p65193-adsl1.isp.example[198.18.65.193], sasl_method=PLAIN, sasl_username=a@isp.example"
            ),
            Ok(Some(Event::Client {
                qid: "4F1A2B3C4D",
                client: Some("198.18.65.193".parse().unwrap())
            }))
        );
        assert_eq!(
            parse_event("smtpd", "4Kd1Zx0Vfnz9sB: client=unknown[2001:db8::5]"),
            Ok(Some(Event::Client {
                qid: "4Kd1Zx0Vfnz9sB",
                client: Some("2001:db8::5".parse().unwrap())
            }))
        );
        assert_eq!(
            parse_event("smtpd", "4F1A2B3C4D: client=broken"),
            Err(EventError::Client)
        );
        assert_eq!(
            parse_event("smtpd", "connect from unknown[198.18.0.1]"),
            Ok(None)
        );
        assert_eq!(
            parse_event(
                "smtpd",
                "NOQUEUE: reject: RCPT from unknown[198.18.0.1]: 554 5.7.1 <a@b>: Relay access denied; from=<x@y> to=<a@b> proto=ESMTP helo=<z>"
            ),
            Ok(None)
        );
    }

    #[test]
    fn recipients_say_whether_the_body_went_out() {
        let sent = rcpt(
            "3F2A1B4C5D: to=<a@example.com>, relay=mx.example.com[192.0.2.5]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9ABCDEF012)",
        );
        assert_eq!(sent.relay, Relay::Remote("192.0.2.5".parse().unwrap()));
        // amavisd-new's reply around the re-injected queue ID.
        let amavis = rcpt(
            "78712A0018: to=<s@isp.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=10, delays=0.78/0/0/9.5, dsn=2.0.0, status=sent (250 2.0.0 Ok, id=01106-02, from MTA([127.0.0.1]:10025): 250 2.0.0 Ok: queued as 8D257A009E)",
        );
        assert_eq!(
            (amavis.relay, amavis.queued_as),
            (
                Relay::Remote("127.0.0.1".parse().unwrap()),
                Some("8D257A009E")
            )
        );
        assert_eq!(
            (sent.status, sent.body_sent, sent.queued_as),
            (Status::Sent, true, Some("9ABCDEF012"))
        );
        let at_rcpt = rcpt(
            "3F2A1B4C5D: to=<a@example.com>, orig_to=<b@isp.example>, relay=mx.example.com[192.0.2.5]:25, delay=0.4, delays=0.1/0/0.2/0.1, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.5] said: 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
        );
        assert_eq!(
            (at_rcpt.status, at_rcpt.body_sent),
            (Status::Bounced, false)
        );
        let at_data = rcpt(
            "3F2A1B4C5D: to=<a@example.com>, relay=mx.example.com[2001:db8::25]:25, conn_use=2, delay=3, delays=0.1/0/0.5/2.4, dsn=5.7.1, status=bounced (host mx.example.com[2001:db8::25] said: 554 5.7.1 Message rejected: looks like spam (in reply to end of DATA command))",
        );
        assert_eq!(
            at_data.relay,
            Relay::Remote("2001:db8::25".parse().unwrap())
        );
        assert_eq!(
            (at_data.status, at_data.body_sent, at_data.queued_as),
            (Status::Bounced, true, None)
        );
        let none = rcpt(
            "3F2A1B4C5D: to=<a@example.net>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.9]:25: Connection timed out)",
        );
        assert_eq!(
            (none.relay, none.status, none.body_sent),
            (Relay::None, Status::Deferred, false)
        );
        let local = rcpt(
            "3F2A1B4C5D: to=<u@isp.example>, relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered via dovecot service)",
        );
        assert_eq!(local.relay, Relay::Local);
        // An address with ", " inside its brackets.
        let odd = rcpt(
            "3F2A1B4C5D: to=<\"a, b\"@example.com>, relay=mx.example.com[192.0.2.5]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        );
        assert_eq!((odd.status, odd.queued_as), (Status::Sent, None));
        assert_eq!(
            parse_event("smtp", "3F2A1B4C5D: to=<a@b>, delay=1"),
            Err(EventError::Delivery)
        );
    }

    #[test]
    fn queue_manager_and_pickup() {
        assert_eq!(
            parse_event("qmgr", "3F2A1B4C5D: removed"),
            Ok(Some(Event::Removed { qid: "3F2A1B4C5D" }))
        );
        assert_eq!(
            parse_event(
                "qmgr",
                "3F2A1B4C5D: from=<a@b>, size=9, nrcpt=1 (queue active)"
            ),
            Ok(None)
        );
        assert_eq!(
            parse_event("pickup", "3F2A1B4C5D: uid=1000 from=<root>"),
            Ok(Some(Event::Local { qid: "3F2A1B4C5D" }))
        );
        // The bounce is a new message about the first.
        for kind in ["sender non-delivery", "sender delivery status"] {
            assert_eq!(
                parse_event(
                    "bounce",
                    &format!("3F2A1B4C5D: {kind} notification: 7E6D5C4B3A")
                ),
                Ok(Some(Event::Bounce {
                    about: "3F2A1B4C5D",
                    bounce: "7E6D5C4B3A"
                }))
            );
        }
        // Warnings have no queue ID, whatever their first word looks like.
        assert_eq!(
            parse_event(
                "smtpd",
                "warning: unknown[198.18.0.1]: SASL LOGIN authentication failed: authentication failure"
            ),
            Ok(None)
        );
        assert_eq!(
            parse_event(
                "smtp",
                "6F263169B46: SASL authentication failed; cannot authenticate to server smtp.example[192.0.2.1]: no mechanism available"
            ),
            Ok(None)
        );
    }
}
