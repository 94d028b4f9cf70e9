//! Polling with a deadline instead of fixed sleeps.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Calls `check` every 200 ms until it returns `Ok(Some(_))`, for at most `timeout`. `Ok(None)`
/// and `Err` both mean "not yet"; the last error is part of the timeout's message.
pub(crate) async fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut last = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if start.elapsed() > timeout {
            match last {
                Some(e) => bail!("timed out after {timeout:?} waiting for {what}; last: {e:#}"),
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
