//! Dashboard sessions: the cookie, the CSRF token derived from it, and the
//! throttling of failed sign-ins.
//!
//! The cookie holds 256 random bits; the database holds only their SHA-256,
//! so a copy of the database signs nobody in. The CSRF token is a hash of
//! the cookie under another label: a page of this origin can embed it in
//! its forms, another site can neither read the cookie nor compute it.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;
use axum::http::{Method, header, request::Parts};
use keyward_core::base62;
use keyward_core::model::Member;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "keyward_session";
/// The header carrying the CSRF token on state-changing API calls made with
/// a session (forms carry it in the `csrf` field).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts, however active.
pub const SESSION_HOURS: i64 = 12;

/// The session cookie's value.
#[derive(Clone)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

impl SessionToken {
    /// A fresh random token (43 base62 characters, about 256 bits).
    pub fn generate() -> Result<Self, ApiError> {
        Ok(Self(base62::random(43)?))
    }

    /// The token in the request's `Cookie` header, if any.
    pub fn from_parts(parts: &Parts) -> Option<Self> {
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value.trim())
            .filter(|value| value.len() == 43 && base62::is_base62(value))
            .map(|value| Self(value.to_owned()))
    }

    /// What the database stores of it.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The CSRF token of this session.
    pub fn csrf(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"keyward csrf\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        bool::from(self.csrf().as_bytes().ct_eq(given.as_bytes()))
    }

    /// `Set-Cookie` starting this session.
    pub fn set_cookie(&self, secure: bool) -> String {
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.0,
            SESSION_HOURS * 3600,
            if secure { "; Secure" } else { "" }
        )
    }
}

/// `Set-Cookie` ending the session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether cookies must be `Secure`: when told so, or when a trusted proxy
/// says the client came over HTTPS.
pub fn secure(state: &AppState, parts: &Parts) -> bool {
    if state.settings.secure_cookies {
        return true;
    }
    let peer_trusted = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|info| {
            state
                .settings
                .trusted_proxies
                .iter()
                .any(|net| net.contains(&info.0.ip()))
        });
    peer_trusted
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Whether the cookies set in answer to this request must be `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct SecureCookies(pub bool);

impl axum::extract::FromRequestParts<AppState> for SecureCookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(secure(state, parts)))
    }
}

/// A signed-in member.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Their session.
    pub token: SessionToken,
    /// Who they are.
    pub member: Member,
    /// What they may do.
    pub principal: Principal,
}

/// The member signed in with `token`, if the session is still valid.
pub async fn load(
    state: &AppState,
    token: SessionToken,
    client: Client,
) -> Result<Option<SignedIn>, ApiError> {
    let now = state.clock.now();
    let Some(session) = state.store.get_session(&token.hash(), now).await? else {
        return Ok(None);
    };
    let Some(member) = state
        .store
        .get_member(&session.org_id, &session.member_id)
        .await?
    else {
        return Ok(None);
    };
    let team = state
        .store
        .list_teams(&member.org_id)
        .await?
        .into_iter()
        .find(|team| team.members.contains(&member.id))
        .map(|team| team.name);
    let principal = Principal::member(&member, team, client);
    Ok(Some(SignedIn {
        token,
        member,
        principal,
    }))
}

/// The principal of an API call made with a session cookie instead of a
/// root key. State-changing calls must carry the session's CSRF token.
pub async fn api_principal(
    state: &AppState,
    parts: &Parts,
    client: Client,
) -> Result<Principal, ApiError> {
    let token = SessionToken::from_parts(parts).ok_or(ApiError::Unauthorized)?;
    let signed_in = load(state, token, client)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf_ok = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| signed_in.token.csrf_matches(given));
    if !safe && !csrf_ok {
        return Err(ApiError::Forbidden {
            code: "csrf_token_invalid",
            detail: format!("calls made with a session must carry its `{CSRF_HEADER}` header"),
        });
    }
    if signed_in.member.must_change_password {
        return Err(password_change_required());
    }
    Ok(signed_in.principal)
}

/// 403 for a member still on a temporary password.
pub fn password_change_required() -> ApiError {
    ApiError::Forbidden {
        code: "password_change_required",
        detail: "choose a new password in the dashboard first".to_owned(),
    }
}

/// Failed sign-ins, per account and per client address, with delays that
/// grow with each failure. Kept per node, in a bounded cache: an attacker
/// spreading guesses across nodes gets at most the nodes' count times as many.
#[derive(Debug)]
pub struct Throttle {
    failures: moka::sync::Cache<String, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failures allowed before the first delay.
const FREE_FAILURES: u32 = 3;
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

impl Default for Throttle {
    fn default() -> Self {
        Self {
            failures: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }
}

impl Throttle {
    /// How long `keys` (an account, an address) must still wait, if at all.
    pub fn wait(&self, keys: &[String]) -> Option<Duration> {
        keys.iter()
            .filter_map(|key| self.failures.get(key))
            .filter_map(|f| delay(f.count).checked_sub(f.last.elapsed()))
            .filter(|left| !left.is_zero())
            .max()
    }

    /// Reserves a sign-in attempt for `keys` (an account, an address):
    /// `Err(wait)` while one of them must wait, otherwise the attempt counts
    /// as a failure right away — before the slow password check, so that
    /// parallel guesses cannot all slip through one window — until
    /// [`Throttle::succeeded`] takes it back.
    pub fn attempt(&self, keys: &[String]) -> Result<(), Duration> {
        if let Some(wait) = self.wait(keys) {
            return Err(wait);
        }
        self.failed(keys);
        Ok(())
    }

    /// Counts a failure against each of `keys`.
    pub fn failed(&self, keys: &[String]) {
        for key in keys {
            self.failures
                .entry(key.clone())
                .and_upsert_with(|old| Failures {
                    count: old.map_or(0, |e| e.into_value().count).saturating_add(1),
                    last: Instant::now(),
                });
        }
    }

    /// A reserved attempt failed: its delay runs from now, the end of the
    /// (slow) password check, not from when the attempt began.
    pub fn failed_now(&self, keys: &[String]) {
        for key in keys {
            self.failures.entry(key.clone()).and_compute_with(|old| {
                match old.map(|e| e.into_value()) {
                    Some(f) => moka::ops::compute::Op::Put(Failures {
                        last: Instant::now(),
                        ..f
                    }),
                    None => moka::ops::compute::Op::Nop,
                }
            });
        }
    }

    /// A reserved attempt succeeded: the account starts afresh, and the
    /// address gets its attempt back.
    pub fn succeeded(&self, account: &str, address: &str) {
        self.failures.invalidate(account);
        self.failures
            .entry(address.to_owned())
            .and_compute_with(|old| match old.map(|e| e.into_value()) {
                Some(f) if f.count > 1 => moka::ops::compute::Op::Put(Failures {
                    count: f.count - 1,
                    ..f
                }),
                Some(_) => moka::ops::compute::Op::Remove,
                None => moka::ops::compute::Op::Nop,
            });
    }
}

/// 0 for the first failures, then 1 s, 2 s, 4 s… up to [`MAX_DELAY`].
fn delay(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None => Duration::ZERO,
        Some(extra) => Duration::from_secs(1u64 << extra.min(20)).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_stop_at_the_maximum() {
        assert_eq!(delay(0), Duration::ZERO);
        assert_eq!(delay(FREE_FAILURES - 1), Duration::ZERO);
        assert_eq!(delay(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(delay(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(delay(FREE_FAILURES + 40), MAX_DELAY);
    }

    #[test]
    fn an_account_waits_once_it_failed_too_often() {
        let throttle = Throttle::default();
        let keys = ["account:a@example.com".to_owned()];
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(&keys);
        }
        assert_eq!(throttle.wait(&keys), None);
        assert!(throttle.attempt(&keys).is_ok());
        assert!(throttle.attempt(&keys).is_err());
        throttle.succeeded(&keys[0], "ip:127.0.0.1");
        assert_eq!(throttle.wait(&keys), None);
    }

    #[test]
    fn a_success_gives_the_address_its_attempt_back() {
        let throttle = Throttle::default();
        let keys = ["account:a@example.com".to_owned(), "ip:10.0.0.1".to_owned()];
        for _ in 0..10 {
            assert!(throttle.attempt(&keys).is_ok());
            throttle.succeeded(&keys[0], &keys[1]);
        }
        assert_eq!(throttle.wait(&keys), None);
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert!(a.csrf_matches(&a.csrf()));
        assert!(!a.csrf_matches(&b.csrf()));
        assert!(!a.csrf_matches(""));
    }
}
