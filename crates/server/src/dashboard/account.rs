//! The signed-in member's own settings beside their password: whether they
//! receive key notices by email.

use super::{Signed, error_page};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::events;
use serde::Deserialize;
use serde_json::json;

/// The "Email me key notices" choice, as the password page shows it.
#[derive(Debug, Clone, Copy)]
pub struct Notices {
    /// The member receives them.
    pub on: bool,
    /// Keyward sends email at all.
    pub email: bool,
    /// The choice was just saved.
    pub saved: bool,
}

/// The member's choice; when it cannot be read, shown as on (the default).
pub async fn notices(state: &AppState, signed: &Signed, saved: bool) -> Notices {
    let member = &signed.0.member;
    Notices {
        on: state
            .store
            .notice_emails(&member.org_id, &member.id)
            .await
            .unwrap_or(true),
        email: state.settings.email.smtp.is_some(),
        saved,
    }
}

#[derive(Debug, Deserialize)]
pub struct NoticesForm {
    csrf: String,
    /// Present (`on`) when the box is ticked.
    #[serde(default)]
    notice_emails: Option<String>,
}

/// Saves the member's choice (audited as `member.updated`), then shows the
/// password page again.
pub async fn save_notices(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<NoticesForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let on = input.notice_emails.is_some();
    let member = &signed.0.member;
    let now = state.clock.now();
    let mut event = events::member_updated(member, member);
    event.changes.insert(
        "notice_emails".to_owned(),
        json!({"before": !on, "after": on}),
    );
    state
        .store
        .set_notice_emails(
            &member.org_id,
            &member.id,
            on,
            &signed.principal().audit(now),
            event,
        )
        .await
        .map_err(|error| {
            error_page(
                Some(signed.nav("account")),
                ApiError::from(error).into_response().status(),
                "The choice could not be saved; try again shortly.",
            )
        })?;
    Ok(Redirect::to("/account/password?saved=notices").into_response())
}
