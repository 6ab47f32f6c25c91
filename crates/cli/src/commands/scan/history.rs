//! `--git-history`: every blob reachable from any ref (`git rev-list --all`:
//! branches, tags, remote-tracking branches, the stash), each read once
//! however many commits hold it, through the `git` program.
//!
//! `git rev-list --objects --filter=object:type=blob` names the blobs and
//! the path each was first seen at; `git cat-file --batch` reads them in one
//! stream. Only for a blob holding a key is the commit that added it looked
//! up (`git log --find-object`), which is too slow to do for every blob.

use super::finder::{Binary, Finder};
use super::{Location, Outcome};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A repository to read the history of.
#[derive(Debug)]
pub struct Repository {
    /// The path through which it was found, as given.
    shown: PathBuf,
    /// Its git directory.
    git_dir: PathBuf,
}

impl Repository {
    fn git(&self) -> Command {
        let mut command = Command::new("git");
        command.arg("--git-dir").arg(&self.git_dir);
        command
    }
}

/// The repositories `paths` are in, each once; a path in none is an error.
pub fn repositories(paths: &[PathBuf], errors: &mut Vec<String>) -> Vec<Repository> {
    let mut found: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for path in paths.iter().filter(|path| path.as_os_str() != "-") {
        let directory = if path.is_dir() {
            path.as_path()
        } else {
            match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            }
        };
        match git_dir(directory) {
            Ok(git_dir) => {
                found.entry(git_dir).or_insert_with(|| path.clone());
            }
            Err(error) => errors.push(format!("{}: {error:#}", path.display())),
        }
    }
    found
        .into_iter()
        .map(|(git_dir, shown)| Repository { shown, git_dir })
        .collect()
}

fn git_dir(directory: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(["rev-parse", "--absolute-git-dir"])
        .stderr(Stdio::null())
        .output()
        .context("running git (--git-history needs it)")?;
    if !output.status.success() {
        bail!("not in a git repository");
    }
    let text = String::from_utf8(output.stdout).context("git directory's name")?;
    Ok(PathBuf::from(text.trim_end_matches('\n')))
}

/// Scans every blob in `repository`'s history.
pub fn scan(finder: &Finder, repository: &Repository) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(error) = scan_blobs(finder, repository, &mut outcome) {
        outcome.errors.push(format!(
            "{}: git history: {error:#}",
            repository.shown.display()
        ));
    }
    let mut commits: BTreeMap<String, Option<String>> = BTreeMap::new();
    for finding in &mut outcome.findings {
        if let Location::Blob {
            path, blob, commit, ..
        } = &mut finding.location
        {
            commit.clone_from(
                commits
                    .entry(blob.clone())
                    .or_insert_with(|| adding_commit(repository, blob, path)),
            );
        }
    }
    outcome
}

fn scan_blobs(
    finder: &Finder,
    repository: &Repository,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let mut list = repository
        .git()
        .args([
            "rev-list",
            "--all",
            "--objects",
            "--filter=object:type=blob",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("running git rev-list")?;
    let blobs = list.stdout.take().context("git rev-list's output")?;
    // `%(rest)` hands back what follows the object id in the input line:
    // the path rev-list saw the blob at.
    let mut read = repository
        .git()
        .args([
            "cat-file",
            "--batch=%(objectname) %(objecttype) %(objectsize) %(rest)",
        ])
        .stdin(blobs)
        .stdout(Stdio::piped())
        .spawn()
        .context("running git cat-file")?;
    let contents = read.stdout.take().context("git cat-file's output")?;
    let read_all = read_objects(finder, repository, BufReader::new(contents), outcome);
    let listed = list.wait().context("waiting for git rev-list")?;
    let done = read.wait().context("waiting for git cat-file")?;
    read_all?;
    if !listed.success() {
        bail!("git rev-list failed ({listed})");
    }
    if !done.success() {
        bail!("git cat-file failed ({done})");
    }
    Ok(())
}

/// Reads `git cat-file --batch` output: a header line, the object, `\n`.
fn read_objects(
    finder: &Finder,
    repository: &Repository,
    mut stream: impl BufRead,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let mut buf = finder.buffer();
    let mut header = Vec::new();
    loop {
        header.clear();
        if stream.read_until(b'\n', &mut header)? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&header);
        let line = line.trim_end_matches('\n');
        let mut fields = line.splitn(4, ' ');
        let (Some(id), Some(kind)) = (fields.next(), fields.next()) else {
            bail!("unexpected git cat-file output");
        };
        if kind == "missing" {
            continue;
        }
        let size: u64 = fields
            .next()
            .and_then(|size| size.parse().ok())
            .context("unexpected git cat-file output")?;
        let path = fields.next().unwrap_or_default().to_owned();
        let mut object = (&mut stream).take(size);
        if kind == "blob" {
            let scanned = finder.scan(&mut object, &mut buf, Binary::Skip);
            let location = Location::Blob {
                repository: repository.shown.clone(),
                path,
                commit: None,
                blob: id.to_owned(),
            };
            outcome.record(location, scanned);
        }
        // What a binary blob or another object leaves unread, and the `\n`.
        std::io::copy(&mut object, &mut std::io::sink())?;
        stream.read_exact(&mut [0])?;
    }
}

/// The oldest commit whose change to `path` brought in `blob`, if any.
fn adding_commit(repository: &Repository, blob: &str, path: &str) -> Option<String> {
    let output = repository
        .git()
        .args(["--literal-pathspecs", "log", "--all", "-m", "--format=%H"])
        .arg(format!("--find-object={blob}"))
        .args(["--", path])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines().last().map(str::to_owned)
}
