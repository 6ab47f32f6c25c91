//! `keyward serve`.

use crate::args::{Global, Serve};
use keyward_core::clock::SystemClock;
use keyward_server::Application;
use keyward_server::mail::smtp::SmtpConfig;
use secrecy::SecretString;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(global: &Global, args: Serve) -> anyhow::Result<ExitCode> {
    let mut settings = super::settings(global)?;
    email(&mut settings.email, &args)?;
    settings.public_url.clone_from(&args.public_url);
    settings.metrics_addr = args.metrics_addr;
    settings.metrics = !args.no_metrics;
    if settings.email.smtp.is_some()
        && !settings
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    {
        tracing::warn!(
            "email is on but --public-url is not an https URL: the one-time links of exports \
             mailed as links will travel in plain text"
        );
    }
    settings.addr = args.addr;
    settings.archived_keep = args.archived_keep;
    settings.trusted_proxies = args.trusted_proxies;
    settings.body_limit = args.body_limit;
    settings.cache.ttl = std::time::Duration::from_secs(args.cache_ttl.max(1));
    settings.cache.capacity_bytes = args.cache_size_mb.max(1).saturating_mul(1024 * 1024);
    settings.cache.outage_policy = match args.outage_policy {
        crate::args::OutagePolicy::Refuse => keyward_core::verify::OutagePolicy::Refuse,
        crate::args::OutagePolicy::ServeCached => keyward_core::verify::OutagePolicy::ServeCached,
    };
    settings.usage = keyward_core::usage::Schedule {
        flush: std::time::Duration::from_millis(args.usage_flush_ms),
        resolution: std::time::Duration::from_millis(args.usage_resolution_ms),
    };
    settings.secure_cookies = args.secure_cookies;
    let webhooks = &mut settings.webhooks;
    webhooks.allow_private = args.webhook_allow_private;
    webhooks.secret_grace = std::time::Duration::from_secs(args.webhook_secret_grace_hours * 3600);
    if !args.webhook_retry_seconds.is_empty() {
        webhooks.retry_delays = args
            .webhook_retry_seconds
            .iter()
            .map(|s| i64::from(*s))
            .collect();
    }
    webhooks.timeout = std::time::Duration::from_secs(args.webhook_timeout_seconds);
    webhooks.notice_interval = std::time::Duration::from_secs(args.notice_interval_seconds);
    settings.github_keys = match args.github_keys_file {
        Some(path) => keyward_server::leaks::github::KeySource::File(path),
        None => keyward_server::leaks::github::KeySource::Url(args.github_keys_url),
    };
    tracing::info!(?settings, "starting");
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let public_url = app.state().public_url.clone();
    if let Some(path) = app.setup_path().await? {
        // Standard output, not the log: the link is a one-time secret for
        // the person starting the server, not for log collectors.
        println!(
            "No organization yet. Open {}{path} to create the first one \
             (the link works once, for {} minutes).",
            public_url.trim_end_matches('/'),
            keyward_server::dashboard::SETUP_MINUTES
        );
    }
    app.run_until_stopped(keyward_server::app::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Outgoing email from the flags: off without `--smtp-url` (or
/// `KEYWARD_SMTP_URL_FILE`); a URL or sender that cannot be used stops the
/// start, naming what is wrong (never the password).
fn email(email: &mut keyward_server::settings::EmailSettings, args: &Serve) -> anyhow::Result<()> {
    let url = match &args.smtp_url {
        Some(url) => Some(SecretString::from(url.clone())),
        None => super::secret_file("KEYWARD_SMTP_URL_FILE")?,
    };
    if let Some(url) = url {
        let Some(from) = &args.smtp_from else {
            anyhow::bail!("--smtp-url needs --smtp-from, the sender of Keyward's email");
        };
        let config = SmtpConfig::new(url, from).map_err(anyhow::Error::msg)?;
        email.smtp = Some(config);
    }
    if !args.smtp_retry_seconds.is_empty() {
        email.retry_delays = args
            .smtp_retry_seconds
            .iter()
            .map(|s| i64::from(*s))
            .collect();
    }
    email.gzip_above = args.email_gzip_above_bytes;
    email.attachment_limit = args.email_attachment_limit_bytes;
    Ok(())
}
