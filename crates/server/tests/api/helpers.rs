//! `spawn_app()` and typed request helpers.

use chrono::{DateTime, Duration, Utc};
use keyward_core::clock::ManualClock;
use keyward_server::bootstrap::create_organization;
use keyward_server::{Application, Settings};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration as StdDuration;

/// A running server and the organization it was started with.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub org: TestOrg,
    pub state: keyward_server::state::AppState,
    pub _data_dir: tempfile::TempDir,
    pub _database: Option<TestDatabase>,
}

/// A PostgreSQL database of the test's own, dropped with it.
pub struct TestDatabase {
    name: String,
}

const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn psql(sql: &str) -> Result<(), String> {
    let output = std::process::Command::new("psql")
        .args([POSTGRES_ADMIN_URL, "-q", "-c", sql])
        .output()
        .map_err(|e| format!("running psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl TestDatabase {
    /// Creates a fresh database; this suite needs PostgreSQL and says so.
    fn create() -> (Self, String) {
        let suffix = keyward_core::base62::random(12).unwrap().to_lowercase();
        let name = format!("keyward_api_{suffix}");
        if let Err(error) = psql(&format!("CREATE DATABASE {name}")) {
            panic!(
                "the PostgreSQL run of the API suite needs PostgreSQL at 127.0.0.1:5432: {error}"
            );
        }
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        (Self { name }, url)
    }
}

impl TestDatabase {
    /// The database's URL.
    #[allow(dead_code, reason = "used by the PostgreSQL suite only")]
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// An organization and its `*` root key.
#[derive(Clone)]
pub struct TestOrg {
    pub id: String,
    pub root_key: String,
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(data_dir.path().to_path_buf());
    settings.addr = "127.0.0.1:0".parse().unwrap();
    // Counters are written within 200 ms, in four shards.
    settings.usage = keyward_core::usage::Schedule {
        flush: StdDuration::from_millis(50),
        resolution: StdDuration::from_millis(200),
    };
    let database = crate::backend::POSTGRES.then(|| {
        let (database, url) = TestDatabase::create();
        settings.database_url = Some(url);
        database
    });
    configure(&mut settings);
    let clock = Arc::new(ManualClock::new(start_time()));
    let app = Application::build(settings, clock.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let mut test = TestApp {
        base,
        http: reqwest::Client::new(),
        clock,
        org: TestOrg {
            id: String::new(),
            root_key: String::new(),
        },
        state,
        _data_dir: data_dir,
        _database: database,
    };
    test.org = test.new_org("Acme").await;
    test
}

impl TestApp {
    /// Creates another, fully separate organization.
    pub async fn new_org(&self, name: &str) -> TestOrg {
        let created = create_organization(
            self.state.store.as_ref(),
            &self.state.master_key,
            self.clock.as_ref(),
            "keyward org create",
            name,
            &format!("owner@{}.example", name.to_lowercase()),
            Some(SecretString::from(
                "correct horse battery staple".to_owned(),
            )),
        )
        .await
        .unwrap();
        TestOrg {
            id: created.org_id.to_string(),
            root_key: created.root_key.expose().to_owned(),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// A request with `root_key` as bearer, and a JSON body when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        root_key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(root_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, &self.org.root_key.clone(), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, &self.org.root_key.clone(), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, &self.org.root_key.clone(), Some(body))
            .await
    }

    /// Creates a key and returns the response body (with `key`).
    pub async fn create_key(&self, body: Value) -> Value {
        let (status, key) = self.post("/v1/keys", body).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key
    }

    /// Creates a project and returns it.
    pub async fn create_project(&self, name: &str, prefix: &str, apis: &[&str]) -> Value {
        let (status, project) = self
            .post(
                "/v1/projects",
                json!({"name": name, "key_prefix": prefix, "apis": apis}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{project}");
        project
    }

    /// A root key of the default organization with exactly `scopes`.
    pub async fn root_key_with(&self, scopes: &[&str]) -> String {
        let management = self.management_project().await;
        let key = self
            .create_key(json!({"name": "scoped root", "project_id": management, "scopes": scopes}))
            .await;
        key["key"].as_str().unwrap().to_owned()
    }

    pub async fn management_project(&self) -> String {
        let (_, projects) = self.get("/v1/projects").await;
        projects["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["management"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /v1/verify`; returns the answer body.
    pub async fn verify(&self, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/verify", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The code `POST /v1/verify` answers for `key`.
    pub async fn verify_code(&self, key: &str) -> String {
        self.verify(json!({"key": key})).await["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Asserts a problem+json answer with `status` and `code`.
pub fn assert_problem(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected_status, "{body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{body}"
    );
}

/// A member signed in to the dashboard: their session cookie and its CSRF token.
pub struct SignedIn {
    pub cookie: String,
    pub csrf: String,
}

/// The value of `name="<field>" value="…"` in a page.
pub fn hidden_field(html: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {field} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The `name=value` of the cookie `name` among a response's `Set-Cookie`s.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

impl TestApp {
    /// A client that does not follow redirects, so that they can be checked.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Posts the sign-in form as a browser would; returns the response.
    pub async fn post_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_login_with(email, password, &[]).await
    }

    /// Posts the sign-in form with more fields (`next`, `organization`).
    pub async fn post_login_with(
        &self,
        email: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let browser = self.browser();
        let page = browser
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let login_cookie = set_cookie(&page, "keyward_login").unwrap();
        let login_cookie = login_cookie.split(';').next().unwrap().to_owned();
        let csrf = hidden_field(&page.text().await.unwrap(), "csrf");
        browser
            .post(format!("{}/login", self.base))
            .header("cookie", login_cookie)
            .form(
                &[
                    ("csrf", csrf.as_str()),
                    ("email", email),
                    ("password", password),
                ]
                .into_iter()
                .chain(extra.iter().copied())
                .collect::<Vec<_>>(),
            )
            .send()
            .await
            .unwrap()
    }

    /// Signs in; the session's CSRF token is read off a page, as a form would.
    pub async fn sign_in(&self, email: &str, password: &str) -> SignedIn {
        let response = self.post_login(email, password).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in failed");
        let cookie = set_cookie(&response, "keyward_session").unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let page = self
            .browser()
            .get(format!("{}/account/password", self.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden_field(&page, "csrf");
        SignedIn { cookie, csrf }
    }

    /// A dashboard page as `session` sees it (redirects not followed).
    pub async fn page(&self, session: &SignedIn, path: &str) -> (StatusCode, String) {
        let response = self
            .browser()
            .get(format!("{}{path}", self.base))
            .header("cookie", &session.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Adds a member with `role` through the API; signs them in and replaces
    /// their temporary password. Returns their id and session.
    pub async fn member(&self, email: &str, role: &str) -> (String, SignedIn) {
        let (status, created) = self
            .post("/v1/members", json!({"email": email, "role": role}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let temporary = created["temporary_password"].as_str().unwrap().to_owned();
        let session = self.sign_in(email, &temporary).await;
        let changed = self
            .browser()
            .post(format!("{}/account/password", self.base))
            .header("cookie", &session.cookie)
            .form(&[
                ("csrf", session.csrf.as_str()),
                ("current", temporary.as_str()),
                ("password", "a long enough new password"),
                ("password_again", "a long enough new password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), StatusCode::SEE_OTHER);
        (
            created["member"]["id"].as_str().unwrap().to_owned(),
            session,
        )
    }

    /// An API call made with a dashboard session (and its CSRF header).
    pub async fn session_call(
        &self,
        session: &SignedIn,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &session.cookie)
            .header("x-csrf-token", &session.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }
}

/// Polls `check` until it holds; fails after 30 s, which only a broken
/// feature takes however slow the machine (work done behind the request:
/// usage, email, webhooks).
pub async fn eventually(mut check: impl AsyncFnMut() -> bool, what: &str) {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < StdDuration::from_secs(30),
            "{what} did not happen"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

impl TestApp {
    /// Waits until the key `id` shows a use at `at` or later (usage is
    /// written behind) and returns the key.
    pub async fn wait_for_use(&self, id: &str, at: DateTime<Utc>) -> Value {
        let path = format!("/v1/keys/{id}");
        let used_since = |key: &Value| {
            key["last_used_at"]
                .as_str()
                .is_some_and(|used| DateTime::parse_from_rfc3339(used).unwrap() >= at)
        };
        eventually(
            async || used_since(&self.get(&path).await.1),
            &format!("a use of {id} at {at}"),
        )
        .await;
        self.get(&path).await.1
    }
}
