//! The outpost's side of the control channel: connect to the core, say hello, then
//! enforce every config and revocation it pushes; when the connection drops, keep
//! enforcing what it has and reconnect with capped exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gatehouse_config::Secret;
use gatehouse_config::control::{CoreMessage, OutpostMessage, PATH};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};

use crate::state::Outpost;

/// First wait after a failure.
const BACKOFF_START: Duration = Duration::from_millis(250);
/// Longest wait between attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Silence from the core after which the connection is taken for dead (it pings
/// every 10 s).
const SILENCE_LIMIT: Duration = Duration::from_secs(35);
/// Longest a frame to the core may take to leave.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the core.
#[derive(Debug, Clone)]
pub struct Target {
    /// The core's URL, `http(s)://host[:port]`.
    pub host: String,
    /// The outpost's token.
    pub token: Secret,
    /// Skip verifying the core's certificate (dangerous).
    pub danger_insecure: bool,
}

/// Why one connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The core refused the token.
    #[error("the core refused the outpost token (401); check GATEHOUSE_TOKEN")]
    Unauthorized,
    /// The core refused the protocol.
    #[error("the core refused this outpost: {0}")]
    Refused(String),
    /// The connection failed or dropped.
    #[error("{0}")]
    Connection(String),
    /// The core sent something outside the protocol.
    #[error("unreadable message from the core: {0}")]
    Protocol(String),
    /// The core went silent.
    #[error("no word from the core for {0:?}")]
    Silent(Duration),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Keeps `outpost` connected to the core for ever.
pub async fn run(target: Target, outpost: Arc<Outpost>) {
    let mut backoff = Backoff::default();
    loop {
        match connect_once(&target, &outpost).await {
            Ok(()) => {
                tracing::info!("the core closed the control channel; reconnecting");
                backoff = Backoff::default();
            }
            Err(Failure { error, welcomed }) => {
                if welcomed {
                    backoff = Backoff::default();
                }
                let wait = backoff.next_wait();
                tracing::warn!(error = %error, retry_in_ms = wait.as_millis() as u64, "control channel down; enforcing the last config");
                metrics::gauge!("gatehouse_outpost_core_connected").set(0.0);
                tokio::time::sleep(wait).await;
                continue;
            }
        }
        metrics::gauge!("gatehouse_outpost_core_connected").set(0.0);
        tokio::time::sleep(backoff.next_wait()).await;
    }
}

struct Failure {
    error: ControlError,
    /// The core had answered the hello: the connection worked, so the next attempt
    /// starts from the shortest wait.
    welcomed: bool,
}

fn failed(error: ControlError) -> Failure {
    Failure {
        error,
        welcomed: false,
    }
}

async fn connect_once(target: &Target, outpost: &Outpost) -> Result<(), Failure> {
    let url = ws_url(&target.host);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| failed(ControlError::Connection(e.to_string())))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", target.token.expose()))
        .map_err(|_| failed(ControlError::Unauthorized))?;
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    let connector = if url.starts_with("wss://") {
        Some(Connector::Rustls(
            crate::tls::client_config(target.danger_insecure).map_err(failed)?,
        ))
    } else {
        None
    };
    let (mut socket, _) = connect_async_tls_with_config(request, None, false, connector)
        .await
        .map_err(|e| {
            failed(match e {
                WsError::Http(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    ControlError::Unauthorized
                }
                other => ControlError::Connection(other.to_string()),
            })
        })?;
    let hello = serde_json::to_string(&OutpostMessage::Hello(outpost.hello()))
        .map_err(|e| failed(ControlError::Protocol(e.to_string())))?;
    send(&mut socket, hello).await.map_err(failed)?;
    tracing::info!(core = %target.host, "control channel open");
    metrics::gauge!("gatehouse_outpost_core_connected").set(1.0);
    let mut welcomed = false;
    let fail = |error, welcomed| Failure { error, welcomed };
    loop {
        let frame = match tokio::time::timeout(SILENCE_LIMIT, socket.next()).await {
            Err(_) => return Err(fail(ControlError::Silent(SILENCE_LIMIT), welcomed)),
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => return Ok(()),
            Ok(Some(Err(e))) => {
                return Err(fail(ControlError::Connection(e.to_string()), welcomed));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Binary(_) => {
                return Err(fail(
                    ControlError::Protocol("a binary frame".into()),
                    welcomed,
                ));
            }
            Message::Close(_) => return Ok(()),
        };
        let message: CoreMessage = serde_json::from_str(text.as_str())
            .map_err(|e| fail(ControlError::Protocol(e.to_string()), welcomed))?;
        let answer = match message {
            CoreMessage::Config { version, snapshot } => {
                outpost.apply_config(version.clone(), *snapshot).await;
                Some(OutpostMessage::Ack {
                    config_version: version,
                })
            }
            CoreMessage::Revocations(revocations) => {
                // The first revocations answer the hello: the core has us.
                welcomed = true;
                outpost.apply_revocations(&revocations).await;
                None
            }
            CoreMessage::Ping { nonce } => Some(OutpostMessage::Pong { nonce }),
            CoreMessage::Refused { reason } => {
                return Err(fail(ControlError::Refused(reason), welcomed));
            }
        };
        if let Some(answer) = answer {
            let text = serde_json::to_string(&answer)
                .map_err(|e| fail(ControlError::Protocol(e.to_string()), welcomed))?;
            send(&mut socket, text)
                .await
                .map_err(|e| fail(e, welcomed))?;
        }
    }
}

/// Sends one text frame, giving up after [`SEND_TIMEOUT`].
async fn send<S>(socket: &mut S, text: String) -> Result<(), ControlError>
where
    S: SinkExt<Message, Error = WsError> + Unpin,
{
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ControlError::Connection(e.to_string())),
        Err(_) => Err(ControlError::Silent(SEND_TIMEOUT)),
    }
}

/// `https://core:9443` → `wss://core:9443/api/v1/outposts/ws`.
fn ws_url(host: &str) -> String {
    let host = host.trim_end_matches('/');
    let ws = match host.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{host}"),
    };
    format!("{ws}{PATH}")
}

/// Capped exponential backoff with jitter: each wait is drawn between half and all
/// of a ceiling that doubles from [`BACKOFF_START`] up to [`BACKOFF_CAP`], so that
/// outposts cut off together do not all come back in the same instant.
#[derive(Debug)]
struct Backoff {
    ceiling: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            ceiling: BACKOFF_START,
        }
    }
}

impl Backoff {
    fn next_wait(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(BACKOFF_CAP);
        let mut byte = [0u8; 1];
        // Without randomness the wait is the ceiling: still capped, only not spread.
        let fraction = match getrandom::fill(&mut byte) {
            Ok(()) => {
                let [random] = byte;
                0.5 + f64::from(random) / 510.0
            }
            Err(_) => 1.0,
        };
        ceiling.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_follows_the_core_scheme() {
        assert_eq!(
            ws_url("https://id.example.org/"),
            "wss://id.example.org/api/v1/outposts/ws"
        );
        assert_eq!(
            ws_url("http://127.0.0.1:9000"),
            "ws://127.0.0.1:9000/api/v1/outposts/ws"
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_below_each_ceiling() {
        let mut backoff = Backoff::default();
        let mut ceiling = BACKOFF_START;
        for _ in 0..20 {
            let wait = backoff.next_wait();
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{wait:?} vs {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(BACKOFF_CAP);
        }
        assert_eq!(backoff.ceiling, BACKOFF_CAP);
    }
}
