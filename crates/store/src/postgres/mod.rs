//! The PostgreSQL backend, for deployments that outgrow one file or run
//! several Keyward nodes against one database.
//!
//! Every operation is the shared code of `../shared/`, compiled here over
//! PostgreSQL's types. What SQLite gets from its single writer, ordered audit
//! appends, comes here from a per-organization advisory lock taken at the
//! start of every audited write transaction (`tx.rs`); everything else is
//! plain `READ COMMITTED` with the same optimistic version checks and unique
//! constraints. Changed keys are announced to the other nodes (`notify.rs`).

#[path = "../shared/audit.rs"]
mod audit;
mod columns;
mod hashes;
#[path = "../shared/keys.rs"]
mod keys;
#[path = "../shared/mail.rs"]
mod mail;
#[path = "../shared/notices.rs"]
mod notices;
mod notify;
#[path = "../shared/orgs.rs"]
mod orgs;
#[path = "../shared/outbox.rs"]
mod outbox;
#[path = "../shared/people.rs"]
mod people;
#[path = "../shared/reports.rs"]
mod reports;
#[path = "../shared/rows.rs"]
mod rows;
#[path = "../shared/store.rs"]
mod store;
mod tx;
mod usage;
#[path = "../shared/webhooks.rs"]
mod webhooks;

use crate::{Specific, backend};
use columns::{Column, Columns};
use keyward_core::id::OrgId;
use keyward_core::key_format::KeyHash;
use keyward_core::model::KeyRecord;
use keyward_core::store::{KeyChange, StoreError, StoredHashes};
use keyward_core::usage::UsageBatch;
use notify::announce;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use tx::Tx;

/// The names the shared code is compiled against.
type Backend = PgStore;
type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;

/// Locks the row a transaction reads before it writes it.
const FOR_UPDATE: &str = " FOR UPDATE";

/// Folds a search term as PostgreSQL's `lower()` folds the column: Unicode.
fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node; PostgreSQL's default `max_connections` of 100
/// leaves room for several nodes and the operator's own sessions.
const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `ping` (behind `/readyz`) waits for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Keyward's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` or `postgresql://` URL and migrates the database.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        Self::open_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with `options` and migrates the database. Migrations take
    /// PostgreSQL's migration lock, so nodes starting together apply them once.
    pub async fn open_with(options: PgConnectOptions) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(600))
            .connect_with(options.application_name("keyward"))
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        Ok(Self { pool })
    }

    /// The pool for reads.
    fn reads(&self) -> &PgPool {
        &self.pool
    }

    /// The pool that sees every committed write at once: the same one.
    fn fresh(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction that takes no lock of its own.
    async fn begin(&self) -> Result<Tx, StoreError> {
        Tx::begin(&self.pool).await
    }

    /// A write transaction holding `org`'s audit lock.
    async fn begin_in(&self, org: &OrgId) -> Result<Tx, StoreError> {
        Tx::begin_in(&self.pool, org).await
    }
}

impl Specific for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let answer =
            tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&self.pool));
        match answer.await {
            Ok(result) => result.map(drop).map_err(backend),
            Err(_) => Err(backend(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the database did not answer in time",
            ))),
        }
    }

    /// A write PostgreSQL refuses fails its transaction whole; the pool
    /// replaces a broken connection. Nothing to probe.
    async fn check_writes(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn watch_key_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        notify::watch(&self.pool).await.map(Some)
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM api_keys WHERE hash = $1
             UNION ALL
             SELECT * FROM api_keys WHERE previous_hash = $1
             LIMIT 1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::key).transpose()
    }

    async fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError> {
        hashes::stored_hashes(&self.pool, after).await
    }

    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), StoreError> {
        usage::record(&self.pool, batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_fails_quickly_when_the_server_is_down() {
        // Nothing listens on port 1: connections are refused, and the pool
        // would retry them until its acquire timeout without the ping's own.
        let options = PgConnectOptions::new().host("127.0.0.1").port(1);
        let store = PgStore {
            pool: PgPoolOptions::new()
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with(options),
        };
        let started = std::time::Instant::now();
        assert!(matches!(
            Specific::ping(&store).await,
            Err(StoreError::Backend(_))
        ));
        assert!(started.elapsed() < PING_TIMEOUT + Duration::from_secs(1));
    }
}
