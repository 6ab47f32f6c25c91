//! How PostgreSQL rows are read by the shared row mappings
//! (`../shared/rows.rs`).

use crate::backend;
use keyward_core::store::StoreError;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// A value PostgreSQL rows can decode.
pub(crate) trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Column for T where T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> {}

/// A row, read by column name.
pub(crate) trait Columns {
    /// The value of `column`.
    fn column<T: Column>(&self, column: &'static str) -> Result<T, StoreError>;
}

impl Columns for PgRow {
    fn column<T: Column>(&self, column: &'static str) -> Result<T, StoreError> {
        self.try_get(column).map_err(backend)
    }
}
