//! Fuzzes the key format parser, `keyward_core::key_format::parse`.
//!
//! Every verification, forward-auth check and dashboard lookup runs an
//! untrusted string through this parser before anything else, so it must
//! never panic and must accept exactly the documented shape
//! (`[a-z0-9]{1,16}_(sk|pk)_[0-9A-Za-z]{38}`) with a valid checksum.
//!
//! A random string almost never carries a valid CRC32 checksum, so each
//! input is also tried with its last six characters replaced by the right
//! checksum: that lets the fuzzer reach the accepted path and the code
//! behind it (`hint`) instead of stopping at the checksum every time.

#![no_main]

use keyward_core::base62;
use keyward_core::key_format::{self, CHECKSUM_LEN, FullKey, KeyType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    check(&input);
    if let Some(repaired) = with_valid_checksum(&input) {
        check(&repaired);
    }
});

/// Parses `key` and checks the result against an independent reading of the
/// documented format.
fn check(key: &str) {
    let parsed = key_format::parse(key);
    assert_eq!(
        parsed.is_ok(),
        well_shaped(key) && checksum_matches(key),
        "parse disagrees with the documented format for {key:?}"
    );
    let Ok(parsed) = parsed else { return };
    let tag = match parsed.key_type {
        KeyType::Secret => "sk",
        KeyType::Publishable => "pk",
    };
    // The parts are the key, cut in three: they put it back together.
    assert_eq!(format!("{}_{tag}_{}", parsed.prefix, parsed.body), key);
    assert_eq!(parsed.body.len(), key_format::BODY_LEN);
    // The hint shows the ends of the body, never the middle of it.
    let hint = parsed.hint();
    assert!(hint.starts_with(&format!("{}_{tag}_", parsed.prefix)));
    assert!(!hint.contains(&parsed.body[4..parsed.body.len() - 4]));
    assert_eq!(FullKey::from_trusted(key.to_owned()).hint(), hint);
}

/// `[a-z0-9]{1,16}_(sk|pk)_[0-9A-Za-z]{38}`, read by hand.
fn well_shaped(key: &str) -> bool {
    let Some((prefix, rest)) = key.split_once('_') else {
        return false;
    };
    let Some((tag, body)) = rest.split_once('_') else {
        return false;
    };
    (1..=16).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && (tag == "sk" || tag == "pk")
        && body.len() == 38
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether the last six characters are the checksum of what precedes them.
fn checksum_matches(key: &str) -> bool {
    let Some(cut) = key.len().checked_sub(CHECKSUM_LEN) else {
        return false;
    };
    match (key.get(..cut), key.get(cut..)) {
        (Some(signed), Some(sum)) => sum == checksum(signed),
        _ => false,
    }
}

/// `key` with its last six characters replaced by the checksum of the rest.
fn with_valid_checksum(key: &str) -> Option<String> {
    let signed = key.get(..key.len().checked_sub(CHECKSUM_LEN)?)?;
    Some(format!("{signed}{}", checksum(signed)))
}

fn checksum(signed: &str) -> String {
    base62::encode_fixed(u64::from(crc32fast::hash(signed.as_bytes())), CHECKSUM_LEN)
}
