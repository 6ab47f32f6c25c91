//! The client against a real `keyward serve`: every method, the tower layer and the axum
//! extractor in a real app, the failure modes, the cache bound, webhooks and the README.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cache;
mod failures;
mod methods;
mod middleware;
mod readme;
mod support;
mod webhooks;
