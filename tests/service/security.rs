//! TLS and authentication on both listeners, configured by worker properties whose secrets come
//! from config providers: credentials are required everywhere except the probes, and plain HTTP
//! to a TLS listener gets nothing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use reqwest::Method;
use serde_json::json;

use crate::server::{Api, Credentials, Launch, Sluice, client};
use crate::source::{self, POSTGRES_CLASS};

const USER: &str = "admin";
const PASSWORD: &str = "tls-basic-pw-5521";
const TOKEN: &str = "bearer-token-8f20a";

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`.
fn self_signed(dir: &Path) -> Result<()> {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .context("running openssl (scripts/install-test-deps installs it)")?;
    if !out.status.success() {
        bail!("openssl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_protect_the_listeners() -> Result<()> {
    let db = source::database("svc_security").await?;
    let dir = tempfile::tempdir()?;
    self_signed(dir.path())?;
    let users = dir.path().join("users.properties");
    std::fs::write(&users, format!("pw={PASSWORD}\n"))?;
    let launch = Launch::default()
        .worker("sluice.http.tls.certificate", &dir.path().join("cert.pem").display().to_string())
        .worker("sluice.http.tls.key", &dir.path().join("key.pem").display().to_string())
        .worker("sluice.http.auth", "basic")
        .worker("sluice.http.auth.basic.users", &format!("{USER}:${{file:{}:pw}}", users.display()));
    let sluice = Sluice::start(dir.path(), &launch).await?;
    let result = async {
        ensure!(sluice.rest.starts_with("https://") && sluice.admin.starts_with("https://"), "{sluice:?}");
        let https = client(Some(&std::fs::read(dir.path().join("cert.pem"))?))?;
        let anonymous = Api::with_client(https.clone(), &sluice.rest)?;
        let wrong = anonymous.as_user(Some(Credentials::Basic(USER.into(), format!("{PASSWORD}x"))));
        let nobody = anonymous.as_user(Some(Credentials::Basic("root".into(), PASSWORD.into())));
        let api = anonymous.as_user(Some(Credentials::Basic(USER.into(), PASSWORD.into())));

        for path in ["/", "/connectors", "/connector-plugins"] {
            let refused = anonymous.get(path).await?;
            refused.error(401)?;
            ensure!(
                refused.header("www-authenticate") == Some("Basic realm=\"sluice\""),
                "GET {path} without credentials: {:?}",
                refused.headers
            );
            wrong.get(path).await?.error(401)?;
            nobody.get(path).await?.error(401)?;
            api.get(path).await?.expect(200)?;
        }
        // Writes need credentials too.
        let config = source::connector(&db, "svc_tls", &dir.path().join("lake"));
        let body = json!({"name": "svc_tls", "config": config});
        anonymous.send(Method::POST, "/connectors", &body).await?.error(401)?;
        anonymous.delete("/connectors/svc_tls").await?.error(401)?;
        api.send(Method::POST, "/connectors", &body).await?.expect(201)?;
        api.wait_status("svc_tls", "RUNNING", &["RUNNING"]).await?;
        ensure!(anonymous.get("/connectors").await?.status == 401, "the list is protected");

        // The admin endpoint: probes open, the rest protected.
        let admin_anonymous = Api::with_client(https.clone(), &sluice.admin)?;
        let admin = admin_anonymous.as_user(Some(Credentials::Basic(USER.into(), PASSWORD.into())));
        admin_anonymous.get("/health").await?.expect(200)?;
        admin_anonymous.get("/ready").await?.expect(200)?;
        anonymous.get("/health").await?.expect(200)?;
        for path in ["/lag", "/metrics", "/lag/svc_tls"] {
            admin_anonymous.get(path).await?.error(401)?;
            admin.get(path).await?.expect(200)?;
        }

        // Plain HTTP, or TLS without trusting the certificate, gets no answer.
        for base in [&sluice.rest, &sluice.admin] {
            let plain = Api::new(&base.replacen("https://", "http://", 1))?;
            match plain.get("/health").await {
                Ok(reply) => {
                    bail!("plain HTTP to a TLS listener was answered: {} {}", reply.status, reply.text)
                }
                Err(e) => tracing::debug!("plain HTTP refused as expected: {e:#}"),
            }
            let untrusting = Api::new(base)?;
            ensure!(untrusting.get("/health").await.is_err(), "an untrusted certificate was accepted");
        }

        let responses = format!("{}\n{}", api.transcript(), admin.transcript());
        ensure!(!responses.contains(PASSWORD), "a response shows the password");
        ensure!(!sluice.log_text().contains(PASSWORD), "the log shows the password");
        Ok(())
    }
    .await;
    let result = sluice.explain(result);
    let bearer = bearer_token_protects_plain_listeners().await;
    result.and(bearer)
}

/// `sluice.http.auth=bearer`, the token from the environment, without TLS.
async fn bearer_token_protects_plain_listeners() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let launch = Launch::default()
        .env("SVC_HTTP_TOKEN", TOKEN)
        .worker("sluice.http.auth", "bearer")
        .worker("sluice.http.auth.bearer.token", "${env:SVC_HTTP_TOKEN}");
    let sluice = Sluice::start(dir.path(), &launch).await?;
    let result = async {
        ensure!(sluice.rest.starts_with("http://"), "{sluice:?}");
        let anonymous = Api::new(&sluice.rest)?;
        let refused = anonymous.get("/connectors").await?;
        refused.error(401)?;
        ensure!(refused.header("www-authenticate") == Some("Bearer"), "{:?}", refused.headers);
        let wrong = anonymous.as_user(Some(Credentials::Bearer(format!("{TOKEN}0"))));
        wrong.get("/connectors").await?.error(401)?;
        let basic = anonymous.as_user(Some(Credentials::Basic(USER.into(), TOKEN.into())));
        basic.get("/connectors").await?.error(401)?;
        let api = anonymous.as_user(Some(Credentials::Bearer(TOKEN.into())));
        ensure!(api.get("/connectors").await?.expect(200)? == &json!([]), "/connectors");
        let plugins = api.get("/connector-plugins").await?;
        ensure!(plugins.text.contains(POSTGRES_CLASS), "{}", plugins.text);
        let admin = Api::new(&sluice.admin)?;
        admin.get("/health").await?.expect(200)?;
        admin.get("/metrics").await?.error(401)?;
        admin.as_user(Some(Credentials::Bearer(TOKEN.into()))).get("/metrics").await?.expect(200)?;
        ensure!(!sluice.log_text().contains(TOKEN), "the log shows the token");
        Ok(())
    }
    .await;
    sluice.explain(result).context("bearer authentication")
}
