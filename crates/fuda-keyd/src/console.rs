//! The browser console's credentials: one-time log-in links and the sessions they open.
//!
//! An enrolled admin or auditor asks for a log-in link (`fuda admin console`); the link's
//! secret works once, for [`LINK_TTL`] seconds, and opens a session bound to that person.
//! A session lives at most [`SESSION_MAX`] seconds and dies after [`SESSION_IDLE`]
//! seconds without a request. Only SHA-256 hashes of the secrets are stored
//! ([`directory::secret_hash`]); the CSRF token of a session is derived from its secret
//! ([`csrf_token`]), so nothing else needs storing and every replica can check it.

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::directory;

/// How long a log-in link works, in seconds.
pub const LINK_TTL: i64 = 5 * 60;
/// A session ends after this many seconds without a request.
pub const SESSION_IDLE: i64 = 30 * 60;
/// A session ends this many seconds after log-in, however busy.
pub const SESSION_MAX: i64 = 12 * 3600;
/// A session's last-use time is written at most this often (seconds), so that reading
/// pages does not write to the store on every request.
pub const TOUCH_EVERY: i64 = 60;

/// The prefix of a log-in link's secret.
pub const LINK_PREFIX: &str = "fudacl";
/// The prefix of a session's secret (the cookie's value).
pub const SESSION_PREFIX: &str = "fudacs";

/// What a console credential is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// A one-time log-in link.
    Link,
    /// A signed-in browser session.
    Session,
}

impl CredentialKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Link => "link",
            CredentialKind::Session => "session",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<CredentialKind> {
        match s {
            "link" => Some(CredentialKind::Link),
            "session" => Some(CredentialKind::Session),
            _ => None,
        }
    }
}

/// A stored console credential (the secret itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    /// Whose it is.
    pub user: String,
    /// Link or session.
    pub kind: CredentialKind,
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// When it stops working whatever happens (Unix seconds).
    pub expires_at: i64,
    /// When it was last used (Unix seconds).
    pub last_seen: i64,
}

impl Credential {
    /// Whether it still works at `now`: before its absolute expiry, and (a session) used
    /// within the idle limit.
    pub fn live(&self, now: i64) -> bool {
        now < self.expires_at
            && (self.kind == CredentialKind::Link || now - self.last_seen < SESSION_IDLE)
    }
}

/// A one-time log-in link, as the admin receives it.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginLink {
    /// The link's secret (goes into `/console/login?t=…`).
    pub token: String,
    /// Whose session it opens.
    pub user: String,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
}

impl std::fmt::Debug for LoginLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLink")
            .field("token", &"<redacted>")
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A log-in link as `fuda admin console` shows it: the whole URL to open.
#[derive(Clone, Serialize, Deserialize)]
pub struct ConsoleLink {
    /// `https://service/console/login?t=…`; it works once.
    pub url: String,
    /// Whose session it opens.
    pub user: String,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
}

impl std::fmt::Debug for ConsoleLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleLink")
            .field("url", &"<redacted>")
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A session just opened by a log-in link.
#[derive(Clone)]
pub struct Session {
    /// The session's secret (the cookie's value).
    pub token: String,
    /// Who is signed in.
    pub user: directory::User,
    /// When it ends whatever happens (Unix seconds).
    pub expires_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<redacted>")
            .field("user", &self.user.name)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The key under which CSRF tokens are derived from session secrets.
fn csrf_key() -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, b"fuda console csrf v1")
}

/// The CSRF token of a session: an HMAC of the session's secret under a fixed label, so
/// that a page's forms can carry it while the secret itself stays in an `HttpOnly`
/// cookie. Knowing the token does not reveal the secret.
pub fn csrf_token(session_secret: &str) -> String {
    hex::encode(hmac::sign(&csrf_key(), session_secret.trim().as_bytes()).as_ref())
}

/// Whether `offered` is the CSRF token of `session_secret`, compared in constant time.
pub fn csrf_ok(session_secret: &str, offered: &str) -> bool {
    hex::decode(offered.trim())
        .is_ok_and(|tag| hmac::verify(&csrf_key(), session_secret.trim().as_bytes(), &tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_belongs_to_one_session() {
        let a = directory::new_secret(SESSION_PREFIX).unwrap();
        let b = directory::new_secret(SESSION_PREFIX).unwrap();
        assert!(csrf_ok(&a, &csrf_token(&a)));
        assert!(!csrf_ok(&a, &csrf_token(&b)));
        assert!(!csrf_ok(&a, ""));
        assert!(!csrf_ok(&a, &a));
    }

    #[test]
    fn an_idle_session_dies_but_a_link_only_expires() {
        let s = Credential {
            hash: [0; 32],
            user: "sato".into(),
            kind: CredentialKind::Session,
            created_at: 0,
            expires_at: SESSION_MAX,
            last_seen: 0,
        };
        assert!(s.live(SESSION_IDLE - 1));
        assert!(!s.live(SESSION_IDLE));
        let busy = Credential {
            last_seen: SESSION_MAX - 10,
            ..s.clone()
        };
        assert!(busy.live(SESSION_MAX - 1));
        assert!(!busy.live(SESSION_MAX));
        let link = Credential {
            kind: CredentialKind::Link,
            expires_at: LINK_TTL,
            ..s
        };
        assert!(link.live(LINK_TTL - 1));
        assert!(!link.live(LINK_TTL));
    }
}
