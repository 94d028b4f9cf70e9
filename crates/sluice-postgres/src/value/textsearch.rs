//! Full-text search types, kept as text. Their binary forms are rendered the way `tsvectorout` and
//! `tsqueryout` print them.

use std::fmt::Write as _;

use super::ValueErrorKind;
use super::cursor::Cursor;
use super::scalar::utf8;

type Result<T> = std::result::Result<T, ValueErrorKind>;

/// A quoted lexeme or operand: `'` and `\` are doubled.
fn lexeme(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// `tsvectorsend`: lexeme count, then per lexeme a NUL-terminated string, a position count and the
/// positions (low 14 bits position, high 2 bits weight D..A). Printed as `'lex':1A,2 'next'`.
pub(super) fn tsvector_binary(bytes: &[u8]) -> Result<String> {
    let mut c = Cursor::new(bytes);
    let count = usize::try_from(c.i32()?).map_err(|_| ValueErrorKind::Malformed("negative lexeme count"))?;
    let mut out = String::with_capacity(bytes.len() * 2);
    for i in 0..count {
        if i > 0 {
            out.push(' ');
        }
        lexeme(&mut out, utf8(c.c_string()?)?);
        let npos = c.u16()?;
        for j in 0..npos {
            out.push(if j == 0 { ':' } else { ',' });
            let p = c.u16()?;
            let _ = write!(out, "{}", p & 0x3FFF);
            match p >> 14 {
                3 => out.push('A'),
                2 => out.push('B'),
                1 => out.push('C'),
                _ => {}
            }
        }
    }
    c.finish()?;
    Ok(out)
}

const QI_VAL: u8 = 1;
const QI_OPR: u8 = 2;
const OP_NOT: u8 = 1;
const OP_AND: u8 = 2;
const OP_OR: u8 = 3;
const OP_PHRASE: u8 = 4;
/// Deeper queries are rejected rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 1000;

/// One item of a query in the wire's prefix order (an operator, then its right operand, then its
/// left operand).
enum Item<'a> {
    Operand { text: &'a str, weight: u8, prefix: bool },
    Operator { op: u8, distance: i16 },
}

/// `tsquerysend`: item count, then items in prefix order. Rendered in infix form with the minimal
/// parentheses `tsqueryout` uses: `'a' & ( 'b' | !'c' ) <-> 'd':*AB`.
pub(super) fn tsquery_binary(bytes: &[u8]) -> Result<String> {
    let mut c = Cursor::new(bytes);
    let count = usize::try_from(c.i32()?).map_err(|_| ValueErrorKind::Malformed("negative item count"))?;
    // Every item takes at least two bytes.
    let mut items = Vec::with_capacity(count.min(c.remaining() / 2));
    for _ in 0..count {
        items.push(match c.u8()? {
            QI_VAL => {
                let weight = c.u8()?;
                let prefix = c.u8()? != 0;
                Item::Operand { text: utf8(c.c_string()?)?, weight, prefix }
            }
            QI_OPR => {
                let op = c.u8()?;
                let distance = match op {
                    OP_PHRASE => c.i16()?,
                    OP_NOT | OP_AND | OP_OR => 0,
                    _ => return Err(ValueErrorKind::Malformed("unknown operator")),
                };
                Item::Operator { op, distance }
            }
            _ => return Err(ValueErrorKind::Malformed("unknown item type")),
        });
    }
    c.finish()?;
    let mut out = String::with_capacity(bytes.len() * 2);
    if items.is_empty() {
        return Ok(out);
    }
    let mut next = 0;
    infix(&items, &mut next, &mut out, -1, false, 0)?;
    if next != items.len() {
        return Err(ValueErrorKind::Malformed("items left over after the query"));
    }
    Ok(out)
}

/// Binding strength as the server ranks operators.
fn priority(op: u8) -> i32 {
    match op {
        OP_NOT => 4,
        OP_PHRASE => 3,
        OP_AND => 2,
        _ => 1,
    }
}

fn infix(
    items: &[Item<'_>],
    next: &mut usize,
    out: &mut String,
    parent_priority: i32,
    right_of_phrase: bool,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(ValueErrorKind::OutOfRange("query nesting depth"));
    }
    let item = items.get(*next).ok_or(ValueErrorKind::Malformed("operator without operands"))?;
    *next += 1;
    match *item {
        Item::Operand { text, weight, prefix } => {
            lexeme(out, text);
            if weight != 0 || prefix {
                out.push(':');
                if prefix {
                    out.push('*');
                }
                for (bit, name) in [(8, 'A'), (4, 'B'), (2, 'C'), (1, 'D')] {
                    if weight & bit != 0 {
                        out.push(name);
                    }
                }
            }
        }
        Item::Operator { op: OP_NOT, .. } => {
            let p = priority(OP_NOT);
            let parens = p < parent_priority;
            if parens {
                out.push_str("( ");
            }
            out.push('!');
            infix(items, next, out, p, false, depth + 1)?;
            if parens {
                out.push_str(" )");
            }
        }
        Item::Operator { op, distance } => {
            let p = priority(op);
            let parens = p < parent_priority || (op == OP_PHRASE && right_of_phrase);
            if parens {
                out.push_str("( ");
            }
            // The right operand comes first on the wire but prints last.
            let mut right = String::new();
            infix(items, next, &mut right, p, op == OP_PHRASE, depth + 1)?;
            infix(items, next, out, p, false, depth + 1)?;
            match op {
                OP_OR => out.push_str(" | "),
                OP_AND => out.push_str(" & "),
                _ if distance == 1 => out.push_str(" <-> "),
                _ => {
                    let _ = write!(out, " <{distance}> ");
                }
            }
            out.push_str(&right);
            if parens {
                out.push_str(" )");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operand(out: &mut Vec<u8>, text: &str, weight: u8, prefix: bool) {
        out.extend([QI_VAL, weight, u8::from(prefix)]);
        out.extend(text.as_bytes());
        out.push(0);
    }

    fn query(build: impl FnOnce(&mut Vec<u8>), count: i32) -> Result<String> {
        let mut b = count.to_be_bytes().to_vec();
        build(&mut b);
        tsquery_binary(&b)
    }

    #[test]
    fn tsvector_renders_positions_and_weights() {
        let mut b = 2i32.to_be_bytes().to_vec();
        b.extend(b"a'b\0");
        b.extend(2u16.to_be_bytes());
        b.extend((1u16 | 3 << 14).to_be_bytes());
        b.extend(2u16.to_be_bytes());
        b.extend(b"cat\0");
        b.extend(0u16.to_be_bytes());
        assert_eq!(tsvector_binary(&b).unwrap(), "'a''b':1A,2 'cat'");
        assert_eq!(tsvector_binary(&0i32.to_be_bytes()).unwrap(), "");
        assert!(tsvector_binary(&b[..b.len() - 1]).is_err());
        assert!(tsvector_binary(&[0, 0, 0, 1, b'a']).is_err());
        assert!(tsvector_binary(&i32::MAX.to_be_bytes()).is_err());
        assert!(tsquery_binary(&i32::MAX.to_be_bytes()).is_err());
    }

    #[test]
    fn tsquery_renders_infix_with_minimal_parentheses() {
        // 'a' & ( 'b' | 'c' ): AND, right = OR(right c, left b), left a.
        let q = query(
            |b| {
                b.extend([QI_OPR, OP_AND, QI_OPR, OP_OR]);
                operand(b, "c", 0, false);
                operand(b, "b", 0, false);
                operand(b, "a", 0, false);
            },
            5,
        );
        assert_eq!(q.unwrap(), "'a' & ( 'b' | 'c' )");
        let q = query(
            |b| {
                b.extend([QI_OPR, OP_PHRASE]);
                b.extend(2i16.to_be_bytes());
                b.extend([QI_OPR, OP_NOT]);
                operand(b, "x", 8 | 4, true);
                operand(b, "y", 0, false);
            },
            4,
        );
        assert_eq!(q.unwrap(), "'y' <2> !'x':*AB");
        assert_eq!(query(|_| {}, 0).unwrap(), "");
    }

    #[test]
    fn tsquery_rejects_bad_structure_and_deep_nesting() {
        assert!(query(|b| b.extend([QI_OPR, OP_AND]), 1).is_err());
        assert!(query(|b| b.extend([QI_OPR, 9]), 1).is_err());
        let extra = query(
            |b| {
                operand(b, "a", 0, false);
                operand(b, "b", 0, false);
            },
            2,
        );
        assert!(extra.is_err());
        let deep = query(
            |b| {
                for _ in 0..5000 {
                    b.extend([QI_OPR, OP_NOT]);
                }
                operand(b, "a", 0, false);
            },
            5001,
        );
        assert_eq!(deep, Err(ValueErrorKind::OutOfRange("query nesting depth")));
    }
}
