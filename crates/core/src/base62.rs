//! Base62 alphabet, random base62 strings from the OS CSPRNG, and fixed-width
//! base62 encoding of checksums.

use crate::error::DomainError;

/// Digits, then upper case, then lower case: the order used by the key checksum.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Returns `len` base62 characters drawn uniformly from the OS CSPRNG.
///
/// Bytes of 248 and above are rejected so that every character is equally
/// likely (248 is the largest multiple of 62 that fits in a byte).
pub fn random(len: usize) -> Result<String, DomainError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|_| DomainError::Entropy)?;
        for byte in buf {
            if out.len() == len {
                break;
            }
            if byte < 248 {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    Ok(out)
}

/// Encodes `value` as exactly `width` base62 digits, most significant first,
/// zero-padded on the left.
pub fn encode_fixed(mut value: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.into_iter().map(char::from).collect()
}

/// Decodes base62 digits, most significant first: the inverse of
/// [`encode_fixed`]. `None` for a byte outside the alphabet or a value past
/// `u64`.
pub fn decode(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |value, byte| {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'A'..=b'Z' => byte - b'A' + 10,
            b'a'..=b'z' => byte - b'a' + 36,
            _ => return None,
        };
        value.checked_mul(62)?.checked_add(u64::from(digit))
    })
}

/// True when every byte of `s` is a base62 character.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_encoding_pads_and_orders_digits() {
        assert_eq!(encode_fixed(0, 6), "000000");
        assert_eq!(encode_fixed(61, 6), "00000z");
        assert_eq!(encode_fixed(62, 6), "000010");
        assert_eq!(encode_fixed(u64::from(u32::MAX), 6), "4gfFC3");
    }

    #[test]
    fn decoding_inverts_fixed_width_encoding() {
        for value in [0, 1, 61, 62, 3843, u64::from(u32::MAX), 56_800_235_583] {
            assert_eq!(decode(&encode_fixed(value, 6)), Some(value));
        }
        assert_eq!(decode("00_000"), None);
        assert_eq!(decode("zzzzzzzzzzzz"), None, "past u64");
    }

    #[test]
    fn random_strings_have_the_requested_length_and_alphabet() {
        let s = random(100).unwrap();
        assert_eq!(s.len(), 100);
        assert!(is_base62(&s));
        assert_ne!(s, random(100).unwrap());
    }
}
