//! HTTP listeners for the REST API and the admin endpoint: plain or TLS, open or behind basic or
//! bearer authentication.
//!
//! Both listeners bind to localhost by default. Exposing them is a deliberate act, so the worker
//! properties that do it live together: `sluice.http.tls.certificate` / `sluice.http.tls.key` (PEM
//! files) turn on TLS, and `sluice.http.auth` (`basic` with `sluice.http.auth.basic.users`, or
//! `bearer` with `sluice.http.auth.bearer.token`) requires credentials on every request except the
//! orchestrator probes `/health` and `/ready`. Credentials are compared as SHA-256 digests, so the
//! comparison time does not depend on how much of a guess was right.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use sluice_core::Secret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::ConnectError;
use crate::rest::error_response;

/// Worker properties of the HTTP listeners.
pub const HTTP_PROPERTIES: &[&str] = &[
    "sluice.http.tls.certificate",
    "sluice.http.tls.key",
    "sluice.http.auth",
    "sluice.http.auth.basic.users",
    "sluice.http.auth.bearer.token",
];

/// Paths served without credentials: orchestrator probes.
const OPEN_PATHS: &[&str] = &["/health", "/ready"];

/// Who may call.
#[derive(Clone, Debug, Default)]
enum Auth {
    /// Anyone who can reach the listener.
    #[default]
    Open,
    /// `Authorization: Basic`, one of these users (digest of `user:password`).
    Basic(Vec<[u8; 32]>),
    /// `Authorization: Bearer <token>` (digest).
    Bearer([u8; 32]),
}

/// TLS and authentication of the listeners.
#[derive(Clone, Default)]
pub struct HttpSecurity {
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Auth,
}

impl std::fmt::Debug for HttpSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match self.auth {
            Auth::Open => "open",
            Auth::Basic(_) => "basic",
            Auth::Bearer(_) => "bearer",
        };
        f.debug_struct("HttpSecurity").field("tls", &self.tls.is_some()).field("auth", &auth).finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl HttpSecurity {
    /// Reads the `sluice.http.*` worker properties (with config provider references already
    /// resolved). Errors name the property.
    pub fn from_worker(props: &BTreeMap<String, String>) -> Result<Self, ConnectError> {
        let bad = |p: &str, why: String| ConnectError::BadRequest(format!("worker property {p}: {why}"));
        let tls = match (props.get("sluice.http.tls.certificate"), props.get("sluice.http.tls.key")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(Arc::new(tls_config(cert, key)?)),
            (Some(_), None) => {
                return Err(bad(
                    "sluice.http.tls.key",
                    "is required with sluice.http.tls.certificate".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "sluice.http.tls.certificate",
                    "is required with sluice.http.tls.key".into(),
                ));
            }
        };
        let auth = match props.get("sluice.http.auth").map(|s| s.trim()) {
            None | Some("none") => Auth::Open,
            Some("basic") => {
                let users = props.get("sluice.http.auth.basic.users").map(|s| s.trim()).unwrap_or("");
                let list: Vec<[u8; 32]> = users
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(|u| {
                        if u.split_once(':').is_some_and(|(n, p)| !n.is_empty() && !p.is_empty()) {
                            Ok(digest(u.as_bytes()))
                        } else {
                            Err(bad(
                                "sluice.http.auth.basic.users",
                                "each entry must be user:password".into(),
                            ))
                        }
                    })
                    .collect::<Result<_, _>>()?;
                if list.is_empty() {
                    return Err(bad(
                        "sluice.http.auth.basic.users",
                        "is required with sluice.http.auth=basic".into(),
                    ));
                }
                Auth::Basic(list)
            }
            Some("bearer") => {
                let token =
                    Secret::new(props.get("sluice.http.auth.bearer.token").map(|s| s.trim()).unwrap_or(""));
                if token.is_empty() {
                    return Err(bad(
                        "sluice.http.auth.bearer.token",
                        "is required with sluice.http.auth=bearer".into(),
                    ));
                }
                Auth::Bearer(digest(token.expose().as_bytes()))
            }
            Some(other) => {
                return Err(bad("sluice.http.auth", format!("'{other}' is not none, basic or bearer")));
            }
        };
        Ok(HttpSecurity { tls, auth })
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let value = authorization.and_then(|v| v.to_str().ok()).unwrap_or("");
        match &self.auth {
            Auth::Open => true,
            Auth::Basic(users) => {
                let Some(encoded) = value.strip_prefix("Basic ") else { return false };
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
                    return false;
                };
                let d = digest(&decoded);
                users.iter().fold(false, |found, u| found | (*u == d))
            }
            Auth::Bearer(token) => {
                value.strip_prefix("Bearer ").is_some_and(|t| digest(t.trim().as_bytes()) == *token)
            }
        }
    }
}

fn tls_config(cert_path: &str, key_path: &str) -> Result<rustls::ServerConfig, ConnectError> {
    let bad = |p: &str, why: String| ConnectError::BadRequest(format!("worker property {p}: {why}"));
    let cert_pem = std::fs::read(cert_path)
        .map_err(|e| bad("sluice.http.tls.certificate", format!("{cert_path}: {e}")))?;
    let key_pem =
        std::fs::read(key_path).map_err(|e| bad("sluice.http.tls.key", format!("{key_path}: {e}")))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| bad("sluice.http.tls.certificate", format!("{cert_path}: not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad("sluice.http.tls.certificate", format!("{cert_path} holds no certificate")));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| bad("sluice.http.tls.key", format!("{key_path}: {e}")))?
        .ok_or_else(|| bad("sluice.http.tls.key", format!("{key_path} holds no private key")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Internal(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("sluice.http.tls.key", format!("does not match the certificate: {e}")))
}

async fn authenticate(
    axum::extract::State(security): axum::extract::State<HttpSecurity>,
    request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path())
        || security.allows(request.headers().get(header::AUTHORIZATION))
    {
        return next.run(request).await;
    }
    let mut response =
        error_response(StatusCode::UNAUTHORIZED, "Authentication required: send valid credentials");
    let challenge = match security.auth {
        Auth::Bearer(_) => "Bearer",
        _ => "Basic realm=\"sluice\"",
    };
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

/// Serves `router` on `listener` until `cancel` fires, with `security` applied.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    security: HttpSecurity,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let router = router.layer(axum::middleware::from_fn_with_state(security.clone(), authenticate));
    let Some(tls) = security.tls else {
        return axum::serve(listener, router)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (stream, peer) = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let cancel = cancel.clone();
        sluice_core::task::spawn_named(format!("https:{peer}"), async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let connection =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "HTTPS connection ended with an error");
                    }
                }
                () = cancel.cancelled() => connection.as_mut().graceful_shutdown(),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn basic_and_bearer_credentials_are_checked() {
        let basic = HttpSecurity::from_worker(&props(&[
            ("sluice.http.auth", "basic"),
            ("sluice.http.auth.basic.users", "alice:pw1, bob:pw2"),
        ]))
        .unwrap();
        let header = |user_pw: &str| {
            HeaderValue::from_str(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_pw)
            ))
            .unwrap()
        };
        assert!(basic.allows(Some(&header("bob:pw2"))));
        assert!(!basic.allows(Some(&header("bob:pw1"))));
        assert!(!basic.allows(None));
        let bearer = HttpSecurity::from_worker(&props(&[
            ("sluice.http.auth", "bearer"),
            ("sluice.http.auth.bearer.token", "t0k"),
        ]))
        .unwrap();
        assert!(bearer.allows(Some(&HeaderValue::from_static("Bearer t0k"))));
        assert!(!bearer.allows(Some(&HeaderValue::from_static("Bearer t0"))));
        assert!(format!("{bearer:?}").contains("bearer") && !format!("{bearer:?}").contains("t0k"));
        let err =
            HttpSecurity::from_worker(&props(&[("sluice.http.auth", "basic")])).unwrap_err().to_string();
        assert!(err.contains("sluice.http.auth.basic.users"), "{err}");
        let err = HttpSecurity::from_worker(&props(&[("sluice.http.tls.certificate", "/nonexistent")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sluice.http.tls.key"), "{err}");
    }
}
