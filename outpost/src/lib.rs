//! The Gatehouse outpost: decides every request locally from the configuration and
//! revocations the core pushes over the control channel, and keeps enforcing them
//! when the core is out of reach.
//!
//! It links `gatehouse-core` without the `storage` feature, so no database driver
//! ends up in the outpost (the `dependency_rules` end-to-end test checks this with
//! `cargo tree`).

pub mod bearer;
pub mod control;
pub mod decide;
pub mod http;
pub mod identity;
pub mod login;
pub mod metrics;
pub mod proxy;
pub mod session;
pub mod signin;
pub mod state;
mod tls;

#[cfg(test)]
mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_config::OutpostSettings;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{BackgroundService, background_service};
use pingora::services::listening::Service;
pub use state::Outpost;

/// The file in the data folder that keeps the last config and revocations.
pub const STATE_FILE: &str = "outpost-state.json";

/// Why the outpost could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum OutpostError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({setting}): {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The setting that names it.
        setting: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The data folder could not be made.
    #[error("cannot use the data folder {path} (GATEHOUSE_DATA_DIR): {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something else stopped it from starting.
    #[error("{0}")]
    Start(String),
}

/// Runs the standalone outpost (`gatehouse outpost`) on pingora until SIGTERM
/// (graceful) or SIGINT (fast). `log_level`, when given, is called with the level
/// the outpost's config names. Blocks; pingora makes its own runtimes.
pub fn run(
    settings: OutpostSettings,
    log_level: Option<state::LogLevelHook>,
) -> Result<(), OutpostError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| OutpostError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    let http = usable(settings.listen.http, "GATEHOUSE_LISTEN__HTTP")?;
    let https = usable(settings.listen.https, "GATEHOUSE_LISTEN__HTTPS")?;
    let certified = tls::listener_key(&settings.tls).map_err(OutpostError::Start)?;
    let metrics_addr = usable(settings.listen.metrics, "GATEHOUSE_LISTEN__METRICS")?;
    let Some(token) = settings.token.clone() else {
        // OutpostSettings::load refuses a missing token; this is only reached by a
        // caller that built the settings by hand.
        return Err(OutpostError::Start("GATEHOUSE_TOKEN is not set".into()));
    };
    let handle = metrics::with_buckets(PrometheusBuilder::new())
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| OutpostError::Start(format!("metrics: {e}")))?;
    let outpost = Outpost::with_log_level(Some(settings.data_dir.join(STATE_FILE)), log_level);
    let core = signin::Core::new(&settings.host, settings.insecure)
        .map_err(|e| OutpostError::Start(e.to_string()))?;
    let endpoints = Arc::new(http::Endpoints {
        outpost: outpost.clone(),
        core,
    });

    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let conf = server.configuration.clone();

    let mut gate =
        pingora::proxy::http_proxy_service_with_name(&conf, proxy::Gate::new(endpoints), "outpost");
    if let Some(app) = gate.app_logic_mut() {
        let mut options = pingora::apps::HttpServerOptions::default();
        options.h2c = true;
        app.server_options = Some(options);
    }
    gate.add_tcp(&http.to_string());
    // The pair is loaded already (pingora's own file loading panics on a bad file).
    let mut tls = pingora::listeners::tls::TlsSettings::with_callbacks(Box::new(NoCallbacks))
        .map_err(|e| OutpostError::Start(e.to_string()))?;
    tls.set_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    tls.enable_h2();
    gate.add_tls_with_settings(&https.to_string(), None, tls);

    let mut metrics = Service::new(
        "metrics".into(),
        HttpServer::new_app(Metrics {
            handle,
            outpost: outpost.clone(),
        }),
    );
    metrics.threads = Some(1);
    metrics.add_tcp(&metrics_addr.to_string());

    let mut control = background_service(
        "control channel",
        Control {
            target: control::Target {
                host: settings.host.clone(),
                token,
                danger_insecure: settings.insecure,
            },
            outpost,
        },
    );
    control.threads = Some(1);

    server.add_service(gate);
    server.add_service(metrics);
    server.add_service(control);
    let announce = background_service(
        "announce",
        Announce {
            http,
            https,
            metrics: metrics_addr,
            core: settings.host.clone(),
        },
    );
    server.add_service(announce);
    server.run(RunArgs::default());
    tracing::info!("outpost stopped");
    Ok(())
}

/// `addr` once bound and let go: pingora binds when its services start and exits
/// the process if it cannot, so trying first names the setting instead; port 0
/// becomes the port the system picked.
fn usable(
    addr: std::net::SocketAddr,
    setting: &'static str,
) -> Result<std::net::SocketAddr, OutpostError> {
    std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.local_addr())
        .map_err(|source| OutpostError::Bind {
            addr,
            setting,
            source,
        })
}

/// Says "outpost listening" once the listeners take connections (pingora binds them
/// when its services start, after `run` has handed over).
struct Announce {
    http: std::net::SocketAddr,
    https: std::net::SocketAddr,
    metrics: std::net::SocketAddr,
    core: String,
}

#[async_trait]
impl BackgroundService for Announce {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let mut probe = self.http;
        if probe.ip().is_unspecified() {
            probe.set_ip(match probe {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(probe).await.is_ok() {
                tracing::info!(http = %self.http, https = %self.https, metrics = %self.metrics, core = %self.core, "outpost listening");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::error!(http = %self.http, "the listener does not take connections");
    }
}

/// The HTTPS listener needs no handshake callbacks.
struct NoCallbacks;

#[async_trait]
impl pingora::listeners::TlsAccept for NoCallbacks {}

/// The control channel as a pingora background service.
struct Control {
    target: control::Target,
    outpost: Arc<Outpost>,
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::select! {
            () = control::run(self.target.clone(), self.outpost.clone()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// `GET /metrics` on the metrics listener.
struct Metrics {
    handle: PrometheusHandle,
    outpost: Arc<Outpost>,
}

#[async_trait]
impl ServeHttp for Metrics {
    async fn response(&self, session: &mut ServerSession) -> hyper::Response<Vec<u8>> {
        let found = session.req_header().uri.path() == "/metrics";
        let body = if found {
            self.outpost.report_cached_sessions();
            self.handle.render().into_bytes()
        } else {
            Vec::new()
        };
        let mut response = hyper::Response::new(body);
        if !found {
            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
        }
        response
    }
}
