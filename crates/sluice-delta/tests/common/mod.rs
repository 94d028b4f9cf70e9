//! Shared helpers of the sluice-delta integration tests.

#![allow(dead_code)]

pub(crate) mod reader;
pub(crate) mod source;
