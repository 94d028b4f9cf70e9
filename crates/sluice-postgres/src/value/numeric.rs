//! `numeric` (exact decimals with their scale, NaN and infinities) and `money`.

use std::fmt::Write as _;

use sluice_core::{Decimal, Numeric, Value};

use super::ValueErrorKind;
use super::cursor::{Cursor, exact};
use super::scalar::utf8;

type Result<T> = std::result::Result<T, ValueErrorKind>;

const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_POSITIVE_INFINITY: u16 = 0xD000;
const SIGN_NEGATIVE_INFINITY: u16 = 0xF000;
/// numeric's display scale is at most 0x3FFF; higher bits are flags.
const DSCALE_MASK: u16 = 0x3FFF;
/// numeric's digits are base 10000.
const NBASE: u16 = 10_000;

/// `numeric_out` never uses exponents, so the text is a plain decimal or a special value.
pub(super) fn numeric_text(text: &[u8]) -> Result<Value> {
    let n = match text {
        b"NaN" => Numeric::NaN,
        b"Infinity" => Numeric::PositiveInfinity,
        b"-Infinity" => Numeric::NegativeInfinity,
        _ => Numeric::Finite(
            Decimal::parse(utf8(text)?).map_err(|_| ValueErrorKind::Malformed("not a decimal number"))?,
        ),
    };
    Ok(Value::Numeric(n))
}

/// `numeric_send`: ndigits, weight (of the first digit, in base-10000 places), sign, display
/// scale, then the base-10000 digits. The decimal keeps exactly `dscale` fraction digits.
pub(super) fn numeric_binary(bytes: &[u8]) -> Result<Value> {
    let mut c = Cursor::new(bytes);
    let ndigits = usize::try_from(c.i16()?).map_err(|_| ValueErrorKind::Malformed("negative digit count"))?;
    let weight = i32::from(c.i16()?);
    let sign = c.u16()?;
    let dscale = c.u16()?;
    if dscale & !DSCALE_MASK != 0 {
        return Err(ValueErrorKind::Malformed("invalid display scale"));
    }
    if c.remaining() != ndigits * 2 {
        return Err(ValueErrorKind::Length { expected: 8 + ndigits * 2, actual: bytes.len() });
    }
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let d = c.u16()?;
        if d >= NBASE {
            return Err(ValueErrorKind::Malformed("digit out of range for base 10000"));
        }
        digits.push(d);
    }
    let negative = match sign {
        SIGN_POSITIVE => false,
        SIGN_NEGATIVE => true,
        SIGN_NAN => return Ok(Value::Numeric(Numeric::NaN)),
        SIGN_POSITIVE_INFINITY => return Ok(Value::Numeric(Numeric::PositiveInfinity)),
        SIGN_NEGATIVE_INFINITY => return Ok(Value::Numeric(Numeric::NegativeInfinity)),
        _ => return Err(ValueErrorKind::Malformed("invalid sign")),
    };
    let digit_at = |group: i32| usize::try_from(group).ok().and_then(|g| digits.get(g)).copied().unwrap_or(0);

    let int_groups = usize::try_from(weight + 1).unwrap_or(0);
    let mut out = String::with_capacity(2 + int_groups * 4 + usize::from(dscale));
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for group in 0..=weight {
            let d = digit_at(group);
            // Infallible: writing to a String.
            let _ = if group == 0 { write!(out, "{d}") } else { write!(out, "{d:04}") };
        }
    }
    if dscale > 0 {
        out.push('.');
        for i in 0..i32::from(dscale) {
            let d = digit_at(weight + 1 + i / 4);
            let place = 10u16.pow(3 - (i % 4) as u32);
            out.push(char::from(b'0' + (d / place % 10) as u8));
        }
    }
    let d = Decimal::parse(&out).map_err(|_| ValueErrorKind::Malformed("not a decimal number"))?;
    Ok(Value::Numeric(Numeric::Finite(d)))
}

/// `money` text under `lc_monetary=C` looks like `$1,234.56` or `-$1,234.56`. Parsing is liberal:
/// currency symbols, group separators and spaces are skipped, and `-` or parentheses make the
/// amount negative; `.` is the decimal point.
pub(super) fn money_text(text: &[u8]) -> Result<Value> {
    let mut digits = String::with_capacity(text.len() + 1);
    let mut negative = false;
    let mut seen_point = false;
    let mut seen_digit = false;
    for &b in text {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                digits.push(char::from(b));
            }
            b'.' if !seen_point => {
                seen_point = true;
                digits.push('.');
            }
            b'.' => return Err(ValueErrorKind::Malformed("more than one decimal point")),
            b'-' | b'(' => negative = true,
            b'+' | b')' | b',' | b' ' | b'$' | 0x80.. => {}
            _ if b.is_ascii_alphabetic() => {}
            _ => return Err(ValueErrorKind::Malformed("unexpected character in a money amount")),
        }
    }
    if !seen_digit {
        return Err(ValueErrorKind::Malformed("no digits in a money amount"));
    }
    if negative {
        digits.insert(0, '-');
    }
    let d = Decimal::parse(&digits).map_err(|_| ValueErrorKind::Malformed("not a money amount"))?;
    Ok(Value::Numeric(Numeric::Finite(d)))
}

/// `money` binary is an `int8` count of the smallest currency unit; two fraction digits are
/// assumed, as `lc_monetary=C` (and nearly every currency) uses.
pub(super) fn money_binary(bytes: &[u8]) -> Result<Value> {
    let cents = i64::from_be_bytes(exact::<8>(bytes)?);
    let abs = cents.unsigned_abs();
    let sign = if cents < 0 { "-" } else { "" };
    let text = format!("{sign}{}.{:02}", abs / 100, abs % 100);
    let d = Decimal::parse(&text).map_err(|_| ValueErrorKind::Malformed("not a money amount"))?;
    Ok(Value::Numeric(Numeric::Finite(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Numeric(Numeric::Finite(Decimal::parse(s).unwrap()))
    }

    fn numeric_bin(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_text_keeps_scale_and_specials() {
        assert_eq!(numeric_text(b"1.10"), Ok(dec("1.10")));
        assert_eq!(numeric_text(b"-0.000"), Ok(dec("0.000")));
        assert_eq!(numeric_text(b"NaN"), Ok(Value::Numeric(Numeric::NaN)));
        assert_eq!(numeric_text(b"-Infinity"), Ok(Value::Numeric(Numeric::NegativeInfinity)));
        assert!(numeric_text(b"1e5").is_err());
        assert!(numeric_text(b"").is_err());
    }

    #[test]
    fn numeric_binary_places_base_10000_digits_and_scale() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3.
        assert_eq!(numeric_binary(&numeric_bin(1, 0, 3, &[1, 2345, 6780])), Ok(dec("12345.678")));
        // 0.0001234 = [1, 2340], weight -1, dscale 7.
        assert_eq!(numeric_binary(&numeric_bin(-1, 0, 7, &[1, 2340])), Ok(dec("0.0001234")));
        // Weight -2 leaves a whole zero group after the point.
        assert_eq!(numeric_binary(&numeric_bin(-2, 0, 11, &[1, 2340])), Ok(dec("0.00000001234")));
        // 1.10: digits [1, 1000], dscale 2 (trailing zero kept by the scale).
        assert_eq!(numeric_binary(&numeric_bin(0, 0, 2, &[1, 1000])), Ok(dec("1.10")));
        // 2e8 stored as [2], weight 2: 2 0000 0000.
        assert_eq!(numeric_binary(&numeric_bin(2, 0x4000, 0, &[2])), Ok(dec("-200000000")));
        assert_eq!(numeric_binary(&numeric_bin(0, 0, 0, &[])), Ok(dec("0")));
        assert_eq!(numeric_binary(&numeric_bin(0, 0, 4, &[])), Ok(dec("0.0000")));
        assert_eq!(numeric_binary(&numeric_bin(0, 0xC000, 0, &[])), Ok(Value::Numeric(Numeric::NaN)));
        assert_eq!(
            numeric_binary(&numeric_bin(0, 0xD000, 0, &[])),
            Ok(Value::Numeric(Numeric::PositiveInfinity))
        );
        assert_eq!(
            numeric_binary(&numeric_bin(0, 0xF000, 0, &[])),
            Ok(Value::Numeric(Numeric::NegativeInfinity))
        );
    }

    #[test]
    fn numeric_binary_rejects_bad_layouts() {
        assert!(numeric_binary(&numeric_bin(0, 0x1234, 0, &[1])).is_err());
        assert!(numeric_binary(&numeric_bin(0, 0, 0, &[10_000])).is_err());
        assert!(numeric_binary(&numeric_bin(0, 0, 0x4000, &[1])).is_err());
        let mut short = numeric_bin(0, 0, 0, &[1, 2]);
        short.pop();
        assert!(numeric_binary(&short).is_err());
        assert!(numeric_binary(&[0xff, 0xff, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(numeric_binary(&[]).is_err());
    }

    #[test]
    fn money_text_is_parsed_liberally() {
        assert_eq!(money_text(b"$1,234.56"), Ok(dec("1234.56")));
        assert_eq!(money_text(b"-$1,234.56"), Ok(dec("-1234.56")));
        assert_eq!(money_text(b"($5.00)"), Ok(dec("-5.00")));
        assert_eq!(money_text(b"$0.50"), Ok(dec("0.50")));
        assert_eq!(money_text("\u{20ac} 12.30".as_bytes()), Ok(dec("12.30")));
        assert_eq!(money_text(b"USD 7"), Ok(dec("7")));
        assert!(money_text(b"$").is_err());
        assert!(money_text(b"1.2.3").is_err());
        assert!(money_text(b"1;2").is_err());
    }

    #[test]
    fn money_binary_is_cents() {
        assert_eq!(money_binary(&123456i64.to_be_bytes()), Ok(dec("1234.56")));
        assert_eq!(money_binary(&(-5i64).to_be_bytes()), Ok(dec("-0.05")));
        assert_eq!(money_binary(&i64::MIN.to_be_bytes()), Ok(dec("-92233720368547758.08")));
        assert!(money_binary(&[0; 4]).is_err());
    }
}
