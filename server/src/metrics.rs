//! Prometheus metrics, served on their own listener (`listen.metrics`, port 9300) so
//! they are never exposed on the public port by accident.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Request latency buckets in seconds: health checks and cached decisions sit in the
/// sub-millisecond buckets, password hashing in the hundreds of milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the process-wide recorder and returns the handle that renders it.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let builder = PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full("gatehouse_http_request_duration_seconds".into()),
        LATENCY_BUCKETS,
    )?;
    let handle = gatehouse_outpost::metrics::with_buckets(builder)?.install_recorder()?;
    metrics::gauge!("gatehouse_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// The metrics listener's router: `GET /metrics` in the Prometheus text format.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> String {
    handle.render()
}

/// Counts requests and records their latency, labelled by route template, method
/// and status.
pub async fn track_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    // Installed with route_layer, so a matched path is always there; the fallback
    // label only guards against the layer being moved in front of routing.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "gatehouse_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "gatehouse_http_request_duration_seconds",
        "method" => method, "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    response
}
