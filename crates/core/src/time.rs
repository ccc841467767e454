//! Timestamps as text: RFC 3339 UTC with microseconds, the form every CSV op25b
//! writes (`2005-03-01T00:00:01.000000Z`), and its inverse.
//!
//! Hand-written (days-from-civil, Howard Hinnant's algorithm) because a date
//! library would be the largest dependency of this crate for two functions.
//!
//! Every reader keeps timestamps within [`EARLIEST_US`, `LATEST_US`], the
//! years RFC 3339 can write (0000-9999): a record op25b writes as CSV reads
//! back, and no sum or difference of two timestamps overflows an `i64`.

/// 0000-01-01T00:00:00Z, the first instant [`format_rfc3339_us`] writes
/// with a four-digit year.
pub const EARLIEST_US: i64 = -62_167_219_200_000_000;
/// 9999-12-31T23:59:59.999999Z, the last.
pub const LATEST_US: i64 = 253_402_300_799_999_999;

/// Whether `us` is within the years 0000-9999: a timestamp outside them
/// came from a damaged or misread field, never from a clock.
pub fn representable(us: i64) -> bool {
    (EARLIEST_US..=LATEST_US).contains(&us)
}

/// Formats microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_rfc3339_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parses what [`format_rfc3339_us`] writes, and also: a bare integer
/// (microseconds), fewer fraction digits, a space instead of `T`, and
/// `+00:00` instead of `Z`. Other offsets are applied. `None` for an
/// instant outside [`representable`].
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    parse_any_rfc3339_us(s).filter(|&us| representable(us))
}

fn parse_any_rfc3339_us(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_us = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in r.bytes().take(digits).enumerate() {
            if i < 6 {
                frac_us = frac_us * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits..6 {
            frac_us *= 10;
        }
        rest = &r[digits..];
    }
    let offset_s = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let t = &rest[1..];
            if t.len() != 5 || t.as_bytes()[2] != b':' {
                return None;
            }
            let oh: i64 = t.get(0..2)?.parse().ok()?;
            let om: i64 = t.get(3..5)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset_s) * 1_000_000 + frac_us)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
/// algorithm; month 1-12).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1-12, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // 2005-03-01T00:00:00Z = 1109635200 s (date -d @1109635200 -u).
        assert_eq!(
            format_rfc3339_us(1_109_635_200_000_000),
            "2005-03-01T00:00:00.000000Z"
        );
        assert_eq!(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_rfc3339_us(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_rfc3339_us(EARLIEST_US),
            "0000-01-01T00:00:00.000000Z"
        );
        assert_eq!(format_rfc3339_us(LATEST_US), "9999-12-31T23:59:59.999999Z");
        // 2024-02-29T12:34:56.789012Z, a leap day.
        assert_eq!(
            format_rfc3339_us(1_709_210_096_789_012),
            "2024-02-29T12:34:56.789012Z"
        );
    }

    #[test]
    fn parses_variants() {
        assert_eq!(
            parse_rfc3339_us("2005-03-01T00:00:00.000000Z"),
            Some(1_109_635_200_000_000)
        );
        assert_eq!(
            parse_rfc3339_us("2005-03-01 00:00:00.5"),
            Some(1_109_635_200_500_000)
        );
        assert_eq!(
            parse_rfc3339_us("2005-03-01T09:00:00+09:00"),
            Some(1_109_635_200_000_000)
        );
        assert_eq!(
            parse_rfc3339_us("1109635200000000"),
            Some(1_109_635_200_000_000)
        );
        assert_eq!(parse_rfc3339_us("2005-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_us("garbage"), None);
        assert_eq!(parse_rfc3339_us("2005-03-01T00:00:00.Z"), None);
    }

    #[test]
    fn round_trips_over_a_wide_range() {
        let mut t = -2_000_000_000_000_000i64;
        while t < 4_000_000_000_000_000 {
            assert_eq!(parse_rfc3339_us(&format_rfc3339_us(t)), Some(t), "{t}");
            t += 7_777_777_777_777;
        }
    }

    #[test]
    fn only_four_digit_years_are_read() {
        for t in [EARLIEST_US, LATEST_US] {
            assert_eq!(parse_rfc3339_us(&format_rfc3339_us(t)), Some(t), "{t}");
            assert_eq!(parse_rfc3339_us(&t.to_string()), Some(t), "{t}");
        }
        for t in [EARLIEST_US - 1, LATEST_US + 1, i64::MIN, i64::MAX] {
            assert!(!representable(t));
            assert_eq!(parse_rfc3339_us(&t.to_string()), None, "{t}");
        }
        // Year 0000 less a positive offset is before the range.
        assert_eq!(parse_rfc3339_us("0000-01-01T00:00:00+09:00"), None);
        assert_eq!(parse_rfc3339_us("9999-12-31T23:59:59.999999-00:01"), None);
    }
}
