"""Drives sluice's Kafka Connect REST API with a third-party client library: kafka-connect-py.

kafka-connect-py (import name `kafka_connect`, installed by scripts/install-kafka) is a client
written for Confluent's Kafka Connect. If sluice's REST API is what it claims to be, the library
works against it unchanged: this script goes through a connector's whole life with it and checks
every answer's shape and every state change.

usage: kafka_connect_client.py REST_URL NAME CONFIG_JSON [TIMEOUT_SECONDS]

CONFIG_JSON is a file holding the connector's flat config (a Debezium PostgreSQL source whose
`database.password` is needed to connect, so a config sent back with `[hidden]` only runs if the
stored secret was kept). The connector must not exist yet. Something must be writing to a captured
table meanwhile: after every start, restart and update the script waits for the connector's offset
(its LSN) to move, which shows the pipeline really runs rather than only claiming RUNNING.

Steps: cluster info, plugins, validate (a good and a bad config), create, duplicate create (409),
unknown connector (404), list (plain, expand=status, expand=info, the library's pattern and state
filters), get, config, status, tasks, task status, topics (403: tracking is off, as in Kafka
Connect with topic.tracking.enable=false), pause, resume, restart (connector only, and with tasks),
task restart, stop, offsets, resume from stopped, update with the masked secret sent back, update
with a wrong name (400), pause-all / resume-all by pattern and state, delete, and the 404s after.
The library has no offsets calls: those use `requests` (the library's own HTTP client) directly.

Prints one JSON object on stdout: {"ok": true, "checks": N, "steps": [...], ...}. Exits 1 with
{"ok": false, "error": ...} on the first failed check.
"""

import json
import re
import sys
import time

import requests
from kafka_connect import KafkaConnect
from requests.exceptions import HTTPError

HIDDEN = "[hidden]"
POSTGRES_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
STATES = {"UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING"}


class CheckFailed(Exception):
    pass


class Run:
    def __init__(self, url, name, config, secret, timeout):
        self.url = url.rstrip("/")
        self.name = name
        self.config = config
        self.secret = secret
        self.timeout = timeout
        self.kc = KafkaConnect(url=self.url)
        self.checks = 0
        self.steps = []
        self.last_lsn = None

    # ---- checks -------------------------------------------------------------------------

    def check(self, condition, what, detail=None):
        self.checks += 1
        if not condition:
            text = what if detail is None else f"{what}: {json.dumps(detail, default=str)[:2000]}"
            raise CheckFailed(text)

    def step(self, name, **result):
        self.steps.append({"step": name, **result})

    def no_secret(self, value, where):
        """A literal secret never appears in an answer."""
        if self.secret:
            self.check(self.secret not in json.dumps(value), f"{where} shows the secret", value)

    def http_error(self, call, status, where):
        """`call` raises the library's HTTPError with `status` and Kafka Connect's error body."""
        try:
            result = call()
        except HTTPError as e:
            response = e.response
            # restart_connector raises HTTPError(text) itself for 404/409/500, without a response.
            if response is None:
                body = json.loads(str(e))
                code = body.get("error_code")
            else:
                code = response.status_code
                body = response.json()
            self.check(code == status, f"{where}: HTTP status", {"want": status, "got": code, "body": body})
            self.check(set(body) == {"error_code", "message"}, f"{where}: error body keys", body)
            self.check(body["error_code"] == status, f"{where}: error_code", body)
            self.check(isinstance(body["message"], str) and body["message"], f"{where}: message", body)
            return body
        self.check(False, f"{where}: expected HTTP {status}, the call returned", result)

    def connector_info(self, info, where, tasks):
        """Kafka Connect's ConnectorInfo: name, config, tasks, type."""
        self.check(set(info) == {"name", "config", "tasks", "type"}, f"{where}: ConnectorInfo keys", info)
        self.check(info["name"] == self.name, f"{where}: name", info)
        self.check(info["type"] == "source", f"{where}: type", info)
        self.config_map(info["config"], where)
        want = [{"connector": self.name, "task": t} for t in range(tasks)]
        self.check(info["tasks"] == want, f"{where}: tasks", info)

    def config_map(self, config, where):
        self.check(isinstance(config, dict), f"{where}: config is an object", config)
        self.check(all(isinstance(v, str) for v in config.values()), f"{where}: config values are strings", config)
        self.check(config.get("name") == self.name, f"{where}: config name", config)
        self.check(config.get("connector.class") == POSTGRES_CLASS, f"{where}: connector.class", config)
        if self.secret:
            self.check(config.get("database.password") == HIDDEN, f"{where}: the password is masked", config)
        self.no_secret(config, where)

    def state_entry(self, entry, where, task=False):
        keys = set(entry)
        base = {"id", "state", "worker_id"} if task else {"state", "worker_id"}
        # trace only when failed; version where the worker reports plugin versions (Connect 4.x).
        self.check(base <= keys <= base | {"trace", "version"}, f"{where}: state keys", entry)
        self.check(entry["state"] in STATES, f"{where}: state", entry)
        self.check(isinstance(entry["worker_id"], str) and entry["worker_id"], f"{where}: worker_id", entry)

    def status(self, where="status"):
        s = self.kc.get_connector_status(self.name)
        self.check(set(s) == {"name", "connector", "tasks", "type"}, f"{where}: ConnectorStateInfo keys", s)
        self.check(s["name"] == self.name and s["type"] == "source", f"{where}: name and type", s)
        self.state_entry(s["connector"], f"{where}.connector")
        self.check(isinstance(s["tasks"], list), f"{where}: tasks is a list", s)
        for t in s["tasks"]:
            self.state_entry(t, f"{where}.tasks", task=True)
        return s

    def wait_state(self, connector_state, task_states, where):
        """Polls the status until the connector is in `connector_state` and its tasks' states are
        `task_states`; a FAILED connector or task fails at once, with its trace."""
        deadline = time.time() + self.timeout
        while True:
            s = self.status(where)
            failed = [e for e in [s["connector"], *s["tasks"]] if e["state"] == "FAILED"]
            self.check(not failed, f"{where}: FAILED", failed)
            if s["connector"]["state"] == connector_state and [t["state"] for t in s["tasks"]] == task_states:
                return s
            if time.time() > deadline:
                self.check(False, f"{where}: not {connector_state}/{task_states} in {self.timeout}s", s)
            time.sleep(0.2)

    # ---- offsets (not in the library: requests directly) -----------------------------------

    def offsets(self):
        response = requests.get(f"{self.url}/connectors/{self.name}/offsets", timeout=30)
        self.check(response.status_code == 200, "GET offsets", response.text)
        body = response.json()
        self.check(set(body) == {"offsets"} and isinstance(body["offsets"], list), "offsets body", body)
        for o in body["offsets"]:
            self.check(set(o) == {"partition", "offset"}, "offset entry keys", o)
        return body["offsets"]

    def lsn(self):
        """The stored commit LSN (`lsn_commit`), or None while there is none (no offset yet, one
        taken mid-snapshot, which has `snapshot_completed: false` instead, or LSN 0)."""
        offsets = self.offsets()
        if not offsets:
            return None
        self.check(len(offsets) == 1, "one source partition", offsets)
        prefix = self.config["topic.prefix"]
        self.check(offsets[0]["partition"] == {"server": prefix}, "offset partition", offsets)
        offset = offsets[0]["offset"]
        self.check(isinstance(offset.get("lsn"), int), "offset lsn", offsets)
        if offset.get("snapshot_completed") is False:
            return None
        lsn = offset.get("lsn_commit")
        self.check(isinstance(lsn, int) and offset["lsn"] == lsn, "offset lsn_commit", offsets)
        # sluice's direct path stores LSN 0 right after the snapshot, until a streamed commit.
        return lsn or None

    def wait_progress(self, where):
        """Waits until the stored LSN moves past the one stored now: the (re)started pipeline
        commits. Every operation before this one has returned, so whatever a stopped run flushed
        is already in the baseline."""
        baseline = self.lsn()
        deadline = time.time() + self.timeout
        while True:
            s = self.status(where)
            failed = [e for e in [s["connector"], *s["tasks"]] if e["state"] == "FAILED"]
            self.check(not failed, f"{where}: FAILED while waiting for progress", failed)
            lsn = self.lsn()
            if lsn is not None and (baseline is None or lsn > baseline):
                self.check(self.last_lsn is None or lsn > self.last_lsn, f"{where}: the offset went back",
                           {"lsn": lsn, "before": self.last_lsn})
                self.last_lsn = lsn
                return lsn
            if time.time() > deadline:
                self.check(False, f"{where}: the offset did not move past {baseline} in {self.timeout}s", s)
            time.sleep(0.3)

    # ---- the walk -------------------------------------------------------------------------

    def run(self):
        kc, name = self.kc, self.name

        info = kc.get_cluster_info()
        self.check({"version", "commit", "kafka_cluster_id"} <= set(info), "cluster info keys", info)
        self.check(isinstance(info["version"], str) and info["version"], "cluster version", info)
        self.step("cluster_info", version=info["version"])

        plugins = kc.list_connector_plugins()
        self.check(isinstance(plugins, list) and plugins, "plugins", plugins)
        for p in plugins:
            self.check(set(p) == {"class", "type", "version"}, "plugin keys", p)
            self.check(p["type"] in ("source", "sink"), "plugin type", p)
        classes = {p["class"]: p["type"] for p in plugins}
        self.check(classes.get(POSTGRES_CLASS) == "source", "the PostgreSQL source plugin", plugins)
        self.step("list_plugins", classes=sorted(classes))

        full = dict(self.config, name=name)
        valid = kc.validate_connector_config("PostgresConnector", full)
        self.check(set(valid) == {"name", "error_count", "groups", "configs"}, "ConfigInfos keys", valid)
        self.check(valid["name"] == POSTGRES_CLASS, "validated plugin", valid)
        self.check(valid["error_count"] == 0, "a good config has no errors", valid)
        for c in valid["configs"]:
            self.check(set(c) == {"definition", "value"}, "ConfigInfo keys", c)
            self.check({"name", "value", "errors", "recommended_values", "visible"} <= set(c["value"]),
                       "ConfigValueInfo keys", c)
        values = {c["value"]["name"]: c["value"]["value"] for c in valid["configs"]}
        self.check(values.get("database.hostname") == self.config["database.hostname"], "validated value", values)
        if self.secret:
            self.check(values.get("database.password") == HIDDEN, "validate masks the password", values)
        self.no_secret(valid, "validate")
        bad = {k: v for k, v in full.items() if k != "database.hostname"}
        invalid = kc.validate_connector_config(POSTGRES_CLASS, bad)
        errors = {c["value"]["name"]: c["value"]["errors"] for c in invalid["configs"] if c["value"]["errors"]}
        self.check(invalid["error_count"] >= 1 and "database.hostname" in errors,
                   "a config without database.hostname is reported", invalid)
        self.step("validate", good_errors=0, bad_errors=invalid["error_count"], bad_properties=sorted(errors))

        self.check(name not in kc.list_connectors(), "the connector does not exist yet")
        created = kc.create_connector({"name": name, "config": self.config})
        self.connector_info(created, "create", tasks=1)
        self.step("create", tasks=len(created["tasks"]))

        body = self.http_error(lambda: kc.create_connector({"name": name, "config": self.config}), 409,
                               "duplicate create")
        self.check("already exists" in body["message"], "duplicate create message", body)
        self.step("duplicate_create", status=409, message=body["message"])
        body = self.http_error(lambda: kc.create_connector({"name": name + "-noclass", "config": {"x": "1"}}), 400,
                               "create without connector.class")
        self.step("invalid_create", status=400)
        unknown = name + "-unknown"
        body = self.http_error(lambda: kc.get_connector(unknown), 404, "unknown connector")
        self.check(unknown in body["message"], "the 404 names the connector", body)
        self.http_error(lambda: kc.get_connector_status(unknown), 404, "unknown connector status")
        self.http_error(lambda: kc.get_connector_config(unknown), 404, "unknown connector config")
        self.http_error(lambda: kc.pause_connector(unknown), 404, "pausing an unknown connector")
        self.http_error(lambda: kc.restart_connector(unknown), 404, "restarting an unknown connector")
        self.step("unknown_connector", status=404, message=body["message"])

        s = self.wait_state("RUNNING", ["RUNNING"], "after create")
        self.wait_progress("after create")
        self.step("running", worker_id=s["connector"]["worker_id"], lsn=self.last_lsn)

        listed = kc.list_connectors()
        self.check(listed == [name], "list", listed)
        with_status = kc.list_connectors(expand="status")
        self.check(set(with_status) == {name} and set(with_status[name]) == {"status"}, "expand=status", with_status)
        self.check(with_status[name]["status"]["connector"]["state"] == "RUNNING", "expanded status", with_status)
        with_info = kc.list_connectors(expand="info")
        self.check(set(with_info[name]) == {"info"}, "expand=info", with_info)
        self.connector_info(with_info[name]["info"], "expand=info", tasks=1)
        self.check(kc.list_connectors(pattern=f"^{re.escape(name)}$") == [name], "pattern filter")
        self.check(kc.list_connectors(pattern="^no-such-") == [], "pattern filter, no match")
        self.check(kc.list_connectors(state="running") == [name], "state filter")
        self.check(kc.list_connectors(state="paused") == [], "state filter, no match")
        self.step("list", plain=listed, expanded=sorted(with_status))

        got = kc.get_connector(name)
        self.connector_info(got, "get", tasks=1)
        config = kc.get_connector_config(name)
        self.config_map(config, "config")
        shown = {k: v for k, v in config.items() if k != "database.password"}
        want = {k: v for k, v in full.items() if k != "database.password"}
        self.check(shown == want, "the config reads back as created", {"got": shown, "want": want})
        tasks = kc.list_connector_tasks(name)
        self.check(isinstance(tasks, list) and len(tasks) == 1, "tasks", tasks)
        self.check(set(tasks[0]) == {"id", "config"}, "TaskInfo keys", tasks)
        self.check(tasks[0]["id"] == {"connector": name, "task": 0}, "task id", tasks)
        self.check(tasks[0]["config"].get("task.class", "").endswith("Task"), "task.class", tasks)
        self.no_secret(tasks, "tasks")
        task = kc.get_connector_task_status(name, 0)
        self.state_entry(task, "task status", task=True)
        self.check(task["id"] == 0 and task["state"] == "RUNNING", "task 0 RUNNING", task)
        self.http_error(lambda: kc.get_connector_task_status(name, 7), 404, "status of a task that does not exist")
        self.step("get", config_keys=len(config), task_class=tasks[0]["config"]["task.class"])

        body = self.http_error(lambda: kc.list_connector_topics(name), 403, "topics")
        self.check("disabled" in body["message"].lower(), "topics: tracking is disabled", body)
        self.http_error(lambda: kc.reset_connector_topics(name), 403, "topics reset")
        self.step("topics", status=403)

        self.check(kc.pause_connector(name) is None, "pause returns nothing")
        self.wait_state("PAUSED", ["PAUSED"], "after pause")
        self.check(kc.list_connectors(state="paused") == [name], "state filter: paused")
        paused_at = self.lsn()
        self.check(kc.pause_connector(name) is None, "pausing twice is fine")
        self.step("pause", lsn=paused_at)

        self.check(kc.resume_connector(name) is None, "resume returns nothing")
        self.wait_state("RUNNING", ["RUNNING"], "after resume")
        self.wait_progress("after resume")
        self.step("resume", lsn=self.last_lsn)

        self.check(kc.restart_connector(name) is None, "a plain restart answers 204, no body")
        self.wait_state("RUNNING", ["RUNNING"], "after restart")
        restarted = kc.restart_connector(name, include_tasks=True)
        self.check(isinstance(restarted, dict) and restarted.get("name") == name, "restart with tasks: a status",
                   restarted)
        self.check(restarted["connector"]["state"] == "RESTARTING", "the connector is RESTARTING", restarted)
        self.check([t["state"] for t in restarted["tasks"]] == ["RESTARTING"], "the task is RESTARTING", restarted)
        only_failed = kc.restart_connector(name, include_tasks=True, only_failed=True)
        self.check(only_failed["connector"]["state"] == "RUNNING", "onlyFailed restarts nothing running",
                   only_failed)
        self.wait_state("RUNNING", ["RUNNING"], "after restart with tasks")
        self.wait_progress("after restart with tasks")
        self.check(kc.restart_connector_task(name, 0) is None, "task restart returns nothing")
        self.wait_state("RUNNING", ["RUNNING"], "after task restart")
        self.wait_progress("after task restart")
        self.step("restart", lsn=self.last_lsn)

        self.check(kc.stop_connector(name) is None, "stop returns nothing")
        self.wait_state("STOPPED", [], "after stop")
        self.check(kc.get_connector(name)["tasks"] == [], "a stopped connector has no tasks")
        self.check(kc.list_connector_tasks(name) == [], "a stopped connector lists no tasks")
        offsets = self.offsets()
        self.check(len(offsets) == 1 and offsets[0]["offset"].get("lsn_commit", 0) >= self.last_lsn,
                   "offsets when stopped", offsets)
        self.step("stop", offsets=offsets)

        self.check(kc.resume_connector(name) is None, "resume from stopped")
        self.wait_state("RUNNING", ["RUNNING"], "after resume from stopped")
        self.wait_progress("after resume from stopped")
        self.step("resume_stopped", lsn=self.last_lsn)

        # The masked config sent back, one setting changed: the stored password must be kept
        # (the connector authenticates with it) and the change applied.
        update = kc.get_connector_config(name)
        update["status.update.interval.ms"] = "700"
        updated = kc.update_connector(name, update)
        self.connector_info(updated, "update", tasks=1)
        self.check(updated["config"]["status.update.interval.ms"] == "700", "the update applies", updated)
        self.check(kc.get_connector_config(name)["status.update.interval.ms"] == "700", "the update reads back")
        self.wait_state("RUNNING", ["RUNNING"], "after update")
        self.wait_progress("after update (the stored password was kept)")
        wrong = dict(update, name=name + "-other")
        self.http_error(lambda: kc.update_connector(name, wrong), 400, "update with another name")
        self.step("update", lsn=self.last_lsn)

        pattern = f"^{re.escape(name)}$"
        kc.pause_all_connectors(pattern=pattern)
        self.wait_state("PAUSED", ["PAUSED"], "after pause-all")
        kc.resume_all_connectors(state="paused")
        self.wait_state("RUNNING", ["RUNNING"], "after resume-all")
        self.wait_progress("after resume-all")
        self.step("pause_resume_all", lsn=self.last_lsn)

        self.check(kc.delete_connector(name) is None, "delete returns nothing")
        self.check(name not in kc.list_connectors(), "deleted: not listed")
        self.http_error(lambda: kc.get_connector(name), 404, "deleted: get")
        self.http_error(lambda: kc.get_connector_status(name), 404, "deleted: status")
        self.http_error(lambda: kc.delete_connector(name), 404, "deleted: delete again")
        self.step("delete")


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, name, path = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) == 5 else 60.0
    with open(path) as f:
        config = json.load(f)
    config.pop("name", None)
    run = Run(url, name, config, config.get("database.password", ""), timeout)
    started = time.time()
    try:
        run.run()
    except Exception as e:  # noqa: BLE001 - any failure is reported in the summary
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}", "checks": run.checks,
                          "steps": run.steps}, default=str))
        sys.exit(1)
    print(json.dumps({"ok": True, "checks": run.checks, "steps": run.steps, "last_lsn": run.last_lsn,
                      "seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()
