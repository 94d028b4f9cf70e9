//! The herder: every connector's lifecycle on this worker.
//!
//! Each connector runs as one task (`connector:<name>`) under its own cancellation token, so a
//! failing connector only fails itself: its error and causes become the task's FAILED trace,
//! and the others keep running. Changes (create, update, pause, resume, stop, delete) are written
//! to the config store first and applied after, one at a time, so what the store holds is what a
//! restarted worker rebuilds. Stopping a task waits for it to flush and confirm, up to the
//! shutdown deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::metrics::ConnectorMetrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connector::{Runnable, WorkerContext};
use crate::error::ConnectError;
use crate::plugin::{self, ConfigInfos, PluginInfo};
use crate::provider;
use crate::state::{
    ConnectorInfo, ConnectorOffset, ConnectorStateEntry, ConnectorStateInfo, ConnectorType, State,
    TargetState, TaskId, TaskInfo, TaskState,
};
use crate::store::{ConfigStore, StoredConnector};

/// The task class Debezium's PostgreSQL connector reports in task configs.
const POSTGRES_TASK_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnectorTask";
/// The Delta sink's task class.
const DELTA_SINK_TASK_CLASS: &str = "io.sluice.connect.delta.DeltaSinkTask";

/// Runs and tracks connectors. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Herder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ctx: WorkerContext,
    store: Arc<dyn ConfigStore>,
    connectors: Mutex<BTreeMap<String, Entry>>,
    /// One change at a time.
    ops: tokio::sync::Mutex<()>,
    /// How long a stopping task may take to flush and confirm.
    stop_timeout: Duration,
    /// Set once every stored connector has been started.
    started: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct Entry {
    config: BTreeMap<String, String>,
    plugin: PluginInfo,
    target: TargetState,
    /// The connector's own state: RUNNING, or FAILED when its config cannot start (trace).
    state: State,
    trace: Option<String>,
    runnable: Option<Runnable>,
    task: Option<Task>,
    metrics: Arc<ConnectorMetrics>,
    generation: u64,
}

#[derive(Debug)]
struct Task {
    state: State,
    trace: Option<String>,
    cancel: CancellationToken,
    handle: Option<JoinHandle<()>>,
    generation: u64,
}

/// One connector as the admin endpoint sees it.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    /// The name.
    pub name: String,
    /// The plugin.
    pub plugin: PluginInfo,
    /// The parsed config, when it parses.
    pub runnable: Option<Runnable>,
    /// Its status.
    pub status: ConnectorStateInfo,
    /// Its metrics.
    pub metrics: Arc<ConnectorMetrics>,
}

impl Herder {
    /// Opens the herder on `store` and starts every stored connector whose target is RUNNING.
    pub async fn open(
        ctx: WorkerContext,
        store: Arc<dyn ConfigStore>,
        stop_timeout: Duration,
    ) -> Result<Herder, ConnectError> {
        let herder = Herder {
            inner: Arc::new(Inner {
                ctx,
                store,
                connectors: Mutex::new(BTreeMap::new()),
                ops: tokio::sync::Mutex::new(()),
                stop_timeout,
                started: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        let stored = herder.inner.store.load().await?;
        for (name, connector) in stored {
            let plugin = match herder.inner.ctx.plugin_of(&connector.config) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(connector = %name, "stored connector cannot run: {e}");
                    continue;
                }
            };
            herder.insert(&name, connector.config, plugin, connector.target_state);
            herder.apply_target(&name).await;
        }
        herder.inner.started.store(true, std::sync::atomic::Ordering::Release);
        Ok(herder)
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.inner.ctx.worker_id
    }

    /// The worker context (for plugin listing and validation).
    pub fn context(&self) -> &WorkerContext {
        &self.inner.ctx
    }

    /// True once every stored connector has been started.
    pub fn started(&self) -> bool {
        self.inner.started.load(std::sync::atomic::Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.connectors.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, name: &str, config: BTreeMap<String, String>, plugin: PluginInfo, target: TargetState) {
        let mut map = self.lock();
        let metrics = map.get(name).map_or_else(Arc::default, |e| Arc::clone(&e.metrics));
        let generation = map.get(name).map_or(0, |e| e.generation + 1);
        let runnable = self.inner.ctx.parse(&plugin, &config).ok();
        map.insert(
            name.to_owned(),
            Entry {
                config,
                plugin,
                target,
                state: State::Unassigned,
                trace: None,
                runnable,
                task: None,
                metrics,
                generation,
            },
        );
    }

    /// Connector names, sorted.
    pub fn connectors(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// `GET /connectors/{name}`.
    pub fn info(&self, name: &str) -> Result<ConnectorInfo, ConnectError> {
        let map = self.lock();
        let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
        Ok(info_of(name, e))
    }

    /// `GET /connectors/{name}/config`, secrets masked.
    pub fn config(&self, name: &str) -> Result<BTreeMap<String, String>, ConnectError> {
        let map = self.lock();
        let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
        Ok(provider::mask(&e.config))
    }

    /// `GET /connectors/{name}/status`.
    pub fn status(&self, name: &str) -> Result<ConnectorStateInfo, ConnectError> {
        let map = self.lock();
        // Kafka Connect's wording for a status it has no record of.
        let e = map
            .get(name)
            .ok_or_else(|| ConnectError::NotFound(format!("No status found for connector {name}")))?;
        Ok(self.status_of(name, e))
    }

    /// `GET /connectors/{name}/tasks/{id}/status`.
    pub fn task_status(&self, name: &str, id: u32) -> Result<TaskState, ConnectError> {
        let missing = || ConnectError::NotFound(format!("No status found for task {name}-{id}"));
        self.status(name).map_err(|_| missing())?.tasks.into_iter().find(|t| t.id == id).ok_or_else(missing)
    }

    /// `GET /connectors/{name}/tasks`.
    pub fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>, ConnectError> {
        let map = self.lock();
        let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
        if e.target == TargetState::Stopped {
            return Ok(Vec::new());
        }
        let mut config = provider::mask(&e.config);
        let class =
            if e.plugin.kind == ConnectorType::Sink { DELTA_SINK_TASK_CLASS } else { POSTGRES_TASK_CLASS };
        config.insert("task.class".to_owned(), class.to_owned());
        Ok(vec![TaskInfo { id: TaskId { connector: name.to_owned(), task: 0 }, config }])
    }

    /// Every connector for the admin endpoint.
    pub fn views(&self) -> Vec<ConnectorView> {
        let map = self.lock();
        map.iter()
            .map(|(name, e)| ConnectorView {
                name: name.clone(),
                plugin: e.plugin,
                runnable: e.runnable.clone(),
                status: self.status_of(name, e),
                metrics: Arc::clone(&e.metrics),
            })
            .collect()
    }

    fn status_of(&self, name: &str, e: &Entry) -> ConnectorStateInfo {
        let worker_id = self.inner.ctx.worker_id.clone();
        // Kafka Connect 4.x reports the plugin's version with each state.
        let version = Some(e.plugin.version.to_owned());
        let (state, trace) = match e.target {
            TargetState::Stopped => (State::Stopped, None),
            TargetState::Paused => (State::Paused, None),
            TargetState::Running => (e.state, e.trace.clone()),
        };
        let tasks = match (&e.task, e.target) {
            (_, TargetState::Stopped) => Vec::new(),
            // A paused connector keeps its task (stopped underneath, so the slot is released).
            (_, TargetState::Paused) => {
                vec![TaskState {
                    id: 0,
                    state: State::Paused,
                    worker_id: worker_id.clone(),
                    trace: None,
                    version: version.clone(),
                }]
            }
            (None, TargetState::Running) => Vec::new(),
            (Some(t), TargetState::Running) => {
                vec![TaskState {
                    id: 0,
                    state: t.state,
                    worker_id: worker_id.clone(),
                    trace: t.trace.clone(),
                    version: version.clone(),
                }]
            }
        };
        ConnectorStateInfo {
            name: name.to_owned(),
            connector: ConnectorStateEntry { state, worker_id, trace, version },
            tasks,
            kind: e.plugin.kind,
        }
    }

    /// Validates a config for `plugin` (`PUT /connector-plugins/{plugin}/config/validate`).
    pub fn validate(&self, plugin: &PluginInfo, config: &BTreeMap<String, String>) -> ConfigInfos {
        self.inner.ctx.validate(plugin, config)
    }

    /// Creates or updates a connector. `create_only` refuses an existing name (POST); `initial`
    /// is the create request's `initial_state`. Returns whether it was created.
    pub async fn put(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
        create_only: bool,
        initial: Option<TargetState>,
    ) -> Result<(bool, ConnectorInfo), ConnectError> {
        check_name(name)?;
        let _op = self.inner.ops.lock().await;
        let existing = self.lock().get(name).map(|e| (e.config.clone(), e.target));
        if create_only && existing.is_some() {
            return Err(ConnectError::AlreadyExists(format!("Connector {name} already exists")));
        }
        provider::restore_hidden(&mut config, existing.as_ref().map(|(c, _)| c));
        let plugin = self.inner.ctx.plugin_of(&config)?;
        let infos = self.inner.ctx.validate(&plugin, &config);
        if infos.error_count > 0 {
            return Err(ConnectError::BadRequest(plugin::invalid_config_message(&infos)));
        }
        let target = existing.as_ref().map(|(_, t)| *t).or(initial).unwrap_or(TargetState::Running);
        self.inner.store.put(name, &StoredConnector { config: config.clone(), target_state: target }).await?;
        if existing.is_some() {
            self.stop_task(name).await;
        }
        self.insert(name, config, plugin, target);
        self.apply_target(name).await;
        tracing::info!(connector = %name, class = plugin.class, ?target, created = existing.is_none(), "connector config stored");
        Ok((existing.is_none(), self.info(name)?))
    }

    /// Deletes a connector (its offsets stay, as in Kafka Connect).
    pub async fn delete(&self, name: &str) -> Result<(), ConnectError> {
        let _op = self.inner.ops.lock().await;
        if !self.lock().contains_key(name) {
            return Err(ConnectError::connector_not_found(name));
        }
        self.inner.store.remove(name).await?;
        self.stop_task(name).await;
        self.lock().remove(name);
        tracing::info!(connector = %name, "connector deleted");
        Ok(())
    }

    /// Pause, resume (from paused or stopped) or stop.
    pub async fn set_target(&self, name: &str, target: TargetState) -> Result<(), ConnectError> {
        let _op = self.inner.ops.lock().await;
        let config = {
            let map = self.lock();
            let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
            if e.target == target {
                return Ok(());
            }
            e.config.clone()
        };
        self.inner.store.put(name, &StoredConnector { config, target_state: target }).await?;
        if let Some(e) = self.lock().get_mut(name) {
            e.target = target;
        }
        self.apply_target(name).await;
        tracing::info!(connector = %name, ?target, "connector target state changed");
        Ok(())
    }

    /// `POST /connectors/{name}/restart`. With neither flag, restarts the connector instance only
    /// (a connector that failed to start is started again) and returns `None`; otherwise returns
    /// the status with the restarting instances marked RESTARTING and restarts them.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<ConnectorStateInfo>, ConnectError> {
        let _op = self.inner.ops.lock().await;
        let (connector_failed, task_failed, running) = {
            let map = self.lock();
            let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
            let task_failed = e.task.as_ref().is_some_and(|t| t.state == State::Failed);
            (e.state == State::Failed, task_failed, e.target == TargetState::Running)
        };
        if !include_tasks && !only_failed {
            if connector_failed && running {
                self.stop_task(name).await;
                self.apply_target(name).await;
            }
            return Ok(None);
        }
        let restart_connector = !only_failed || connector_failed;
        let restart_task = include_tasks && (!only_failed || task_failed);
        let mut status = self.status(name)?;
        if !running || !(restart_connector || restart_task) {
            return Ok(Some(status));
        }
        if restart_connector {
            status.connector.state = State::Restarting;
        }
        if restart_task || restart_connector {
            for t in &mut status.tasks {
                if restart_task {
                    t.state = State::Restarting;
                }
            }
        }
        // A restarted connector instance restarts its one task with it: sluice's connector and
        // task are one pipeline.
        self.stop_task(name).await;
        self.apply_target(name).await;
        tracing::info!(connector = %name, include_tasks, only_failed, "connector restarted");
        Ok(Some(status))
    }

    /// `POST /connectors/{name}/tasks/{id}/restart`.
    pub async fn restart_task(&self, name: &str, id: u32) -> Result<(), ConnectError> {
        let _op = self.inner.ops.lock().await;
        {
            let map = self.lock();
            let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
            if id != 0 || e.task.is_none() {
                return Err(ConnectError::NotFound(format!("Task {name}-{id} not found")));
            }
        }
        self.stop_task(name).await;
        self.apply_target(name).await;
        Ok(())
    }

    /// `GET /connectors/{name}/offsets`.
    pub async fn offsets(&self, name: &str) -> Result<Vec<ConnectorOffset>, ConnectError> {
        let runnable = self.runnable(name)?;
        self.inner.ctx.offsets(name, &runnable).await
    }

    /// `PATCH /connectors/{name}/offsets` (`None`: `DELETE`, reset them all).
    pub async fn change_offsets(
        &self,
        name: &str,
        offsets: Option<Vec<ConnectorOffset>>,
    ) -> Result<(), ConnectError> {
        let _op = self.inner.ops.lock().await;
        let runnable = self.runnable(name)?;
        let stopped = self.lock().get(name).is_some_and(|e| e.target == TargetState::Stopped);
        if !stopped {
            return Err(ConnectError::BadRequest(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for \
                 the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
                    .replace("{name}", name),
            ));
        }
        match offsets {
            None => self.inner.ctx.reset_offsets(name, &runnable).await,
            Some(list) if list.is_empty() => {
                Err(ConnectError::BadRequest("The offsets to be modified must not be empty".to_owned()))
            }
            Some(list) => self.inner.ctx.alter_offsets(name, &runnable, &list).await,
        }
    }

    fn runnable(&self, name: &str) -> Result<Runnable, ConnectError> {
        let map = self.lock();
        let e = map.get(name).ok_or_else(|| ConnectError::connector_not_found(name))?;
        if let Some(r) = &e.runnable {
            return Ok(r.clone());
        }
        self.inner.ctx.parse(&e.plugin, &e.config).map_err(|f| ConnectError::BadRequest(f.message))
    }

    /// Starts the connector's task if its target is RUNNING and none runs; nothing otherwise.
    async fn apply_target(&self, name: &str) {
        let (target, has_task) = match self.lock().get(name) {
            Some(e) => (e.target, e.task.is_some()),
            None => return,
        };
        match target {
            TargetState::Running if !has_task => self.start_task(name),
            TargetState::Running => {}
            TargetState::Paused | TargetState::Stopped => self.stop_task(name).await,
        }
    }

    fn start_task(&self, name: &str) {
        let mut map = self.lock();
        let Some(e) = map.get_mut(name) else { return };
        let parsed = self.inner.ctx.parse(&e.plugin, &e.config);
        let runnable = match parsed {
            Ok(r) => r,
            Err(f) => {
                let why = match f.property {
                    Some(p) => format!("invalid connector property '{p}': {}", f.message),
                    None => f.message,
                };
                tracing::error!(connector = %name, "connector failed to start: {why}");
                e.state = State::Failed;
                e.trace = Some(why);
                e.metrics.record_error();
                return;
            }
        };
        e.state = State::Running;
        e.trace = None;
        e.runnable = Some(runnable.clone());
        e.generation += 1;
        let generation = e.generation;
        let cancel = CancellationToken::new();
        let secrets = self
            .inner
            .ctx
            .providers
            .resolve(&e.config)
            .map(|r| provider::secret_values(&r))
            .unwrap_or_default();
        let run = self.inner.ctx.start(runnable, secrets, Arc::clone(&e.metrics), cancel.clone());
        let herder = self.clone();
        let task_name = name.to_owned();
        tracing::info!(connector = %name, "starting connector task");
        let handle = sluice_core::task::spawn_named(format!("connector:{name}"), async move {
            let outcome = run.await;
            herder.task_ended(&task_name, generation, outcome);
        });
        e.task = Some(Task { state: State::Running, trace: None, cancel, handle: Some(handle), generation });
    }

    fn task_ended(&self, name: &str, generation: u64, outcome: Result<(), String>) {
        let mut map = self.lock();
        let Some(e) = map.get_mut(name) else { return };
        let Some(task) = e.task.as_mut().filter(|t| t.generation == generation) else { return };
        match outcome {
            Err(trace) => {
                tracing::error!(connector = %name, "connector task failed: {trace}");
                task.state = State::Failed;
                task.trace = Some(trace);
                e.metrics.record_error();
            }
            Ok(()) if !task.cancel.is_cancelled() => {
                tracing::error!(connector = %name, "connector task ended without being stopped");
                task.state = State::Failed;
                task.trace = Some("the connector's task ended without being stopped".to_owned());
            }
            Ok(()) => {}
        }
        task.handle = None;
    }

    /// Cancels the task and waits for it to flush and confirm (up to the stop timeout).
    async fn stop_task(&self, name: &str) {
        let task = self.lock().get_mut(name).and_then(|e| e.task.take());
        let Some(mut task) = task else { return };
        task.cancel.cancel();
        let deadline = tokio::time::Instant::now() + self.inner.stop_timeout;
        await_or_abort(name, task.handle.take(), deadline).await;
    }

    /// Stops every task (flushing and confirming), within the stop timeout overall.
    pub async fn shutdown(&self) {
        let names = self.connectors();
        let tasks: Vec<(String, Task)> = {
            let mut map = self.lock();
            names
                .iter()
                .filter_map(|n| map.get_mut(n).and_then(|e| e.task.take()).map(|t| (n.clone(), t)))
                .collect()
        };
        for (_, t) in &tasks {
            t.cancel.cancel();
        }
        let deadline = tokio::time::Instant::now() + self.inner.stop_timeout;
        for (name, mut t) in tasks {
            await_or_abort(&name, t.handle.take(), deadline).await;
        }
    }
}

/// Waits for a cancelled task to end by `deadline`, aborting it after that.
async fn await_or_abort(name: &str, handle: Option<JoinHandle<()>>, deadline: tokio::time::Instant) {
    let Some(handle) = handle else { return };
    let abort = handle.abort_handle();
    if tokio::time::timeout_at(deadline, handle).await.is_err() {
        tracing::warn!(
            connector = %name,
            "connector task did not stop in time; aborting it (its unconfirmed changes are re-read on restart)"
        );
        abort.abort();
    }
}

fn info_of(name: &str, e: &Entry) -> ConnectorInfo {
    let tasks = if e.target == TargetState::Stopped {
        Vec::new()
    } else {
        vec![TaskId { connector: name.to_owned(), task: 0 }]
    };
    ConnectorInfo { name: name.to_owned(), config: provider::mask(&e.config), tasks, kind: e.plugin.kind }
}

/// Kafka Connect's connector-name rules: non-empty, no control characters; sluice also refuses
/// `/` (the name is a URL path segment and a file name).
fn check_name(name: &str) -> Result<(), ConnectError> {
    if name.trim().is_empty() {
        return Err(ConnectError::BadRequest(
            "Connector name is required: set \"name\" in the request (or the config)".to_owned(),
        ));
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') || name != name.trim() {
        return Err(ConnectError::BadRequest(format!(
            "Invalid value {name:?} for configuration name: a connector name must not contain control characters, \
             slashes, or leading or trailing whitespace"
        )));
    }
    Ok(())
}
