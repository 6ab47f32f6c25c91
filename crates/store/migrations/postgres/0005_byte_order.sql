-- Lists sort their text as bytes, as SQLite does (its default BINARY
-- collation), whatever the database's default collation: key names, member
-- emails and team names join the identifiers that already did. The queries
-- are then the same text on both databases.
ALTER TABLE api_keys ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE members ALTER COLUMN email TYPE TEXT COLLATE "C";
ALTER TABLE teams ALTER COLUMN name TYPE TEXT COLLATE "C";
