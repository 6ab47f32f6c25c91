//! Keyward's domain, free of HTTP and SQL.
//!
//! Everything that decides what a key *is* and what it *may do* lives here: the
//! key format and its checksum, identifiers, scopes and role presets, trusted
//! origins and IP allow-lists, the verification policy and its in-process cache,
//! the audit hash chain, and the [`Store`](store::Store) trait that storage
//! backends implement. The server and the command line only translate between
//! the outside world and these types.

pub mod answer;
pub mod audit;
pub mod base62;
pub mod clock;
pub mod crypto;
pub mod email;
pub mod error;
pub mod event_store;
pub mod events;
pub mod fields;
pub mod id;
pub mod key_format;
pub mod keys;
pub mod leaks;
pub mod limits;
pub mod model;
pub mod net;
pub mod org_policy;
pub mod origin;
pub mod policy;
pub mod requirement;
pub mod scope;
pub mod store;
mod stored_hashes;
pub mod usage;
pub mod verify;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::DomainError;
