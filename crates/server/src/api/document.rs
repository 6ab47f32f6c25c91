//! The OpenAPI document as served: what the routes' annotations generate,
//! made exact in one place.
//!
//! - Every 4xx and 5xx answer of the API is an `application/problem+json`
//!   [`Problem`](crate::error::Problem) (`/v1/auth` and `/readyz` aside, which
//!   answer their own shapes), and every operation lists the answers its
//!   shape allows: a JSON body adds 400, 413, 415 and 422, a path parameter
//!   400 `invalid_path` and 404, a query 400 `invalid_query` and 422, and a
//!   root key 401, 403, 429 and 503 (authenticating reads storage). An
//!   annotation lists only what its handler adds (409, a 400 code of its own).
//! - A body that may be left out is not required, and `null` is not a body.
//! - Text fields carry the rules the server's validation applies, as
//!   patterns, lengths and item counts: [`RULES`] names each field once.

use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// Paths whose errors are not problem documents: forward authentication
/// answers `{valid, code}` for the proxy, readiness a `Health`.
const OWN_SHAPES: [&str; 2] = ["/v1/auth", "/readyz"];

const PROBLEM_JSON: &str = "application/problem+json";

/// The generated document made exact; the second value names every rule
/// whose target the document does not have (a renamed field or operation).
pub(super) fn exact(mut doc: Value) -> (Value, Vec<String>) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                optional_body(operation);
                if !OWN_SHAPES.contains(&path.as_str()) {
                    answers(operation);
                }
                described(operation);
            }
        }
    }
    let missed = RULES
        .iter()
        .filter(|rule| !rule.apply(&mut doc))
        .map(|rule| format!("{:?}", rule.target))
        .collect();
    (doc, missed)
}

/// The answers an operation's shape allows, as problem documents.
fn answers(operation: &mut Value) {
    let has = |location: &str| {
        operation["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
    };
    let body = operation.get("requestBody").is_some();
    let path = has("path");
    let query = has("query");
    let authenticated = operation["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut bad_request: Vec<&str> = Vec::new();
    if body {
        bad_request.extend(["malformed_json", "invalid_body", "unreadable_body"]);
        add(responses, &["413", "415", "422"]);
    }
    if path {
        bad_request.push("invalid_path");
        add(responses, &["404"]);
    }
    if query {
        bad_request.push("invalid_query");
        add(responses, &["422"]);
    }
    if authenticated {
        add(responses, &["401", "403", "429", "503"]);
    }
    if !bad_request.is_empty() {
        let codes = bad_request
            .iter()
            .map(|code| format!("`{code}` ({})", explain(code)))
            .collect::<Vec<_>>()
            .join(", ");
        let own = responses
            .get("400")
            .and_then(|r| r["description"].as_str())
            .filter(|d| !d.is_empty())
            .map(|d| format!(" {d}"))
            .unwrap_or_default();
        responses.insert(
            "400".to_owned(),
            json!({"description": format!("Bad request: {codes}.{own}")}),
        );
    }
    for (status, response) in responses.iter_mut() {
        if !status.starts_with(['4', '5']) {
            continue;
        }
        if response["description"].as_str().is_none_or(str::is_empty) {
            response["description"] = Value::from(default_description(status));
        }
        response["content"] = json!({
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
        });
    }
}

/// Every answer has a description: the status's own words when the
/// annotation gave none.
fn described(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if response["description"].as_str().is_none_or(str::is_empty) {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("An answer");
            response["description"] = Value::from(reason);
        }
    }
}

fn add(responses: &mut Map<String, Value>, statuses: &[&str]) {
    for status in statuses {
        responses
            .entry(*status)
            .or_insert_with(|| json!({"description": ""}));
    }
}

fn explain(code: &str) -> &'static str {
    match code {
        "malformed_json" => "the body is not one JSON object",
        "invalid_body" => "the body has a field this API does not have",
        "unreadable_body" => "the body could not be read",
        "invalid_path" => "a path segment is not UTF-8",
        "invalid_query" => "the query string does not parse",
        _ => "",
    }
}

fn default_description(status: &str) -> &'static str {
    match status {
        "401" => "`unauthorized`: no credentials, or not valid ones",
        "403" => {
            "`insufficient_scope`, `owner_required` or `forbidden`: the caller may not do this"
        }
        "404" => "`not_found`: no such object in the caller's organization",
        "409" => "`conflict` or `invalid_state`: the object's state does not allow this",
        "413" => "`payload_too_large`: the body is larger than `--body-limit`",
        "415" => "`unsupported_media_type`: the body is not declared as JSON",
        "422" => "`validation_failed`: invalid values; `errors` names each field",
        "429" => "`rate_limited`: the root key's own rate limit or quota is spent",
        "503" => "`storage_unavailable`: the database cannot be reached",
        _ => "An error",
    }
}

/// A body that may be left out (`Option<T>` in the annotation) is not
/// required, and its schema is `T`: `null` is not a body.
fn optional_body(operation: &mut Value) {
    let Some(body) = operation.get_mut("requestBody") else {
        return;
    };
    if body["required"] == true {
        return;
    }
    if let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) {
        for media in content.values_mut() {
            let not_null = media["schema"]["oneOf"]
                .as_array()
                .and_then(|alternatives| alternatives.iter().find(|a| a["type"] != "null"))
                .cloned();
            if let Some(schema) = not_null {
                media["schema"] = schema;
            }
        }
    }
    body["required"] = Value::Bool(false);
}

/// What one rule applies to.
#[derive(Debug)]
pub(super) enum Target {
    /// A property of a component schema.
    Field(&'static str, &'static str),
    /// A parameter of an operation, by operation id.
    Param(&'static str, &'static str),
}

/// A field and what its values must be.
pub(super) struct Rule {
    target: Target,
    schema: fn() -> Value,
}

impl Rule {
    /// Merges the rule's schema into its target; false when there is none.
    fn apply(&self, doc: &mut Value) -> bool {
        let target = match self.target {
            Target::Field(schema, property) => doc.pointer_mut(&format!(
                "/components/schemas/{schema}/properties/{property}"
            )),
            Target::Param(operation_id, name) => param(doc, operation_id, name),
        };
        match target {
            Some(target) => {
                merge(target, (self.schema)());
                true
            }
            None => false,
        }
    }
}

fn param<'a>(doc: &'a mut Value, operation_id: &str, name: &str) -> Option<&'a mut Value> {
    doc.get_mut("paths")?
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|operation| operation["operationId"] == operation_id)?
        .get_mut("parameters")?
        .as_array_mut()?
        .iter_mut()
        .find(|p| p["name"] == name)?
        .get_mut("schema")
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}

/// White space as `str::trim` removes it (Unicode `White_Space`).
const WS: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (Unicode `Cc`), as `char::is_control` finds them.
const CC: &str = r"\u0000-\u001f\u007f-\u009f";
/// Control characters but tab, line feed and carriage return.
const CC_TEXT: &str = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f";
/// One part of a scope, or an API name (`scope::is_name`).
const API_NAME: &str = r"[a-z0-9][a-z0-9_.-]{0,63}";
const IPV4: &str = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
/// IPv6 in its eight forms of `::` compression (no zone, no embedded IPv4).
const IPV6: &str = concat!(
    r"(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}",
    r"|(?:[0-9a-fA-F]{1,4}:){1,7}:",
    r"|(?:[0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}",
    r"|(?:[0-9a-fA-F]{1,4}:){1,5}(?::[0-9a-fA-F]{1,4}){1,2}",
    r"|(?:[0-9a-fA-F]{1,4}:){1,4}(?::[0-9a-fA-F]{1,4}){1,3}",
    r"|(?:[0-9a-fA-F]{1,4}:){1,3}(?::[0-9a-fA-F]{1,4}){1,4}",
    r"|(?:[0-9a-fA-F]{1,4}:){1,2}(?::[0-9a-fA-F]{1,4}){1,5}",
    r"|[0-9a-fA-F]{1,4}:(?::[0-9a-fA-F]{1,4}){1,6}",
    r"|:(?:(?::[0-9a-fA-F]{1,4}){1,7}|:))",
);
/// A DNS label (`origin::is_host`).
const LABEL: &str = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/// A port from 1 to 65535 as `u16::from_str` reads it.
const PORT: &str = r"\+?0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// `keys::validate_name`: 1–`max` characters once trimmed, no control
/// characters; `blank` also allows nothing but white space.
fn name_pattern(max: usize, blank: bool) -> String {
    let inner = format!(
        "[^{WS}{CC}](?:[^{CC}]{{0,{}}}[^{WS}{CC}])?",
        max.saturating_sub(2)
    );
    let inner = if blank {
        format!("(?:{inner})?")
    } else {
        inner
    };
    format!("^[{WS}]*{inner}[{WS}]*$")
}

static NAME: LazyLock<String> = LazyLock::new(|| name_pattern(200, false));
static NAME_OR_BLANK: LazyLock<String> = LazyLock::new(|| name_pattern(200, true));
/// `keys::validate_description`: at most 2,000 characters once trimmed,
/// control characters only as tabs and line breaks.
static DESCRIPTION: LazyLock<String> = LazyLock::new(|| {
    format!("^[{WS}]*(?:[^{WS}{CC}](?:[^{CC_TEXT}]{{0,1998}}[^{WS}{CC}])?)?[{WS}]*$")
});
/// `keys::is_plain_text`.
static TEXT: LazyLock<String> = LazyLock::new(|| format!("^[^{CC_TEXT}]*$"));

fn name() -> Value {
    json!({"pattern": *NAME, "minLength": 1})
}
fn name_or_blank() -> Value {
    json!({"pattern": *NAME_OR_BLANK})
}
fn description() -> Value {
    json!({"pattern": *DESCRIPTION})
}
fn text() -> Value {
    json!({"pattern": *TEXT})
}
fn reason() -> Value {
    json!({"pattern": *TEXT, "maxLength": 2000})
}
fn scope() -> Value {
    json!({"type": "string", "pattern": format!(r"^(?:\*|(?:\*|{API_NAME}):(?:\*|{API_NAME}))$")})
}
/// A key's scopes: `custom` needs at least one, and at most 100.
fn key_scopes() -> Value {
    json!({"minItems": 1, "maxItems": 100, "items": scope()})
}
fn required_scopes() -> Value {
    json!({"items": scope()})
}
fn api_names() -> Value {
    json!({"maxItems": 100, "uniqueItems": true, "items": {"pattern": format!("^{API_NAME}$")}})
}
fn key_prefix() -> Value {
    json!({"pattern": "^[a-z0-9]{1,16}$"})
}
fn origins() -> Value {
    let pattern =
        format!(r"^[Hh][Tt][Tt][Pp][Ss]?://(?:\*\.)?{LABEL}(?:\.{LABEL})*(?::{PORT})?/?$");
    json!({"maxItems": 100, "items": {"pattern": pattern}})
}
fn networks() -> Value {
    let pattern = format!(
        r"^(?:{IPV4}(?:/(?:3[0-2]|[12]?[0-9]))?|{IPV6}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
    );
    json!({"maxItems": 100, "items": {"pattern": pattern}})
}
fn ip_address() -> Value {
    json!({"pattern": format!("^[{WS}]*(?:{IPV4}|{IPV6})[{WS}]*$")})
}
fn member_ids() -> Value {
    json!({"items": {"pattern": "^mem_[0-9A-Za-z]{20}$"}})
}
fn email() -> Value {
    json!({"format": "email", "maxLength": 254})
}
/// The token of an emailed export link: 32 bytes, base64url.
fn export_token() -> Value {
    json!({"pattern": "^[A-Za-z0-9_-]{43}$"})
}
fn idempotency_key() -> Value {
    json!({"type": "string", "pattern": "^[!-~]{1,255}$"})
}
fn audit_cursor() -> Value {
    json!({"pattern": "^seq_[0-9]{1,18}$"})
}
fn date_time() -> Value {
    json!({"format": "date-time"})
}
fn key_sort() -> Value {
    json!({"enum": ["created_at", "-created_at", "scope", "-scope", "last_used_at", "-last_used_at", "expires_at", "name"]})
}
fn granularity() -> Value {
    json!({"enum": ["hour", "day"]})
}
fn webhook_url() -> Value {
    json!({"format": "uri", "minLength": 1, "maxLength": 2000})
}
fn webhook_description() -> Value {
    json!({"pattern": *TEXT, "maxLength": 500})
}
fn webhook_events() -> Value {
    let mut names: Vec<&str> = keyward_core::webhooks::EVENT_TYPES.to_vec();
    names.push("*");
    json!({"minItems": 1, "items": {"enum": names}})
}
fn days() -> Value {
    json!({"minimum": 1, "maximum": 36_500})
}
fn notice_days() -> Value {
    json!({"maxItems": 10, "items": {"minimum": 1, "maximum": 365}})
}
fn delivery_cursor() -> Value {
    json!({"pattern": "^dlv_[0-9A-Za-z]{20}$"})
}
fn actor_match() -> Value {
    json!({"enum": ["exact", "partial"]})
}
fn export_format() -> Value {
    json!({"enum": ["csv", "jsonl"]})
}

macro_rules! rules {
    ($($target:ident($a:literal, $b:literal) => $schema:ident),* $(,)?) => {
        /// Every field whose values the server checks beyond its type.
        pub(super) const RULES: &[Rule] = &[
            $(Rule { target: Target::$target($a, $b), schema: $schema }),*
        ];
    };
}

rules! {
    Field("CreateKey", "name") => name,
    Field("CreateKey", "description") => description,
    Field("CreateKey", "scopes") => key_scopes,
    Field("CreateKey", "trusted_origins") => origins,
    Field("CreateKey", "allowed_ips") => networks,
    Field("UpdateKey", "name") => name,
    Field("UpdateKey", "description") => description,
    Field("UpdateKey", "scopes") => key_scopes,
    Field("UpdateKey", "trusted_origins") => origins,
    Field("UpdateKey", "allowed_ips") => networks,
    Field("RevokeKey", "reason") => reason,
    Field("CreateProject", "name") => name,
    Field("CreateProject", "key_prefix") => key_prefix,
    Field("CreateProject", "apis") => api_names,
    Field("UpdateProject", "name") => name,
    Field("UpdateProject", "key_prefix") => key_prefix,
    Field("UpdateProject", "apis") => api_names,
    Field("CreateMember", "email") => email,
    Field("CreateMember", "name") => name_or_blank,
    Field("UpdateMember", "name") => name,
    Field("CreateTeam", "name") => name,
    Field("CreateTeam", "members") => member_ids,
    Field("UpdateTeam", "name") => name,
    Field("UpdateTeam", "members") => member_ids,
    Field("VerifyRequest", "scopes") => required_scopes,
    Field("VerifyRequest", "ip") => ip_address,
    Param("keys_create", "Idempotency-Key") => idempotency_key,
    Param("keys_list", "q") => text,
    Param("keys_list", "sort") => key_sort,
    Param("keys_list", "last_used_before") => date_time,
    Param("keys_list", "expires_before") => date_time,
    Param("keys_usage", "granularity") => granularity,
    Param("keys_usage", "from") => date_time,
    Param("keys_usage", "to") => date_time,
    Param("usage_get", "granularity") => granularity,
    Param("usage_get", "from") => date_time,
    Param("usage_get", "to") => date_time,
    Param("audit_list", "action") => text,
    Param("audit_list", "actor") => text,
    Param("audit_list", "actor_match") => actor_match,
    Param("audit_list", "team") => text,
    Param("audit_list", "target") => text,
    Param("audit_list", "q") => text,
    Param("audit_list", "from") => date_time,
    Param("audit_list", "to") => date_time,
    Param("audit_list", "cursor") => audit_cursor,
    Param("audit_export", "action") => text,
    Param("audit_export", "actor") => text,
    Param("audit_export", "actor_match") => actor_match,
    Param("audit_export", "team") => text,
    Param("audit_export", "target") => text,
    Param("audit_export", "q") => text,
    Param("audit_export", "from") => date_time,
    Param("audit_export", "to") => date_time,
    Param("audit_export", "format") => export_format,
    Param("audit_export_email", "action") => text,
    Param("audit_export_email", "actor") => text,
    Param("audit_export_email", "actor_match") => actor_match,
    Param("audit_export_email", "team") => text,
    Param("audit_export_email", "target") => text,
    Param("audit_export_email", "q") => text,
    Param("audit_export_email", "from") => date_time,
    Param("audit_export_email", "to") => date_time,
    Param("audit_export_email", "format") => export_format,
    Field("EmailExport", "to") => email,
    Param("audit_export_download", "token") => export_token,
    Param("audit_export_download_page", "token") => export_token,
    Field("CreateEndpoint", "url") => webhook_url,
    Field("CreateEndpoint", "description") => webhook_description,
    Field("CreateEndpoint", "events") => webhook_events,
    Field("UpdateEndpoint", "url") => webhook_url,
    Field("UpdateEndpoint", "description") => webhook_description,
    Field("UpdateEndpoint", "events") => webhook_events,
    Field("UpdatePolicy", "max_key_lifetime_days") => days,
    Field("UpdatePolicy", "stale_after_days") => days,
    Field("UpdatePolicy", "expiry_notice_days") => notice_days,
    Param("webhooks_deliveries", "cursor") => delivery_cursor,
}
