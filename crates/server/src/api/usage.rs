//! Verification counts per hour or day, by outcome: one key's
//! (`GET /v1/keys/{id}/usage`) and the organization's (`GET /v1/usage`,
//! with its keys of the most use).

use super::load_key;
use crate::auth::{Authorized, KeysRead, Principal};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use keyward_core::audit::ActorType;
use keyward_core::error::Validation;
use keyward_core::id::ProjectId;
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
    let Query(params) = query(params)?;
    let record = load_key(&state, &principal, &id).await?;
    let mut v = Validation::default();
    let window = Window::of(&mut v, &params, state.clock.now());
    v.finish()?;
    let counts = state
        .store
        .key_usage(&principal.org_id, &record.id, window.from, window.to)
        .await?;
    Ok(ApiJson(Usage {
        key_id: record.id.to_string(),
        granularity: window.name().to_owned(),
        data: window.fill(counts.into_iter().map(|c| (c.hour, c.code, c.count))),
    }))
}

/// Query of the organization's usage.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgUsageParams {
    /// `hour` or `day` (default).
    granularity: Option<String>,
    /// Start (RFC 3339); default 30 days (or 24 hours) before `to`.
    from: Option<String>,
    /// End, exclusive (RFC 3339); default now.
    to: Option<String>,
    /// Only this project's keys.
    project_id: Option<String>,
    /// Only this key.
    key_id: Option<String>,
    /// How many of the keys with the most use to name, 0–100 (default 0):
    /// naming them reads the period's per-key counters, so it costs more
    /// the more keys were used in the period.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 100)]
    top: Option<String>,
}

/// A key and its verifications in the period.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopKey {
    /// The key.
    pub key_id: String,
    /// Its name.
    pub name: String,
    /// Its verifications in the period, every outcome.
    pub total: u64,
}

/// The organization's usage.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgUsage {
    /// `hour` or `day`.
    pub granularity: String,
    /// The project filter, if any.
    pub project_id: Option<String>,
    /// The key filter, if any.
    pub key_id: Option<String>,
    /// Every bucket from `from` to `to`, empty ones included, oldest first.
    pub data: Vec<UsageBucket>,
    /// The keys with the most verifications in the period, most first (as
    /// many as `top` asks for; with `key_id`, that key).
    pub top_keys: Vec<TopKey>,
}

/// The most `top` may ask for.
const MAX_TOP: u32 = 100;

/// Verification counts of the whole organization, of one project or of one
/// key, and the keys with the most use. For roles that see every key (a
/// `member` sees only their own: 403). Written behind like a key's counts.
#[utoipa::path(
    get, path = "/v1/usage", tag = "keys", operation_id = "usage_get",
    params(OrgUsageParams),
    responses((status = 200, body = OrgUsage)),
    security(("root_key" = [])),
)]
pub async fn organization(
    State(state): State<AppState>,
    principal: Authorized<KeysRead>,
    params: Result<Query<OrgUsageParams>, QueryRejection>,
) -> Result<ApiJson<OrgUsage>, ApiError> {
    let Query(params) = query(params)?;
    if principal.own_keys_only() {
        return Err(ApiError::Forbidden {
            code: "insufficient_scope",
            detail: "Your role (member) may not see the organization's usage: it sees only its \
                     own keys."
                .to_owned(),
        });
    }
    let mut v = Validation::default();
    let window = Window::of(
        &mut v,
        &UsageParams {
            granularity: params.granularity,
            from: params.from,
            to: params.to,
        },
        state.clock.now(),
    );
    let top = match params.top.as_deref() {
        None => Some(0),
        Some(top) => v.check(
            "top",
            top.parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_TOP)
                .ok_or_else(|| format!("between 0 and {MAX_TOP}")),
        ),
    }
    .unwrap_or(0);
    let project = match params.project_id.as_deref() {
        None => None,
        Some(id) => {
            let found = match ProjectId::parse(id) {
                Ok(id) => state.store.get_project(&principal.org_id, &id).await?,
                Err(_) => None,
            }
            // Root keys' use is for those who see root keys, as their list is.
            .filter(|p| {
                !p.management
                    || principal.kind == ActorType::RootKey
                    || principal.holds("org:admin")
            });
            if found.is_none() {
                v.push("project_id", "no such project");
            }
            found.map(|p| p.id)
        }
    };
    v.finish()?;
    let org = &principal.org_id;
    let (data, top) = match params.key_id.as_deref() {
        Some(id) => {
            let record = match load_key(&state, &principal, id).await {
                Ok(record) if project.as_ref().is_none_or(|p| *p == record.project_id) => record,
                Ok(_) => return Err(ApiError::field("key_id", "not a key of `project_id`")),
                Err(ApiError::NotFound) => return Err(ApiError::field("key_id", "no such key")),
                Err(error) => return Err(error),
            };
            let counts = state
                .store
                .key_usage(org, &record.id, window.from, window.to)
                .await?;
            let data = window.fill(counts.into_iter().map(|c| (c.hour, c.code, c.count)));
            let total = data.iter().map(|b| b.total).sum::<u64>();
            let named = (top > 0 && total > 0).then(|| (record.id.clone(), total));
            (data, named.into_iter().collect())
        }
        None => {
            let totals = state
                .store
                .org_usage(org, project.as_ref(), window.from, window.to)
                .await?;
            let data = window.fill(totals.into_iter().map(|t| (t.hour, t.code, t.count)));
            let top = if top == 0 {
                Vec::new()
            } else {
                state
                    .store
                    .top_keys(org, project.as_ref(), window.from, window.to, top)
                    .await?
            };
            (data, top)
        }
    };
    Ok(ApiJson(OrgUsage {
        granularity: window.name().to_owned(),
        project_id: project.map(|p| p.to_string()),
        key_id: params.key_id,
        data,
        top_keys: named(&state, &principal, top).await?,
    }))
}

/// The keys of `top` with their names, leaving out those the caller may not
/// see (root keys, for members who do not manage them) and purged ones.
async fn named(
    state: &AppState,
    principal: &Principal,
    top: Vec<(keyward_core::id::KeyId, u64)>,
) -> Result<Vec<TopKey>, ApiError> {
    let mut named = Vec::with_capacity(top.len());
    for (id, total) in top {
        if let Some(record) = state.store.get_key(&principal.org_id, &id).await?
            && principal.may_see(&record)
        {
            named.push(TopKey {
                key_id: id.to_string(),
                name: record.name,
                total,
            });
        }
    }
    Ok(named)
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<Query<T>, ApiError> {
    params.map_err(|e| ApiError::BadRequest {
        code: "invalid_query",
        detail: e.body_text(),
        errors: Vec::new(),
    })
}

/// The buckets a usage query asks for.
struct Window {
    bucket: TimeDelta,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    buckets: i64,
}

impl Window {
    /// The window of `params` (30 days of days, or 24 hours of hours, up
    /// to now, by default); errors go to `v`.
    fn of(v: &mut Validation, params: &UsageParams, now: DateTime<Utc>) -> Self {
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
        // Without `to`, the window ends with the bucket now falls in (at
        // exactly midnight too: that day has begun and holds its first uses).
        let to = match parse(v, "to", params.to.as_deref()) {
            Some(to) => ceil(to, bucket),
            None => now.duration_trunc(bucket).unwrap_or(now) + bucket,
        };
        let from = parse(v, "from", params.from.as_deref()).unwrap_or(to - default_span);
        let from = from.duration_trunc(bucket).unwrap_or(from);
        let buckets = (to - from).num_seconds() / bucket.num_seconds().max(1);
        if from >= to || buckets > max_buckets {
            v.push(
                "from",
                format!("must be before `to`, at most {max_buckets} buckets earlier"),
            );
        }
        Self {
            bucket,
            from,
            to,
            buckets,
        }
    }

    fn name(&self) -> &'static str {
        if self.bucket == TimeDelta::hours(1) {
            "hour"
        } else {
            "day"
        }
    }

    /// Every bucket of the window, with the hourly `counts` added up in it.
    fn fill(&self, counts: impl Iterator<Item = (DateTime<Utc>, Code, u64)>) -> Vec<UsageBucket> {
        let mut data: Vec<UsageBucket> = (0..self.buckets)
            .map(|i| UsageBucket {
                start: self.from + self.bucket * i32::try_from(i).unwrap_or(0),
                counts: BTreeMap::new(),
                total: 0,
            })
            .collect();
        for (hour, code, count) in counts {
            let index = (hour - self.from).num_seconds() / self.bucket.num_seconds().max(1);
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| data.get_mut(i)) {
                *slot.counts.entry(code).or_default() += count;
                slot.total += count;
            }
        }
        data
    }
}

/// The first bucket boundary at or after `t`.
fn ceil(t: DateTime<Utc>, bucket: TimeDelta) -> DateTime<Utc> {
    let floor = t.duration_trunc(bucket).unwrap_or(t);
    if floor == t { t } else { floor + bucket }
}
