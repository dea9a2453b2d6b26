//! Accept loops: plain HTTP through `axum::serve`, HTTPS through rustls and
//! hyper-util (axum's serve has no TLS), both draining on the shared shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::shutdown::Shutdown;

/// A client that opens a connection and never finishes the handshake is dropped
/// after this long instead of holding a task forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over plain HTTP until `stop`, then waits for open requests.
pub async fn serve_plain(
    listener: TcpListener,
    app: Router,
    stop: Shutdown,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.wait())
    .await
}

/// Serves `app` over TLS until `stop`, then waits for open connections to finish
/// their requests.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
    stop: Shutdown,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Usually EMFILE: back off instead of spinning on the error.
                    tracing::warn!(error = %err, "HTTPS accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let acceptor = acceptor.clone();
        // The peer address reaches handlers as ConnectInfo, as on the plain listener.
        let service =
            // Wrap the router rather than `Router::layer`, which would rebuild every
            // route per connection.
            TowerToHyperService::new(tower::Layer::layer(
                &axum::Extension(crate::http::flows::OverTls),
                tower::Layer::layer(&axum::Extension(ConnectInfo(peer)), app.clone()),
            ));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(err) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %err, "HTTPS connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
