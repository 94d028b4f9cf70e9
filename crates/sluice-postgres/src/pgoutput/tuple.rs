//! Row images (`TupleData`): the column values of Insert, Update and Delete messages.
//!
//! Tuples are decoded eagerly into a `Vec` rather than exposed as a lazy iterator: the whole
//! message must be walked anyway to find its end (and reject trailing bytes), and an eager
//! decode reports every malformed column at [`super::decode`] time, with its offset, instead of
//! later in the middle of value conversion.

use super::decode::Cursor;
use super::error::DecodeError;

/// The old row of an Update or Delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple<'a> {
    /// `K`: only the replica identity's key columns are set; the others are [`TupleColumn::Null`].
    Key(TupleData<'a>),
    /// `O`: the whole old row (`REPLICA IDENTITY FULL`).
    Full(TupleData<'a>),
}

impl<'a> OldTuple<'a> {
    /// The row image, whichever kind it is.
    pub fn tuple(&self) -> &TupleData<'a> {
        match self {
            OldTuple::Key(t) | OldTuple::Full(t) => t,
        }
    }
}

/// One row image, its columns in the order of the table's latest Relation message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TupleData<'a> {
    /// The column values.
    pub columns: Vec<TupleColumn<'a>>,
}

/// One column value of a row image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleColumn<'a> {
    /// `n`: SQL NULL.
    Null,
    /// `u`: a TOASTed value the change did not touch, so the server did not send it.
    UnchangedToast,
    /// `t`: the value in the type's text output format.
    Text(&'a [u8]),
    /// `b`: the value in the type's binary send format (when `binary = true`).
    Binary(&'a [u8]),
}

/// Which row image of a message is being read, to name the failing field precisely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TupleSection {
    /// The `N` image.
    New,
    /// The `K` image.
    Key,
    /// The `O` image.
    Old,
}

/// Field names, static so errors stay allocation-free.
struct Fields {
    count: &'static str,
    kind: &'static str,
    length: &'static str,
    value: &'static str,
}

impl TupleSection {
    fn fields(self) -> Fields {
        match self {
            TupleSection::New => Fields {
                count: "new tuple column count",
                kind: "new tuple column kind",
                length: "new tuple column length",
                value: "new tuple column value",
            },
            TupleSection::Key => Fields {
                count: "key tuple column count",
                kind: "key tuple column kind",
                length: "key tuple column length",
                value: "key tuple column value",
            },
            TupleSection::Old => Fields {
                count: "old tuple column count",
                kind: "old tuple column kind",
                length: "old tuple column length",
                value: "old tuple column value",
            },
        }
    }
}

/// Reads a TupleData: an Int16 column count, then per column a kind byte and, for `t` and `b`,
/// an Int32 length and the bytes.
pub(super) fn read_tuple<'a>(
    cursor: &mut Cursor<'a>,
    section: TupleSection,
) -> Result<TupleData<'a>, DecodeError> {
    let fields = section.fields();
    let count = cursor.u16(fields.count)?;
    // Every column takes at least one byte, so this bounds the allocation by the input size,
    // not by the announced count.
    let mut columns = Vec::with_capacity(usize::from(count).min(cursor.remaining()));
    for index in 1..=count {
        let column =
            read_column(cursor, &fields).map_err(|e| e.at("column", u32::from(index), u32::from(count)))?;
        columns.push(column);
    }
    Ok(TupleData { columns })
}

fn read_column<'a>(cursor: &mut Cursor<'a>, fields: &Fields) -> Result<TupleColumn<'a>, DecodeError> {
    let kind_offset = cursor.offset();
    Ok(match cursor.u8(fields.kind)? {
        b'n' => TupleColumn::Null,
        b'u' => TupleColumn::UnchangedToast,
        b't' => TupleColumn::Text(cursor.counted_bytes(fields.length, fields.value)?),
        b'b' => TupleColumn::Binary(cursor.counted_bytes(fields.length, fields.value)?),
        other => return Err(cursor.unknown_code(fields.kind, kind_offset, other)),
    })
}
