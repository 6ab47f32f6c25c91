//! The embedded SQLite backend.
//!
//! One connection writes (SQLite serializes writers anyway; a single writer
//! makes every transaction start without `SQLITE_BUSY` races and keeps the
//! audit chain strictly ordered), a small pool reads. WAL mode lets readers
//! and the writer proceed together. Verification's own work runs on rusqlite
//! connections beside them: lookups by hash inline ([`lookup`]), and the
//! write-behind of usage on its own connection ([`usage::UsageWriter`]),
//! which waits its turn for the write lock.
//!
//! Every other operation is the shared code of `../shared/`, compiled here
//! over SQLite's types.

#[path = "../shared/audit.rs"]
mod audit;
mod backup;
mod columns;
#[path = "../shared/keys.rs"]
mod keys;
mod lookup;
#[path = "../shared/mail.rs"]
mod mail;
#[path = "../shared/notices.rs"]
mod notices;
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
mod usage;
#[path = "../shared/webhooks.rs"]
mod webhooks;
mod write;

pub use backup::backup;

use crate::{Specific, backend};
use columns::{Column, Columns};
use keyward_core::id::{KeyId, OrgId};
use keyward_core::key_format::KeyHash;
use keyward_core::model::KeyRecord;
use keyward_core::store::{KeyChange, StoreError, StoredHashes};
use keyward_core::usage::UsageBatch;
use rows::micros;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The names the shared code is compiled against.
type Backend = SqliteStore;
type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
use write::WriteTx as Tx;

/// Locks the row a transaction reads before it writes it: nothing to add,
/// since the writer's `BEGIN IMMEDIATE` holds the database's write lock.
const FOR_UPDATE: &str = "";

/// Folds a search term as SQLite's `lower()` folds the column: ASCII only.
fn fold_case(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Announces a changed key to other nodes: one node has nobody to tell.
#[allow(clippy::unused_async, reason = "PostgreSQL's announcement awaits")]
async fn announce(_: &mut Conn, _: &KeyId) -> Result<(), StoreError> {
    Ok(())
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Keyward's data in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    /// Inline lookups by hash.
    lookups: std::sync::Arc<lookup::Lookups>,
    /// Usage written behind verification.
    usage: std::sync::Arc<usage::UsageWriter>,
    /// Whether the last write committed, for readiness.
    writes: std::sync::Arc<write::WriteHealth>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        Self::with_options(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite://` URL and migrates it.
    pub async fn open_url(url: &str) -> Result<Self, sqlx::Error> {
        Self::with_options(SqliteConnectOptions::from_str(url)?).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let file = options.get_filename().to_path_buf();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            // Each connection would see a database of its own.
            return Err(sqlx::Error::Configuration(
                "an in-memory SQLite database is not supported: give a file".into(),
            ));
        }
        // The writer syncs every commit to disk before it is acknowledged: an
        // acknowledged revoke survives a power cut. Readers never write, and
        // usage batches (their own connection) stay cheaper.
        crate::files::create_private_file(&file).map_err(sqlx::Error::Io)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().synchronous(SqliteSynchronous::Full))
            .await?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let open = |e: StoreError| sqlx::Error::Configuration(Box::new(e));
        let lookups = std::sync::Arc::new(lookup::Lookups::open(&file, 4).map_err(open)?);
        let usage = std::sync::Arc::new(usage::UsageWriter::open(&file).map_err(open)?);
        Ok(Self {
            reader,
            writer,
            lookups,
            usage,
            writes: std::sync::Arc::default(),
        })
    }

    /// The pool for reads that may lag a write by a moment.
    fn reads(&self) -> &SqlitePool {
        &self.reader
    }

    /// The pool that sees every committed write at once, and writes
    /// outside transactions: the writer.
    fn fresh(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction.
    async fn begin(&self) -> Result<Tx, StoreError> {
        Tx::begin(&self.writer, &self.writes).await
    }

    /// A write transaction that may append to `org`'s audit log: any, as
    /// the single writer already keeps every writer apart.
    async fn begin_in(&self, _org: &OrgId) -> Result<Tx, StoreError> {
        self.begin().await
    }
}

impl Specific for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn check_writes(&self) -> Result<(), StoreError> {
        if !self.writes.failing() {
            return Ok(());
        }
        // The last write failed: only a write can tell whether space is back.
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO write_probe (id, at) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(micros(chrono::Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await
    }

    async fn close(&self) -> Result<(), StoreError> {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await
            .map_err(backend)?;
        if busy != 0 {
            return Err(StoreError::Backend(
                "the write-ahead log could not be checkpointed: a reader held it".into(),
            ));
        }
        Ok(())
    }

    async fn watch_key_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        Ok(None)
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        self.lookups.find_by_hash(hash)
    }

    async fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError> {
        match after {
            // Only what was written since: a short indexed read, inline like
            // the lookups by hash.
            Some(_) => self.lookups.stored_hashes(after),
            // Every key: a scan of the table, kept off the runtime's workers.
            None => {
                let lookups = std::sync::Arc::clone(&self.lookups);
                tokio::task::spawn_blocking(move || lookups.stored_hashes(None))
                    .await
                    .map_err(backend)?
            }
        }
    }

    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), StoreError> {
        self.usage.record(batch).await
    }
}
