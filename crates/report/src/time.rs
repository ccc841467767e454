//! UTC timestamps as text, without a date-time dependency: the report only
//! needs "YYYY-MM-DD HH:MM:SS" and clock labels on the timeline axis.

/// (year, month, day) of a day count since 1970-01-01 (Hinnant's
/// `civil_from_days`, exact over the whole i64 day range we can meet).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn split(us: i64) -> ((i64, u32, u32), i64, i64, i64) {
    let secs = us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    (
        civil_from_days(days),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
    )
}

/// "2026-11-28 20:15:03 UTC".
pub fn format_utc(us: i64) -> String {
    let ((y, mo, d), h, mi, s) = split(us);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// "20:15", or "11-28 20:15" when the axis spans several days.
pub fn format_utc_minute(us: i64, with_date: bool) -> String {
    let ((_, mo, d), h, mi, _) = split(us);
    if with_date {
        format!("{mo:02}-{d:02} {h:02}:{mi:02}")
    } else {
        format!("{h:02}:{mi:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        // 2005-03-01 12:34:56 UTC = 1109680496 s (date -u -d @1109680496).
        assert_eq!(format_utc(1_109_680_496_000_000), "2005-03-01 12:34:56 UTC");
        // 2000-02-29 23:59:59 UTC = 951868799 s: a leap day.
        assert_eq!(format_utc(951_868_799_000_000), "2000-02-29 23:59:59 UTC");
        assert_eq!(format_utc(-1_000_000), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc_minute(951_868_799_000_000, true), "02-29 23:59");
        assert_eq!(format_utc_minute(951_868_799_000_000, false), "23:59");
    }
}
