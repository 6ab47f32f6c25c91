//! Authentication of management calls — root keys, dashboard sessions — and
//! what each caller may do.
//!
//! A root key is verified through the same [`Verifier`](keyward_core::verify::Verifier)
//! as any key (so a root key already seen costs no storage I/O), and must be
//! `VALID` and belong to the organization's management project.

use crate::error::ApiError;
use crate::extract::Client;
use crate::session;
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts};
use keyward_core::audit::{Actor, ActorType, AuditContext};
use keyward_core::id::OrgId;
use keyward_core::model::{KeyRecord, Member, MemberRole};
use keyward_core::policy::{Code, Request};
use keyward_core::scope::{self, Scope};
use std::sync::Arc;

/// Who is calling the management API: a root key, or a member signed in to
/// the dashboard (whose role stands for a set of management scopes).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's organization: every request is confined to it.
    pub org_id: OrgId,
    /// A root key or a member.
    pub kind: ActorType,
    /// The root key's or member's id: owner of the keys it creates.
    pub actor_id: String,
    /// The root key's name or the member's email, for audit events.
    pub name: String,
    /// Its management scopes.
    pub scopes: Arc<[Scope]>,
    /// The member's role; `None` for root keys.
    pub role: Option<MemberRole>,
    /// The member's team, recorded with their actions.
    pub team: Option<String>,
    /// Where the call comes from.
    pub client: Client,
}

/// The management scopes each role stands for (`docs/api.md`, "Concepts").
/// `keys:revoke` is internal: no root key can hold it alone, it lets
/// `support` revoke without changing keys otherwise.
pub fn role_scopes(role: MemberRole) -> &'static [&'static str] {
    match role {
        MemberRole::Owner | MemberRole::Admin => &["*"],
        MemberRole::Support => &["keys:read", "keys:revoke", "audit:read"],
        MemberRole::Analytics => &["keys:read"],
        MemberRole::Member => &["keys:read", "keys:write"],
    }
}

/// Whether a member of `role` holds the management scope `needed`.
pub fn role_holds(role: MemberRole, needed: &str) -> bool {
    let scopes: Vec<Scope> = role_scopes(role)
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .collect();
    Scope::parse(needed).is_ok_and(|needed| scope::satisfies(&scopes, &[needed]))
}

impl Principal {
    /// A signed-in member, with their role's scopes.
    pub fn member(member: &Member, team: Option<String>, client: Client) -> Self {
        let scopes = role_scopes(member.role)
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect::<Vec<_>>();
        Self {
            org_id: member.org_id.clone(),
            kind: ActorType::Member,
            actor_id: member.id.to_string(),
            name: member.email.clone(),
            scopes: scopes.into(),
            role: Some(member.role),
            team,
            client,
        }
    }

    /// Whether this caller sees only the keys it created (the `member` role).
    pub fn own_keys_only(&self) -> bool {
        self.role == Some(MemberRole::Member)
    }

    /// Whether this caller may see `record`: `member`s see their own keys,
    /// and only those who manage root keys see root keys.
    pub fn may_see(&self, record: &KeyRecord) -> bool {
        if self.own_keys_only() && record.created_by != self.actor_id {
            return false;
        }
        !(record.root && self.kind == ActorType::Member && !self.holds("org:admin"))
    }

    /// Fails with 403 unless the caller holds `needed` (`keys:write`, …).
    pub fn require(&self, needed: &str) -> Result<(), ApiError> {
        self.require_any(&[needed])
    }

    /// Fails with 403 unless the caller holds one of `needed`. A member is
    /// told what their role may not do; a root key, the scope it lacks.
    pub fn require_any(&self, needed: &[&str]) -> Result<(), ApiError> {
        if needed.iter().any(|n| self.holds(n)) {
            return Ok(());
        }
        // The narrowest scope names what was refused: revoking needs
        // `keys:write` or `keys:revoke`, and it is revoking that was refused.
        let named = needed
            .iter()
            .find(|n| **n == "keys:revoke")
            .or(needed.first());
        Err(match (self.role, named) {
            (Some(role), Some(named)) => ApiError::Forbidden {
                code: "insufficient_scope",
                detail: format!(
                    "Your role ({}) may not {}.",
                    role.as_str(),
                    what_scope_allows(named)
                ),
            },
            _ => ApiError::missing_scope(&needed.join("` or `")),
        })
    }

    /// Fails with 403 unless this caller holds every one of `scopes`: a root
    /// key may not create, change or take over a root key more powerful than
    /// itself.
    pub fn require_covers(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        if scope::satisfies(&self.scopes, scopes) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                code: "insufficient_scope",
                detail: "a root key can only manage root keys whose scopes it holds itself"
                    .to_owned(),
            })
        }
    }

    /// Whether the caller holds `scope`.
    pub fn holds(&self, needed: &str) -> bool {
        Scope::parse(needed).is_ok_and(|needed| scope::satisfies(&self.scopes, &[needed]))
    }

    /// The audit context of this caller's actions at `at`.
    pub fn audit(&self, at: chrono::DateTime<chrono::Utc>) -> AuditContext {
        AuditContext {
            actor: Actor {
                kind: self.kind,
                id: self.actor_id.clone(),
                name: self.name.clone(),
            },
            team: self.team.clone(),
            ip: self.client.ip.map(|ip| ip.to_string()),
            user_agent: self.client.user_agent.clone(),
            at,
        }
    }
}

/// The key from `Authorization: Bearer <key>`.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A principal the dashboard already authenticated, handed to the API
/// in-process as a request extension (which no client can set).
#[derive(Debug, Clone)]
pub struct Delegated(pub Principal);

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(Delegated(principal)) = parts.extensions.get::<Delegated>() {
            return Ok(principal.clone());
        }
        let client = Client::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let Some(key) = bearer(parts) else {
            return session::api_principal(&state, parts, client).await;
        };
        // A root key restricted to origins or networks is held to them too.
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let request = Request {
            scopes: &[],
            origin,
            ip: client.ip,
        };
        let outcome = state.verifier.verify(key, &request).await?;
        match outcome.key.as_deref().map(|key| &key.record) {
            Some(record) if outcome.code == Code::Valid && record.root => Ok(Self {
                org_id: record.org_id.clone(),
                kind: ActorType::RootKey,
                actor_id: record.id.to_string(),
                name: record.name.clone(),
                scopes: record.scopes.clone().into(),
                role: None,
                team: None,
                client,
            }),
            // A root key over its own rate limit or quota is throttled, not refused.
            Some(record)
                if record.root
                    && matches!(outcome.code, Code::RateLimited | Code::UsageExceeded) =>
            {
                Err(ApiError::Throttled)
            }
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// What a management scope allows, as a refusal names it to a member.
fn what_scope_allows(scope: &str) -> &'static str {
    match scope {
        "keys:read" => "see these keys",
        "keys:write" => "create, change, archive or delete keys",
        "keys:revoke" => "revoke keys",
        "members:write" => "manage members and teams",
        "projects:write" => "manage projects",
        "audit:read" => "read the audit log",
        "org:admin" => "manage the organization's root keys, settings and webhooks",
        _ => "do this",
    }
}

/// The management scopes a route needs (any one of them), as a type, so that
/// a route's requirement is checked before its body is even read.
pub trait Needs {
    /// Any one of these suffices.
    const ANY_OF: &'static [&'static str];
}

macro_rules! needs {
    ($(#[$doc:meta])* $name:ident => [$($scope:literal),+]) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl Needs for $name {
            const ANY_OF: &'static [&'static str] = &[$($scope),+];
        }
    };
}

needs!(
    /// Reading keys.
    KeysRead => ["keys:read"]
);
needs!(
    /// Creating and changing keys.
    KeysWrite => ["keys:write"]
);
needs!(
    /// Revoking keys: whoever changes keys, and `support`.
    KeysRevoke => ["keys:write", "keys:revoke"]
);
needs!(
    /// Managing members and teams.
    MembersWrite => ["members:write"]
);
needs!(
    /// Reading projects: whoever manages keys or projects.
    ProjectsRead => ["keys:read", "projects:write"]
);
needs!(
    /// Creating and changing projects.
    ProjectsWrite => ["projects:write"]
);
needs!(
    /// Reading and exporting the audit log.
    AuditRead => ["audit:read"]
);
needs!(
    /// Organization administration: the shared secret, root keys.
    OrgAdmin => ["org:admin"]
);

/// A [`Principal`] holding one of the scopes `N` names.
#[derive(Debug)]
pub struct Authorized<N>(pub Principal, std::marker::PhantomData<N>);

impl<N> std::ops::Deref for Authorized<N> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<S, N> FromRequestParts<S> for Authorized<N>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    N: Needs,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require_any(N::ANY_OF)?;
        Ok(Self(principal, std::marker::PhantomData))
    }
}
