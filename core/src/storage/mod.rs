//! Storage: one `Store` over SQLite (embedded default) or PostgreSQL (scale-out),
//! with typed repository functions per model in the submodules.
//!
//! Both backends run the same SQL text: queries use `$1`-style placeholders (which
//! SQLite accepts too) and portable SQL. The [`dispatch!`] macro expands a query once
//! per backend so each is type-checked against its own driver, without `sqlx::Any`'s
//! lowest-common-denominator types. Repository functions take `&mut impl Db`, which
//! is either a pooled connection ([`Conn`]) or a transaction ([`Tx`]), so callers
//! choose the transaction boundary.

use std::str::FromStr;
use std::time::Duration;

use gatehouse_config::settings::{DatabaseKind, DatabaseUrl};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

pub mod applications;
pub mod blueprint_instances;
pub mod brands;
pub mod certificates;
pub mod events;
pub mod flow_sessions;
pub mod flows;
pub mod groups;
pub mod notify;
pub mod oauth2;
pub mod outposts;
pub mod policies;
pub mod property_mappings;
pub mod providers;
pub mod sessions;
pub mod stages;
pub mod tokens;
pub mod user_revocations;
pub mod users;

#[cfg(test)]
pub(crate) mod testing;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a caller waits for a pooled connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on a lock held by another writer.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database could not be opened or reached.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("cannot migrate database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique constraint refused the write (a name or slug already taken).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A foreign key refused the write (it names an object that does not exist).
    #[error("refers to something that does not exist: {0}")]
    MissingReference(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db) = err.as_database_error() {
            if db.is_unique_violation() {
                return Self::Conflict(db.message().to_owned());
            }
            if db.is_foreign_key_violation() {
                return Self::MissingReference(db.message().to_owned());
            }
        }
        Self::Database(err)
    }
}

/// Result of a storage operation.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A connection pool on one of the two backends.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite file, WAL mode.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl Store {
    /// Opens a pool for `url`. A SQLite file (and its folder) is created when missing.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self> {
        let connect_err = |source| StorageError::Connect {
            url: url.to_string(),
            source,
        };
        match url.kind() {
            DatabaseKind::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .map_err(connect_err)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL + NORMAL is durable against application crashes and only
                    // risks the last transactions on power loss; the usual trade-off.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT);
                if let Some(dir) = options.get_filename().parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| connect_err(sqlx::Error::Io(e)))?;
                }
                Self::connect_sqlite(options, max_connections)
                    .await
                    .map_err(connect_err)
            }
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(url.expose()).map_err(connect_err)?;
                Self::connect_postgres(options, max_connections)
                    .await
                    .map_err(connect_err)
            }
        }
    }

    /// Opens a SQLite pool with the given options.
    pub async fn connect_sqlite(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(pool))
    }

    /// Opens a PostgreSQL pool with the given options.
    pub async fn connect_postgres(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::Postgres(pool))
    }

    /// A private in-memory SQLite database (one connection), unmigrated: for
    /// checking blueprints where no database exists yet.
    pub async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Ok(Self::connect_sqlite(options, 1).await?)
    }

    /// Which backend this is.
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Self::Sqlite(_) => DatabaseKind::Sqlite,
            Self::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Applies every pending migration of this backend. Safe to run concurrently from
    /// several replicas: sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// The newest migration version this build knows for the backend.
    pub fn schema_version(&self) -> i64 {
        let migrator = match self {
            Self::Sqlite(_) => &SQLITE_MIGRATIONS,
            Self::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.acquire().await?;
        dispatch!(&mut conn, |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// A pooled connection for reads and single writes.
    pub async fn acquire(&self) -> Result<Conn> {
        Ok(match self {
            Self::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Self::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Starts a transaction; it rolls back unless [`Tx::commit`] is called.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            // IMMEDIATE takes the write lock up front: a deferred transaction that
            // reads and then writes under WAL fails with SQLITE_BUSY at once, without
            // waiting for busy_timeout, when another writer got there first.
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection taken from the pool.
#[derive(Debug)]
pub enum Conn {
    /// SQLite.
    Sqlite(PoolConnection<Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<Postgres>),
}

/// An open transaction.
#[derive(Debug)]
pub enum Tx {
    /// SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// Makes the transaction's writes visible.
    pub async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(tx) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Serializes this transaction with every other one that takes the same `key`, on
    /// every replica, until it ends: a PostgreSQL transaction-level advisory lock.
    /// SQLite needs none: `BEGIN IMMEDIATE` already admits one writer at a time.
    pub async fn lock(&mut self, key: i64) -> Result<()> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Discards the transaction's writes.
    pub async fn rollback(self) -> Result<()> {
        match self {
            Self::Sqlite(tx) => tx.rollback().await?,
            Self::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// A borrowed connection of either backend, what a query runs on.
#[derive(Debug)]
pub enum Executor<'c> {
    /// SQLite.
    Sqlite(&'c mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'c mut PgConnection),
}

/// Something repository functions can run queries on: a [`Conn`] or a [`Tx`].
pub trait Db: Send {
    /// The underlying connection.
    fn executor(&mut self) -> Executor<'_>;
}

impl<T: Db + ?Sized> Db for &mut T {
    fn executor(&mut self) -> Executor<'_> {
        (**self).executor()
    }
}

impl Db for Conn {
    fn executor(&mut self) -> Executor<'_> {
        match self {
            Self::Sqlite(c) => Executor::Sqlite(c),
            Self::Postgres(c) => Executor::Postgres(c),
        }
    }
}

impl Db for Tx {
    fn executor(&mut self) -> Executor<'_> {
        match self {
            Self::Sqlite(tx) => Executor::Sqlite(tx),
            Self::Postgres(tx) => Executor::Postgres(tx),
        }
    }
}

/// Runs `$body` with `$c` bound to the backend's connection, expanded once per
/// backend so that each copy is type-checked against its own driver.
macro_rules! dispatch {
    ($db:expr, |$c:ident| $body:expr) => {
        match $crate::storage::Db::executor($db) {
            $crate::storage::Executor::Sqlite($c) => $body,
            $crate::storage::Executor::Postgres($c) => $body,
        }
    };
}
pub(crate) use dispatch;

/// `Ok(Option<Row>)` of a `query_as` with the given bound values.
macro_rules! fetch_optional {
    ($db:expr, $sql:expr $(, $value:expr)* $(,)?) => {
        Ok($crate::storage::dispatch!($db, |c| sqlx::query_as($sql)
            $(.bind($value))*
            .fetch_optional(c)
            .await)?)
    };
}
pub(crate) use fetch_optional;

/// `Ok(Vec<Row>)` of a `query_as` with the given bound values.
macro_rules! fetch_all {
    ($db:expr, $sql:expr $(, $value:expr)* $(,)?) => {
        Ok($crate::storage::dispatch!($db, |c| sqlx::query_as($sql)
            $(.bind($value))*
            .fetch_all(c)
            .await)?)
    };
}
pub(crate) use fetch_all;

/// `Ok(true)` when a `DELETE … WHERE id = $1` removed a row.
macro_rules! delete_one {
    ($db:expr, $sql:literal, $id:expr) => {{
        let done = $crate::storage::dispatch!($db, |c| sqlx::query($sql)
            .bind($id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }};
}
pub(crate) use delete_one;

/// Implements sqlx's text encoding for a type that is stored as its `Display` form
/// and read back with `FromStr` (ids, enums).
macro_rules! sql_text {
    ($($name:ty),* $(,)?) => {$(
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.to_string(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<$name>()?)
            }
        }
    )*};
}
pub(crate) use sql_text;

sql_text!(
    crate::ids::UserId,
    crate::ids::GroupId,
    crate::ids::TokenId,
    crate::ids::BrandId,
    crate::ids::FlowId,
    crate::ids::StageId,
    crate::ids::StageBindingId,
    crate::ids::PolicyId,
    crate::ids::PolicyBindingId,
    crate::ids::ApplicationId,
    crate::ids::ProviderId,
    crate::ids::PropertyMappingId,
    crate::ids::CertificateKeyPairId,
    crate::ids::OutpostId,
    crate::ids::SessionId,
    crate::ids::EventId,
    crate::ids::FlowSessionId,
    crate::ids::OAuth2CodeId,
    crate::ids::OAuth2TokenId,
    crate::ids::GrantId,
    crate::ids::DeviceCodeId,
);
