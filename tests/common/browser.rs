//! A real browser for the console's tests: Debian's headless Chromium driven over
//! WebDriver by Debian's `chromedriver`, trusting exactly one certificate — the key
//! service's.
//!
//! # Using it in a test
//!
//! ```ignore
//! mod common;
//! #[path = "common/browser.rs"]
//! mod browser;
//!
//! use browser::Browser;
//! use common::keyd::Keyd;
//!
//! #[test]
//! fn an_admin_sees_the_overview() {
//!     let keyd = Keyd::start();
//!     let admin = keyd.enroll("admin", &keyd.admin_code, &policy);
//!     let Some(browser) = Browser::start(&keyd) else { return }; // skipped locally
//!     browser.log_in(&admin);                 // `fuda admin console --json --no-browser`
//!     browser.open("/console?lang=en");       // a path on the service, or a whole URL
//!     assert_eq!(browser.text("h1"), "Overview");
//!     browser.fill("input[name=q]", "図面");  // CSS selectors everywhere
//!     browser.click("button[name=revoke]");
//!     let answer = browser.post("/console/…", &[("csrf", &browser.csrf()), ("user", "sato")]);
//!     assert_eq!(answer.status, 403, "{}", answer.text());
//!     browser.assert_accessible();            // axe-core + the keyboard walk
//!     browser.screenshot(&docs.join("overview.en.png"));
//! }
//! ```
//!
//! The helpers of [`Browser`] (a browser starts in about a second: start one per test,
//! and a second one for a second person):
//!
//! - pages: `open` (a path on the service or a whole URL), `url`, `path`, `log_in`
//!   (`Visitor::link_of` of tests/common/console.rs alone gives the link), `wait_for_path`;
//! - elements, the first match, waiting up to [`WAIT`]: `click`, `fill`, `select`, `text`,
//!   `attr`, `wait_for`; and `accept_dialog` for a `confirm()`;
//! - now, without waiting: `exists`, `count`, `texts`, `page_text`, `html`;
//! - the session: `cookies`, `cookie`, `delete_cookies`, `csrf` (the page's token);
//! - requests sent by a script on the service's origin with the browser's cookies,
//!   following redirects: `post` (a form POST: a forged or token-less change) and `get`
//!   (a download: status, content type and bytes). They run in a tab of their own: the
//!   console's CSP forbids `fetch()` on its pages (it does not stop WebDriver's own
//!   scripts: `script`, `script_async`);
//! - pictures: `screenshot` (the whole page as PNG), `screenshots` (a page in both
//!   languages, into docs/console/ with `FUDA_CONSOLE_SCREENSHOTS=1`);
//! - accessibility: `assert_accessible`, or its halves `axe_violations` and
//!   `keyboard_problems`.
//!
//! The module is included by path (not from `common/mod.rs`) so that only the console's
//! test binaries compile the WebDriver client.
//!
//! - [`Browser::start`] returns `None` (the test returns, "skipping" on stderr) when
//!   `chromium` or `chromedriver` is missing on a developer's machine; with
//!   `FUDA_REQUIRE_TOOLS=1` (CI) that is a failure. Each `Browser` has its own
//!   `chromedriver` on a port it picked itself (`--port=0`), its own temporary profile, and
//!   stops both when dropped (the session first, so Chromium exits with it).
//! - TLS: Chromium gets `--ignore-certificate-errors-spki-list` with the SHA-256 of the
//!   service certificate's public key (`DATA/tls/cert.pem`), so that certificate and no
//!   other is accepted without a CA — never the blanket `--ignore-certificate-errors`.
//! - Every helper panics with what it looked for and the page it was on; element look-ups
//!   wait up to [`WAIT`] for the element to appear.
//! - [`Browser::assert_accessible`] runs axe-core (fetched from the npm registry by
//!   `scripts/axe-fetch` into the target directory, never committed; a missing copy skips
//!   locally and fails under `FUDA_REQUIRE_TOOLS=1`) and fails on any violation of serious
//!   or critical impact; then it walks the page with the Tab key and fails unless every
//!   link, button and form control is reached in document order and has an accessible name
//!   (Chromium's own, from its accessibility tree).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::common::console::Visitor;
use crate::common::keyd::Keyd;
use crate::common::{require_tool, User};

/// How long a look-up waits for an element to appear.
pub const WAIT: Duration = Duration::from_secs(10);

/// The window every page is shown in (and screenshots are taken at).
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

/// A cookie as the browser holds it.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, as the server set it (`None` here when unset).
    pub same_site: Option<String>,
    pub path: Option<String>,
    /// When the browser forgets it (Unix seconds); `None` for a cookie that ends with
    /// the browser session.
    pub expires: Option<i64>,
}

/// The answer to a request sent by the page's own `fetch()`.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The final status (after redirects).
    pub status: u16,
    /// The final URL (after redirects).
    pub url: String,
    /// Whether a redirect was followed.
    pub redirected: bool,
    /// The `Content-Type` of the answer.
    pub content_type: String,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl Fetched {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One serious or critical axe-core finding.
#[derive(Debug, Clone)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    /// The offending elements (CSS path and HTML).
    pub nodes: Vec<String>,
}

/// A headless Chromium with its own chromedriver and profile.
pub struct Browser {
    /// The WebDriver session; `None` once closed.
    client: Option<Client>,
    rt: tokio::runtime::Runtime,
    driver: Driver,
    /// The service's URL (`https://127.0.0.1:PORT`).
    base: String,
}

impl Browser {
    /// Starts a browser that trusts `keyd`'s certificate; `None` (locally) when
    /// Chromium or chromedriver is not installed.
    pub fn start(keyd: &Keyd) -> Option<Browser> {
        let (chromium, chromedriver) = (which("chromium"), which("chromedriver"));
        if !require_tool(
            "chromium and chromedriver (Debian chromium, chromium-driver)",
            chromium.is_some() && chromedriver.is_some(),
        ) {
            return None;
        }
        let spki = spki_sha256(&keyd.dir().join("tls/cert.pem"));
        let driver = Driver::start(&chromedriver.unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let profile = driver.profile.path().join("profile");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.unwrap(),
                "args": [
                    "--headless=new",
                    // Root in CI: Chromium's sandbox refuses to run as root.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--password-store=basic",
                    "--lang=ja",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", profile.display()),
                    // Only the service's own key; Chromium honours this flag only with
                    // a --user-data-dir of its own.
                    format!("--ignore-certificate-errors-spki-list={spki}"),
                ],
                "prefs": { "intl.accept_languages": "ja,en" },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = rt
            .block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&driver.url),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start a Chromium session through chromedriver: {e}\n{}",
                    driver.log()
                )
            });
        Some(Browser {
            client: Some(client),
            rt,
            driver,
            base: keyd.url(),
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser session is open")
    }

    /// `path` on the service (`/console/…`), or `path` itself when it is a whole URL
    /// (`https:`, `data:` …).
    pub fn absolute(&self, path: &str) -> String {
        if ["https:", "http:", "data:", "about:"]
            .iter()
            .any(|scheme| path.starts_with(scheme))
        {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Opens a page (a path on the service or a whole URL) and waits until it loaded.
    pub fn open(&self, path: &str) {
        let url = self.absolute(path);
        self.rt
            .block_on(self.client().goto(&url))
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The URL of the page shown now.
    pub fn url(&self) -> String {
        self.rt
            .block_on(self.client().current_url())
            .expect("the current URL")
            .to_string()
    }

    /// The path (and query) of the page shown now: `/console/login?…`.
    pub fn path(&self) -> String {
        let url = self
            .rt
            .block_on(self.client().current_url())
            .expect("the current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Logs `user` in through the link `fuda admin console --json --no-browser` gives,
    /// waits until the log-in page has led on to the overview, and returns the link (it
    /// has been used once then).
    pub fn log_in(&self, user: &User) -> String {
        let link = Visitor::link_of(user);
        self.open(&link);
        self.wait_for_path("/console");
        link
    }

    /// Waits up to [`WAIT`] until the page shown is at `path` (with any query).
    pub fn wait_for_path(&self, path: &str) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let now = self.path();
            if now.split('?').next() == Some(path) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still on {now}, not {path}, after {WAIT:?}; the page says:\n{}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The elements `css` matches now (no waiting).
    fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.rt
            .block_on(self.client().find_all(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("bad selector `{css}`: {e}"))
    }

    /// The first element `css` matches, waiting up to [`WAIT`] for it.
    fn one(&self, css: &str) -> fantoccini::elements::Element {
        let found = self.rt.block_on(async {
            let wait = self.client().wait().at_most(WAIT);
            wait.for_element(Locator::Css(css)).await
        });
        found.unwrap_or_else(|e| {
            panic!(
                "no element matches `{css}` on {} within {WAIT:?} ({e})\npage text:\n{}",
                self.url(),
                self.page_text()
            )
        })
    }

    /// Whether `css` matches an element now (no waiting: for "is absent" checks, open the
    /// page first).
    pub fn exists(&self, css: &str) -> bool {
        !self.all(css).is_empty()
    }

    /// How many elements `css` matches now.
    pub fn count(&self, css: &str) -> usize {
        self.all(css).len()
    }

    /// Waits up to [`WAIT`] for an element matching `css`.
    pub fn wait_for(&self, css: &str) {
        self.one(css);
    }

    /// Clicks the first element matching `css` (and waits for a page it opens to load).
    /// An element found on a page that was still being replaced (a form just submitted)
    /// is stale: it is looked for again on the new page, a few times.
    pub fn click(&self, css: &str) {
        for attempt in 1.. {
            let e = self.one(css);
            match self.rt.block_on(e.click()) {
                Ok(()) => return,
                Err(err) if attempt < 5 && err.to_string().contains("stale element") => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(err) => panic!("cannot click `{css}` on {}: {err}", self.url()),
            }
        }
    }

    /// Replaces the value of the form field matching `css` with `text` (typed as keys).
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.one(css);
        self.rt
            .block_on(async {
                e.clear().await?;
                e.send_keys(text).await
            })
            .unwrap_or_else(|err| panic!("cannot fill `{css}` on {}: {err}", self.url()));
    }

    /// Chooses the option whose value is `value` in the `<select>` matching `css`.
    pub fn select(&self, css: &str, value: &str) {
        let e = self.one(css);
        self.rt
            .block_on(e.select_by_value(value))
            .unwrap_or_else(|err| {
                panic!(
                    "cannot choose {value:?} in `{css}` on {}: {err}",
                    self.url()
                )
            });
    }

    /// Accepts the dialog (`confirm()`, `alert()`) the page shows, returning its text.
    pub fn accept_dialog(&self) -> String {
        self.rt
            .block_on(async {
                let c = self.client();
                let text = c.get_alert_text().await?;
                c.accept_alert().await?;
                Ok::<_, fantoccini::error::CmdError>(text)
            })
            .unwrap_or_else(|e| panic!("no dialog on {}: {e}", self.url()))
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let e = self.one(css);
        self.rt.block_on(e.text()).expect("element text")
    }

    /// The visible texts of every element matching `css` now.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.all(css)
            .into_iter()
            .map(|e| self.rt.block_on(e.text()).expect("element text"))
            .collect()
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.one(css);
        self.rt.block_on(e.attr(name)).expect("element attribute")
    }

    /// The visible text of the whole page.
    pub fn page_text(&self) -> String {
        self.script(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The page's HTML as the browser parsed it.
    pub fn html(&self) -> String {
        self.rt
            .block_on(self.client().source())
            .expect("page source")
    }

    /// Runs JavaScript in the page (a function body: `arguments`, `return`).
    pub fn script(&self, js: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.client().execute(js, args))
            .unwrap_or_else(|e| panic!("script failed on {}: {e}", self.url()))
    }

    /// Runs asynchronous JavaScript: the last argument is the callback to call with the
    /// result.
    pub fn script_async(&self, js: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.client().execute_async(js, args))
            .unwrap_or_else(|e| panic!("script failed on {}: {e}", self.url()))
    }

    /// The CSRF token of the page shown now (the first hidden `csrf` field).
    pub fn csrf(&self) -> String {
        self.attr("input[name=csrf]", "value")
            .expect("the csrf field has a value")
    }

    /// Sends `fields` as a form POST (`application/x-www-form-urlencoded`) to `path`
    /// from a script on the service's origin, with the browser's cookies: for "a POST
    /// without a CSRF token is refused".
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Fetched {
        let fields: Vec<Value> = fields.iter().map(|(k, v)| json!([k, v])).collect();
        self.fetch("POST", path, Some(Value::Array(fields)))
    }

    /// GETs `path` from a script on the service's origin, with the browser's cookies (a
    /// download, or a page whose status matters), without showing it.
    pub fn get(&self, path: &str) -> Fetched {
        self.fetch("GET", path, None)
    }

    /// Sends a request with `fetch()` from a tab of its own on the service's origin:
    /// the console's pages forbid `fetch()` (their CSP has no `connect-src`), the API's
    /// answers (`/v1/health`) do not, and the cookies are the browser's all the same. The
    /// page shown stays as it is.
    fn fetch(&self, method: &str, path: &str, fields: Option<Value>) -> Fetched {
        let url = self.absolute(path);
        let args = vec![json!(url), json!(method), fields.unwrap_or(Value::Null)];
        let v = self.rt.block_on(async {
            let c = self.client();
            let shown = c.window().await?;
            let tab = c.new_window(true).await?;
            c.switch_to_window(tab.handle).await?;
            c.goto(&format!("{}/v1/health", self.base)).await?;
            let v = c.execute_async(FETCH_JS, args).await;
            c.close_window().await?;
            c.switch_to_window(shown).await?;
            v
        });
        let v = v.unwrap_or_else(|e| panic!("fetch() of {url}: {e}"));
        if let Some(e) = v.get("error") {
            panic!("fetch() of {url} failed: {e}");
        }
        use base64::Engine;
        Fetched {
            status: v["status"].as_u64().expect("status") as u16,
            url: v["url"].as_str().unwrap_or_default().to_owned(),
            redirected: v["redirected"].as_bool().unwrap_or(false),
            content_type: v["type"].as_str().unwrap_or_default().to_owned(),
            body: base64::engine::general_purpose::STANDARD
                .decode(v["body"].as_str().unwrap_or_default())
                .expect("the body as base64"),
        }
    }

    /// Every cookie the browser holds for the page shown now (`HttpOnly` ones included).
    pub fn cookies(&self) -> Vec<Cookie> {
        let cookies = self
            .rt
            .block_on(self.client().get_all_cookies())
            .expect("cookies");
        cookies
            .into_iter()
            .map(|c| Cookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_owned),
                expires: c
                    .expires()
                    .and_then(|e| e.datetime())
                    .map(|t| t.unix_timestamp()),
            })
            .collect()
    }

    /// The cookie called `name`, if the browser holds it.
    pub fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    /// Forgets every cookie of the page's site (a browser that lost its session).
    pub fn delete_cookies(&self) {
        self.rt
            .block_on(self.client().delete_all_cookies())
            .expect("delete cookies");
    }

    /// Writes a PNG of the whole page (not only the window) to `path`.
    pub fn screenshot(&self, path: &Path) {
        // The window's height for a viewport as tall as the page: the window is taller
        // than its viewport by the browser's own frame.
        let (_, window) = self
            .rt
            .block_on(self.client().get_window_size())
            .expect("window size");
        let sizes = self.script(
            "return [Math.ceil(document.documentElement.scrollHeight), window.innerHeight];",
            vec![],
        );
        let page = sizes[0].as_u64().unwrap_or(HEIGHT.into());
        let viewport = sizes[1].as_u64().unwrap_or(window);
        let height = (page + window.saturating_sub(viewport)).clamp(HEIGHT.into(), 8000) as u32;
        let png = self.rt.block_on(async {
            let c = self.client();
            c.set_window_size(WIDTH, height).await?;
            let png = c.screenshot().await;
            c.set_window_size(WIDTH, HEIGHT).await?;
            png
        });
        let png = png.unwrap_or_else(|e| panic!("screenshot of {}: {e}", self.url()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Opens `path` in Japanese and then in English (`lang=ja`, `lang=en` added to its
    /// query), checks each page says it is in that language (`<html lang>`), and with
    /// `FUDA_CONSOLE_SCREENSHOTS=1` (scripts/console-screenshots) saves
    /// `docs/console/NAME.ja.png` and `NAME.en.png`.
    pub fn screenshots(&self, path: &str, name: &str) {
        for lang in ["ja", "en"] {
            let sep = if path.contains('?') { '&' } else { '?' };
            self.open(&format!("{path}{sep}lang={lang}"));
            let shown = self.script("return document.documentElement.lang;", vec![]);
            assert_eq!(shown, lang, "<html lang> of {}", self.url());
            if let Some(dir) = screenshots_dir() {
                self.screenshot(&dir.join(format!("{name}.{lang}.png")));
            }
        }
    }

    /// axe-core's serious and critical violations on the page shown now; `None` (locally)
    /// when axe-core was not fetched.
    pub fn axe_violations(&self) -> Option<Vec<Violation>> {
        let axe = axe_source()?;
        self.script(&axe, vec![]);
        let v = self.script_async(
            r#"const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ') + '  ' + n.html)}))))
  .catch(e => done({error: String(e)}));"#,
            vec![],
        );
        if let Some(e) = v.get("error") {
            panic!("axe-core failed on {}: {e}", self.url());
        }
        let all = v.as_array().expect("axe violations");
        Some(
            all.iter()
                .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
                .map(|v| Violation {
                    id: v["id"].as_str().unwrap_or_default().to_owned(),
                    impact: v["impact"].as_str().unwrap_or_default().to_owned(),
                    help: v["help"].as_str().unwrap_or_default().to_owned(),
                    nodes: v["nodes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|n| n.as_str().unwrap_or_default().to_owned())
                        .collect(),
                })
                .collect(),
        )
    }

    /// The problems of the keyboard walk: each focusable element (links, buttons, form
    /// controls, `tabindex` ≥ 0, visible and enabled) without an accessible name, then
    /// where pressing Tab once per element leaves document order (a positive `tabindex`,
    /// an element the keyboard cannot reach). Empty when all is well.
    pub fn keyboard_problems(&self) -> Vec<String> {
        let expected = self.script(FOCUSABLE_JS, vec![]);
        let expected = expected.as_array().expect("focusable elements").clone();
        let describe = |e: &Value| {
            self.script(
                "return arguments[0] ? arguments[0].outerHTML.slice(0, 200) : 'nothing';",
                vec![e.clone()],
            )
            .as_str()
            .unwrap_or_default()
            .to_owned()
        };
        let mut problems: Vec<String> = expected
            .iter()
            .filter(|e| self.accessible_name(e).trim().is_empty())
            .map(|e| format!("no accessible name: {}", describe(e)))
            .collect();
        // Start from the top of the document, focus nowhere.
        self.script(
            "if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        );
        let mut before = Value::Null;
        for (i, want) in expected.iter().enumerate() {
            // A date field takes one Tab per part (year, month, day) before the next
            // element: focus staying on the element before is no fault.
            let mut got = self.press_tab();
            for _ in 0..4 {
                if got != before || before.is_null() {
                    break;
                }
                got = self.press_tab();
            }
            if &got != want {
                problems.push(format!(
                    "Tab {}: expected focus on {} but it is on {}",
                    i + 1,
                    describe(want),
                    describe(&got)
                ));
                break;
            }
            before = got;
        }
        problems
    }

    /// Presses Tab; the element that has the focus then.
    fn press_tab(&self) -> Value {
        let tab = KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            });
        self.rt
            .block_on(self.client().perform_actions(tab))
            .expect("press Tab");
        self.script("return document.activeElement;", vec![])
    }

    /// Chromium's accessible name of an element (WebDriver "Get Computed Label").
    fn accessible_name(&self, element: &Value) -> String {
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element reference")
            .to_owned();
        let v = self
            .rt
            .block_on(self.client().issue_cmd(ComputedLabel(id)))
            .expect("computed label");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Fails the test, naming each problem, unless the page shown now passes axe-core
    /// (no serious or critical violation) and the keyboard walk.
    pub fn assert_accessible(&self) {
        let mut problems: Vec<String> = Vec::new();
        match self.axe_violations() {
            Some(violations) => problems.extend(violations.iter().map(|v| {
                format!(
                    "axe {} ({}): {}\n    {}",
                    v.id,
                    v.impact,
                    v.help,
                    v.nodes.join("\n    ")
                )
            })),
            None => eprintln!("skipping axe-core on {}: run scripts/axe-fetch", self.url()),
        }
        problems.extend(self.keyboard_problems());
        assert!(
            problems.is_empty(),
            "accessibility of {}:\n{}",
            self.url(),
            problems.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver stop Chromium; the driver goes next.
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
    }
}

/// `fetch(url, {method, body: fields})`: the answer's status, final URL, content type
/// and bytes (base64).
const FETCH_JS: &str = r#"const [url, method, fields, done] = arguments;
const init = {method, credentials: 'same-origin'};
if (fields) init.body = new URLSearchParams(fields);
fetch(url, init).then(async r => {
  const reader = new FileReader();
  reader.onload = () => done({status: r.status, url: r.url, redirected: r.redirected,
    type: r.headers.get('content-type') || '', body: reader.result.split(',')[1] || ''});
  reader.onerror = () => done({error: String(reader.error)});
  reader.readAsDataURL(await r.blob());
}).catch(e => done({error: String(e)}));"#;

/// The focusable elements of the page in document order, as a keyboard user meets them
/// (visible, enabled, not taken out of the tab order).
const FOCUSABLE_JS: &str = r#"
const sel = 'a[href], area[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]';
return [...document.querySelectorAll(sel)].filter(e => {
  if (e.disabled || e.closest('[inert]')) return false;
  if (e.hasAttribute('tabindex') && e.tabIndex < 0) return false;
  const s = getComputedStyle(e);
  return s.visibility !== 'hidden' && s.display !== 'none' && e.getClientRects().length > 0;
});"#;

/// WebDriver's "Get Computed Label", which fantoccini has no method for.
#[derive(Debug)]
struct ComputedLabel(String);

impl fantoccini::wd::WebDriverCompatibleCommand for ComputedLabel {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/element/{}/computedlabel",
            session.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::GET, None)
    }
}

/// `docs/console/` when `FUDA_CONSOLE_SCREENSHOTS=1`: where [`Browser::screenshots`] saves
/// the pictures docs/console.md shows.
pub fn screenshots_dir() -> Option<PathBuf> {
    (std::env::var_os("FUDA_CONSOLE_SCREENSHOTS").is_some_and(|v| v == "1"))
        .then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console"))
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the PEM certificate at `cert`: what Chromium's
/// `--ignore-certificate-errors-spki-list` names.
pub fn spki_sha256(cert: &Path) -> String {
    use base64::Engine;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let der =
        CertificateDer::from_pem_file(cert).unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
    let parsed = webpki::EndEntityCert::try_from(&der)
        .unwrap_or_else(|e| panic!("{}: not a certificate: {e}", cert.display()));
    let spki = parsed.subject_public_key_info();
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// axe-core as `scripts/axe-fetch` left it in the target directory; `None` when it is
/// missing here (a failure under `FUDA_REQUIRE_TOOLS=1`).
fn axe_source() -> Option<String> {
    let path = axe_path();
    let text = std::fs::read_to_string(&path).ok();
    require_tool(
        &format!("axe-core at {} (scripts/axe-fetch)", path.display()),
        text.is_some(),
    )
    .then_some(text?)
}

/// `TARGET/axe-core/axe.min.js`, beside the profile directory the tests run from.
pub fn axe_path() -> PathBuf {
    let profile_dir = crate::common::fuda_bin()
        .parent()
        .expect("target profile dir")
        .to_owned();
    profile_dir
        .parent()
        .expect("target dir")
        .join("axe-core/axe.min.js")
}

/// `name` found on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A chromedriver process on 127.0.0.1 and the temporary folder of its log and profile.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a port of the system's choosing. It listens on IPv4 and
    /// IPv6 with the same port, and gives up when the port the system chose for one is
    /// taken on the other (on a machine busy with connections): that start is made again.
    fn start(chromedriver: &Path) -> Driver {
        let mut failed = String::new();
        for _ in 0..5 {
            match Driver::start_once(chromedriver) {
                Ok(driver) => return driver,
                Err(log) => failed = log,
            }
        }
        panic!(
            "chromedriver did not say which port it listens on (5 starts); its last log:\n{failed}"
        );
    }

    /// One start: the driver, or chromedriver's log.
    fn start_once(chromedriver: &Path) -> Result<Driver, String> {
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let mut child = Command::new(chromedriver)
            // Chromium on Linux takes its own language (date fields, its error pages)
            // from LANGUAGE, not from --lang: a Japanese office's browser.
            .env("LANGUAGE", "ja")
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromedriver.display()));
        // Read the port from its first lines, then keep draining its output (a closed
        // pipe would kill it with SIGPIPE when it next prints).
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // "ChromeDriver was started successfully on port 39827."
                if let Some(rest) = line.split("successfully on port ").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('.').parse::<u16>().ok());
                }
            }
        });
        // The sender is dropped when chromedriver exits without saying: no full wait.
        let port = rx.recv_timeout(WAIT).ok().flatten();
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        };
        Ok(Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        })
    }

    /// The last lines of chromedriver's log, for a failure message.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.profile.path().join("chromedriver.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
