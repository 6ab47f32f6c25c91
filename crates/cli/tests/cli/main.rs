//! The real `keyward` binary: `org create`, `serve`, graceful shutdown, logs,
//! and what reaches the disk; `scan` and its pre-commit hook.

// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backup;
mod browser;
mod cluster;
mod dashboard;
mod dashboard_defects;
mod disk_full;
mod email;
mod leaks;
mod nginx;
mod org;
mod pre_commit;
mod prometheus;
#[path = "../../../server/tests/api/receiver.rs"]
mod receiver;
mod scan;
mod secrets;
#[allow(dead_code, reason = "the API suite's email tests use the rest of it")]
#[path = "../../../server/tests/api/smtp.rs"]
mod smtp;
mod support;
mod tamper;
mod usage;
mod webhooks;
