//! Scalars with a direct [`Value`]: booleans, integers, OIDs, floats, strings, `bytea`, `uuid` and
//! bit strings.

use sluice_core::Value;

use super::ValueErrorKind;
use super::cursor::{Cursor, exact};

type Result<T> = std::result::Result<T, ValueErrorKind>;

/// The text is UTF-8 (the session's client_encoding).
pub(super) fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| ValueErrorKind::InvalidUtf8)
}

/// Any type kept as its text output.
pub(super) fn text_text(bytes: &[u8]) -> Result<Value> {
    utf8(bytes).map(|s| Value::Text(s.to_owned()))
}

/// `jsonb`, `jsonpath` and `ltree` send a format version byte (1) before their text.
pub(super) fn versioned_text(bytes: &[u8]) -> Result<Value> {
    match bytes.split_first() {
        Some((1, text)) => text_text(text),
        Some(_) => Err(ValueErrorKind::Unsupported("unknown binary format version")),
        None => Err(ValueErrorKind::Truncated),
    }
}

/// `"char"` sends its single byte; the text form shows NUL as empty and non-ASCII bytes as `\ooo`
/// (PostgreSQL 15's `charout`), which is reproduced here so both forms decode alike.
pub(super) fn char_binary(bytes: &[u8]) -> Result<Value> {
    let [b] = exact::<1>(bytes)?;
    let text = match b {
        0 => String::new(),
        0x80.. => format!("\\{b:03o}"),
        _ => char::from(b).to_string(),
    };
    Ok(Value::Text(text))
}

pub(super) fn bool_text(text: &[u8]) -> Result<Value> {
    match text {
        b"t" | b"true" => Ok(Value::Bool(true)),
        b"f" | b"false" => Ok(Value::Bool(false)),
        _ => Err(ValueErrorKind::Malformed("expected t or f")),
    }
}

pub(super) fn bool_binary(bytes: &[u8]) -> Result<Value> {
    // Like boolrecv: any non-zero byte is true.
    exact::<1>(bytes).map(|[b]| Value::Bool(b != 0))
}

/// Parses `[-+]digits` straight from the bytes, without an intermediate string.
pub(super) fn int_text(text: &[u8]) -> Result<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let magnitude = unsigned_text(digits)?;
    if negative {
        if magnitude > 1 << 63 {
            return Err(ValueErrorKind::OutOfRange("integer"));
        }
        // 2^63 wraps to i64::MIN, which is exactly its negation.
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| ValueErrorKind::OutOfRange("integer"))
    }
}

/// Parses plain decimal digits (at least one).
pub(super) fn unsigned_text(digits: &[u8]) -> Result<u64> {
    if digits.is_empty() {
        return Err(ValueErrorKind::Malformed("expected digits"));
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(ValueErrorKind::Malformed("expected digits"));
        }
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(b - b'0')))
            .ok_or(ValueErrorKind::OutOfRange("integer"))
    })
}

pub(super) fn to_i16(v: i64) -> Result<i16> {
    i16::try_from(v).map_err(|_| ValueErrorKind::OutOfRange("smallint"))
}

pub(super) fn to_i32(v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| ValueErrorKind::OutOfRange("integer"))
}

/// The `reg*` OID alias types print a name in text form, so they are kept as text.
pub(crate) fn is_reg_type(oid: u32) -> bool {
    matches!(oid, 24 | 2202 | 2203 | 2204 | 2205 | 2206 | 3734 | 3769 | 4089 | 4096 | 4191)
}

/// `oid`, `xid`, `cid`: unsigned 32-bit, widened to `Int64`.
pub(super) fn oid_text(text: &[u8]) -> Result<Value> {
    let v = unsigned_text(text)?;
    u32::try_from(v).map(|v| Value::Int64(v.into())).map_err(|_| ValueErrorKind::OutOfRange("object id"))
}

pub(super) fn oid_binary(bytes: &[u8]) -> Result<Value> {
    exact::<4>(bytes).map(|b| Value::Int64(u32::from_be_bytes(b).into()))
}

/// PostgreSQL prints `NaN`, `Infinity` and `-Infinity`, which Rust's float parser accepts.
pub(super) fn float4_text(text: &[u8]) -> Result<Value> {
    utf8(text)?.parse().map(Value::Float32).map_err(|_| ValueErrorKind::Malformed("not a real number"))
}

pub(super) fn float8_text(text: &[u8]) -> Result<Value> {
    utf8(text)?
        .parse()
        .map(Value::Float64)
        .map_err(|_| ValueErrorKind::Malformed("not a double precision number"))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `\x` hex format (whitespace between byte pairs allowed, as byteain does), else the legacy
/// escape format (`\\` and `\ooo`).
pub(super) fn bytea_text(text: &[u8]) -> Result<Value> {
    if let Some(hex) = text.strip_prefix(b"\\x") {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let mut digits = hex.iter().copied().filter(|b| !b.is_ascii_whitespace());
        while let Some(hi) = digits.next() {
            let lo = digits.next().ok_or(ValueErrorKind::Malformed("odd number of hex digits"))?;
            match (hex_digit(hi), hex_digit(lo)) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(ValueErrorKind::Malformed("invalid hex digit")),
            }
        }
        return Ok(Value::Bytes(out));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match text.get(i + 1..i + 4) {
            _ if text.get(i + 1) == Some(&b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(&[a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7']) => {
                out.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
                i += 4;
            }
            _ => return Err(ValueErrorKind::Malformed("invalid escape sequence")),
        }
    }
    Ok(Value::Bytes(out))
}

/// Canonical `8-4-4-4-12` hex; like uuid_in, hyphens between digit groups and braces around the
/// whole are tolerated.
pub(super) fn uuid_text(text: &[u8]) -> Result<Value> {
    let body = match text {
        [b'{', inner @ .., b'}'] => inner,
        _ => text,
    };
    let mut out = [0u8; 16];
    let mut n = 0usize;
    let mut pending: Option<u8> = None;
    for &b in body {
        if b == b'-' && pending.is_none() && n > 0 {
            continue;
        }
        let d = hex_digit(b).ok_or(ValueErrorKind::Malformed("invalid uuid syntax"))?;
        match pending.take() {
            None => pending = Some(d),
            Some(h) => {
                *out.get_mut(n).ok_or(ValueErrorKind::Malformed("too many uuid digits"))? = h << 4 | d;
                n += 1;
            }
        }
    }
    if n != 16 || pending.is_some() || body.last() == Some(&b'-') {
        return Err(ValueErrorKind::Malformed("invalid uuid syntax"));
    }
    Ok(Value::Uuid(out))
}

/// `bit`/`varbit` text: one `0`/`1` character per bit.
pub(super) fn bits_text(text: &[u8]) -> Result<Value> {
    let len = u32::try_from(text.len()).map_err(|_| ValueErrorKind::OutOfRange("bit string length"))?;
    let mut data = vec![0u8; text.len().div_ceil(8)];
    for (i, &c) in text.iter().enumerate() {
        match c {
            b'0' => {}
            b'1' => data[i / 8] |= 0x80 >> (i % 8),
            _ => return Err(ValueErrorKind::Malformed("expected only 0 and 1")),
        }
    }
    Ok(Value::Bits { len, data })
}

/// `bit`/`varbit` binary: `int4` bit count, then the bits packed high bit first.
pub(super) fn bits_binary(bytes: &[u8]) -> Result<Value> {
    let mut c = Cursor::new(bytes);
    let len = u32::try_from(c.i32()?).map_err(|_| ValueErrorKind::Malformed("negative bit length"))?;
    let nbytes = usize::try_from(len.div_ceil(8)).map_err(|_| ValueErrorKind::OutOfRange("bit length"))?;
    if c.remaining() != nbytes {
        return Err(ValueErrorKind::Length { expected: nbytes + 4, actual: bytes.len() });
    }
    let mut data = c.take(nbytes)?.to_vec();
    // The server pads with zeros; enforce it so both forms compare equal.
    if let (Some(last), 1..) = (data.last_mut(), len % 8) {
        *last &= 0xFFu8 << (8 - len % 8);
    }
    Ok(Value::Bits { len, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_at_their_limits() {
        assert_eq!(int_text(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(int_text(b"9223372036854775807"), Ok(i64::MAX));
        assert!(int_text(b"9223372036854775808").is_err());
        assert!(int_text(b"-9223372036854775809").is_err());
        assert!(int_text(b"99999999999999999999999").is_err());
        assert_eq!(int_text(b"+12"), Ok(12));
        for bad in [&b""[..], b"-", b"1 ", b" 1", b"1.0", b"0x10"] {
            assert!(int_text(bad).is_err(), "{bad:?}");
        }
        assert!(to_i16(32768).is_err());
        assert_eq!(to_i16(-32768), Ok(-32768));
    }

    #[test]
    fn oids_are_unsigned_32_bit() {
        assert_eq!(oid_text(b"4000000000"), Ok(Value::Int64(4_000_000_000)));
        assert!(oid_text(b"4294967296").is_err());
        assert!(oid_text(b"-1").is_err());
        assert_eq!(oid_binary(&u32::MAX.to_be_bytes()), Ok(Value::Int64(u32::MAX.into())));
    }

    #[test]
    fn bytea_hex_and_escape_forms() {
        assert_eq!(bytea_text(b"\\x0102ff"), Ok(Value::Bytes(vec![1, 2, 255])));
        assert_eq!(bytea_text(b"\\x01 02"), Ok(Value::Bytes(vec![1, 2])));
        assert_eq!(bytea_text(b"\\x"), Ok(Value::Bytes(vec![])));
        assert!(bytea_text(b"\\x012").is_err());
        assert!(bytea_text(b"\\xzz").is_err());
        assert_eq!(bytea_text(b"a\\\\b\\001\\377"), Ok(Value::Bytes(b"a\\b\x01\xff".to_vec())));
        assert!(bytea_text(b"\\4").is_err());
        assert!(bytea_text(b"\\400").is_err());
    }

    #[test]
    fn uuid_forms() {
        let want = Value::Uuid([
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
        ]);
        assert_eq!(uuid_text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), Ok(want.clone()));
        assert_eq!(uuid_text(b"{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}"), Ok(want.clone()));
        assert_eq!(uuid_text(b"a0eebc999c0b4ef8bb6d6bb9bd380a11"), Ok(want));
        for bad in [&b""[..], b"-a0eebc999c0b4ef8bb6d6bb9bd380a11", b"a0eebc999c0b4ef8bb6d6bb9bd380a1", b"a"]
        {
            assert!(uuid_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bits_pack_high_bit_first_in_both_forms() {
        let want = Value::Bits { len: 10, data: vec![0b1010_0000, 0b0100_0000] };
        assert_eq!(bits_text(b"1010000001"), Ok(want.clone()));
        let mut bin = 10i32.to_be_bytes().to_vec();
        bin.extend([0b1010_0000, 0b0111_1111]);
        assert_eq!(bits_binary(&bin), Ok(want));
        assert_eq!(bits_text(b""), Ok(Value::Bits { len: 0, data: vec![] }));
        assert!(bits_text(b"102").is_err());
        assert!(bits_binary(&[0, 0, 0, 9, 0]).is_err());
        assert!(bits_binary(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn internal_char_renders_like_charout() {
        assert_eq!(char_binary(b"a"), Ok(Value::Text("a".into())));
        assert_eq!(char_binary(&[0]), Ok(Value::Text(String::new())));
        assert_eq!(char_binary(&[0xe9]), Ok(Value::Text("\\351".into())));
        assert!(char_binary(b"ab").is_err());
    }
}
