//! [`Keyward`], the client, and how it is built.
//!
//! It verifies keys (`POST /v1/verify`, no credential needed) and, given a root key, calls
//! the management API through [`Keyward::keys`], [`Keyward::projects`] and
//! [`Keyward::audit`]. It is cheap to clone (one connection pool and cache behind an `Arc`)
//! and safe to share between tasks.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

use crate::cache::{self, VerifyCache};
use crate::transport::{self, Call, Options};
use crate::{Error, Verification};

/// A whole call's default budget, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Retries after the first attempt, by default.
pub const DEFAULT_RETRIES: u32 = 2;
/// The first retry's backoff, doubled for each next one.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// How many verifications the local cache holds at most, by default.
pub const DEFAULT_CACHE_MAX_ENTRIES: u64 = 10_000;

/// A Keyward client: `Keyward::new("http://keyward:8080")?` or [`Keyward::builder`].
#[derive(Clone)]
pub struct Keyward {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    options: Options,
    cache: Option<VerifyCache>,
}

impl fmt::Debug for Keyward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = &self.inner.options;
        f.debug_struct("Keyward")
            .field("base_url", &options.base_url)
            .field("root_key", &options.root_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &options.timeout)
            .field("retries", &options.retries)
            .field("cache", &self.inner.cache)
            .finish()
    }
}

impl Keyward {
    /// A client of the Keyward at `base_url`, with the defaults: no root key, a 2 s budget
    /// per call, 2 retries, no cache.
    pub fn new(base_url: impl AsRef<str>) -> Result<Self, Error> {
        Self::builder(base_url).build()
    }

    /// A builder for the client of the Keyward at `base_url`.
    pub fn builder(base_url: impl AsRef<str>) -> KeywardBuilder {
        KeywardBuilder {
            base_url: base_url.as_ref().to_owned(),
            root_key: None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            backoff: DEFAULT_BACKOFF,
            cache_ttl: Duration::ZERO,
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            http: None,
        }
    }

    /// Asks Keyward whether `key` may act with `scopes` (all of them).
    ///
    /// Answers every verification outcome (check `.valid` and `.code`); fails only when
    /// Keyward gives no usable answer ([`Error::is_unavailable`]) or refuses the request
    /// itself (a scope that is not one: 422).
    pub async fn verify<S: AsRef<str>>(
        &self,
        key: &str,
        scopes: &[S],
    ) -> Result<Verification, Error> {
        self.verify_request(&VerifyRequest::new(key).scopes(scopes.iter().map(AsRef::as_ref)))
            .await
    }

    /// Like [`verify`](Self::verify), with the request's origin and client address.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify_request(&self, request: &VerifyRequest) -> Result<Verification, Error> {
        let call = || async {
            let call = Call::new(http::Method::POST, "/v1/verify".to_owned())
                .public()
                .json(request)?;
            let body = self.send(&call).await?;
            Verification::from_json(&body)
        };
        match &self.inner.cache {
            Some(cache) => cache.get_or_verify(cache::name(request), call).await,
            None => call().await,
        }
    }

    pub(crate) async fn send(&self, call: &Call) -> Result<bytes::Bytes, Error> {
        transport::send(&self.inner.http, &self.inner.options, call).await
    }
}

/// What a verification asks: the key, the scopes it must hold, the origin and client
/// address of the request it came with.
#[derive(Clone, Serialize)]
pub struct VerifyRequest {
    pub(crate) key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<IpAddr>,
}

impl fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("key", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("origin", &self.origin)
            .field("ip", &self.ip)
            .finish()
    }
}

impl VerifyRequest {
    /// A verification of `key` that requires nothing more.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            scopes: Vec::new(),
            origin: None,
            ip: None,
        }
    }

    /// The scopes the key must hold, all of them.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The `Origin` of the request the key came with (for `trusted_origins`).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// The address of the client that presented the key (for `allowed_ips`).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }
}

/// Settings of a [`Keyward`] client; see `docs/clients.md` for what they mean.
#[must_use]
pub struct KeywardBuilder {
    base_url: String,
    root_key: Option<SecretString>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    cache_ttl: Duration,
    cache_max_entries: u64,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for KeywardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeywardBuilder")
            .field("base_url", &self.base_url)
            .field("root_key", &self.root_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl KeywardBuilder {
    /// The root key for management calls (`Authorization: Bearer`); never shown in `Debug`.
    pub fn root_key(mut self, root_key: impl Into<String>) -> Self {
        self.root_key = Some(SecretString::from(root_key.into()));
        self
    }

    /// The budget of a whole call, every retry and backoff included (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after the first attempt (default 2); see `docs/clients.md` for which.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The first retry's backoff (default 100 ms), doubled each time, with jitter.
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Keep `VALID` verifications this long (default zero: no cache).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The most verifications the cache holds (default 10,000; the oldest leave first).
    pub fn cache_max_entries(mut self, max_entries: u64) -> Self {
        self.cache_max_entries = max_entries;
        self
    }

    /// Your own `reqwest::Client` (proxies, TLS roots, connection pool settings). Its own
    /// timeouts apply too; the client's budget still bounds each call.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client, or [`Error::Config`] for a base URL that is no `http(s)` URL or a zero
    /// timeout.
    pub fn build(self) -> Result<Keyward, Error> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|error| Error::Config(format!("base URL {:?}: {error}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base URL {:?} is not http or https",
                self.base_url
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::Config("the timeout must be positive".to_owned()));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .build()
                .map_err(|error| Error::Config(format!("HTTP client: {error}")))?,
        };
        let cache = (!self.cache_ttl.is_zero())
            .then(|| VerifyCache::new(self.cache_ttl, self.cache_max_entries));
        let options = Options {
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            root_key: self.root_key,
            timeout: self.timeout,
            retries: self.retries,
            backoff: self.backoff,
        };
        Ok(Keyward {
            inner: Arc::new(Inner {
                http,
                options,
                cache,
            }),
        })
    }
}
