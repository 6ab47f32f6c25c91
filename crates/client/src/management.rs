//! The management API: keys, projects and the audit log, each a handle on the client.
//!
//! Every call needs the client's root key. Lists come two ways: one page with its cursor
//! (`list_page`, `search_page`), or every item as a `Stream` that fetches page after page.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream, TryStreamExt};
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::transport::{Call, decode, random_u64};
use crate::{
    AuditEvent, AuditFilter, Error, Key, KeyFilter, KeyUpdate, Keyward, NewKey, Page, Project,
    ProjectFields, Usage,
};

impl Keyward {
    /// The key routes: `/v1/keys`.
    pub fn keys(&self) -> Keys<'_> {
        Keys { client: self }
    }

    /// The project routes: `/v1/projects`.
    pub fn projects(&self) -> Projects<'_> {
        Projects { client: self }
    }

    /// The audit log: `/v1/audit`.
    pub fn audit(&self) -> Audit<'_> {
        Audit { client: self }
    }

    async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        decode(&self.send(&call).await?)
    }
}

/// An id as one path segment.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Every item of a list, fetching the next page when the last one is used up.
fn paginate<T, F>(client: Keyward, call: F) -> impl Stream<Item = Result<T, Error>> + Send
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(Option<&str>) -> Result<Call, Error> + Send + Sync + 'static,
{
    let call = Arc::new(call);
    // The state is the next page's cursor: `Some(None)` for the first, `None` once done.
    stream::try_unfold(Some(None::<String>), move |state| {
        let client = client.clone();
        let call = Arc::clone(&call);
        async move {
            let Some(cursor) = state else {
                return Ok(None);
            };
            let page: Page<T> = client.call(call(cursor.as_deref())?).await?;
            Ok(Some((page.data, page.next_cursor.map(Some))))
        }
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
}

/// `client.keys()`: create, list, read, change, regenerate, revoke and archive keys.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    client: &'a Keyward,
}

#[derive(Serialize)]
struct Regenerate {
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_period_seconds: Option<u64>,
}

#[derive(Serialize)]
struct Revoke<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl Keys<'_> {
    /// Creates a key; the answer's `key` is the full key, shown this once. Sent with a fresh
    /// `Idempotency-Key`, so a retry after a lost answer creates one key.
    pub async fn create(&self, key: &NewKey) -> Result<Key, Error> {
        let idempotency_key = format!("keyward-rust-{:016x}{:016x}", random_u64(), random_u64());
        self.create_idempotent(key, &idempotency_key).await
    }

    /// Creates a key with your own `Idempotency-Key`: the same value and body within 24 hours
    /// answer the same key again.
    pub async fn create_idempotent(
        &self,
        key: &NewKey,
        idempotency_key: &str,
    ) -> Result<Key, Error> {
        let call = Call::new(Method::POST, "/v1/keys".to_owned())
            .json(key)?
            .idempotency_key(idempotency_key.to_owned());
        self.client.call(call).await
    }

    /// One page of keys and the next page's cursor.
    pub async fn list_page(
        &self,
        filter: &KeyFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Key>, Error> {
        let call = Call::new(Method::GET, "/v1/keys".to_owned())
            .query(filter)?
            .param("cursor", cursor);
        self.client.call(call).await
    }

    /// Every matching key, page after page (`filter.limit` is the page size).
    pub fn list(
        &self,
        filter: KeyFilter,
    ) -> impl Stream<Item = Result<Key, Error>> + Send + 'static {
        paginate(self.client.clone(), move |cursor| {
            Ok(Call::new(Method::GET, "/v1/keys".to_owned())
                .query(&filter)?
                .param("cursor", cursor))
        })
    }

    /// One key; with `key` for a publishable key.
    pub async fn get(&self, id: &str) -> Result<Key, Error> {
        let call = Call::new(Method::GET, format!("/v1/keys/{}", segment(id)));
        self.client.call(call).await
    }

    /// Changes a key (never its secret).
    pub async fn update(&self, id: &str, changes: &KeyUpdate) -> Result<Key, Error> {
        let call = Call::new(Method::PATCH, format!("/v1/keys/{}", segment(id))).json(changes)?;
        self.client.call(call).await
    }

    /// A new secret for the same key (the answer's `key`); with a grace period, the old
    /// secret keeps working that long. Not retried once it may have reached Keyward: a second
    /// regeneration would replace the secret the lost answer held.
    pub async fn regenerate(&self, id: &str, grace_period: Option<Duration>) -> Result<Key, Error> {
        let body = Regenerate {
            grace_period_seconds: grace_period.map(|grace| grace.as_secs()),
        };
        let call = Call::new(Method::POST, format!("/v1/keys/{}/regenerate", segment(id)))
            .json(&body)?
            .not_replay_safe();
        self.client.call(call).await
    }

    /// Revokes a key for good.
    pub async fn revoke(&self, id: &str, reason: Option<&str>) -> Result<Key, Error> {
        let call = Call::new(Method::POST, format!("/v1/keys/{}/revoke", segment(id)))
            .json(&Revoke { reason })?
            .not_replay_safe();
        self.client.call(call).await
    }

    /// Archives a key for good: it leaves the list and never verifies again.
    pub async fn archive(&self, id: &str) -> Result<Key, Error> {
        let call =
            Call::new(Method::POST, format!("/v1/keys/{}/archive", segment(id))).not_replay_safe();
        self.client.call(call).await
    }

    /// Disables a key (verification answers `DISABLED`); reversible.
    pub async fn disable(&self, id: &str) -> Result<Key, Error> {
        let call = Call::new(Method::POST, format!("/v1/keys/{}/disable", segment(id)));
        self.client.call(call).await
    }

    /// Enables a disabled key.
    pub async fn enable(&self, id: &str) -> Result<Key, Error> {
        let call = Call::new(Method::POST, format!("/v1/keys/{}/enable", segment(id)));
        self.client.call(call).await
    }

    /// A key's verification counts per `day` (default) or `hour`, by outcome code.
    pub async fn usage(
        &self,
        id: &str,
        granularity: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Usage, Error> {
        let call = Call::new(Method::GET, format!("/v1/keys/{}/usage", segment(id)))
            .param("granularity", granularity)
            .param("from", from.map(|from| from.to_rfc3339()).as_deref())
            .param("to", to.map(|to| to.to_rfc3339()).as_deref());
        self.client.call(call).await
    }
}

/// `client.projects()`: projects and their API catalogs.
#[derive(Debug, Clone, Copy)]
pub struct Projects<'a> {
    client: &'a Keyward,
}

impl Projects<'_> {
    /// Creates a project (`fields.name` is required). Not retried once it may have reached
    /// Keyward.
    pub async fn create(&self, fields: &ProjectFields) -> Result<Project, Error> {
        let call = Call::new(Method::POST, "/v1/projects".to_owned())
            .json(fields)?
            .not_replay_safe();
        self.client.call(call).await
    }

    /// Every project, the management project included.
    pub async fn list(&self) -> Result<Vec<Project>, Error> {
        let call = Call::new(Method::GET, "/v1/projects".to_owned());
        let page: Page<Project> = self.client.call(call).await?;
        Ok(page.data)
    }

    /// One project.
    pub async fn get(&self, id: &str) -> Result<Project, Error> {
        let call = Call::new(Method::GET, format!("/v1/projects/{}", segment(id)));
        self.client.call(call).await
    }

    /// Changes a project's name, key prefix or catalog (`apis` replaces it).
    pub async fn update(&self, id: &str, fields: &ProjectFields) -> Result<Project, Error> {
        let call =
            Call::new(Method::PATCH, format!("/v1/projects/{}", segment(id))).json(fields)?;
        self.client.call(call).await
    }
}

/// `client.audit()`: searching the audit log, newest first.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    client: &'a Keyward,
}

impl Audit<'_> {
    /// One page of matching events and the next page's cursor.
    pub async fn search_page(
        &self,
        filter: &AuditFilter,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEvent>, Error> {
        let call = Call::new(Method::GET, "/v1/audit".to_owned())
            .query(filter)?
            .param("cursor", cursor);
        self.client.call(call).await
    }

    /// Every matching event, newest first, page after page.
    pub fn search(
        &self,
        filter: AuditFilter,
    ) -> impl Stream<Item = Result<AuditEvent, Error>> + Send + 'static {
        paginate(self.client.clone(), move |cursor| {
            Ok(Call::new(Method::GET, "/v1/audit".to_owned())
                .query(&filter)?
                .param("cursor", cursor))
        })
    }
}
