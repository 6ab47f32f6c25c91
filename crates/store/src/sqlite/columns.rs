//! How SQLite rows are read, by either driver: sqlx for the pools, rusqlite
//! for the inline key lookup. The shared row mappings (`../shared/rows.rs`)
//! read through [`Columns`].

use crate::backend;
use keyward_core::store::StoreError;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// A value both SQLite drivers can decode.
pub(crate) trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + rusqlite::types::FromSql
{
}

/// A row of either driver, read by column name.
pub(crate) trait Columns {
    /// The value of `column`.
    fn column<T: Column>(&self, column: &'static str) -> Result<T, StoreError>;
}

impl Columns for SqliteRow {
    fn column<T: Column>(&self, column: &'static str) -> Result<T, StoreError> {
        self.try_get(column).map_err(backend)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn column<T: Column>(&self, column: &'static str) -> Result<T, StoreError> {
        self.get(column).map_err(backend)
    }
}

/// A rusqlite row read through a column index built once per statement.
pub(crate) struct Indexed<'a> {
    /// The row.
    pub row: &'a rusqlite::Row<'a>,
    /// Column name → position.
    pub columns: &'a std::collections::HashMap<String, usize>,
}

impl Columns for Indexed<'_> {
    fn column<T: Column>(&self, column: &'static str) -> Result<T, StoreError> {
        let index = self
            .columns
            .get(column)
            .ok_or_else(|| StoreError::Backend(format!("no column {column}").into()))?;
        self.row.get(*index).map_err(backend)
    }
}
