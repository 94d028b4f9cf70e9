//! Value decoding checked against what a real server sends, in text and binary form.
