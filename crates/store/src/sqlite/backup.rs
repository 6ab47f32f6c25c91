//! `keyward backup`: a consistent copy of a live embedded database.
//!
//! `VACUUM INTO` reads the database in one read transaction (so the copy is
//! the database as of one moment, whatever writers do meanwhile) and writes
//! a compact file that holds everything, write-ahead log included. It runs
//! on a connection of its own, beside a running server.

use crate::files::create_private_file;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::time::Duration;

/// Writes a copy of the database at `database` to `output`, a file that
/// must not exist yet; the copy is created 0600, as the database is.
pub async fn backup(database: &SqliteConnectOptions, output: &Path) -> Result<(), sqlx::Error> {
    if output.exists() {
        return Err(sqlx::Error::Configuration(
            format!("{} already exists; give a new file", output.display()).into(),
        ));
    }
    let source = database.get_filename();
    if !source.exists() {
        return Err(sqlx::Error::Configuration(
            format!("there is no database at {}", source.display()).into(),
        ));
    }
    // VACUUM INTO writes into an empty file: this one is private from the start.
    create_private_file(output).map_err(sqlx::Error::Io)?;
    let mut conn: SqliteConnection = database
        .clone()
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(output.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await;
    conn.close().await?;
    if let Err(error) = copied {
        let _ = std::fs::remove_file(output);
        return Err(error);
    }
    Ok(())
}
