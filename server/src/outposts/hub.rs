//! The hub: where every change that matters to outposts arrives, and from where each
//! connection hears about it.
//!
//! Writers call [`Hub::publish`] after their transaction commits. A config change is
//! passed on as is (each connection rebuilds its own outpost's snapshot and sends it
//! only when its version moved). A revocation makes the hub read what was revoked
//! since its watermark, once for all connections, and pass that on. On PostgreSQL
//! every change is also NOTIFYed to the other replicas, whose hubs do the same, so an
//! outpost connected anywhere hears a logout done anywhere.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_config::control::Revocations;
use gatehouse_core::Timestamp;
use gatehouse_core::storage::Store;
use gatehouse_core::storage::notify::{self, Heard, Listener};
use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast};

/// How far before the newest revocation seen the next read starts: a transaction
/// stamps its revocation when it starts and may commit after a later one, and
/// replicas' clocks differ a little. What was already passed on is filtered out.
pub const SLACK: time::Duration = time::Duration::minutes(5);

/// How many events a slow connection may fall behind before it resynchronises.
const BACKLOG: usize = 256;

/// How often the hub looks again without being told: a safety net for what no
/// notification announced (a NOTIFY lost while the database connection was down, a
/// `gatehouse blueprint apply` on SQLite from another process). Pushes stay
/// immediate; this only bounds how late a missed one can be.
const SWEEP: Duration = Duration::from_secs(30);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Objects outposts enforce (providers, applications, policies, keys…).
    Config,
    /// Sessions ended or users lost access.
    Revocations,
}

impl Change {
    fn word(self) -> &'static str {
        match self {
            Change::Config => "config",
            Change::Revocations => "revocations",
        }
    }
}

/// What connections hear.
#[derive(Debug, Clone)]
pub enum Event {
    /// Rebuild the snapshot and send it if its version moved.
    Config,
    /// Pass these on.
    Revocations(Arc<Revocations>),
}

/// Tells every running replica that objects changed, from a process that has no hub
/// (`gatehouse blueprint apply`): on PostgreSQL their hubs pass it to their
/// outposts. SQLite has no channel for it; the server's own blueprint folder is
/// what it watches.
pub async fn tell_replicas(store: &Store) {
    for change in [Change::Config, Change::Revocations] {
        let payload = format!("cli:{}", change.word());
        if let Err(err) = notify::publish(store, &payload).await {
            tracing::warn!(error = %err, "cannot tell the running servers about the change");
        }
    }
}

/// The hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Tells this replica's own notifications apart from the others'.
    origin: String,
    events: broadcast::Sender<Event>,
    revoked: Notify,
    seen: Mutex<Seen>,
}

/// What the hub already passed on: the newest revocation time, and every revocation
/// within [`SLACK`] of it.
struct Seen {
    watermark: OffsetDateTime,
    passed: HashSet<(bool, uuid::Uuid, OffsetDateTime)>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("origin", &self.inner.origin)
            .field("connections", &self.inner.events.receiver_count())
            .finish()
    }
}

impl Hub {
    /// A hub over `store`; revocations made from `now` on are passed on live.
    pub fn new(store: Store, now: OffsetDateTime) -> Self {
        let (events, _) = broadcast::channel(BACKLOG);
        Self {
            inner: Arc::new(Inner {
                store,
                origin: uuid::Uuid::new_v4().simple().to_string(),
                events,
                revoked: Notify::new(),
                seen: Mutex::new(Seen {
                    watermark: now,
                    passed: HashSet::new(),
                }),
            }),
        }
    }

    /// The store the hub reads.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Says that `change` happened (after its transaction committed), here and to the
    /// other replicas.
    pub async fn publish(&self, change: Change) {
        self.local(change);
        let payload = format!("{}:{}", self.inner.origin, change.word());
        if let Err(err) = notify::publish(&self.inner.store, &payload).await {
            tracing::warn!(error = %err, "cannot tell the other replicas about a change");
        }
    }

    fn local(&self, change: Change) {
        match change {
            // Nobody listening is not an error: no outpost is connected.
            Change::Config => drop(self.inner.events.send(Event::Config)),
            Change::Revocations => self.inner.revoked.notify_one(),
        }
    }

    /// Runs the hub's tasks until `stop`: reading revocations when told, and (on
    /// PostgreSQL) hearing the other replicas.
    pub async fn run(self, stop: crate::shutdown::Shutdown) {
        let listen = self.clone().listen();
        let revocations = self.clone().pass_revocations();
        let sweep = async {
            let mut every = tokio::time::interval(SWEEP);
            every.reset();
            loop {
                every.tick().await;
                self.local(Change::Config);
                self.local(Change::Revocations);
            }
        };
        tokio::select! {
            () = listen => {}
            () = revocations => {}
            () = sweep => {}
            () = stop.wait() => {}
        }
    }

    async fn pass_revocations(self) {
        loop {
            self.inner.revoked.notified().await;
            if let Err(err) = self.read_revocations().await {
                tracing::warn!(error = %err, "cannot read revocations; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.inner.revoked.notify_one();
            }
        }
    }

    async fn read_revocations(&self) -> Result<(), gatehouse_core::storage::StorageError> {
        let since = self.seen().watermark - SLACK;
        let mut db = self.inner.store.acquire().await?;
        let found =
            gatehouse_core::outposts::revocations_since(&mut db, Some(Timestamp::from(since)))
                .await?;
        drop(db);
        let fresh = {
            let mut seen = self.seen();
            let fresh = Revocations {
                sessions: found
                    .sessions
                    .into_iter()
                    .filter(|s| seen.passed.insert((false, s.id, s.at)))
                    .collect(),
                users: found
                    .users
                    .into_iter()
                    .filter(|u| seen.passed.insert((true, u.id, u.at)))
                    .collect(),
            };
            if let Some(latest) = fresh.latest() {
                seen.watermark = seen.watermark.max(latest);
            }
            let floor = seen.watermark - SLACK;
            seen.passed.retain(|(_, _, at)| *at >= floor);
            fresh
        };
        if !fresh.is_empty() {
            tracing::debug!(
                sessions = fresh.sessions.len(),
                users = fresh.users.len(),
                "passing revocations to outposts"
            );
            drop(self.inner.events.send(Event::Revocations(Arc::new(fresh))));
        }
        Ok(())
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panic while holding this lock leaves consistent data (a set and a time).
        self.inner
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes to the other replicas, retrying until it can; `None` on SQLite.
    /// What they said before the subscription is read again.
    async fn subscribe_to_replicas(&self) -> Option<Listener> {
        loop {
            match Listener::start(&self.inner.store).await {
                Ok(Some(listener)) => {
                    self.local(Change::Config);
                    self.local(Change::Revocations);
                    return Some(listener);
                }
                Ok(None) => return None,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for other replicas; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn listen(self) {
        // SQLite: one process, nobody else to hear.
        let Some(mut listener) = self.subscribe_to_replicas().await else {
            return std::future::pending().await;
        };
        loop {
            match listener.recv().await {
                Ok(Heard::Payload(payload)) => {
                    let Some((origin, word)) = payload.split_once(':') else {
                        continue;
                    };
                    if origin == self.inner.origin {
                        continue;
                    }
                    match word {
                        "config" => self.local(Change::Config),
                        "revocations" => self.local(Change::Revocations),
                        other => tracing::debug!(word = other, "unknown change word"),
                    }
                }
                Ok(Heard::Reconnected) => {
                    tracing::info!("listening to other replicas again; resynchronising");
                    self.local(Change::Config);
                    self.local(Change::Revocations);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "lost the other replicas; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match self.subscribe_to_replicas().await {
                        Some(fresh) => listener = fresh,
                        None => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::storage::sessions::{self, NewSession};
    use gatehouse_core::storage::users::{self, NewUser};

    use super::*;

    #[tokio::test]
    async fn a_revocation_is_passed_on_once_however_often_it_is_announced() {
        let dir = tempfile::tempdir().unwrap();
        let url = gatehouse_config::settings::DatabaseUrl::sqlite_file(&dir.path().join("t.db"));
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let start = OffsetDateTime::now_utc();
        let hub = Hub::new(store.clone(), start);
        let mut events = hub.subscribe();
        tokio::spawn(hub.clone().pass_revocations());

        let mut db = store.acquire().await.unwrap();
        let now = Timestamp::from(start);
        let user = users::create(&mut db, NewUser::new("ada"), now)
            .await
            .unwrap();
        let new = |key: &str| NewSession {
            key_hash: key.into(),
            user_id: user.id,
            auth_methods: serde_json::json!(["pwd"]),
            client_ip: "192.0.2.1".into(),
            user_agent: "test".into(),
            expires_at: now + time::Duration::hours(1),
        };
        let first = sessions::create(&mut db, new("a"), now).await.unwrap();
        let second = sessions::create(&mut db, new("b"), now).await.unwrap();
        sessions::revoke(&mut db, first.id, now).await.unwrap();
        hub.publish(Change::Revocations).await;
        let Event::Revocations(heard) = events.recv().await.unwrap() else {
            panic!("expected revocations");
        };
        assert_eq!(heard.sessions.len(), 1);
        assert_eq!(heard.sessions[0].id, first.id.0);

        // Announced again with nothing new: nothing is passed on. The next one is
        // only the new revocation.
        hub.publish(Change::Revocations).await;
        sessions::revoke(&mut db, second.id, now).await.unwrap();
        hub.publish(Change::Revocations).await;
        let Event::Revocations(heard) = events.recv().await.unwrap() else {
            panic!("expected revocations");
        };
        assert_eq!(heard.sessions.len(), 1, "{heard:?}");
        assert_eq!(heard.sessions[0].id, second.id.0);

        hub.publish(Change::Config).await;
        assert!(matches!(events.recv().await.unwrap(), Event::Config));
    }
}
