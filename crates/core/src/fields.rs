//! How request bodies read their fields when serde's defaults are too lenient:
//! `null` only where the API gives it a meaning, and timestamps only in the
//! RFC 3339 form every client can read back.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Deserializer, de::Error as _};

/// An optional field that may not be `null`: absent is `None`, `null` is an
/// error (`#[serde(default, deserialize_with = "not_null")]`).
pub fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(D::Error::custom(
            "may not be null; leave the field out instead",
        )),
    }
}

/// An optional field where `null` means something: absent is `None`, `null`
/// is `Some(None)` (`#[serde(default, deserialize_with = "nullable")]`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Parses an RFC 3339 timestamp with a four-digit year and no leap second:
/// what RFC 3339 and JSON Schema's `date-time` can represent, and what this
/// API echoes back exactly.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    let invalid = || format!("`{s}` is not an RFC 3339 timestamp such as 2030-01-31T12:00:00Z");
    // chrono also takes a signed, longer year ("+10000-…"); RFC 3339 does not.
    if !s
        .as_bytes()
        .get(..5)
        .is_some_and(|y| y[..4].iter().all(u8::is_ascii_digit) && y[4] == b'-')
    {
        return Err(invalid());
    }
    let time = DateTime::parse_from_rfc3339(s).map_err(|_| invalid())?;
    // A leap second (":60") is kept by chrono as a nanosecond past 10^9.
    if time.nanosecond() >= 1_000_000_000 {
        return Err(format!("`{s}`: a leap second cannot be stored; use :59"));
    }
    let time = time.with_timezone(&Utc);
    if !(0..=9999).contains(&time.year()) {
        return Err(format!("`{s}` is outside the years 0000 to 9999 in UTC"));
    }
    Ok(time)
}

/// [`parse_timestamp`] for a body field that must not be `null`.
pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match not_null::<D, std::borrow::Cow<'de, str>>(d)? {
        Some(s) => parse_timestamp(&s).map(Some).map_err(D::Error::custom),
        None => Ok(None),
    }
}

/// [`parse_timestamp`] for a body field where `null` means "none".
pub fn nullable_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
        Some(s) => parse_timestamp(&s)
            .map(|t| Some(Some(t)))
            .map_err(D::Error::custom),
        None => Ok(Some(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn timestamps_are_only_what_rfc_3339_represents() {
        for good in [
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:59.5+02:00",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(parse_timestamp(good).is_ok(), "{good}");
        }
        for bad in [
            "+10000-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
            "2030-01-01T00:00:60Z",
            "2030-06-30T23:59:60Z",
            "9999-12-31T23:59:59-01:00",
            "2030-01-01",
            "",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
