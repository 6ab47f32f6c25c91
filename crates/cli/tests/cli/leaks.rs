//! GitHub secret scanning through the real binary: `keyward serve` fetches
//! GitHub's public keys from `--github-keys-url` (here a local listener
//! serving a document of the test's own keys) and acts on a signed alert.

use crate::support::{Server, create_org, post_json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `document` to every request; counts the requests.
async fn serve_keys(document: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/meta/public_keys/secret_scanning",
        listener.local_addr().unwrap()
    );
    let fetched = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&fetched);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            count.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{document}",
                document.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (url, fetched)
}

async fn send(server: &Server, key_id: &str, signer: &SigningKey, body: &[u8]) -> (u16, Value) {
    let signature: Signature = signer.sign(body);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/leaks/github", server.base))
        .header("content-type", "application/json")
        .header("github-public-key-identifier", key_id)
        .header(
            "github-public-key-signature",
            STANDARD.encode(signature.to_der().as_bytes()),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_github_alert_signed_with_a_published_key_revokes_the_key() {
    let github = SigningKey::from_slice(&[3; 32]).unwrap();
    let document = json!({"public_keys": [{
        "key_identifier": "github-test-key",
        "key": github.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
        "is_current": true,
    }]})
    .to_string();
    let (keys_url, fetched) = serve_keys(document).await;
    let data = tempfile::tempdir().unwrap();
    let org = create_org(data.path(), "Acme", None);
    let server = Server::start(data.path(), &["--github-keys-url", &keys_url]);
    let created = post_json(
        &server.base,
        "/v1/keys",
        org["root_key"].as_str(),
        &json!({"name": "pushed to a public repository"}),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    let body = serde_json::to_vec(&json!([{
        "token": key,
        "type": "keyward_secret_key",
        "url": "https://github.com/acme/app/blob/1a2b3c/config.py",
        "source": "content",
    }]))
    .unwrap();

    let impostor = SigningKey::from_slice(&[4; 32]).unwrap();
    let (status, _) = send(&server, "github-test-key", &impostor, &body).await;
    assert_eq!(status, 401);
    let (status, feedback) = send(&server, "github-test-key", &github, &body).await;
    assert_eq!(status, 200, "{feedback}");
    assert_eq!(feedback[0]["label"], "true_positive");
    assert_eq!(
        fetched.load(Ordering::SeqCst),
        1,
        "fetched once, then cached"
    );

    let verified = post_json(&server.base, "/v1/verify", None, &json!({"key": key})).await;
    assert_eq!(verified["code"], "REVOKED");
    let log = server.terminate();
    assert!(!log.contains(key), "the key reached the log");
}
