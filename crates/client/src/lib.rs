//! The Rust client of Keyward, the self-hosted API key service.
//!
//! - [`Keyward`]: verify the keys your service receives ([`Keyward::verify`]) and call the
//!   management API: [`Keyward::keys`], [`Keyward::projects`], [`Keyward::audit`].
//! - [`Guard`], its tower [`KeywardLayer`] and the axum extractor [`Verified`] (feature
//!   `axum`, on by default): let in only requests with a valid key holding a route's scopes.
//! - [`WebhookVerifier`]: check that a webhook delivery came from Keyward.
//!
//! ```no_run
//! # async fn run(api_key: &str) -> Result<(), keyward_client::Error> {
//! use keyward_client::{Keyward, NewKey};
//! use futures_util::TryStreamExt;
//!
//! let keyward = Keyward::builder("http://keyward:8080")
//!     .root_key(std::env::var("KEYWARD_ROOT_KEY").unwrap_or_default())
//!     .build()?;
//! let answer = keyward.verify(api_key, &["data:read"]).await?;
//! println!("{} {:?}", answer.code, answer.key_id);
//!
//! let created = keyward.keys().create(&NewKey::new("billing").scopes(["data:read"])).await?;
//! let active: Vec<_> = keyward.keys().list(Default::default()).try_collect().await?;
//! # Ok(()) }
//! ```
//!
//! Guarding an axum app (the TCP peer's address is passed to Keyward, so serve it with
//! `into_make_service_with_connect_info::<SocketAddr>()`):
//!
//! ```no_run
//! # async fn run() -> Result<(), keyward_client::Error> {
//! use axum::{Extension, Router, routing::get};
//! use keyward_client::{Guard, Keyward, Verification, Verified, scopes};
//!
//! scopes!(DataWrite = ["data:write"]);
//!
//! async fn read(Extension(key): Extension<Verification>) -> String {
//!     format!("{:?} of {:?}", key.key_id, key.org_id)
//! }
//! async fn write(key: Verified<DataWrite>) -> String {
//!     format!("{:?} may write", key.key_id)
//! }
//!
//! let guard = Guard::new(Keyward::new("http://keyward:8080")?);
//! let app: Router = Router::new()
//!     .route("/data", get(read).route_layer(guard.layer(["data:read"])))
//!     .route("/data/new", get(write))
//!     .with_state(guard);
//! # Ok(()) }
//! ```
//!
//! Timeouts (a 2 s budget for a whole call, retries included), bounded retries, failing
//! closed, the optional cache and what the middleware answers are the same in every Keyward
//! client and described once in `docs/clients.md`.
//!
//! # Webhooks
//!
//! [`WebhookVerifier`] builds on [`standardwebhooks`](https://crates.io/crates/standardwebhooks),
//! the Standard Webhooks project's own Rust library, as the Python and TypeScript clients
//! build on theirs. Its latest release on crates.io (1.0.1) lags the project's repository and
//! brings its own small dependencies (`hmac-sha256`, `base64` 0.21, `time`); it is used all the
//! same so that every client checks signatures with the scheme's reference code rather than
//! one written here.

mod cache;
mod client;
mod error;
mod management;
mod models;
mod transport;
mod verification;
mod webhooks;

#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "axum")]
mod guard;
#[cfg(feature = "axum")]
mod layer;

pub use client::{
    DEFAULT_BACKOFF, DEFAULT_CACHE_MAX_ENTRIES, DEFAULT_RETRIES, DEFAULT_TIMEOUT, Keyward,
    KeywardBuilder, VerifyRequest,
};
pub use error::{ApiError, Error, FieldError};
pub use management::{Audit, Keys, Projects};
pub use models::{
    AuditEvent, AuditFilter, Key, KeyFilter, KeyStatus, KeyType, KeyUpdate, NewKey, Page, Party,
    Project, ProjectFields, Quota, RateLimit, Role, Usage, UsageBucket,
};
pub use secrecy::ExposeSecret;
pub use verification::{Code, QuotaState, RateLimitState, Verification};
pub use webhooks::{WebhookError, WebhookEvent, WebhookVerifier};

#[cfg(feature = "axum")]
pub use extract::{AnyScope, RequiredScopes, Verified};
#[cfg(feature = "axum")]
pub use guard::{Denial, Guard, key_from_headers, peer_ip};
#[cfg(feature = "axum")]
pub use layer::{KeywardLayer, KeywardService};
