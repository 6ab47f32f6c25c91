//! Writes N well-formed keys that no store holds (random secrets with a
//! valid checksum), one per line, for the unknown-key flood.
//!
//! Usage: `unknown-keys <count> <file>`.

use keyward_core::key_format::{FullKey, KeyPrefix, KeyType};
use std::io::Write;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() == 2, "usage: unknown-keys <count> <file>");
    let count: usize = args[0].parse()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[1])?);
    for _ in 0..count {
        let key = FullKey::generate(&KeyPrefix::default(), KeyType::Secret)?;
        writeln!(out, "{}", key.expose())?;
    }
    out.flush()?;
    Ok(())
}
