//! The key format: `<prefix>_<type>_<body>`.
//!
//! The body is 32 base62 characters from the OS CSPRNG (about 190 bits) and 6
//! base62 characters encoding the CRC32 of everything before them. The
//! checksum lets [`parse`] reject typos and truncated keys without touching
//! storage; the SHA-256 of the whole key is what storage keeps and looks up.
//! Secret scanners can find leaked keys with [`SCANNER_REGEX`].

use crate::base62;
use crate::error::DomainError;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The regular expression documented for secret scanners.
pub const SCANNER_REGEX: &str = "[a-z0-9]{1,16}_(sk|pk)_[0-9A-Za-z]{38}";

/// Random characters at the start of the body.
pub const RANDOM_LEN: usize = 32;
/// Checksum characters at the end of the body.
pub const CHECKSUM_LEN: usize = 6;
/// Length of the whole body.
pub const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;

/// A project's key prefix: 1–16 lowercase ASCII letters and digits.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Validates a prefix.
    pub fn parse(s: &str) -> Result<Self, String> {
        if is_prefix(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be 1 to 16 lowercase letters or digits".to_owned())
        }
    }

    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        Self("kw".to_owned())
    }
}

impl TryFrom<String> for KeyPrefix {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<KeyPrefix> for String {
    fn from(p: KeyPrefix) -> String {
        p.0
    }
}

fn is_prefix(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether a key is for servers (`secret`) or for browsers and apps (`publishable`).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Shown once; only its hash is stored.
    #[default]
    Secret,
    /// May be shown again; stored encrypted.
    Publishable,
}

impl KeyType {
    /// The tag in the key string: `sk` or `pk`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Secret => "sk",
            Self::Publishable => "pk",
        }
    }

    /// The name used in JSON and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Publishable => "publishable",
        }
    }

    /// Inverse of [`KeyType::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(Self::Secret),
            "publishable" => Some(Self::Publishable),
            _ => None,
        }
    }
}

/// A complete key. Its `Debug` never shows the secret.
pub struct FullKey(SecretString);

impl FullKey {
    /// Generates a new key of `key_type` under `prefix`.
    pub fn generate(prefix: &KeyPrefix, key_type: KeyType) -> Result<Self, DomainError> {
        let mut key = format!(
            "{}_{}_{}",
            prefix.as_str(),
            key_type.tag(),
            base62::random(RANDOM_LEN)?
        );
        let checksum = checksum(&key);
        key.push_str(&checksum);
        Ok(Self(SecretString::from(key)))
    }

    /// Wraps a key string that is known to be well-formed.
    pub fn from_trusted(key: String) -> Self {
        Self(SecretString::from(key))
    }

    /// The key itself. Call only to hand it to its owner.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// SHA-256 of the whole key, as stored.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.expose())
    }

    /// The hint shown everywhere in place of the key.
    pub fn hint(&self) -> String {
        // A generated key always parses; the fallback only guards the invariant.
        parse(self.expose()).map(|p| p.hint()).unwrap_or_default()
    }
}

impl fmt::Debug for FullKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FullKey([REDACTED])")
    }
}

/// The parts of a well-formed key, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The project's key prefix.
    pub prefix: &'a str,
    /// Secret or publishable.
    pub key_type: KeyType,
    /// Random part and checksum.
    pub body: &'a str,
}

impl ParsedKey<'_> {
    /// `<prefix>_<type>_` + first 4 + `…` + last 4 characters of the body.
    pub fn hint(&self) -> String {
        let len = self.body.len();
        format!(
            "{}_{}_{}…{}",
            self.prefix,
            self.key_type.tag(),
            &self.body[..4],
            &self.body[len - 4..]
        )
    }
}

/// Why a string is not a key. Deliberately carries nothing of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Checks the shape and checksum of a key without touching storage.
pub fn parse(key: &str) -> Result<ParsedKey<'_>, Malformed> {
    // `<prefix>_<tag>_<body>`: the body has a fixed length and no `_`, so the
    // tag sits at a fixed distance from the end.
    let bytes = key.as_bytes();
    if bytes.len() < 1 + 4 + BODY_LEN || !key.is_ascii() {
        return Err(Malformed);
    }
    let body_start = bytes.len() - BODY_LEN;
    let (head, body) = key.split_at(body_start);
    let key_type = match head.get(head.len() - 4..) {
        Some("_sk_") => KeyType::Secret,
        Some("_pk_") => KeyType::Publishable,
        _ => return Err(Malformed),
    };
    let prefix = &head[..head.len() - 4];
    if !is_prefix(prefix) || !base62::is_base62(body) {
        return Err(Malformed);
    }
    let (signed, sum) = key.split_at(bytes.len() - CHECKSUM_LEN);
    // Compared as numbers: decoding six digits allocates nothing (encoding
    // the expected checksum did, twice), and a checksum is no secret.
    if base62::decode(sum) == Some(u64::from(crc32fast::hash(signed.as_bytes()))) {
        Ok(ParsedKey {
            prefix,
            key_type,
            body,
        })
    } else {
        Err(Malformed)
    }
}

fn checksum(signed: &str) -> String {
    base62::encode_fixed(u64::from(crc32fast::hash(signed.as_bytes())), CHECKSUM_LEN)
}

/// SHA-256 of a full key: what storage keeps and indexes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// Hashes a key string.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// Compares two hashes in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// The first eight bytes, as the set of stored hashes keeps them
    /// ([`crate::store::StoredHashes`]).
    pub fn prefix(&self) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        u64::from_le_bytes([a, b, c, d, e, f, g, h])
    }

    /// The prefix of a hash as storage returns it: `None` unless it has 32 bytes.
    pub fn prefix_of(bytes: &[u8]) -> Option<u64> {
        <[u8; 32]>::try_from(bytes)
            .ok()
            .map(|hash| Self(hash).prefix())
    }

    /// Lower-case hex, for logs that need to correlate without revealing.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_prefix() -> impl Strategy<Value = KeyPrefix> {
        "[a-z0-9]{1,16}".prop_map(|s| KeyPrefix::parse(&s).unwrap())
    }

    fn any_type() -> impl Strategy<Value = KeyType> {
        prop_oneof![Just(KeyType::Secret), Just(KeyType::Publishable)]
    }

    proptest! {
        #[test]
        fn every_generated_key_parses_and_hashes_stably(prefix in any_prefix(), key_type in any_type()) {
            let key = FullKey::generate(&prefix, key_type).unwrap();
            let parsed = parse(key.expose()).unwrap();
            prop_assert_eq!(parsed.prefix, prefix.as_str());
            prop_assert_eq!(parsed.key_type, key_type);
            prop_assert_eq!(parsed.body.len(), BODY_LEN);
            prop_assert!(key.hash().ct_eq(&KeyHash::of(key.expose())));
            let scanner_shape = regex_like_scanner(key.expose());
            prop_assert!(scanner_shape);
        }

        #[test]
        fn every_single_character_change_is_malformed(
            prefix in any_prefix(),
            key_type in any_type(),
            position in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let key = FullKey::generate(&prefix, key_type).unwrap();
            let original = key.expose();
            let index = position.index(original.len());
            let old = original.as_bytes()[index] as char;
            prop_assume!(old != replacement);
            let mut changed: String = original[..index].to_owned();
            changed.push(replacement);
            changed.push_str(&original[index + 1..]);
            prop_assert_eq!(parse(&changed), Err(Malformed));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,80}") {
            let _ = parse(&s);
        }
    }

    /// The scanner regex, checked by hand so the core needs no regex engine.
    fn regex_like_scanner(key: &str) -> bool {
        let Some((prefix, rest)) = key.split_once('_') else {
            return false;
        };
        let Some((tag, body)) = rest.split_once('_') else {
            return false;
        };
        is_prefix(prefix)
            && (tag == "sk" || tag == "pk")
            && body.len() == 38
            && base62::is_base62(body)
    }

    #[test]
    fn hint_shows_four_characters_each_side() {
        let key = FullKey::generate(&KeyPrefix::parse("acme").unwrap(), KeyType::Secret).unwrap();
        let body = &key.expose()["acme_sk_".len()..];
        assert_eq!(
            key.hint(),
            format!("acme_sk_{}…{}", &body[..4], &body[34..])
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = FullKey::generate(&KeyPrefix::default(), KeyType::Secret).unwrap();
        assert!(!format!("{key:?}").contains(key.expose()));
    }

    #[test]
    fn rejects_bad_prefixes_and_types() {
        let key = FullKey::generate(&KeyPrefix::default(), KeyType::Secret).unwrap();
        let body = &key.expose()[6..];
        assert_eq!(parse(&format!("KW_sk_{body}")), Err(Malformed));
        assert_eq!(parse(&format!("kw_xk_{body}")), Err(Malformed));
        assert_eq!(parse(&format!("_sk_{body}")), Err(Malformed));
        assert_eq!(parse(""), Err(Malformed));
    }
}
