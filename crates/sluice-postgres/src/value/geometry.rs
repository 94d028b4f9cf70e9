//! Geometric types. `point` has a structured value; the others stay in their text form, so their
//! binary forms (sequences of `float8`) are rendered the way the server prints them.

use sluice_core::{TypeKind, Value};

use super::ValueErrorKind;
use super::cursor::Cursor;
use super::output::float8;
use super::scalar::utf8;

type Result<T> = std::result::Result<T, ValueErrorKind>;

/// `(x,y)`.
pub(super) fn point_text(text: &[u8]) -> Result<Value> {
    let malformed = ValueErrorKind::Malformed("expected (x,y)");
    let inner =
        utf8(text)?.trim().strip_prefix('(').and_then(|s| s.strip_suffix(')')).ok_or(malformed.clone())?;
    let (x, y) = inner.split_once(',').ok_or(malformed.clone())?;
    let coord = |s: &str| s.trim().parse::<f64>().map_err(|_| malformed.clone());
    Ok(Value::Point { x: coord(x)?, y: coord(y)? })
}

pub(super) fn point_binary(bytes: &[u8]) -> Result<Value> {
    let mut c = Cursor::new(bytes);
    let (x, y) = (c.f64()?, c.f64()?);
    c.finish()?;
    Ok(Value::Point { x, y })
}

fn point(out: &mut String, c: &mut Cursor<'_>) -> Result<()> {
    let (x, y) = (c.f64()?, c.f64()?);
    out.push('(');
    float8(out, x);
    out.push(',');
    float8(out, y);
    out.push(')');
    Ok(())
}

/// `n` points separated by commas.
fn points(out: &mut String, c: &mut Cursor<'_>, n: usize) -> Result<()> {
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        point(out, c)?;
    }
    Ok(())
}

/// A point count, checked against the bytes left so a bad count cannot force a huge allocation.
fn point_count(c: &mut Cursor<'_>) -> Result<usize> {
    let n = usize::try_from(c.i32()?).map_err(|_| ValueErrorKind::Malformed("negative point count"))?;
    if n.checked_mul(16) != Some(c.remaining()) {
        return Err(ValueErrorKind::Malformed("point count does not match the datum's size"));
    }
    Ok(n)
}

/// Renders `line` `{A,B,C}`, `lseg` `[(x1,y1),(x2,y2)]`, `box` `(x1,y1),(x2,y2)` (high corner
/// first), `path` `[(..),..]` open / `((..),..)` closed, `polygon` `((..),..)` and `circle`
/// `<(x,y),r>`.
pub(super) fn geometry_binary(kind: &TypeKind, bytes: &[u8]) -> Result<String> {
    let mut c = Cursor::new(bytes);
    let mut out = String::with_capacity(bytes.len() * 2);
    match kind {
        TypeKind::Line => {
            let (a, b, cc) = (c.f64()?, c.f64()?, c.f64()?);
            out.push('{');
            float8(&mut out, a);
            out.push(',');
            float8(&mut out, b);
            out.push(',');
            float8(&mut out, cc);
            out.push('}');
        }
        TypeKind::Lseg => {
            out.push('[');
            points(&mut out, &mut c, 2)?;
            out.push(']');
        }
        TypeKind::Box => points(&mut out, &mut c, 2)?,
        TypeKind::Path => {
            let closed = match c.u8()? {
                0 => false,
                1 => true,
                _ => return Err(ValueErrorKind::Malformed("invalid closed flag")),
            };
            let n = point_count(&mut c)?;
            out.push(if closed { '(' } else { '[' });
            points(&mut out, &mut c, n)?;
            out.push(if closed { ')' } else { ']' });
        }
        TypeKind::Polygon => {
            let n = point_count(&mut c)?;
            out.push('(');
            points(&mut out, &mut c, n)?;
            out.push(')');
        }
        TypeKind::Circle => {
            out.push('<');
            point(&mut out, &mut c)?;
            out.push(',');
            float8(&mut out, c.f64()?);
            out.push('>');
        }
        _ => return Err(ValueErrorKind::Unsupported("not a geometric type")),
    }
    c.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|f| f.to_be_bytes()).collect()
    }

    #[test]
    fn points_in_both_forms() {
        assert_eq!(point_text(b"(1,2)"), Ok(Value::Point { x: 1.0, y: 2.0 }));
        assert_eq!(point_text(b"(-1.5e-05,Infinity)"), Ok(Value::Point { x: -1.5e-5, y: f64::INFINITY }));
        assert_eq!(point_binary(&floats(&[1.0, 2.0])), Ok(Value::Point { x: 1.0, y: 2.0 }));
        for bad in [&b"1,2"[..], b"(1)", b"(1,2", b"(a,b)", b""] {
            assert!(point_text(bad).is_err(), "{bad:?}");
        }
        assert!(point_binary(&floats(&[1.0])).is_err());
    }

    #[test]
    fn binary_shapes_render_like_their_output_functions() {
        assert_eq!(geometry_binary(&TypeKind::Box, &floats(&[3.0, 4.0, 1.0, 2.0])).unwrap(), "(3,4),(1,2)");
        assert_eq!(geometry_binary(&TypeKind::Circle, &floats(&[10.0, 20.0, 10.0])).unwrap(), "<(10,20),10>");
        assert_eq!(geometry_binary(&TypeKind::Line, &floats(&[1.0, -1.0, 0.0])).unwrap(), "{1,-1,0}");
        assert_eq!(
            geometry_binary(&TypeKind::Lseg, &floats(&[1.0, 2.0, 3.0, 4.5])).unwrap(),
            "[(1,2),(3,4.5)]"
        );
        let mut path = vec![0u8];
        path.extend(2i32.to_be_bytes());
        path.extend(floats(&[1.0, 2.0, 3.0, 4.0]));
        assert_eq!(geometry_binary(&TypeKind::Path, &path).unwrap(), "[(1,2),(3,4)]");
        path[0] = 1;
        assert_eq!(geometry_binary(&TypeKind::Path, &path).unwrap(), "((1,2),(3,4))");
        path[0] = 2;
        assert!(geometry_binary(&TypeKind::Path, &path).is_err());
        let polygon = path[1..].to_vec();
        assert_eq!(geometry_binary(&TypeKind::Polygon, &polygon).unwrap(), "((1,2),(3,4))");
        let mut lying = polygon.clone();
        lying[3] = 9;
        assert!(geometry_binary(&TypeKind::Polygon, &lying).is_err());
        assert!(geometry_binary(&TypeKind::Circle, &floats(&[1.0, 2.0])).is_err());
        assert!(geometry_binary(&TypeKind::Box, &floats(&[1.0, 2.0, 3.0, 4.0, 5.0])).is_err());
    }
}
