//! The axum extractor: [`Verified<R>`], a handler argument that requires a valid key with
//! the scopes of `R`.
//!
//! ```ignore
//! keyward_client::scopes!(DataRead = ["data:read"]);
//!
//! async fn data(key: Verified<DataRead>) -> String {
//!     format!("hello {}", key.key_id.as_deref().unwrap_or("?"))
//! }
//!
//! let app = Router::new().route("/data", get(data)).with_state(guard);
//! ```
//!
//! The [`Guard`] comes from the router's state (`Guard: FromRef<S>`). A request refused
//! gets the same answer as from the [`KeywardLayer`](crate::KeywardLayer).

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use crate::{Denial, Guard, Verification};

/// The scopes a [`Verified`] extractor requires; declare one with [`scopes!`](crate::scopes).
pub trait RequiredScopes: Send + Sync + 'static {
    /// Every scope the key must hold.
    const SCOPES: &'static [&'static str];
}

/// No scope: any valid key.
#[derive(Debug, Clone, Copy)]
pub struct AnyScope;

impl RequiredScopes for AnyScope {
    const SCOPES: &'static [&'static str] = &[];
}

/// Declares a type naming the scopes a route requires, for [`Verified`]:
/// `scopes!(pub DataRead = ["data:read"]);`.
#[macro_export]
macro_rules! scopes {
    ($(#[$meta:meta])* $vis:vis $name:ident = [$($scope:literal),* $(,)?]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::RequiredScopes for $name {
            const SCOPES: &'static [&'static str] = &[$($scope),*];
        }
    };
}

/// A verified key holding the scopes of `R`; dereferences to its [`Verification`] (id,
/// organization, project, scopes, meta).
#[derive(Debug, Clone)]
pub struct Verified<R = AnyScope> {
    verification: Verification,
    scopes: PhantomData<fn() -> R>,
}

impl<R> Verified<R> {
    /// The verification.
    pub fn into_inner(self) -> Verification {
        self.verification
    }
}

impl<R> Deref for Verified<R> {
    type Target = Verification;

    fn deref(&self) -> &Verification {
        &self.verification
    }
}

impl<S, R> FromRequestParts<S> for Verified<R>
where
    Guard: FromRef<S>,
    S: Send + Sync,
    R: RequiredScopes,
{
    type Rejection = Denial;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Denial> {
        // Without scopes of its own, the verification of a layer in front is enough.
        let earlier = parts
            .extensions
            .get::<Verification>()
            .filter(|_| R::SCOPES.is_empty());
        let verification = match earlier {
            Some(verification) => verification.clone(),
            None => {
                let verification = Guard::from_ref(state).check(parts, R::SCOPES).await?;
                parts.extensions.insert(verification.clone());
                verification
            }
        };
        Ok(Self {
            verification,
            scopes: PhantomData,
        })
    }
}
