-- PostgreSQL's migration of this name makes key names, member emails and team
-- names sort as bytes. SQLite's text already does (BINARY collation); this
-- file keeps the two folders' numbering in step.
SELECT 1;
