//! Fuzzes how `GET /v1/auth` reads what a request requires:
//! `keyward_core::requirement::RequiredScopes` fed from `X-Keyward-Scopes`
//! header values and the query string.
//!
//! Both come from the proxied client, and the requirement decides what a key
//! must hold, so reading them must never panic and must fail closed: a source
//! can only add scopes, never take one away (else a client could lower what
//! the proxy requires). The input is split at each `\n` (a byte no header
//! value holds): every piece but the last is one header value, given as raw
//! bytes, and the last is the query string.

#![no_main]

use keyward_core::requirement::RequiredScopes;
use keyward_core::scope::Scope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let query = String::from_utf8_lossy(pieces.pop().unwrap_or_default());
    let headers = pieces;

    // As the handler reads them: every header value, then the query.
    let mut required = RequiredScopes::default();
    let mut all_read = true;
    for value in &headers {
        all_read &= grows(&mut required, |r| r.add_header(value));
    }
    all_read &= grows(&mut required, |r| r.add_query(&query));

    // Each scope is listed once and reads back as itself.
    let scopes = required.scopes();
    for (i, scope) in scopes.iter().enumerate() {
        assert!(!scopes[..i].contains(scope), "{scope} listed twice");
        assert_eq!(Scope::parse(&scope.to_string()).as_ref(), Ok(scope));
    }

    // The requirement is a union: the order of the sources does not matter.
    let mut reversed = RequiredScopes::default();
    let mut all_read_reversed = grows(&mut reversed, |r| r.add_query(&query));
    for value in headers.iter().rev() {
        all_read_reversed &= grows(&mut reversed, |r| r.add_header(value));
    }
    if all_read && all_read_reversed {
        assert_eq!(reversed.scopes().len(), scopes.len());
        assert!(scopes.iter().all(|s| reversed.scopes().contains(s)));
    }
});

/// Runs one `add_*` and checks that it kept every scope already required,
/// whether it succeeded or not. Returns whether it succeeded.
fn grows(
    required: &mut RequiredScopes,
    add: impl FnOnce(&mut RequiredScopes) -> Result<(), String>,
) -> bool {
    let before = required.clone();
    let result = add(required);
    let after = required.scopes();
    for scope in before.scopes() {
        assert!(after.contains(scope), "adding took {scope} away");
    }
    result.is_ok()
}
