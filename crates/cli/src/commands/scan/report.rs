//! `--report URL`: each distinct key found goes to a Keyward server's
//! `POST /v1/leaks`, which acts on the keys it issued (and answers the same
//! for any other, so a report tells nothing about the key).
//!
//! The body is `{"key", "note"}`: where the key was found goes in the note,
//! since `source_url` must be an http(s) URL and a local path is not one.

use super::{Finding, output};
use anyhow::{Context, bail};
use reqwest::Url;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// Longest note the server takes, in characters.
const MAX_NOTE: usize = 1_000;

/// Reports each distinct key in `findings` once; returns how many.
pub async fn send(base: &Url, findings: &[Finding]) -> anyhow::Result<usize> {
    let endpoint = leaks_url(base);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("making the HTTP client")?;
    let mut sent = BTreeSet::new();
    for finding in findings {
        let key = finding.hit.key.expose();
        if !sent.insert(key) {
            continue;
        }
        let body = json!({"key": key, "note": note(finding)});
        let response = client
            .post(endpoint.clone())
            .json(&body)
            .send()
            .await
            .with_context(|| format!("reporting {} to {endpoint}", finding.hit.hint))?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "reporting {} to {endpoint}: the server answered {status}",
                finding.hit.hint
            );
        }
    }
    Ok(sent.len())
}

/// `<base>/v1/leaks`, whether `base` ends with `/` or not.
fn leaks_url(base: &Url) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    let path = format!("{}/v1/leaks", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// `reported by keyward scan: <where>:<line>`, in plain text of at most
/// 1,000 characters.
fn note(finding: &Finding) -> String {
    let place = format!(
        "reported by keyward scan: {}:{}",
        output::name(&finding.location),
        finding.hit.line
    );
    place
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_NOTE)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_endpoint_is_under_the_base_with_or_without_a_slash() {
        for base in [
            "https://keys.example",
            "https://keys.example/",
            "https://keys.example/?x=1",
        ] {
            assert_eq!(
                leaks_url(&base.parse().unwrap()).as_str(),
                "https://keys.example/v1/leaks"
            );
        }
        assert_eq!(
            leaks_url(&"http://127.0.0.1:9/keyward//".parse().unwrap()).as_str(),
            "http://127.0.0.1:9/keyward/v1/leaks"
        );
    }
}
