//! UTC timestamps as text, without a date-time dependency: the report only
//! needs "YYYY-MM-DD HH:MM:SS" and clock labels on the timeline axis, cut
//! from op25b-core's RFC 3339 text (years 0000-9999: four digits, fixed offsets).

use op25b_core::time::format_rfc3339_us;

/// "2026-11-28 20:15:03 UTC".
pub fn format_utc(us: i64) -> String {
    let t = format_rfc3339_us(us);
    format!("{} {} UTC", &t[..10], &t[11..19])
}

/// A timeline tick: "20:15" on an axis of at most a day, "11-28 20:15" on
/// one of up to half a year, "2026-11-28" (ticks are whole days then) on a
/// longer one, where the year changes along the axis.
pub fn format_utc_minute(us: i64, axis_minutes: i64) -> String {
    let t = format_rfc3339_us(us);
    if axis_minutes <= 24 * 60 {
        t[11..16].to_string()
    } else if axis_minutes <= 183 * 24 * 60 {
        format!("{} {}", &t[5..10], &t[11..16])
    } else {
        t[..10].to_string()
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
        let day = 24 * 60;
        assert_eq!(
            format_utc_minute(951_868_799_000_000, 2 * day),
            "02-29 23:59"
        );
        assert_eq!(format_utc_minute(951_868_799_000_000, day), "23:59");
        assert_eq!(
            format_utc_minute(951_868_799_000_000, 400 * day),
            "2000-02-29"
        );
    }
}
