//! The tower [`Layer`] that lets in only requests with a valid key.
//!
//! ```ignore
//! let guard = Guard::new(Keyward::new("http://keyward:8080")?);
//! let app = Router::new()
//!     .route("/data", get(data))
//!     .route_layer(guard.layer(["data:read"]));
//! ```
//!
//! The verified key ([`Verification`]) is put into the request's extensions; take it with
//! `Extension<Verification>` or the [`Verified`](crate::Verified) extractor.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Body, HttpBody};
use axum::response::IntoResponse;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::{Guard, Verification};

/// Requires a valid key with these scopes of every request; see [`Guard::layer`].
#[derive(Debug, Clone)]
pub struct KeywardLayer {
    guard: Guard,
    scopes: Arc<[String]>,
}

impl KeywardLayer {
    /// Guards with `guard`, requiring `scopes` (all of them).
    pub fn new(guard: Guard, scopes: Vec<String>) -> Self {
        Self {
            guard,
            scopes: scopes.into(),
        }
    }
}

impl<S> Layer<S> for KeywardLayer {
    type Service = KeywardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeywardService {
            inner,
            guard: self.guard.clone(),
            scopes: Arc::clone(&self.scopes),
        }
    }
}

/// The service of [`KeywardLayer`]: refuses, or calls the inner service with the
/// [`Verification`] in the request's extensions.
#[derive(Debug, Clone)]
pub struct KeywardService<S> {
    inner: S,
    guard: Guard,
    scopes: Arc<[String]>,
}

impl<S, B, ResBody> Service<Request<B>> for KeywardService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: HttpBody<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh one waits its turn.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let guard = self.guard.clone();
        let scopes = Arc::clone(&self.scopes);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match guard.check(&parts, &scopes).await {
                Ok(verification) => {
                    parts.extensions.insert::<Verification>(verification);
                    let response = inner.call(Request::from_parts(parts, body)).await?;
                    Ok(response.map(Body::new))
                }
                Err(denial) => Ok(denial.into_response()),
            }
        })
    }
}
