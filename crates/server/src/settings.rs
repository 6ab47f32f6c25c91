//! Server settings. The command line fills them from flags and `KEYWARD_*`
//! variables; tests build them directly.

use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server needs to start.
#[derive(Clone)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Where the embedded database and the master key live.
    pub data_dir: PathBuf,
    /// Database URL; `None` for the embedded SQLite file.
    pub database_url: Option<String>,
    /// Master key file; `None` for `<data_dir>/master.key`, created on first use.
    pub master_key_file: Option<PathBuf>,
    /// Archived keys kept per organization.
    pub archived_keep: u32,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// How often usage is written behind, and how far `last_used_at`
    /// moves before it is written again.
    pub usage: keyward_core::usage::Schedule,
    /// Verification caches and the outage policy.
    pub cache: keyward_core::verify::CacheConfig,
    /// How often storage is checked for the outage policy (`/readyz` checks on each call).
    pub storage_check_interval: Duration,
    /// Dashboard cookies are `Secure` (behind a TLS proxy).
    pub secure_cookies: bool,
    /// Webhooks and the notices that feed them.
    pub webhooks: WebhookSettings,
    /// Where GitHub's secret scanning public keys come from.
    pub github_keys: crate::leaks::github::KeySource,
    /// The address people reach Keyward at (links in emails); `None` for
    /// `http://<addr>`.
    pub public_url: Option<String>,
    /// Outgoing email.
    pub email: EmailSettings,
    /// Serve `GET /metrics` on a listener of its own at this address (and
    /// not on the main one); `None`: on the main listener.
    pub metrics_addr: Option<SocketAddr>,
    /// `--no-metrics`: no `/metrics`, verifications not counted.
    pub metrics: bool,
}

/// Outgoing email: off unless an SMTP server is set.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    /// The SMTP server and the sender; `None`: no email.
    pub smtp: Option<crate::mail::smtp::SmtpConfig>,
    /// Waits between attempts at a message, in seconds.
    pub retry_delays: Vec<i64>,
    /// How often the mail worker looks for due messages (it also wakes at
    /// once when this node queues an export).
    pub poll_interval: Duration,
    /// Exports larger than this are gzipped before they are attached.
    pub gzip_above: usize,
    /// Exports larger than this once gzipped are not attached: the email
    /// carries a one-time link instead.
    pub attachment_limit: usize,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp: None,
            retry_delays: keyward_core::email::RETRY_DELAYS.to_vec(),
            poll_interval: Duration::from_secs(1),
            gzip_above: 1024 * 1024,
            attachment_limit: 10 * 1024 * 1024,
        }
    }
}

/// How webhooks are delivered and scheduled notices found.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `--webhook-allow-private`: endpoints may use plain `http` and reach
    /// loopback, private and link-local addresses (tests, closed networks).
    pub allow_private: bool,
    /// How long a rotated shared secret still signs deliveries beside the new one.
    pub secret_grace: Duration,
    /// Waits between attempts, in seconds (the Standard Webhooks schedule).
    pub retry_delays: Vec<i64>,
    /// One attempt's time limit.
    pub timeout: Duration,
    /// How often the delivery worker looks for due deliveries (it also
    /// wakes at once when this node queues one).
    pub poll_interval: Duration,
    /// How often expiring, expired and stale keys are looked for.
    pub notice_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            secret_grace: Duration::from_secs(24 * 3600),
            retry_delays: keyward_core::webhooks::RETRY_DELAYS.to_vec(),
            timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            notice_interval: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Defaults for a server whose data lives in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            database_url: None,
            master_key_file: None,
            archived_keep: 10,
            trusted_proxies: Vec::new(),
            body_limit: 64 * 1024,
            usage: keyward_core::usage::Schedule::default(),
            cache: keyward_core::verify::CacheConfig::default(),
            storage_check_interval: Duration::from_secs(1),
            secure_cookies: false,
            webhooks: WebhookSettings::default(),
            github_keys: crate::leaks::github::KeySource::default(),
            public_url: None,
            email: EmailSettings::default(),
            metrics_addr: None,
            metrics: true,
        }
    }

    /// The master key file in use.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(keyward_store::redact),
            )
            .field("master_key_file", &self.master_key_file)
            .field("archived_keep", &self.archived_keep)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("public_url", &self.public_url)
            .field("email", &self.email)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}
