//! `bench/clients.sh`'s Rust cases: what a verification costs through the client, against
//! the bare reqwest call it makes and forward auth. Reads `URL`, `KEY`, `N` from the
//! environment and the number of rounds from its argument; prints
//! `{case: [[nanoseconds per request]…]}` as JSON, one list per round.

use std::future::Future;
use std::time::Instant;

use keyward_client::Keyward;

/// Each case's rounds, in the order the cases run.
type Rounds = Vec<(&'static str, Vec<Vec<u128>>)>;

fn record(results: &mut Rounds, case: &'static str, times: Vec<u128>) {
    match results.iter_mut().find(|(name, _)| *name == case) {
        Some((_, rounds)) => rounds.push(times),
        None => results.push((case, vec![times])),
    }
}

async fn timed<F, Fut>(n: usize, mut call: F) -> Result<Vec<u128>, Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    for _ in 0..n / 10 {
        call().await?;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed().as_nanos());
    }
    Ok(times)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("URL")?;
    let key = std::env::var("KEY")?;
    let n: usize = std::env::var("N")?.parse()?;
    let rounds: usize = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1".into())
        .parse()?;

    let http = reqwest::Client::new();
    let body = serde_json::json!({"key": key, "scopes": ["data:read"]}).to_string();
    let client = Keyward::new(&url)?;
    let cached = Keyward::builder(&url)
        .cache_ttl(std::time::Duration::from_secs(60))
        .build()?;

    let mut results = Rounds::new();
    for _ in 0..rounds {
        let bare = timed(n, || async {
            let answer = http
                .post(format!("{url}/v1/verify"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            let answer: serde_json::Value = answer.json().await?;
            if answer["valid"] != true {
                return Err("invalid".into());
            }
            Ok(())
        })
        .await?;
        record(&mut results, "rust: reqwest POST /v1/verify (bare)", bare);

        let verify = timed(n, || async {
            if !client.verify(&key, &["data:read"]).await?.valid {
                return Err("invalid".into());
            }
            Ok(())
        })
        .await?;
        record(&mut results, "rust: Keyward::verify", verify);

        let hit = timed(n, || async {
            if !cached.verify(&key, &["data:read"]).await?.valid {
                return Err("invalid".into());
            }
            Ok(())
        })
        .await?;
        record(&mut results, "rust: Keyward::verify, cache hit", hit);

        let auth = timed(n, || async {
            let answer = http
                .get(format!("{url}/v1/auth"))
                .bearer_auth(&key)
                .header("x-keyward-scopes", "data:read")
                .send()
                .await?;
            let status = answer.status();
            answer.bytes().await?;
            if status != 200 {
                return Err("refused".into());
            }
            Ok(())
        })
        .await?;
        record(&mut results, "rust: reqwest GET /v1/auth (bare)", auth);
    }
    let fields: Result<Vec<String>, serde_json::Error> = results
        .iter()
        .map(|(name, rounds)| {
            Ok(format!(
                "{}: {}",
                serde_json::to_string(name)?,
                serde_json::to_string(rounds)?
            ))
        })
        .collect();
    println!("{{{}}}", fields?.join(", "));
    Ok(())
}
