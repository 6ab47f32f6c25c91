//! The HTTP API: every route, its OpenAPI description, and the helpers the
//! resource modules share.

pub mod audit;
pub mod audit_email;
mod document;
pub mod export_link;
pub mod forward_auth;
pub mod health;
pub mod key_actions;
pub mod keys;
pub mod leaks;
pub mod members;
pub mod policy;
pub mod projects;
pub mod shared_secret;
pub mod teams;
pub mod usage;
pub mod verify;
pub mod views;
pub mod webhooks;

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use keyward_core::id::KeyId;
use keyward_core::model::{KeyRecord, Project};
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "Self-hosted API key management: create, scope, rotate, revoke, audit and verify API keys.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(Problem)),
    modifiers(&RootKeyAuth),
    tags(
        (name = "keys", description = "API keys and root keys"),
        (name = "projects", description = "Projects and their API catalogs"),
        (name = "verification", description = "Is this key allowed to do this?"),
        (name = "members", description = "Members, their roles, and teams"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "organization", description = "The organization's shared secret and key policy"),
        (name = "webhooks", description = "Events sent to your endpoints, signed with the shared secret"),
        (name = "leaks", description = "Reports of leaked keys, from anyone and from GitHub secret scanning"),
        (name = "operations", description = "Health, readiness and this description"),
    ),
)]
struct ApiDoc;

struct RootKeyAuth;

impl Modify for RootKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "root_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("root key")
                    .description(Some("A root key: `Authorization: Bearer kwroot_sk_…`"))
                    .build(),
            ),
        );
    }
}

/// Every route, for the OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    management_routes()
        .routes(routes!(verify::verify))
        .routes(routes!(forward_auth::auth))
}

/// Every route but verification's.
fn management_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::get, keys::update))
        .routes(routes!(key_actions::regenerate))
        .routes(routes!(key_actions::disable))
        .routes(routes!(key_actions::enable))
        .routes(routes!(key_actions::revoke))
        .routes(routes!(key_actions::archive))
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::get, projects::update))
        .routes(routes!(members::list, members::create))
        .routes(routes!(members::update, members::remove))
        .routes(routes!(members::reset_password))
        .routes(routes!(teams::list, teams::create))
        .routes(routes!(teams::update, teams::delete))
        .routes(routes!(shared_secret::reveal))
        .routes(routes!(shared_secret::rotate))
        .routes(routes!(policy::get, policy::update))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(leaks::report))
        .routes(routes!(leaks::github))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit_email::email))
        .routes(routes!(export_link::page, export_link::download_once))
        .routes(routes!(usage::usage))
        .routes(routes!(usage::organization))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
}

/// The API's routes, unstated: verification apart, the rest together.
pub fn routers() -> (Router<AppState>, Router<AppState>) {
    let verification = Router::new()
        .route("/v1/verify", axum::routing::post(verify::verify))
        // Envoy's HTTP ext_authz keeps the original method and appends the
        // original path: `/v1/auth/<anything>` with any method is answered
        // like `GET /v1/auth`.
        .route("/v1/auth", axum::routing::any(forward_auth::auth))
        .route(
            "/v1/auth/{*original_path}",
            axum::routing::any(forward_auth::auth),
        );
    (verification, management_routes().split_for_parts().0)
}

/// The OpenAPI document: the routes' annotations, made exact by
/// [`document::exact`] (answers, optional bodies, the rules of text fields).
fn openapi_document() -> (serde_json::Value, Vec<String>) {
    let (_, doc) = routes().split_for_parts();
    document::exact(serde_json::to_value(doc).unwrap_or_default())
}

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    let (doc, missed) = openapi_document();
    if !missed.is_empty() {
        tracing::error!(?missed, "OpenAPI rules without a target");
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default()
});

/// The OpenAPI 3.1 description of this API, generated from the code.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations", operation_id = "openapi", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    let mut response = OPENAPI_JSON.as_str().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Loads a key of the caller's organization that the caller may see;
/// anything else is 404.
pub(crate) async fn load_key(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<KeyRecord, ApiError> {
    let id = KeyId::parse(id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .get_key(&principal.org_id, &id)
        .await?
        .filter(|record| principal.may_see(record))
        .ok_or(ApiError::NotFound)
}

/// The project a key belongs to.
pub(crate) async fn project_of(state: &AppState, record: &KeyRecord) -> Result<Project, ApiError> {
    state
        .store
        .get_project(&record.org_id, &record.project_id)
        .await?
        .ok_or_else(|| ApiError::Internal("key without its project".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rule_of_the_document_finds_its_target() {
        let (_, missed) = super::openapi_document();
        assert!(missed.is_empty(), "{missed:?}");
    }
}
