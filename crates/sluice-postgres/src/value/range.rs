//! Ranges and multiranges, kept as the server's canonical text. Binary forms carry bounds in the
//! subtype's binary form; each bound is decoded, printed with the subtype's output rules and quoted
//! the way `range_out` quotes, giving exactly the server's text (`[1,10)`, `empty`, `(,5]`,
//! `["2019-03-31 15:30:00",infinity)`, `{[1,3),[5,7)}`).

use sluice_core::ColumnType;

use super::cursor::Cursor;
use super::{Format, ValueError, ValueErrorKind, decode_binary, output};

const EMPTY: u8 = 0x01;
const LOWER_INCLUSIVE: u8 = 0x02;
const UPPER_INCLUSIVE: u8 = 0x04;
const LOWER_INFINITE: u8 = 0x08;
const UPPER_INFINITE: u8 = 0x10;

pub(super) fn range_binary(
    ty: &ColumnType,
    element: &ColumnType,
    bytes: &[u8],
) -> Result<String, ValueError> {
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut c = Cursor::new(bytes);
    range(&mut out, element, &mut c).and_then(|()| Ok(c.finish()?)).map_err(|e| e.into_error(ty))?;
    Ok(out)
}

/// `multirange_send`: range count, then each range length-prefixed.
pub(super) fn multirange_binary(
    ty: &ColumnType,
    element: &ColumnType,
    bytes: &[u8],
) -> Result<String, ValueError> {
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut c = Cursor::new(bytes);
    let run = |out: &mut String, c: &mut Cursor<'_>| -> Result<(), RangeError> {
        let count =
            usize::try_from(c.i32()?).map_err(|_| ValueErrorKind::Malformed("negative range count"))?;
        out.push('{');
        for i in 0..count {
            if i > 0 {
                out.push(',');
            }
            let body = c.len_prefixed()?.ok_or(ValueErrorKind::Malformed("NULL range in a multirange"))?;
            let mut rc = Cursor::new(body);
            range(out, element, &mut rc)?;
            rc.finish()?;
        }
        out.push('}');
        c.finish()?;
        Ok(())
    };
    run(&mut out, &mut c).map_err(|e| e.into_error(ty))?;
    Ok(out)
}

/// Either the range's own layout is wrong, or a bound failed as its subtype.
enum RangeError {
    Layout(ValueErrorKind),
    Bound(ValueError),
}

impl From<ValueErrorKind> for RangeError {
    fn from(k: ValueErrorKind) -> Self {
        RangeError::Layout(k)
    }
}

impl RangeError {
    fn into_error(self, ty: &ColumnType) -> ValueError {
        match self {
            RangeError::Layout(k) => ValueError::new(Format::Binary, ty, k),
            RangeError::Bound(e) => e,
        }
    }
}

/// `range_send`: flags, then the lower and upper bounds that are present, length-prefixed.
fn range(out: &mut String, element: &ColumnType, c: &mut Cursor<'_>) -> Result<(), RangeError> {
    let flags = c.u8()?;
    if flags & EMPTY != 0 {
        out.push_str("empty");
        return Ok(());
    }
    out.push(if flags & LOWER_INCLUSIVE != 0 { '[' } else { '(' });
    if flags & LOWER_INFINITE == 0 {
        bound(out, element, c)?;
    }
    out.push(',');
    if flags & UPPER_INFINITE == 0 {
        bound(out, element, c)?;
    }
    out.push(if flags & UPPER_INCLUSIVE != 0 { ']' } else { ')' });
    Ok(())
}

fn bound(out: &mut String, element: &ColumnType, c: &mut Cursor<'_>) -> Result<(), RangeError> {
    let bytes = c.len_prefixed()?.ok_or(ValueErrorKind::Malformed("NULL range bound"))?;
    let value = decode_binary(element, bytes).map_err(RangeError::Bound)?;
    let mut text = String::new();
    output::value(&mut text, element, &value)
        .map_err(|k| RangeError::Bound(ValueError::new(Format::Binary, element, k)))?;
    quote_bound(out, &text);
    Ok(())
}

/// `range_out` quoting: double quotes around empty bounds and bounds containing syntax characters
/// or whitespace; `"` and `\` are doubled inside.
fn quote_bound(out: &mut String, text: &str) {
    let needs_quotes = text.is_empty()
        || text.bytes().any(|b| {
            matches!(b, b'"' | b'\\' | b'(' | b')' | b'[' | b']' | b',')
                || b.is_ascii_whitespace()
                || b == 0x0b
        });
    if needs_quotes {
        out.push('"');
    }
    for ch in text.chars() {
        if ch == '"' || ch == '\\' {
            out.push(ch);
        }
        out.push(ch);
    }
    if needs_quotes {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::TypeKind;

    fn int4() -> ColumnType {
        ColumnType::new(23, -1, "int4", TypeKind::Int4)
    }

    fn range_ty() -> ColumnType {
        ColumnType::new(3904, -1, "int4range", TypeKind::Range { element: Box::new(int4()) })
    }

    fn int_range(flags: u8, lower: Option<i32>, upper: Option<i32>) -> Vec<u8> {
        let mut b = vec![flags];
        for v in [lower, upper].into_iter().flatten() {
            b.extend(4i32.to_be_bytes());
            b.extend(v.to_be_bytes());
        }
        b
    }

    #[test]
    fn ranges_render_brackets_bounds_and_infinities() {
        let r = |b: &[u8]| range_binary(&range_ty(), &int4(), b);
        assert_eq!(r(&int_range(LOWER_INCLUSIVE, Some(1), Some(10))).unwrap(), "[1,10)");
        assert_eq!(r(&int_range(EMPTY, None, None)).unwrap(), "empty");
        assert_eq!(r(&int_range(LOWER_INFINITE | UPPER_INCLUSIVE, None, Some(5))).unwrap(), "(,5]");
        assert_eq!(r(&int_range(LOWER_INFINITE | UPPER_INFINITE, None, None)).unwrap(), "(,)");
        assert!(r(&int_range(LOWER_INCLUSIVE, Some(1), None)).is_err());
        assert!(r(&[]).is_err());
        let mut trailing = int_range(EMPTY, None, None);
        trailing.push(0);
        assert!(r(&trailing).is_err());
    }

    #[test]
    fn multiranges_join_ranges_in_braces() {
        let ty =
            ColumnType::new(4451, -1, "int4multirange", TypeKind::MultiRange { element: Box::new(int4()) });
        let mut b = 2i32.to_be_bytes().to_vec();
        for r in [int_range(LOWER_INCLUSIVE, Some(1), Some(3)), int_range(LOWER_INCLUSIVE, Some(5), Some(7))]
        {
            b.extend((r.len() as i32).to_be_bytes());
            b.extend(r);
        }
        assert_eq!(multirange_binary(&ty, &int4(), &b).unwrap(), "{[1,3),[5,7)}");
        assert_eq!(multirange_binary(&ty, &int4(), &0i32.to_be_bytes()).unwrap(), "{}");
        assert!(multirange_binary(&ty, &int4(), &5i32.to_be_bytes()).is_err());
    }

    #[test]
    fn bounds_are_quoted_like_range_out() {
        let q = |s: &str| {
            let mut out = String::new();
            quote_bound(&mut out, s);
            out
        };
        assert_eq!(q("2019-03-31 15:30:00"), "\"2019-03-31 15:30:00\"");
        assert_eq!(q("abc"), "abc");
        assert_eq!(q(""), "\"\"");
        assert_eq!(q("a\"b\\c"), "\"a\"\"b\\\\c\"");
        assert_eq!(q("x,y"), "\"x,y\"");
    }

    #[test]
    fn bound_errors_name_the_subtype() {
        let mut b = vec![LOWER_INCLUSIVE];
        b.extend(2i32.to_be_bytes());
        b.extend([0, 1]);
        b.extend(4i32.to_be_bytes());
        b.extend(1i32.to_be_bytes());
        let e = range_binary(&range_ty(), &int4(), &b).unwrap_err();
        assert_eq!(e.type_name(), "int4");
    }
}
