//! Decoding PostgreSQL datums (text and binary forms) into typed values.
