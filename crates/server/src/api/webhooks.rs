//! `/v1/webhooks`: endpoints that receive the organization's events, signed
//! with its shared secret (Standard Webhooks), their delivery log, tests and
//! redeliveries. Needs `org:admin`.

use super::audit::query_params;
use super::views::Page;
use crate::auth::{Authorized, OrgAdmin, Principal};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use keyward_core::error::Validation;
use keyward_core::event_store::DeliveryQuery;
use keyward_core::events;
use keyward_core::id::{DeliveryId, WebhookId};
use keyward_core::webhooks::{CreateEndpoint, Delivery, Endpoint, UpdateEndpoint, UrlRules};
use serde::{Deserialize, Serialize};

/// The webhook endpoint object.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// `wh_…`.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    /// Disabled endpoints receive nothing.
    pub enabled: bool,
    /// Why Keyward disabled it: `gone` (it answered 410) or `failing` (every
    /// attempt failed for 5 days); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries have been failing; `null` when they succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Endpoint> for WebhookView {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.events.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Paging of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryPage {
    /// Page size, 1–100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn rules(state: &AppState) -> UrlRules {
    UrlRules {
        allow_private: state.settings.webhooks.allow_private,
    }
}

async fn load(state: &AppState, principal: &Principal, id: &str) -> Result<Endpoint, ApiError> {
    let id = WebhookId::parse(id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .get_webhook(&principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Lists the organization's webhook endpoints, oldest first.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks", operation_id = "webhooks_list",
    responses((status = 200, body = Page<WebhookView>)),
    security(("root_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
) -> Result<ApiJson<Page<WebhookView>>, ApiError> {
    let endpoints = state.store.list_webhooks(&principal.org_id).await?;
    Ok(ApiJson(Page {
        data: endpoints.iter().map(WebhookView::from).collect(),
        next_cursor: None,
    }))
}

/// Adds a webhook endpoint.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks", operation_id = "webhooks_create",
    request_body = CreateEndpoint,
    responses(
        (status = 201, body = WebhookView),
        (status = 409, description = "`conflict`: the organization has 20 endpoints already"),
    ),
    security(("root_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiJson(input): ApiJson<CreateEndpoint>,
) -> Result<(StatusCode, ApiJson<WebhookView>), ApiError> {
    let now = state.clock.now();
    let endpoint = Endpoint::create(principal.org_id.clone(), input, rules(&state), now)?;
    let event = events::webhook_changed("webhook.created", None, Some(&endpoint));
    state
        .store
        .create_webhook(&endpoint, &principal.audit(now), event)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(WebhookView::from(&endpoint))))
}

/// One webhook endpoint.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "webhooks_get",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView)),
    security(("root_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let endpoint = load(&state, &principal, &id).await?;
    Ok(ApiJson(WebhookView::from(&endpoint)))
}

/// Changes a webhook endpoint; enabling one clears why Keyward disabled it.
#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "webhooks_update",
    params(("id" = String, Path, description = "Webhook id")),
    request_body = UpdateEndpoint,
    responses((status = 200, body = WebhookView)),
    security(("root_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<UpdateEndpoint>,
) -> Result<ApiJson<WebhookView>, ApiError> {
    let before = load(&state, &principal, &id).await?;
    let now = state.clock.now();
    let mut after = before.clone();
    after.update(input, rules(&state), now)?;
    let event = events::webhook_changed("webhook.updated", Some(&before), Some(&after));
    if after.url == before.url
        && event.changes.is_empty()
        && after.disabled_reason == before.disabled_reason
    {
        return Ok(ApiJson(WebhookView::from(&before)));
    }
    state
        .store
        .update_webhook(&after, before.version, &principal.audit(now), event)
        .await?;
    Ok(ApiJson(WebhookView::from(&after)))
}

/// Deletes a webhook endpoint and its delivery log.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "webhooks_delete",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted")),
    security(("root_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let endpoint = load(&state, &principal, &id).await?;
    let now = state.clock.now();
    let event = events::webhook_changed("webhook.deleted", Some(&endpoint), None);
    state
        .store
        .delete_webhook(&endpoint.org_id, &endpoint.id, &principal.audit(now), event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a `webhook.test` message to this endpoint only.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/test", tag = "webhooks", operation_id = "webhooks_test",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 202, description = "Queued; see the delivery log", body = Delivery),
        (status = 409, description = "`webhook_disabled`: enable the endpoint first"),
    ),
    security(("root_key" = [])),
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, ApiJson<Delivery>), ApiError> {
    let endpoint = load(&state, &principal, &id).await?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict {
            code: "webhook_disabled",
            detail: "the endpoint is disabled: enable it before sending a test".to_owned(),
        });
    }
    let now = state.clock.now();
    let event = state
        .store
        .append_audit(
            &principal.org_id,
            &principal.audit(now),
            events::webhook_test(&endpoint),
        )
        .await?;
    state.store.dispatch_events(Some(&principal.org_id)).await?;
    state.webhook_wake.notify_one();
    let query = DeliveryQuery {
        before: None,
        limit: 1,
        event: Some(event.id),
    };
    let delivery = state
        .store
        .list_deliveries(&principal.org_id, &endpoint.id, &query)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("the test message was not queued".into()))?;
    Ok((StatusCode::ACCEPTED, ApiJson(delivery)))
}

/// The endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "webhooks_deliveries",
    params(("id" = String, Path, description = "Webhook id"), DeliveryPage),
    responses((status = 200, body = Page<Delivery>)),
    security(("root_key" = [])),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiPath(id): ApiPath<String>,
    page: Result<Query<DeliveryPage>, QueryRejection>,
) -> Result<ApiJson<Page<Delivery>>, ApiError> {
    let page = query_params(page)?;
    let endpoint = load(&state, &principal, &id).await?;
    let mut v = Validation::default();
    let limit = page.limit.map(|limit| {
        v.check(
            "limit",
            limit
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| "must be a whole number from 1 to 100".to_owned()),
        )
    });
    let before = page.cursor.map(|cursor| {
        v.check(
            "cursor",
            DeliveryId::parse(&cursor).map_err(|_| "not a cursor of this listing".to_owned()),
        )
    });
    v.finish()?;
    let limit = limit.flatten().unwrap_or(50);
    let query = DeliveryQuery {
        before: before.flatten(),
        limit,
        event: None,
    };
    let mut data = state
        .store
        .list_deliveries(&principal.org_id, &endpoint.id, &query)
        .await?;
    let next_cursor = if data.len() > limit as usize {
        data.truncate(limit as usize);
        data.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(ApiJson(Page { data, next_cursor }))
}

/// Sends a delivery's message again, as a new delivery (same `webhook-id`,
/// so receivers that already processed it can tell).
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    operation_id = "webhooks_redeliver",
    params(
        ("id" = String, Path, description = "Webhook id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued", body = Delivery),
        (status = 409, description = "`conflict`: the delivery is still pending"),
    ),
    security(("root_key" = [])),
)]
pub async fn redeliver(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> Result<(StatusCode, ApiJson<Delivery>), ApiError> {
    let endpoint = load(&state, &principal, &id).await?;
    let delivery_id = DeliveryId::parse(&delivery_id).map_err(|_| ApiError::NotFound)?;
    let delivery = state
        .store
        .redeliver(
            &principal.org_id,
            &endpoint.id,
            &delivery_id,
            state.clock.now(),
        )
        .await?;
    state.webhook_wake.notify_one();
    Ok((StatusCode::ACCEPTED, ApiJson(delivery)))
}
