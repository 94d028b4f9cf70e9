//! Why a pgoutput message could not be decoded, precisely enough to find the byte in a hex dump.

use std::fmt;

use super::MessageType;

/// A pgoutput message did not follow the format.
///
/// Carries the message type (when the tag was recognised), the field, the byte offset where the
/// field starts (0 is the tag), and for repeated items which one, so a report such as
/// "pgoutput Update message: truncated new tuple column value at byte 57 (column 3 of 5)" can be
/// checked against a capture of the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The message being decoded; `None` when the tag itself is missing or unknown.
    pub message: Option<MessageType>,
    /// The field that failed, e.g. `"commit LSN"` or `"new tuple column value"`.
    pub field: &'static str,
    /// Offset in the message of the start of that field.
    pub offset: usize,
    /// Which of a repeated item (column, relation) failed.
    pub position: Option<ItemPosition>,
    /// What is wrong with the field.
    pub kind: DecodeErrorKind,
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The message ends before the field does.
    Truncated,
    /// A string has no terminating NUL byte.
    Unterminated,
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A length is negative.
    NegativeLength(i32),
    /// A one-byte code or flag set has a value the protocol does not define.
    UnknownCode(u8),
    /// The message tag is not a pgoutput message.
    UnknownTag(u8),
    /// A timestamp is too far from the epoch to convert to Unix microseconds.
    TimestampOutOfRange(i64),
    /// The message needs a newer protocol version than the one negotiated.
    ProtocolVersion {
        /// The lowest version that has the message.
        required: u32,
        /// The version the decoder was told is in use.
        negotiated: u32,
    },
    /// Bytes remain after the last field.
    TrailingBytes(usize),
}

/// The 1-based index of a repeated item within its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemPosition {
    /// What is repeated: `"column"` or `"relation"`.
    pub item: &'static str,
    /// 1-based index of the failing item.
    pub index: u32,
    /// How many items the message announced.
    pub count: u32,
}

impl DecodeError {
    pub(super) fn new(
        message: Option<MessageType>,
        field: &'static str,
        offset: usize,
        kind: DecodeErrorKind,
    ) -> Self {
        DecodeError { message, field, offset, position: None, kind }
    }

    /// Records which repeated item failed, unless a more specific position is already known.
    pub(super) fn at(mut self, item: &'static str, index: u32, count: u32) -> Self {
        self.position.get_or_insert(ItemPosition { item, index, count });
        self
    }
}

/// A byte, with its character when that helps reading tags and codes.
struct Code(u8);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "{:#04x} ('{}')", self.0, char::from(self.0))
        } else {
            write!(f, "{:#04x}", self.0)
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message {
            Some(message) => write!(f, "pgoutput {message} message: ")?,
            None => f.write_str("pgoutput message: ")?,
        }
        let field = self.field;
        match self.kind {
            DecodeErrorKind::Truncated => write!(f, "truncated {field}")?,
            DecodeErrorKind::Unterminated => write!(f, "{field} has no terminating NUL byte")?,
            DecodeErrorKind::InvalidUtf8 => write!(f, "invalid UTF-8 in {field}")?,
            DecodeErrorKind::NegativeLength(len) => write!(f, "negative {field} {len}")?,
            DecodeErrorKind::UnknownCode(code) => write!(f, "unknown {field} {}", Code(code))?,
            DecodeErrorKind::UnknownTag(tag) => write!(f, "unknown message tag {}", Code(tag))?,
            DecodeErrorKind::TimestampOutOfRange(raw) => write!(f, "{field} {raw} out of range")?,
            DecodeErrorKind::ProtocolVersion { required, negotiated } => write!(
                f,
                "needs protocol version {required} or later but version {negotiated} was negotiated"
            )?,
            DecodeErrorKind::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the last field")?,
        }
        write!(f, " at byte {}", self.offset)?;
        if let Some(ItemPosition { item, index, count }) = self.position {
            write!(f, " ({item} {index} of {count})")?;
        }
        Ok(())
    }
}
