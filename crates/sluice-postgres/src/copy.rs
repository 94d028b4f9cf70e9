//! PostgreSQL's binary COPY format, as the snapshot reads tables with
//! `COPY (SELECT ...) TO STDOUT (FORMAT binary)`.
//!
//! Binary rather than text because it is cheaper on both ends: the server skips every column's
//! output function (a `timestamptz` or `numeric` is formatted as text at some cost) and sluice skips
//! parsing that text back. The stream is an 11-byte signature, a flags word, a header extension,
//! then one tuple after another (a 16-bit field count, then per field a 32-bit length, `-1` for
//! NULL, and that many bytes) and a trailer (a field count of `-1`). The server sends one tuple per
//! CopyData message, but nothing in the protocol promises that, so [`CopyParser`] accepts the
//! stream cut anywhere and keeps what it cannot use yet.
//!
//! The parser never panics on bad bytes: a malformed stream is an error naming what was wrong.

use std::ops::Range;

/// The binary COPY signature: `PGCOPY\n\xff\r\n\0`.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Bit 16 of the flags word: OIDs follow in each tuple (never asked for here).
const FLAG_OIDS: u32 = 1 << 16;

/// What [`CopyParser::next_tuple`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole tuple: its fields' byte ranges in the buffer passed in (`None` for NULL), placed in
    /// the caller's vector; the tuple ends at the returned offset.
    Tuple {
        /// Offset just past the tuple.
        end: usize,
    },
    /// The bytes from the returned offset on hold no whole tuple yet.
    NeedMore {
        /// Offset of the first byte not consumed.
        consumed: usize,
    },
    /// The trailer: the stream is complete.
    End {
        /// Offset just past the trailer.
        end: usize,
    },
}

/// A malformed binary COPY stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("binary COPY stream: {0}")]
pub struct CopyFormatError(pub String);

/// Splits a binary COPY stream into tuples, across arbitrary message boundaries.
#[derive(Debug, Default)]
pub struct CopyParser {
    header_done: bool,
    ended: bool,
}

impl CopyParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the trailer has been seen.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Parses the next tuple of `buf[from..]`. On [`Parsed::Tuple`], `fields` holds one entry per
    /// field: the range of its bytes in `buf`, or `None` for NULL.
    pub fn next_tuple(
        &mut self,
        buf: &[u8],
        from: usize,
        fields: &mut Vec<Option<Range<usize>>>,
    ) -> Result<Parsed, CopyFormatError> {
        let mut at = from;
        if self.ended {
            return if at == buf.len() {
                Ok(Parsed::End { end: at })
            } else {
                Err(CopyFormatError(format!("{} bytes after the trailer", buf.len() - at)))
            };
        }
        if !self.header_done {
            let Some(fixed) = buf.get(at..at + SIGNATURE.len() + 8) else {
                return Ok(Parsed::NeedMore { consumed: at });
            };
            if &fixed[..SIGNATURE.len()] != SIGNATURE {
                return Err(CopyFormatError("the stream does not start with the PGCOPY signature".into()));
            }
            let flags = u32::from_be_bytes(word(&fixed[11..15]));
            if flags & FLAG_OIDS != 0 {
                return Err(CopyFormatError("tuples carry OIDs, which were not asked for".into()));
            }
            let extension = u32::from_be_bytes(word(&fixed[15..19])) as usize;
            let header_len = SIGNATURE.len() + 8 + extension;
            if buf.len() - at < header_len {
                return Ok(Parsed::NeedMore { consumed: at });
            }
            at += header_len;
            self.header_done = true;
        }
        let Some(count) = buf.get(at..at + 2) else {
            return Ok(Parsed::NeedMore { consumed: at });
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            self.ended = true;
            return Ok(Parsed::End { end: at + 2 });
        }
        if count < 0 {
            return Err(CopyFormatError(format!("a tuple with {count} fields")));
        }
        let mut pos = at + 2;
        fields.clear();
        for _ in 0..count {
            let Some(len) = buf.get(pos..pos + 4) else {
                return Ok(Parsed::NeedMore { consumed: at });
            };
            let len = i32::from_be_bytes(word(len));
            pos += 4;
            if len == -1 {
                fields.push(None);
                continue;
            }
            let Ok(len) = usize::try_from(len) else {
                return Err(CopyFormatError(format!("a field of length {len}")));
            };
            if buf.len() - pos < len {
                return Ok(Parsed::NeedMore { consumed: at });
            }
            fields.push(Some(pos..pos + len));
            pos += len;
        }
        Ok(Parsed::Tuple { end: pos })
    }
}

impl CopyParser {
    /// Hands every whole tuple of `buf` to `each` (the buffer and its fields' ranges), checks that
    /// nothing follows the trailer, and returns how many bytes were consumed: the rest starts a
    /// tuple the next message completes.
    pub fn tuples<E: From<CopyFormatError>>(
        &mut self,
        buf: &[u8],
        fields: &mut Vec<Option<Range<usize>>>,
        mut each: impl FnMut(&[u8], &[Option<Range<usize>>]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut at = 0;
        loop {
            match self.next_tuple(buf, at, fields)? {
                Parsed::Tuple { end } => {
                    each(buf, fields)?;
                    at = end;
                }
                Parsed::NeedMore { consumed } => return Ok(consumed),
                Parsed::End { end } => {
                    if end < buf.len() {
                        self.next_tuple(buf, end, fields)?;
                    }
                    return Ok(end);
                }
            }
        }
    }
}

fn word(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out
    }

    fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    /// The tuples' fields (`None` for NULL).
    type Tuples = Vec<Vec<Option<Vec<u8>>>>;

    /// Feeds `stream` in pieces of `piece` bytes, the way messages arrive, and collects tuples.
    fn parse_in_pieces(stream: &[u8], piece: usize) -> Result<(Tuples, bool), CopyFormatError> {
        let mut parser = CopyParser::new();
        let mut buf = Vec::new();
        let mut tuples = Vec::new();
        let mut fields = Vec::new();
        for chunk in stream.chunks(piece.max(1)) {
            buf.extend_from_slice(chunk);
            let consumed = parser.tuples(&buf, &mut fields, |bytes, fields| {
                tuples.push(fields.iter().map(|f| f.clone().map(|r| bytes[r].to_vec())).collect());
                Ok::<_, CopyFormatError>(())
            })?;
            buf.drain(..consumed);
        }
        Ok((tuples, parser.ended() && buf.is_empty()))
    }

    #[test]
    fn tuples_split_anywhere_come_out_whole() {
        let mut stream = header();
        stream.extend(tuple(&[Some(b"\0\0\0\x01"), None, Some(b"")]));
        stream.extend(tuple(&[Some(b"abc"), Some(b"\x7f")]));
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        let expected = vec![
            vec![Some(vec![0, 0, 0, 1]), None, Some(vec![])],
            vec![Some(b"abc".to_vec()), Some(vec![0x7f])],
        ];
        for piece in 1..=stream.len() {
            assert_eq!(
                parse_in_pieces(&stream, piece).unwrap(),
                (expected.clone(), true),
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_header_extension_is_skipped() {
        let mut stream = SIGNATURE.to_vec();
        stream.extend_from_slice(&0u32.to_be_bytes());
        stream.extend_from_slice(&3u32.to_be_bytes());
        stream.extend_from_slice(b"xyz");
        stream.extend(tuple(&[Some(b"q")]));
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(parse_in_pieces(&stream, 2).unwrap(), (vec![vec![Some(b"q".to_vec())]], true));
    }

    #[test]
    fn malformed_streams_are_errors() {
        assert!(parse_in_pieces(b"PGCOPY\n\xff\r\n\x01\0\0\0\0\0\0\0\0", 64).is_err(), "bad signature");
        let mut oids = SIGNATURE.to_vec();
        oids.extend_from_slice(&FLAG_OIDS.to_be_bytes());
        oids.extend_from_slice(&0u32.to_be_bytes());
        assert!(parse_in_pieces(&oids, 64).is_err(), "OIDs");
        let mut negative = header();
        negative.extend_from_slice(&(-2i16).to_be_bytes());
        assert!(parse_in_pieces(&negative, 64).is_err(), "negative field count");
        let mut bad_len = header();
        bad_len.extend_from_slice(&1i16.to_be_bytes());
        bad_len.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(parse_in_pieces(&bad_len, 64).is_err(), "negative length");
        let mut trailing = header();
        trailing.extend_from_slice(&(-1i16).to_be_bytes());
        trailing.push(0);
        assert!(parse_in_pieces(&trailing, 64).is_err(), "bytes after the trailer");
    }

    #[test]
    fn a_truncated_stream_is_not_complete() {
        let mut stream = header();
        stream.extend(tuple(&[Some(b"abc")]));
        stream.truncate(stream.len() - 1);
        let (tuples, complete) = parse_in_pieces(&stream, 5).unwrap();
        assert!(tuples.is_empty());
        assert!(!complete);
    }
}
