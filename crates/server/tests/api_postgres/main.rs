//! The same HTTP API suite as `tests/api`, on PostgreSQL: every test app gets
//! a database of its own on 127.0.0.1:5432, dropped when the test ends.

// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// This binary runs the suite on PostgreSQL.
mod backend {
    pub const POSTGRES: bool = true;
}

#[path = "../api/admin_pages.rs"]
mod admin_pages;
#[path = "../api/audit.rs"]
mod audit;
#[path = "../api/conformance.rs"]
mod conformance;
#[path = "../api/dashboard_errors.rs"]
mod dashboard_errors;
#[path = "../api/dashboard_forms.rs"]
mod dashboard_forms;
#[path = "../api/dashboard_overview.rs"]
mod dashboard_overview;
#[path = "../api/dashboard_tables.rs"]
mod dashboard_tables;
#[path = "../api/email.rs"]
mod email;
#[path = "../api/email_pages.rs"]
mod email_pages;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/forward_auth.rs"]
mod forward_auth;
#[path = "../api/helpers.rs"]
mod helpers;
mod interrupted;
#[path = "../api/isolation.rs"]
mod isolation;
#[path = "../api/keys.rs"]
mod keys;
#[path = "../api/leaks.rs"]
mod leaks;
#[path = "../api/lifecycle.rs"]
mod lifecycle;
#[path = "../api/limits.rs"]
mod limits;
#[path = "../api/members.rs"]
mod members;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/notices.rs"]
mod notices;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/org_usage.rs"]
mod org_usage;
#[path = "../api/projects.rs"]
mod projects;
#[path = "../api/races.rs"]
mod races;
#[path = "../api/receiver.rs"]
mod receiver;
#[path = "../api/sessions.rs"]
mod sessions;
#[path = "../api/smtp.rs"]
mod smtp;
#[path = "../api/strict_input.rs"]
mod strict_input;
#[path = "../api/verify.rs"]
mod verify;
#[path = "../api/webhooks.rs"]
mod webhooks;
