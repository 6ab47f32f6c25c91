//! Signing in and out, and changing one's password.
//!
//! Failed sign-ins are audited (`login.failed`) in every organization where
//! the email belongs to a member, and throttled per account and per client
//! address with growing delays ([`crate::session::Throttle`]). The sign-in
//! form carries its own CSRF token (a double-submit cookie), since there is
//! no session yet to derive one from.

use super::forms::{FieldErrors, FieldLabel};
use super::{Nav, Signed, error_page, render};
use crate::error::ApiError;
use crate::extract::Client;
use crate::session::{self, SESSION_HOURS, SecureCookies, SessionToken};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::audit::{Actor, ActorType, AuditContext};
use keyward_core::base62;
use keyward_core::events;
use keyward_core::id::KeyId;
use keyward_core::key_format::FullKey;
use keyward_core::model::{Member, Session};
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

const LOGIN_CSRF_COOKIE: &str = "keyward_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    title: String,
    csrf: String,
    next: String,
    email: String,
    /// Asked for when the email belongs to members of several organizations.
    organization: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only paths of this site, of plain characters: never an open redirect
/// (browsers drop tabs and new lines from `Location`, so `/\t/evil` would
/// become `//evil`).
fn safe_next(next: &str) -> String {
    let plain = next
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-.~?=&%+".contains(&b));
    let local = next.starts_with('/') && !next.starts_with("//");
    if plain && local && !next.starts_with("/login") {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

fn login_page(
    status: StatusCode,
    next: &str,
    email: &str,
    organization: Option<String>,
    error: Option<String>,
) -> Result<Response, ApiError> {
    let csrf = base62::random(32)?;
    let mut response = render(&LoginPage {
        nav: None,
        title: "Sign in".to_owned(),
        csrf: csrf.clone(),
        next: safe_next(next),
        email: email.to_owned(),
        organization,
        error,
    });
    *response.status_mut() = status;
    let cookie = format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

pub async fn form(Query(q): Query<NextQuery>) -> Result<Response, ApiError> {
    login_page(StatusCode::OK, &q.next, "", None, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    #[serde(default)]
    next: String,
    email: String,
    password: String,
    #[serde(default)]
    organization: Option<String>,
}

fn login_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_CSRF_COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    secure: SecureCookies,
    headers: HeaderMap,
    Form(input): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let email = input.email.trim().to_lowercase();
    let organization = input
        .organization
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned);
    let again = |status, organization: Option<String>, error: String| {
        login_page(status, &input.next, &email, organization, Some(error))
    };
    let csrf_ok = login_cookie(&headers).is_some_and(|cookie| {
        !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(input.csrf.as_bytes()))
    });
    if !csrf_ok {
        let error = "The sign-in form expired; please try again.".to_owned();
        return again(StatusCode::FORBIDDEN, organization, error);
    }
    // The members this email may sign in as: one, unless the email belongs
    // to several organizations, which must then be named.
    let mut candidates = state.store.members_by_email(&email).await?;
    if candidates.len() > 1 {
        let Some(name) = &organization else {
            let error = "This email belongs to several organizations: enter the organization \
                         too."
                .to_owned();
            return again(StatusCode::UNAUTHORIZED, Some(String::new()), error);
        };
        let mut chosen = Vec::new();
        for member in candidates {
            let org = state.store.get_organization(&member.org_id).await?;
            if org.is_some_and(|o| o.name.eq_ignore_ascii_case(name)) {
                chosen.push(member);
            }
        }
        candidates = chosen;
    }
    let account = format!("account:{email}");
    let address = format!(
        "ip:{}",
        client.ip.map(|ip| ip.to_string()).unwrap_or_default()
    );
    if let Err(wait) = state.throttle.attempt(&[account.clone(), address.clone()]) {
        let seconds = wait.as_secs().max(1);
        let error = format!("Too many failed sign-ins. Try again in {seconds} seconds.");
        let mut response = again(StatusCode::TOO_MANY_REQUESTS, organization, error)?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    let password = SecretString::from(input.password.clone());
    let member = match candidates.first() {
        Some(member) => {
            let hash = member.password_hash.clone();
            state
                .passwords
                .verify(hash, password)
                .await
                .then_some(member)
        }
        None => {
            // As slow as a real check, so timing does not tell which emails exist.
            let _ = state.passwords.hash(password).await;
            None
        }
    };
    let now = state.clock.now();
    let ctx = |member: &Member| AuditContext {
        actor: Actor {
            kind: ActorType::Member,
            id: member.id.to_string(),
            name: member.email.clone(),
        },
        team: None,
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        at: now,
    };
    let Some(member) = member else {
        state
            .throttle
            .failed_now(&[account.clone(), address.clone()]);
        // Audited in the one organization the attempt was for, if any.
        if let Some(member) = candidates.first() {
            let event = events::login("login.failed", member, Some("wrong password"));
            state
                .store
                .append_audit(&member.org_id, &ctx(member), event)
                .await?;
        }
        tracing::warn!(ip = ?client.ip, "sign-in failed");
        let error = "The email or password is not right.".to_owned();
        return again(StatusCode::UNAUTHORIZED, organization, error);
    };
    state.throttle.succeeded(&account, &address);
    let event = events::login("login.succeeded", member, None);
    state
        .store
        .append_audit(&member.org_id, &ctx(member), event)
        .await?;
    Ok(start_session(&state, member, secure, None, &safe_next(&input.next)).await)
}

/// Signs `member` in and sends them on: to the one-time key page when
/// `flash` holds a key to show, to the password page when they must choose
/// one, else to `next`.
pub async fn start_session(
    state: &AppState,
    member: &Member,
    SecureCookies(secure): SecureCookies,
    flash: Option<(KeyId, FullKey)>,
    next: &str,
) -> Response {
    let result: Result<Response, ApiError> = async {
        let token = SessionToken::generate()?;
        let now = state.clock.now();
        state
            .store
            .insert_session(&Session {
                token_hash: token.hash(),
                org_id: member.org_id.clone(),
                member_id: member.id.clone(),
                created_at: now,
                expires_at: now + chrono::Duration::hours(SESSION_HOURS),
            })
            .await?;
        let target = match &flash {
            Some((id, key)) => {
                super::keys::one_time::leave_key(state, &token, id, key).await?;
                format!("/keys/{id}/created")
            }
            None if member.must_change_password => "/account/password".to_owned(),
            None => next.to_owned(),
        };
        let mut response = Redirect::to(&target).into_response();
        if let Ok(value) = HeaderValue::from_str(&token.set_cookie(secure)) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(response)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Checks a signed-in member's password again (before a password change,
/// before revealing the shared secret), throttled like a sign-in: a stolen
/// session is not a way to guess the password.
pub async fn check_password(state: &AppState, member: &Member, password: &str) -> bool {
    let keys = [format!("account:{}", member.email)];
    if state.throttle.attempt(&keys).is_err() {
        return false;
    }
    let ok = state
        .passwords
        .verify(
            member.password_hash.clone(),
            SecretString::from(password.to_owned()),
        )
        .await;
    if ok {
        state.throttle.succeeded(&keys[0], "");
    } else {
        state.throttle.failed_now(&keys);
    }
    ok
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    signed: Signed,
    SecureCookies(secure): SecureCookies,
    Form(input): Form<CsrfForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    state
        .store
        .delete_session(&signed.0.token.hash())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(secure)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Option<Nav>,
    title: String,
    forced: bool,
    errors: FieldErrors,
    notices: super::account::Notices,
}

/// Where the password form shows each field's errors.
const PASSWORD_FIELDS: &[FieldLabel] = &[
    ("current", "current", "Current password"),
    ("password", "password", "New password"),
    ("password_again", "password_again", "New password again"),
];

#[derive(Deserialize)]
pub struct PasswordQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn password_form(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<PasswordQuery>,
) -> Response {
    let saved = query.saved.as_deref() == Some("notices");
    render(&PasswordPage {
        nav: Some(signed.nav("account")),
        title: "Change your password".to_owned(),
        forced: signed.0.member.must_change_password,
        errors: FieldErrors::default(),
        notices: super::account::notices(&state, &signed, saved).await,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    password: String,
    password_again: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<PasswordForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let notices = super::account::notices(&state, &signed, false).await;
    let again = |field: &str, message: String| {
        let mut response = render(&PasswordPage {
            nav: Some(signed.nav("account")),
            title: "Change your password".to_owned(),
            forced: signed.0.member.must_change_password,
            errors: FieldErrors::new(&[(field.to_owned(), message)], PASSWORD_FIELDS),
            notices,
        });
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    };
    let member = signed.0.member.clone();
    if !check_password(&state, &member, &input.current).await {
        return Err(again(
            "current",
            "The current password is not right.".to_owned(),
        ));
    }
    if input.password != input.password_again {
        return Err(again(
            "password_again",
            "The two new passwords differ.".to_owned(),
        ));
    }
    if input.password == input.current {
        return Err(again(
            "password",
            "Choose a password different from the current one.".to_owned(),
        ));
    }
    let new_hash =
        crate::api::members::new_password_hash(&state, SecretString::from(input.password))
            .await
            .map_err(|e| match e {
                ApiError::Invalid(errors) => again(
                    "password",
                    errors
                        .into_iter()
                        .map(|e| e.message)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                other => other.into_response(),
            })?;
    let mut after = member.clone();
    after.password_hash = new_hash;
    after.must_change_password = false;
    let now = state.clock.now();
    let ctx = signed.principal().audit(now);
    let event = events::member_password("member.password_changed", &member);
    // Every other session of this member ends with the old password.
    let keep = signed.0.token.hash();
    if let Err(error) = state
        .store
        .set_member_password(&after, Some(&keep), &ctx, event)
        .await
    {
        return Err(error_page(
            Some(signed.nav("account")),
            ApiError::from(error).into_response().status(),
            "The password could not be saved; try again shortly.",
        ));
    }
    Ok(Redirect::to("/keys?done=password").into_response())
}
