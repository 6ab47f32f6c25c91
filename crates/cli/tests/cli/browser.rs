//! A real browser for the dashboard tests: Debian's headless Chromium,
//! driven through chromedriver (WebDriver) with fantoccini.
//!
//! With `KEYWARD_SCREENSHOTS=<dir>` the tests also save screenshots of the
//! pages they visit there (`docs/screenshots/` is made that way; see
//! docs/dashboard.md).

use crate::support::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and a browser session; both end when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    screenshots: Option<std::path::PathBuf>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts Chromium, or returns `None` (loudly) when it is not installed
    /// outside CI. In CI (`CI=true`) a missing browser fails the test.
    pub async fn start() -> Option<Self> {
        if !(std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists())
        {
            assert!(
                std::env::var("CI").is_err(),
                "chromium and chromium-driver are required in CI: apt-get install chromium chromium-driver (.ci/run does)"
            );
            eprintln!("SKIPPED: Debian's chromium and chromium-driver are not installed");
            return None;
        }
        // Both of rustls' providers are built in (fantoccini's aws-lc-rs,
        // reqwest's ring), so the process must name one; a second call,
        // from another test, finds it named and changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            }),
        );
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let screenshots = std::env::var_os("KEYWARD_SCREENSHOTS").map(std::path::PathBuf::from);
        Some(Self {
            client,
            driver,
            screenshots,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Types into the input `css` (clearing it first).
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.select_by_value(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The text of `css`, waiting (a little) for a page still loading.
    /// Clicks `css` (a submit button, a link) and waits for the next page.
    pub async fn submit(&self, css: &str) {
        self.mark_page().await;
        self.click(css).await;
        self.wait_for_next_page(css).await;
    }

    /// Chooses `value` in the select `css`, whose script loads another
    /// page, and waits for it.
    pub async fn choose_and_wait(&self, css: &str, value: &str) {
        self.mark_page().await;
        self.select(css, value).await;
        self.wait_for_next_page(css).await;
    }

    async fn mark_page(&self) {
        self.client
            .execute("window.__keywardOldPage = true;", vec![])
            .await
            .unwrap();
    }

    async fn wait_for_next_page(&self, css: &str) {
        let started = Instant::now();
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__keywardOldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "using {css} led to no new page"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await,
                Err(e) => Err(e),
            };
            match found {
                Ok(text) => return text,
                Err(e) if started.elapsed() > Duration::from_secs(5) => panic!("no {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The visible text of the whole page.
    pub async fn page(&self) -> String {
        self.text("body").await
    }

    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// The session cookie, for calling the API as the signed-in member.
    pub async fn session_cookie(&self) -> String {
        let cookie = self
            .client
            .get_named_cookie("keyward_session")
            .await
            .unwrap();
        format!("keyward_session={}", cookie.value())
    }

    /// Checks what every page owes its readers: a label on each form control,
    /// and no sideways scrolling of the page at the current width.
    pub async fn check_page(&self) {
        let unlabelled = self
            .client
            .execute(
                "return [...document.querySelectorAll('input, select, textarea')]
                   .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
                   .map(e => e.name || e.id);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            unlabelled,
            json!([]),
            "controls without a label on {}",
            self.path().await
        );
        // Nothing the page loaded came from anywhere but this server.
        let elsewhere = self
            .client
            .execute(
                "return performance.getEntriesByType('resource')
                   .map(e => e.name)
                   .filter(n => !n.startsWith(location.origin + '/'));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            elsewhere,
            json!([]),
            "{} loaded from another origin",
            self.path().await
        );
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        if overflow.as_i64().unwrap() > 0 {
            // Name the elements whose hiding alone ends the overflow (the
            // innermost last), to find it without a screen.
            let wide = self
                .client
                .execute(
                    "const wide = () => document.documentElement.scrollWidth - window.innerWidth;
                     return [...document.querySelectorAll('body *')].filter(e => {
                       const before = e.style.display;
                       e.style.display = 'none';
                       const fits = wide() <= 0;
                       e.style.display = before;
                       return fits;
                     }).slice(-3).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 60));",
                    vec![],
                )
                .await
                .unwrap();
            panic!(
                "{} scrolls sideways by {overflow}px: {wide}",
                self.path().await
            );
        }
    }

    /// Makes the window `width` pixels wide.
    pub async fn resize(&self, width: u32) {
        self.client.set_window_size(width, 900).await.unwrap();
    }

    /// Saves a screenshot named `name` when screenshots were asked for.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = &self.screenshots else {
            return;
        };
        std::fs::create_dir_all(dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}
