//! `SessionRecord`: one TCP connection (or attempt) to an SMTP port.
//!
//! The column order of CONTRACT.md is fixed here, once, in [`COLUMNS`]; the
//! writers and readers in `op25b-store` follow it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// TCP flag bits as they appear in the TCP header (and in NetFlow `tcp_flags`).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Pcap,
    Netflow5,
    Netflow9,
    Ipfix,
    Nfdump,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Pcap,
        Source::Netflow5,
        Source::Netflow9,
        Source::Ipfix,
        Source::Nfdump,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pcap => "pcap",
            Source::Netflow5 => "netflow5",
            Source::Netflow9 => "netflow9",
            Source::Ipfix => "ipfix",
            Source::Nfdump => "nfdump",
        }
    }

    /// True where the SMTP dialogue can have been read (payload was present).
    pub fn has_payload(self) -> bool {
        matches!(self, Source::Pcap)
    }
}

/// How a session ended, by the first rule of CONTRACT.md that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    NoAnswer,
    Reset,
    Rejected,
    NoMail,
    Delivered,
    Encrypted,
    Partial,
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::NoAnswer,
        Outcome::Reset,
        Outcome::Rejected,
        Outcome::NoMail,
        Outcome::Delivered,
        Outcome::Encrypted,
        Outcome::Partial,
        Outcome::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::NoAnswer => "no_answer",
            Outcome::Reset => "reset",
            Outcome::Rejected => "rejected",
            Outcome::NoMail => "no_mail",
            Outcome::Delivered => "delivered",
            Outcome::Encrypted => "encrypted",
            Outcome::Partial => "partial",
            Outcome::Unknown => "unknown",
        }
    }

    /// The connection never carried a dialogue: nobody answered, or the server reset it.
    pub fn is_failed(self) -> bool {
        matches!(self, Outcome::NoAnswer | Outcome::Reset)
    }
}

macro_rules! display_from_str {
    ($t:ty, $what:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown {} {:?}", $what, s))
            }
        }
    };
}
display_from_str!(Source, "source");
display_from_str!(Outcome, "outcome");

/// The CONTRACT.md columns, in order, followed by the columns op25b adds.
pub const COLUMNS: &[&str] = &[
    "start",
    "end",
    "client",
    "server",
    "client_port",
    "server_port",
    "source",
    "packets_c2s",
    "packets_s2c",
    "bytes_c2s",
    "bytes_s2c",
    "flags_c2s",
    "flags_s2c",
    "outcome",
    "helo",
    "tls",
    "auth",
    "greeting_code",
    "transactions",
    "rcpt_accepted",
    "rcpt_rejected",
    "messages",
    "sampling",
    // Added by op25b (after the contract's columns):
    "gaps",
];

/// One TCP connection, or connection attempt, to an SMTP port.
///
/// Counts are as observed; with sampled flows (`sampling > 1`) they are the
/// sampled counts, not scaled up, so that a reader can tell measured from
/// estimated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// First packet, microseconds since the Unix epoch, UTC.
    pub start: i64,
    /// Last packet, microseconds since the Unix epoch, UTC.
    pub end: i64,
    /// The initiator of the connection.
    pub client: IpAddr,
    pub server: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
    pub source: Source,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
    /// IP-layer bytes (IP total length), never captured lengths.
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub flags_c2s: u8,
    pub flags_s2c: u8,
    pub outcome: Outcome,
    /// The HELO/EHLO argument, empty where not seen.
    pub helo: String,
    /// STARTTLS accepted, or implicit TLS on 465.
    pub tls: bool,
    /// AUTH seen.
    pub auth: bool,
    /// The server's first reply code, 0 where not seen.
    pub greeting_code: u16,
    /// MAIL FROM commands.
    pub transactions: u32,
    pub rcpt_accepted: u32,
    pub rcpt_rejected: u32,
    /// Messages accepted (2xx after the end of DATA or the last BDAT).
    pub messages: u32,
    /// Packet sampling interval the counts came from (1 = unsampled).
    pub sampling: u32,
    /// The reassembled byte stream of either direction had a hole (lost or
    /// uncaptured segments): the dialogue counts are a lower bound.
    pub gaps: bool,
}

impl SessionRecord {
    /// The order records are emitted and compared in: by start, then by
    /// connection, so that equal starts still order the same every run.
    pub fn time_order(&self) -> (i64, IpAddr, u16, IpAddr, u16) {
        (
            self.start,
            self.client,
            self.client_port,
            self.server,
            self.server_port,
        )
    }

    /// An empty record for a connection, to be filled in by a source.
    pub fn new(
        source: Source,
        client: IpAddr,
        client_port: u16,
        server: IpAddr,
        server_port: u16,
    ) -> Self {
        SessionRecord {
            start: 0,
            end: 0,
            client,
            server,
            client_port,
            server_port,
            source,
            packets_c2s: 0,
            packets_s2c: 0,
            bytes_c2s: 0,
            bytes_s2c: 0,
            flags_c2s: 0,
            flags_s2c: 0,
            outcome: Outcome::Unknown,
            helo: String::new(),
            tls: false,
            auth: false,
            greeting_code: 0,
            transactions: 0,
            rcpt_accepted: 0,
            rcpt_rejected: 0,
            messages: 0,
            sampling: 1,
            gaps: false,
        }
    }
}

impl Default for SessionRecord {
    fn default() -> Self {
        let zero = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        SessionRecord::new(Source::Pcap, zero, 0, zero, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        for s in Source::ALL {
            assert_eq!(s.to_string().parse::<Source>().unwrap(), s);
        }
        assert!("bogus".parse::<Outcome>().is_err());
    }

    #[test]
    fn contract_columns_come_first_in_order() {
        assert_eq!(COLUMNS[0], "start");
        assert_eq!(COLUMNS[13], "outcome");
        assert_eq!(COLUMNS[22], "sampling");
    }
}
