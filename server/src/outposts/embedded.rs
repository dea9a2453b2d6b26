//! The outpost inside `gatehouse server` (`embedded_outpost`, on by default): the
//! same client and decisions as `gatehouse outpost`, connected to this server's own
//! control channel over loopback, answering `/outpost.gatehouse/` on the core's
//! listeners.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use gatehouse_config::Secret;
use gatehouse_core::Timestamp;
use gatehouse_core::storage::Store;
use gatehouse_outpost::Outpost;
use gatehouse_outpost::control::{Target, run};
use gatehouse_outpost::http::Endpoints;
use gatehouse_outpost::signin::Core;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::StartError;
use crate::state::AppState;

/// The file in the data folder where the embedded outpost keeps its state.
pub const STATE_FILE: &str = "embedded-outpost-state.json";

/// Makes sure the embedded outpost's object exists and starts its client against
/// the HTTP listener at `http`. Returns the outpost, to be answered from.
pub async fn start(
    store: &Store,
    secret_key: &Secret,
    http: SocketAddr,
    data_dir: &Path,
    now: Timestamp,
) -> Result<(Arc<Endpoints>, tokio::task::JoinHandle<()>), StartError> {
    let token = token(secret_key);
    let mut db = store.acquire().await?;
    gatehouse_core::outposts::ensure_embedded(&mut db, token.expose(), now).await?;
    drop(db);
    let outpost = Outpost::new(Some(data_dir.join(STATE_FILE)));
    let target = Target {
        host: format!("http://{}", loopback(http)),
        token,
        danger_insecure: false,
    };
    let core = Core::new(&target.host, false)
        .map_err(|e| StartError::Tls(format!("embedded outpost: {e}")))?;
    let task = tokio::spawn(run(target, outpost.clone()));
    Ok((Arc::new(Endpoints { outpost, core }), task))
}

/// The embedded outpost's token: a MAC of a fixed label under the secret key, so it
/// is never stored and every replica with the same key derives the same one.
fn token(secret_key: &Secret) -> Secret {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret_key.expose().as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return Secret::new(String::new()),
    };
    mac.update(b"gatehouse embedded outpost token");
    let digest = mac.finalize().into_bytes();
    Secret::new(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

/// Where to reach a listener bound to `addr` from this host.
fn loopback(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// `/outpost.gatehouse/…` on the core's listeners: the embedded outpost's answer, or
/// 404 when it is switched off.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let Some(endpoints) = &state.embedded_outpost else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    // The endpoints read no body.
    let (parts, _) = request.into_parts();
    endpoints.answer(&parts).await.map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_stable_per_key_and_differs_between_keys() {
        let a = token(&Secret::new("k".repeat(40)));
        assert_eq!(a.expose(), token(&Secret::new("k".repeat(40))).expose());
        assert_ne!(a.expose(), token(&Secret::new("j".repeat(40))).expose());
        assert_eq!(a.expose().len(), 64);
    }

    #[test]
    fn an_unspecified_address_is_reached_over_loopback() {
        let any: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(loopback(any), "127.0.0.1:9000".parse().unwrap());
        let one: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(loopback(one), one);
    }
}
