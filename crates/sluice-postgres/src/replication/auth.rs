//! The authentication exchange that follows the startup message.
//!
//! Supports trust, cleartext password, md5 and SCRAM-SHA-256, with `tls-server-end-point` channel
//! binding (SCRAM-SHA-256-PLUS) whenever the connection is encrypted and the server offers it, so a
//! man in the middle holding another certificate cannot relay the exchange. The password is only
//! ever handed to the encoders; no message built here contains it.

use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use sluice_core::Secret;

use crate::error::PostgresError;

use super::wire::{Backend, Wire, log_notice, server_error};

const SCRAM: &str = "SCRAM-SHA-256";
const SCRAM_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// Answers the server's authentication requests until it sends `AuthenticationOk`.
pub(crate) async fn authenticate(
    wire: &mut Wire,
    user: &str,
    password: Option<&Secret>,
) -> Result<(), PostgresError> {
    let auth_error = |message: String| PostgresError::Auth { user: user.to_owned(), message };
    let need_password = || {
        password.filter(|p| !p.is_empty()).ok_or_else(|| {
            auth_error("the server requires a password for this user; set database.password".to_owned())
        })
    };
    let encode_error =
        |e: std::io::Error| auth_error(format!("cannot encode the authentication response: {e}"));
    let mut scram: Option<ScramSha256> = None;
    let mut scram_verified = false;
    loop {
        match wire.read().await? {
            Backend::Message(Message::AuthenticationOk) => {
                if scram.is_some() && !scram_verified {
                    return Err(auth_error(
                        "the server ended the SCRAM exchange without proving it knows the password"
                            .to_owned(),
                    ));
                }
                return Ok(());
            }
            Backend::Message(Message::AuthenticationCleartextPassword) if scram.is_some() => {
                return Err(auth_error(
                    "the server switched from SCRAM to a clear-text password request; refusing (downgrade)"
                        .to_owned(),
                ));
            }
            Backend::Message(Message::AuthenticationMd5Password(_)) if scram.is_some() => {
                return Err(auth_error(
                    "the server switched from SCRAM to an md5 password request; refusing (downgrade)"
                        .to_owned(),
                ));
            }
            Backend::Message(Message::AuthenticationCleartextPassword) => {
                let password = need_password()?;
                if !wire.transport().is_tls() {
                    tracing::warn!(
                        endpoint = wire.address(),
                        user,
                        "the server asked for the password in clear text over an unencrypted connection"
                    );
                }
                frontend::password_message(password.expose().as_bytes(), wire.out()).map_err(encode_error)?;
            }
            Backend::Message(Message::AuthenticationMd5Password(body)) => {
                let password = need_password()?;
                let hash = md5_hash(user.as_bytes(), password.expose().as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), wire.out()).map_err(encode_error)?;
            }
            Backend::Message(Message::AuthenticationSasl(body)) => {
                let password = need_password()?;
                let mut offered = Vec::new();
                let mut mechanisms = body.mechanisms();
                while let Some(m) = mechanisms
                    .next()
                    .map_err(|e| PostgresError::Protocol(format!("malformed SASL mechanism list: {e}")))?
                {
                    offered.push(m.to_owned());
                }
                let binding = wire.transport().channel_binding();
                let tls = wire.transport().is_tls();
                let plus = offered.iter().any(|m| m == SCRAM_PLUS);
                let (mechanism, channel_binding) = match binding {
                    Some(hash) if plus => (SCRAM_PLUS, ChannelBinding::tls_server_end_point(hash)),
                    // A certificate that allows no binding cannot be told apart from an attacker's
                    // substitute, so an offered PLUS must not be silently declined.
                    None if tls && plus => {
                        return Err(auth_error(
                            "the server offers SCRAM channel binding, but its certificate's signature \
                             algorithm allows none (tls-server-end-point); refusing to authenticate \
                             without it"
                                .to_owned(),
                        ));
                    }
                    // Over TLS, telling the server we could bind ('y') lets it detect a stripped
                    // PLUS offer.
                    _ if tls && offered.iter().any(|m| m == SCRAM) => (SCRAM, ChannelBinding::unrequested()),
                    // Plain text: no binding is possible ('n').
                    None if offered.iter().any(|m| m == SCRAM) => (SCRAM, ChannelBinding::unsupported()),
                    _ => {
                        return Err(auth_error(format!(
                            "unsupported SASL mechanisms offered by the server: {}",
                            offered.join(", ")
                        )));
                    }
                };
                tracing::debug!(endpoint = wire.address(), mechanism, "authenticating with SCRAM");
                let exchange = ScramSha256::new(password.expose().as_bytes(), channel_binding);
                frontend::sasl_initial_response(mechanism, exchange.message(), wire.out())
                    .map_err(encode_error)?;
                scram = Some(exchange);
            }
            Backend::Message(Message::AuthenticationSaslContinue(body)) => {
                let exchange = scram.as_mut().ok_or_else(|| {
                    PostgresError::Protocol("SASL continuation without a SASL exchange".to_owned())
                })?;
                exchange
                    .update(body.data())
                    .map_err(|e| auth_error(format!("invalid SCRAM message from the server: {e}")))?;
                frontend::sasl_response(exchange.message(), wire.out()).map_err(encode_error)?;
            }
            Backend::Message(Message::AuthenticationSaslFinal(body)) => {
                let exchange = scram.as_mut().ok_or_else(|| {
                    PostgresError::Protocol("SASL completion without a SASL exchange".to_owned())
                })?;
                exchange.finish(body.data()).map_err(|e| {
                    auth_error(format!("the server failed SCRAM verification (wrong server?): {e}"))
                })?;
                scram_verified = true;
                continue;
            }
            Backend::Message(
                Message::AuthenticationKerberosV5
                | Message::AuthenticationGss
                | Message::AuthenticationGssContinue(_)
                | Message::AuthenticationSspi
                | Message::AuthenticationScmCredential,
            ) => {
                return Err(auth_error(
                    "unsupported authentication method requested by the server (Kerberos, GSSAPI, SSPI or \
                     SCM credentials); configure pg_hba.conf to use scram-sha-256, md5 or password for this user"
                        .to_owned(),
                ));
            }
            Backend::Message(Message::ErrorResponse(body)) => {
                return Err(PostgresError::server(
                    format!("connecting to {} as user '{user}'", wire.address()),
                    server_error(body.fields()),
                ));
            }
            Backend::Message(Message::NoticeResponse(body)) => {
                log_notice(body.fields(), wire.address());
                continue;
            }
            // Servers report parameters after AuthenticationOk; one earlier is harmless.
            Backend::Message(Message::ParameterStatus(_)) => continue,
            other => {
                return Err(PostgresError::Protocol(format!(
                    "unexpected {} during authentication",
                    other.name()
                )));
            }
        }
        wire.flush().await?;
    }
}
