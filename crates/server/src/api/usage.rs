//! `GET /v1/keys/{id}/usage`: verification counts per hour or day, by outcome.

use super::load_key;
use crate::auth::{Authorized, KeysRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use keyward_core::error::Validation;
use keyward_core::policy::Code;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Query of the usage endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// `hour` or `day` (default).
    granularity: Option<String>,
    /// Start (RFC 3339); default 30 days (or 24 hours) before `to`.
    from: Option<String>,
    /// End, exclusive (RFC 3339); default now.
    to: Option<String>,
}

/// One bucket of counts.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageBucket {
    /// Start of the hour or day (UTC).
    pub start: DateTime<Utc>,
    /// Verifications by outcome code; codes with no verifications are left out.
    #[schema(value_type = Object)]
    pub counts: BTreeMap<Code, u64>,
    /// All verifications in the bucket.
    pub total: u64,
}

/// The answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    /// The key.
    pub key_id: String,
    /// `hour` or `day`.
    pub granularity: String,
    /// Every bucket from `from` to `to`, empty ones included, oldest first.
    pub data: Vec<UsageBucket>,
}

/// Verification counts of one key. Counts are written behind, so the last
/// minute of verifications (`--usage-resolution-ms`) may not be included yet.
#[utoipa::path(
    get, path = "/v1/keys/{id}/usage", tag = "keys", operation_id = "keys_usage",
    params(("id" = String, Path, description = "Key id"), UsageParams),
    responses((status = 200, body = Usage)),
    security(("root_key" = [])),
)]
pub async fn usage(
    State(state): State<AppState>,
    principal: Authorized<KeysRead>,
    ApiPath(id): ApiPath<String>,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Result<ApiJson<Usage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest {
        code: "invalid_query",
        detail: e.body_text(),
        errors: Vec::new(),
    })?;
    let record = load_key(&state, &principal, &id).await?;
    let mut v = Validation::default();
    let (bucket, default_span, max_buckets) = match params.granularity.as_deref() {
        None | Some("day") => (TimeDelta::days(1), Duration::days(30), 366),
        Some("hour") => (TimeDelta::hours(1), Duration::hours(24), 24 * 31),
        Some(_) => {
            v.push("granularity", "hour or day");
            (TimeDelta::days(1), Duration::days(30), 366)
        }
    };
    let parse = |v: &mut Validation, field: &str, value: Option<&str>| {
        value.and_then(|s| v.check(field, keyward_core::fields::parse_timestamp(s)))
    };
    let to = parse(&mut v, "to", params.to.as_deref()).unwrap_or_else(|| state.clock.now());
    let to = ceil(to, bucket);
    let from = parse(&mut v, "from", params.from.as_deref()).unwrap_or(to - default_span);
    let from = from.duration_trunc(bucket).unwrap_or(from);
    let buckets = (to - from).num_seconds() / bucket.num_seconds().max(1);
    if from >= to || buckets > max_buckets {
        v.push(
            "from",
            format!("must be before `to`, at most {max_buckets} buckets earlier"),
        );
    }
    v.finish()?;

    let mut data: Vec<UsageBucket> = (0..buckets)
        .map(|i| UsageBucket {
            start: from + bucket * i32::try_from(i).unwrap_or(0),
            counts: BTreeMap::new(),
            total: 0,
        })
        .collect();
    for count in state
        .store
        .key_usage(&principal.org_id, &record.id, from, to)
        .await?
    {
        let index = (count.hour - from).num_seconds() / bucket.num_seconds().max(1);
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| data.get_mut(i)) {
            *slot.counts.entry(count.code).or_default() += count.count;
            slot.total += count.count;
        }
    }
    Ok(ApiJson(Usage {
        key_id: record.id.to_string(),
        granularity: if bucket == TimeDelta::hours(1) {
            "hour"
        } else {
            "day"
        }
        .to_owned(),
        data,
    }))
}

/// The first bucket boundary at or after `t`.
fn ceil(t: DateTime<Utc>, bucket: TimeDelta) -> DateTime<Utc> {
    let floor = t.duration_trunc(bucket).unwrap_or(t);
    if floor == t { t } else { floor + bucket }
}
