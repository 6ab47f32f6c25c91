//! What `keyward scan` prints: a line per key (`path:line:column: …`, as
//! compilers and grep do, so editors jump to it) and a summary on standard
//! error, or one JSON document. The full key only with `--show-keys`. What
//! could not be read goes to standard error either way.

use super::{Finding, Location, Outcome};
use serde::Serialize;
use std::io::Write;

/// How a place is named in text and in error messages.
pub fn name(location: &Location) -> String {
    match location {
        Location::Stdin => "(standard input)".to_owned(),
        Location::File(path) => path.display().to_string(),
        Location::Blob {
            path, commit, blob, ..
        } => format!("{}:{path}", commit.as_deref().unwrap_or(blob)),
    }
}

/// Prints `outcome`: text lines and a summary, or JSON.
pub fn print(outcome: &Outcome, json: bool, show_keys: bool) -> anyhow::Result<()> {
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &document(outcome, show_keys))?;
        writeln!(out)?;
        return Ok(out.flush()?);
    }
    for finding in &outcome.findings {
        writeln!(out, "{}", line(finding, show_keys))?;
    }
    out.flush()?;
    eprintln!("keyward scan: {}", summary(outcome));
    Ok(())
}

fn line(finding: &Finding, show_keys: bool) -> String {
    let hit = &finding.hit;
    let mut line = format!(
        "{}:{}:{}: {} key, prefix {}, {}",
        name(&finding.location),
        hit.line,
        hit.column,
        hit.key_type.as_str(),
        hit.prefix,
        hit.hint
    );
    if show_keys {
        line.push_str(", key ");
        line.push_str(hit.key.expose());
    }
    line
}

fn summary(outcome: &Outcome) -> String {
    let read = format!(
        "{} file(s), {} byte(s) read, {} binary file(s) skipped",
        outcome.files, outcome.bytes, outcome.binary
    );
    match outcome.findings.len() {
        0 => format!("no keys found ({read})"),
        found => format!(
            "{found} key(s) found, {} distinct ({read})",
            outcome.distinct_keys()
        ),
    }
}

/// The JSON document: `{"findings": [...], "errors": [...], "files": n,
/// "bytes": n, "binary_skipped": n}`.
#[derive(Serialize)]
struct Document<'a> {
    findings: Vec<JsonFinding<'a>>,
    errors: &'a [String],
    files: u64,
    bytes: u64,
    binary_skipped: u64,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    /// The file; `-` for standard input; the path in the commit for a blob.
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob: Option<&'a str>,
    line: u64,
    column: u64,
    #[serde(rename = "type")]
    key_type: &'static str,
    prefix: &'a str,
    hint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

fn document(outcome: &Outcome, show_keys: bool) -> Document<'_> {
    let findings = outcome
        .findings
        .iter()
        .map(|finding| {
            let hit = &finding.hit;
            let mut json = JsonFinding {
                path: String::new(),
                repository: None,
                commit: None,
                blob: None,
                line: hit.line,
                column: hit.column,
                key_type: hit.key_type.as_str(),
                prefix: &hit.prefix,
                hint: &hit.hint,
                key: show_keys.then(|| hit.key.expose()),
            };
            match &finding.location {
                Location::Stdin => json.path = "-".to_owned(),
                Location::File(path) => json.path = path.display().to_string(),
                Location::Blob {
                    repository,
                    path,
                    commit,
                    blob,
                } => {
                    json.path.clone_from(path);
                    json.repository = Some(repository.display().to_string());
                    json.commit = commit.as_deref();
                    json.blob = Some(blob);
                }
            }
            json
        })
        .collect();
    Document {
        findings,
        errors: &outcome.errors,
        files: outcome.files,
        bytes: outcome.bytes,
        binary_skipped: outcome.binary,
    }
}
