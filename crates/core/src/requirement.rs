//! What a forward-auth request requires, read from the proxy's header and
//! query. Each source can only add to the requirement, and any value that
//! cannot be read whole is an error, never "nothing required".

use crate::scope::Scope;

/// Most distinct scopes a request may require: as many as a key may hold.
/// More is a proxy's mistake (or a client's attempt to spend the server's
/// time), refused before it costs anything.
pub const MAX_REQUIRED: usize = 100;
/// Most entries, repeats included, that the lists may hold together.
const MAX_ENTRIES: usize = 1_000;

/// The scopes a request must hold: the union of every list added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequiredScopes {
    scopes: Vec<Scope>,
    /// Entries read so far, repeats included.
    entries: usize,
}

impl RequiredScopes {
    /// Adds a comma-separated list as its raw header bytes
    /// (`X-Keyward-Scopes`); bytes that are not visible ASCII are an error.
    pub fn add_header(&mut self, value: &[u8]) -> Result<(), String> {
        let list = std::str::from_utf8(value)
            .ok()
            .filter(|s| {
                s.bytes()
                    .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                "`X-Keyward-Scopes` holds bytes that are not visible ASCII".to_owned()
            })?;
        self.add_list(list)
    }

    /// Adds every `scopes` parameter of a raw query string; other parameters
    /// belong to the proxied request and are ignored.
    pub fn add_query(&mut self, query: &str) -> Result<(), String> {
        // Invalid UTF-8 decodes to U+FFFD, which no scope holds.
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name == "scopes" {
                self.add_list(&value)?;
            }
        }
        Ok(())
    }

    fn add_list(&mut self, list: &str) -> Result<(), String> {
        for scope in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} scopes are listed"));
            }
            let scope = Scope::parse(scope)?;
            if !self.scopes.contains(&scope) {
                if self.scopes.len() == MAX_REQUIRED {
                    return Err(format!(
                        "more than {MAX_REQUIRED} distinct scopes are required"
                    ));
                }
                self.scopes.push(scope);
            }
        }
        Ok(())
    }

    /// The scopes, each once.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }
}

#[cfg(test)]
mod tests {
    use super::RequiredScopes;

    fn union(header: &[&[u8]], query: &str) -> Result<Vec<String>, String> {
        let mut required = RequiredScopes::default();
        for value in header {
            required.add_header(value)?;
        }
        required.add_query(query)?;
        Ok(required.scopes().iter().map(ToString::to_string).collect())
    }

    #[test]
    fn every_source_adds_and_none_takes_away() {
        assert_eq!(
            union(&[b"data:read"], "scopes=push:read").unwrap(),
            ["data:read", "push:read"]
        );
        assert_eq!(union(&[b""], "scopes=push:read").unwrap(), ["push:read"]);
        assert_eq!(
            union(&[b"a:b", b"c:d"], "scopes=a:b&scopes=e:f&page=2").unwrap(),
            ["a:b", "c:d", "e:f"]
        );
        assert_eq!(union(&[], "").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn what_cannot_be_read_is_an_error() {
        assert!(union(&[b"d\xd0\xb0ta:write"], "").is_err());
        assert!(union(&[b"data:write,\xff"], "").is_err());
        assert!(union(&[b"data:write\x01"], "").is_err());
        assert!(union(&[], "scopes=%FF").is_err());
        assert!(union(&[], "scopes=Data:read").is_err());
    }

    #[test]
    fn a_requirement_is_bounded() {
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("api{i}:read"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(union(&[list(100).as_bytes()], "").unwrap().len(), 100);
        // Repeats of a scope already required cost nothing and count once.
        let repeated = format!("{},{}", list(100), list(100));
        assert_eq!(union(&[repeated.as_bytes()], "").unwrap().len(), 100);
        assert!(union(&[list(101).as_bytes()], "").is_err());
        assert!(union(&[list(60).as_bytes()], &format!("scopes={}", list(101))).is_err());
        let many_repeats = vec!["a:b"; 1_001].join(",");
        assert!(union(&[many_repeats.as_bytes()], "").is_err());
    }
}
