//! The master key and the AEAD that protects what must be readable again:
//! publishable keys, shared secrets and replayable idempotent responses.
//!
//! XChaCha20-Poly1305 (RustCrypto) with a random 192-bit nonce per message, so
//! nonces never need coordinating between nodes. Each ciphertext is bound to
//! what it belongs to through the associated data (a key id, an org id), so a
//! ciphertext copied onto another row fails to decrypt.

use crate::error::DomainError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use std::io::Write;
use std::path::Path;

const NONCE_LEN: usize = 24;

/// The 256-bit key that encrypts secrets at rest. `Debug` shows nothing.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

/// Why the master key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Reading or creating the file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not hold 32 bytes in base64.
    #[error("master key file {0} does not hold a base64-encoded 32-byte key")]
    Invalid(String),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Entropy,
}

impl MasterKey {
    /// Reads the key at `path`, creating it (mode 0600) when `create` is set
    /// and the file does not exist yet.
    pub fn load_or_create(path: &Path, create: bool) -> Result<Self, MasterKeyError> {
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(text.trim())
                .ok_or_else(|| MasterKeyError::Invalid(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|_| MasterKeyError::Entropy)?;
                let mut file = create_private(path).map_err(io)?;
                writeln!(file, "{}", STANDARD.encode(bytes)).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A key from raw bytes; for tests and tools.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }

    fn from_base64(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = STANDARD.decode(text).ok()?.try_into().ok()?;
        Some(Self::from_bytes(&bytes))
    }

    /// Encrypts `plaintext`, bound to `aad`. Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, DomainError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| DomainError::Entropy)?;
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| DomainError::Crypto)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, DomainError> {
        if sealed.len() < NONCE_LEN {
            return Err(DomainError::Crypto);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| DomainError::Crypto)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_associated_data() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"kw_pk_secret", b"key_a").unwrap();
        assert_eq!(key.open(&sealed, b"key_a").unwrap(), b"kw_pk_secret");
        assert!(key.open(&sealed, b"key_b").is_err());
        assert!(
            MasterKey::from_bytes(&[8; 32])
                .open(&sealed, b"key_a")
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn creates_the_file_private_and_reads_it_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::load_or_create(&path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal(b"x", b"").unwrap();
        let again = MasterKey::load_or_create(&path, false).unwrap();
        assert_eq!(again.open(&sealed, b"").unwrap(), b"x");
    }
}
