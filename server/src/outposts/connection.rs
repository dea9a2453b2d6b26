//! One outpost's WebSocket: `GET /api/v1/outposts/ws` checks the Bearer token before
//! upgrading, then [`serve`] speaks the protocol of `gatehouse_config::control`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_config::control::{
    CoreMessage, Hello, OutpostMessage, PROTOCOL_VERSION, Revocations,
};
use gatehouse_core::Timestamp;
use gatehouse_core::storage::outposts::Outpost;
use tokio::sync::broadcast::error::RecvError;

use super::hub::{Event, Hub, SLACK};
use super::status::Tracked;
use crate::state::AppState;

/// How long an outpost has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the core pings.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Silence after which an outpost is taken for gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(35);
/// Longest a frame may take to leave: an outpost that stops reading is let go.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /api/v1/outposts/ws`: a known outpost token upgrades to the control channel;
/// anything else is a 401, logged without the token.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    // The token is checked first: a request that is not an upgrade learns that only
    // once it has a valid token.
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let outpost = match state.store.acquire().await {
        Ok(mut db) => gatehouse_core::outposts::authenticate(&mut db, token.trim()).await,
        Err(err) => Err(err),
    };
    match outpost {
        Ok(Some(outpost)) => match ws {
            Ok(ws) => {
                let hub = state.hub.clone();
                ws.on_upgrade(move |socket| serve(socket, outpost, hub, peer))
            }
            Err(rejection) => rejection.into_response(),
        },
        Ok(None) => {
            tracing::warn!(
                peer = %peer.ip(),
                token_given = !token.is_empty(),
                "outpost refused: unknown token"
            );
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"detail": "Invalid outpost token."})),
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot check an outpost token");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    Closed,
    Silent,
    Protocol(String),
    Gone,
    Storage(gatehouse_core::storage::StorageError),
}

/// Speaks the protocol with one outpost until either side goes.
pub async fn serve(mut socket: WebSocket, outpost: Outpost, hub: Hub, peer: SocketAddr) {
    let tracked = Tracked::connect(&outpost.name);
    // Subscribing before the first reads means nothing published meanwhile is lost.
    let events = hub.subscribe();
    let mut conn = Connection {
        socket: &mut socket,
        outpost,
        hub,
        tracked,
        sent_version: None,
        sent_revocations: None,
    };
    let end = conn.run(events).await;
    let name = conn.outpost.name.clone();
    match end {
        End::Closed => tracing::info!(outpost = %name, peer = %peer.ip(), "outpost disconnected"),
        End::Silent => tracing::warn!(outpost = %name, "outpost went silent; closing"),
        End::Gone => {
            tracing::info!(outpost = %name, "outpost removed or its token changed; closing")
        }
        End::Protocol(why) => tracing::warn!(outpost = %name, why = %why, "closing"),
        End::Storage(err) => tracing::error!(outpost = %name, error = %err, "closing"),
    }
    drop(socket.send(Message::Close(None)).await);
}

struct Connection<'a> {
    socket: &'a mut WebSocket,
    outpost: Outpost,
    hub: Hub,
    tracked: Tracked,
    sent_version: Option<String>,
    /// The newest revocation sent: after falling behind, what follows it is resent.
    sent_revocations: Option<time::OffsetDateTime>,
}

impl Connection<'_> {
    async fn run(&mut self, mut events: tokio::sync::broadcast::Receiver<Event>) -> End {
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, self.receive()).await {
            Err(_) => return End::Protocol("no hello in time".into()),
            Ok(Err(end)) => return end,
            Ok(Ok(OutpostMessage::Hello(hello))) => hello,
            Ok(Ok(other)) => return End::Protocol(format!("expected hello, got {other:?}")),
        };
        if let Err(end) = self.welcome(&hello).await {
            return end;
        }
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.reset();
        let mut nonce = 0u64;
        let mut heard = Instant::now();
        loop {
            tokio::select! {
                message = self.receive() => {
                    heard = Instant::now();
                    self.tracked.heard();
                    match message {
                        Ok(OutpostMessage::Ack { config_version }) => {
                            tracing::debug!(outpost = %self.outpost.name, version = %config_version, "config acknowledged");
                            self.tracked.acknowledged(&config_version);
                        }
                        Ok(OutpostMessage::Pong { .. }) => {}
                        Ok(OutpostMessage::Hello(_)) => return End::Protocol("a second hello".into()),
                        Err(end) => return end,
                    }
                }
                event = events.recv() => {
                    let done = match event {
                        Ok(Event::Config) => self.send_config().await,
                        Ok(Event::Revocations(revocations)) => self.send_revocations(&revocations).await,
                        // Fell behind: send what may have been missed.
                        Err(RecvError::Lagged(_)) => match self.send_config().await {
                            Ok(()) => {
                                let since = self.sent_revocations.and_then(|t| t.checked_sub(SLACK));
                                self.send_revocations_since(since).await
                            }
                            Err(end) => Err(end),
                        },
                        Err(RecvError::Closed) => Err(End::Closed),
                    };
                    if let Err(end) = done {
                        return end;
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > SILENCE_LIMIT {
                        return End::Silent;
                    }
                    self.tracked.age(heard.elapsed());
                    nonce += 1;
                    if let Err(end) = self.send(&CoreMessage::Ping { nonce }).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Answers the hello: refuses another protocol, sends the config unless the
    /// outpost has it, then everything revoked since what it knows.
    async fn welcome(&mut self, hello: &Hello) -> Result<(), End> {
        if hello.protocol != PROTOCOL_VERSION {
            let reason = format!(
                "this core speaks protocol {PROTOCOL_VERSION}, the outpost {}",
                hello.protocol
            );
            drop(
                self.send(&CoreMessage::Refused {
                    reason: reason.clone(),
                })
                .await,
            );
            return Err(End::Protocol(reason));
        }
        tracing::info!(
            outpost = %self.outpost.name,
            version = %hello.outpost_version,
            config = hello.config_version.as_deref().unwrap_or("none"),
            "outpost connected"
        );
        self.sent_version = hello.config_version.clone();
        if let Some(version) = &hello.config_version {
            self.tracked.acknowledged(version);
        }
        self.send_config().await?;
        // A time the outpost made up (far future, no UTC form) only gets it more.
        let since = hello
            .revocations_since
            .and_then(|t| t.checked_sub(SLACK))
            .filter(|t| *t <= time::OffsetDateTime::now_utc());
        self.send_revocations_since(since).await
    }

    async fn send_config(&mut self) -> Result<(), End> {
        let mut db = self.hub.store().acquire().await.map_err(End::Storage)?;
        // The outpost may have been removed, or its token rotated, since it connected.
        let current = gatehouse_core::storage::outposts::get(&mut db, self.outpost.id)
            .await
            .map_err(End::Storage)?;
        match current {
            Some(now) if now.token_hash == self.outpost.token_hash => self.outpost = now,
            _ => return Err(End::Gone),
        }
        let (version, snapshot) = gatehouse_core::outposts::snapshot(&mut db, &self.outpost)
            .await
            .map_err(End::Storage)?;
        drop(db);
        if self.sent_version.as_ref() == Some(&version) {
            return Ok(());
        }
        tracing::info!(outpost = %self.outpost.name, %version, "sending config");
        self.send(&CoreMessage::Config {
            version: version.clone(),
            snapshot: Box::new(snapshot),
        })
        .await?;
        self.sent_version = Some(version);
        Ok(())
    }

    async fn send_revocations_since(
        &mut self,
        since: Option<time::OffsetDateTime>,
    ) -> Result<(), End> {
        let mut db = self.hub.store().acquire().await.map_err(End::Storage)?;
        let revocations: Revocations =
            gatehouse_core::outposts::revocations_since(&mut db, since.map(Timestamp::from))
                .await
                .map_err(End::Storage)?;
        drop(db);
        // Even an empty list is sent: it tells the outpost it is up to date.
        self.send_revocations(&revocations).await
    }

    async fn send_revocations(&mut self, revocations: &Revocations) -> Result<(), End> {
        self.send(&CoreMessage::Revocations(revocations.clone()))
            .await?;
        self.sent_revocations = self.sent_revocations.max(revocations.latest());
        Ok(())
    }

    async fn send(&mut self, message: &CoreMessage) -> Result<(), End> {
        let text = serde_json::to_string(message)
            .map_err(|e| End::Protocol(format!("cannot encode: {e}")))?;
        match tokio::time::timeout(
            SEND_TIMEOUT,
            self.socket.send(Message::Text(Utf8Bytes::from(text))),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Closed),
            Err(_) => Err(End::Silent),
        }
    }

    /// The next protocol message; pings and pongs of the WebSocket itself are
    /// skipped, a frame that is not a message of the protocol ends the connection.
    async fn receive(&mut self) -> Result<OutpostMessage, End> {
        loop {
            match self.socket.recv().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Err(End::Closed),
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| End::Protocol(format!("unreadable message: {e}")));
                }
                Some(Ok(Message::Binary(_))) => {
                    return Err(End::Protocol(
                        "binary frames are not part of the protocol".into(),
                    ));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            }
        }
    }
}
