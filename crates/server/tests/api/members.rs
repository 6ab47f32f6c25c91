//! `/v1/members` and `/v1/teams`, and what each role may do through the API
//! when signed in to the dashboard (`docs/api.md`, "Concepts").

use crate::helpers::{assert_problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

const OWNER: &str = "owner@acme.example";
const OWNER_PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn members_are_added_with_a_temporary_password_and_listed_without_secrets() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/v1/members",
            json!({"email": "Mia@Acme.example", "name": "Mia", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["member"]["email"], "mia@acme.example");
    assert_eq!(created["member"]["must_change_password"], true);
    let temporary = created["temporary_password"].as_str().unwrap();
    assert!(temporary.len() >= 20);

    let (status, again) = app
        .post(
            "/v1/members",
            json!({"email": "mia@acme.example", "role": "admin"}),
        )
        .await;
    assert_problem(status, &again, 409, "conflict");
    let (status, invalid) = app
        .post(
            "/v1/members",
            json!({"email": "not an email", "role": "boss"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");

    let (_, list) = app.get("/v1/members").await;
    let text = list.to_string();
    assert!(text.contains("mia@acme.example") && text.contains(OWNER));
    assert!(
        !text.contains(temporary) && !text.contains("argon2"),
        "{text}"
    );

    let (_, events) = app.get("/v1/audit?action=member.added").await;
    let event = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"]["name"] == "mia@acme.example")
        .unwrap()
        .clone();
    assert!(!event.to_string().contains(temporary));
}

#[tokio::test]
async fn a_member_sees_and_changes_only_their_own_keys() {
    let app = spawn_app().await;
    let theirs = app.create_key(json!({"name": "owner's"})).await;
    let (mia_id, mia) = app.member("mia@acme.example", "member").await;

    let (status, own) = app
        .session_call(
            &mia,
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "mia's"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["created_by"], mia_id.as_str());

    let (_, list) = app.session_call(&mia, Method::GET, "/v1/keys", None).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mia's"]);

    let other = format!("/v1/keys/{}", theirs["id"].as_str().unwrap());
    let (status, body) = app.session_call(&mia, Method::GET, &other, None).await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = app
        .session_call(
            &mia,
            Method::POST,
            &format!("{other}/revoke"),
            Some(json!({})),
        )
        .await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = app
        .session_call(&mia, Method::GET, &format!("{other}/usage"), None)
        .await;
    assert_problem(status, &body, 404, "not_found");

    // Their own: every action.
    let mine = format!("/v1/keys/{}", own["id"].as_str().unwrap());
    let (status, _) = app
        .session_call(
            &mia,
            Method::POST,
            &format!("{mine}/revoke"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Nor the audit log, projects, members or the shared secret.
    for (method, path) in [
        (Method::GET, "/v1/audit"),
        (Method::GET, "/v1/members"),
        (Method::GET, "/v1/shared-secret"),
        (Method::POST, "/v1/projects"),
    ] {
        let body = (method == Method::POST).then(|| json!({"name": "x"}));
        let (status, problem) = app.session_call(&mia, method, path, body).await;
        assert_problem(status, &problem, 403, "insufficient_scope");
    }

    // Events they cause name them, as a member.
    let (_, events) = app.get("/v1/audit?action=key.created").await;
    let event = &events["data"][0];
    assert_eq!(event["actor"]["type"], "member");
    assert_eq!(event["actor"]["id"], mia_id.as_str());
}

#[tokio::test]
async fn support_revokes_but_does_not_change_and_analytics_only_reads() {
    let app = spawn_app().await;
    let key = app.create_key(json!({"name": "payments"})).await;
    let path = format!("/v1/keys/{}", key["id"].as_str().unwrap());
    let (_, support) = app.member("sam@acme.example", "support").await;
    let (_, analytics) = app.member("ana@acme.example", "analytics").await;

    for session in [&support, &analytics] {
        let (status, _) = app.session_call(session, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app
            .session_call(session, Method::GET, &format!("{path}/usage"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, problem) = app
            .session_call(session, Method::PATCH, &path, Some(json!({"name": "x"})))
            .await;
        assert_problem(status, &problem, 403, "insufficient_scope");
        let (status, problem) = app
            .session_call(
                session,
                Method::POST,
                "/v1/keys",
                Some(json!({"name": "x"})),
            )
            .await;
        assert_problem(status, &problem, 403, "insufficient_scope");
    }
    let (status, _) = app
        .session_call(&support, Method::GET, "/v1/audit", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .session_call(&analytics, Method::GET, "/v1/audit", None)
        .await;
    assert_problem(status, &problem, 403, "insufficient_scope");

    let revoke = format!("{path}/revoke");
    let (status, problem) = app
        .session_call(&analytics, Method::POST, &revoke, Some(json!({})))
        .await;
    assert_problem(status, &problem, 403, "insufficient_scope");
    assert_eq!(app.verify_code(key["key"].as_str().unwrap()).await, "VALID");
    let (status, revoked) = app
        .session_call(
            &support,
            Method::POST,
            &revoke,
            Some(json!({"reason": "leak"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(
        app.verify_code(key["key"].as_str().unwrap()).await,
        "REVOKED"
    );
}

#[tokio::test]
async fn admins_manage_members_but_not_owners_and_an_owner_always_remains() {
    let app = spawn_app().await;
    let (_, admin) = app.member("adam@acme.example", "admin").await;
    let (_, owners) = app.get("/v1/members").await;
    let owner_id = owners["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == OWNER)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, problem) = app
        .session_call(
            &admin,
            Method::POST,
            "/v1/members",
            Some(json!({"email": "o2@acme.example", "role": "owner"})),
        )
        .await;
    assert_problem(status, &problem, 403, "owner_required");
    let owner_path = format!("/v1/members/{owner_id}");
    let (status, problem) = app
        .session_call(
            &admin,
            Method::PATCH,
            &owner_path,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_problem(status, &problem, 403, "owner_required");
    let (status, problem) = app
        .session_call(&admin, Method::DELETE, &owner_path, None)
        .await;
    assert_problem(status, &problem, 403, "owner_required");

    // The admin manages everyone else.
    let (status, created) = app
        .session_call(
            &admin,
            Method::POST,
            "/v1/members",
            Some(json!({"email": "sam@acme.example", "role": "support"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let sam = format!("/v1/members/{}", created["member"]["id"].as_str().unwrap());
    let (status, changed) = app
        .session_call(
            &admin,
            Method::PATCH,
            &sam,
            Some(json!({"role": "analytics"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "analytics");

    // Root keys count as admins: one an admin made cannot mint owners.
    let (status, problem) = app
        .post(
            "/v1/members",
            json!({"email": "o3@acme.example", "role": "owner"}),
        )
        .await;
    assert_problem(status, &problem, 403, "owner_required");
    let (status, problem) = app.patch(&owner_path, json!({"role": "admin"})).await;
    assert_problem(status, &problem, 403, "owner_required");

    // The last owner cannot step down.
    let owner = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let (status, problem) = app
        .session_call(
            &owner,
            Method::PATCH,
            &owner_path,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_problem(status, &problem, 409, "last_owner");
    let (status, problem) = app
        .session_call(&owner, Method::DELETE, &owner_path, None)
        .await;
    assert_problem(status, &problem, 409, "cannot_remove_self");
    // With a second owner, the first may step down.
    let (status, second) = app
        .session_call(
            &owner,
            Method::POST,
            "/v1/members",
            Some(json!({"email": "olga@acme.example", "role": "owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (status, _) = app
        .session_call(
            &owner,
            Method::PATCH,
            &owner_path,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, events) = app.get("/v1/audit?action=member.updated").await;
    let sams = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"]["name"] == "sam@acme.example")
        .unwrap();
    let changes = &sams["changes"]["role"];
    assert_eq!(changes["before"], "support");
    assert_eq!(changes["after"], "analytics");
}

#[tokio::test]
async fn removing_a_member_disables_their_keys_and_ends_their_sessions() {
    let app = spawn_app().await;
    let (mia_id, mia) = app.member("mia@acme.example", "member").await;
    let mut keys = Vec::new();
    for name in ["one", "two"] {
        let (_, key) = app
            .session_call(&mia, Method::POST, "/v1/keys", Some(json!({"name": name})))
            .await;
        keys.push(key);
    }
    let owners_key = app.create_key(json!({"name": "owner's"})).await;
    for key in &keys {
        assert_eq!(app.verify_code(key["key"].as_str().unwrap()).await, "VALID");
    }

    let (status, removed) = app
        .call(
            Method::DELETE,
            &format!("/v1/members/{mia_id}"),
            &app.org.root_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    let mut disabled: Vec<&str> = removed["disabled_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    disabled.sort_unstable();
    let mut expected: Vec<&str> = keys.iter().map(|k| k["id"].as_str().unwrap()).collect();
    expected.sort_unstable();
    assert_eq!(disabled, expected);

    // Disabled at once (the cache forgot them), not deleted.
    for key in &keys {
        assert_eq!(
            app.verify_code(key["key"].as_str().unwrap()).await,
            "DISABLED"
        );
        let (status, view) = app
            .get(&format!("/v1/keys/{}", key["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["status"], "disabled");
    }
    assert_eq!(
        app.verify_code(owners_key["key"].as_str().unwrap()).await,
        "VALID"
    );
    let (status, _) = app.session_call(&mia, Method::GET, "/v1/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, events) = app.get("/v1/audit?action=member.removed").await;
    let event = &events["data"][0];
    assert_eq!(event["target"]["name"], "mia@acme.example");
    let listed = event["changes"]["disabled_keys"]["after"]
        .as_array()
        .unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn teams_group_members_and_name_their_actions_in_the_audit_log() {
    let app = spawn_app().await;
    let (mia_id, mia) = app.member("mia@acme.example", "member").await;
    let (status, team) = app
        .post(
            "/v1/teams",
            json!({"name": "Payments", "members": [mia_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let (status, problem) = app.post("/v1/teams", json!({"name": "Payments"})).await;
    assert_problem(status, &problem, 409, "conflict");
    let (status, problem) = app
        .post(
            "/v1/teams",
            json!({"name": "Ghosts", "members": ["mem_00000000000000000000"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let (status, _) = app
        .session_call(&mia, Method::POST, "/v1/keys", Some(json!({"name": "k"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, events) = app.get("/v1/audit?team=Payments").await;
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.created"], "{events}");

    let path = format!("/v1/teams/{}", team["id"].as_str().unwrap());
    let (status, renamed) = app
        .patch(&path, json!({"name": "Billing", "members": []}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["members"], json!([]));
    let (status, _) = app
        .call(Method::DELETE, &path, &app.org.root_key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, events) = app.get("/v1/audit?action=team.*").await;
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["team.deleted", "team.updated", "team.created"]);

    // Another organization's root key sees none of it.
    let other = app.new_org("Other").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &other.root_key,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, members) = app
        .call(Method::GET, "/v1/members", &other.root_key, None)
        .await;
    assert!(!members.to_string().contains("mia@acme.example"));
}

#[tokio::test]
async fn a_reset_password_is_temporary_and_ends_the_members_sessions() {
    let app = spawn_app().await;
    let (mia_id, mia) = app.member("mia@acme.example", "member").await;
    let path = format!("/v1/members/{mia_id}/reset-password");
    let (status, reset) = app.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset["member"]["must_change_password"], true);
    let temporary = reset["temporary_password"].as_str().unwrap();

    let (status, _) = app.session_call(&mia, Method::GET, "/v1/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended");
    let old = app
        .post_login("mia@acme.example", "a long enough new password")
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let response = app.post_login("mia@acme.example", temporary).await;
    assert_eq!(response.headers()["location"], "/account/password");

    let (_, events) = app.get("/v1/audit?action=member.password_reset").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    assert!(!events.to_string().contains(temporary));

    // Admins cannot reset an owner's password.
    let (_, admin) = app.member("adam@acme.example", "admin").await;
    let (_, members) = app.get("/v1/members").await;
    let owner_id = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == OWNER)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = app
        .session_call(
            &admin,
            Method::POST,
            &format!("/v1/members/{owner_id}/reset-password"),
            Some(json!({})),
        )
        .await;
    assert_problem(status, &problem, 403, "owner_required");
}
