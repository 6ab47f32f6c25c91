//! Verifies keys in-process at a set rate, cycling through a keys file, with
//! the usage write-behind writing to real storage, and says per round
//! whether it kept up. In-process because this machine's HTTP stack answers
//! fewer requests a second than the rate asked of the write-behind
//! (docs/benchmarks.md, "Usage written behind").
//!
//! Usage: `usage-load <data-dir> <keys-file> <rate> <seconds> <rounds> <resolution-ms>`;
//! with `KEYWARD_DATABASE_URL`, against that PostgreSQL database (whose
//! server processes' CPU is then reported as storage CPU; on SQLite, the
//! usage writer thread's).
//!
//! Prints one line per round: verifications a second, distinct keys a
//! second, the most keys pending, flushes and their longest, failures, and
//! storage CPU seconds a second.

use keyward_core::clock::{Clock, SystemClock};
use keyward_core::policy::{Code, Request};
use keyward_core::usage::{FlushObserver, Schedule, UsageRecorder};
use keyward_core::verify::{CacheConfig, Verifier};
use keyward_server::Settings;
use keyward_server::app::open_store;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Flushes(Mutex<Vec<(Duration, bool)>>);

impl Flushes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Duration, bool)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl FlushObserver for Flushes {
    fn flushed(&self, took: Duration, written: bool) {
        self.lock().push((took, written));
    }
    fn lost(&self, _keys: usize) {}
}

/// CPU seconds used so far by storage: PostgreSQL's server processes, or
/// this process's usage writer thread.
fn storage_cpu(postgres: bool) -> f64 {
    let mut ticks = 0u64;
    let dir = if postgres { "/proc" } else { "/proc/self/task" };
    let name = if postgres {
        "postgres"
    } else {
        "keyward-usage"
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state … utime stime are fields 14 and 15.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if !head.contains(&format!("({name}")) {
            continue;
        }
        let fields: Vec<&str> = rest.split(' ').collect();
        ticks += fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        ticks += fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    ticks as f64 / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() == 6,
        "usage: usage-load <data-dir> <keys-file> <rate> <seconds> <rounds> <resolution-ms>"
    );
    let mut settings = Settings::new(args[0].clone().into());
    settings.database_url = std::env::var("KEYWARD_DATABASE_URL").ok();
    let postgres = settings.database_url.is_some();
    let keys: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .map(str::to_owned)
        .collect();
    let rate: usize = args[2].parse()?;
    let seconds: u64 = args[3].parse()?;
    let rounds: usize = args[4].parse()?;
    let schedule = Schedule {
        flush: Duration::from_secs(1),
        resolution: Duration::from_millis(args[5].parse()?),
    };

    let store = open_store(&settings).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let usage = Arc::new(UsageRecorder::new(schedule));
    let flushes = Arc::new(Flushes::default());
    usage.observe_flushes(Arc::clone(&flushes) as Arc<dyn FlushObserver>);
    // Every key stays cached for the whole run: what is measured is the
    // write-behind, not lookups of keys whose entries expired.
    let config = CacheConfig {
        capacity_bytes: 4 << 30,
        ttl: Duration::from_secs(24 * 3600),
        ..CacheConfig::default()
    };
    let verifier = Verifier::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        Arc::clone(&usage),
        &config,
    );
    verifier.load_stored_hashes().await?;
    let request = Request {
        scopes: &[],
        origin: None,
        ip: None,
    };

    // Every key once, to fill the cache; what that counted is written first.
    let warm = Instant::now();
    for key in &keys {
        let outcome = verifier.verify(key, &request).await?;
        anyhow::ensure!(outcome.code == Code::Valid, "{key}: {:?}", outcome.code);
    }
    while !usage.flush_all(store.as_ref(), clock.now()).await {}
    eprintln!(
        "{} keys cached in {:.1}s",
        keys.len(),
        warm.elapsed().as_secs_f64()
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer =
        tokio::spawn(Arc::clone(&usage).run(Arc::clone(&store), Arc::clone(&clock), stopped));
    println!(
        "round verifications/s distinct-keys/s most-pending flushes longest-flush-ms failed storage-cpu-s/s"
    );
    let mut next = 0usize;
    for round in 1..=rounds {
        flushes.lock().clear();
        let most_pending = Arc::new(AtomicUsize::new(0));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = tokio::spawn({
            let (usage, most, sampling) = (
                Arc::clone(&usage),
                Arc::clone(&most_pending),
                Arc::clone(&sampling),
            );
            async move {
                while sampling.load(Ordering::Relaxed) {
                    most.fetch_max(usage.pending_keys(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        let cpu = storage_cpu(postgres);
        let started = Instant::now();
        let mut done = 0usize;
        let mut distinct_per_second = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut second = 0;
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let length = Duration::from_secs(seconds);
        while started.elapsed() < length {
            ticker.tick().await;
            // As many as the rate asks by now, within the round.
            let due = (started.elapsed().as_secs_f64() * rate as f64) as usize;
            while done < due && started.elapsed() < length {
                let key = &keys[next % keys.len()];
                next += 1;
                verifier.verify(key, &request).await?;
                done += 1;
                let now_second = started.elapsed().as_secs();
                if now_second != second {
                    distinct_per_second.push(seen.len());
                    seen.clear();
                    second = now_second;
                }
                seen.insert(next % keys.len());
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        // Let the flushes of this round end before counting storage's CPU.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cpu = storage_cpu(postgres) - cpu;
        sampling.store(false, Ordering::Relaxed);
        sampler.await?;
        let flushes = flushes.lock().clone();
        let longest = flushes
            .iter()
            .map(|(took, _)| *took)
            .max()
            .unwrap_or_default();
        let failed = flushes.iter().filter(|(_, written)| !written).count();
        let distinct = distinct_per_second
            .iter()
            .copied()
            .min()
            .unwrap_or(seen.len());
        println!(
            "{round} {:.0} {distinct} {} {} {:.1} {failed} {:.3}",
            done as f64 / elapsed,
            most_pending.load(Ordering::Relaxed),
            flushes.len(),
            longest.as_secs_f64() * 1000.0,
            cpu / (elapsed + 2.0),
        );
    }
    stop.send(true)?;
    writer.await?;
    Ok(())
}
