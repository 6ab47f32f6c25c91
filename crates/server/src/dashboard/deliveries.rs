//! An endpoint's delivery log as its page shows it, and the two buttons
//! that queue a message for it: "Send test event" and "Redeliver".

use super::Signed;
use super::client::Api;
use super::forms::{self, time, time_or};
use super::webhooks::{CsrfOnly, action_failed};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::webhooks::{Delivery, DeliveryStatus};
use serde_json::json;

/// One row of the delivery log.
pub struct DeliveryRow {
    /// `dlv_…`, for the redeliver form.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// `Pending`, `Succeeded`, `Failed`.
    pub status: String,
    /// The status's class in the stylesheet.
    pub status_class: &'static str,
    /// How many attempts were made.
    pub attempts: usize,
    /// The last answer's status code, or why none came.
    pub response: String,
    /// How long the last attempt took.
    pub duration: String,
    /// When the next attempt is due.
    pub next_attempt: String,
    /// When it was queued.
    pub created: String,
    /// Finished, so a redelivery is what would send it again. (A pending
    /// delivery is tried again anyway, and a redelivery would only wait
    /// behind it: an endpoint's messages go out in order.)
    pub redeliverable: bool,
}

/// The rows of a page of the log, as the API gave it (newest first).
pub fn rows(deliveries: Vec<Delivery>) -> Vec<DeliveryRow> {
    deliveries.into_iter().map(row).collect()
}

fn row(d: Delivery) -> DeliveryRow {
    let (status, status_class) = match d.status {
        DeliveryStatus::Pending => ("Pending", "status-pending"),
        DeliveryStatus::Succeeded => ("Succeeded", "status-succeeded"),
        DeliveryStatus::Failed => ("Failed", "status-failed"),
    };
    let last = d.last_attempt();
    let response = match last {
        None => "—".to_owned(),
        Some(a) => match (a.response_code, &a.error) {
            (Some(code), Some(error)) => format!("{code} ({error})"),
            (Some(code), None) => code.to_string(),
            (None, Some(error)) => format!("No answer: {error}"),
            (None, None) => "No answer".to_owned(),
        },
    };
    DeliveryRow {
        id: d.id.to_string(),
        status: status.to_owned(),
        status_class,
        attempts: d.attempts.len(),
        response,
        duration: last.map_or_else(|| "—".to_owned(), |a| format!("{} ms", a.duration_ms)),
        next_attempt: time_or(d.next_attempt_at, "—"),
        created: time(d.created_at),
        redeliverable: d.status != DeliveryStatus::Pending,
        event_type: d.event_type,
    }
}

pub async fn send_test(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/webhooks/{}/test", forms::encode(&id));
    match api.send::<Delivery>(Method::POST, &uri, &json!({})).await {
        Ok(d) => Ok(Redirect::to(&format!("/webhooks/{}?done=test", d.webhook_id)).into_response()),
        Err(failure) => Err(action_failed(&state, &signed, &id, &failure).await),
    }
}

pub async fn redeliver(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, delivery_id)): Path<(String, String)>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!(
        "/v1/webhooks/{}/deliveries/{}/redeliver",
        forms::encode(&id),
        forms::encode(&delivery_id)
    );
    match api.send::<Delivery>(Method::POST, &uri, &json!({})).await {
        Ok(d) => Ok(
            Redirect::to(&format!("/webhooks/{}?done=redelivered", d.webhook_id)).into_response(),
        ),
        Err(failure) => Err(action_failed(&state, &signed, &id, &failure).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use keyward_core::id::{DeliveryId, EventId, WebhookId};
    use keyward_core::webhooks::Attempt;

    fn delivery(status: DeliveryStatus, attempts: Vec<Attempt>) -> Delivery {
        Delivery {
            id: DeliveryId::generate().unwrap(),
            webhook_id: WebhookId::generate().unwrap(),
            message_id: "msg_1".to_owned(),
            event_type: "key.created".to_owned(),
            audit_event_id: EventId::generate().unwrap(),
            status,
            created_at: Utc::now(),
            next_attempt_at: None,
            attempts,
        }
    }

    #[test]
    fn the_last_attempt_gives_the_answer_and_the_duration() {
        let r = row(delivery(DeliveryStatus::Pending, Vec::new()));
        assert_eq!((r.attempts, r.response.as_str()), (0, "—"));
        assert!(!r.redeliverable);
        let failed = Attempt {
            at: Utc::now(),
            response_code: None,
            duration_ms: 15_000,
            error: Some("timed out".to_owned()),
        };
        let ok = Attempt {
            response_code: Some(204),
            duration_ms: 12,
            error: None,
            ..failed.clone()
        };
        let r = row(delivery(DeliveryStatus::Succeeded, vec![failed, ok]));
        assert_eq!(r.attempts, 2);
        assert_eq!(r.response, "204");
        assert_eq!(r.duration, "12 ms");
        assert!(r.redeliverable);
    }
}
