//! A console visitor over plain HTTPS (no browser): signs in with the one-time link of
//! `fuda admin console --json`, keeps the session cookie, reads pages as text and posts
//! forms with the page's CSRF token. Fast, for the console's contract tests; the browser
//! tests (tests/console_browser.rs) drive Chromium.
#![allow(dead_code)]

use std::sync::Arc;

use super::keyd::Keyd;
use super::User;
use std::path::Path;

/// A real `fuda-keyd` with an enrolled admin, an auditor (audrey) and a member of staff (sato).
pub struct Office {
    pub keyd: Keyd,
    pub work: tempfile::TempDir,
    pub admin: User,
    pub auditor: User,
    pub staff: User,
}

pub fn office() -> Office {
    let keyd = Keyd::start();
    let work = super::workdir();
    let (policy, _) = super::keyd::policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let run = admin
        .fuda(&["admin", "user", "add", "audrey", "--auditor", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let auditor = keyd.enroll("audrey", &code, &policy);
    let staff = keyd.add(&admin, "sato", "営業部", &policy);
    Office {
        keyd,
        work,
        admin,
        auditor,
        staff,
    }
}

/// A page as the server answered it.
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// Every `Set-Cookie`.
    pub cookies: Vec<String>,
    /// The body.
    pub body: String,
}

impl Page {
    /// The body with HTML's character references decoded (askama writes `<` as `&#60;`):
    /// what a person reads, to check that hostile text arrives as text. Check the raw
    /// `body` for what must never be markup.
    pub fn text(&self) -> String {
        [
            ("&#60;", "<"),
            ("&lt;", "<"),
            ("&#62;", ">"),
            ("&gt;", ">"),
            ("&#34;", "\""),
            ("&quot;", "\""),
            ("&#39;", "'"),
            ("&#x27;", "'"),
            ("&amp;", "&"),
            ("&#38;", "&"),
        ]
        .iter()
        .fold(self.body.clone(), |t, (from, to)| t.replace(from, to))
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in the page:\n{}", self.body))
            + "name=\"csrf\" value=\"".len();
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

/// A browser-less visitor of one service's console.
pub struct Visitor {
    base: String,
    agent: ureq::Agent,
    /// The session cookie (`fuda_console=…`), once signed in.
    pub session: Option<String>,
}

impl Visitor {
    /// A visitor of `keyd`'s console, not signed in.
    pub fn new(keyd: &Keyd) -> Visitor {
        let pin = fuda_keyd::tls::parse_fingerprint(&keyd.fingerprint).unwrap();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
            .redirects(0)
            .build();
        Visitor {
            base: keyd.url().trim_end_matches('/').to_owned(),
            agent,
            session: None,
        }
    }

    /// The one-time log-in link `user` gets from `fuda admin console --json`.
    pub fn link_of(user: &User) -> String {
        let run = user
            .fuda(&["admin", "console", "--json", "--no-browser"])
            .expect(0);
        let v = &run.json_lines()[0];
        assert_eq!(v["type"], "console_link", "{v}");
        v["url"].as_str().unwrap().to_owned()
    }

    /// Opens `url` (a whole URL, e.g. a log-in link), keeping a session cookie it sets.
    pub fn open(&mut self, url: &str) -> Page {
        let page = self.request("GET", url, None);
        if let Some(c) = page.cookies.iter().find(|c| c.starts_with("fuda_console=")) {
            let pair = c.split(';').next().unwrap().to_owned();
            self.session = (!pair.ends_with('=')).then_some(pair);
        }
        page
    }

    /// Signs `user` in through a fresh one-time link.
    pub fn sign_in(keyd: &Keyd, user: &User) -> Visitor {
        let mut v = Visitor::new(keyd);
        let page = v.open(&Visitor::link_of(user));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(v.session.is_some(), "no session cookie: {:?}", page.cookies);
        v
    }

    /// GETs a console path (`/console/…`).
    pub fn get(&self, path: &str) -> Page {
        self.request("GET", &format!("{}{path}", self.base), None)
    }

    /// POSTs a form (`application/x-www-form-urlencoded`) to a console path, as given:
    /// the caller adds `csrf` (or leaves it out, to test the refusal).
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request("POST", &format!("{}{path}", self.base), Some(body))
    }

    fn request(&self, method: &str, url: &str, form: Option<String>) -> Page {
        let mut req = self.agent.request(method, url);
        if let Some(c) = &self.session {
            req = req.set("Cookie", c);
        }
        let resp = match form {
            Some(body) => req
                .set("Content-Type", "application/x-www-form-urlencoded")
                .send_string(&body),
            None => req.call(),
        };
        let r = match resp {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        Page {
            status: r.status(),
            location: r.header("Location").map(str::to_owned),
            cookies: r.all("Set-Cookie").into_iter().map(str::to_owned).collect(),
            body: r.into_string().unwrap(),
        }
    }
}

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `user` can open `file` now (`fuda open` exits 0, or 2 when refused).
pub fn opens(user: &User, file: &Path) -> bool {
    let run = user.fuda(&["open", super::p(file)]);
    match run.code {
        0 => true,
        2 => false,
        _ => panic!("fuda open: {}\n{}", run.code, run.stderr),
    }
}

/// The page's text with askama's numeric entities written as the named ones, so that a
/// test can say what an escaped name looks like.
pub fn text(page: &Page) -> String {
    page.body
        .replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#38;", "&amp;")
        .replace("&#39;", "&#x27;")
}

/// Fails unless the page answered 200, showing its body.
pub fn assert_ok(page: &Page) {
    assert_eq!(page.status, 200, "{}", page.body);
}
