//! Reading the paths given: standard input, files, and directories walked
//! recursively by one thread while one worker per core reads the files.
//!
//! What a directory walk reads: every regular file, hidden or ignored by
//! git alike (`.env` files are ignored by git and are where keys are), but
//! not `.git` directories (their history is what `--git-history` reads, as
//! blobs), not files with a NUL byte in their first 8 KiB, and not symbolic
//! links (a link can point outside the tree, or in a loop). A file or link
//! named on the command line is read whatever it is.

use super::finder::{Binary, Finder};
use super::{Location, Outcome};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Most threads reading files at once.
const MAX_WORKERS: usize = 16;

/// A file to read.
#[derive(Debug)]
struct Job {
    path: PathBuf,
    binary: Binary,
}

/// Scans `paths`; `-` is standard input.
pub fn scan(finder: &Finder, paths: &[PathBuf]) -> Outcome {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(MAX_WORKERS);
    let (sender, receiver) = sync_channel::<Job>(1024);
    let receiver = Mutex::new(receiver);
    let mut outcome = Outcome::default();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                let finder = finder.clone();
                let receiver = &receiver;
                scope.spawn(move || work(&finder, receiver))
            })
            .collect();
        walk(finder, paths, &sender, &mut outcome);
        drop(sender);
        for thread in threads {
            match thread.join() {
                Ok(done) => outcome.merge(done),
                Err(_) => outcome.errors.push("a scanning thread stopped".to_owned()),
            }
        }
    });
    outcome
}

/// Sends every file under `paths` to the workers; reads standard input
/// itself.
fn walk(finder: &Finder, paths: &[PathBuf], jobs: &SyncSender<Job>, outcome: &mut Outcome) {
    for path in paths {
        if path.as_os_str() == "-" {
            let mut buf = finder.buffer();
            let scanned = finder.scan(std::io::stdin().lock(), &mut buf, Binary::Scan);
            outcome.record(Location::Stdin, scanned);
            continue;
        }
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => walk_directory(path, jobs, outcome),
            Ok(_) => send(jobs, path.clone(), Binary::Scan),
            Err(error) => outcome.errors.push(format!("{}: {error}", path.display())),
        }
    }
}

fn walk_directory(root: &Path, jobs: &SyncSender<Job>, outcome: &mut Outcome) {
    let entries = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|entry| !(entry.file_type().is_dir() && entry.file_name() == ".git"));
    for entry in entries {
        match entry {
            Ok(entry) if entry.file_type().is_file() => {
                send(jobs, entry.into_path(), Binary::Skip);
            }
            Ok(_) => {}
            Err(error) => outcome.errors.push(error.to_string()),
        }
    }
}

fn send(jobs: &SyncSender<Job>, path: PathBuf, binary: Binary) {
    // Sending fails only when every worker has stopped; their join says so.
    let _ = jobs.send(Job { path, binary });
}

/// Reads files until the walk is over.
fn work(finder: &Finder, jobs: &Mutex<Receiver<Job>>) -> Outcome {
    let mut buf = finder.buffer();
    let mut outcome = Outcome::default();
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => break,
        };
        let Ok(Job { path, binary }) = job else {
            break;
        };
        let scanned =
            std::fs::File::open(&path).and_then(|file| finder.scan(file, &mut buf, binary));
        outcome.record(Location::File(path), scanned);
    }
    outcome
}
