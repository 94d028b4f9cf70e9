//! `hstore` (extension): `"key"=>"value", "k2"=>NULL` text, and the binary pair list.

use sluice_core::Value;

use super::ValueErrorKind;
use super::cursor::Cursor;
use super::scalar::utf8;

type Result<T> = std::result::Result<T, ValueErrorKind>;

/// Parses hstore text as `hstore_in` accepts it: keys and values quoted (with `\` escapes) or bare
/// words, `=>` between them, pairs separated by commas; a bare `NULL` value is SQL NULL.
pub(super) fn hstore_text(text: &[u8]) -> Result<Value> {
    let s = utf8(text)?;
    let mut p = Parser { s: s.as_bytes(), pos: 0 };
    let mut pairs = Vec::new();
    p.skip_space();
    if p.at_end() {
        return Ok(Value::Hstore(pairs));
    }
    loop {
        let (key, _) = p.token()?;
        p.skip_space();
        if !p.s.get(p.pos..).unwrap_or_default().starts_with(b"=>") {
            return Err(ValueErrorKind::Malformed("expected '=>' after a key"));
        }
        p.pos += 2;
        p.skip_space();
        let (value, quoted) = p.token()?;
        let value = if !quoted && value.eq_ignore_ascii_case("NULL") { None } else { Some(value) };
        pairs.push((key, value));
        p.skip_space();
        match p.next() {
            None => break,
            Some(b',') => p.skip_space(),
            Some(_) => return Err(ValueErrorKind::Malformed("expected ',' between pairs")),
        }
    }
    Ok(Value::Hstore(pairs))
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// A quoted string or a bare word; returns the unescaped text and whether it was quoted.
    fn token(&mut self) -> Result<(String, bool)> {
        let quoted = self.peek() == Some(b'"');
        if quoted {
            self.pos += 1;
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None if quoted => return Err(ValueErrorKind::Malformed("unterminated quoted string")),
                None => break,
                Some(b'"') if quoted => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.next().ok_or(ValueErrorKind::Malformed("dangling backslash"))?);
                }
                Some(b) if !quoted && (b.is_ascii_whitespace() || b == b',' || b == b'=' || b == b'"') => {
                    break;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        if !quoted && out.is_empty() {
            return Err(ValueErrorKind::Malformed("expected a key or value"));
        }
        // The input was UTF-8 and only ASCII escapes were removed, so this cannot fail.
        String::from_utf8(out).map(|s| (s, quoted)).map_err(|_| ValueErrorKind::InvalidUtf8)
    }
}

/// `hstore_send`: `int4` pair count, then per pair a length-prefixed key and a length-prefixed
/// value (length -1 for NULL).
pub(super) fn hstore_binary(bytes: &[u8]) -> Result<Value> {
    let mut c = Cursor::new(bytes);
    let count = usize::try_from(c.i32()?).map_err(|_| ValueErrorKind::Malformed("negative pair count"))?;
    // Each pair takes at least eight bytes; never trust the count for the allocation.
    let mut pairs = Vec::with_capacity(count.min(c.remaining() / 8));
    for _ in 0..count {
        let key = c.len_prefixed()?.ok_or(ValueErrorKind::Malformed("NULL key"))?;
        let value = c.len_prefixed()?;
        pairs.push((utf8(key)?.to_owned(), value.map(utf8).transpose()?.map(str::to_owned)));
    }
    c.finish()?;
    Ok(Value::Hstore(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, Option<&str>)]) -> Value {
        Value::Hstore(v.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string))).collect())
    }

    #[test]
    fn text_with_escapes_nulls_and_bare_words() {
        assert_eq!(hstore_text(br#""a"=>"1", "b"=>NULL"#), Ok(pairs(&[("a", Some("1")), ("b", None)])));
        assert_eq!(
            hstore_text(br#""q\"uote"=>"back\\slash", "n"=>"NULL""#),
            Ok(pairs(&[("q\"uote", Some("back\\slash")), ("n", Some("NULL"))]))
        );
        assert_eq!(hstore_text(b"a=>1,b => null"), Ok(pairs(&[("a", Some("1")), ("b", None)])));
        assert_eq!(hstore_text(br#""" => "", "=>"=>",""#), Ok(pairs(&[("", Some("")), ("=>", Some(","))])));
        assert_eq!(hstore_text(b""), Ok(pairs(&[])));
        assert_eq!(hstore_text(b"  "), Ok(pairs(&[])));
        for bad in [&br#""a"=>"#[..], br#""a""#, br#""a"=>"1" "b"=>"2""#, br#""a=>"1""#, b"a=>1,", b"\"a\\"] {
            assert!(hstore_text(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn binary_pairs_with_null_values() {
        let mut b = 2i32.to_be_bytes().to_vec();
        for (k, v) in [("a", Some("1")), ("b", None)] {
            b.extend((k.len() as i32).to_be_bytes());
            b.extend(k.as_bytes());
            match v {
                Some(v) => {
                    b.extend((v.len() as i32).to_be_bytes());
                    b.extend(v.as_bytes());
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
        assert_eq!(hstore_binary(&b), Ok(pairs(&[("a", Some("1")), ("b", None)])));
        assert!(hstore_binary(&b[..b.len() - 1]).is_err());
        assert!(hstore_binary(&i32::MAX.to_be_bytes()).is_err());
    }
}
