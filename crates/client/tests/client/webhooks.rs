//! Webhook signatures: a real delivery from `keyward serve`, checked by WebhookVerifier.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use keyward_client::WebhookVerifier;
use serde_json::json;
use tokio::sync::mpsc;

use crate::support::{Server, serve};

async fn receive_one_delivery(server: &Server) -> (Bytes, HeaderMap) {
    let (sender, mut deliveries) = mpsc::unbounded_channel();
    let receiver = Router::new()
        .fallback(
            |State(sender): State<mpsc::UnboundedSender<(Bytes, HeaderMap)>>,
             headers: HeaderMap,
             body: Bytes| async move {
                let _ = sender.send((body, headers));
                StatusCode::NO_CONTENT
            },
        )
        .with_state(sender);
    let url = serve(receiver).await;
    let endpoint = server
        .raw(
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": format!("{url}/hook"), "events": ["*"]})),
        )
        .await;
    let id = endpoint["id"].as_str().unwrap();
    server
        .raw(Method::POST, &format!("/v1/webhooks/{id}/test"), None)
        .await;
    tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
        .await
        .expect("no delivery within 30 s")
        .unwrap()
}

#[tokio::test]
async fn a_real_delivery_verifies_and_tampering_does_not() {
    let server = Server::start().await;
    let (body, headers) = receive_one_delivery(&server).await;
    let secret = server.raw(Method::GET, "/v1/shared-secret", None).await;
    let secret = secret["shared_secret"].as_str().unwrap();

    let event = WebhookVerifier::new([secret])
        .unwrap()
        .verify(&body, &headers)
        .unwrap();
    assert_eq!(event.event_type, "webhook.test");

    // During a rotation: either of the two secrets verifies.
    let other = format!("kwss_{}", "x".repeat(40));
    let both = WebhookVerifier::new([other.as_str(), secret]).unwrap();
    assert_eq!(
        both.verify(&body, &headers).unwrap().event_type,
        "webhook.test"
    );
    assert!(
        WebhookVerifier::new([&other])
            .unwrap()
            .verify(&body, &headers)
            .is_err()
    );

    let verifier = WebhookVerifier::new([secret]).unwrap();
    let tampered = String::from_utf8(body.to_vec())
        .unwrap()
        .replace("webhook.test", "webhook.tesT");
    assert!(verifier.verify(tampered.as_bytes(), &headers).is_err());
    let mut forged = headers.clone();
    forged.insert("webhook-signature", HeaderValue::from_static("v1,garbage"));
    assert!(verifier.verify(&body, &forged).is_err());
    let mut stale = headers.clone();
    stale.insert("webhook-timestamp", HeaderValue::from_static("1000000000"));
    assert!(verifier.verify(&body, &stale).is_err());
    assert!(verifier.verify(&body, &HeaderMap::new()).is_err());

    assert!(!format!("{verifier:?}").contains(secret));
    assert!(WebhookVerifier::new(Vec::<String>::new()).is_err());
    assert!(WebhookVerifier::new([""]).is_err());
}
