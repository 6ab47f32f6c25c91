//! Trusted origins (`scheme://host[:port]`, host optionally `*.`-prefixed) and
//! the matching of a request's `Origin` against them.

use std::fmt;

/// An origin a publishable key may be used from.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustedOrigin {
    scheme: String,
    host: Host,
    port: u16,
    explicit_port: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Host {
    Exact(String),
    /// `*.acme.com`, stored as `acme.com`: matches strict subdomains only.
    AnySubdomainOf(String),
}

/// A request's origin, parsed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RequestOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl TrustedOrigin {
    /// Parses `scheme://host[:port]`; schemes are `http` and `https`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let error = || format!("`{s}` is not of the form scheme://host[:port]");
        let (scheme, host, port, explicit_port) = split(s).ok_or_else(error)?;
        let host = match host.strip_prefix("*.") {
            Some(rest) if is_host(rest) => Host::AnySubdomainOf(rest.to_owned()),
            Some(_) => return Err(error()),
            None if is_host(&host) => Host::Exact(host),
            None => return Err(error()),
        };
        Ok(Self {
            scheme,
            host,
            port,
            explicit_port,
        })
    }

    /// Whether a request from `origin` is allowed by this entry.
    pub fn matches(&self, origin: &RequestOrigin) -> bool {
        self.scheme == origin.scheme
            && self.port == origin.port
            && match &self.host {
                Host::Exact(host) => *host == origin.host,
                Host::AnySubdomainOf(parent) => origin
                    .host
                    .strip_suffix(parent.as_str())
                    .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
            }
    }
}

impl RequestOrigin {
    /// Parses the `Origin` a browser sends; `None` for `null` or anything odd.
    pub fn parse(s: &str) -> Option<Self> {
        let (scheme, host, port, _) = split(s)?;
        is_host(&host).then_some(Self { scheme, host, port })
    }
}

/// Splits `scheme://host[:port]` into its parts, lower-casing scheme and host
/// and filling in the scheme's default port.
fn split(s: &str) -> Option<(String, String, u16, bool)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port, explicit) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p != 0)?, true),
        None => (rest, default_port, false),
    };
    Some((scheme, host.to_ascii_lowercase(), port, explicit))
}

fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for TrustedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            Host::Exact(host) => f.write_str(host)?,
            Host::AnySubdomainOf(parent) => write!(f, "*.{parent}")?,
        }
        if self.explicit_port {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for TrustedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedOrigin({self})")
    }
}

impl TryFrom<String> for TrustedOrigin {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<TrustedOrigin> for String {
    fn from(o: TrustedOrigin) -> String {
        o.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(trusted: &str, origin: &str) -> bool {
        let origin = RequestOrigin::parse(origin).unwrap();
        TrustedOrigin::parse(trusted).unwrap().matches(&origin)
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        assert!(allows("https://*.acme.com", "https://app.acme.com"));
        assert!(allows("https://*.acme.com", "https://a.b.acme.com"));
        assert!(!allows("https://*.acme.com", "https://acme.com"));
        assert!(!allows("https://*.acme.com", "https://evilacme.com"));
        assert!(!allows("https://*.acme.com", "http://app.acme.com"));
    }

    #[test]
    fn exact_hosts_compare_scheme_host_and_port() {
        assert!(allows("https://acme.com", "https://ACME.com"));
        assert!(allows("https://acme.com", "https://acme.com:443"));
        assert!(!allows("https://acme.com", "https://acme.com:8443"));
        assert!(allows("http://localhost:3000", "http://localhost:3000"));
        assert!(!allows("https://acme.com", "https://app.acme.com"));
    }

    #[test]
    fn rejects_what_is_not_an_origin() {
        for bad in [
            "acme.com",
            "ftp://acme.com",
            "https://",
            "https://*.",
            "https://a.com/path",
            "https://a.com:0",
            "https://*acme.com",
        ] {
            assert!(TrustedOrigin::parse(bad).is_err(), "{bad}");
        }
        assert!(RequestOrigin::parse("null").is_none());
        assert_eq!(
            TrustedOrigin::parse("HTTPS://*.Acme.com:8443")
                .unwrap()
                .to_string(),
            "https://*.acme.com:8443"
        );
    }
}
