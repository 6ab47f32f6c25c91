//! The SMTP server Keyward sends through (`--smtp-url`, `--smtp-from`), and
//! how its answers are read: lettre does the protocol.
//!
//! `smtp://` requires STARTTLS (lettre refuses to send anything, credentials
//! included, to a server that does not offer it), `smtps://` is TLS from
//! the first byte, and `smtp://…?tls=none` is plain text, for a relay on the
//! same host or a closed network only. The password is a secret: it is
//! never logged, and `Debug` shows the URL without it.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// One SMTP conversation's time limit.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A checked `--smtp-url` and `--smtp-from`.
#[derive(Clone)]
pub struct SmtpConfig {
    url: SecretString,
    /// The sender of every message.
    pub from: Mailbox,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("server", &describe(self.url.expose_secret()))
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// The server without the user or password (some services take an API
/// token as the user name): `mail.acme.example:587 (STARTTLS, with credentials)`.
fn describe(url: &str) -> String {
    match parse(url) {
        Ok(parsed) => format!(
            "{}:{} ({}{})",
            parsed.host,
            parsed.port,
            match parsed.security {
                Security::Implicit => "TLS",
                Security::StartTls => "STARTTLS",
                Security::Plain => "plain text",
            },
            if parsed.credentials.is_some() {
                ", with credentials"
            } else {
                ""
            }
        ),
        Err(_) => "(unusable)".to_owned(),
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Implicit,
    StartTls,
    Plain,
}

/// The parts of a URL that make the transport.
struct Parsed {
    security: Security,
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

fn parse(url: &str) -> Result<Parsed, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("--smtp-url is not a URL: {e}"))?;
    let mut security = match parsed.scheme() {
        "smtps" => Security::Implicit,
        "smtp" => Security::StartTls,
        other => {
            return Err(format!(
                "--smtp-url must be smtp:// or smtps://, not {other}://"
            ));
        }
    };
    for (name, value) in parsed.query_pairs() {
        match (name.as_ref(), value.as_ref(), security) {
            ("tls", "none", Security::StartTls) => security = Security::Plain,
            ("tls", "required", Security::StartTls) => {}
            _ => {
                return Err(format!(
                    "--smtp-url: unknown option {name}={value} (smtp:// takes tls=required or tls=none)"
                ));
            }
        }
    }
    if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
        return Err(
            "--smtp-url has a path or a fragment: percent-encode `/`, `?` and `#` in the password"
                .to_owned(),
        );
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("--smtp-url names no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port().unwrap_or(match security {
        Security::Implicit => 465,
        Security::StartTls | Security::Plain => 587,
    });
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| "--smtp-url: the user or password is not UTF-8".to_owned())
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if security == Security::Plain && !loopback && !parsed.username().is_empty() {
        return Err(
            "--smtp-url: credentials would cross the network in plain text with tls=none; \
             use smtp:// (STARTTLS) or smtps://, or a relay on this host"
                .to_owned(),
        );
    }
    let credentials = if parsed.username().is_empty() {
        None
    } else {
        Some(Credentials::new(
            decode(parsed.username())?,
            decode(parsed.password().unwrap_or(""))?,
        ))
    };
    Ok(Parsed {
        security,
        host,
        port,
        credentials,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

impl SmtpConfig {
    /// Checks the URL and the sender; the error names what is wrong,
    /// never the password.
    pub fn new(url: SecretString, from: &str) -> Result<Self, String> {
        parse(url.expose_secret())?;
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("--smtp-from is not an email address: {e}"))?;
        Ok(Self { url, from })
    }
}

/// Sends messages through the configured server.
#[derive(Debug, Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// Why a message was not sent.
#[derive(Debug)]
pub struct SendError {
    /// The server's reply or the error, for the record.
    pub message: String,
    /// A permanent rejection of the message or its recipient: trying again
    /// will not help.
    pub permanent: bool,
}

impl Mailer {
    /// A client of the configured server (nothing is connected yet).
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let parsed = parse(config.url.expose_secret())?;
        let builder = match parsed.security {
            Security::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&parsed.host),
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&parsed.host)
            }
            Security::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &parsed.host,
            )),
        }
        .map_err(|e| format!("--smtp-url: {e}"))?;
        let mut builder = builder
            .port(parsed.port)
            .timeout(Some(TIMEOUT))
            .hello_name(ClientId::Domain(config.from.email.domain().to_owned()));
        if let Some(credentials) = parsed.credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Self {
            transport: builder.build(),
        })
    }

    /// Sends one message.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) => Err(SendError {
                permanent: error.is_permanent()
                    && error.status().map(u16::from).is_some_and(rejects_message),
                message: error.to_string(),
            }),
        }
    }
}

/// Whether a `5xx` reply rejects the message or its recipient for good
/// (`550`–`554`: no such mailbox, not local, over quota, bad address,
/// refused), rather than Keyward's session: a refused login (`535`, `530`),
/// a command the server does not take (`500`–`504`) or a sender it refuses
/// at first are about the settings or the server, and every message would
/// fail alike, so those are retried until the schedule ends.
fn rejects_message(code: u16) -> bool {
    (550..=554).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Result<SmtpConfig, String> {
        SmtpConfig::new(
            SecretString::from(url.to_owned()),
            "Keyward <keyward@acme.example>",
        )
    }

    #[test]
    fn schemes_choose_the_protection_and_the_default_port() {
        let cases = [
            ("smtp://mail.acme.example", Security::StartTls, 587),
            (
                "smtp://mail.acme.example:2525?tls=required",
                Security::StartTls,
                2525,
            ),
            ("smtps://mail.acme.example", Security::Implicit, 465),
            ("smtp://127.0.0.1:2525?tls=none", Security::Plain, 2525),
        ];
        for (url, security, port) in cases {
            let parsed = parse(url).unwrap();
            assert_eq!((parsed.security, parsed.port), (security, port), "{url}");
        }
    }

    #[test]
    fn anything_else_is_refused_rather_than_sent_in_clear() {
        for url in [
            "http://mail.acme.example",
            "smtps://mail.acme.example?tls=none",
            "smtp://mail.acme.example?tls=opportunistic",
            "smtp://mail.acme.example?tls=NONE",
            "smtp://",
            "mail.acme.example:25",
            "smtp://ops:pass/word@mail.acme.example",
            "smtp://mail.acme.example/#x",
            "smtp://ops:secret@mail.acme.example?tls=none",
        ] {
            assert!(config(url).is_err(), "{url}");
        }
        assert!(config("smtp://mail.acme.example").is_ok());
        assert!(
            SmtpConfig::new(SecretString::from("smtp://h".to_owned()), "not an address").is_err()
        );
    }

    #[test]
    fn only_rejections_of_the_message_are_final() {
        for code in [550, 551, 552, 553, 554] {
            assert!(rejects_message(code), "{code}");
        }
        for code in [500, 501, 502, 503, 504, 530, 534, 535, 421, 450, 451] {
            assert!(!rejects_message(code), "{code}");
        }
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let parsed = parse("smtps://ops%40acme.example:p%40ss+word@mail.acme.example").unwrap();
        let credentials = parsed.credentials.unwrap();
        let expected = Credentials::new("ops@acme.example".into(), "p@ss+word".into());
        assert_eq!(credentials, expected);
        let shown = format!(
            "{:?}",
            config("smtps://ops:hunter22@mail.acme.example").unwrap()
        );
        assert!(
            !shown.contains("hunter22") && !shown.contains("ops"),
            "{shown}"
        );
        assert!(
            shown.contains("mail.acme.example:465 (TLS, with credentials)"),
            "{shown}"
        );
        assert!(config("smtp://ops:secret@127.0.0.1:2525?tls=none").is_ok());
        let error = config("ftp://ops:hunter22@mail.acme.example").unwrap_err();
        assert!(!error.contains("hunter22"), "{error}");
    }
}
