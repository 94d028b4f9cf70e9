//! Temporal values the way Debezium renders them: `java.time` ISO formatters (proleptic
//! Gregorian, astronomical years, `+` before years above 9999), PostgreSQL's infinities as the
//! JDBC driver's sentinel values, and `MicroDuration`'s month-averaging formula.

use sluice_core::time::{MICROS_PER_DAY, civil_from_days, days_from_civil};

/// `PGStatement.DATE_POSITIVE_INFINITY`, which Debezium reads as microseconds for `timestamp`
/// infinity (`PostgresValueConverter.POSITIVE_INFINITY_LOCAL_DATE_TIME`).
pub(crate) const TIMESTAMP_POSITIVE_INFINITY_MICROS: i64 = 9_223_372_036_825_200_000;
/// `PGStatement.DATE_NEGATIVE_INFINITY`, read as microseconds for `-infinity`.
pub(crate) const TIMESTAMP_NEGATIVE_INFINITY_MICROS: i64 = -9_223_372_036_832_400_000;

/// Days since the epoch of `PostgresValueConverter.POSITIVE_INFINITY_LOCAL_DATE`
/// (`-5877611-06-21`), what streaming turns a `date` `infinity` into.
pub(crate) fn date_positive_infinity_days() -> i64 {
    days_from_civil(-5_877_611, 6, 21)
}

/// Days since the epoch of `NEGATIVE_INFINITY_LOCAL_DATE` (`-5877611-06-22`).
pub(crate) fn date_negative_infinity_days() -> i64 {
    days_from_civil(-5_877_611, 6, 22)
}

/// First microsecond of the Gregorian calendar in `java.util.GregorianCalendar` (1582-10-15 UTC).
const GREGORIAN_CUTOVER_MICROS: i64 = -12_219_292_800_000_000;

/// The instant `java.util.GregorianCalendar` (JVM time zone UTC) gives the wall-clock fields of a
/// proleptic-Gregorian timestamp: before 1582-10-15 the fields are read as a Julian date.
pub(crate) fn julian_shift(micros: i64) -> i64 {
    if micros >= GREGORIAN_CUTOVER_MICROS {
        return micros;
    }
    let days = micros.div_euclid(MICROS_PER_DAY);
    let time = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    // Julian day number of a Julian calendar date (astronomical years), minus the epoch's.
    let a = i64::from((14 - m) / 12);
    let yy = y + 4800 - a;
    let mm = i64::from(m) + 12 * a - 3;
    let jdn = i64::from(d) + (153 * mm + 2) / 5 + 365 * yy + yy.div_euclid(4) - 32_083;
    (jdn - 2_440_588).saturating_mul(MICROS_PER_DAY).saturating_add(time)
}

/// Appends `v` in decimal, zero-padded to at least `width` digits. These strings are written for
/// every temporal value of every event, so they avoid the formatting machinery.
pub(crate) fn push_padded(out: &mut String, v: u64, width: usize) {
    // Months, days, hours, minutes and seconds: one slice of a table, no per-digit work.
    const PAIRS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839\
                         40414243444546474849505152535455565758596061626364656667686970717273747576777879\
                         8081828384858687888990919293949596979899";
    if width == 2 && v < 100 {
        let i = 2 * v as usize;
        out.push_str(&PAIRS[i..i + 2]);
        return;
    }
    let mut digits = [b'0'; 20];
    let mut n = v;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(digits.len().saturating_sub(width));
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

fn push_local_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if y > 9999 {
        out.push('+');
        push_padded(out, y.unsigned_abs(), 1);
    } else if y < 0 {
        out.push('-');
        push_padded(out, y.unsigned_abs(), 4);
    } else {
        push_padded(out, y.unsigned_abs(), 4);
    }
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
}

fn push_local_time(out: &mut String, micros_of_day: i64, fraction: Fraction) {
    let micros = micros_of_day.rem_euclid(MICROS_PER_DAY) as u64;
    let secs = micros / 1_000_000;
    let nanos = (micros % 1_000_000) * 1000;
    push_padded(out, secs / 3600, 2);
    out.push(':');
    push_padded(out, (secs / 60) % 60, 2);
    out.push(':');
    push_padded(out, secs % 60, 2);
    let width = match fraction {
        Fraction::Minimal if nanos == 0 => return,
        Fraction::Minimal => {
            let mut w = 9;
            let mut n = nanos;
            while n.is_multiple_of(10) {
                n /= 10;
                w -= 1;
            }
            w
        }
        Fraction::Fixed(w) => w.clamp(1, 9),
    };
    out.push('.');
    push_padded(out, nanos / 10u64.pow(9 - width as u32), width);
}

/// `DateTimeFormatter.ISO_LOCAL_DATE` of a day count.
pub(crate) fn iso_local_date(days: i64) -> String {
    let mut out = String::with_capacity(10);
    push_local_date(&mut out, days);
    out
}

/// How the fraction of a second is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fraction {
    /// `ISO_LOCAL_TIME`: no fraction when zero, else as few digits as needed (up to 9).
    Minimal,
    /// `appendFraction(NANO_OF_SECOND, w, w, true)`: exactly `w` digits (1..=9), truncated.
    Fixed(usize),
}

/// `HH:mm:ss[.fraction]` of microseconds within a day.
pub(crate) fn iso_local_time(micros_of_day: i64, fraction: Fraction) -> String {
    let mut out = String::with_capacity(18);
    push_local_time(&mut out, micros_of_day, fraction);
    out
}

/// `yyyy-MM-ddTHH:mm:ss[.f]` of microseconds since the epoch.
pub(crate) fn iso_local_date_time(micros: i64, fraction: Fraction) -> String {
    let mut out = String::with_capacity(32);
    push_local_date_time(&mut out, micros, fraction);
    out
}

fn push_local_date_time(out: &mut String, micros: i64, fraction: Fraction) {
    push_local_date(out, micros.div_euclid(MICROS_PER_DAY));
    out.push('T');
    push_local_time(out, micros.rem_euclid(MICROS_PER_DAY), fraction);
}

/// `ZonedTimestamp.toIsoString(ZonedDateTime at UTC, fractionalWidth)`: width 1..=9 prints exactly
/// that many digits; 0, negative or above 9 falls back to `ISO_OFFSET_DATE_TIME` (minimal).
pub(crate) fn zoned_timestamp(micros: i64, width: i32) -> String {
    let fraction = match usize::try_from(width) {
        Ok(w @ 1..=9) => Fraction::Fixed(w),
        _ => Fraction::Minimal,
    };
    let mut out = String::with_capacity(32);
    push_local_date_time(&mut out, micros, fraction);
    out.push('Z');
    out
}

/// `ZonedTime.toIsoString` of a `timetz`: shifted to UTC, `ISO_OFFSET_TIME`.
pub(crate) fn zoned_time(local_micros: i64, offset_seconds: i32) -> String {
    let utc = local_micros.saturating_sub(i64::from(offset_seconds).saturating_mul(1_000_000));
    format!("{}Z", iso_local_time(utc, Fraction::Minimal))
}

/// The fields `org.postgresql.util.PGInterval` parses from PostgreSQL's `postgres`-style output of
/// an interval: years and months split from the month count, hours/minutes/seconds from the
/// microseconds, all carrying the sign of their source field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct IntervalFields {
    pub(crate) years: i64,
    pub(crate) months: i64,
    pub(crate) days: i64,
    pub(crate) hours: i64,
    pub(crate) minutes: i64,
    /// `PGInterval.getSeconds()`: whole seconds plus microseconds / 1e6, as a double.
    pub(crate) seconds: f64,
}

impl IntervalFields {
    /// From PostgreSQL's three interval fields.
    pub(crate) fn from_pg(months: i32, days: i32, micros: i64) -> Self {
        let months = i64::from(months);
        let whole_seconds = (micros % 60_000_000) / 1_000_000;
        let fraction = micros % 1_000_000;
        IntervalFields {
            years: months / 12,
            months: months % 12,
            days: i64::from(days),
            hours: micros / 3_600_000_000,
            minutes: (micros % 3_600_000_000) / 60_000_000,
            seconds: whole_seconds as f64 + fraction as f64 / 1e6,
        }
    }

    /// `MicroDuration.durationMicros(..., DAYS_PER_MONTH_AVG)`, evaluated in the same order and
    /// with the same double arithmetic; the final cast truncates toward zero and saturates.
    pub(crate) fn micro_duration(&self) -> i64 {
        const DAYS_PER_MONTH_AVG: f64 = 365.25 / 12.0;
        let number_of_days = (self.years * 12 + self.months) as f64 * DAYS_PER_MONTH_AVG + self.days as f64;
        let number_of_seconds =
            ((number_of_days * 24.0 + self.hours as f64) * 60.0 + self.minutes as f64) * 60.0 + self.seconds;
        (number_of_seconds * 1e6) as i64
    }

    /// `Interval.toIsoString(y, m, d, h, min, BigDecimal.valueOf(seconds))`.
    pub(crate) fn iso_string(&self) -> String {
        let seconds = super::decimal::BigDec::parse_java(&crate::java::double_to_string(self.seconds))
            .map(|d| d.strip_trailing_zeros().to_plain_string())
            .unwrap_or_else(|| "0".to_owned());
        format!("P{}Y{}M{}DT{}H{}M{}S", self.years, self.months, self.days, self.hours, self.minutes, seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_digits_match_the_formatter() {
        for (v, width) in
            [(0, 2), (7, 2), (59, 2), (99, 2), (100, 2), (5, 4), (2026, 4), (12345, 4), (42, 9), (0, 1)]
        {
            let mut out = String::new();
            push_padded(&mut out, v, width);
            assert_eq!(out, format!("{v:0width$}"), "{v} at width {width}");
        }
    }

    #[test]
    fn dates_and_times_format_like_java_time() {
        assert_eq!(iso_local_date(17109), "2016-11-04");
        assert_eq!(iso_local_date(days_from_civil(21016, 11, 4)), "+21016-11-04");
        assert_eq!(iso_local_date(days_from_civil(-4713, 12, 31)), "-4713-12-31");
        assert_eq!(iso_local_date(days_from_civil(-5, 1, 1)), "-0005-01-01");
        assert_eq!(iso_local_time(0, Fraction::Minimal), "00:00:00");
        assert_eq!(iso_local_time(49_890_120_000, Fraction::Minimal), "13:51:30.12");
        assert_eq!(iso_local_time(49_890_000_000, Fraction::Fixed(6)), "13:51:30.000000");
        assert_eq!(iso_local_time(49_890_123_456, Fraction::Fixed(3)), "13:51:30.123");
        assert_eq!(iso_local_time(49_890_123_456, Fraction::Fixed(9)), "13:51:30.123456000");
        assert_eq!(iso_local_time(49_890_000_001, Fraction::Minimal), "13:51:30.000001");
        assert_eq!(iso_local_time(-1, Fraction::Minimal), "23:59:59.999999");
        assert_eq!(zoned_timestamp(1_478_267_490_123_456, 6), "2016-11-04T13:51:30.123456Z");
        assert_eq!(zoned_timestamp(1_478_267_490_000_000, 0), "2016-11-04T13:51:30Z");
        let mut s = String::new();
        push_padded(&mut s, u64::MAX, 1);
        assert_eq!(s, u64::MAX.to_string());
    }

    #[test]
    fn timestamp_infinities_render_as_debezium_does_in_isostring() {
        assert_eq!(
            format!("{}Z", iso_local_date_time(TIMESTAMP_POSITIVE_INFINITY_MICROS, Fraction::Minimal)),
            "+294247-01-10T04:00:25.2Z"
        );
        assert_eq!(
            format!("{}Z", iso_local_date_time(TIMESTAMP_NEGATIVE_INFINITY_MICROS, Fraction::Minimal)),
            "-290308-12-21T19:59:27.6Z"
        );
    }

    #[test]
    fn julian_shift_matches_the_hybrid_calendar() {
        // Gregorian 1582-10-15 is the cutover: unchanged. Julian 1582-10-04 is Gregorian 1582-10-14.
        let cutover = days_from_civil(1582, 10, 15) * MICROS_PER_DAY;
        assert_eq!(julian_shift(cutover), cutover);
        let fields_oct_4 = days_from_civil(1582, 10, 4) * MICROS_PER_DAY;
        assert_eq!(julian_shift(fields_oct_4), days_from_civil(1582, 10, 14) * MICROS_PER_DAY);
        // Julian 1000-01-01 is Gregorian 1000-01-06.
        let y1000 = days_from_civil(1000, 1, 1) * MICROS_PER_DAY + 5;
        assert_eq!(julian_shift(y1000), days_from_civil(1000, 1, 6) * MICROS_PER_DAY + 5);
    }

    #[test]
    fn micro_duration_matches_the_reference() {
        let micros = ((4 * 60 + 5) * 60 + 6) * 1_000_000 + 780_000;
        let f = IntervalFields::from_pg(14, 3, micros);
        assert_eq!(f.micro_duration(), 37_091_106_780_000);
        assert_eq!(f.iso_string(), "P1Y2M3DT4H5M6.78S");
        assert_eq!(IntervalFields::from_pg(0, 0, 0).iso_string(), "P0Y0M0DT0H0M0S");
        let neg = IntervalFields::from_pg(-1, -2, -3_723_500_000);
        assert_eq!(neg.iso_string(), "P0Y-1M-2DT-1H-2M-3.5S");
        assert_eq!(IntervalFields::from_pg(0, 0, 1).iso_string(), "P0Y0M0DT0H0M0.000001S");
    }
}
