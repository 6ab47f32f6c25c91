//! Writing usage behind verification, and reading it back per key.

use super::rows::micros;
use crate::backend;
use keyward_core::store::StoreError;
use keyward_core::usage::UsageBatch;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Writes usage batches through a connection of its own, on a thread of its
/// own: one transaction per batch, one cached statement per row.
///
/// A flush after a burst of first-time verifications carries tens of
/// thousands of keys. Through sqlx every statement is a round trip to the
/// connection's worker thread, and one statement over the whole batch as a
/// JSON array makes SQLite parse JSON again for every value it extracts
/// (measured: about 39,000 instructions per key). A prepared statement
/// stepped once per row costs a B-tree seek and a write.
///
/// The thread runs at a lower priority (nice 10 on Linux): usage is written
/// behind verification, so when both want the same core, the requests go
/// first. A flush that would take half the core from them for a few
/// milliseconds takes a tenth of it for longer, still well within the second.
pub(super) struct UsageWriter {
    batches: mpsc::Sender<(UsageBatch, oneshot::Sender<Result<(), StoreError>>)>,
}

impl std::fmt::Debug for UsageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageWriter").finish_non_exhaustive()
    }
}

/// The usage writer's nice value: lower priority than the request loop.
#[cfg(target_os = "linux")]
const WRITER_NICE: i32 = 10;

const LAST_USED: &str =
    "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE id = ?1";

// Add to the stored count when it counts the same period; start a later
// period's count afresh; never go back to an earlier period (another node
// may already count the next one).
const QUOTA_USED: &str = "UPDATE api_keys SET
         quota_used = CASE
             WHEN quota_period_start IS ?1 THEN quota_used + ?2
             WHEN ?1 IS NULL OR quota_period_start IS NULL OR quota_period_start < ?1 THEN ?2
             ELSE quota_used END,
         quota_period_start = CASE
             WHEN ?1 IS NULL OR quota_period_start IS NULL OR quota_period_start < ?1 THEN ?1
             ELSE quota_period_start END
     WHERE id = ?3";

const COUNT: &str = "INSERT INTO key_usage (org_id, key_id, hour, code, count)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (key_id, hour, code) DO UPDATE SET count = count + excluded.count";

// The same count under the key's organization and project: the rollup that
// organization-wide usage reads (a purged key's count is not rolled up).
const ORG_COUNT: &str = "INSERT INTO org_usage (org_id, project_id, hour, code, count)
     SELECT org_id, project_id, ?2, ?3, ?4 FROM api_keys WHERE id = ?1
     ON CONFLICT (org_id, hour, project_id, code) DO UPDATE SET count = count + excluded.count";

impl UsageWriter {
    /// Opens a connection to the database file at `path`, already migrated.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(backend)?;
        // As on the sqlx connections (both settings are per connection).
        connection
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(backend)?;
        let (batches, received) =
            mpsc::channel::<(UsageBatch, oneshot::Sender<Result<(), StoreError>>)>();
        std::thread::Builder::new()
            .name("keyward-usage".to_owned())
            .spawn(move || {
                lower_priority();
                // Ends when the store, and with it the sender, is dropped.
                for (mut batch, reply) in received {
                    // In key order, neighbours in the indexes share pages.
                    batch
                        .last_used
                        .sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                    batch
                        .counts
                        .sort_unstable_by(|a, b| a.key_id.as_str().cmp(b.key_id.as_str()));
                    let _ = reply.send(write(&mut connection, &batch));
                }
            })
            .map_err(backend)?;
        Ok(Self { batches })
    }

    /// Writes one batch in one transaction.
    pub(super) async fn record(&self, batch: &UsageBatch) -> Result<(), StoreError> {
        let (reply, written) = oneshot::channel();
        self.batches
            .send((batch.clone(), reply))
            .map_err(|_| StoreError::Backend("the usage writer has stopped".into()))?;
        written
            .await
            .map_err(|_| StoreError::Backend("the usage writer has stopped".into()))?
    }
}

/// Lowers the calling thread's priority (Linux's nice value is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), WRITER_NICE)
    {
        tracing::warn!(%error, "cannot lower the usage writer's priority");
    }
}

fn write(connection: &mut Connection, batch: &UsageBatch) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let mut rows = Pacing::default();
    {
        let mut last_used = tx.prepare_cached(LAST_USED).map_err(backend)?;
        for (key_id, at) in &batch.last_used {
            last_used
                .execute(params![key_id.as_str(), micros(*at)])
                .map_err(backend)?;
            rows.written();
        }
        let mut quota_used = tx.prepare_cached(QUOTA_USED).map_err(backend)?;
        for quota in &batch.quotas {
            quota_used
                .execute(params![
                    quota.period_start.map(micros),
                    i64::try_from(quota.count).unwrap_or(i64::MAX),
                    quota.key_id.as_str(),
                ])
                .map_err(backend)?;
            rows.written();
        }
        let mut count = tx.prepare_cached(COUNT).map_err(backend)?;
        let mut org_count = tx.prepare_cached(ORG_COUNT).map_err(backend)?;
        for c in &batch.counts {
            let n = i64::try_from(c.count).unwrap_or(i64::MAX);
            count
                .execute(params![
                    c.org_id.as_str(),
                    c.key_id.as_str(),
                    micros(c.hour),
                    c.code.as_str(),
                    n,
                ])
                .map_err(backend)?;
            org_count
                .execute(params![
                    c.key_id.as_str(),
                    micros(c.hour),
                    c.code.as_str(),
                    n
                ])
                .map_err(backend)?;
            rows.written();
        }
    }
    tx.commit().map_err(backend)
}

/// Offers the core to other threads every few rows. Linux's scheduler
/// (EEVDF) lets a thread it picks run for a whole slice, about 3 ms,
/// whatever its priority: a flush sharing a core with the request loop held
/// it that long at a time, and the p99 of verification doubled. Yielding
/// every 64 rows (about 0.3 ms of work) keeps each hold short.
#[derive(Default)]
struct Pacing(u32);

impl Pacing {
    const ROWS: u32 = 64;

    fn written(&mut self) {
        self.0 += 1;
        if self.0.is_multiple_of(Self::ROWS) {
            std::thread::yield_now();
        }
    }
}
