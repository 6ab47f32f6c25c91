//! Members and teams pages. Owners and admins add members (who get a
//! temporary password, shown here once), change their roles, remove them,
//! and put them in teams.

use super::client::Api;
use super::flash::{self, Flash};
use super::forms::{self, Choice, FieldErrors, FieldLabel, time};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::members::{CreatedMember, MemberView, RemovedMember};
use crate::api::teams::TeamView;
use crate::api::views::Page;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serde_json::json;

const ROLES: [(&str, &str); 5] = [
    ("owner", "Owner"),
    ("admin", "Admin"),
    ("support", "Support"),
    ("analytics", "Analytics"),
    ("member", "Member"),
];

/// The roles `viewer_is_owner` may hand out: only owners make owners.
fn role_choices(current: &str, viewer_is_owner: bool) -> Vec<Choice> {
    let roles = if viewer_is_owner {
        &ROLES[..]
    } else {
        &ROLES[1..]
    };
    forms::choices(roles, current)
}

struct MemberRow {
    id: String,
    email: String,
    name: String,
    roles: Vec<Choice>,
    teams: String,
    added: String,
    pending: bool,
    /// The viewer may change, reset or remove this member.
    manageable: bool,
    role_label: String,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    rows: Vec<MemberRow>,
    email: String,
    name: String,
    roles: Vec<Choice>,
    created: Option<(String, String)>,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "updated" => "The member was saved.".to_owned(),
        "removed" => "The member was removed.".to_owned(),
        "added" => "The member was added.".to_owned(),
        "password_reset" => "The member's password was reset.".to_owned(),
        other => match other
            .strip_prefix("removed-")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(1) => "The member was removed; 1 of their keys was disabled.".to_owned(),
            Some(n) => format!("The member was removed; {n} of their keys were disabled."),
            None => return None,
        },
    };
    Some(text)
}

/// Where the new member's form shows each API field's errors.
const MEMBER_FIELDS: &[FieldLabel] = &[
    ("email", "email", "Email"),
    ("name", "name", "Name"),
    ("role", "role", "Role"),
];

struct MembersView {
    input: MemberForm,
    created: Option<(String, String)>,
    errors: Vec<(String, String)>,
    notice: Option<String>,
}

async fn members_page(state: &AppState, signed: &Signed, view: MembersView) -> Response {
    let nav = signed.nav("members");
    if !nav.members {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage members.",
        );
    }
    let api = Api::new(state, signed.principal());
    let members = match api.get::<Page<MemberView>>("/v1/members").await {
        Ok(p) => p.data,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let teams = api
        .get::<Page<TeamView>>("/v1/teams")
        .await
        .map(|p| p.data)
        .unwrap_or_default();
    let failed = !view.errors.is_empty();
    let me = &signed.principal().actor_id;
    let owner = signed.0.member.role == keyward_core::model::MemberRole::Owner;
    let mut response = render(&MembersPage {
        title: "Members".to_owned(),
        notice: view.notice,
        rows: members
            .into_iter()
            .map(|m| MemberRow {
                teams: teams
                    .iter()
                    .filter(|t| t.members.contains(&m.id))
                    .map(|t| t.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                roles: role_choices(m.role.as_str(), owner),
                added: time(m.created_at),
                pending: m.must_change_password,
                manageable: &m.id != me
                    && (owner || m.role != keyward_core::model::MemberRole::Owner),
                role_label: ROLES
                    .iter()
                    .find(|(value, _)| *value == m.role.as_str())
                    .map_or_else(String::new, |(_, label)| (*label).to_owned()),
                id: m.id,
                email: m.email,
                name: m.name,
            })
            .collect(),
        roles: role_choices(
            if view.input.role.is_empty() {
                "member"
            } else {
                &view.input.role
            },
            owner,
        ),
        email: view.input.email,
        name: view.input.name,
        created: view.created,
        errors: FieldErrors::new(&view.errors, MEMBER_FIELDS),
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn members(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<Notice>,
) -> Response {
    // Only the page an addition or a reset redirected to takes the
    // temporary password; reloaded, it shows nothing.
    let created = match q.done.as_deref() {
        // Taken only by those who may see the page.
        Some("added" | "password_reset") if signed.nav("members").members => {
            match flash::take(&state, &signed.0.token, |f| {
                matches!(f, Flash::TemporaryPassword { .. })
            })
            .await
            {
                Ok(Some(Flash::TemporaryPassword { email, password })) => Some((email, password)),
                Ok(_) => None,
                Err(error) => return error.into_response(),
            }
        }
        _ => None,
    };
    let view = MembersView {
        input: MemberForm::default(),
        created,
        errors: Vec::new(),
        notice: notice(q.done.as_deref()),
    };
    members_page(&state, &signed, view).await
}

/// Shows a member's temporary password once, on `/members?done=<done>`.
async fn show_password_once(
    state: &AppState,
    signed: &Signed,
    created: CreatedMember,
    done: &str,
) -> Result<Response, Response> {
    let flash = Flash::TemporaryPassword {
        email: created.member.email,
        password: created.temporary_password,
    };
    flash::leave(state, &signed.0.token, &flash)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/members?done={done}")).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct MemberForm {
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<MemberForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let body = json!({"email": input.email, "name": input.name, "role": input.role});
    match api
        .send::<CreatedMember>(Method::POST, "/v1/members", &body)
        .await
    {
        Ok(created) => show_password_once(&state, &signed, created, "added").await,
        Err(failure) if failure.is_form_error() => {
            let view = MembersView {
                input,
                created: None,
                errors: failure.field_errors(),
                notice: None,
            };
            Err(members_page(&state, &signed, view).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("members")), &failure)),
    }
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
}

pub async fn update_member(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<RoleForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/members/{}", forms::encode(&id));
    match api
        .send::<MemberView>(Method::PATCH, &uri, &json!({"role": input.role}))
        .await
    {
        Ok(_) => Ok(Redirect::to("/members?done=updated").into_response()),
        Err(failure) => Err(failure_page(Some(signed.nav("members")), &failure)),
    }
}

pub async fn reset_password(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/members/{}/reset-password", forms::encode(&id));
    match api
        .send::<CreatedMember>(Method::POST, &uri, &json!({}))
        .await
    {
        Ok(reset) => show_password_once(&state, &signed, reset, "password_reset").await,
        Err(failure) => Err(failure_page(Some(signed.nav("members")), &failure)),
    }
}

/// The confirmation page of removing a member, resetting their password
/// or deleting a team.
#[derive(Template)]
#[template(path = "people_confirm.html")]
struct ConfirmPage {
    nav: Option<Nav>,
    title: String,
    explanation: String,
    action: String,
    button: String,
    /// Where Cancel goes.
    cancel: &'static str,
}

async fn confirm_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    page: impl FnOnce(MemberView) -> ConfirmPage,
) -> Response {
    let nav = signed.nav("members");
    let api = Api::new(state, signed.principal());
    let members = match api.get::<Page<MemberView>>("/v1/members").await {
        Ok(p) => p.data,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let Some(member) = members.into_iter().find(|m| m.id == id) else {
        return error_page(Some(nav), StatusCode::NOT_FOUND, "There is no such member.");
    };
    let mut page = page(member);
    page.nav = Some(nav);
    render(&page)
}

pub async fn reset_password_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&state, &signed, &id, |member| ConfirmPage {
        nav: None,
        title: format!("Reset the password of {}?", member.email),
        explanation: format!(
            "{}'s password is replaced by a temporary one, shown to you once. They can no \
             longer sign in with their current password and must choose a new one at their \
             next sign-in.",
            member.email
        ),
        action: format!("/members/{}/reset-password", member.id),
        button: format!("Reset the password of {}", member.email),
        cancel: "/members",
    })
    .await
}

pub async fn remove_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&state, &signed, &id, |member| ConfirmPage {
        nav: None,
        title: format!("Remove {}?", member.email),
        explanation: format!(
            "{} will no longer be able to sign in. The keys they created are disabled, not \
             deleted; the audit log names them.",
            member.email
        ),
        action: format!("/members/{}/remove", member.id),
        button: format!("Remove {}", member.email),
        cancel: "/members",
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn remove_member(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/members/{}", forms::encode(&id));
    match api
        .send::<RemovedMember>(Method::DELETE, &uri, &json!({}))
        .await
    {
        Ok(removed) => Ok(Redirect::to(&format!(
            "/members?done=removed-{}",
            removed.disabled_keys.len()
        ))
        .into_response()),
        Err(failure) => Err(failure_page(Some(signed.nav("members")), &failure)),
    }
}

struct MemberBox {
    id: String,
    email: String,
    checked: bool,
}

struct TeamRow {
    id: String,
    name: String,
    members: Vec<MemberBox>,
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsPage {
    nav: Option<Nav>,
    title: String,
    rows: Vec<TeamRow>,
    name: String,
    members: Vec<MemberBox>,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
pub struct TeamForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn teams_page(
    state: &AppState,
    signed: &Signed,
    input: TeamForm,
    errors: Vec<(String, String)>,
) -> Response {
    let nav = signed.nav("teams");
    if !nav.members {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage teams.",
        );
    }
    let api = Api::new(state, signed.principal());
    let (members, teams) = match (
        api.get::<Page<MemberView>>("/v1/members").await,
        api.get::<Page<TeamView>>("/v1/teams").await,
    ) {
        (Ok(m), Ok(t)) => (m.data, t.data),
        (Err(failure), _) | (_, Err(failure)) => return failure_page(Some(nav), &failure),
    };
    let boxes = |chosen: &[String]| {
        members
            .iter()
            .map(|m| MemberBox {
                id: m.id.clone(),
                email: m.email.clone(),
                checked: chosen.contains(&m.id),
            })
            .collect::<Vec<_>>()
    };
    let failed = !errors.is_empty();
    let mut response = render(&TeamsPage {
        title: "Teams".to_owned(),
        rows: teams
            .iter()
            .map(|t| TeamRow {
                id: t.id.clone(),
                name: t.name.clone(),
                members: boxes(&t.members),
            })
            .collect(),
        members: boxes(&input.members),
        name: input.name,
        // Errors of the new team's form and of each team's own form come
        // here alike: they are listed at the top, not placed at a field.
        errors: FieldErrors::new(&errors, &[]),
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn teams(State(state): State<AppState>, signed: Signed) -> Response {
    teams_page(&state, &signed, TeamForm::default(), Vec::new()).await
}

pub async fn create_team(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<TeamForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let body = json!({"name": input.name, "members": input.members});
    match api.send::<TeamView>(Method::POST, "/v1/teams", &body).await {
        Ok(_) => Ok(Redirect::to("/teams").into_response()),
        Err(failure) if failure.is_form_error() => {
            Err(teams_page(&state, &signed, input, failure.field_errors()).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("teams")), &failure)),
    }
}

pub async fn update_team(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<TeamForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/teams/{}", forms::encode(&id));
    let body = json!({"name": input.name, "members": input.members});
    match api.send::<TeamView>(Method::PATCH, &uri, &body).await {
        Ok(_) => Ok(Redirect::to("/teams").into_response()),
        Err(failure) if failure.is_form_error() => {
            Err(teams_page(&state, &signed, TeamForm::default(), failure.field_errors()).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("teams")), &failure)),
    }
}

pub async fn delete_team_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let nav = signed.nav("teams");
    let api = Api::new(&state, signed.principal());
    let teams = match api.get::<Page<TeamView>>("/v1/teams").await {
        Ok(p) => p.data,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let Some(team) = teams.into_iter().find(|t| t.id == id) else {
        return error_page(Some(nav), StatusCode::NOT_FOUND, "There is no such team.");
    };
    let members = match team.members.len() {
        1 => "Its 1 member stays".to_owned(),
        n => format!("Its {n} members stay"),
    };
    render(&ConfirmPage {
        title: format!("Delete the team {}?", team.name),
        explanation: format!(
            "{members} in the organization, with their roles and keys. Audit events keep the \
             team's name, but the audit log can no longer be filtered by it."
        ),
        action: format!("/teams/{}/delete", team.id),
        button: format!("Delete {}", team.name),
        cancel: "/teams",
        nav: Some(nav),
    })
}

pub async fn delete_team(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/teams/{}", forms::encode(&id));
    match api.send::<()>(Method::DELETE, &uri, &json!({})).await {
        Ok(()) => Ok(Redirect::to("/teams").into_response()),
        Err(failure) => Err(failure_page(Some(signed.nav("teams")), &failure)),
    }
}
