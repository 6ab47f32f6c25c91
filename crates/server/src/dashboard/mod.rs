//! The web dashboard, served by the same binary at `/`: server-rendered
//! pages (askama templates compiled into the binary), one stylesheet, and
//! one small script for the copy button. Nothing is fetched from anywhere
//! else, and the `Content-Security-Policy` says so.
//!
//! Pages read and change everything through the management API, called
//! in-process as the signed-in member ([`client::Api`]): what a role may see
//! or do is decided there, once, for the API and the dashboard alike.

// Handlers answer with a page whether they succeed or not: `Result<_, Response>`
// is the axum idiom for that, and a page is as large as a page is.
#![allow(clippy::result_large_err)]

mod account;
mod audit;
pub mod chart;
mod client;
mod deliveries;
mod flash;
mod forms;
mod keys;
mod overview;
mod people;
mod policy;
mod projects;
mod root_keys;
pub mod setup;
mod shared_secret;
mod signin;
mod webhooks;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Client;
use crate::session::{self, SessionToken, SignedIn};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use client::Failure;
use tower_http::set_header::SetResponseHeaderLayer;

/// How long the first-run setup link works.
pub const SETUP_MINUTES: i64 = 60;

const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The dashboard's routes, with their security headers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .route("/setup", get(setup::form).post(setup::submit))
        .route("/login", get(signin::form).post(signin::submit))
        .route("/logout", post(signin::logout))
        .route(
            "/account/password",
            get(signin::password_form).post(signin::change_password),
        )
        .route("/account/notices", post(account::save_notices))
        .route("/overview", get(overview::overview))
        .route("/overview/disable", post(overview::disable))
        .route("/keys", get(keys::table::list))
        .route(
            "/keys/new",
            get(keys::create::new_form).post(keys::create::create),
        )
        .route("/keys/{id}", get(keys::detail::show))
        .route("/keys/{id}/created", get(keys::one_time::created))
        .route(
            "/keys/{id}/edit",
            get(keys::edit::edit_form).post(keys::edit::update),
        )
        .route(
            "/keys/{id}/regenerate",
            get(keys::actions::regenerate_form).post(keys::actions::regenerate),
        )
        .route("/keys/{id}/enable", post(keys::actions::enable))
        .route("/keys/{id}/disable", post(keys::actions::disable))
        .route(
            "/keys/{id}/revoke",
            get(keys::actions::revoke_form).post(keys::actions::revoke),
        )
        .route(
            "/keys/{id}/archive",
            get(keys::actions::archive_form).post(keys::actions::archive),
        )
        .route("/audit", get(audit::audit))
        .route("/audit/email", post(audit::email_export))
        .route(
            "/projects",
            get(projects::projects).post(projects::create_project),
        )
        .route(
            "/projects/{id}",
            get(projects::project).post(projects::update_project),
        )
        .route(
            "/root-keys",
            get(root_keys::root_keys).post(root_keys::create_root_key),
        )
        .route(
            "/shared-secret",
            get(shared_secret::shared_secret).post(shared_secret::reveal),
        )
        .route(
            "/shared-secret/rotate",
            get(shared_secret::rotate_form).post(shared_secret::rotate),
        )
        .route(
            "/webhooks",
            get(webhooks::webhooks).post(webhooks::create_webhook),
        )
        .route(
            "/webhooks/{id}",
            get(webhooks::webhook).post(webhooks::update_webhook),
        )
        .route("/webhooks/{id}/enable", post(webhooks::enable_webhook))
        .route("/webhooks/{id}/disable", post(webhooks::disable_webhook))
        .route(
            "/webhooks/{id}/delete",
            get(webhooks::delete_form).post(webhooks::delete_webhook),
        )
        .route("/webhooks/{id}/test", post(deliveries::send_test))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(deliveries::redeliver),
        )
        .route("/policy", get(policy::policy).post(policy::update_policy))
        .route("/members", get(people::members).post(people::add_member))
        .route("/members/{id}", post(people::update_member))
        .route(
            "/members/{id}/reset-password",
            get(people::reset_password_form).post(people::reset_password),
        )
        .route(
            "/members/{id}/remove",
            get(people::remove_form).post(people::remove_member),
        )
        .route("/teams", get(people::teams).post(people::create_team))
        .route("/teams/{id}", post(people::update_team))
        .route(
            "/teams/{id}/delete",
            get(people::delete_team_form).post(people::delete_team),
        )
        .layer(axum::middleware::from_fn(same_origin))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Refuses state-changing requests that a browser says come from another
/// origin: a second line behind the CSRF tokens and `SameSite=Strict`.
async fn same_origin(request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if let (Some(origin), Some(host)) = (origin, host) {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            if origin_host != host {
                return error_page(
                    None,
                    StatusCode::FORBIDDEN,
                    "This form was sent from another site, so it was refused.",
                );
            }
        }
    }
    next.run(request).await
}

/// Where a signed-in member lands: the overview when their role sees every
/// key, their keys otherwise; the sign-in page for everyone else.
async fn home(signed: Result<Signed, Response>) -> Response {
    match signed {
        Ok(signed) if signed.principal().own_keys_only() => Redirect::to("/keys").into_response(),
        Ok(_) => Redirect::to("/overview").into_response(),
        Err(to_login) => to_login,
    }
}

async fn stylesheet() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    )
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The navigation and identity every signed-in page shows.
#[derive(Debug, Clone)]
pub struct Nav {
    /// The member's email.
    pub email: String,
    /// Their role.
    pub role: String,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// Which section is open.
    pub section: &'static str,
    /// May read the audit log.
    pub audit: bool,
    /// May manage members and teams.
    pub members: bool,
    /// May manage projects.
    pub projects: bool,
    /// May manage root keys, the shared secret, webhooks and the key policy.
    pub org_admin: bool,
    /// May create and change keys.
    pub write_keys: bool,
    /// May revoke keys.
    pub revoke_keys: bool,
    /// Sees every key (every role but `member`): the overview is theirs.
    pub overview: bool,
}

impl Nav {
    fn new(signed_in: &SignedIn, section: &'static str) -> Self {
        let p = &signed_in.principal;
        Self {
            email: signed_in.member.email.clone(),
            role: signed_in.member.role.as_str().to_owned(),
            csrf: signed_in.token.csrf(),
            section,
            audit: p.holds("audit:read"),
            members: p.holds("members:write"),
            projects: p.holds("projects:write"),
            org_admin: p.holds("org:admin"),
            write_keys: p.holds("keys:write"),
            revoke_keys: p.holds("keys:write") || p.holds("keys:revoke"),
            overview: !p.own_keys_only(),
        }
    }

    /// Whether `section` is the open one (for `aria-current`).
    pub fn is(&self, section: &str) -> bool {
        self.section == section
    }
}

/// A signed-in member, or a redirect to the sign-in page.
#[derive(Debug)]
pub struct Signed(pub SignedIn);

impl Signed {
    /// The principal the member acts as.
    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    /// The page navigation, with `section` open.
    pub fn nav(&self, section: &'static str) -> Nav {
        Nav::new(&self.0, section)
    }

    /// Fails unless `given` is this session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), Response> {
        if self.0.token.csrf_matches(given) {
            Ok(())
        } else {
            Err(error_page(
                Some(self.nav("")),
                StatusCode::FORBIDDEN,
                "This form has expired. Go back, reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let client = Client::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/keys", |p| p.as_str())
                .to_owned();
            let mut response =
                Redirect::to(&format!("/login?next={}", forms::encode(&next))).into_response();
            if let Ok(value) = HeaderValue::from_str(&session::clear_cookie(false)) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        };
        let Some(token) = SessionToken::from_parts(parts) else {
            return Err(to_login());
        };
        let signed_in = match session::load(state, token, client).await {
            Ok(Some(signed_in)) => signed_in,
            Ok(None) => return Err(to_login()),
            Err(error) => return Err(api_error_page(None, error)),
        };
        if signed_in.member.must_change_password && parts.uri.path() != "/account/password" {
            return Err(Redirect::to("/account/password").into_response());
        }
        Ok(Self(signed_in))
    }
}

/// Renders a template into a response.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a dashboard template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A page that only says what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Option<Nav>,
    title: String,
    message: String,
}

/// An error page with `status`.
pub fn error_page(nav: Option<Nav>, status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let mut response = render(&ErrorPage {
        nav,
        title,
        message: message.to_owned(),
    });
    *response.status_mut() = status;
    response
}

/// The page for an API failure that no form can show next to its fields.
pub fn failure_page(nav: Option<Nav>, failure: &Failure) -> Response {
    let message = match failure.status {
        StatusCode::NOT_FOUND => "There is nothing here, or it is not yours to see.".to_owned(),
        StatusCode::FORBIDDEN => format!("Your role does not allow this. ({})", failure.detail),
        _ => failure.messages().join(" "),
    };
    error_page(nav, failure.status, &message)
}

fn api_error_page(nav: Option<Nav>, error: ApiError) -> Response {
    let status = error.into_response().status();
    error_page(nav, status, "Something went wrong; try again shortly.")
}
