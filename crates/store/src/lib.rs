//! Storage backends for Keyward, behind [`keyward_core::store::Store`].
//!
//! The backend is chosen from the database URL at start-up; without one,
//! Keyward keeps an embedded SQLite database in its data directory. All SQL of
//! the project lives in this crate, one module per backend with one
//! migrations folder each (`migrations/sqlite`, `migrations/postgres`, files
//! named alike), and one conformance suite (`tests/conformance`) holds both
//! to the same behaviour.

// `shared/` holds each operation once and is compiled once per backend, over
// that backend's types: loading its files twice is the point.
#![allow(clippy::duplicate_mod)]

pub mod files;
pub mod postgres;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use keyward_core::store::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// File name of the embedded database inside the data directory.
pub const SQLITE_FILE: &str = "keyward.db";

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names a backend this build does not have.
    #[error("unsupported database URL scheme in `{0}`: use sqlite:, postgres:// or postgresql://")]
    UnsupportedScheme(String),
    /// Opening or migrating failed.
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("creating data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Opens the database named by `database_url`, or the embedded SQLite file in
/// `data_dir`, and applies pending migrations.
///
/// `sqlite:` URLs open SQLite, `postgres://` and `postgresql://` URLs
/// PostgreSQL; any other scheme is [`ConnectError::UnsupportedScheme`].
pub async fn connect(
    database_url: Option<&str>,
    data_dir: &Path,
) -> Result<Arc<dyn Store>, ConnectError> {
    match database_url {
        None => {
            files::create_data_dir(data_dir).map_err(|source| ConnectError::DataDir {
                path: data_dir.display().to_string(),
                source,
            })?;
            Ok(Arc::new(
                sqlite::SqliteStore::open(&data_dir.join(SQLITE_FILE)).await?,
            ))
        }
        Some(url) if url.starts_with("sqlite:") => {
            Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(postgres::PgStore::open(url).await?))
        }
        Some(url) => Err(ConnectError::UnsupportedScheme(redact(url))),
    }
}

/// Why `keyward backup` could not copy the database.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Only the embedded database is copied by Keyward.
    #[error(
        "keyward backup copies the embedded SQLite database; back PostgreSQL up with its own \
         tools (pg_dump, or base backups with WAL archiving): see docs/deployment.md"
    )]
    NotSqlite,
    /// Reading the database or writing the copy failed.
    #[error("{0}")]
    Database(#[from] sqlx::Error),
}

/// Writes a consistent copy of the live embedded database named by
/// `database_url` (or in `data_dir`) to `output`, which must not exist.
pub async fn backup(
    database_url: Option<&str>,
    data_dir: &Path,
    output: &Path,
) -> Result<(), BackupError> {
    use std::str::FromStr;
    let options = match database_url {
        None => sqlx::sqlite::SqliteConnectOptions::new().filename(data_dir.join(SQLITE_FILE)),
        Some(url) if url.starts_with("sqlite:") => {
            sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        }
        Some(_) => return Err(BackupError::NotSqlite),
    };
    Ok(sqlite::backup(&options, output).await?)
}

/// A URL with any password replaced, fit for error messages and logs.
pub fn redact(url: &str) -> String {
    let without_userinfo_password = match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    // `?password=…` (and `&password=…`) in the query string.
    match without_userinfo_password.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => without_userinfo_password,
    }
}

pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// A unique violation as the `Conflict` it means, any other error as it is.
pub(crate) fn unique_as_conflict(error: sqlx::Error, message: &str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(message.to_owned())
    } else {
        backend(error)
    }
}

/// What each backend does its own way. Every other operation is written
/// once, in `shared/`, and compiled for each backend (`#[path]` modules over
/// the backend's `Db`, `Conn`, `Tx` and pools); this trait and a few named
/// items in each backend's `mod.rs` (`announce`, `fold_case`, `FOR_UPDATE`)
/// are the whole difference.
pub(crate) trait Specific {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Checks that the database accepts writes (see `Store::check_writes`).
    async fn check_writes(&self) -> Result<(), StoreError>;
    /// Runs at a clean shutdown (see `Store::close`).
    async fn close(&self) -> Result<(), StoreError>;
    /// Key changes made by other nodes; `None` with a single node.
    async fn watch_key_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<keyward_core::store::KeyChange>>, StoreError>;
    /// The key stored with `hash` as its current or previous secret.
    async fn find_key_by_hash(
        &self,
        hash: &keyward_core::key_format::KeyHash,
    ) -> Result<Option<keyward_core::model::KeyRecord>, StoreError>;
    /// The stored hashes written after `after` on the hash clock, or all.
    async fn stored_hashes(
        &self,
        after: Option<u64>,
    ) -> Result<keyward_core::store::StoredHashes, StoreError>;
    /// Writes a batch of usage gathered by verification.
    async fn record_usage(&self, batch: &keyward_core::usage::UsageBatch)
    -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            super::redact("postgres://kw:hunter2@db/kw"),
            "postgres://kw:***@db/kw"
        );
        assert_eq!(super::redact("postgres://db/kw"), "postgres://db/kw");
        assert_eq!(
            super::redact("postgres://kw@db/kw?sslmode=require&password=hunter2"),
            "postgres://kw@db/kw?sslmode=require&password=***"
        );
    }

    #[tokio::test]
    async fn rejects_unknown_schemes_without_leaking_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let error = super::connect(Some("mysql://kw:hunter2@db/kw"), dir.path())
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, super::ConnectError::UnsupportedScheme(_)));
        assert!(message.contains("postgres://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
