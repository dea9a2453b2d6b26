//! Start-up and shutdown of `gatehouse server`: settings → data dir → secret key →
//! database → TLS pair → listeners, then serve until SIGTERM/SIGINT and drain.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_config::Settings;
use gatehouse_core::blueprints::apply::ApplyOptions;
use gatehouse_core::bootstrap::{self, Origin};
use gatehouse_core::storage::{StorageError, Store};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::error::StartError;
use crate::shutdown;
use crate::state::AppState;

mod listeners;

/// How long in-flight requests get to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing the database pool may take once requests are gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often histogram samples are folded when nobody scrapes.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// `gatehouse migrate`: bring the schema up to date and exit.
pub async fn migrate(settings: Settings) -> Result<(), StartError> {
    prepare_data_dir(&settings.data_dir)?;
    let store = open_store(&settings).await?;
    println!(
        "database {} is at schema version {}",
        settings.database_url(),
        store.schema_version()
    );
    store.close().await;
    Ok(())
}

/// `gatehouse server`: runs until a stop signal, then drains and returns.
pub async fn run(settings: Settings, started: Instant) -> Result<(), StartError> {
    prepare_data_dir(&settings.data_dir)?;
    let secret_key = match settings.secret_key.clone() {
        Some(key) => key,
        None => {
            let (key, origin) = bootstrap::load_or_create_secret_key(&settings.data_dir)?;
            if origin == Origin::Created {
                tracing::info!(
                    path = %settings.data_dir.join(bootstrap::SECRET_KEY_FILE).display(),
                    "generated a new secret key; keep this file, or set GATEHOUSE_SECRET_KEY"
                );
            }
            key
        }
    };
    let tls = tls_pair(&settings)?;
    let store = open_store(&settings).await?;
    // Blueprints may name the default signing pair: make it before they apply.
    let made =
        gatehouse_core::oidc::ensure_self_signed(&store, OffsetDateTime::now_utc().into(), async {
            tokio::task::spawn_blocking(|| {
                gatehouse_core::oidc::keys::generate_rsa_pair(
                    bootstrap::SELF_SIGNED_NAME,
                    OffsetDateTime::now_utc(),
                )
            })
            .await
            .map_err(|e| gatehouse_core::oidc::keys::KeyError::Generate(e.to_string()))?
        })
        .await?;
    if made {
        tracing::info!(
            name = bootstrap::SELF_SIGNED_NAME,
            "generated the token signing key pair"
        );
    }

    // Bind everything before announcing readiness, so a taken port fails the start.
    let http = bind(settings.listen.http, "GATEHOUSE_LISTEN__HTTP").await?;
    let https = bind(settings.listen.https, "GATEHOUSE_LISTEN__HTTPS").await?;
    let metrics = bind(settings.listen.metrics, "GATEHOUSE_LISTEN__METRICS").await?;
    let handle = crate::metrics::install().map_err(|e| StartError::Setting {
        name: "GATEHOUSE_LISTEN__METRICS",
        message: e.to_string(),
    })?;

    let (http_addr, https_addr, metrics_addr) = (
        http.local_addr()?,
        https.local_addr()?,
        metrics.local_addr()?,
    );
    let blueprints_dir = settings.blueprints_dir.clone();
    let hub = crate::outposts::Hub::new(store.clone(), OffsetDateTime::now_utc());
    let embedded = if settings.embedded_outpost {
        let (outpost, task) = crate::outposts::embedded::start(
            &store,
            &secret_key,
            http_addr,
            &settings.data_dir,
            OffsetDateTime::now_utc().into(),
        )
        .await?;
        Some((outpost, task))
    } else {
        None
    };
    let state = AppState {
        store: store.clone(),
        settings: Arc::new(settings),
        secret_key,
        oauth2: gatehouse_core::oauth2::Caches::default(),
        hub: hub.clone(),
        embedded_outpost: embedded.as_ref().map(|(outpost, _)| outpost.clone()),
    };
    let app = crate::http::app(state);
    let handle_for_upkeep = handle.clone();
    let (trigger, stop) = shutdown::channel();
    // Blueprints apply in the background: a slow or broken one must not hold up (or
    // stop) the listeners; each outcome is logged and recorded.
    let (first_pass, first_pass_done) = tokio::sync::oneshot::channel();
    let blueprints = tokio::spawn(crate::blueprints::run(
        crate::blueprints::Applier::new(store.clone(), ApplyOptions::default())
            .telling(hub.clone()),
        blueprints_dir,
        stop.clone(),
        first_pass,
    ));
    let announce = tokio::spawn(announce_initial_setup(
        store.clone(),
        browser_url(http_addr),
        first_pass_done,
    ));
    let hub_task = tokio::spawn(hub.run(stop.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(listeners::serve_plain(http, app.clone(), stop.clone()));
    tasks.spawn(listeners::serve_tls(https, tls, app, stop.clone()));
    tasks.spawn(listeners::serve_plain(
        metrics,
        crate::metrics::router(handle),
        stop.clone(),
    ));

    // Catch stop signals before saying we are up: a supervisor may stop us at once.
    let mut signals = shutdown::Signals::install()?;
    tracing::info!(
        http = %http_addr,
        https = %https_addr,
        metrics = %metrics_addr,
        backend = ?store.kind(),
        startup_ms = started.elapsed().as_millis() as u64,
        "listening"
    );
    tracing::info!("Gatehouse is up: open {}", browser_url(http_addr));

    // Histograms keep raw samples until something renders them; upkeep bounds that
    // memory when nobody scrapes.
    let upkeep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(METRICS_UPKEEP).await;
            handle_for_upkeep.run_upkeep();
        }
    });

    let failure = tokio::select! {
        signal = signals.recv() => {
            tracing::info!(signal, "stopping: draining in-flight requests");
            None
        }
        // A listener that ends on its own has failed: stop the others and exit non-zero
        // so a supervisor restarts the process.
        Some(ended) = tasks.join_next() => {
            let message = match ended {
                Ok(Ok(())) => "a listener stopped unexpectedly".to_owned(),
                Ok(Err(err)) => format!("a listener failed: {err}"),
                Err(err) => format!("a listener task failed: {err}"),
            };
            tracing::error!(%message, "stopping");
            Some(message)
        }
    };
    trigger.fire();
    let drained = tokio::select! {
        drained = tokio::time::timeout(DRAIN_TIMEOUT, drain(&mut tasks)) => drained.is_ok(),
        // A second signal means the operator does not want to wait.
        _ = signals.recv() => false,
    };
    if !drained {
        tracing::warn!("requests still running; closing them");
        tasks.abort_all();
    }
    upkeep.abort();
    announce.abort();
    blueprints.abort();
    hub_task.abort();
    if let Some((_, task)) = embedded {
        task.abort();
    }
    // Connections still held by aborted requests would make close() wait forever.
    if tokio::time::timeout(CLOSE_TIMEOUT, store.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still in use after {CLOSE_TIMEOUT:?}; exiting");
    }
    tracing::info!("stopped");
    match failure {
        None => Ok(()),
        Some(message) => Err(StartError::Io(std::io::Error::other(message))),
    }
}

/// Once the blueprints have been applied, logs where to set the first admin's password
/// while nobody has done so.
async fn announce_initial_setup(
    store: Store,
    base: String,
    first_pass: tokio::sync::oneshot::Receiver<()>,
) {
    if first_pass.await.is_err() {
        return;
    }
    use gatehouse_core::flows::{INITIAL_SETUP_SLUG, initial_setup_open};
    match initial_setup_open(&store).await {
        Ok(true) => tracing::warn!(
            "no administrator has a password yet: set one at {base}if/flow/{INITIAL_SETUP_SLUG}/"
        ),
        Ok(false) => {}
        Err(err) => tracing::warn!(error = %err, "cannot tell whether initial setup is open"),
    }
}

async fn drain(tasks: &mut tokio::task::JoinSet<std::io::Result<()>>) {
    while let Some(result) = tasks.join_next().await {
        if let Ok(Err(err)) = result {
            tracing::warn!(error = %err, "listener ended with an error");
        }
    }
}

/// Creates the data dir, private to the server's user: it holds the database with
/// password hashes, the secret key and the TLS key.
pub(crate) fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StartError::Setting {
            name: "GATEHOUSE_DATA_DIR",
            message: format!("cannot create {}: {e}", dir.display()),
        })?;
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %dir.display(),
            "the data dir is readable by other users; it holds password hashes and keys \
             (chmod 700 it)"
        );
    }
    Ok(())
}

pub(crate) async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    let url = settings.database_url();
    let store = Store::connect(&url, settings.database.max_connections)
        .await
        .map_err(|err| match err {
            StorageError::Connect { .. } => StartError::Database(err),
            other => StartError::Storage(other),
        })?;
    store.migrate().await?;
    tracing::info!(
        database = %url,
        schema_version = store.schema_version(),
        "database ready"
    );
    Ok(store)
}

fn tls_pair(settings: &Settings) -> Result<Arc<rustls::ServerConfig>, StartError> {
    let pair = match (&settings.tls.certificate, &settings.tls.key) {
        (Some(cert), Some(key)) => bootstrap::load_tls_pair(cert, key)?,
        _ => {
            let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
            let (pair, origin) = bootstrap::load_or_create_self_signed(
                &settings.data_dir,
                &names,
                OffsetDateTime::now_utc(),
            )?;
            if origin == Origin::Created {
                tracing::info!(
                    path = %settings.data_dir.join(bootstrap::TLS_DIR).display(),
                    "generated a self-signed certificate for HTTPS; set GATEHOUSE_TLS__CERTIFICATE \
                     and GATEHOUSE_TLS__KEY to use your own"
                );
            }
            pair
        }
    };
    crate::tls::server_config(&pair)
}

async fn bind(addr: SocketAddr, setting: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Setting {
            name: setting,
            message: format!("cannot listen on {addr}: {e}"),
        })
}

/// The URL to print for a person: a wildcard address becomes `localhost`.
fn browser_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}/", addr.port())
    } else {
        format!("http://{addr}/")
    }
}
