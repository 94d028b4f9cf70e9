//! Fuzzes the pgoutput decoder: arbitrary bytes, decoded under every protocol version, in and out
//! of a streamed chunk, must give a message or an error, never a panic, hang or huge allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_postgres::pgoutput::{DecodeContext, MessageType, decode};

fuzz_target!(|data: &[u8]| {
    for protocol_version in 1..=4 {
        for in_stream in [false, true] {
            match decode(data, DecodeContext { protocol_version, in_stream }) {
                Ok(message) => {
                    let kind = message.message_type();
                    assert_eq!(data.first(), Some(&kind.tag()));
                    assert!(kind.min_protocol_version() <= protocol_version);
                }
                Err(error) => {
                    assert!(error.offset <= data.len(), "{error}");
                    if error.message.is_none() {
                        assert!(data.first().and_then(|&t| MessageType::from_tag(t)).is_none());
                    }
                    assert!(!error.to_string().is_empty());
                }
            }
        }
    }
});
