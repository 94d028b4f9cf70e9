//! Fuzzes the binary COPY parser the snapshot reads tables with: arbitrary bytes, fed whole and
//! cut into pieces the way CopyData messages arrive. Parsing may fail; it must not panic, and a
//! tuple's field ranges must lie inside the buffer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_postgres::copy::{CopyParser, Parsed};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else { return };
    let piece = usize::from(piece).max(1);
    let mut parser = CopyParser::new();
    let mut buf = Vec::new();
    let mut fields = Vec::new();
    for chunk in stream.chunks(piece) {
        buf.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            match parser.next_tuple(&buf, at, &mut fields) {
                Ok(Parsed::Tuple { end }) => {
                    assert!(end > at && end <= buf.len());
                    for range in fields.iter().flatten() {
                        assert!(range.start <= range.end && range.end <= end);
                    }
                    at = end;
                }
                Ok(Parsed::NeedMore { consumed }) => {
                    at = consumed;
                    break;
                }
                Ok(Parsed::End { end }) => {
                    at = end;
                    break;
                }
                Err(_) => return,
            }
        }
        buf.drain(..at);
    }
});
