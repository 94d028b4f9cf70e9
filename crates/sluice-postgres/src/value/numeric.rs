//! `numeric` (exact decimals with their scale, NaN and infinities) and `money`.

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
///
/// The canonical text is written straight from the digits (no intermediate digit vector, no
/// formatter, no second parse): a snapshot decodes one of these per numeric column per row.
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
    let body = c.take(ndigits * 2)?;
    let digits = || body.chunks_exact(2).map(|d| u16::from_be_bytes([d[0], d[1]]));
    if digits().any(|d| d >= NBASE) {
        return Err(ValueErrorKind::Malformed("digit out of range for base 10000"));
    }
    let negative = match sign {
        SIGN_POSITIVE => false,
        SIGN_NEGATIVE => true,
        SIGN_NAN => return Ok(Value::Numeric(Numeric::NaN)),
        SIGN_POSITIVE_INFINITY => return Ok(Value::Numeric(Numeric::PositiveInfinity)),
        SIGN_NEGATIVE_INFINITY => return Ok(Value::Numeric(Numeric::NegativeInfinity)),
        _ => return Err(ValueErrorKind::Malformed("invalid sign")),
    };
    // Group `g` counts from the first digit; groups outside the digits sent are zero.
    let digit_at = |group: i32| {
        usize::try_from(group)
            .ok()
            .filter(|&g| g < ndigits)
            .map_or(0, |g| u16::from_be_bytes([body[2 * g], body[2 * g + 1]]))
    };
    // The integer part starts at its first non-zero group (leading zero groups print nothing).
    let sent = i32::try_from(ndigits).unwrap_or(i32::MAX);
    let first = (0..=weight.min(sent - 1)).find(|&g| digit_at(g) != 0);
    let int_len = first.map_or(1, |f| decimal_digits(digit_at(f)) + 4 * (weight - f) as usize);
    let frac_len = if dscale > 0 { 1 + usize::from(dscale) } else { 0 };
    let mut out = Vec::with_capacity(1 + int_len + frac_len);
    let mut nonzero = false;
    if negative {
        out.push(b'-');
    }
    match first {
        None => out.push(b'0'),
        Some(f) => {
            nonzero = true;
            let d = digit_at(f);
            let n = decimal_digits(d);
            push_group(&mut out, d, n);
            for group in f + 1..=weight {
                push_group(&mut out, digit_at(group), 4);
            }
        }
    }
    if dscale > 0 {
        out.push(b'.');
        for i in 0..i32::from(dscale) {
            let d = digit_at(weight + 1 + i / 4);
            let place = 10u16.pow(3 - (i % 4) as u32);
            let digit = (d / place % 10) as u8;
            nonzero |= digit != 0;
            out.push(b'0' + digit);
        }
    }
    if negative && !nonzero {
        // Negative zero is zero: PostgreSQL prints no sign for it.
        out.remove(0);
    }
    let text = String::from_utf8(out).map_err(|_| ValueErrorKind::Malformed("not a decimal number"))?;
    let d = Decimal::from_canonical(text).map_err(|_| ValueErrorKind::Malformed("not a decimal number"))?;
    Ok(Value::Numeric(Numeric::Finite(d)))
}

/// How many decimal digits a base-10000 digit has without leading zeros (1 for zero).
fn decimal_digits(d: u16) -> usize {
    match d {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        _ => 4,
    }
}

/// Appends the last `width` decimal digits of `d`, zero-padded.
fn push_group(out: &mut Vec<u8>, d: u16, width: usize) {
    let all = [(d / 1000 % 10) as u8, (d / 100 % 10) as u8, (d / 10 % 10) as u8, (d % 10) as u8];
    out.extend(all[4 - width..].iter().map(|&x| b'0' + x));
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

    /// The decimal a base-10000 numeric stands for, by the plain definition: every group printed
    /// with four digits, the text parsed (which drops leading zeros and the sign of zero).
    fn reference(weight: i16, negative: bool, dscale: u16, digits: &[u16]) -> Value {
        let group = |g: i32| usize::try_from(g).ok().and_then(|g| digits.get(g)).copied().unwrap_or(0);
        let mut text = String::from(if negative { "-0" } else { "0" });
        for g in 0..=i32::from(weight) {
            text.push_str(&format!("{:04}", group(g)));
        }
        if dscale > 0 {
            let mut frac = String::new();
            let mut g = i32::from(weight) + 1;
            while frac.len() < usize::from(dscale) {
                frac.push_str(&format!("{:04}", group(g)));
                g += 1;
            }
            text.push('.');
            text.push_str(&frac[..usize::from(dscale)]);
        }
        Value::Numeric(Numeric::Finite(Decimal::parse(&text).unwrap()))
    }

    #[test]
    fn numeric_binary_agrees_with_the_plain_definition() {
        // A small deterministic generator: weights around the point, scales across group
        // boundaries, zero groups anywhere (also leading, which PostgreSQL never sends).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..20_000 {
            let ndigits = next(6) as usize;
            let digits: Vec<u16> = (0..ndigits)
                .map(|_| match next(4) {
                    0 => 0,
                    1 => next(10) as u16,
                    _ => next(10_000) as u16,
                })
                .collect();
            let weight = next(9) as i16 - 4;
            let dscale = next(14) as u16;
            let negative = next(2) == 1;
            let bytes = numeric_bin(weight, if negative { 0x4000 } else { 0 }, dscale, &digits);
            assert_eq!(
                numeric_binary(&bytes),
                Ok(reference(weight, negative, dscale, &digits)),
                "weight {weight}, dscale {dscale}, negative {negative}, digits {digits:?}"
            );
        }
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
