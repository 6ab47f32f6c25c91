//! Runs one conformance test against a fresh database of one backend.
//!
//! SQLite gets a temporary directory. PostgreSQL gets a database of its own,
//! `keyward_test_<random>`, created on the server named by
//! `KEYWARD_TEST_POSTGRES_URL` and dropped when the test ends, whether it
//! passed or panicked. Without a reachable server the PostgreSQL half is
//! skipped loudly, or fails when `CI` is set.

use keyward_core::store::Store;
use keyward_store::{PgStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The server the PostgreSQL tests use when `KEYWARD_TEST_POSTGRES_URL` is unset.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh store, and what a test needs to reach its database another way.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The store under test.
    pub store: Arc<dyn Store>,
    database: Database,
}

#[derive(Debug, Clone)]
enum Database {
    Sqlite(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

impl Backend {
    /// A second store on the same database, as a second node opens it.
    /// SQLite is single-node by design (one writer connection per file), so
    /// there it is the same store.
    pub async fn another_node(&self) -> Arc<dyn Store> {
        match &self.database {
            Database::Sqlite(_) => self.store.clone(),
            Database::Postgres(options) => Arc::new(
                PgStore::open_with(PgConnectOptions::clone(options))
                    .await
                    .unwrap(),
            ),
        }
    }

    /// `bytes` as a literal of this database's SQL.
    pub fn blob_literal(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match &self.database {
            Database::Sqlite(_) => format!("X'{hex}'"),
            Database::Postgres(_) => format!("'\\x{hex}'::bytea"),
        }
    }

    /// Runs `sql` on a connection of its own, bypassing the store.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.database {
            Database::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
                        .await?;
                let done = sqlx::query(sql).execute(&mut conn).await;
                conn.close().await?;
                Ok(done?.rows_affected())
            }
            Database::Postgres(options) => {
                let mut conn = PgConnection::connect_with(options).await?;
                let done = sqlx::query(sql).execute(&mut conn).await;
                conn.close().await?;
                Ok(done?.rows_affected())
            }
        }
    }
}

/// What a test function takes: the store alone, or the whole backend.
pub trait FromBackend {
    /// Extracts it.
    fn from_backend(backend: &Backend) -> Self;
}

impl FromBackend for Arc<dyn Store> {
    fn from_backend(backend: &Backend) -> Self {
        backend.store.clone()
    }
}

impl FromBackend for Backend {
    fn from_backend(backend: &Backend) -> Self {
        backend.clone()
    }
}

/// Runs `test` on a new SQLite database.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(keyward_store::SQLITE_FILE);
    let store = SqliteStore::open(&path).await.unwrap();
    test(Backend {
        store: Arc::new(store),
        database: Database::Sqlite(path),
    })
    .await;
}

/// Runs `test` on a new PostgreSQL database, or skips it.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let store = PgStore::open_with(database.options.clone()).await.unwrap();
    test(Backend {
        store: Arc::new(store),
        database: Database::Postgres(Box::new(database.options.clone())),
    })
    .await;
    drop(database);
}

/// The server's admin URL and options, from the environment.
pub fn postgres_admin() -> (String, PgConnectOptions) {
    let url = std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let options = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("KEYWARD_TEST_POSTGRES_URL is not a PostgreSQL URL: {e}"));
    (
        keyward_store::redact(&url),
        options.disable_statement_logging(),
    )
}

/// A database created for one test and dropped with this guard.
#[derive(Debug)]
pub struct TestDatabase {
    admin: PgConnectOptions,
    name: String,
    /// Options that connect to it.
    pub options: PgConnectOptions,
}

impl TestDatabase {
    /// Creates a database, or says why not: `None` means skip.
    pub async fn create() -> Option<Self> {
        let (url, admin) = postgres_admin();
        let mut conn =
            match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&admin))
                .await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return unreachable(&url, &e.to_string()),
                Err(_) => return unreachable(&url, "no answer within 5 s"),
            };
        let name = format!(
            "keyward_test_{}",
            keyward_core::base62::random(16).unwrap().to_lowercase()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Some(Self {
            options: admin.clone().database(&name),
            admin,
            name,
        })
    }
}

fn unreachable(url: &str, why: &str) -> Option<TestDatabase> {
    if std::env::var_os("CI").is_some() {
        panic!(
            "PostgreSQL at {url} is unreachable ({why}) and CI is set: the PostgreSQL conformance tests must run"
        );
    }
    eprintln!(
        "\n*** SKIPPED: PostgreSQL conformance test: {url} is unreachable ({why}). \
         Set KEYWARD_TEST_POSTGRES_URL to a server where this user may create databases. ***\n"
    );
    None
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside async code and possibly while unwinding from a
        // failed assertion: use a runtime of its own on a thread of its own.
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect_with(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&sql)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: the dropping thread panicked",
                self.name
            ),
        }
    }
}
