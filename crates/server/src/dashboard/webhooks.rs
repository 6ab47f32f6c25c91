//! Webhook endpoint pages (`/webhooks`): the organization's endpoints with
//! the form that adds one, and an endpoint's page, where its URL, description
//! and events change, it is enabled or disabled, and it is deleted after a
//! confirmation. The same page shows its delivery log ([`super::deliveries`]).
//! Owners and admins only: the API asks for `org:admin`.

use super::client::{Api, Failure};
use super::deliveries::{self, DeliveryRow};
use super::forms::{self, FieldErrors, FieldLabel, time};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::views::Page;
use crate::api::webhooks::WebhookView;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::webhooks::{Delivery, EVENT_TYPES, TEST_EVENT};
use serde::Deserialize;
use serde_json::{Value, json};

/// What an endpoint subscribes to when it wants every event.
const ALL_EVENTS: &str = "*";

const NOT_ADMIN: &str = "Your role does not manage webhooks.";

/// An endpoint's state as people read it, with Keyward's reason when it
/// disabled the endpoint itself.
fn state_label(w: &WebhookView) -> String {
    if w.enabled {
        return "Enabled".to_owned();
    }
    match w.disabled_reason.as_deref() {
        Some("gone") => "Disabled by Keyward: the endpoint answered 410 Gone".to_owned(),
        Some("failing") => "Disabled by Keyward: its deliveries failed for 5 days".to_owned(),
        Some(other) => format!("Disabled by Keyward ({other})"),
        None => "Disabled".to_owned(),
    }
}

fn events_label(events: &[String]) -> String {
    if events.iter().any(|e| e == ALL_EVENTS) {
        "All events".to_owned()
    } else {
        events.join(", ")
    }
}

/// A checkbox of the events fieldset.
struct EventBox {
    value: String,
    checked: bool,
}

/// "All events" first, then every event type. `webhook.test` reaches the
/// endpoint being tested whatever it subscribes to, so it is offered only to
/// keep it on an endpoint that already has it.
fn event_boxes(chosen: &[String]) -> Vec<EventBox> {
    std::iter::once(ALL_EVENTS)
        .chain(EVENT_TYPES.iter().copied())
        .filter(|e| *e != TEST_EVENT || chosen.iter().any(|c| c == e))
        .map(|e| EventBox {
            value: e.to_owned(),
            checked: chosen.iter().any(|c| c == e),
        })
        .collect()
}

/// The endpoint form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct EndpointForm {
    csrf: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    events: Vec<String>,
}

impl EndpointForm {
    fn from_view(w: &WebhookView) -> Self {
        Self {
            csrf: String::new(),
            url: w.url.clone(),
            description: w.description.clone(),
            events: w.events.clone(),
        }
    }

    /// The body of a create or a change; "All events" wins over any other box
    /// checked with it (a superset: no event is lost).
    fn body(&self) -> Result<Value, Vec<(String, String)>> {
        let events = if self.events.iter().any(|e| e == ALL_EVENTS) {
            vec![ALL_EVENTS.to_owned()]
        } else {
            self.events.clone()
        };
        if events.is_empty() {
            return Err(vec![(
                "events".to_owned(),
                "Choose at least one event, or All events.".to_owned(),
            )]);
        }
        Ok(json!({
            "url": self.url.trim(),
            "description": self.description.trim(),
            "events": events,
        }))
    }
}

/// Where the endpoint form shows each API field's errors.
const FIELDS: &[FieldLabel] = &[
    ("url", "url", "URL"),
    ("description", "description", "Description"),
    ("events", "events", "Events"),
];

struct EndpointRow {
    id: String,
    url: String,
    description: String,
    events: String,
    state: String,
    enabled: bool,
    failing_since: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    rows: Vec<EndpointRow>,
    url: String,
    description: String,
    events: Vec<EventBox>,
    https_only: bool,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "created" => "The endpoint was added. Send it a test event to check it.",
        "saved" => "The endpoint was saved.",
        "enabled" => "The endpoint was enabled.",
        "disabled" => "The endpoint was disabled: it receives nothing until enabled.",
        "deleted" => "The endpoint was deleted.",
        "test" => "A test event was queued; its delivery is below.",
        "redelivered" => "The message was queued again; the new delivery is below.",
        _ => return None,
    };
    Some(text.to_owned())
}

async fn webhooks_page(
    state: &AppState,
    signed: &Signed,
    input: EndpointForm,
    errors: Vec<(String, String)>,
    notice: Option<String>,
) -> Response {
    let nav = signed.nav("webhooks");
    if !nav.org_admin {
        return error_page(Some(nav), StatusCode::FORBIDDEN, NOT_ADMIN);
    }
    let api = Api::new(state, signed.principal());
    let endpoints = match api.get::<Page<WebhookView>>("/v1/webhooks").await {
        Ok(p) => p.data,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let failed = !errors.is_empty();
    let mut response = render(&WebhooksPage {
        title: "Webhooks".to_owned(),
        notice,
        rows: endpoints
            .into_iter()
            .map(|w| EndpointRow {
                state: state_label(&w),
                events: events_label(&w.events),
                failing_since: w.failing_since.map(time).unwrap_or_default(),
                enabled: w.enabled,
                id: w.id,
                url: w.url,
                description: w.description,
            })
            .collect(),
        events: event_boxes(&input.events),
        url: input.url,
        description: input.description,
        https_only: !state.settings.webhooks.allow_private,
        errors: FieldErrors::new(&errors, FIELDS),
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn webhooks(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<PageQuery>,
) -> Response {
    let notice = notice(q.done.as_deref());
    webhooks_page(&state, &signed, EndpointForm::default(), Vec::new(), notice).await
}

pub async fn create_webhook(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<EndpointForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let body = match input.body() {
        Ok(body) => body,
        Err(errors) => return Err(webhooks_page(&state, &signed, input, errors, None).await),
    };
    let api = Api::new(&state, signed.principal());
    match api
        .send::<WebhookView>(Method::POST, "/v1/webhooks", &body)
        .await
    {
        Ok(w) => Ok(Redirect::to(&format!("/webhooks/{}?done=created", w.id)).into_response()),
        Err(failure) if failure.is_form_error() => {
            Err(webhooks_page(&state, &signed, input, failure.field_errors(), None).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("webhooks")), &failure)),
    }
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    id: String,
    state: String,
    enabled: bool,
    failing_since: Option<String>,
    created: String,
    url: String,
    description: String,
    events: Vec<EventBox>,
    https_only: bool,
    errors: FieldErrors,
    deliveries: Vec<DeliveryRow>,
    older: Option<String>,
    paged: bool,
}

/// What the endpoint page shows besides the endpoint: the form as typed
/// when it is shown again with errors, a notice, the log page asked for.
#[derive(Default)]
struct EndpointView {
    input: Option<EndpointForm>,
    errors: Vec<(String, String)>,
    notice: Option<String>,
    cursor: Option<String>,
}

fn webhook_uri(id: &str) -> String {
    format!("/v1/webhooks/{}", forms::encode(id))
}

async fn endpoint_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    view: EndpointView,
) -> Response {
    let nav = signed.nav("webhooks");
    if !nav.org_admin {
        return error_page(Some(nav), StatusCode::FORBIDDEN, NOT_ADMIN);
    }
    let api = Api::new(state, signed.principal());
    let endpoint = match api.get::<WebhookView>(&webhook_uri(id)).await {
        Ok(w) => w,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let mut log = format!("{}/deliveries?limit=25", webhook_uri(id));
    if let Some(cursor) = view.cursor.as_deref().filter(|c| !c.is_empty()) {
        log.push_str(&format!("&cursor={}", forms::encode(cursor)));
    }
    let log = match api.get::<Page<Delivery>>(&log).await {
        Ok(page) => page,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let failed = !view.errors.is_empty();
    let input = view
        .input
        .unwrap_or_else(|| EndpointForm::from_view(&endpoint));
    let mut response = render(&WebhookPage {
        title: endpoint.url.clone(),
        notice: view.notice,
        state: state_label(&endpoint),
        enabled: endpoint.enabled,
        failing_since: endpoint.failing_since.map(time),
        created: time(endpoint.created_at),
        events: event_boxes(&input.events),
        url: input.url,
        description: input.description,
        https_only: !state.settings.webhooks.allow_private,
        errors: FieldErrors::new(&view.errors, FIELDS),
        deliveries: deliveries::rows(log.data),
        older: log
            .next_cursor
            .map(|c| format!("/webhooks/{}?cursor={}", endpoint.id, forms::encode(&c))),
        paged: view.cursor.is_some(),
        id: endpoint.id,
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn webhook(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let view = EndpointView {
        notice: notice(q.done.as_deref()),
        cursor: q.cursor,
        ..EndpointView::default()
    };
    endpoint_page(&state, &signed, &id, view).await
}

pub async fn update_webhook(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<EndpointForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let again = |input: EndpointForm, errors: Vec<(String, String)>| EndpointView {
        input: Some(input),
        errors,
        ..EndpointView::default()
    };
    let body = match input.body() {
        Ok(body) => body,
        Err(errors) => return Err(endpoint_page(&state, &signed, &id, again(input, errors)).await),
    };
    let api = Api::new(&state, signed.principal());
    match api
        .send::<WebhookView>(Method::PATCH, &webhook_uri(&id), &body)
        .await
    {
        Ok(w) => Ok(Redirect::to(&format!("/webhooks/{}?done=saved", w.id)).into_response()),
        Err(failure) if failure.is_form_error() && failure.status != StatusCode::NOT_FOUND => {
            let view = again(input, failure.field_errors());
            Err(endpoint_page(&state, &signed, &id, view).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("webhooks")), &failure)),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    pub(super) csrf: String,
}

async fn set_enabled(
    state: &AppState,
    signed: &Signed,
    id: &str,
    enabled: bool,
) -> Result<Response, Response> {
    let api = Api::new(state, signed.principal());
    let body = json!({ "enabled": enabled });
    match api
        .send::<WebhookView>(Method::PATCH, &webhook_uri(id), &body)
        .await
    {
        Ok(w) => {
            let done = if enabled { "enabled" } else { "disabled" };
            Ok(Redirect::to(&format!("/webhooks/{}?done={done}", w.id)).into_response())
        }
        Err(failure) => Err(failure_page(Some(signed.nav("webhooks")), &failure)),
    }
}

pub async fn enable_webhook(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    set_enabled(&state, &signed, &id, true).await
}

pub async fn disable_webhook(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    set_enabled(&state, &signed, &id, false).await
}

#[derive(Template)]
#[template(path = "webhook_delete.html")]
struct DeletePage {
    nav: Option<Nav>,
    title: String,
    id: String,
    url: String,
    events: String,
}

pub async fn delete_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let nav = signed.nav("webhooks");
    if !nav.org_admin {
        return error_page(Some(nav), StatusCode::FORBIDDEN, NOT_ADMIN);
    }
    let api = Api::new(&state, signed.principal());
    match api.get::<WebhookView>(&webhook_uri(&id)).await {
        Ok(w) => render(&DeletePage {
            title: "Delete this endpoint?".to_owned(),
            events: events_label(&w.events),
            id: w.id,
            url: w.url,
            nav: Some(nav),
        }),
        Err(failure) => failure_page(Some(nav), &failure),
    }
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    match api
        .send::<()>(Method::DELETE, &webhook_uri(&id), &json!({}))
        .await
    {
        Ok(()) => Ok(Redirect::to("/webhooks?done=deleted").into_response()),
        Err(failure) => Err(failure_page(Some(signed.nav("webhooks")), &failure)),
    }
}

/// The page for a failed action on endpoint `id` (a test, a redelivery):
/// its own page for a refusal of the role or a missing endpoint, else the
/// endpoint's page with the API's reason on top.
pub(super) async fn action_failed(
    state: &AppState,
    signed: &Signed,
    id: &str,
    failure: &Failure,
) -> Response {
    if !failure.is_form_error() || failure.status == StatusCode::NOT_FOUND {
        return failure_page(Some(signed.nav("webhooks")), failure);
    }
    let view = EndpointView {
        errors: failure.field_errors(),
        ..EndpointView::default()
    };
    endpoint_page(state, signed, id, view).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(events: &[&str]) -> EndpointForm {
        EndpointForm {
            url: " https://hooks.example.com/in ".to_owned(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            ..EndpointForm::default()
        }
    }

    #[test]
    fn all_events_wins_and_none_is_refused() {
        let body = form(&["key.created", "*"]).body().unwrap();
        assert_eq!(body["events"], json!(["*"]));
        assert_eq!(body["url"], "https://hooks.example.com/in");
        let body = form(&["key.created", "key.revoked"]).body().unwrap();
        assert_eq!(body["events"], json!(["key.created", "key.revoked"]));
        assert!(form(&[]).body().is_err());
    }

    #[test]
    fn the_test_event_is_offered_only_to_keep_it() {
        let offered = |chosen: &[String]| {
            event_boxes(chosen)
                .into_iter()
                .map(|b| b.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(offered(&[])[0], "*");
        assert!(!offered(&[]).iter().any(|e| e == TEST_EVENT));
        assert!(
            offered(&[TEST_EVENT.to_owned()])
                .iter()
                .any(|e| e == TEST_EVENT)
        );
    }
}
