//! `keyward org create`.

use crate::args::Global;
use keyward_core::clock::SystemClock;
use keyward_server::app::{open_master_key, open_store};
use keyward_server::bootstrap::create_organization;
use secrecy::ExposeSecret;
use std::process::ExitCode;

pub async fn create(
    global: &Global,
    name: &str,
    owner_email: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let settings = super::settings(global)?;
    let store = open_store(&settings).await?;
    let master_key = open_master_key(&settings)?;
    let password = super::secret_env("KEYWARD_OWNER_PASSWORD")?;
    let created = create_organization(
        store.as_ref(),
        &master_key,
        &SystemClock,
        "keyward org create",
        name,
        owner_email,
        password,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let password = created
        .owner_password
        .as_ref()
        .map(|p| p.expose_secret().to_owned());
    if json {
        let mut out = serde_json::json!({
            "org_id": created.org_id,
            "owner_email": created.owner_email,
            "root_key": created.root_key.expose(),
        });
        if let Some(password) = password {
            out["owner_password"] = password.into();
        }
        println!("{out}");
    } else {
        println!("Organization {} created.", created.org_id);
        println!("Owner:          {}", created.owner_email);
        if let Some(password) = password {
            println!("Owner password: {password}   (shown once; change it after signing in)");
        }
        println!(
            "Root key:       {}   (scope *, shown once)",
            created.root_key.expose()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(error: &keyward_server::error::ApiError) -> String {
    match error {
        keyward_server::error::ApiError::Invalid(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => match std::error::Error::source(other) {
            Some(cause) => format!("{other}: {cause}"),
            None => other.to_string(),
        },
    }
}
