//! The domain's error type: what a request asked for that the rules refuse.

use thiserror::Error;

/// A violation of Keyward's rules, independent of transport and storage.
///
/// Each variant maps to one stable error code at the HTTP boundary.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// One or more fields hold invalid values.
    #[error("invalid values")]
    Invalid(Vec<FieldError>),
    /// The action does not apply to the object in its current state.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Entropy,
    /// Encryption or decryption with the master key failed.
    #[error("encryption with the master key failed")]
    Crypto,
}

/// A problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a JSON path (`scopes[1]`, `trusted_origins[0]`).
    pub field: String,
    /// What is wrong with it, for people.
    pub message: String,
}

impl DomainError {
    /// A single-field validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// Collects field errors so that a request learns about all of them at once.
#[derive(Debug, Default)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.push(field, message);
                None
            }
        }
    }

    /// Records an error.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.errors))
        }
    }
}
