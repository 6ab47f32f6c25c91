//! Extractors that turn raw requests into typed values, failing in the one
//! problem+json shape: JSON bodies, the client's address and user agent.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::HttpBody as _;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use ipnet::IpNet;
use keyward_core::error::FieldError;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// A JSON body parsed into `T`, rejecting unknown fields and oversized bodies.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads a body that must be declared as JSON (`application/json` or `…+json`).
pub async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    ensure_json(&req)?;
    body_bytes(req, state).await
}

/// [`json_bytes`] for a route served without the router's layers: the body
/// limit is given rather than taken from the `DefaultBodyLimit` layer.
pub async fn json_bytes_within(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    ensure_json(&req)?;
    let mut body = req.into_body();
    if body.size_hint().lower() > limit as u64 {
        return Err(ApiError::PayloadTooLarge);
    }
    // A small body arrives as one frame: that frame is the whole body, handed
    // on as it is. Only a body in several frames is copied together.
    let mut whole = Bytes::new();
    let mut pieces: Option<BytesMut> = None;
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(data) = frame.map_err(|_| unreadable_body())?.into_data() else {
            continue; // trailers
        };
        let read = pieces.as_ref().map_or(whole.len(), BytesMut::len) + data.len();
        if read > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        match &mut pieces {
            Some(pieces) => pieces.extend_from_slice(&data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut joined = BytesMut::with_capacity(read);
                joined.extend_from_slice(&whole);
                joined.extend_from_slice(&data);
                pieces = Some(joined);
            }
        }
    }
    Ok(pieces.map_or(whole, BytesMut::freeze))
}

/// Refuses a body that is not JSON by its `Content-Type` (415).
pub(crate) fn ensure_json(req: &Request) -> Result<(), ApiError> {
    let is_json = req.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let essence = v
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        let mime = essence.trim_ascii();
        mime.eq_ignore_ascii_case(b"application/json") || mime.ends_with(b"+json")
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

fn unreadable_body() -> ApiError {
    ApiError::BadRequest {
        code: "unreadable_body",
        detail: "the request body could not be read".to_owned(),
        errors: Vec::new(),
    }
}

/// Reads the whole body within the configured limit.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                unreadable_body()
            }
        })
}

/// Parses a body that must be exactly one JSON object, naming the offending
/// field on failure. Trailing data after the object, or an array where an
/// object belongs (serde would map it to fields by position), is malformed.
pub fn parse_json<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(malformed("the body must be a JSON object".to_owned()));
    }
    // The plain parser first; only a body it refuses is parsed again to name
    // the offending field (path tracking costs on every field).
    let error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Err(error) => Err(named(error)),
        // Only what follows the value was wrong.
        Ok(_) => Err(malformed(format!("the body is not valid JSON: {error}"))),
    }
}

fn malformed(detail: String) -> ApiError {
    ApiError::BadRequest {
        code: "malformed_json",
        detail,
        errors: Vec::new(),
    }
}

fn named(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return malformed(format!("the body is not valid JSON: {inner}"));
    }
    let message = strip_position(&inner.to_string());
    let error = FieldError {
        field: if path == "." { String::new() } else { path },
        message,
    };
    // A field the API does not have is a malformed request; a field of
    // the wrong type, an unknown enum value or a missing field is an
    // invalid value.
    if error.message.starts_with("unknown field") {
        ApiError::BadRequest {
            code: "invalid_body",
            detail: "the body has a field this API does not accept".to_owned(),
            errors: vec![error],
        }
    } else {
        ApiError::Invalid(vec![error])
    }
}

/// serde_json appends " at line L column C"; the field already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The calling client: its address and user agent, for audit events and
/// IP allow-lists. `X-Forwarded-For`/`X-Real-IP` count only when the peer is
/// a configured trusted proxy.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

impl<S> FromRequestParts<S> for Client
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = peer.and_then(|peer| client_ip(peer, parts, &state.settings.trusted_proxies));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}

/// The client's address: the peer, or what a trusted proxy says it forwarded.
///
/// `X-Forwarded-For` is read from the right, past the trusted proxies: the
/// first other entry is the client (with a port, as some load balancers
/// write, it still is). An entry that is not an address ends the walk with
/// no address, which passes no allow-list: whatever lies to its left the
/// client may have written itself. With every entry a trusted proxy, the
/// leftmost is the client; `X-Real-IP` counts only without
/// `X-Forwarded-For`.
pub fn client_ip(peer: IpAddr, parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Each entry read on its own, so that one unreadable byte spoils only
    // its own entry and not the proxy's, appended to the same line.
    let forwarded: Vec<Option<IpAddr>> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|entry| std::str::from_utf8(entry).ok().and_then(forwarded_address))
        .collect();
    for entry in forwarded.iter().rev() {
        match entry {
            Some(ip) if is_trusted(ip) => {}
            Some(ip) => return Some(*ip),
            None => return None,
        }
    }
    match forwarded.first() {
        Some(leftmost) => *leftmost,
        None => parts
            .headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .map_or(Some(peer), forwarded_address),
    }
}

/// An address as proxies forward it: bare, or with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse()
        .ok()
        .or_else(|| {
            entry
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(|address| address.ip())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// A JSON body that may be left out entirely; an empty body means `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let has_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|len| len.as_bytes() != b"0");
        if req.headers().contains_key(header::CONTENT_TYPE) && has_body {
            return ApiJson::from_request(req, state)
                .await
                .map(|ApiJson(v)| OptionalJson(v));
        }
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(Self(T::default()))
        } else {
            Err(ApiError::UnsupportedMediaType)
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A path parameter, rejected in the problem shape when it cannot be read
/// (`/v1/keys/%FF%FE` is not UTF-8).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| ApiError::BadRequest {
                code: "invalid_path",
                detail: rejection.body_text(),
                errors: Vec::new(),
            })
    }
}
