//! Error classification shared by all crates.
//!
//! Each crate has its own error enum; supervisors only need to know whether retrying can help.

/// Whether an error may go away by itself (network blip, server restart) or needs a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retrying later, with backoff, may succeed.
    Retryable,
    /// Retrying will fail the same way; the configuration or the data must change first.
    Definite,
}

impl ErrorClass {
    /// True for [`ErrorClass::Retryable`].
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Retryable)
    }
}
