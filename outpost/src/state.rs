//! What the outpost enforces: the last config snapshot the core sent (compiled) and
//! the revocations it has heard. Both sit behind `ArcSwap`s, so every request reads
//! them without a lock while the control channel swaps in new ones; both are written
//! to a file so that an outpost starting without a reachable core enforces them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use gatehouse_config::control::{Hello, PROTOCOL_VERSION, Revocations, Snapshot};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::decide::{self, Admissions, CompiledProvider, Verdict};

/// How long a revocation is remembered past the longest session a provider allows:
/// a cookie issued before that has expired anyway.
const REVOCATION_MARGIN: time::Duration = time::Duration::hours(1);

/// How many opened sessions the outpost keeps decided (see [`decide::admissions`]).
pub const CACHED_SESSIONS: u64 = 200_000;

/// A compiled config snapshot.
#[derive(Debug, Default)]
pub struct Enforced {
    /// The snapshot's version; `None` before any config.
    pub version: Option<String>,
    /// Its providers, ready to decide requests.
    pub providers: Vec<CompiledProvider>,
    /// Which compilation this is in the process: a cached decision counts only
    /// under the generation it was made in.
    pub generation: u64,
}

impl Enforced {
    fn compile(version: Option<String>, snapshot: Option<&Snapshot>) -> Self {
        static GENERATIONS: AtomicU64 = AtomicU64::new(1);
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        let providers = snapshot
            .map(|s| {
                s.providers
                    .iter()
                    .map(|p| CompiledProvider::compile(p, generation))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            version,
            providers,
            generation,
        }
    }
}

/// Revoked sessions and users, by id, with when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Revoked {
    /// Core sessions ended.
    pub sessions: HashMap<Uuid, OffsetDateTime>,
    /// Users whose sessions from before the time are refused.
    pub users: HashMap<Uuid, OffsetDateTime>,
    /// The newest revocation heard: the next hello asks from there.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub watermark: Option<OffsetDateTime>,
}

impl Revoked {
    /// Whether a session `sid` of user `uid` issued at `issued_at` is revoked.
    pub fn refuses(&self, sid: Uuid, uid: Uuid, issued_at: i64) -> bool {
        self.sessions.contains_key(&sid)
            || self
                .users
                .get(&uid)
                .is_some_and(|at| at.unix_timestamp() >= issued_at)
    }

    fn add(&mut self, revocations: &Revocations) {
        for s in &revocations.sessions {
            self.sessions.insert(s.id, s.at);
        }
        for u in &revocations.users {
            let at = self.users.entry(u.id).or_insert(u.at);
            *at = (*at).max(u.at);
        }
        self.watermark = self.watermark.max(revocations.latest());
    }

    /// Forgets what is older than `horizon`.
    fn prune(&mut self, horizon: OffsetDateTime) {
        self.sessions.retain(|_, at| *at >= horizon);
        self.users.retain(|_, at| *at >= horizon);
    }
}

/// What is written to disk.
#[derive(Serialize, Deserialize)]
struct Saved {
    version: Option<String>,
    snapshot: Option<Snapshot>,
    revoked: Revoked,
}

/// The outpost's shared state; one per process (or per embedded outpost).
pub struct Outpost {
    enforced: ArcSwap<Enforced>,
    revoked: ArcSwap<Revoked>,
    /// The snapshot as received, kept to be written to disk with the revocations.
    snapshot: ArcSwap<Option<Snapshot>>,
    file: Option<PathBuf>,
    /// Opened sessions and their decisions.
    admissions: Admissions,
    /// Applies the log level the outpost's config names (a standalone outpost only:
    /// the embedded one shares the server's logs).
    log_level: Option<LogLevelHook>,
}

/// Sets the process's log level (`trace`, `debug`, `info`, `warn`, `error`).
pub type LogLevelHook = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for Outpost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outpost")
            .field("version", &self.enforced.load().version)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Outpost {
    /// State kept in `file` (none: in memory only, for tests). A file that exists is
    /// loaded and enforced at once; one that cannot be read is logged and ignored
    /// (the core sends everything again).
    pub fn new(file: Option<PathBuf>) -> Arc<Self> {
        Self::with_log_level(file, None)
    }

    /// [`Outpost::new`], following the log level of its config with `hook`.
    pub fn with_log_level(file: Option<PathBuf>, hook: Option<LogLevelHook>) -> Arc<Self> {
        let saved = file.as_deref().and_then(load);
        let (version, snapshot, revoked) = match saved {
            Some(saved) => (saved.version, saved.snapshot, saved.revoked),
            None => (None, None, Revoked::default()),
        };
        if let Some(version) = &version {
            tracing::info!(%version, "enforcing the config kept on disk until the core answers");
        }
        let outpost = Arc::new(Self {
            enforced: ArcSwap::from_pointee(Enforced::compile(version, snapshot.as_ref())),
            revoked: ArcSwap::from_pointee(revoked),
            snapshot: ArcSwap::from_pointee(snapshot),
            file,
            admissions: decide::admissions(CACHED_SESSIONS),
            log_level: hook,
        });
        outpost.follow_log_level();
        outpost
    }

    /// Applies the config's `log_level`; an unknown word is logged and ignored.
    fn follow_log_level(&self) {
        let (Some(hook), Some(snapshot)) = (&self.log_level, &**self.snapshot.load()) else {
            return;
        };
        let wanted = snapshot.outpost.config.log_level.to_ascii_lowercase();
        let level = match wanted.as_str() {
            "" => return,
            "warning" => "warn",
            known @ ("trace" | "debug" | "info" | "warn" | "error") => known,
            _ => {
                tracing::warn!(log_level = %wanted, "the outpost's config names an unknown log level; keeping the current one");
                return;
            }
        };
        hook(level);
    }

    /// The compiled config, as of now.
    pub fn enforced(&self) -> arc_swap::Guard<Arc<Enforced>> {
        self.enforced.load()
    }

    /// The revocations, as of now.
    pub fn revoked(&self) -> arc_swap::Guard<Arc<Revoked>> {
        self.revoked.load()
    }

    /// Decides `request` at `now` with what is enforced, through the session cache,
    /// and counts it.
    pub fn decide(&self, request: decide::Request<'_>, now: OffsetDateTime) -> Verdict {
        self.decide_where(request, now, |_| Some(()))
            .map_or(Verdict::UnknownHost, |(verdict, ())| verdict)
    }

    /// Decides `request` as [`Outpost::decide`] does, when `serves` takes the
    /// provider serving its host (proxy mode: one with an upstream), and hands back
    /// what `serves` gave; `None`, and nothing decided, when no provider serves the
    /// host or `serves` declines it.
    pub fn decide_where<T>(
        &self,
        request: decide::Request<'_>,
        now: OffsetDateTime,
        serves: impl FnOnce(&CompiledProvider) -> Option<T>,
    ) -> Option<(Verdict, T)> {
        let started = std::time::Instant::now();
        let enforced = self.enforced.load();
        let Some(provider) = decide::provider_for(&enforced, request.host) else {
            crate::metrics::unknown_host();
            return None;
        };
        let served = serves(provider)?;
        let verdict = decide::decide_for(
            provider,
            &self.revoked.load(),
            request,
            now,
            Some(&self.admissions),
            enforced.generation,
        );
        provider.metrics.record(&verdict, started.elapsed());
        Some((verdict, served))
    }

    /// Sets the gauge of cached sessions (before the metrics are rendered).
    pub fn report_cached_sessions(&self) {
        self.admissions.run_pending_tasks();
        crate::metrics::sessions_cached(self.admissions.entry_count());
    }

    /// The core's URL as browsers reach it, when the outpost's config names one
    /// (`gatehouse_host_browser`); otherwise browsers use `GATEHOUSE_HOST`.
    pub fn browser_core(&self) -> Option<String> {
        let snapshot = self.snapshot.load();
        let url = &snapshot
            .as_ref()
            .as_ref()?
            .outpost
            .config
            .gatehouse_host_browser;
        (!url.is_empty()).then(|| url.trim_end_matches('/').to_owned())
    }

    /// The first message of a connection: what this outpost already has.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            outpost_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_version: self.enforced.load().version.clone(),
            revocations_since: self.revoked.load().watermark,
        }
    }

    /// Enforces a new snapshot from now on, and keeps it on disk.
    pub async fn apply_config(&self, version: String, snapshot: Snapshot) {
        let compiled = Enforced::compile(Some(version.clone()), Some(&snapshot));
        self.enforced.store(Arc::new(compiled));
        // Decisions of the old config no longer count (their generation differs);
        // this frees them at once.
        self.admissions.invalidate_all();
        self.snapshot.store(Arc::new(Some(snapshot)));
        self.follow_log_level();
        self.enforce_and_save(Revoked::clone(&self.revoked.load()))
            .await;
        tracing::info!(%version, "enforcing new config");
    }

    /// Refuses what `revocations` names from now on, and keeps it on disk.
    pub async fn apply_revocations(&self, revocations: &Revocations) {
        if revocations.is_empty() {
            return;
        }
        let mut next = Revoked::clone(&self.revoked.load());
        next.add(revocations);
        tracing::info!(
            sessions = revocations.sessions.len(),
            users = revocations.users.len(),
            "revocations received"
        );
        self.enforce_and_save(next).await;
    }

    /// Enforces `revoked` (less what no live cookie can need any more) from now on,
    /// and writes it to disk with the config.
    async fn enforce_and_save(&self, mut revoked: Revoked) {
        let longest = self
            .snapshot
            .load()
            .as_ref()
            .as_ref()
            .map(|s| {
                s.providers
                    .iter()
                    .map(|p| p.settings.access_token_validity.duration())
                    .max()
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let longest = time::Duration::try_from(longest).unwrap_or(time::Duration::MAX);
        // Measured from the newest revocation (the core's clock), not this machine's.
        if let Some(horizon) = revoked
            .watermark
            .and_then(|w| w.checked_sub(longest.saturating_add(REVOCATION_MARGIN)))
        {
            revoked.prune(horizon);
        }
        let Some(path) = &self.file else {
            self.revoked.store(Arc::new(revoked));
            return;
        };
        let saved = Saved {
            version: self.enforced.load().version.clone(),
            snapshot: Option::clone(&self.snapshot.load()),
            revoked: revoked.clone(),
        };
        self.revoked.store(Arc::new(revoked));
        if let Err(err) = save(path, &saved).await {
            tracing::warn!(error = %err, "cannot keep the config on disk");
        }
    }
}

fn load(path: &Path) -> Option<Saved> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read the kept config");
            return None;
        }
    };
    match serde_json::from_slice(&text) {
        Ok(saved) => Some(saved),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "the kept config is unreadable; ignoring it");
            None
        }
    }
}

/// Writes `saved` next to `path` and renames it over, so a crash leaves the old file
/// or the new one, never half of one. Owner-only: it holds the cookie keys.
async fn save(path: &Path, saved: &Saved) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec(saved).map_err(|e| io(std::io::Error::other(e)))?;
    // Per process: two outposts pointed at one folder by mistake do not interleave.
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let write = {
        let tmp = tmp.clone();
        move || -> std::io::Result<()> {
            use std::io::Write;
            // A leftover file would keep its permissions: start from none.
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        }
    };
    tokio::task::spawn_blocking(write)
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

#[cfg(test)]
mod tests;
