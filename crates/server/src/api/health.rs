//! Liveness and readiness.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

/// Health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when storage does not answer or refuses writes.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Storage is reachable and accepts writes: the node can serve.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Storage answers and accepts writes", body = Health), (status = 503, description = "Storage does not answer, or refuses writes", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let ready = match state.store.ping().await {
        Ok(()) => state.store.check_writes().await,
        Err(error) => Err(error),
    };
    match ready {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ok" })),
        Err(error) => {
            tracing::warn!(%error, "not ready: storage does not answer or refuses writes");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                }),
            )
        }
    }
}
