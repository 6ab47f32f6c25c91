//! Start-up and shutdown: `Application::build(settings, clock)` →
//! `.port()` → `.run_until_stopped(signal)`.

use crate::api;
use crate::error::{method_not_allowed, not_found};
use crate::settings::Settings;
use crate::state::{AppState, Shared};
use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use keyward_core::clock::Clock;
use keyward_core::crypto::MasterKey;
use keyward_core::store::{KeyChange, Store};
use keyward_core::usage::UsageRecorder;
use keyward_core::verify::Verifier;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// `--metrics-addr`'s listener, when metrics have one of their own.
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    usage: Arc<UsageRecorder>,
}

/// Opens the master key named by the settings, creating it on first use
/// when it lives in the data directory.
pub fn open_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    let create = settings.master_key_file.is_none();
    if create {
        keyward_store::files::create_data_dir(&settings.data_dir)
            .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    }
    Ok(MasterKey::load_or_create(
        &settings.master_key_path(),
        create,
    )?)
}

/// Opens storage as the settings say.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(keyward_store::connect(settings.database_url.as_deref(), &settings.data_dir).await?)
}

impl Application {
    /// Opens storage and the master key, and binds the listener.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(&settings).await?;
        let master_key = open_master_key(&settings)?;
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let metrics_listener = match settings.metrics_addr.filter(|_| settings.metrics) {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr} for metrics"))?,
            ),
            None => None,
        };
        let usage = Arc::new(UsageRecorder::new(settings.usage));
        let metrics = Arc::new(
            crate::metrics::Metrics::new(settings.metrics).context("registering metrics")?,
        );
        crate::metrics::observe_usage(&usage, &metrics);
        let verifier = Arc::new(Verifier::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            Arc::clone(&usage),
            &settings.cache,
        ));
        let github_keys = crate::leaks::github::GithubKeys::new(settings.github_keys.clone())
            .context("building the client of GitHub's public keys")?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let addr = listener.local_addr().unwrap_or(settings.addr);
            format!("http://{addr}")
        });
        let state = AppState::new(Shared {
            store,
            verifier,
            clock,
            master_key,
            settings: Arc::new(settings),
            throttle: crate::session::Throttle::default(),
            passwords: crate::passwords::Passwords::default(),
            setup: crate::dashboard::setup::SetupLink::default(),
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            writes_in_flight: crate::webhooks::WritesInFlight::default(),
            leaks: crate::leaks::Leaks {
                github: github_keys,
                reports: crate::leaks::ReportLimiter::default(),
            },
            mail_wake: Arc::new(tokio::sync::Notify::new()),
            public_url,
            metrics,
            usage: Arc::clone(&usage),
            key_locks: crate::key_locks::KeyLocks::default(),
        });
        let router = router(state.clone());
        Ok(Self {
            listener,
            metrics_listener,
            router,
            state,
            usage,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.addr)
    }

    /// On a database without any organization, a fresh one-time setup path
    /// (`/setup?token=…`) for the dashboard; `None` otherwise.
    pub async fn setup_path(&self) -> anyhow::Result<Option<String>> {
        if !self.state.store.list_organizations().await?.is_empty() {
            return Ok(None);
        }
        let token = self.state.setup.issue(self.state.clock.now()).await?;
        Ok(Some(format!("/setup?token={token}")))
    }

    /// Shared state, for tests and tools running next to the server.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, lets requests in flight finish,
    /// then writes what verification counted.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let flusher = tokio::spawn(Arc::clone(&self.usage).run(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.clock),
            stopped,
        ));
        if let Some(changes) = self.state.store.watch_key_changes().await? {
            tokio::spawn(follow_key_changes(
                changes,
                Arc::clone(&self.state.verifier),
                Arc::clone(&self.state.metrics),
            ));
        }
        let webhooks = tokio::spawn(crate::webhooks::run(self.state.clone(), stop.subscribe()));
        let mail = tokio::spawn(crate::mail::run(self.state.clone(), stop.subscribe()));
        let (refusals, refused) = tokio::sync::mpsc::channel(10_000);
        self.usage.listen_for_quota_refusals(refusals);
        let notices = tokio::spawn(crate::notices::run(self.state.clone(), stop.subscribe()));
        let quota_notices = tokio::spawn(crate::notices::record_quota_refusals(
            self.state.clone(),
            refused,
            stop.subscribe(),
        ));
        let hashes = tokio::spawn(keep_stored_hashes(
            Arc::clone(&self.state.verifier),
            stop.subscribe(),
        ));
        let watchdog = tokio::spawn(watch_storage(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.verifier),
            self.state.settings.storage_check_interval,
            stop.subscribe(),
        ));
        let addr = self.local_addr();
        let state = self.state.clone();
        let metrics = self.metrics_listener.map(|listener| {
            tracing::info!(addr = ?listener.local_addr().ok(), "metrics listening");
            let router = Router::new()
                .route("/metrics", axum::routing::get(crate::metrics::metrics))
                .with_state(state);
            let mut stopped = stop.subscribe();
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.changed().await;
                    })
                    .await
            })
        });
        tracing::info!(%addr, "keyward listening");
        let served = axum::serve(
            self.listener,
            Connections {
                router: self.router,
                state: self.state.clone(),
            },
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop.send(true);
        if let Some(metrics) = metrics {
            metrics.await.context("metrics listener")??;
        }
        flusher.await.context("usage writer")?;
        watchdog.await.context("storage watchdog")?;
        hashes.await.context("stored hashes")?;
        webhooks.await.context("webhook worker")?;
        mail.await.context("mail worker")?;
        notices.await.context("key notices")?;
        quota_notices.await.context("quota notices")?;
        if let Err(error) = self.state.store.close().await {
            tracing::warn!(%error, "storage was not closed cleanly");
        }
        tracing::info!("keyward stopped");
        Ok(served?)
    }
}

/// Loads the verifier's copy of the stored hashes, again every hour to drop
/// the hashes of keys purged since, and again whenever the verifier dropped
/// it. (Hashes written meanwhile are read as verification needs them.)
async fn keep_stored_hashes(verifier: Arc<Verifier>, mut shutdown: watch::Receiver<bool>) {
    const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
    const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(10);
    loop {
        let wait = match verifier.load_stored_hashes().await {
            Ok(hashes) => {
                tracing::info!(hashes, "loaded the stored key hashes");
                RELOAD_EVERY
            }
            Err(error) => {
                tracing::warn!(%error, "cannot load the stored key hashes; every new key is looked up");
                RETRY_AFTER
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = verifier.stored_hashes_dropped() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Checks storage every `interval` and tells the verifier, which applies the
/// outage policy and drops its caches when storage comes back.
async fn watch_storage(
    store: Arc<dyn Store>,
    verifier: Arc<Verifier>,
    interval: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let available = tokio::time::timeout(
            interval.max(std::time::Duration::from_secs(1)),
            store.ping(),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if available != verifier.storage_available() {
            if available {
                tracing::info!("storage is reachable again; verification caches dropped");
            } else {
                tracing::error!("storage is unreachable; applying the outage policy");
            }
        }
        verifier.set_storage_available(available);
    }
}

/// Applies changes announced by other nodes to this node's caches.
async fn follow_key_changes(
    mut changes: tokio::sync::mpsc::Receiver<KeyChange>,
    verifier: Arc<Verifier>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    while let Some(change) = changes.recv().await {
        metrics.key_change_announcements.inc();
        match change {
            KeyChange::Changed(id) => verifier.forget_id(&id),
            KeyChange::Resync => {
                tracing::warn!(
                    "key change announcements may have been missed; verification caches dropped"
                );
                verifier.forget_all();
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// The whole router. Verification (`/v1/verify`, `/v1/auth`) is served
/// without the tracing, request-id and header layers of the management API:
/// it is the path that must run at the speed of the HTTP stack, and its
/// answers carry no secret to keep out of caches. Its failures are still
/// logged, by the error type.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    let (verification, management) = api::routers();
    let management = management
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::count_requests,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_writes,
        ))
        .with_state(state.clone())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, NodeRequestIds::new()));
    let dashboard = crate::dashboard::router()
        .with_state(state.clone())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // The path only: a query string may hold the one-time setup token.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            tracing::info_span!("page", method = %request.method(), path = %request.uri().path())
        }));
    let verification = if state.settings.metrics && state.settings.metrics_addr.is_none() {
        verification.route("/metrics", axum::routing::get(crate::metrics::metrics))
    } else {
        verification
    };
    verification
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .merge(dashboard)
        .merge(management)
        .layer(DefaultBodyLimit::max(body_limit))
}

/// Counts the API's write requests while they run (see
/// [`crate::webhooks::WritesInFlight`]).
async fn count_writes(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    let _write = state.writes_in_flight.enter();
    next.run(request).await
}

/// Makes the service of each accepted connection.
#[derive(Debug, Clone)]
struct Connections {
    router: Router,
    state: AppState,
}

impl<'a> Service<IncomingStream<'a, TcpListener>> for Connections {
    type Response = Dispatch;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Dispatch, Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, connection: IncomingStream<'a, TcpListener>) -> Self::Future {
        std::future::ready(Ok(Dispatch {
            router: self.router.clone(),
            state: self.state.clone(),
            peer: ConnectInfo(*connection.remote_addr()),
        }))
    }
}

/// Serves one connection's requests. `POST /v1/verify`, and `/v1/auth` with
/// any method (also as `/v1/auth/<original path>`, Envoy's form), go
/// straight to their handlers: routing them through the whole router
/// (matching, extensions, boxed layers) costs as much again as the
/// verification itself. Everything else, `/v1/verify` with other methods
/// included, goes through the router, with the peer's address.
#[derive(Debug, Clone)]
struct Dispatch {
    router: Router,
    state: AppState,
    peer: ConnectInfo<SocketAddr>,
}

impl Service<axum::extract::Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: axum::extract::Request) -> Self::Future {
        let state = self.state.clone();
        match (request.method(), request.uri().path()) {
            (&Method::POST, "/v1/verify") => Box::pin(async move {
                Ok(api::verify::verify(State(state), request)
                    .await
                    .into_response())
            }),
            (_, path) if is_forward_auth(path) => {
                request.extensions_mut().insert(self.peer);
                Box::pin(async move {
                    Ok(api::forward_auth::auth(State(state), request)
                        .await
                        .into_response())
                })
            }
            _ => {
                request.extensions_mut().insert(self.peer);
                Box::pin(self.router.call(request))
            }
        }
    }
}

/// `/v1/auth`, and `/v1/auth/<original path>` as Envoy's ext_authz asks
/// it, with any method: the paths the router hands to `forward_auth::auth`.
fn is_forward_auth(path: &str) -> bool {
    path == "/v1/auth"
        || path
            .strip_prefix("/v1/auth/")
            .is_some_and(|original| !original.is_empty())
}

/// Request ids `<node>-<counter>`: a random prefix per process and a counter,
/// unique across nodes without a random draw per request (UUIDs cost a
/// system call each, on the verification path).
#[derive(Debug, Clone)]
struct NodeRequestIds {
    node: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl NodeRequestIds {
    fn new() -> Self {
        let node = keyward_core::base62::random(10).unwrap_or_else(|_| "node".to_owned());
        Self {
            node: node.into(),
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for NodeRequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:012x}", self.node))
            .ok()
            .map(RequestId::new)
    }
}
