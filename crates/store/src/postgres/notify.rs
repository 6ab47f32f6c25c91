//! Key change announcements between nodes sharing one database.
//!
//! Every transaction that changes a key also sends
//! `pg_notify('keyward_key_changes', <key id>)`; PostgreSQL delivers it to
//! every listening session when the transaction commits, and never when it
//! rolls back. Each node listens and drops its cached copy of the key.
//!
//! Announcements sent while a node's listening connection is down are lost.
//! The node then asks its verifier to drop everything cached
//! ([`KeyChange::Resync`]); the cache TTL bounds staleness in the meantime.

use crate::backend;
use keyward_core::id::KeyId;
use keyward_core::store::{KeyChange, StoreError};
use sqlx::PgConnection;
use sqlx::postgres::{PgListener, PgPool};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel every node listens on.
const CHANNEL: &str = "keyward_key_changes";

/// Announces, on commit, that `key` changed.
pub(super) async fn announce(conn: &mut PgConnection, key: &KeyId) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(key.as_str())
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Starts listening; the task ends when the receiver is dropped.
pub(super) async fn watch(pool: &PgPool) -> Result<mpsc::Receiver<KeyChange>, StoreError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(backend)?;
    listener.listen(CHANNEL).await.map_err(backend)?;
    let (sender, receiver) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut lost = false;
        loop {
            let change = match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if std::mem::take(&mut lost) && sender.send(KeyChange::Resync).await.is_err() {
                        return;
                    }
                    match KeyId::parse(notification.payload()) {
                        Ok(id) => KeyChange::Changed(id),
                        Err(_) => continue,
                    }
                }
                // The connection dropped; the next call reconnects and listens again.
                Ok(None) => {
                    tracing::warn!("lost the key change listener; reconnecting");
                    lost = true;
                    KeyChange::Resync
                }
                Err(error) => {
                    tracing::warn!(%error, "key change listener cannot reach the database; retrying");
                    lost = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    KeyChange::Resync
                }
            };
            if sender.send(change).await.is_err() {
                return;
            }
        }
    });
    Ok(receiver)
}
