//! The HTTP API, driven through a real server on port 0 with a fresh data
//! directory and an injected clock.

mod errors;
mod helpers;
mod isolation;
mod keys;
mod lifecycle;
mod openapi;
mod projects;
mod verify;
