//! The ceiling of this machine: a bare axum endpoint answering a fixed JSON
//! body the size of a verification answer, with no middleware.
//!
//! Usage: `bare <port> <body-bytes> [spin-ns]`. With `spin-ns`, each answer
//! first spins that long on the core: a bare server as slow per request as
//! one doing real work, to tell what that alone does to the latency
//! distribution (docs/benchmarks.md, run 26).

use axum::Router;
use axum::http::header;
use axum::routing::{get, post};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().unwrap_or_else(|| "18600".to_owned()).parse()?;
    let size: usize = args.next().unwrap_or_else(|| "330".to_owned()).parse()?;
    let spin =
        std::time::Duration::from_nanos(args.next().unwrap_or_else(|| "0".to_owned()).parse()?);
    // A JSON object of exactly `size` bytes.
    let padding = size.saturating_sub(r#"{"valid":true,"code":"VALID","pad":""}"#.len());
    let body: &'static str = Box::leak(
        format!(
            r#"{{"valid":true,"code":"VALID","pad":"{}"}}"#,
            "x".repeat(padding)
        )
        .into_boxed_str(),
    );
    let answer = move || async move {
        if !spin.is_zero() {
            let started = std::time::Instant::now();
            while started.elapsed() < spin {}
        }
        ([(header::CONTENT_TYPE, "application/json")], body)
    };
    let app = Router::new()
        .route("/v1/verify", post(answer))
        .route("/v1/auth", get(answer));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
