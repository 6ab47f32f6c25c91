//! One module per subcommand, and the settings they share.

mod audit;
mod backup;
mod org;
mod scan;
mod serve;

use crate::args::{Cli, Command, Global, LogFormat, Org};
use anyhow::Context;
use keyward_server::telemetry;
use secrecy::SecretString;
use std::process::ExitCode;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        // Scanning needs no storage, master key or log: it starts none of them.
        Command::Scan(args) => scan::run(&args).await,
        command => {
            telemetry::init(match cli.global.log_format {
                LogFormat::Text => telemetry::LogFormat::Text,
                LogFormat::Json => telemetry::LogFormat::Json,
            });
            run_with_storage(&cli.global, command).await
        }
    }
}

/// Runs a command that reads or serves the database.
async fn run_with_storage(global: &Global, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(global, *args).await,
        Command::Org(Org::Create {
            name,
            owner_email,
            json,
        }) => org::create(global, &name, &owner_email, json).await,
        Command::Audit(crate::args::Audit::Verify { org }) => {
            audit::verify(global, org.as_deref()).await
        }
        Command::Backup(args) => backup::run(global, &args.output).await,
        Command::Migrate => {
            let settings = settings(global)?;
            keyward_server::app::open_store(&settings).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => scan::run(&args).await,
    }
}

/// Server settings from the global flags.
fn settings(global: &Global) -> anyhow::Result<keyward_server::Settings> {
    let mut settings = keyward_server::Settings::new(global.data_dir.clone());
    settings.database_url = match &global.database_url {
        Some(url) => Some(url.clone()),
        None => secret_file("KEYWARD_DATABASE_URL_FILE")?
            .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned()),
    };
    settings.master_key_file.clone_from(&global.master_key_file);
    Ok(settings)
}

/// A secret from `<NAME>`, or from the file named by `<NAME>_FILE`.
pub fn secret_env(name: &str) -> anyhow::Result<Option<SecretString>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(SecretString::from(value))),
        Err(_) => secret_file(&format!("{name}_FILE")),
    }
}

pub fn secret_file(variable: &str) -> anyhow::Result<Option<SecretString>> {
    match std::env::var_os(variable) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {variable} ({})", path.to_string_lossy()))?;
            Ok(Some(SecretString::from(
                text.trim_end_matches(['\n', '\r']).to_owned(),
            )))
        }
        None => Ok(None),
    }
}
