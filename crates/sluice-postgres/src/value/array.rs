//! Arrays of any element type and up to six dimensions, from `array_out` text (`{1,2,NULL}`,
//! `{{1,2},{3,4}}`, `[0:1]={1,2}`, quoted elements with `\` escapes, `;` between `box` elements) and
//! from `array_send` binary. Elements are decoded with the element type's own decoder.

use std::borrow::Cow;

use sluice_core::value::{Array, ArrayDim};
use sluice_core::{ColumnType, TypeKind, Value};

use super::cursor::Cursor;
use super::{Format, ValueError, ValueErrorKind, decode_binary, decode_text};

/// PostgreSQL's MAXDIM.
const MAX_DIMS: usize = 6;

/// `array_out` quotes elements containing whitespace, so `isspace` is what separates tokens.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub(super) fn array_text(ty: &ColumnType, element: &ColumnType, text: &[u8]) -> Result<Value, ValueError> {
    let delimiter = if matches!(element.base().kind, TypeKind::Box) { b';' } else { b',' };
    let mut p = TextParser { s: text, pos: 0, delimiter };
    p.parse(element).map_err(|e| e.into_error(ty)).map(Value::Array)
}

/// Either the array's own syntax is wrong, or an element failed as its type.
enum ArrayError {
    Layout(ValueErrorKind),
    Element(ValueError),
}

impl From<ValueErrorKind> for ArrayError {
    fn from(k: ValueErrorKind) -> Self {
        ArrayError::Layout(k)
    }
}

impl ArrayError {
    fn into_error(self, ty: &ColumnType) -> ValueError {
        match self {
            ArrayError::Layout(k) => ValueError::new(Format::Text, ty, k),
            ArrayError::Element(e) => e,
        }
    }
}

fn malformed(what: &'static str) -> ArrayError {
    ArrayError::Layout(ValueErrorKind::Malformed(what))
}

struct TextParser<'a> {
    s: &'a [u8],
    pos: usize,
    delimiter: u8,
}

impl<'a> TextParser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// A signed integer inside a dimension decoration.
    fn bound(&mut self) -> Result<i64, ArrayError> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = self.s.get(start..self.pos).unwrap_or_default();
        super::scalar::int_text(digits).map_err(|_| malformed("invalid dimension bound"))
    }

    /// Optional `[lb:ub]...=` decoration: (lower bound, length) per dimension.
    fn decoration(&mut self) -> Result<Vec<(i32, u32)>, ArrayError> {
        let mut dims = Vec::new();
        self.skip_space();
        while self.peek() == Some(b'[') {
            self.pos += 1;
            let first = self.bound()?;
            let (lower, upper) = if self.peek() == Some(b':') {
                self.pos += 1;
                (first, self.bound()?)
            } else {
                (1, first)
            };
            if self.peek() != Some(b']') {
                return Err(malformed("expected ']' in the dimensions"));
            }
            self.pos += 1;
            let len = upper - lower + 1;
            let (Ok(lower), Ok(len)) = (i32::try_from(lower), u32::try_from(len)) else {
                return Err(ArrayError::Layout(ValueErrorKind::OutOfRange("array dimension")));
            };
            dims.push((lower, len));
            if dims.len() > MAX_DIMS {
                return Err(ArrayError::Layout(ValueErrorKind::OutOfRange("number of array dimensions")));
            }
        }
        if !dims.is_empty() {
            self.skip_space();
            if self.peek() != Some(b'=') {
                return Err(malformed("expected '=' after the dimensions"));
            }
            self.pos += 1;
            self.skip_space();
        }
        Ok(dims)
    }

    fn parse(&mut self, element: &ColumnType) -> Result<Array, ArrayError> {
        let declared = self.decoration()?;
        if self.peek() != Some(b'{') {
            return Err(malformed("expected '{'"));
        }
        let mut elements = Vec::new();
        // Length of each dimension, fixed by the first sub-array that closes at that depth.
        let mut lengths: Vec<Option<u32>> = Vec::new();
        // Items seen so far at each open depth.
        let mut counts: Vec<u32> = Vec::new();
        // The depth at which elements sit, fixed by the first element.
        let mut leaf_depth: Option<usize> = None;
        // Whether the next token must be a delimiter or a closing brace.
        let mut after_item = false;
        loop {
            self.skip_space();
            let b = self.peek().ok_or_else(|| malformed("unterminated array"))?;
            match b {
                b'{' if !after_item => {
                    self.pos += 1;
                    if leaf_depth.is_some_and(|d| counts.len() >= d) {
                        return Err(malformed("sub-array where an element was expected"));
                    }
                    counts.push(0);
                    if counts.len() > MAX_DIMS {
                        return Err(ArrayError::Layout(ValueErrorKind::OutOfRange(
                            "number of array dimensions",
                        )));
                    }
                    if lengths.len() < counts.len() {
                        lengths.push(None);
                    }
                }
                b'}' => {
                    self.pos += 1;
                    let depth = counts.len();
                    let n = counts.pop().ok_or_else(|| malformed("unbalanced braces"))?;
                    if !after_item && n > 0 {
                        return Err(malformed("expected an element after a delimiter"));
                    }
                    if leaf_depth.is_some_and(|d| d < depth) {
                        return Err(malformed("sub-arrays at different depths"));
                    }
                    let slot = lengths.get_mut(depth - 1).ok_or_else(|| malformed("unbalanced braces"))?;
                    match *slot {
                        Some(len) if len != n => {
                            return Err(malformed("sub-arrays have different lengths"));
                        }
                        _ => *slot = Some(n),
                    }
                    match counts.last_mut() {
                        Some(parent) => {
                            *parent += 1;
                            after_item = true;
                        }
                        None => break,
                    }
                }
                _ if after_item => {
                    if b != self.delimiter {
                        return Err(malformed("expected a delimiter or '}'"));
                    }
                    self.pos += 1;
                    after_item = false;
                }
                _ => {
                    let depth = counts.len();
                    if *leaf_depth.get_or_insert(depth) != depth {
                        return Err(malformed("elements at different depths"));
                    }
                    let (raw, quoted) = self.element()?;
                    if !quoted && raw.is_empty() {
                        return Err(malformed("empty unquoted element"));
                    }
                    let value = if !quoted && raw.eq_ignore_ascii_case(b"NULL") {
                        Value::Null
                    } else {
                        decode_text(element, &raw).map_err(ArrayError::Element)?
                    };
                    elements.push(value);
                    if let Some(c) = counts.last_mut() {
                        *c += 1;
                    }
                    after_item = true;
                }
            }
        }
        self.skip_space();
        if self.pos != self.s.len() {
            return Err(malformed("unexpected characters after the array"));
        }
        let mut dims: Vec<ArrayDim> = match leaf_depth {
            None => Vec::new(),
            Some(d) => {
                lengths.iter().take(d).map(|len| ArrayDim { len: len.unwrap_or(0), lower_bound: 1 }).collect()
            }
        };
        if elements.is_empty() {
            dims.clear();
        } else if dims.iter().try_fold(1usize, |n, d| n.checked_mul(d.len as usize)) != Some(elements.len()) {
            return Err(malformed("sub-arrays at different depths"));
        }
        if !declared.is_empty() && !dims.is_empty() {
            if declared.len() != dims.len() || declared.iter().zip(&dims).any(|(&(_, len), d)| len != d.len) {
                return Err(malformed("dimensions do not match the elements"));
            }
            for (d, &(lower, _)) in dims.iter_mut().zip(&declared) {
                d.lower_bound = lower;
            }
        }
        Ok(Array { dims, elements })
    }

    /// One element: quoted (never NULL) or bare (trailing whitespace trimmed); backslash escapes
    /// removed in both.
    fn element(&mut self) -> Result<(Cow<'a, [u8]>, bool), ArrayError> {
        let quoted = self.peek() == Some(b'"');
        if quoted {
            self.pos += 1;
        }
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        // End of the element's significant bytes (bare elements drop trailing whitespace).
        let mut end = start;
        loop {
            let b = self.peek().ok_or_else(|| malformed("unterminated array element"))?;
            match b {
                b'\\' => {
                    let escaped =
                        self.s.get(self.pos + 1).copied().ok_or_else(|| malformed("dangling backslash"))?;
                    let buf =
                        owned.get_or_insert_with(|| self.s.get(start..self.pos).unwrap_or_default().to_vec());
                    buf.push(escaped);
                    self.pos += 2;
                    end = buf.len();
                    continue;
                }
                b'"' if quoted => {
                    self.pos += 1;
                    break;
                }
                b'"' | b'{' if !quoted => return Err(malformed("unexpected character in a bare element")),
                b'}' if !quoted => break,
                _ if !quoted && b == self.delimiter => break,
                _ => {}
            }
            self.pos += 1;
            match owned.as_mut() {
                Some(buf) => {
                    buf.push(b);
                    if quoted || !is_space(b) {
                        end = buf.len();
                    }
                }
                None if quoted || !is_space(b) => end = self.pos,
                None => {}
            }
        }
        let bytes = match owned {
            Some(mut buf) => {
                buf.truncate(end);
                Cow::Owned(buf)
            }
            None => Cow::Borrowed(self.s.get(start..end).unwrap_or_default()),
        };
        Ok((bytes, quoted))
    }
}

/// `array_send`: dimension count, has-nulls flag, element type OID, (length, lower bound) per
/// dimension, then each element length-prefixed (-1 for NULL) in row-major order.
pub(super) fn array_binary(ty: &ColumnType, element: &ColumnType, bytes: &[u8]) -> Result<Value, ValueError> {
    let layout = |k| ValueError::new(Format::Binary, ty, k);
    let mut c = Cursor::new(bytes);
    let ndim = c.i32().map_err(layout)?;
    let _has_nulls = c.i32().map_err(layout)?;
    let _element_oid = c.u32().map_err(layout)?;
    let ndim = usize::try_from(ndim)
        .ok()
        .filter(|&n| n <= MAX_DIMS)
        .ok_or_else(|| layout(ValueErrorKind::Malformed("invalid number of dimensions")))?;
    let mut dims = Vec::with_capacity(ndim);
    let mut total: usize = 1;
    for _ in 0..ndim {
        let len = c.i32().map_err(layout)?;
        let lower_bound = c.i32().map_err(layout)?;
        let len = u32::try_from(len).map_err(|_| layout(ValueErrorKind::Malformed("negative dimension")))?;
        if i64::from(lower_bound) + i64::from(len) - 1 > i64::from(i32::MAX) {
            return Err(layout(ValueErrorKind::OutOfRange("array upper bound")));
        }
        total = total.saturating_mul(len as usize);
        dims.push(ArrayDim { len, lower_bound });
    }
    if ndim == 0 || total == 0 {
        c.finish().map_err(layout)?;
        return Ok(Value::Array(Array::default()));
    }
    // Every element takes at least its four-byte length.
    if total > c.remaining() / 4 {
        return Err(layout(ValueErrorKind::Malformed("more elements than the datum can hold")));
    }
    let mut elements = Vec::with_capacity(total);
    for _ in 0..total {
        elements.push(match c.len_prefixed().map_err(layout)? {
            None => Value::Null,
            Some(b) => decode_binary(element, b)?,
        });
    }
    c.finish().map_err(layout)?;
    Ok(Value::Array(Array { dims, elements }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int4() -> ColumnType {
        ColumnType::new(23, -1, "int4", TypeKind::Int4)
    }

    fn text() -> ColumnType {
        ColumnType::new(25, -1, "text", TypeKind::Text)
    }

    fn arr(element: ColumnType) -> ColumnType {
        ColumnType::new(0, -1, "array", TypeKind::Array { element: Box::new(element) })
    }

    fn parse(element: ColumnType, s: &str) -> Result<Array, ValueError> {
        let ty = arr(element.clone());
        match array_text(&ty, &element, s.as_bytes())? {
            Value::Array(a) => Ok(a),
            other => panic!("not an array: {other:?}"),
        }
    }

    fn dims(v: &[(u32, i32)]) -> Vec<ArrayDim> {
        v.iter().map(|&(len, lower_bound)| ArrayDim { len, lower_bound }).collect()
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn flat_nested_and_null_elements() {
        let a = parse(int4(), "{1,2,NULL}").unwrap();
        assert_eq!(a.dims, dims(&[(3, 1)]));
        assert_eq!(a.elements, vec![Value::Int32(1), Value::Int32(2), Value::Null]);
        let a = parse(int4(), "{{1,2},{3,4},{5,6}}").unwrap();
        assert_eq!(a.dims, dims(&[(3, 1), (2, 1)]));
        assert_eq!(a.elements.len(), 6);
        let a = parse(int4(), "{}").unwrap();
        assert_eq!(a, Array::default());
        let a = parse(int4(), " { { 1 , 2 } } ").unwrap();
        assert_eq!(a.dims, dims(&[(1, 1), (2, 1)]));
    }

    #[test]
    fn explicit_bounds_set_lower_bounds() {
        let a = parse(int4(), "[0:1]={1,2}").unwrap();
        assert_eq!(a.dims, dims(&[(2, 0)]));
        let a = parse(int4(), "[-2:-1][3:5]={{1,2,3},{4,5,6}}").unwrap();
        assert_eq!(a.dims, dims(&[(2, -2), (3, 3)]));
        assert!(parse(int4(), "[0:2]={1,2}").is_err());
        assert!(parse(int4(), "[0:1][1:1]={1,2}").is_err());
        assert!(parse(int4(), "[0:1]{1,2}").is_err());
        assert!(parse(int4(), "[5:1]={1,2}").is_err());
    }

    #[test]
    fn quoting_escapes_and_null_spelling() {
        let a = parse(text(), r#"{"a b","NULL",NULL,"x\"y\\z",plain,"",null,"{}"}"#).unwrap();
        assert_eq!(
            a.elements,
            vec![t("a b"), t("NULL"), Value::Null, t("x\"y\\z"), t("plain"), t(""), Value::Null, t("{}")]
        );
        let a = parse(text(), r"{a\,b,  spaced out  ,\ lead}").unwrap();
        assert_eq!(a.elements, vec![t("a,b"), t("spaced out"), t(" lead")]);
        let a = parse(text(), r#"{"é","日本"}"#).unwrap();
        assert_eq!(a.elements, vec![t("é"), t("日本")]);
    }

    #[test]
    fn box_arrays_use_semicolons() {
        let b = ColumnType::new(603, -1, "box", TypeKind::Box);
        let a = parse(b, "{(3,4),(1,2);(5,6),(0,0)}").unwrap();
        assert_eq!(a.elements, vec![t("(3,4),(1,2)"), t("(5,6),(0,0)")]);
    }

    #[test]
    fn malformed_text_is_an_error() {
        for bad in [
            "",
            "{",
            "{1,2",
            "{1,,2}",
            "{1,2,}",
            "{,}",
            "{{1,2},{3}}",
            "{{1,2},3}",
            "{1,{2,3}}",
            "{1}}",
            "{1} x",
            "{\"1}",
            "{1\"2}",
            "{{{{{{{1}}}}}}}",
            "1,2",
            "{1 2}",
            "{a}",
            "{1\\",
            "{{{}},{1}}",
        ] {
            assert!(parse(int4(), bad).is_err(), "{bad:?}");
        }
        // The element's own error names the element type.
        assert_eq!(parse(int4(), "{x}").unwrap_err().type_name(), "int4");
        assert_eq!(parse(int4(), "{1,,2}").unwrap_err().type_name(), "array");
    }

    fn binary(ndim: i32, dims: &[(i32, i32)], elements: &[Option<i32>]) -> Vec<u8> {
        let mut b = ndim.to_be_bytes().to_vec();
        b.extend(0i32.to_be_bytes());
        b.extend(23u32.to_be_bytes());
        for (len, lb) in dims {
            b.extend(len.to_be_bytes());
            b.extend(lb.to_be_bytes());
        }
        for e in elements {
            match e {
                Some(v) => {
                    b.extend(4i32.to_be_bytes());
                    b.extend(v.to_be_bytes());
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
        b
    }

    #[test]
    fn binary_arrays_with_bounds_and_nulls() {
        let ty = arr(int4());
        let v = array_binary(&ty, &int4(), &binary(2, &[(1, 0), (2, 1)], &[Some(7), None])).unwrap();
        let Value::Array(a) = v else { panic!("not an array") };
        assert_eq!(a.dims, dims(&[(1, 0), (2, 1)]));
        assert_eq!(a.elements, vec![Value::Int32(7), Value::Null]);
        let empty = array_binary(&ty, &int4(), &binary(0, &[], &[])).unwrap();
        assert_eq!(empty, Value::Array(Array::default()));
    }

    #[test]
    fn binary_arrays_reject_lying_headers() {
        let ty = arr(int4());
        let cases = [
            binary(1, &[(3, 1)], &[Some(1)]),
            binary(1, &[(1, 1)], &[Some(1), Some(2)]),
            binary(7, &[(1, 1); 7], &[Some(1)]),
            binary(-1, &[], &[]),
            binary(1, &[(-1, 1)], &[]),
            binary(1, &[(2, i32::MAX)], &[Some(1), Some(2)]),
            binary(2, &[(65536, 1), (65536, 1)], &[]),
            vec![0, 0],
        ];
        for (i, b) in cases.iter().enumerate() {
            assert!(array_binary(&ty, &int4(), b).is_err(), "case {i}");
        }
    }
}
