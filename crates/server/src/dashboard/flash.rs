//! What a form's answer leaves for the page it redirects to: a value that
//! is shown once (a new key, the shared secret, a temporary password),
//! sealed with the master key into the session's one flash slot and taken
//! out by the page that shows it. Every state-changing form answers with a
//! redirect (POST/redirect/GET), so reloading the page that follows shows
//! nothing again and repeats nothing.

use crate::error::ApiError;
use crate::session::SessionToken;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A value shown once, by the page it was left for.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Flash {
    /// A key just created or regenerated, for `/keys/{key_id}/created`.
    Key { key_id: String, key: String },
    /// The shared secret, just revealed or rotated, for `/shared-secret`.
    SharedSecret {
        secret: String,
        rotated_at: DateTime<Utc>,
    },
    /// A member's temporary password, just set, for `/members`.
    TemporaryPassword { email: String, password: String },
}

/// Bound to the session: a sealed flash copied into another session does
/// not open.
fn aad(token: &SessionToken) -> Vec<u8> {
    let mut aad = b"keyward flash\0".to_vec();
    aad.extend_from_slice(&token.hash());
    aad
}

/// Leaves `flash` for the session's next page, replacing any other.
pub async fn leave(state: &AppState, token: &SessionToken, flash: &Flash) -> Result<(), ApiError> {
    let payload = serde_json::to_vec(flash).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let sealed = state.master_key.seal(&payload, &aad(token))?;
    state
        .store
        .set_session_flash(&token.hash(), &sealed)
        .await?;
    Ok(())
}

/// Takes what was left when it is what `wanted` accepts; anything else
/// (left for another page, in another tab) is put back for its own page.
/// Call only from the page a redirect named.
pub async fn take(
    state: &AppState,
    token: &SessionToken,
    wanted: impl FnOnce(&Flash) -> bool,
) -> Result<Option<Flash>, ApiError> {
    let Some(sealed) = state.store.take_session_flash(&token.hash()).await? else {
        return Ok(None);
    };
    let payload = state.master_key.open(&sealed, &aad(token))?;
    match serde_json::from_slice::<Flash>(&payload) {
        Ok(flash) if wanted(&flash) => Ok(Some(flash)),
        Ok(_) => {
            state
                .store
                .set_session_flash(&token.hash(), &sealed)
                .await?;
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}
