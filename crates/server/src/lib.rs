//! Keyward's HTTP server: the management API, verification, OpenAPI, health.
//!
//! [`Application::build`] wires storage, the verifier and the router from
//! [`Settings`]; [`Application::run_until_stopped`] serves until a shutdown
//! signal, then flushes what verification counted.

pub mod api;
pub mod app;
pub mod audit_export;
pub mod auth;
pub mod bootstrap;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod key_locks;
pub mod leaks;
pub mod mail;
pub mod metrics;
pub mod notices;
pub mod passwords;
pub mod session;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod webhooks;

pub use app::Application;
pub use settings::Settings;
