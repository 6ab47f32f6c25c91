//! `keyward backup --output FILE`: a consistent copy of the live embedded
//! database, taken beside a running server.

use crate::args::Global;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(global: &Global, output: &Path) -> anyhow::Result<ExitCode> {
    let settings = super::settings(global)?;
    keyward_store::backup(settings.database_url.as_deref(), &settings.data_dir, output).await?;
    println!(
        "backup written to {}; keep the master key with it ({})",
        output.display(),
        settings.master_key_path().display()
    );
    Ok(ExitCode::SUCCESS)
}
