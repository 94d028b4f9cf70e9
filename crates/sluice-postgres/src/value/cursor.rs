//! Bounds-checked reading of binary datums, so malformed input becomes an error, never a panic.

use super::ValueErrorKind;

/// Reads big-endian fields from the front of a binary datum.
#[derive(Debug, Clone)]
pub(super) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Cursor { rest: bytes }
    }

    /// Takes the next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], ValueErrorKind> {
        if n > self.rest.len() {
            return Err(ValueErrorKind::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ValueErrorKind> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, ValueErrorKind> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn i16(&mut self) -> Result<i16, ValueErrorKind> {
        self.array().map(i16::from_be_bytes)
    }

    pub(super) fn u16(&mut self) -> Result<u16, ValueErrorKind> {
        self.array().map(u16::from_be_bytes)
    }

    pub(super) fn i32(&mut self) -> Result<i32, ValueErrorKind> {
        self.array().map(i32::from_be_bytes)
    }

    pub(super) fn u32(&mut self) -> Result<u32, ValueErrorKind> {
        self.array().map(u32::from_be_bytes)
    }

    pub(super) fn i64(&mut self) -> Result<i64, ValueErrorKind> {
        self.array().map(i64::from_be_bytes)
    }

    pub(super) fn f64(&mut self) -> Result<f64, ValueErrorKind> {
        self.array().map(f64::from_be_bytes)
    }

    /// An `int4` length followed by that many bytes; length -1 is SQL NULL.
    pub(super) fn len_prefixed(&mut self) -> Result<Option<&'a [u8]>, ValueErrorKind> {
        match self.i32()? {
            -1 => Ok(None),
            n => {
                let n = usize::try_from(n).map_err(|_| ValueErrorKind::Malformed("negative length"))?;
                self.take(n).map(Some)
            }
        }
    }

    /// Bytes up to a NUL terminator, which is consumed.
    pub(super) fn c_string(&mut self) -> Result<&'a [u8], ValueErrorKind> {
        let end = self.rest.iter().position(|&b| b == 0).ok_or(ValueErrorKind::Truncated)?;
        let s = self.take(end)?;
        self.take(1)?;
        Ok(s)
    }

    pub(super) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails if anything is left unread.
    pub(super) fn finish(&self) -> Result<(), ValueErrorKind> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(ValueErrorKind::TrailingBytes(n)),
        }
    }
}

/// A fixed-size datum, checked for its exact size.
pub(super) fn exact<const N: usize>(bytes: &[u8]) -> Result<[u8; N], ValueErrorKind> {
    bytes.try_into().map_err(|_| ValueErrorKind::Length { expected: N, actual: bytes.len() })
}
