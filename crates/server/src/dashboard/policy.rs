//! The key policy page (`/policy`): how long keys may live, when expiry
//! notices go out, when an unused key counts as stale and whether it is then
//! disabled, and what a leak report does. Owners and admins only.

use super::client::Api;
use super::forms::{self, Choice, FieldErrors, FieldLabel};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::org_policy::KeyPolicy;
use serde::Deserialize;
use serde_json::json;

const LEAK_ACTIONS: [(&str, &str); 3] = [
    ("revoke", "Revoke it at once"),
    ("disable", "Disable it, for an owner or admin to decide"),
    ("notify", "Only record and report it"),
];

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    nav: Option<Nav>,
    title: String,
    saved: bool,
    input: PolicyForm,
    leak_actions: Vec<Choice>,
    errors: FieldErrors,
}

/// Where the policy form shows each API field's errors.
const FIELDS: &[FieldLabel] = &[
    (
        "max_key_lifetime_days",
        "max_key_lifetime_days",
        "Max key lifetime days",
    ),
    (
        "expiry_notice_days",
        "expiry_notice_days",
        "Expiry notice days",
    ),
    ("stale_after_days", "stale_after_days", "Stale after days"),
    (
        "disable_stale_keys",
        "disable_stale_keys",
        "Disable stale keys",
    ),
    (
        "leak_action",
        "leak_action",
        "When a key is reported as leaked",
    ),
];

/// The policy form, as typed: numbers stay text until they are read.
#[derive(Debug, Default, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    max_key_lifetime_days: String,
    #[serde(default)]
    expiry_notice_days: String,
    #[serde(default)]
    stale_after_days: String,
    #[serde(default)]
    disable_stale_keys: Option<String>,
    #[serde(default)]
    leak_action: String,
}

impl PolicyForm {
    fn from_policy(p: &KeyPolicy) -> Self {
        let days = |d: Option<u32>| d.map(|d| d.to_string()).unwrap_or_default();
        Self {
            csrf: String::new(),
            max_key_lifetime_days: days(p.max_key_lifetime_days),
            expiry_notice_days: p
                .expiry_notice_days
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            stale_after_days: days(p.stale_after_days),
            disable_stale_keys: p.disable_stale_keys.then(|| "on".to_owned()),
            leak_action: forms::wire_name(p.leak_action),
        }
    }

    /// The `PATCH /v1/policy` body, or what cannot be read as days. The
    /// ranges are the API's to check.
    fn body(&self) -> Result<serde_json::Value, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut days = |field: &str, text: &str, empty: &str| match text.trim() {
            "" => None,
            t => t.parse::<u32>().map(Some).unwrap_or_else(|_| {
                errors.push((
                    field.to_owned(),
                    format!("write a whole number of days, or leave it empty for {empty}."),
                ));
                None
            }),
        };
        let lifetime = days(
            "max_key_lifetime_days",
            &self.max_key_lifetime_days,
            "no limit",
        );
        let stale = days("stale_after_days", &self.stale_after_days, "never");
        let notices: Vec<Option<u32>> = forms::words(&self.expiry_notice_days)
            .iter()
            .map(|w| w.parse::<u32>().ok())
            .collect();
        if notices.iter().any(Option::is_none) {
            errors.push((
                "expiry_notice_days".to_owned(),
                "write whole numbers of days separated by commas, or leave it empty for no \
                 notices."
                    .to_owned(),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(json!({
            "max_key_lifetime_days": lifetime,
            "expiry_notice_days": notices.into_iter().flatten().collect::<Vec<_>>(),
            "stale_after_days": stale,
            "disable_stale_keys": self.disable_stale_keys.is_some(),
            "leak_action": self.leak_action,
        }))
    }
}

fn policy_page(
    nav: Nav,
    input: PolicyForm,
    saved: bool,
    errors: Vec<(String, String)>,
) -> Response {
    let failed = !errors.is_empty();
    let mut response = render(&PolicyPage {
        title: "Key policy".to_owned(),
        saved,
        leak_actions: forms::choices(&LEAK_ACTIONS, &input.leak_action),
        input,
        errors: FieldErrors::new(&errors, FIELDS),
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn policy(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<SavedQuery>,
) -> Response {
    let nav = signed.nav("policy");
    if !nav.org_admin {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage the key policy.",
        );
    }
    let api = Api::new(&state, signed.principal());
    match api.get::<KeyPolicy>("/v1/policy").await {
        Ok(p) => policy_page(
            nav,
            PolicyForm::from_policy(&p),
            q.saved.is_some(),
            Vec::new(),
        ),
        Err(failure) => failure_page(Some(nav), &failure),
    }
}

pub async fn update_policy(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<PolicyForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = signed.nav("policy");
    let body = match input.body() {
        Ok(body) => body,
        Err(errors) => return Err(policy_page(nav, input, false, errors)),
    };
    let api = Api::new(&state, signed.principal());
    match api
        .send::<KeyPolicy>(Method::PATCH, "/v1/policy", &body)
        .await
    {
        Ok(_) => Ok(Redirect::to("/policy?saved=1").into_response()),
        Err(failure) if failure.is_form_error() => {
            Err(policy_page(nav, input, false, failure.field_errors()))
        }
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_mean_none_and_lists_read_commas() {
        let form = PolicyForm {
            expiry_notice_days: "30, 7,1".to_owned(),
            leak_action: "disable".to_owned(),
            ..PolicyForm::default()
        };
        let body = form.body().unwrap();
        assert_eq!(body["max_key_lifetime_days"], serde_json::Value::Null);
        assert_eq!(body["stale_after_days"], serde_json::Value::Null);
        assert_eq!(body["expiry_notice_days"], json!([30, 7, 1]));
        assert_eq!(body["disable_stale_keys"], false);
    }

    #[test]
    fn words_where_days_belong_are_named() {
        let form = PolicyForm {
            max_key_lifetime_days: "ninety".to_owned(),
            expiry_notice_days: "7, soon".to_owned(),
            stale_after_days: "-3".to_owned(),
            ..PolicyForm::default()
        };
        let errors = form.body().unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].0, "max_key_lifetime_days");
        assert_eq!(errors[2].0, "expiry_notice_days");
    }

    #[test]
    fn the_form_shows_the_policy_as_it_is() {
        let form = PolicyForm::from_policy(&KeyPolicy::default());
        assert_eq!(form.expiry_notice_days, "7, 1");
        assert_eq!(form.max_key_lifetime_days, "");
        assert_eq!(form.leak_action, "revoke");
        assert!(form.disable_stale_keys.is_none());
    }
}
