//! Write transactions on PostgreSQL, and the lock that keeps the audit chain
//! in one line.
//!
//! Several connections, and several Keyward nodes, may write to one
//! organization at once. A transaction that appends to an organization's
//! audit log therefore starts by taking a transaction-scoped advisory lock on
//! that organization ([`Tx::begin_in`]), which PostgreSQL holds until commit
//! or rollback: reading the chain's head and inserting the next event can
//! never interleave with another writer, on any connection of any process.
//! The lock is taken before anything else is written, so every writer
//! acquires its locks in the same order: this one first, then rows.

use crate::backend;
use keyward_core::id::OrgId;
use keyward_core::store::StoreError;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::ops::{Deref, DerefMut};

/// Seed of the advisory lock keys, so that they stay apart from the keys other
/// users of the database may lock ("kwad").
const LOCK_SEED: i64 = 0x6b77_6164;

/// A write transaction, holding one organization's audit lock or none.
#[derive(Debug)]
pub(super) struct Tx {
    tx: Transaction<'static, Postgres>,
    locked: Option<OrgId>,
}

impl Tx {
    /// Begins a transaction that takes no lock of its own.
    pub(super) async fn begin(pool: &PgPool) -> Result<Self, StoreError> {
        let tx = pool.begin().await.map_err(backend)?;
        Ok(Self { tx, locked: None })
    }

    /// Begins a transaction and waits for `org`'s audit lock.
    pub(super) async fn begin_in(pool: &PgPool, org: &OrgId) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        // A 64-bit hash computed by the server, so every node agrees on it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
            .bind(org.as_str())
            .bind(LOCK_SEED)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        Ok(Self {
            tx,
            locked: Some(org.clone()),
        })
    }

    /// Whether appending to `org`'s audit log is safe in this transaction.
    pub(super) fn holds_audit_lock(&self, org: &OrgId) -> bool {
        self.locked.as_ref() == Some(org)
    }

    /// Commits, releasing the lock.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(backend)
    }
}

impl Deref for Tx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
