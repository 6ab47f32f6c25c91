//! Key lookups by hash, run inline on the calling thread with rusqlite.
//!
//! Verifying a key that is not cached yet needs one indexed read. Through
//! sqlx that read hops to a connection's worker thread and back; on a busy
//! core each hop waits for the scheduler, and first-time verifications crawl
//! (measured: docs/benchmarks.md). An indexed point read costs SQLite a few
//! microseconds, less than the hops, so it runs where it is asked, on a small
//! pool of read-only connections. rusqlite links the same libsqlite3-sys as
//! sqlx, so both drivers share one SQLite.

use super::rows;
use crate::backend;
use keyward_core::key_format::KeyHash;
use keyward_core::model::KeyRecord;
use keyward_core::store::{StoreError, StoredHashes};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

const FIND_BY_HASH: &str = "SELECT * FROM api_keys WHERE hash = ?1
     UNION ALL
     SELECT * FROM api_keys WHERE previous_hash = ?1
     LIMIT 1";

/// The hash clock's row always comes back, joined to each key read or to none.
const HASHES_AFTER: &str = "SELECT c.seq, k.hash, k.previous_hash
       FROM hash_clock c LEFT JOIN api_keys k ON k.hash_seq > ?1
      WHERE c.id = 1";

/// Scans the unique index of `hash`, which covers it.
const EVERY_CURRENT_HASH: &str = "SELECT hash FROM api_keys";

/// Scans the partial index of `previous_hash`, which covers it.
const EVERY_PREVIOUS_HASH: &str =
    "SELECT previous_hash FROM api_keys WHERE previous_hash IS NOT NULL";

/// The hashes written after `after`, with the clock, in one statement.
fn hashes_after(connection: &Connection, after: u64) -> Result<StoredHashes, StoreError> {
    let mut statement = connection.prepare_cached(HASHES_AFTER).map_err(backend)?;
    let mut rows = statement
        .query([i64::try_from(after).unwrap_or(i64::MAX)])
        .map_err(backend)?;
    let mut stored = StoredHashes::default();
    while let Some(row) = rows.next().map_err(backend)? {
        let clock: i64 = row.get(0).map_err(backend)?;
        stored.through = u64::try_from(clock).unwrap_or(0);
        let hash = row.get_ref(1).and_then(|v| Ok(v.as_blob_or_null()?));
        let previous = row.get_ref(2).and_then(|v| Ok(v.as_blob_or_null()?));
        if let Some(hash) = hash.map_err(backend)? {
            stored.add(hash, previous.map_err(backend)?);
        }
    }
    Ok(stored)
}

/// Every stored hash, with the clock. Read from the two hash indexes (about
/// 40 bytes a key) rather than the table (about a kilobyte a key), within
/// one read transaction so that the three reads see one snapshot: a million
/// keys in about 0.3 s rather than 2.4 s.
fn every_hash(connection: &Connection) -> Result<StoredHashes, StoreError> {
    // Rolled back when dropped, should a read fail: nothing to lose, and the
    // connection must not keep an old snapshot for the lookups after it.
    let snapshot = connection.unchecked_transaction().map_err(backend)?;
    let clock: i64 = snapshot
        .query_row("SELECT seq FROM hash_clock WHERE id = 1", [], |row| {
            row.get(0)
        })
        .map_err(backend)?;
    let mut stored = StoredHashes {
        prefixes: Vec::new(),
        through: u64::try_from(clock).unwrap_or(0),
    };
    for sql in [EVERY_CURRENT_HASH, EVERY_PREVIOUS_HASH] {
        let mut statement = snapshot.prepare(sql).map_err(backend)?;
        let mut rows = statement.query([]).map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            let hash = row.get_ref(0).and_then(|v| Ok(v.as_blob()?));
            stored.add(hash.map_err(backend)?, None);
        }
    }
    snapshot.commit().map_err(backend)?;
    Ok(stored)
}

/// Page cache of each lookup connection, in KiB (SQLite's default is 2 MiB).
/// A lookup descends the hash index to a leaf: with 1,000,000 keys the index
/// is about 40 MB, and with the default cache nearly every first-time or
/// unknown key read its leaf from the file again. With 16 MiB a flood of
/// unknown keys went from 0.73 to about 0.9 of the machine's ceiling
/// (docs/benchmarks.md). Lookups run on the runtime's workers, so about one
/// connection per worker is in use and fills its cache.
const LOOKUP_CACHE_KIB: i64 = 16 * 1024;

/// Read-only connections for inline lookups.
pub(super) struct Lookups {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    /// Where each column of [`FIND_BY_HASH`] is, found once: rusqlite finds
    /// a column by name with a scan of every column's name, and a key row
    /// has over thirty columns.
    columns: OnceLock<HashMap<String, usize>>,
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups")
            .field("connections", &self.connections.len())
            .finish()
    }
}

impl Lookups {
    /// Opens `count` read-only connections to the database file at `path`.
    pub(super) fn open(path: &Path, count: usize) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connections = (0..count.max(1))
            .map(|_| {
                let connection = Connection::open_with_flags(path, flags).map_err(backend)?;
                connection
                    .busy_timeout(Duration::from_secs(5))
                    .map_err(backend)?;
                connection
                    .pragma_update(None, "cache_size", -LOOKUP_CACHE_KIB)
                    .map_err(backend)?;
                Ok(Mutex::new(connection))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
            columns: OnceLock::new(),
        })
    }

    /// The key whose current or previous secret hashes to `hash`.
    pub(super) fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(FIND_BY_HASH).map_err(backend)?;
        let columns = self.columns.get_or_init(|| {
            statement
                .column_names()
                .into_iter()
                .enumerate()
                .map(|(index, name)| (name.to_owned(), index))
                .collect()
        });
        let mut found = statement.query([&hash.0[..]]).map_err(backend)?;
        match found.next().map_err(backend)? {
            Some(row) => rows::key(&super::columns::Indexed { row, columns }).map(Some),
            None => Ok(None),
        }
    }

    /// The hashes written after `after` on the hash clock, or every stored
    /// hash, with the clock, from one snapshot.
    pub(super) fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError> {
        let connection = self.connection();
        match after {
            Some(after) => hashes_after(&connection, after),
            None => every_hash(&connection),
        }
    }

    /// The first idle connection, else the next one in turn.
    fn connection(&self) -> MutexGuard<'_, Connection> {
        for connection in &self.connections {
            if let Ok(guard) = connection.try_lock() {
                return guard;
            }
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
