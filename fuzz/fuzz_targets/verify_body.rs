//! Fuzzes the body parser of `POST /v1/verify`: `parse_json::<VerifyRequest>`
//! from `keyward_server::extract`, followed by the handler's own reading of
//! the `scopes` it got.
//!
//! This is the one endpoint that anyone holding a key, or anyone at all, can
//! reach at full request rate, so a body must never panic the server and
//! never be answered with a 5xx. The parser promises "exactly one JSON
//! object", so whatever it accepts must also be a JSON object to a plain JSON
//! reader, holding the same key and scopes.

#![no_main]

use axum::response::IntoResponse;
use keyward_core::keys::parse_required_scopes;
use keyward_server::api::verify::VerifyRequest;
use keyward_server::error::ApiError;
use keyward_server::extract::parse_json;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let input = match parse_json::<VerifyRequest<'_>>(data) {
        Ok(input) => input,
        Err(error) => return assert_client_error(error),
    };
    let value: Value = serde_json::from_slice(data).expect("an accepted body is JSON");
    let object = value
        .as_object()
        .expect("an accepted body is a JSON object");
    assert_eq!(
        object.get("key").and_then(Value::as_str),
        Some(&*input.key),
        "the key read is the key sent"
    );
    let scopes: Vec<&str> = match object.get("scopes") {
        None => Vec::new(),
        Some(list) => list
            .as_array()
            .expect("accepted scopes are a list")
            .iter()
            .map(|s| s.as_str().expect("accepted scopes are strings"))
            .collect(),
    };
    assert_eq!(scopes, input.scopes, "the scopes read are the scopes sent");
    if let Err(error) = parse_required_scopes(&input.scopes) {
        assert_client_error(ApiError::from(error));
    }
});

/// A body the server refuses is the client's fault: a 4xx, never a 5xx.
fn assert_client_error(error: ApiError) {
    let status = error.into_response().status();
    assert!(status.is_client_error(), "a bad body was answered {status}");
}
