//! The browser console at `/console`: server-rendered pages (askama templates under
//! `templates/console/`, escaped by default) for admins and read-only auditors.
//!
//! - Log-in: `fuda admin console` asks `POST /v1/admin/console-link` for a one-time link;
//!   `GET /console/login?t=…` spends it and sets the session cookie ([`COOKIE`]:
//!   `HttpOnly`, `Secure`, `SameSite=Strict`, path `/console`). Sessions end when idle or
//!   at their absolute expiry ([`fuda_keyd::console`]).
//! - Every page resolves its session through the service ([`Signed`]); an ended session
//!   is sent to the log-in page. Every change is a form `POST` carrying the session's CSRF
//!   token ([`Change`]); the service decides what the person may do, as for the API, so
//!   an auditor's change is refused (and audited) even if a button were forged.
//! - Every answer carries a strict content security policy, `no-store` and
//!   `no-referrer`; every asset is served from here (the service often has no internet).
//! - Japanese by default (or the policy's `language`), English with one click
//!   (`?lang=en`, remembered in a cookie).
//!
//! Pages live one per file beside this one, each exporting a `routes()` merged here.

mod assets;
mod audit;
mod documents;
mod findings;
mod ledger;
mod overview;
mod page;
pub mod pager;
mod people;
mod policy;

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use fuda_core::policy::Policy;
use fuda_keyd::directory::User;
use fuda_keyd::service::{Caller, Service};
use fuda_keyd::Error;

pub use page::{Lang, Ui};

/// The session cookie's name.
pub const COOKIE: &str = "fuda_console";
/// The language cookie's name.
pub const LANG_COOKIE: &str = "fuda_lang";
/// Where the console's pages live.
pub const ROOT: &str = "/console";
/// The largest form the console reads (its forms carry a few fields).
pub const FORM_LIMIT: usize = 64 * 1024;

/// The console's routes (merged into the service's router).
pub fn routes() -> Router<Service> {
    Router::new()
        .route("/console/login", get(login))
        .route("/console/logout", post(logout))
        .merge(assets::routes())
        .merge(overview::routes())
        .merge(audit::routes())
        .merge(policy::routes())
        .merge(ledger::routes())
        .merge(findings::routes())
        .merge(documents::routes())
        .merge(people::routes())
        .layer(axum::middleware::map_response(harden))
}

/// Headers every console answer carries: nothing from elsewhere runs or loads, the page
/// is never framed, cached or followed by a referrer (a log-in link is in a URL).
async fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The `lang` query parameter of any page.
#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// The page language: `?lang=`, else the cookie, else the policy's language, else
/// Japanese.
fn language(parts: &Parts, policy: Option<&Policy>) -> (Lang, bool) {
    let asked = Query::<LangQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.lang)
        .and_then(|l| Lang::parse(&l));
    if let Some(lang) = asked {
        return (lang, true);
    }
    let remembered = cookie(parts, LANG_COOKIE).and_then(|l| Lang::parse(&l));
    let default = || policy.map_or(Lang::Ja, |p| Lang::from_policy(p.language));
    (remembered.unwrap_or_else(default), false)
}

/// A signed-in admin or auditor, resolved through the service on every request.
pub struct Signed {
    /// The person.
    pub user: User,
    /// The session's secret (to act as the person: [`Signed::caller`]).
    session: String,
    /// What every page shows around its content.
    pub ui: Ui,
    /// Whether the language came from `?lang=` (remembered in the answer's cookie).
    lang_asked: bool,
}

impl Signed {
    /// The caller the service sees for this person.
    pub fn caller(&self) -> Caller {
        Caller::Session(self.session.clone())
    }

    /// Whether `offered` is this session's CSRF token (constant time): for the forms that
    /// are not `application/x-www-form-urlencoded` (a file upload), which [`Change`]
    /// cannot read.
    pub fn csrf_ok(&self, offered: &str) -> bool {
        fuda_keyd::console::csrf_ok(&self.session, offered)
    }

    /// Wraps a page's answer, remembering a language chosen with `?lang=`.
    pub fn answer(&self, page: impl IntoResponse) -> Response {
        let mut resp = page.into_response();
        if self.lang_asked {
            let cookie = format!(
                "{LANG_COOKIE}={}; Path={ROOT}; Secure; SameSite=Strict; Max-Age=31536000",
                self.ui.lang.code()
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Where a request without a live session goes.
pub struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to("/console/login?ended=1").into_response()
    }
}

#[axum::async_trait]
impl FromRequestParts<Service> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &Service) -> Result<Self, Response> {
        let policy = service.policy_in_force();
        let (lang, lang_asked) = language(parts, policy.as_ref());
        let offset = policy
            .as_ref()
            .map_or(fuda_core::policy::DEFAULT_UTC_OFFSET, |p| p.utc_offset);
        let Some(session) = cookie(parts, COOKIE) else {
            return Err(SignIn.into_response());
        };
        match service.console_user(session.clone()).await {
            Ok(user) => {
                let ui = Ui::new(lang, &user, &session, parts.uri.path(), offset);
                Ok(Signed {
                    user,
                    session,
                    ui,
                    lang_asked,
                })
            }
            Err(Error::Unauthorized(_)) => Err(SignIn.into_response()),
            Err(e) => Err(page::error_page(lang, &e)),
        }
    }
}

/// The CSRF field every form carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A change asked for by a form: the signed-in person and the form's fields, after its
/// CSRF token was checked (constant time). A form without the token, or with another
/// session's, is refused with 403 before anything happens.
pub struct Change<T> {
    /// Who asks.
    pub who: Signed,
    /// The form's fields.
    pub form: T,
}

#[axum::async_trait]
impl<T: DeserializeOwned + Send> FromRequest<Service> for Change<T> {
    type Rejection = Response;

    async fn from_request(req: Request, service: &Service) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let who = Signed::from_request_parts(&mut parts, service).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| page::status_page(who.ui.lang, StatusCode::PAYLOAD_TOO_LARGE))?;
        let csrf: CsrfField = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| page::status_page(who.ui.lang, StatusCode::BAD_REQUEST))?;
        if !fuda_keyd::console::csrf_ok(&who.session, &csrf.csrf) {
            return Err(page::status_page(who.ui.lang, StatusCode::FORBIDDEN));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            page::error_page(who.ui.lang, &Error::Invalid(format!("the form: {e}")))
        })?;
        Ok(Change { who, form })
    }
}

/// `GET /console/login`.
#[derive(Deserialize)]
struct LoginQuery {
    t: Option<String>,
    ended: Option<String>,
}

/// Spends a one-time link (`?t=`) and signs in, or shows how to get one.
async fn login(State(service): State<Service>, parts: Parts) -> Response {
    let (lang, _) = language(&parts, service.policy_in_force().as_ref());
    let q = Query::<LoginQuery>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or(LoginQuery {
            t: None,
            ended: None,
        });
    let Some(token) = q.t else {
        return page::login_page(
            lang,
            page::LoginState::Ask {
                ended: q.ended.is_some(),
            },
        );
    };
    match service.console_login(token).await {
        Ok(session) => {
            let cookie = format!(
                "{COOKIE}={}; Path={ROOT}; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                session.token,
                fuda_keyd::console::SESSION_MAX
            );
            let mut resp = page::login_page(
                lang,
                page::LoginState::SignedIn(session.user.display_name.clone()),
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(Error::Unauthorized(_)) => {
            let mut resp = page::login_page(lang, page::LoginState::Refused);
            *resp.status_mut() = StatusCode::UNAUTHORIZED;
            resp
        }
        Err(e) => page::error_page(lang, &e),
    }
}

/// `POST /console/logout`: ends the session and forgets the cookie.
async fn logout(State(service): State<Service>, change: Change<CsrfField>) -> Response {
    if let Err(e) = service.console_logout(change.who.session.clone()).await {
        return page::error_page(change.who.ui.lang, &e);
    }
    let mut resp = Redirect::to("/console/login").into_response();
    let gone = format!("{COOKIE}=; Path={ROOT}; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&gone) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Answers a page's service error as a page (403 for refusals, 404, 409 …).
pub fn failed(ui: &Ui, e: &Error) -> Response {
    page::error_page(ui.lang, e)
}
