//! The README's quick start runs as written, with this suite's server address for
//! `"http://127.0.0.1:8080"`.

use serde_json::json;

use crate::support::Server;

const README: &str = include_str!("../../README.md");
const THIS_FILE: &str = include_str!("readme.rs");

fn readme_quick_start() -> String {
    let section = README
        .split("## Quick start")
        .nth(1)
        .expect("no quick start section");
    let block = section.split("```rust\n").nth(1).expect("no rust block");
    block.split("```").next().unwrap().to_owned()
}

fn tested_quick_start() -> String {
    let begin = "// quick start begins\n";
    let body = THIS_FILE.split(begin).nth(1).expect("no quick start below");
    let body = body.split("// quick start ends").next().unwrap();
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect()
}

async fn quick_start(url: &str, api_key: &str) -> Result<(), keyward_client::Error> {
    // quick start begins
    let keyward = keyward_client::Keyward::new(url)?;
    let answer = keyward.verify(api_key, &["data:read"]).await?;
    assert!(answer.valid);
    // quick start ends
    Ok(())
}

#[tokio::test]
async fn the_quick_start_is_three_lines_that_work() {
    let readme = readme_quick_start();
    assert_eq!(
        readme
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count(),
        3
    );
    assert!(readme.contains("\"http://127.0.0.1:8080\""));
    let written: String = readme
        .replace("\"http://127.0.0.1:8080\"", "url")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        written,
        tested_quick_start(),
        "README.md's quick start differs from this test's"
    );

    let server = Server::start().await;
    let created = server.key(&server.project().await, json!({})).await;
    quick_start(&server.url, created["key"].as_str().unwrap())
        .await
        .unwrap();
}
