//! The outpost's metrics: decisions by application and result with their latency,
//! upstream answers in proxy mode with theirs, and the sessions cached. A standalone
//! outpost serves them on its metrics listener (9300); the embedded one through the
//! server's.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

use crate::decide::Verdict;

/// Decisions by application and result.
pub const DECISIONS: &str = "gatehouse_outpost_decisions_total";
/// How long deciding one request took.
pub const DECISION_SECONDS: &str = "gatehouse_outpost_decision_seconds";
/// How long the upstream took to answer, in proxy mode.
pub const UPSTREAM_SECONDS: &str = "gatehouse_outpost_upstream_seconds";

/// Buckets for both: a cached decision takes microseconds, an upstream up to seconds.
pub const BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// `builder` with the outpost's histogram buckets.
pub fn with_buckets(builder: PrometheusBuilder) -> Result<PrometheusBuilder, BuildError> {
    builder
        .set_buckets_for_metric(Matcher::Full(DECISION_SECONDS.into()), BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(UPSTREAM_SECONDS.into()), BUCKETS)
}

/// One application's decision counters by result and its latency histogram,
/// registered once per config (looking a labelled metric up per request costs more
/// than the decision).
pub(crate) struct Decisions {
    skipped: Counter,
    allowed: Counter,
    sign_in: Counter,
    forbidden: Counter,
    latency: Histogram,
}

impl Decisions {
    pub(crate) fn of(application: &str) -> Self {
        let counter = |result: &'static str| metrics::counter!(DECISIONS, "application" => application.to_owned(), "result" => result);
        Self {
            skipped: counter("skipped"),
            allowed: counter("allowed"),
            sign_in: counter("sign_in"),
            forbidden: counter("forbidden"),
            latency: metrics::histogram!(DECISION_SECONDS, "application" => application.to_owned()),
        }
    }

    /// Counts one decision that took `took`.
    pub(crate) fn record(&self, verdict: &Verdict, took: Duration) {
        match verdict {
            Verdict::Allow(a) if a.who.is_none() => self.skipped.increment(1),
            Verdict::Allow(_) => self.allowed.increment(1),
            Verdict::SignIn => self.sign_in.increment(1),
            Verdict::Forbidden { .. } => self.forbidden.increment(1),
            Verdict::UnknownHost => {}
        }
        self.latency.record(took);
    }
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions").finish_non_exhaustive()
    }
}

/// One request for a host no provider serves.
pub(crate) fn unknown_host() {
    metrics::counter!(DECISIONS, "application" => "", "result" => "unknown_host").increment(1);
}

/// One proxy-mode application's upstream answers by status and their latency,
/// registered once per config; a counter per status as the status is first seen.
pub(crate) struct Upstream {
    application: Arc<str>,
    latency: Histogram,
    /// Indexed by status (0: no answer came; anything above 599 counts as 599).
    responses: Box<[OnceLock<Counter>]>,
}

impl Upstream {
    pub(crate) fn of(application: Arc<str>) -> Self {
        Self {
            latency: metrics::histogram!(UPSTREAM_SECONDS, "application" => application.to_string()),
            responses: (0..600).map(|_| OnceLock::new()).collect(),
            application,
        }
    }

    /// Counts one upstream answer (`status` 0: none came) that took `took`.
    pub(crate) fn record(&self, status: u16, took: Duration) {
        let status = status.min(599);
        if let Some(slot) = self.responses.get(usize::from(status)) {
            slot.get_or_init(|| {
                metrics::counter!("gatehouse_outpost_upstream_responses_total", "application" => self.application.to_string(), "status" => status.to_string())
            })
            .increment(1);
        }
        self.latency.record(took);
    }
}

/// How many opened sessions the outpost holds decided.
pub(crate) fn sessions_cached(count: u64) {
    #[allow(clippy::cast_precision_loss)] // a count far below 2^52
    metrics::gauge!("gatehouse_outpost_sessions_cached").set(count as f64);
}
