//! CSV written by `nfdump -o csv` (nfdump 1.7), with or without `-q`.
//!
//! With a header line (`ts,te,td,sa,da,...`) columns are found by name;
//! without one (`-q`) the nfdump 1.7 fixed order is used: ts, te, td, sa, da,
//! sp, dp, pr, flg, fwd, stos, ipkt, ibyt, opkt, obyt, ... and `ra` (the
//! exporter) 45th. `ipkt`/`ibyt` become the flow's counts, `opkt`/`obyt` (NSEL
//! and biflow exporters) its reverse counts, `dir` (23rd) where the flow was
//! metered (0 ingress, 1 egress).
//!
//! Times: nfdump prints local time without a zone; they are read as UTC (run
//! nfdump with `TZ=UTC`). `ts` has whole seconds; the end is `ts + td` when
//! the duration is sane, otherwise `te`. nfdump's trailing summary (without
//! `-q`), "No matching flows" and blank lines are skipped and counted.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::ControlFlow;
use std::path::Path;

use op25b_core::{InputError, Source};

use crate::FlowRecord;
use crate::pair::flow_end;

/// Counts of one CSV file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NfdumpStats {
    pub lines: u64,
    /// Flow records handed out.
    pub records: u64,
    /// Header, blank, comment, summary and "No matching flows" lines.
    pub skipped_lines: u64,
    /// Lines with too few columns or unparsable values (skipped).
    pub bad_lines: u64,
    /// Records whose end was before their start (end set to the start).
    pub end_before_start: u64,
    /// Files read while another was (their times overlapped): their flows
    /// were merged in time order ([`read_nfdump_csvs`](crate::read_nfdump_csvs)).
    pub files_merged: u64,
}

/// Column positions, from a header or the 1.7 defaults.
#[derive(Clone, Copy, Debug)]
struct Columns {
    ts: usize,
    te: usize,
    td: usize,
    sa: usize,
    da: usize,
    sp: usize,
    dp: usize,
    pr: usize,
    flg: usize,
    ipkt: usize,
    ibyt: usize,
    opkt: Option<usize>,
    obyt: Option<usize>,
    ra: Option<usize>,
    dir: Option<usize>,
    tr: Option<usize>,
    needed: usize,
}

const DEFAULT_COLUMNS: Columns = Columns {
    ts: 0,
    te: 1,
    td: 2,
    sa: 3,
    da: 4,
    sp: 5,
    dp: 6,
    pr: 7,
    flg: 8,
    ipkt: 11,
    ibyt: 12,
    opkt: Some(13),
    obyt: Some(14),
    ra: Some(44),
    dir: Some(22),
    tr: Some(47),
    needed: 13,
};

impl Columns {
    fn from_header(line: &str) -> Option<Columns> {
        let names: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = |n: &str| names.iter().position(|c| *c == n);
        let c = Columns {
            ts: at("ts")?,
            te: at("te")?,
            td: at("td")?,
            sa: at("sa")?,
            da: at("da")?,
            sp: at("sp")?,
            dp: at("dp")?,
            pr: at("pr")?,
            flg: at("flg")?,
            ipkt: at("ipkt")?,
            ibyt: at("ibyt")?,
            opkt: at("opkt"),
            obyt: at("obyt"),
            ra: at("ra"),
            dir: at("dir"),
            tr: at("tr"),
            needed: 0,
        };
        let needed = [
            c.ts, c.te, c.td, c.sa, c.da, c.sp, c.dp, c.pr, c.flg, c.ipkt, c.ibyt,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
            + 1;
        Some(Columns { needed, ..c })
    }
}

/// `YYYY-MM-DD HH:MM:SS[.mmm]` as microseconds since the epoch (UTC).
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    // Four-digit years only: what a record can carry (core::time), and no
    // overflow below.
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hh)
        || !(0..=59).contains(&mm)
        || !(0..=60).contains(&ss)
    {
        return None;
    }
    let mut frac_us = 0i64;
    let mut scale = 100_000i64;
    for c in frac.bytes().take(6) {
        if !c.is_ascii_digit() {
            return None;
        }
        frac_us += i64::from(c - b'0') * scale;
        scale /= 10;
    }
    let days = op25b_core::time::days_from_civil(y, m, day);
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + frac_us)
        .filter(|&us| op25b_core::time::representable(us))
}

/// nfdump's flag string, e.g. `...AP.SF` (CWR ECE URG ACK PSH RST SYN FIN).
fn parse_flags(s: &str) -> u8 {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x") {
        return u8::from_str_radix(hex, 16).unwrap_or(0);
    }
    // Right-aligned: the last character is FIN (bit 0), the 8th from the end CWR.
    let mut flags = 0u8;
    for (bit, &c) in s.as_bytes().iter().rev().take(8).enumerate() {
        if c != b'.' {
            flags |= 1 << bit;
        }
    }
    flags
}

fn parse_protocol(s: &str) -> Option<u8> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    Some(match s.to_ascii_uppercase().as_str() {
        "ICMP" => 1,
        "IGMP" => 2,
        "TCP" => 6,
        "UDP" => 17,
        "GRE" => 47,
        "ESP" => 50,
        "AH" => 51,
        "ICMP6" => 58,
        "SCTP" => 132,
        _ => return None,
    })
}

fn parse_record(cols: &Columns, fields: &[&str], stats: &mut NfdumpStats) -> Option<FlowRecord> {
    let get = |i: usize| fields.get(i).map(|s| s.trim());
    let start_us = parse_time(get(cols.ts)?)?;
    let te_us = parse_time(get(cols.te)?)?;
    // A sane duration refines the end to milliseconds; nfdump prints a
    // wrapped negative duration (end before start) as a huge number.
    let end_from_td = get(cols.td)
        .and_then(|td| td.parse::<f64>().ok())
        .filter(|td| (0.0..1.0e7).contains(td))
        .map(|td| start_us + (td * 1_000_000.0).round() as i64);
    let mut end_us = end_from_td.unwrap_or(te_us);
    if end_us < start_us {
        stats.end_before_start += 1;
        end_us = start_us;
    }
    let num = |i: Option<usize>| -> u64 {
        i.and_then(get)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let exporter = cols
        .ra
        .and_then(get)
        .and_then(|s| s.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Some(FlowRecord {
        src: get(cols.sa)?.parse().ok()?,
        dst: get(cols.da)?.parse().ok()?,
        src_port: get(cols.sp)?.parse().ok()?,
        dst_port: get(cols.dp)?.parse().ok()?,
        protocol: parse_protocol(get(cols.pr)?)?,
        packets: get(cols.ipkt)?.parse().ok()?,
        bytes: get(cols.ibyt)?.parse().ok()?,
        tcp_flags: parse_flags(get(cols.flg)?),
        start_us,
        end_us,
        sampling: 1,
        source: Source::Nfdump,
        exporter,
        domain: 0,
        direction: cols.dir.and_then(get).and_then(|s| s.parse().ok()),
        rev_packets: num(cols.opkt),
        rev_bytes: num(cols.obyt),
        rev_tcp_flags: 0,
    })
}

/// True when `head` looks like nfdump CSV output: a `ts,te,` header, a
/// `YYYY-MM-DD HH:MM:SS,` record line, or nfdump's "No matching flows".
pub(crate) fn plausible_csv_head(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A head cut inside a multi-byte character is still text.
        Err(e) => {
            std::str::from_utf8(head.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
    };
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else {
        return false;
    };
    first.starts_with("ts,te,")
        || first.trim() == "No matching flows"
        || first
            .split_once(',')
            .is_some_and(|(ts, rest)| parse_time(ts).is_some() && rest.contains(','))
}

/// The longest line read: an nfdump CSV line is a few hundred bytes, and a
/// file without newlines must not be read into one string.
const MAX_LINE: u64 = 64 * 1024;

/// Reads an nfdump CSV file, handing each flow to `out`. A line that does
/// not parse is counted in `bad_lines` and skipped; only I/O errors, a file
/// that is not text and a line longer than 64 KiB are fatal.
pub fn read_nfdump_csv(
    path: &Path,
    out: &mut dyn FnMut(FlowRecord),
) -> Result<NfdumpStats, InputError> {
    read_csv(path, &mut |r, _| {
        out(r);
        ControlFlow::Continue(())
    })
}

/// The time a flow is merged by: when the collector received it (nfdump's
/// `tr`, one clock for every router) where the file's receive times follow
/// its flows ([`HeadOfFile::received_usable`]), else the flow's end.
pub(crate) fn merge_time(end: i64, received: Option<i64>, use_received: bool) -> i64 {
    match received {
        Some(t) if use_received => t,
        _ => end,
    }
}

/// What a file's first flows tell before it is merged.
pub(crate) struct HeadOfFile {
    /// Where it begins (`None`: no flows): the earliest merge time among
    /// its first 63 flows within a day of their median. Not the first
    /// flow's alone: one flow stamped 1970 or 2030 must not open the file
    /// with all the others or hold it back to the end.
    pub begins: Option<i64>,
    /// Its receive times follow its flows: at least a quarter of the first
    /// flows were received within five minutes of their end, and those
    /// flows' receive times spread at least half as far as their ends. Not so for a
    /// collector whose clock is hours off, a file received in one burst,
    /// or one made from a capture years after its flows: those merge by
    /// the flows' ends. So, where it is so, one router's clock ahead in a
    /// collector's file does not run the file ahead.
    pub received_usable: bool,
}

pub(crate) fn head_of_file(path: &Path) -> Result<HeadOfFile, InputError> {
    const HEAD: usize = 63;
    const NEAR_US: u64 = 300_000_000;
    let mut seen: Vec<(i64, Option<i64>)> = Vec::with_capacity(HEAD);
    read_csv(path, &mut |r, received| {
        seen.push((flow_end(&r), received));
        if seen.len() < HEAD {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    })?;
    let spread = |v: &mut dyn Iterator<Item = i64>| {
        let (lo, hi) = v.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        hi.saturating_sub(lo).max(0)
    };
    // Flows received within five minutes of their end (a router ahead or
    // behind leaves its flows out), and whether their receive times move
    // with their ends (a burst's do not).
    let near: Vec<(i64, i64)> = seen
        .iter()
        .filter_map(|&(e, r)| Some((e, r?)))
        .filter(|(e, r)| e.abs_diff(*r) <= NEAR_US)
        .collect();
    let received_usable = !near.is_empty()
        && near.len() * 4 >= seen.len()
        && spread(&mut near.iter().map(|p| p.1)) * 2 >= spread(&mut near.iter().map(|p| p.0));
    let mut times: Vec<i64> = seen
        .iter()
        .map(|&(end, received)| merge_time(end, received, received_usable))
        .collect();
    times.sort_unstable();
    let begins = times.get(times.len() / 2).and_then(|&median| {
        let day = crate::pair::EXPORTER_JUMP_US.unsigned_abs();
        times.iter().copied().find(|t| t.abs_diff(median) <= day)
    });
    Ok(HeadOfFile {
        begins,
        received_usable,
    })
}

/// [`read_nfdump_csv`], stopping where `out` says.
/// Each flow comes with the time the collector received it (`tr`), where
/// the file has it.
pub(crate) fn read_csv(
    path: &Path,
    out: &mut dyn FnMut(FlowRecord, Option<i64>) -> ControlFlow<()>,
) -> Result<NfdumpStats, InputError> {
    let file = File::open(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut stats = NfdumpStats::default();
    let mut cols = DEFAULT_COLUMNS;
    let mut line = Vec::new();
    let mut in_summary = false;
    let mut offset = 0u64;
    let malformed = |offset: u64, what: String| InputError::Malformed {
        path: path.to_path_buf(),
        offset,
        what,
    };
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| InputError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(stats);
        }
        if n as u64 > MAX_LINE {
            return Err(malformed(
                offset,
                format!("a line longer than {MAX_LINE} bytes: not nfdump CSV"),
            ));
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            return Err(malformed(offset, "not UTF-8 text".into()));
        };
        offset += n as u64;
        stats.lines += 1;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.starts_with("ts,te,") {
            // A header after a summary: another run's output appended.
            in_summary = false;
            match Columns::from_header(text) {
                Some(c) => cols = c,
                None => stats.bad_lines += 1,
            }
            stats.skipped_lines += 1;
            continue;
        }
        if text.starts_with("Summary") {
            in_summary = true;
        }
        if in_summary
            || text.trim().is_empty()
            || text.starts_with('#')
            || text.starts_with("No matching flows")
        {
            stats.skipped_lines += 1;
            continue;
        }
        let fields: Vec<&str> = text.split(',').collect();
        if fields.len() < cols.needed {
            stats.bad_lines += 1;
            continue;
        }
        match parse_record(&cols, &fields, &mut stats) {
            Some(r) => {
                stats.records += 1;
                let received = cols
                    .tr
                    .and_then(|i| fields.get(i))
                    .and_then(|t| parse_time(t));
                if out(r, received).is_break() {
                    return Ok(stats);
                }
            }
            None => stats.bad_lines += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_flags() {
        assert_eq!(parse_time("1970-01-01 00:00:01"), Some(1_000_000));
        assert_eq!(
            parse_time("2023-01-25 18:36:00.039"),
            Some(1_674_671_760_039_000)
        );
        assert_eq!(parse_flags("...AP..."), 0x18);
        assert_eq!(parse_flags("......S."), 0x02);
        assert_eq!(parse_flags("...A.R.."), 0x14);
        assert_eq!(parse_flags("CE......"), 0xc0);
        assert_eq!(parse_protocol("ICMP6"), Some(58));
    }

    #[test]
    fn detects_heads() {
        assert!(plausible_csv_head(
            b"2019-08-12 18:50:47,2019-08-12 18:50:47,0.000,1.2.3.4"
        ));
        assert!(plausible_csv_head(b"ts,te,td,sa,da,sp,dp,pr"));
        assert!(!plausible_csv_head(b"hello,world"));
    }
}
