//! Flags and their `KEYWARD_*` environment variables.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Self-hosted API key management.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Directory of the embedded database and the master key.
    #[arg(
        long,
        env = "KEYWARD_DATA_DIR",
        default_value = "./keyward-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL (default: the embedded SQLite file in the data directory).
    /// Also read from the file named by KEYWARD_DATABASE_URL_FILE.
    #[arg(
        long,
        env = "KEYWARD_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// File holding the master key (default: <data-dir>/master.key, created on first use).
    #[arg(long, env = "KEYWARD_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutagePolicy {
    Refuse,
    ServeCached,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<Serve>),
    /// Manage organizations.
    #[command(subcommand)]
    Org(Org),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(Audit),
    /// Apply database migrations.
    Migrate,
    /// Write a consistent copy of the live embedded database.
    Backup(Backup),
    /// Find Keyward keys in files, directories, git history or standard
    /// input; exit 0 when none, 1 when some, 2 on errors.
    Scan(Scan),
}

#[derive(Debug, Args)]
pub struct Scan {
    /// Files and directories to scan (directories recursively); `-` or none
    /// is standard input.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also scan every blob in the history of the git repositories the
    /// paths are in (needs `git`).
    #[arg(long)]
    pub git_history: bool,
    /// Print one JSON document instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Print the full keys found (by default only their hints).
    #[arg(long)]
    pub show_keys: bool,
    /// Report each key found to the Keyward server at this URL
    /// (`POST <URL>/v1/leaks`).
    #[arg(long, value_name = "URL")]
    pub report: Option<reqwest::Url>,
}

#[derive(Debug, Args)]
pub struct Backup {
    /// The copy to write; it must not exist yet.
    #[arg(long, short)]
    pub output: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct Serve {
    /// Address to listen on.
    #[arg(long, env = "KEYWARD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Archived keys kept per organization; older ones are purged.
    #[arg(long, env = "KEYWARD_ARCHIVED_KEEP", default_value_t = 10)]
    pub archived_keep: u32,
    /// Proxies (CIDR, comma-separated) whose X-Forwarded-For / X-Real-IP are believed.
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest request body, in bytes.
    #[arg(long, env = "KEYWARD_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: usize,
    /// Longest time, in seconds, a key is trusted from the cache without
    /// reading storage (bounds staleness when a change notification is lost).
    #[arg(long, env = "KEYWARD_CACHE_TTL", default_value_t = 60)]
    pub cache_ttl: u64,
    /// Most memory, in MiB, the cache of key records takes (each record's
    /// size estimated); the least used records leave first.
    #[arg(long, env = "KEYWARD_CACHE_SIZE_MB", default_value_t = 256)]
    pub cache_size_mb: u64,
    /// While storage is unreachable: `refuse` every verification, or
    /// `serve-cached` keys already in the cache.
    #[arg(long, env = "KEYWARD_OUTAGE_POLICY", value_enum, default_value_t = OutagePolicy::Refuse)]
    pub outage_policy: OutagePolicy,
    /// How often usage is written behind, in milliseconds: quota
    /// consumption, the `last_used_at` values due, and a share of the usage
    /// counters.
    #[arg(long, env = "KEYWARD_USAGE_FLUSH_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub usage_flush_ms: u64,
    /// How far `last_used_at` moves before it is written again, in
    /// milliseconds; also the longest usage counters wait in memory (plus
    /// one flush). 0 writes everything at every flush.
    #[arg(long, env = "KEYWARD_USAGE_RESOLUTION_MS", default_value_t = 60_000)]
    pub usage_resolution_ms: u64,
    /// Mark dashboard cookies `Secure` (set it when a TLS proxy that is not
    /// in --trusted-proxies serves Keyward; trusted proxies saying
    /// `X-Forwarded-Proto: https` get `Secure` cookies anyway).
    #[arg(long, env = "KEYWARD_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// The address people reach the dashboard at, for the printed setup
    /// link (default: http://<addr>).
    #[arg(long, env = "KEYWARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Let webhook endpoints use plain http and reach loopback, private and
    /// link-local addresses (for tests and closed networks only).
    #[arg(long, env = "KEYWARD_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Hours a rotated shared secret still signs webhooks beside the new one.
    #[arg(long, env = "KEYWARD_WEBHOOK_SECRET_GRACE_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(0..=720))]
    pub webhook_secret_grace_hours: u64,
    /// Seconds between a failed webhook attempt and the next, comma-separated
    /// (default: the Standard Webhooks schedule, 5 s to 24 h, about 3 days).
    #[arg(long, env = "KEYWARD_WEBHOOK_RETRY_SECONDS", value_delimiter = ',')]
    pub webhook_retry_seconds: Vec<u32>,
    /// Time limit of one webhook attempt, in seconds.
    #[arg(long, env = "KEYWARD_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_seconds: u64,
    /// How often expiring, expired and stale keys are looked for, in seconds.
    #[arg(long, env = "KEYWARD_NOTICE_INTERVAL_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub notice_interval_seconds: u64,
    /// Where GitHub's secret scanning public keys are fetched from (for
    /// `POST /v1/leaks/github`).
    #[arg(long, env = "KEYWARD_GITHUB_KEYS_URL", default_value = keyward_server::leaks::github::GITHUB_KEYS_URL, conflicts_with = "github_keys_file")]
    pub github_keys_url: String,
    /// Read GitHub's secret scanning public keys from this file instead
    /// (GitHub's JSON document; read again when an alert names a key it lacks).
    #[arg(long, env = "KEYWARD_GITHUB_KEYS_FILE")]
    pub github_keys_file: Option<std::path::PathBuf>,
    /// Serve GET /metrics (Prometheus) on a listener of its own at this
    /// address, and not on the main one (default: on the main listener).
    #[arg(long, env = "KEYWARD_METRICS_ADDR", conflicts_with = "no_metrics")]
    pub metrics_addr: Option<SocketAddr>,
    /// No metrics: GET /metrics is not served and verifications are not
    /// counted or timed.
    #[arg(long, env = "KEYWARD_NO_METRICS")]
    pub no_metrics: bool,
    /// SMTP server for email (off without it): smtp://[user:password@]host[:587]
    /// (STARTTLS required), smtps://…[:465] (TLS), or smtp://…?tls=none
    /// (plain text, for a relay on this host). Also read from the file named
    /// by KEYWARD_SMTP_URL_FILE.
    #[arg(
        long,
        env = "KEYWARD_SMTP_URL",
        hide_env_values = true,
        requires = "smtp_from"
    )]
    pub smtp_url: Option<String>,
    /// Sender of Keyward's email, e.g. "Keyward <keyward@acme.example>".
    #[arg(long, env = "KEYWARD_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Seconds between a failed email attempt and the next, comma-separated
    /// (default: 1 min to 24 h, about 45 hours).
    #[arg(long, env = "KEYWARD_SMTP_RETRY_SECONDS", value_delimiter = ',')]
    pub smtp_retry_seconds: Vec<u32>,
    /// Audit exports by email larger than this are gzipped, in bytes.
    #[arg(long, env = "KEYWARD_EMAIL_GZIP_ABOVE_BYTES", default_value_t = 1024 * 1024)]
    pub email_gzip_above_bytes: usize,
    /// Audit exports larger than this once gzipped are mailed as a one-time
    /// link instead of an attachment, in bytes.
    #[arg(long, env = "KEYWARD_EMAIL_ATTACHMENT_LIMIT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub email_attachment_limit_bytes: usize,
}

#[derive(Debug, Subcommand)]
pub enum Org {
    /// Create an organization, its owner and a root key with scope `*`.
    Create {
        /// The organization's name.
        #[arg(long, env = "KEYWARD_NAME")]
        name: String,
        /// The owner's email. The password comes from KEYWARD_OWNER_PASSWORD
        /// (or KEYWARD_OWNER_PASSWORD_FILE), else is generated and printed once.
        #[arg(long, env = "KEYWARD_OWNER_EMAIL")]
        owner_email: String,
        /// Print {org_id, owner_email, owner_password?, root_key} as JSON.
        #[arg(long, env = "KEYWARD_JSON")]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Check the hash chains; exit 0 when intact, 1 naming the first bad event.
    Verify {
        /// Only this organization.
        #[arg(long, env = "KEYWARD_ORG")]
        org: Option<String>,
    },
}
