//! Named tasks.
//!
//! Every long-running task in sluice is spawned through [`spawn_named`], so logs say which task
//! did what and a panic or exit is attributed. Cancellation is by `CancellationToken`, passed in
//! by the caller; this module only names and reports.

use std::future::Future;

use tokio::task::JoinHandle;
use tracing::Instrument;

/// Spawns `future` on the current runtime inside a tracing span named `task` = `name`.
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let name = name.into();
    let span = tracing::info_span!("task", name = %name);
    tokio::spawn(
        async move {
            tracing::debug!("task started");
            let out = future.await;
            tracing::debug!("task finished");
            out
        }
        .instrument(span),
    )
}
