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

/// A whole number written `60` or `60.0`: JSON, and JSON Schema's
/// `integer`, count both as the same number, so a document that says
/// `integer` admits both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole(pub u64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Whole;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Whole, E> {
                Ok(Whole(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Whole, E> {
                u64::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Whole, E> {
                // Whole, not negative and at most 2^53, where every whole f64
                // is exact: the cast loses nothing.
                if v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) {
                    Ok(Whole(v as u64))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// [`Whole`] for an integer field (`#[serde(deserialize_with = "whole")]`).
pub fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let Whole(value) = Whole::deserialize(deserializer)?;
    T::try_from(value).map_err(|_| {
        D::Error::invalid_value(serde::de::Unexpected::Unsigned(value), &"a smaller number")
    })
}

/// [`Whole`] for an optional field that may not be `null`.
pub fn optional_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    not_null::<D, Whole>(d).map(|value| value.map(|Whole(v)| v))
}

/// [`Whole`] for a body field where `null` means "none".
pub fn nullable_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<Whole>::deserialize(d).map(|value| Some(value.map(|Whole(v)| v)))
}

/// A list of [`Whole`] numbers for an optional field that may not be `null`.
pub fn optional_wholes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u64>>, D::Error> {
    not_null::<D, Vec<Whole>>(d).map(|list| list.map(|l| l.into_iter().map(|Whole(v)| v).collect()))
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
