//! The replication protocol client against a real server: auth, TLS, replication commands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_core::{Lsn, Secret};
use sluice_postgres::PostgresError;
use sluice_postgres::replication::{
    Endpoint, ReplicationConnection, ReplicationFrame, SlotSnapshot, SslMode, connect_sql,
};
use sluice_tests::{
    MD5_USER, NO_REPLICATION_USER, SCRAM_USER, TEST_PASSWORD, TLS_USER, TestDb, cluster, init_tracing,
};
use tokio::net::{TcpListener, TcpStream};

/// An endpoint on the test cluster, with no TLS unless the test asks.
fn endpoint(user: &str, db: &str) -> Endpoint {
    let mut e = Endpoint::new("127.0.0.1", cluster().port, user, db);
    e.sslmode = SslMode::Disable;
    e.connect_timeout = Duration::from_secs(20);
    e.application_name = "sluice-test".into();
    e
}

fn with_password(mut e: Endpoint) -> Endpoint {
    e.password = Some(Secret::new(TEST_PASSWORD));
    e
}

fn with_ssl(mut e: Endpoint, mode: SslMode) -> Endpoint {
    e.sslmode = mode;
    e
}

const SSL_QUERY: &str = "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// Whether the replication connection's backend reports TLS.
async fn replication_ssl(conn: &mut ReplicationConnection) -> bool {
    let rows = conn.simple_query(SSL_QUERY).await.expect("pg_stat_ssl over replication");
    assert_eq!(rows.len(), 1, "one pg_stat_ssl row");
    assert_eq!(conn.uses_tls(), rows[0][0].as_deref() == Some("true"));
    conn.uses_tls()
}

/// Whether the SQL connection's backend reports TLS.
async fn sql_ssl(client: &tokio_postgres::Client) -> bool {
    let row = client.query_one(SSL_QUERY, &[]).await.expect("pg_stat_ssl over SQL");
    row.get::<_, String>(0) == "true"
}

/// Connects both kinds of connection and returns whether each uses TLS.
async fn both_ssl(e: &Endpoint) -> (bool, bool) {
    let mut repl = ReplicationConnection::connect(e).await.unwrap_or_else(|err| panic!("replication: {err}"));
    let client = connect_sql(e).await.unwrap_or_else(|err| panic!("sql: {err}"));
    let result = (replication_ssl(&mut repl).await, sql_ssl(&client).await);
    repl.close().await.unwrap();
    result
}

/// Runs openssl in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed CA unrelated to the cluster's.
fn other_ca(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=unrelated CA",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join("other-ca.crt")
}

/// Forwards connections from `ip`:<returned port> to the cluster, so the server can be reached
/// under an address its certificate does not name. Lives as long as the test's runtime.
async fn forwarder(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind forwarder");
    let port = listener.local_addr().unwrap().port();
    let target = cluster().port;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

fn assert_server_code(result: Result<impl std::fmt::Debug, PostgresError>, code: &str) -> PostgresError {
    match result {
        Err(e @ PostgresError::Server { .. }) => {
            let PostgresError::Server { error, .. } = &e else { unreachable!() };
            assert_eq!(error.code, code, "{e}");
            e
        }
        other => panic!("expected a server error {code}, got {other:?}"),
    }
}

fn assert_tls_error(result: Result<impl std::fmt::Debug, PostgresError>, needle: &str) {
    match result {
        Err(PostgresError::Tls { message, .. }) => {
            assert!(message.contains(needle), "TLS error {message:?} should mention {needle:?}")
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn trust_md5_and_scram_logins_succeed_with_session_settings() {
    init_tracing();
    let db = TestDb::create("conn_logins").await.unwrap();
    for e in [
        endpoint("postgres", &db.name),
        with_password(endpoint(MD5_USER, &db.name)),
        with_password(endpoint(SCRAM_USER, &db.name)),
    ] {
        let mut repl =
            ReplicationConnection::connect(&e).await.unwrap_or_else(|err| panic!("{}: {err}", e.user));
        assert!(repl.server_version_num() >= 100_000, "{}", repl.server_version_num());
        assert_eq!(repl.server_version_num() / 10_000, cluster().major_version);
        assert!(repl.backend_pid() > 0);
        let client = connect_sql(&e).await.unwrap_or_else(|err| panic!("{}: {err}", e.user));
        for (setting, expected) in [
            ("DateStyle", "ISO, MDY"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("extra_float_digits", "3"),
            ("bytea_output", "hex"),
            ("lc_monetary", "C"),
            ("client_encoding", "UTF8"),
            ("application_name", "sluice-test"),
        ] {
            let show = format!("SHOW {setting}");
            let rows = repl.simple_query(&show).await.unwrap();
            assert_eq!(rows[0][0].as_deref(), Some(expected), "replication {setting}");
            let row = client.query_one(show.as_str(), &[]).await.unwrap();
            assert_eq!(row.get::<_, String>(0), expected, "sql {setting}");
        }
        let who = repl.simple_query("SELECT current_user, NULL::text").await.unwrap();
        assert_eq!(who, vec![vec![Some(e.user.clone()), None]]);
        repl.close().await.unwrap();
    }
}

#[tokio::test]
async fn extra_options_are_applied_and_server_errors_keep_the_connection_usable() {
    init_tracing();
    let db = TestDb::create("conn_options").await.unwrap();
    let mut e = endpoint("postgres", &db.name);
    e.options =
        vec![("logical_decoding_work_mem".into(), "64kB".into()), ("search_path".into(), "a, b".into())];
    let mut repl = ReplicationConnection::connect(&e).await.unwrap();
    let client = connect_sql(&e).await.unwrap();
    for setting in ["logical_decoding_work_mem", "search_path"] {
        let show = format!("SHOW {setting}");
        let repl_value = repl.simple_query(&show).await.unwrap()[0][0].clone().unwrap();
        let sql_value: String = client.query_one(show.as_str(), &[]).await.unwrap().get(0);
        assert_eq!(repl_value, sql_value);
    }
    assert_eq!(
        repl.simple_query("SHOW logical_decoding_work_mem").await.unwrap()[0][0].as_deref(),
        Some("64kB")
    );
    assert_server_code(repl.simple_query("SELECT * FROM no_such_table").await, "42P01");
    assert_eq!(repl.simple_query("SELECT 1").await.unwrap(), vec![vec![Some("1".to_owned())]]);
    repl.close().await.unwrap();
}

#[tokio::test]
async fn wrong_or_missing_password_fails_without_revealing_it() {
    init_tracing();
    let db = TestDb::create("conn_bad_password").await.unwrap();
    let secret = "not-the-password-xyzzy";
    for user in [MD5_USER, SCRAM_USER] {
        let mut e = endpoint(user, &db.name);
        e.password = Some(Secret::new(secret));
        let repl = ReplicationConnection::connect(&e).await;
        let sql = connect_sql(&e).await;
        for (kind, err) in [("replication", repl.err()), ("sql", sql.err())] {
            let err = err.unwrap_or_else(|| panic!("{kind} login as {user} with a wrong password succeeded"));
            let text = format!("{err} {err:?}");
            assert!(!text.contains(secret), "{kind}: error reveals the password: {text}");
            match &err {
                PostgresError::Server { error, .. } => assert_eq!(error.code, "28P01", "{kind}: {err}"),
                PostgresError::Auth { .. } => {}
                other => panic!("{kind}: unexpected error {other:?}"),
            }
        }
        let debug = format!("{e:?}");
        assert!(!debug.contains(secret), "Endpoint's Debug reveals the password: {debug}");

        e.password = None;
        for result in [ReplicationConnection::connect(&e).await.err(), connect_sql(&e).await.err()] {
            match result {
                Some(PostgresError::Auth { message, .. }) => {
                    assert!(message.contains("database.password"), "{message}")
                }
                other => panic!("expected an Auth error asking for database.password, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn sslmodes_disable_allow_prefer_require() {
    init_tracing();
    let db = TestDb::create("conn_sslmodes").await.unwrap();
    let e = with_password(endpoint(SCRAM_USER, &db.name));
    assert_eq!(both_ssl(&with_ssl(e.clone(), SslMode::Disable)).await, (false, false));
    // allow tries plain text first, and the server accepts it.
    assert_eq!(both_ssl(&with_ssl(e.clone(), SslMode::Allow)).await, (false, false));
    assert_eq!(both_ssl(&with_ssl(e.clone(), SslMode::Prefer)).await, (true, true));
    assert_eq!(both_ssl(&with_ssl(e.clone(), SslMode::Require)).await, (true, true));
    // require does not verify: no root certificate is needed, and "localhost"-only names don't matter.
    let trust = with_ssl(endpoint("postgres", &db.name), SslMode::Require);
    assert_eq!(both_ssl(&trust).await, (true, true));
}

#[tokio::test]
async fn tls_only_role_needs_tls() {
    init_tracing();
    let db = TestDb::create("conn_tls_only").await.unwrap();
    let e = with_password(endpoint(TLS_USER, &db.name));
    // pg_hba.conf rejects it without TLS.
    assert_server_code(ReplicationConnection::connect(&e).await, "28000");
    assert_server_code(connect_sql(&e).await, "28000");
    // SCRAM-SHA-256-PLUS (channel binding) over TLS.
    let mut verify = with_ssl(e.clone(), SslMode::VerifyFull);
    verify.sslrootcert = Some(cluster().ca_cert.clone());
    assert_eq!(both_ssl(&verify).await, (true, true));
    assert_eq!(both_ssl(&with_ssl(e.clone(), SslMode::Require)).await, (true, true));
    // allow falls back to TLS when the plain-text attempt is rejected.
    assert_eq!(both_ssl(&with_ssl(e.clone(), SslMode::Allow)).await, (true, true));
}

#[tokio::test]
async fn verify_ca_accepts_the_cluster_ca_and_rejects_another() {
    init_tracing();
    let db = TestDb::create("conn_verify_ca").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = other_ca(dir.path());

    let mut e = with_ssl(with_password(endpoint(MD5_USER, &db.name)), SslMode::VerifyCa);
    e.sslrootcert = Some(cluster().ca_cert.clone());
    assert_eq!(both_ssl(&e).await, (true, true));

    e.sslrootcert = Some(other.clone());
    assert_tls_error(ReplicationConnection::connect(&e).await, "not signed by a trusted CA");
    assert_tls_error(connect_sql(&e).await, "not signed by a trusted CA");

    // Without sslrootcert, verify-ca is refused outright: checking a chain against the public CA
    // list without the host name would let any public certificate pose as the server.
    e.sslrootcert = None;
    for result in [ReplicationConnection::connect(&e).await.map(drop), connect_sql(&e).await.map(drop)] {
        match result {
            Err(PostgresError::Config { property, .. }) => assert_eq!(property, "database.sslrootcert"),
            other => panic!("expected a configuration error naming database.sslrootcert, got {other:?}"),
        }
    }

    // As in libpq, require with a root certificate verifies the chain.
    e.sslmode = SslMode::Require;
    e.sslrootcert = Some(other);
    assert_tls_error(ReplicationConnection::connect(&e).await, "not signed by a trusted CA");
    assert_tls_error(connect_sql(&e).await, "not signed by a trusted CA");

    // A missing root certificate file is a configuration error naming the property.
    e.sslrootcert = Some(dir.path().join("missing.crt"));
    match ReplicationConnection::connect(&e).await {
        Err(PostgresError::Config { property, .. }) => assert_eq!(property, "database.sslrootcert"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn verify_full_checks_the_host_name() {
    init_tracing();
    let db = TestDb::create("conn_verify_full").await.unwrap();
    let mut e = with_ssl(with_password(endpoint(SCRAM_USER, &db.name)), SslMode::VerifyFull);
    e.sslrootcert = Some(cluster().ca_cert.clone());
    // The certificate names DNS localhost and IP 127.0.0.1.
    for host in ["localhost", "127.0.0.1"] {
        e.host = host.into();
        assert_eq!(both_ssl(&e).await, (true, true), "verify-full via {host}");
    }
    // 127.0.0.2 reaches the same server through a forwarder, but the certificate does not name it.
    e.host = "127.0.0.2".into();
    e.port = forwarder("127.0.0.2").await;
    assert_tls_error(ReplicationConnection::connect(&e).await, "not valid for host '127.0.0.2'");
    assert_tls_error(connect_sql(&e).await, "not valid for host '127.0.0.2'");
    // verify-ca skips the name check, so the same route is fine.
    e.sslmode = SslMode::VerifyCa;
    assert_eq!(both_ssl(&e).await, (true, true));
}

#[tokio::test]
async fn client_certificate_is_presented() {
    init_tracing();
    let db = TestDb::create("conn_client_cert").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = cluster().ca_cert.parent().unwrap().to_path_buf();
    let (ca_crt, ca_key) = (ca_dir.join("ca.crt"), ca_dir.join("ca.key"));
    openssl(
        dir.path(),
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=sluice_client",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
    );
    std::fs::write(dir.path().join("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        .unwrap();
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            ca_crt.to_str().unwrap(),
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-set_serial",
            "4242",
            "-days",
            "2",
            "-out",
            "client.crt",
            "-extfile",
            "client.ext",
        ],
    );
    let mut e = with_ssl(with_password(endpoint(SCRAM_USER, &db.name)), SslMode::VerifyFull);
    e.host = "localhost".into();
    e.sslrootcert = Some(ca_crt);
    e.sslcert = Some(dir.path().join("client.crt"));
    e.sslkey = Some(dir.path().join("client.key"));
    const DN: &str = "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let mut repl = ReplicationConnection::connect(&e).await.unwrap();
    assert_eq!(repl.simple_query(DN).await.unwrap()[0][0].as_deref(), Some("/CN=sluice_client"));
    repl.close().await.unwrap();
    let client = connect_sql(&e).await.unwrap();
    assert_eq!(client.query_one(DN, &[]).await.unwrap().get::<_, String>(0), "/CN=sluice_client");

    e.sslkey = None;
    assert!(matches!(ReplicationConnection::connect(&e).await, Err(PostgresError::Config { .. })));
}

#[tokio::test]
async fn replication_needs_the_replication_attribute() {
    init_tracing();
    let db = TestDb::create("conn_no_replication").await.unwrap();
    let e = endpoint(NO_REPLICATION_USER, &db.name);
    match ReplicationConnection::connect(&e).await {
        Err(PostgresError::NoReplicationPrivilege { user }) => assert_eq!(user, NO_REPLICATION_USER),
        other => panic!("expected NoReplicationPrivilege, got {other:?}"),
    }
    // An ordinary session is fine.
    connect_sql(&e).await.unwrap().simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn connect_timeout_is_honoured() {
    init_tracing();
    // A listener that never answers: TCP connects (backlog), the startup gets no reply.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut e = Endpoint::new("127.0.0.1", silent.local_addr().unwrap().port(), "postgres", "postgres");
    e.sslmode = SslMode::Prefer;
    e.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    for result in [ReplicationConnection::connect(&e).await.err(), connect_sql(&e).await.err()] {
        match result {
            Some(PostgresError::Io { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::TimedOut),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn identify_system_and_slot_commands() {
    init_tracing();
    let db = TestDb::create("conn_slots").await.unwrap();
    let e = with_ssl(with_password(endpoint(SCRAM_USER, &db.name)), SslMode::Require);
    let mut repl = ReplicationConnection::connect(&e).await.unwrap();
    let system = repl.identify_system().await.unwrap();
    assert_eq!(system.dbname.as_deref(), Some(db.name.as_str()));
    assert!(!system.xlogpos.is_invalid());
    assert!(system.timeline >= 1);
    assert!(system.systemid.parse::<u64>().is_ok(), "{}", system.systemid);

    let slot = repl
        .create_logical_slot("conn_slots_exported", "pgoutput", false, SlotSnapshot::Export)
        .await
        .unwrap();
    assert_eq!(slot.slot_name, "conn_slots_exported");
    assert_eq!(slot.output_plugin, "pgoutput");
    assert!(slot.consistent_point >= system.xlogpos);
    let snapshot = slot.snapshot_name.clone().expect("an exported snapshot name");
    // The snapshot is importable while the replication connection is idle.
    let reader = db.connect().await.unwrap();
    reader
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{snapshot}'; COMMIT"
        ))
        .await
        .unwrap();

    let temp =
        repl.create_logical_slot("conn_slots_temp", "pgoutput", true, SlotSnapshot::NoExport).await.unwrap();
    assert_eq!(temp.snapshot_name, None);
    let row = db
        .client
        .query_one("SELECT temporary FROM pg_replication_slots WHERE slot_name = 'conn_slots_temp'", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));

    assert_server_code(
        repl.create_logical_slot("conn_slots_exported", "pgoutput", false, SlotSnapshot::NoExport).await,
        "42710",
    );
    repl.drop_slot("conn_slots_exported", false).await.unwrap();
    assert_server_code(repl.drop_slot("conn_slots_exported", true).await, "42704");
    let left: i64 = db
        .client
        .query_one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'conn_slots_exported'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    repl.close().await.unwrap();
}

/// Polls `pg_replication_slots` until `check` holds for (active, confirmed_flush_lsn).
async fn wait_for_slot(db: &TestDb, slot: &str, what: &str, check: impl Fn(bool, Option<Lsn>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = db
            .client
            .query_one(
                "SELECT active, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap();
        let active: bool = row.get(0);
        let confirmed = row.get::<_, Option<String>>(1).map(|t| t.parse::<Lsn>().unwrap());
        if check(active, confirmed) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "slot {slot}: timed out waiting until {what} (active {active}, confirmed {confirmed:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pgoutput_options() -> Vec<(&'static str, String)> {
    vec![("proto_version", "1".to_owned()), ("publication_names", "\"conn_pub\"".to_owned())]
}

#[tokio::test]
async fn streams_a_transaction_and_confirms_it() {
    init_tracing();
    let db = TestDb::create("conn_stream").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION conn_pub FOR ALL TABLES")
        .await
        .unwrap();
    let e = with_ssl(with_password(endpoint(MD5_USER, &db.name)), SslMode::Require);
    let mut repl = ReplicationConnection::connect(&e).await.unwrap();
    let slot =
        repl.create_logical_slot("conn_stream", "pgoutput", false, SlotSnapshot::NoExport).await.unwrap();
    let mut stream = repl
        .start_logical_replication("conn_stream", slot.consistent_point, &pgoutput_options())
        .await
        .unwrap();
    assert!(stream.uses_tls());
    wait_for_slot(&db, "conn_stream", "active", |active, _| active).await;

    db.exec("INSERT INTO t VALUES (1, 'one')").await.unwrap();

    // Short timeouts cancel next_frame again and again; no byte may be lost.
    let mut kinds = Vec::new();
    let mut commit_wal_end = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while commit_wal_end.is_none() {
        assert!(Instant::now() < deadline, "no Commit received; got {kinds:?}");
        let Ok(frame) = tokio::time::timeout(Duration::from_millis(5), stream.next_frame()).await else {
            continue;
        };
        match frame.unwrap().expect("stream ended early") {
            ReplicationFrame::XLogData { wal_end, data, .. } => {
                let kind = data[0];
                kinds.push(kind);
                if kind == b'C' {
                    commit_wal_end = Some(wal_end);
                }
            }
            ReplicationFrame::Keepalive { reply_requested, wal_end, .. } => {
                if reply_requested {
                    stream.send_status_update(wal_end, Lsn::INVALID, Lsn::INVALID, false).await.unwrap();
                }
            }
        }
    }
    assert_eq!(kinds, b"BRIC".to_vec());
    let commit_wal_end = commit_wal_end.unwrap();
    assert!(commit_wal_end > slot.consistent_point);

    // Confirming asks the server for a reply, which comes as a keepalive.
    stream.send_status_update(commit_wal_end, commit_wal_end, commit_wal_end, true).await.unwrap();
    let keepalive = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let ReplicationFrame::Keepalive { wal_end, .. } = stream.next_frame().await.unwrap().unwrap() {
                return wal_end;
            }
        }
    })
    .await
    .expect("a keepalive in reply to reply_requested");
    assert!(keepalive >= commit_wal_end);
    wait_for_slot(&db, "conn_stream", "confirmed_flush_lsn advances", |_, confirmed| {
        confirmed.is_some_and(|c| c >= commit_wal_end)
    })
    .await;

    stream.finish().await.unwrap();
    wait_for_slot(&db, "conn_stream", "inactive", |active, _| !active).await;
}

#[tokio::test]
async fn a_slot_active_elsewhere_is_error_55006() {
    init_tracing();
    let db = TestDb::create("conn_busy_slot").await.unwrap();
    db.exec("CREATE PUBLICATION conn_pub FOR ALL TABLES").await.unwrap();
    let e = endpoint("postgres", &db.name);
    let mut first = ReplicationConnection::connect(&e).await.unwrap();
    let slot =
        first.create_logical_slot("conn_busy", "pgoutput", false, SlotSnapshot::NoExport).await.unwrap();
    let stream = first
        .start_logical_replication("conn_busy", slot.consistent_point, &pgoutput_options())
        .await
        .unwrap();
    wait_for_slot(&db, "conn_busy", "active", |active, _| active).await;

    let second = ReplicationConnection::connect(&e).await.unwrap();
    let err = assert_server_code(
        second.start_logical_replication("conn_busy", slot.consistent_point, &pgoutput_options()).await,
        "55006",
    );
    assert!(err.class().is_retryable());
    stream.finish().await.unwrap();
}

#[tokio::test]
async fn initial_statements_run_on_sql_connections_only() {
    let db = TestDb::create("conn_initial_statements").await.unwrap();
    let mut e = endpoint("postgres", &db.name);
    e.initial_statements = sluice_postgres::replication::split_initial_statements(
        "SET application_name = 'probe;;x'; SET lock_timeout = '7s'",
    );
    let sql = connect_sql(&e).await.unwrap();
    let name: String = sql.query_one("SHOW application_name", &[]).await.unwrap().get(0);
    assert_eq!(name, "probe;x");
    let timeout: String = sql.query_one("SHOW lock_timeout", &[]).await.unwrap().get(0);
    assert_eq!(timeout, "7s");
    let mut repl = ReplicationConnection::connect(&e).await.unwrap();
    let rows = repl.simple_query("SHOW lock_timeout").await.unwrap();
    assert_eq!(rows[0][0].as_deref(), Some("0"), "the replication connection runs no initial statements");
}
