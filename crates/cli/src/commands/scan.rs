//! `keyward scan`: finds Keyward keys in files, directories, git history and
//! standard input, so that a commit hook or a CI job can stop them before
//! they leave. It needs no database, master key or server (but for
//! `--report`), and opens none.
//!
//! Exit codes: 0 when no key is found, 1 when one is, 2 when something could
//! not be read or reported (then the keys found are still printed) or the
//! flags are wrong (clap's usage errors exit 2 too).

mod finder;
mod history;
mod output;
mod report;
mod walk;

use crate::args::Scan;
use anyhow::{Context, bail};
use finder::{Finder, Hit};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where a key was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// Standard input.
    Stdin,
    /// A file, as named on the command line or found under a directory.
    File(PathBuf),
    /// A blob in a repository's history.
    Blob {
        /// The directory through which the repository was found.
        repository: PathBuf,
        /// The blob's path in the commit that added it.
        path: String,
        /// The commit that added it, when `git log` names one.
        commit: Option<String>,
        /// The blob's id.
        blob: String,
    },
}

/// A key and where it was found.
#[derive(Debug)]
pub struct Finding {
    /// File, blob or standard input.
    pub location: Location,
    /// The key, its line and column.
    pub hit: Hit,
}

/// Everything one scan found, read and could not read.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Keys found, in no particular order until [`Outcome::sort`].
    pub findings: Vec<Finding>,
    /// What could not be read, and why.
    pub errors: Vec<String>,
    /// Files and blobs read.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files and blobs skipped as binary.
    pub binary: u64,
}

impl Outcome {
    /// Adds what one file, blob or stream gave.
    fn record(&mut self, location: Location, scanned: std::io::Result<finder::Scanned>) {
        match scanned {
            Ok(finder::Scanned::Binary) => self.binary += 1,
            Ok(finder::Scanned::Text { hits, bytes }) => {
                self.files += 1;
                self.bytes += bytes;
                self.findings.extend(hits.into_iter().map(|hit| Finding {
                    location: location.clone(),
                    hit,
                }));
            }
            Err(error) => self
                .errors
                .push(format!("{}: {error}", output::name(&location))),
        }
    }

    /// Adds another thread's outcome.
    fn merge(&mut self, other: Self) {
        self.findings.extend(other.findings);
        self.errors.extend(other.errors);
        self.files += other.files;
        self.bytes += other.bytes;
        self.binary += other.binary;
    }

    /// Puts the findings in a stable order: by place, line and column.
    fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.location, a.hit.line, a.hit.column).cmp(&(&b.location, b.hit.line, b.hit.column))
        });
    }

    /// How many different keys were found.
    pub fn distinct_keys(&self) -> usize {
        self.findings
            .iter()
            .map(|finding| finding.hit.key.expose())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// Runs `keyward scan`.
pub async fn run(args: &Scan) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.report
        && !matches!(url.scheme(), "http" | "https")
    {
        bail!("--report needs an http or https URL, not {url}");
    }
    let mut paths = args.paths.clone();
    if paths.is_empty() {
        if std::io::stdin().is_terminal() {
            bail!(
                "no PATH given and standard input is a terminal: name files or directories, or pipe text in"
            );
        }
        paths.push(PathBuf::from("-"));
    }
    let git_history = args.git_history;
    let mut outcome = tokio::task::spawn_blocking(move || scan(&paths, git_history))
        .await
        .context("the scan stopped")??;
    outcome.sort();
    output::print(&outcome, args.json, args.show_keys)?;
    let mut failed = !outcome.errors.is_empty();
    if let Some(url) = &args.report
        && !outcome.findings.is_empty()
    {
        match report::send(url, &outcome.findings).await {
            Ok(sent) if !args.json => {
                eprintln!("keyward scan: reported {sent} key(s) to {url}");
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!("error: {error:#}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else if outcome.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Scans `paths` (`-` is standard input) and, with `git_history`, the
/// history of the repositories they are in.
fn scan(paths: &[PathBuf], git_history: bool) -> anyhow::Result<Outcome> {
    let finder = Finder::new()?;
    let mut outcome = Outcome::default();
    let repositories = if git_history {
        history::repositories(paths, &mut outcome.errors)
    } else {
        Vec::new()
    };
    if git_history && repositories.is_empty() && outcome.errors.is_empty() {
        bail!("--git-history needs a file or directory in a git repository");
    }
    std::thread::scope(|scope| {
        let histories: Vec<_> = repositories
            .iter()
            .map(|repository| {
                let finder = finder.clone();
                scope.spawn(move || history::scan(&finder, repository))
            })
            .collect();
        outcome.merge(walk::scan(&finder, paths));
        for thread in histories {
            match thread.join() {
                Ok(history) => outcome.merge(history),
                Err(_) => outcome.errors.push("a history scan stopped".to_owned()),
            }
        }
    });
    Ok(outcome)
}
