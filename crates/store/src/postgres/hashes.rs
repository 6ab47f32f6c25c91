//! The stored key hashes, read for each node's copy (see
//! `keyward_core::stored_hashes`): PostgreSQL streams them in one statement.

use crate::backend;
use keyward_core::store::{StoreError, StoredHashes};
use sqlx::PgPool;

/// The hashes written after `after` on the hash clock, or every stored
/// hash, with the clock, in one statement (one snapshot). The clock's row
/// always comes back, joined to each key read or to none.
pub(super) async fn stored_hashes(
    pool: &PgPool,
    after: Option<u64>,
) -> Result<StoredHashes, StoreError> {
    use futures_util::TryStreamExt;
    let query = match after {
        Some(after) => sqlx::query_as::<_, (i64, Option<Vec<u8>>, Option<Vec<u8>>)>(
            "SELECT c.seq, k.hash, k.previous_hash
               FROM hash_clock c LEFT JOIN api_keys k ON k.hash_seq > $1
              WHERE c.id = 1",
        )
        .bind(i64::try_from(after).unwrap_or(i64::MAX)),
        None => sqlx::query_as(
            "SELECT c.seq, k.hash, k.previous_hash
               FROM hash_clock c LEFT JOIN api_keys k ON TRUE
              WHERE c.id = 1",
        ),
    };
    let mut rows = query.fetch(pool);
    let mut stored = StoredHashes::default();
    while let Some((clock, hash, previous)) = rows.try_next().await.map_err(backend)? {
        stored.through = u64::try_from(clock).unwrap_or(0);
        if let Some(hash) = hash {
            stored.add(&hash, previous.as_deref());
        }
    }
    Ok(stored)
}
