//! What only the PostgreSQL backend has: selection by URL scheme, a `Debug`
//! without the password, and the test databases' own clean-up.

use crate::harness::{TestDatabase, postgres_admin};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").unwrap() + 3;
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

fn admin_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[tokio::test]
async fn connect_selects_postgres_by_scheme() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let name = database.options.get_database().unwrap().to_owned();
    let url = with_database(&admin_url(), &name);
    let (_, rest) = url.split_once("://").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for scheme in ["postgres", "postgresql"] {
        let store = keyward_store::connect(Some(&format!("{scheme}://{rest}")), dir.path())
            .await
            .unwrap();
        store.ping().await.unwrap();
        assert!(store.list_organizations().await.unwrap().is_empty());
        assert!(format!("{store:?}").starts_with("PgStore"), "{store:?}");
    }
    assert!(
        !dir.path().join(keyward_store::SQLITE_FILE).exists(),
        "no SQLite file on the side"
    );
}

#[tokio::test]
async fn store_debug_hides_the_password() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    // Trust authentication ignores the password; the store must not show it.
    let options = database.options.clone().password("hunter2-very-secret");
    let store = keyward_store::PgStore::open_with(options).await.unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn test_databases_are_dropped_with_their_guard() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let name = database.options.get_database().unwrap().to_owned();
    let (_, admin) = postgres_admin();
    let exists = |name: String| {
        let admin = admin.clone();
        async move {
            let mut conn = PgConnection::connect_with(&admin).await.unwrap();
            let found: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap();
            conn.close().await.unwrap();
            found.is_some()
        }
    };
    // A store holding connections open does not keep it alive.
    let store = keyward_store::PgStore::open_with(database.options.clone())
        .await
        .unwrap();
    assert!(exists(name.clone()).await);
    drop(database);
    assert!(!exists(name).await);
    drop(store);
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "kt"),
        "postgres://u@h:5432/kt"
    );
    assert_eq!(
        with_database("postgres://u@h/postgres?sslmode=disable", "kt"),
        "postgres://u@h/kt?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "kt"), "postgres://u@h/kt");
}
