//! Dates, times and intervals: `DateStyle=ISO` / `IntervalStyle=postgres` text and the binary forms
//! (days or microseconds since 2000-01-01, with `i32`/`i64` extremes meaning the infinities).
//!
//! Text is parsed straight from the bytes: these are hot paths, so no intermediate strings.

use sluice_core::time::{MICROS_PER_DAY, PG_EPOCH_DAYS, PG_EPOCH_MICROS, days_from_civil, days_in_month};
use sluice_core::{Date, Timestamp, Value};

use super::ValueErrorKind;
use super::cursor::{Cursor, exact};
use super::scalar::{int_text, utf8};

type Result<T> = std::result::Result<T, ValueErrorKind>;

const MICROS_PER_SECOND: i64 = 1_000_000;
/// The widest zone offset accepted (PostgreSQL itself allows up to 15:59:59).
const MAX_OFFSET_SECONDS: i64 = 24 * 3600 - 1;

/// A cursor over ASCII text.
struct Scanner<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a [u8]) -> Self {
        Scanner { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<()> {
        if self.eat(b) { Ok(()) } else { Err(ValueErrorKind::Malformed(what)) }
    }

    /// Reads `min..=max` decimal digits.
    fn digits(&mut self, min: usize, max: usize, what: &'static str) -> Result<i64> {
        let start = self.pos;
        let mut v: i64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if self.pos - start == max {
                return Err(ValueErrorKind::Malformed(what));
            }
            v = v * 10 + i64::from(b - b'0');
            self.pos += 1;
        }
        if self.pos - start < min {
            return Err(ValueErrorKind::Malformed(what));
        }
        Ok(v)
    }

    fn rest(&self) -> &'a [u8] {
        self.s.get(self.pos..).unwrap_or_default()
    }
}

/// `YYYY-MM-DD` (four or more year digits), returning the year as printed.
fn ymd(sc: &mut Scanner<'_>) -> Result<(i64, u32, u32)> {
    let year = sc.digits(1, 9, "expected a year")?;
    sc.expect(b'-', "expected '-' after the year")?;
    let month = sc.digits(2, 2, "expected a two-digit month")?;
    sc.expect(b'-', "expected '-' after the month")?;
    let day = sc.digits(2, 2, "expected a two-digit day")?;
    Ok((year, month as u32, day as u32))
}

/// Days since 1970 for a printed year (BC years count back from 1 BC = astronomical 0).
fn civil_days(year: i64, month: u32, day: u32, bc: bool) -> Result<i64> {
    if year < 1 {
        return Err(ValueErrorKind::Malformed("there is no year 0"));
    }
    let astronomical = if bc { 1 - year } else { year };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(astronomical, month) {
        return Err(ValueErrorKind::OutOfRange("date field"));
    }
    Ok(days_from_civil(astronomical, month, day))
}

/// Consumes an optional ` BC` era suffix.
fn era(sc: &mut Scanner<'_>) -> bool {
    if sc.rest().starts_with(b" BC") {
        sc.pos += 3;
        true
    } else {
        false
    }
}

fn end(sc: &Scanner<'_>) -> Result<()> {
    if sc.rest().is_empty() {
        Ok(())
    } else {
        Err(ValueErrorKind::Malformed("unexpected trailing characters"))
    }
}

/// `HH:MM:SS[.ffffff]` as microseconds since midnight; `24:00:00` only where `allow_24`.
fn time_of_day(sc: &mut Scanner<'_>, allow_24: bool) -> Result<i64> {
    let h = sc.digits(1, 2, "expected hours")?;
    sc.expect(b':', "expected ':' after the hours")?;
    let m = sc.digits(2, 2, "expected two-digit minutes")?;
    sc.expect(b':', "expected ':' after the minutes")?;
    let s = sc.digits(2, 2, "expected two-digit seconds")?;
    let frac = fraction(sc)?;
    if m > 59 || s > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0 || s != 0 || frac != 0)) {
        return Err(ValueErrorKind::OutOfRange("time field"));
    }
    Ok(((h * 60 + m) * 60 + s) * MICROS_PER_SECOND + frac)
}

/// An optional `.f` to `.ffffff` fraction of a second, in microseconds.
fn fraction(sc: &mut Scanner<'_>) -> Result<i64> {
    if !sc.eat(b'.') {
        return Ok(0);
    }
    let start = sc.pos;
    let v = sc.digits(1, 6, "expected one to six fraction digits")?;
    let width = (sc.pos - start) as u32;
    Ok(v * 10i64.pow(6 - width))
}

/// `+HH`, `-HH:MM`, `+HH:MM:SS`: seconds east of UTC.
fn zone_offset(sc: &mut Scanner<'_>) -> Result<i64> {
    let sign = match sc.peek() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(ValueErrorKind::Malformed("expected a time zone offset")),
    };
    sc.pos += 1;
    let h = sc.digits(1, 2, "expected offset hours")?;
    let mut m = 0;
    let mut s = 0;
    if sc.eat(b':') {
        m = sc.digits(2, 2, "expected offset minutes")?;
        if sc.eat(b':') {
            s = sc.digits(2, 2, "expected offset seconds")?;
        }
    }
    let total = h * 3600 + m * 60 + s;
    if m > 59 || s > 59 || total > MAX_OFFSET_SECONDS {
        return Err(ValueErrorKind::OutOfRange("time zone offset"));
    }
    Ok(sign * total)
}

pub(super) fn date_text(text: &[u8]) -> Result<Value> {
    let date = match text {
        b"infinity" => Date::PositiveInfinity,
        b"-infinity" => Date::NegativeInfinity,
        _ => {
            let mut sc = Scanner::new(text);
            let (y, m, d) = ymd(&mut sc)?;
            let bc = era(&mut sc);
            end(&sc)?;
            let days = civil_days(y, m, d, bc)?;
            Date::Days(i32::try_from(days).map_err(|_| ValueErrorKind::OutOfRange("date"))?)
        }
    };
    Ok(Value::Date(date))
}

pub(super) fn time_text(text: &[u8]) -> Result<Value> {
    let mut sc = Scanner::new(text);
    let t = time_of_day(&mut sc, true)?;
    end(&sc)?;
    Ok(Value::Time(t))
}

pub(super) fn timetz_text(text: &[u8]) -> Result<Value> {
    let mut sc = Scanner::new(text);
    let micros = time_of_day(&mut sc, true)?;
    let offset = zone_offset(&mut sc)?;
    end(&sc)?;
    Ok(Value::TimeTz { micros, offset_seconds: offset as i32 })
}

/// `YYYY-MM-DD HH:MM:SS[.f][offset][ BC]` or an infinity; with an offset the result is UTC.
fn timestamp(text: &[u8], with_zone: bool) -> Result<Timestamp> {
    match text {
        b"infinity" => return Ok(Timestamp::PositiveInfinity),
        b"-infinity" => return Ok(Timestamp::NegativeInfinity),
        _ => {}
    }
    let mut sc = Scanner::new(text);
    let (y, m, d) = ymd(&mut sc)?;
    sc.expect(b' ', "expected a space between date and time")?;
    let tod = time_of_day(&mut sc, false)?;
    let offset = if with_zone { zone_offset(&mut sc)? } else { 0 };
    let bc = era(&mut sc);
    end(&sc)?;
    let days = civil_days(y, m, d, bc)?;
    days.checked_mul(MICROS_PER_DAY)
        .and_then(|v| v.checked_add(tod))
        .and_then(|v| v.checked_sub(offset * MICROS_PER_SECOND))
        .map(Timestamp::Micros)
        .ok_or(ValueErrorKind::OutOfRange("timestamp"))
}

pub(super) fn timestamp_text(text: &[u8]) -> Result<Value> {
    timestamp(text, false).map(Value::Timestamp)
}

pub(super) fn timestamptz_text(text: &[u8]) -> Result<Value> {
    timestamp(text, true).map(Value::TimestampTz)
}

/// `IntervalStyle=postgres`: `[N year[s]] [N mon[s]] [N day[s]] [[+-]H:MM:SS[.f]]`, every part
/// signed independently (`-1 days +02:03:00`).
pub(super) fn interval_text(text: &[u8]) -> Result<Value> {
    let s = utf8(text)?;
    let mut months: i64 = 0;
    let mut days: i64 = 0;
    let mut micros: i128 = 0;
    let overflow = || ValueErrorKind::OutOfRange("interval field");
    let mut tokens = s.split(' ').filter(|t| !t.is_empty());
    let mut any = false;
    while let Some(token) = tokens.next() {
        any = true;
        if token.contains(':') {
            micros += interval_time(token.as_bytes())?;
            continue;
        }
        let n = int_text(token.as_bytes())?;
        let unit = tokens.next().ok_or(ValueErrorKind::Malformed("interval number without a unit"))?;
        match unit {
            "year" | "years" => {
                months = n.checked_mul(12).and_then(|y| months.checked_add(y)).ok_or_else(overflow)?
            }
            "mon" | "mons" => months = months.checked_add(n).ok_or_else(overflow)?,
            "day" | "days" => days = days.checked_add(n).ok_or_else(overflow)?,
            _ => return Err(ValueErrorKind::Malformed("unknown interval unit")),
        }
    }
    if !any {
        return Err(ValueErrorKind::Malformed("empty interval"));
    }
    Ok(Value::Interval {
        months: i32::try_from(months).map_err(|_| overflow())?,
        days: i32::try_from(days).map_err(|_| overflow())?,
        micros: i64::try_from(micros).map_err(|_| overflow())?,
    })
}

/// `[+-]H:MM[:SS[.f]]` with any number of hour digits.
fn interval_time(token: &[u8]) -> Result<i128> {
    let mut sc = Scanner::new(token);
    let negative = sc.eat(b'-');
    if !negative {
        sc.eat(b'+');
    }
    let start = sc.pos;
    while sc.peek().is_some_and(|b| b.is_ascii_digit()) {
        sc.pos += 1;
    }
    let digits = token.get(start..sc.pos).unwrap_or_default();
    let h = super::scalar::unsigned_text(digits)?;
    sc.expect(b':', "expected ':' after the hours")?;
    let m = sc.digits(2, 2, "expected two-digit minutes")?;
    let (s, frac) = if sc.eat(b':') {
        (sc.digits(2, 2, "expected two-digit seconds")?, fraction(&mut sc)?)
    } else {
        (0, 0)
    };
    end(&sc)?;
    if m > 59 || s > 59 {
        return Err(ValueErrorKind::OutOfRange("interval time field"));
    }
    let v =
        (i128::from(h) * 3600 + i128::from(m * 60 + s)) * i128::from(MICROS_PER_SECOND) + i128::from(frac);
    Ok(if negative { -v } else { v })
}

pub(super) fn date_binary(bytes: &[u8]) -> Result<Value> {
    let date = match i32::from_be_bytes(exact::<4>(bytes)?) {
        i32::MAX => Date::PositiveInfinity,
        i32::MIN => Date::NegativeInfinity,
        d => Date::Days(d.checked_add(PG_EPOCH_DAYS).ok_or(ValueErrorKind::OutOfRange("date"))?),
    };
    Ok(Value::Date(date))
}

fn check_time_of_day(micros: i64) -> Result<i64> {
    if (0..=MICROS_PER_DAY).contains(&micros) { Ok(micros) } else { Err(ValueErrorKind::OutOfRange("time")) }
}

pub(super) fn time_binary(bytes: &[u8]) -> Result<Value> {
    check_time_of_day(i64::from_be_bytes(exact::<8>(bytes)?)).map(Value::Time)
}

/// `timetz_send`: microseconds, then the zone in seconds *west* of UTC.
pub(super) fn timetz_binary(bytes: &[u8]) -> Result<Value> {
    let mut c = Cursor::new(bytes);
    if bytes.len() != 12 {
        return Err(ValueErrorKind::Length { expected: 12, actual: bytes.len() });
    }
    let micros = check_time_of_day(c.i64()?)?;
    let west = c.i32()?;
    if i64::from(west).abs() > MAX_OFFSET_SECONDS {
        return Err(ValueErrorKind::OutOfRange("time zone offset"));
    }
    Ok(Value::TimeTz { micros, offset_seconds: -west })
}

pub(super) fn timestamp_binary(bytes: &[u8]) -> Result<Timestamp> {
    Ok(match i64::from_be_bytes(exact::<8>(bytes)?) {
        i64::MAX => Timestamp::PositiveInfinity,
        i64::MIN => Timestamp::NegativeInfinity,
        t => {
            Timestamp::Micros(t.checked_add(PG_EPOCH_MICROS).ok_or(ValueErrorKind::OutOfRange("timestamp"))?)
        }
    })
}

/// `interval_send`: microseconds, days, months.
pub(super) fn interval_binary(bytes: &[u8]) -> Result<Value> {
    if bytes.len() != 16 {
        return Err(ValueErrorKind::Length { expected: 16, actual: bytes.len() });
    }
    let mut c = Cursor::new(bytes);
    let micros = c.i64()?;
    let days = c.i32()?;
    let months = c.i32()?;
    Ok(Value::Interval { months, days, micros })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(y: i64, m: u32, d: u32) -> i32 {
        days_from_civil(y, m, d) as i32
    }

    #[test]
    fn dates_cover_bc_big_years_and_infinities() {
        assert_eq!(date_text(b"2016-11-04"), Ok(Value::Date(Date::Days(17109))));
        // 44 BC is astronomical year -43.
        assert_eq!(date_text(b"0044-03-15 BC"), Ok(Value::Date(Date::Days(days(-43, 3, 15)))));
        assert_eq!(date_text(b"0001-01-01 BC"), Ok(Value::Date(Date::Days(days(0, 1, 1)))));
        assert_eq!(date_text(b"4713-11-24 BC"), Ok(Value::Date(Date::Days(days(-4712, 11, 24)))));
        assert_eq!(date_text(b"21016-11-04"), Ok(Value::Date(Date::Days(days(21016, 11, 4)))));
        assert_eq!(date_text(b"5874897-12-31"), Ok(Value::Date(Date::Days(days(5_874_897, 12, 31)))));
        assert_eq!(date_text(b"infinity"), Ok(Value::Date(Date::PositiveInfinity)));
        assert_eq!(date_text(b"-infinity"), Ok(Value::Date(Date::NegativeInfinity)));
        for bad in [
            &b"2016-02-30"[..],
            b"2016-13-01",
            b"0000-01-01",
            b"2016-1-01",
            b"2016-01-01 AD",
            b"2016-01-01x",
            b"",
            b"999999999-01-01",
            b"1234567890-01-01",
        ] {
            assert!(date_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn leap_days_follow_the_proleptic_calendar() {
        assert!(date_text(b"2000-02-29").is_ok());
        assert!(date_text(b"1900-02-29").is_err());
        // 1 BC (astronomical 0) is a leap year; 2 BC is not.
        assert!(date_text(b"0001-02-29 BC").is_ok());
        assert!(date_text(b"0002-02-29 BC").is_err());
    }

    #[test]
    fn times_allow_24_00_and_six_fraction_digits() {
        assert_eq!(time_text(b"13:51:30.123456"), Ok(Value::Time(49_890_123_456)));
        assert_eq!(time_text(b"13:51:30.5"), Ok(Value::Time(49_890_500_000)));
        assert_eq!(time_text(b"24:00:00"), Ok(Value::Time(MICROS_PER_DAY)));
        for bad in [&b"24:00:01"[..], b"12:60:00", b"12:00", b"12:00:00.1234567", b"12:00:00."] {
            assert!(time_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timetz_offsets_in_every_printed_width() {
        let t = |micros, offset_seconds| Ok(Value::TimeTz { micros, offset_seconds });
        assert_eq!(timetz_text(b"13:51:30.123789+02"), t(49_890_123_789, 7200));
        assert_eq!(timetz_text(b"01:00:00-03:30"), t(3_600_000_000, -12_600));
        assert_eq!(timetz_text(b"01:00:00+05:45:10"), t(3_600_000_000, 20_710));
        assert_eq!(timetz_text(b"00:00:00+00"), t(0, 0));
        for bad in [&b"01:00:00"[..], b"01:00:00+", b"01:00:00+05:6", b"01:00:00+24", b"01:00:00+02:00:00:00"]
        {
            assert!(timetz_text(bad).is_err(), "{bad:?}");
        }
        let mut bin = 3_600_000_000i64.to_be_bytes().to_vec();
        bin.extend((-7200i32).to_be_bytes());
        assert_eq!(timetz_binary(&bin), t(3_600_000_000, 7200));
    }

    #[test]
    fn timestamps_convert_offsets_to_utc_and_keep_bc() {
        let ts = |m| Ok(Value::Timestamp(Timestamp::Micros(m)));
        let tz = |m| Ok(Value::TimestampTz(Timestamp::Micros(m)));
        assert_eq!(timestamp_text(b"2016-11-04 13:51:30.123456"), ts(1_478_267_490_123_456));
        assert_eq!(timestamptz_text(b"2016-11-04 13:51:30.123456+02"), tz(1_478_260_290_123_456));
        assert_eq!(timestamptz_text(b"2016-11-04 11:51:30.123456+00"), tz(1_478_260_290_123_456));
        let bc = i64::from(days(-43, 3, 15)) * MICROS_PER_DAY + 12 * 3_600_000_000;
        assert_eq!(timestamp_text(b"0044-03-15 12:00:00 BC"), ts(bc));
        assert_eq!(timestamptz_text(b"0044-03-15 12:00:00+00 BC"), tz(bc));
        let big = i64::from(days(21016, 11, 4)) * MICROS_PER_DAY + 6 * 3_600_000_000;
        assert_eq!(timestamptz_text(b"21016-11-04 13:51:30+07:51:30"), tz(big));
        assert_eq!(timestamp_text(b"infinity"), Ok(Value::Timestamp(Timestamp::PositiveInfinity)));
        assert_eq!(timestamptz_text(b"-infinity"), Ok(Value::TimestampTz(Timestamp::NegativeInfinity)));
        for bad in
            [&b"2016-11-04"[..], b"2016-11-04T13:51:30", b"2016-11-04 24:00:00", b"2016-11-04 13:51:30+"]
        {
            assert!(timestamptz_text(bad).is_err(), "{bad:?}");
        }
        assert!(timestamp_text(b"2016-11-04 13:51:30+02").is_err());
    }

    #[test]
    fn binary_timestamps_count_from_2000_and_reserve_extremes_for_infinity() {
        assert_eq!(timestamp_binary(&0i64.to_be_bytes()), Ok(Timestamp::Micros(PG_EPOCH_MICROS)));
        assert_eq!(timestamp_binary(&i64::MAX.to_be_bytes()), Ok(Timestamp::PositiveInfinity));
        assert_eq!(timestamp_binary(&i64::MIN.to_be_bytes()), Ok(Timestamp::NegativeInfinity));
        assert!(timestamp_binary(&(i64::MAX - 1).to_be_bytes()).is_err());
        assert_eq!(date_binary(&0i32.to_be_bytes()), Ok(Value::Date(Date::Days(PG_EPOCH_DAYS))));
        assert_eq!(date_binary(&i32::MIN.to_be_bytes()), Ok(Value::Date(Date::NegativeInfinity)));
        assert!(time_binary(&(MICROS_PER_DAY + 1).to_be_bytes()).is_err());
    }

    #[test]
    fn intervals_in_postgres_style() {
        let iv = |months, days, micros| Ok(Value::Interval { months, days, micros });
        assert_eq!(interval_text(b"1 year 2 mons 3 days 04:05:06.78"), iv(14, 3, 14_706_780_000));
        assert_eq!(interval_text(b"-1 days +02:03:00"), iv(0, -1, 7_380_000_000));
        assert_eq!(interval_text(b"1 day -02:00:00"), iv(0, 1, -7_200_000_000));
        assert_eq!(interval_text(b"-1 years -2 mons -3 days -04:05:06.5"), iv(-14, -3, -14_706_500_000));
        assert_eq!(interval_text(b"-10 mons"), iv(-10, 0, 0));
        assert_eq!(interval_text(b"00:00:00"), iv(0, 0, 0));
        assert_eq!(interval_text(b"1000000:00:00"), iv(0, 0, 3_600_000_000_000_000));
        assert_eq!(interval_text(b"-2562047788:00:54.775808"), iv(0, 0, i64::MIN));
        assert_eq!(interval_text(b"178956970 years 7 mons"), iv(i32::MAX, 0, 0));
        for bad in [
            &b""[..],
            b"1",
            b"1 fortnight",
            b"1 year 2",
            b"2562047788:00:54.775808",
            b"178956971 years",
            b"1:2:3",
            b"01:00:00 x",
        ] {
            assert!(interval_text(bad).is_err(), "{bad:?}");
        }
        let mut bin = 5i64.to_be_bytes().to_vec();
        bin.extend(6i32.to_be_bytes());
        bin.extend(7i32.to_be_bytes());
        assert_eq!(interval_binary(&bin), iv(7, 6, 5));
    }
}
