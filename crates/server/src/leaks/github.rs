//! GitHub's secret scanning public keys, and the check of an alert's
//! signature: ECDSA P-256 with SHA-256 over the raw body, by the key named in
//! `Github-Public-Key-Identifier`, the DER signature base64-encoded in
//! `Github-Public-Key-Signature`.
//!
//! The keys come from GitHub's document
//! (`{"public_keys": [{"key_identifier", "key": PEM, "is_current"}]}`), from a
//! URL or a file, loaded on first use and again when an alert names a key
//! not known yet: GitHub announces a new key there before it signs with it.
//! Such a reload happens at most every five minutes, and a failed load is
//! not tried again for 30 seconds, so that alerts naming made-up keys cannot
//! make Keyward hammer GitHub's rate-limited API; meanwhile such alerts are
//! answered 503, which GitHub retries. Known keys are read without waiting
//! for a load in progress.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// GitHub's published secret scanning keys.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// Least time between two reloads caused by unknown key identifiers.
const RELOAD_INTERVAL: Duration = Duration::from_secs(300);
/// Least time between a failed load and the next try.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Largest key document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Where the keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Fetched over HTTP(S).
    Url(String),
    /// Read from a file (air-gapped installs, tests).
    File(PathBuf),
}

impl Default for KeySource {
    fn default() -> Self {
        Self::Url(GITHUB_KEYS_URL.to_owned())
    }
}

/// Why an alert is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Missing or unreadable headers, an unknown key, a signature that
    /// does not verify.
    #[error("bad signature")]
    Signature,
    /// The keys could not be loaded, so no signature can be checked.
    #[error("GitHub's public keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The identifier is unknown and the keys were read again too recently
    /// to read them once more: it may be a key GitHub just published.
    #[error("the key is not among GitHub's keys yet")]
    NotYetKnown,
}

#[derive(Deserialize)]
struct Document {
    public_keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    key: String,
}

type Keys = HashMap<String, VerifyingKey>;

/// When keys were last loaded for an unknown identifier, and when a load
/// last failed.
#[derive(Default)]
struct Loads {
    reloaded_at: Option<Instant>,
    failed_at: Option<Instant>,
}

/// The cached key set.
pub struct GithubKeys {
    source: KeySource,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<Keys>>>,
    /// One load at a time.
    loads: Mutex<Loads>,
}

impl std::fmt::Debug for GithubKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubKeys")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl GithubKeys {
    /// Keys from `source`, loaded when first needed.
    pub fn new(source: KeySource) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self {
            source,
            http,
            keys: RwLock::new(None),
            loads: Mutex::new(Loads::default()),
        })
    }

    /// Checks that `body` was signed by the key `identifier` names.
    pub async fn verify(
        &self,
        identifier: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), Refused> {
        let (Some(identifier), Some(signature)) = (identifier, signature) else {
            return Err(Refused::Signature);
        };
        let signature = STANDARD
            .decode(signature.trim())
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
            .ok_or(Refused::Signature)?;
        let key = self.key(identifier).await?.ok_or(Refused::Signature)?;
        key.verify(body, &signature).map_err(|_| Refused::Signature)
    }

    fn cached(&self) -> Option<Arc<Keys>> {
        self.keys.read().ok().and_then(|keys| keys.clone())
    }

    /// The key named `identifier`, loading the document on first use and
    /// again (at most every [`RELOAD_INTERVAL`]) when the identifier is
    /// unknown.
    async fn key(&self, identifier: &str) -> Result<Option<VerifyingKey>, Refused> {
        if let Some(key) = self.cached().and_then(|keys| keys.get(identifier).copied()) {
            return Ok(Some(key));
        }
        let mut loads = self.loads.lock().await;
        // Another alert may have loaded them while this one waited.
        let cached = self.cached();
        if let Some(key) = cached.as_ref().and_then(|keys| keys.get(identifier)) {
            return Ok(Some(*key));
        }
        if loads
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
        {
            return Err(Refused::KeysUnavailable(
                "the last load failed moments ago".to_owned(),
            ));
        }
        if cached.is_some() {
            if loads
                .reloaded_at
                .is_some_and(|at| at.elapsed() < RELOAD_INTERVAL)
            {
                return Err(Refused::NotYetKnown);
            }
            loads.reloaded_at = Some(Instant::now());
        }
        let keys = match self.load().await {
            Ok(keys) => Arc::new(keys),
            Err(refused) => {
                loads.failed_at = Some(Instant::now());
                return Err(refused);
            }
        };
        loads.failed_at = None;
        tracing::info!(keys = keys.len(), "loaded GitHub's secret scanning keys");
        let key = keys.get(identifier).copied();
        if let Ok(mut cache) = self.keys.write() {
            *cache = Some(keys);
        }
        Ok(key)
    }

    async fn load(&self) -> Result<Keys, Refused> {
        let unavailable = |e: String| Refused::KeysUnavailable(e);
        let bytes = match &self.source {
            KeySource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| unavailable(format!("{}: {e}", path.display())))?,
            KeySource::Url(url) => {
                let response = self
                    .http
                    .get(url)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| unavailable(e.without_url().to_string()))?;
                if response.content_length().unwrap_or(0) > MAX_DOCUMENT as u64 {
                    return Err(unavailable("the key document is too large".to_owned()));
                }
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| unavailable(e.without_url().to_string()))?;
                bytes.to_vec()
            }
        };
        if bytes.len() > MAX_DOCUMENT {
            return Err(unavailable("the key document is too large".to_owned()));
        }
        parse(&bytes).map_err(unavailable)
    }
}

/// The keys of a document; a key that does not parse is left out (and
/// logged), a document that does not parse is refused.
fn parse(bytes: &[u8]) -> Result<Keys, String> {
    let document: Document =
        serde_json::from_slice(bytes).map_err(|e| format!("not a key document: {e}"))?;
    let mut keys = Keys::new();
    for published in document.public_keys {
        match VerifyingKey::from_public_key_pem(&published.key) {
            Ok(key) => {
                keys.insert(published.key_identifier, key);
            }
            Err(_) => tracing::warn!(
                identifier = %published.key_identifier,
                "GitHub public key that is not a P-256 key in PEM; ignored"
            ),
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn document(keys: &[(&str, &SigningKey)]) -> String {
        let public_keys: Vec<_> = keys
            .iter()
            .map(|(id, key)| {
                serde_json::json!({
                    "key_identifier": id,
                    "key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                    "is_current": true,
                })
            })
            .collect();
        serde_json::json!({ "public_keys": public_keys }).to_string()
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    #[tokio::test]
    async fn only_a_listed_key_signing_this_very_body_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let first = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let second = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        std::fs::write(&path, document(&[("first", &first)])).unwrap();
        let keys = GithubKeys::new(KeySource::File(path.clone())).unwrap();
        let body = br#"[{"token":"x","type":"t","url":"u","source":"content"}]"#;
        let good = sign(&first, body);
        keys.verify(Some("first"), Some(&good), body).await.unwrap();
        for (id, signature, body) in [
            (None, Some(good.as_str()), &body[..]),
            (Some("first"), None, &body[..]),
            (Some("first"), Some("not base64!"), &body[..]),
            (Some("first"), Some(good.as_str()), b"[]"),
            (Some("second"), Some(good.as_str()), &body[..]),
        ] {
            assert!(matches!(
                keys.verify(id, signature, body).await,
                Err(Refused::Signature)
            ));
        }
        // `second` was unknown and caused a reload a moment ago; published
        // now, it is found only after a minute.
        std::fs::write(&path, document(&[("first", &first), ("second", &second)])).unwrap();
        let by_second = sign(&second, body);
        assert!(
            keys.verify(Some("second"), Some(&by_second), body)
                .await
                .is_err()
        );
        let fresh = GithubKeys::new(KeySource::File(path)).unwrap();
        fresh
            .verify(Some("first"), Some(&good), body)
            .await
            .unwrap();
        fresh
            .verify(Some("second"), Some(&by_second), body)
            .await
            .unwrap();
    }

    #[test]
    fn a_document_that_does_not_parse_is_refused() {
        assert!(parse(b"{}").is_err());
        assert!(parse(b"<html>").is_err());
        let keys =
            parse(br#"{"public_keys":[{"key_identifier":"a","key":"junk","is_current":true}]}"#)
                .unwrap();
        assert!(keys.is_empty());
    }
}
