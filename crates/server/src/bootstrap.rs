//! Creating an organization with everything it starts with: its owner, its
//! default and management projects, a root key with scope `*`, and its shared
//! secret — in one transaction.

use crate::api::shared_secret;
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use keyward_core::audit::AuditContext;
use keyward_core::base62;
use keyward_core::clock::Clock;
use keyward_core::crypto::MasterKey;
use keyward_core::id::{KeyId, MemberId, OrgId, ProjectId};
use keyward_core::key_format::{FullKey, KeyPrefix};
use keyward_core::keys::{self, CreateKey, validate_name};
use keyward_core::model::{
    MANAGEMENT_APIS, MANAGEMENT_PREFIX, Member, MemberRole, Organization, Project,
};
use keyward_core::scope::Role;
use keyward_core::store::{NewOrganization, Store};
use secrecy::{ExposeSecret, SecretString};

/// Shortest password accepted for an owner.
pub const MIN_PASSWORD_LEN: usize = 12;

/// What was created; the password (when generated) and the root key are
/// shown once and never again.
#[derive(Debug)]
pub struct CreatedOrganization {
    /// The organization.
    pub org_id: OrgId,
    /// The owner's email.
    pub owner_email: String,
    /// The generated password, when none was given.
    pub owner_password: Option<SecretString>,
    /// The root key with scope `*`.
    pub root_key: FullKey,
    /// Its id.
    pub root_key_id: KeyId,
}

/// Creates an organization owned by `owner_email`; the audit log names
/// `via` (`keyward org create`, the setup link) as the one who did.
pub async fn create_organization(
    store: &dyn Store,
    master_key: &MasterKey,
    clock: &dyn Clock,
    via: &str,
    name: &str,
    owner_email: &str,
    owner_password: Option<SecretString>,
) -> Result<CreatedOrganization, ApiError> {
    let name = validate_name(name).map_err(|m| ApiError::field("name", m))?;
    let email = validate_email(owner_email).map_err(|m| ApiError::field("owner_email", m))?;
    let (password, generated) = match owner_password {
        Some(p) if p.expose_secret().chars().count() >= MIN_PASSWORD_LEN => (p, false),
        Some(_) => {
            return Err(ApiError::field(
                "owner_password",
                format!("must be at least {MIN_PASSWORD_LEN} characters"),
            ));
        }
        None => (SecretString::from(base62::random(24)?), true),
    };
    let now = clock.now();
    let org_id = OrgId::generate()?;
    let project = |name: &str,
                   prefix: KeyPrefix,
                   apis: Vec<String>,
                   management: bool|
     -> Result<Project, ApiError> {
        Ok(Project {
            id: ProjectId::generate()?,
            org_id: org_id.clone(),
            name: name.to_owned(),
            key_prefix: prefix,
            apis,
            management,
            created_at: now,
            updated_at: now,
        })
    };
    let default_project = project("Default", KeyPrefix::default(), Vec::new(), false)?;
    let org = Organization {
        id: org_id.clone(),
        name,
        default_project_id: default_project.id.clone(),
        created_at: now,
    };
    let owner = Member {
        id: MemberId::generate()?,
        org_id: org.id.clone(),
        email: email.clone(),
        name: email.clone(),
        role: MemberRole::Owner,
        password_hash: hash_password(&password)?,
        created_at: now,
        must_change_password: false,
    };
    let management_apis = MANAGEMENT_APIS.iter().map(|s| (*s).to_owned()).collect();
    let management_prefix =
        KeyPrefix::parse(MANAGEMENT_PREFIX).map_err(|e| ApiError::Internal(e.into()))?;
    let management_project = project("Management", management_prefix, management_apis, true)?;
    let root = keys::create(
        CreateKey {
            name: "Initial root key".to_owned(),
            description: Some(format!("Created with the organization for {email}")),
            project_id: None,
            key_type: None,
            role: Some(Role::Admin),
            scopes: None,
            expires_at: None,
            trusted_origins: None,
            allowed_ips: None,
            meta: None,
            enabled: None,
            ratelimit: None,
            quota: None,
        },
        &org.id,
        &management_project,
        owner.id.to_string(),
        master_key,
        now,
    )?;
    let (_, sealed_shared_secret) = shared_secret::generate(&org.id, master_key)?;
    let new = NewOrganization {
        org,
        owner,
        default_project,
        management_project,
        root_key: root.record,
        sealed_shared_secret,
    };
    store
        .create_organization(&new, &AuditContext::system(via, now))
        .await?;
    Ok(CreatedOrganization {
        org_id: new.org.id,
        owner_email: email,
        owner_password: generated.then_some(password),
        root_key: root.key,
        root_key_id: new.root_key.id,
    })
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &SecretString) -> Result<String, ApiError> {
    // Base62 characters are valid base64; 24 of them (a whole number of base64
    // quanta) decode to an 18-byte salt carrying ~142 bits of entropy.
    let salt = SaltString::from_b64(&base62::random(24)?)
        .map_err(|e| ApiError::Internal(e.to_string().into()))?;
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(e.to_string().into()))
}

/// Whether `password` matches an Argon2id PHC string. Slow by design: call
/// it off the async workers.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A plausible email address, lower-cased.
pub fn validate_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err("not a valid email address".to_owned())
    }
}
