//! The HTTP API, driven through a real server on port 0 with a fresh data
//! directory and an injected clock.

// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// This binary runs the suite on the embedded SQLite database.
mod backend {
    pub const POSTGRES: bool = false;
}

mod admin_pages;
mod audit;
mod conformance;
mod dashboard_errors;
mod dashboard_forms;
mod dashboard_overview;
mod dashboard_tables;
mod email;
mod email_pages;
mod errors;
mod forward_auth;
mod helpers;
mod isolation;
mod keys;
mod leaks;
mod lifecycle;
mod limits;
mod members;
mod metrics;
mod notices;
mod openapi;
mod org_usage;
mod projects;
mod races;
mod receiver;
mod sessions;
mod smtp;
mod strict_input;
mod verify;
mod webhooks;
