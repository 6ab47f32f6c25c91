//! The real `keyward` binary: `org create`, `serve`, graceful shutdown, logs,
//! and what reaches the disk.

mod org;
mod secrets;
mod support;
