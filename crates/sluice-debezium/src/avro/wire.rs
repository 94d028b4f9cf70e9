//! The Confluent wire format: magic byte `0`, the schema id as a 4-byte big-endian integer, then
//! the Avro binary body.

use crate::error::DebeziumError;

/// The first byte of every Confluent-framed message.
pub const MAGIC_BYTE: u8 = 0;

/// Appends the framed message (header and `avro_body`) to `out`.
pub fn frame(schema_id: u32, avro_body: &[u8], out: &mut Vec<u8>) {
    out.reserve(5 + avro_body.len());
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(avro_body);
}

/// Splits a framed message into its schema id and Avro body.
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), DebeziumError> {
    match bytes {
        [MAGIC_BYTE, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [MAGIC_BYTE, ..] => Err(DebeziumError::SchemaMismatch(format!(
            "Confluent wire format: {} bytes is shorter than the 5-byte header",
            bytes.len()
        ))),
        [magic, ..] => Err(DebeziumError::SchemaMismatch(format!(
            "Confluent wire format: unknown magic byte {magic:#04x}"
        ))),
        [] => Err(DebeziumError::SchemaMismatch("Confluent wire format: empty message".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vector_from_the_live_capture() {
        // Key {"id":1} registered as schema id 2: 00 00000002 02 (int 1, zig-zag).
        let mut out = Vec::new();
        frame(2, &[0x02], &mut out);
        assert_eq!(out, [0x00, 0x00, 0x00, 0x00, 0x02, 0x02]);
        assert_eq!(unframe(&out).unwrap(), (2, &[0x02][..]));
    }

    #[test]
    fn rejects_bad_frames() {
        assert!(unframe(&[]).is_err());
        assert!(unframe(&[0, 0, 0]).is_err());
        assert!(unframe(&[1, 0, 0, 0, 2, 2]).is_err());
        assert_eq!(unframe(&[0, 0xff, 0xff, 0xff, 0xff]).unwrap(), (u32::MAX, &[][..]));
    }
}
