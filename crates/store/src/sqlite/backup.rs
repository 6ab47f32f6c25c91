//! `keyward backup`: a consistent copy of a live embedded database.
//!
//! `VACUUM INTO` reads the database in one read transaction (so the copy is
//! the database as of one moment, whatever writers do meanwhile) and writes
//! a compact file that holds everything, write-ahead log included. It runs
//! on a connection of its own, beside a running server.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// Writes a copy of the database at `database` to `output`, a file that
/// must not exist yet; the copy is created 0600, as the database is.
pub async fn backup(database: &SqliteConnectOptions, output: &Path) -> Result<(), sqlx::Error> {
    let refuse = |why: &str| {
        Err(sqlx::Error::Configuration(
            format!("{}: {why}", output.display()).into(),
        ))
    };
    // `symlink_metadata`: a dangling symbolic link exists too, and SQLite
    // would follow it to wherever it points.
    if std::fs::symlink_metadata(output).is_ok() {
        return refuse("already exists; give a new file");
    }
    let Some(output_text) = output.to_str() else {
        return refuse("give a path that is UTF-8, as SQLite names files by text");
    };
    let source = database.get_filename();
    if !source.exists() {
        return Err(sqlx::Error::Configuration(
            format!("there is no database at {}", source.display()).into(),
        ));
    }
    // VACUUM INTO writes into an empty file: this one is created here, new
    // (never a file or link someone else put there) and private from the start.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .and_then(|_| std::fs::set_permissions(output, std::fs::Permissions::from_mode(0o600)))
        .map_err(sqlx::Error::Io)?;
    let mut conn: SqliteConnection = database
        .clone()
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(output_text)
        .execute(&mut conn)
        .await;
    conn.close().await?;
    if let Err(error) = copied {
        let _ = std::fs::remove_file(output);
        return Err(error);
    }
    Ok(())
}
