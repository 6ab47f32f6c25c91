//! Write transactions on the single writer connection that can never leave
//! it in a half-finished state.
//!
//! When a `COMMIT` fails (a full disk, an I/O error), SQLite may roll the
//! transaction back or keep it open, and sqlx's own transaction bookkeeping
//! then believes a transaction is still running: every later "transaction"
//! on that connection became a savepoint inside one that was never
//! committed, acknowledged and then lost. Here a transaction is plain
//! `BEGIN IMMEDIATE`/`COMMIT` on a pooled connection, and a connection whose
//! transaction did not commit is closed (closing discards whatever SQLite
//! kept open), so the next write starts on a fresh connection. Whether the last write committed is kept
//! for readiness, which probes with a write of its own while writes fail.

use crate::backend;
use keyward_core::store::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the last write transaction committed.
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    failing: AtomicBool,
}

impl WriteHealth {
    /// True while the last write failed.
    pub(super) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn record(&self, committed: bool) {
        if self.failing.swap(!committed, Ordering::Relaxed) == committed {
            if committed {
                tracing::info!("storage accepts writes again");
            } else {
                tracing::error!("storage refuses writes; the node is not ready until they succeed");
            }
        }
    }
}

/// An open write transaction; rolled back unless [`WriteTx::commit`] succeeds.
#[derive(Debug)]
pub(super) struct WriteTx {
    conn: PoolConnection<Sqlite>,
    health: Arc<WriteHealth>,
    committed: bool,
}

impl WriteTx {
    /// Takes the writer connection and begins, holding the write lock from
    /// the start so that no read inside can be overtaken by another writer.
    pub(super) async fn begin(
        pool: &SqlitePool,
        health: &Arc<WriteHealth>,
    ) -> Result<Self, StoreError> {
        // The guard exists before `BEGIN` is sent: a request cancelled while
        // `BEGIN` waits for the lock still drops it, and the connection,
        // which may have begun after all, is closed instead of going back to
        // the pool inside a transaction.
        let mut tx = Self {
            conn: pool.acquire().await.map_err(backend)?,
            health: Arc::clone(health),
            committed: false,
        };
        if let Err(error) = tx.conn.execute("BEGIN IMMEDIATE").await {
            health.record(false);
            return Err(backend(error));
        }
        Ok(tx)
    }

    /// Whether appending to `org`'s audit log is safe in this transaction:
    /// always, as the single writer keeps every writer apart.
    pub(super) fn holds_audit_lock(&self, _org: &keyward_core::id::OrgId) -> bool {
        true
    }

    /// Commits; only then is the write durable and may be acknowledged.
    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        let result = self.conn.execute("COMMIT").await;
        self.committed = result.is_ok();
        self.health.record(self.committed);
        // A failed commit is closed with the connection, on drop.
        result.map(drop).map_err(backend)
    }
}

impl Drop for WriteTx {
    /// A transaction that did not commit (an error on the way, a failed
    /// commit, a cancelled request) leaves with its connection: closing it
    /// rolls back whatever SQLite kept open, and the pool opens a fresh one
    /// for the next write. Rare enough that the reopening costs nothing
    /// that matters, and nothing can be left half-done.
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}
