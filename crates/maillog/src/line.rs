//! One syslog line split into its fields, without copying: timestamp,
//! host, program, process ID and message.
//!
//! Two timestamp forms: RFC 3339 (rsyslog's `RSYSLOG_FileFormat`,
//! `2005-11-08T10:00:18.377576+09:00`, which carries its year and offset) and
//! the classic BSD form (`Nov  8 10:00:18`, optionally with a fraction),
//! which carries neither: the caller gives both ([`ClassicTime`]).

use op25b_core::time::{days_from_civil, parse_rfc3339_us};

/// A syslog line's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    /// Microseconds since the Unix epoch, UTC.
    pub time_us: i64,
    pub host: &'a str,
    /// `postfix/smtpd`, `postfix-out/smtp`, `postfix/submission/smtpd`, ...
    pub program: &'a str,
    pub pid: u32,
    pub message: &'a str,
}

/// How to read a classic timestamp, which names neither year nor zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassicTime {
    pub year: i64,
    /// Seconds east of UTC of the clock that wrote the log.
    pub utc_offset_s: i64,
}

/// Why a line was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Neither timestamp form.
    Timestamp,
    /// No `host program[pid]: ` after the timestamp.
    Header,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Splits one line (without its newline).
pub fn parse_line(line: &str, classic: ClassicTime) -> Result<SyslogLine<'_>, LineError> {
    let (time_us, rest) = if line.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let end = line.find(' ').ok_or(LineError::Timestamp)?;
        let t = parse_rfc3339_us(&line[..end]).ok_or(LineError::Timestamp)?;
        // A bare number parses as microseconds; a year-only token must not.
        if end < 19 {
            return Err(LineError::Timestamp);
        }
        (t, &line[end + 1..])
    } else {
        parse_classic(line, classic)?
    };
    let (host, rest) = rest.split_once(' ').ok_or(LineError::Header)?;
    let (tag, message) = rest.split_once(": ").ok_or(LineError::Header)?;
    let (program, pid) = match tag.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((p, pid)) => (p, pid.parse().map_err(|_| LineError::Header)?),
        None => (tag, 0),
    };
    if host.is_empty() || program.is_empty() || program.contains(' ') {
        return Err(LineError::Header);
    }
    Ok(SyslogLine {
        time_us,
        host,
        program,
        pid,
        message,
    })
}

/// `Mmm dd hh:mm:ss[.ffffff] ` → microseconds and the rest of the line.
fn parse_classic(line: &str, c: ClassicTime) -> Result<(i64, &str), LineError> {
    let b = line.as_bytes();
    if b.len() < 16 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return Err(LineError::Timestamp);
    }
    let month = MONTHS
        .iter()
        .position(|m| m.as_bytes() == &b[..3])
        .ok_or(LineError::Timestamp)? as i64
        + 1;
    let num = |r: std::ops::Range<usize>| -> Result<i64, LineError> {
        let s = line.get(r).ok_or(LineError::Timestamp)?.trim_start();
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(LineError::Timestamp);
        }
        s.parse().map_err(|_| LineError::Timestamp)
    };
    let day = num(4..6)?;
    let (h, mi, s) = (num(7..9)?, num(10..12)?, num(13..15)?);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return Err(LineError::Timestamp);
    }
    let mut rest = line.get(15..).ok_or(LineError::Timestamp)?;
    let mut frac_us = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(LineError::Timestamp);
        }
        let mut v: i64 = r[..digits.min(6)]
            .parse()
            .map_err(|_| LineError::Timestamp)?;
        for _ in digits.min(6)..6 {
            v *= 10;
        }
        frac_us = v;
        rest = &r[digits..];
    }
    let rest = rest.strip_prefix(' ').ok_or(LineError::Timestamp)?;
    let days = days_from_civil(c.year, month, day);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - c.utc_offset_s;
    Ok((secs * 1_000_000 + frac_us, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC_2005: ClassicTime = ClassicTime {
        year: 2005,
        utc_offset_s: 0,
    };

    #[test]
    fn rfc3339_line_with_offset() {
        let l = parse_line(
            "2005-11-08T10:00:18.377576+09:00 mail postfix/smtpd[18862]: 36795D9C7E: client=unknown[198.18.0.190]",
            UTC_2005,
        )
        .unwrap();
        assert_eq!(l.time_us, 1_131_411_618_377_576);
        assert_eq!((l.host, l.program, l.pid), ("mail", "postfix/smtpd", 18862));
        assert_eq!(l.message, "36795D9C7E: client=unknown[198.18.0.190]");
    }

    #[test]
    fn classic_line_takes_year_and_offset_from_the_caller() {
        let jst = ClassicTime {
            year: 2005,
            utc_offset_s: 9 * 3600,
        };
        let l = parse_line(
            "Nov  8 10:00:18 mail postfix/qmgr[2686]: 36795D9C7E: removed",
            jst,
        )
        .unwrap();
        assert_eq!(l.time_us, 1_131_411_618_000_000);
        let f = parse_line("Nov 08 01:00:18.5 mail postfix/qmgr[1]: x", UTC_2005).unwrap();
        assert_eq!(f.time_us, 1_131_411_618_500_000);
    }

    #[test]
    fn broken_lines_say_what_is_wrong() {
        assert_eq!(parse_line("", UTC_2005), Err(LineError::Timestamp));
        assert_eq!(
            parse_line("Foo  8 10:00:18 a b[1]: c", UTC_2005),
            Err(LineError::Timestamp)
        );
        assert_eq!(
            parse_line("Nov 32 10:00:18 a b[1]: c", UTC_2005),
            Err(LineError::Timestamp)
        );
        assert_eq!(
            parse_line("12345 a b[1]: c", UTC_2005),
            Err(LineError::Timestamp)
        );
        assert_eq!(
            parse_line("Nov  8 10:00:18 mail", UTC_2005),
            Err(LineError::Header)
        );
        assert_eq!(
            parse_line("Nov  8 10:00:18 mail postfix/smtpd[x]: y", UTC_2005),
            Err(LineError::Header)
        );
        // Multi-byte text where a timestamp should be must not panic.
        assert!(parse_line("Nov\u{e9}8 10:00:18 mail a[1]: b", UTC_2005).is_err());
        assert!(parse_line("2005-11-08T10:00:1\u{e9} mail a[1]: b", UTC_2005).is_err());
        assert!(parse_line("Nov  8 10:00:1\u{e9}8 mail a[1]: b", UTC_2005).is_err());
    }
}
