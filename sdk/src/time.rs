//! Wall-clock time as text, for what plugins write into files and messages (NeXus
//! `start_time`, a stream's `arm_date`): a few lines of calendar arithmetic instead of a
//! date crate.

/// UTC time as RFC 3339 / ISO 8601 with microseconds, from nanoseconds since the UNIX
/// epoch (like [`crate::now_ns`] and frame timestamps): `2026-11-22T00:06:11.123456Z`.
pub fn rfc3339_utc(ns_since_epoch: u64) -> String {
    let secs = ns_since_epoch / 1_000_000_000;
    let micros = ns_since_epoch % 1_000_000_000 / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn epoch_leap_days_and_microseconds() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_utc(1_700_000_000_123_456_000),
            "2023-11-14T22:13:20.123456Z"
        );
        // 2024-02-29T23:59:59.999999Z, a leap day.
        assert_eq!(
            rfc3339_utc(1_709_251_199_999_999_000),
            "2024-02-29T23:59:59.999999Z"
        );
    }
}
