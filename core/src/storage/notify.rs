//! Telling the other core replicas that something changed, through PostgreSQL's
//! LISTEN/NOTIFY. SQLite serves one process, which has no one to tell: there
//! [`publish`] does nothing and [`Listener::start`] gives `None`.
//!
//! Notifications are short text payloads on one channel; what they mean is the
//! caller's business. PostgreSQL drops those sent while a listener is disconnected,
//! so [`Listener::recv`] says when it had to reconnect, and the caller resynchronises.

use sqlx::postgres::PgListener;

use super::{Result, Store};

/// The channel every replica listens on.
pub const CHANNEL: &str = "gatehouse_changes";

/// Sends `payload` to every listening replica (this one included). PostgreSQL only;
/// a no-op on SQLite.
pub async fn publish(store: &Store, payload: &str) -> Result<()> {
    if let Store::Postgres(pool) = store {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// What [`Listener::recv`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A payload another (or this) replica published.
    Payload(String),
    /// The connection was lost and is back: anything published meanwhile is gone.
    Reconnected,
}

/// A replica's subscription to [`CHANNEL`], on its own connection.
pub struct Listener {
    inner: PgListener,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// Subscribes; `None` on SQLite.
    pub async fn start(store: &Store) -> Result<Option<Self>> {
        let Store::Postgres(pool) = store else {
            return Ok(None);
        };
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen(CHANNEL).await?;
        Ok(Some(Self { inner }))
    }

    /// The next notification, or word that some may have been lost. Waits while the
    /// database is unreachable (sqlx reconnects on the next call).
    pub async fn recv(&mut self) -> Result<Heard> {
        match self.inner.try_recv().await? {
            Some(notification) => Ok(Heard::Payload(notification.payload().to_owned())),
            None => Ok(Heard::Reconnected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::testing;

    #[tokio::test]
    async fn a_payload_reaches_a_listener_on_another_pool() {
        let first = testing::postgres().await;
        // A second pool on the same database, as another replica would have.
        let Store::Postgres(pool) = &*first else {
            unreachable!("testing::postgres gives PostgreSQL")
        };
        let second = Store::Postgres(
            sqlx::PgPool::connect_with((*pool.connect_options()).clone())
                .await
                .unwrap(),
        );
        let mut listener = Listener::start(&second).await.unwrap().unwrap();
        publish(&first, "hello there").await.unwrap();
        assert_eq!(
            listener.recv().await.unwrap(),
            Heard::Payload("hello there".into())
        );
    }

    #[tokio::test]
    async fn sqlite_has_nobody_to_tell() {
        let store = testing::sqlite().await;
        assert!(Listener::start(&store).await.unwrap().is_none());
        publish(&store, "ignored").await.unwrap();
    }
}
