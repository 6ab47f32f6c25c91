//! One HTTP attempt of a webhook delivery, and the client that makes it.
//!
//! The client follows no redirect (the Standard Webhooks specification
//! counts a 3xx as a failure), uses no proxy from the environment (a proxy
//! would resolve names where Keyward cannot check them), and, unless
//! private addresses are allowed, connects only to the public addresses a
//! name resolves to: the check runs in the resolver, at every attempt, on
//! the very addresses the connection then uses, so a name that changes its
//! answer between checks (DNS rebinding) gains nothing.

use keyward_core::net;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most of a response body that is read (and then dropped: nothing an
/// endpoint answers is stored).
const BODY_LIMIT: usize = 1024;
/// Longest `Retry-After` honoured: a day.
const MAX_RETRY_AFTER: i64 = 24 * 3600;

/// What came of one attempt.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// `Retry-After` in seconds, on 429 and 503.
    pub retry_after: Option<i64>,
    /// Why there was no usable answer.
    pub error: Option<String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The webhook HTTP client.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    /// A client with `timeout` per attempt.
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
        })
    }

    /// POSTs `body` to `url` with the Standard Webhooks headers.
    pub async fn post(
        &self,
        url: &str,
        headers: [(&'static str, String); 3],
        body: String,
    ) -> Response {
        let started = Instant::now();
        let failed = |error: String| Response {
            status: None,
            retry_after: None,
            error: Some(error),
            elapsed: started.elapsed(),
        };
        if let Err(refused) = self.check_url(url) {
            return failed(refused);
        }
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status();
        let retry_after = if matches!(status.as_u16(), 429 | 503) {
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after)
        } else {
            None
        };
        // Read a little of the body, then drop the connection.
        let mut read = 0;
        while read < BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Response {
            status: Some(status.as_u16()),
            retry_after,
            error: status
                .is_redirection()
                .then(|| "redirect not followed: update the endpoint's URL".to_owned()),
            elapsed: started.elapsed(),
        }
    }

    /// Refuses, before any connection, a URL whose scheme or address
    /// literal the settings do not allow (the endpoint may have been saved
    /// while they were looser).
    fn check_url(&self, url: &str) -> Result<(), String> {
        if self.allow_private {
            return Ok(());
        }
        let url = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if url.scheme() != "https" {
            return Err("refused: only https endpoints are allowed".to_owned());
        }
        match net::blocked_host(&url) {
            Some(reason) => Err(format!("refused: the URL {reason}")),
            None => Ok(()),
        }
    }
}

/// A short description of a failed request, without the URL (which the
/// delivery log shows anyway) and without anything the endpoint sent.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            text = format!("refused: {cause}");
            break;
        }
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds from now: delta-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<i64> {
    let value = value.trim();
    let seconds = match value.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds()
        }
    };
    Some(seconds.clamp(0, MAX_RETRY_AFTER))
}

/// A host name that resolves to no public address.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves only to loopback, private, link-local or metadata addresses")]
struct Refused;

/// Resolves with the system resolver and keeps only public addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|a| net::is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_within_a_day() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(parse_retry_after("9999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-5"), Some(0));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn names_that_resolve_to_this_machine_are_refused() {
        let sender = Sender::new(Duration::from_secs(2), false).unwrap();
        for url in [
            "http://example.com/",
            "https://127.0.0.1:1/",
            "https://localhost:1/",
            "https://[::1]:1/",
        ] {
            let response = sender.post(url, headers(), "{}".to_owned()).await;
            assert_eq!(response.status, None, "{url}");
            assert!(response.error.unwrap().starts_with("refused"), "{url}");
        }
    }

    #[tokio::test]
    async fn the_resolver_keeps_no_private_address() {
        use std::str::FromStr;
        // `localhost` is refused before any lookup; the resolver, which
        // checks every name at every attempt, refuses it on its own too.
        let name = Name::from_str("localhost").unwrap();
        let error = PublicOnly.resolve(name).await.err().unwrap();
        assert!(error.is::<Refused>(), "{error}");
    }

    fn headers() -> [(&'static str, String); 3] {
        [
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", "1".to_owned()),
            ("webhook-signature", "v1,x".to_owned()),
        ]
    }
}
