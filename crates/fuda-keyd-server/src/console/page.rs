//! What every console page shares: the language, the frame around the content ([`Ui`]),
//! and the pages that are not about data (log-in, errors).

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use fuda_core::policy::Language;
use fuda_keyd::directory::User;
use fuda_keyd::Error;

/// The language of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (the default).
    Ja,
    /// English.
    En,
}

impl Lang {
    /// `ja` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The policy's language.
    pub fn from_policy(l: Language) -> Lang {
        match l {
            Language::Ja => Lang::Ja,
            Language::En => Lang::En,
        }
    }

    /// The code (`lang` attribute, `?lang=`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The text in this language.
    pub fn t<'a>(self, ja: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

/// One entry of the navigation.
pub struct NavItem {
    /// Where it leads.
    pub href: &'static str,
    /// Its name.
    pub label: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

/// The pages of the console, in the navigation's order: (path, Japanese, English).
const PAGES: &[(&str, &str, &str)] = &[
    ("/console", "概要", "Overview"),
    ("/console/ledger", "台帳", "Ledger"),
    ("/console/findings", "指摘事項", "Findings"),
    ("/console/documents", "保護文書", "Documents"),
    ("/console/people", "利用者とグループ", "People and groups"),
    ("/console/audit", "監査ログ", "Audit log"),
    ("/console/policy", "ポリシー", "Policy"),
];

/// The frame of every signed-in page: who is signed in, the navigation, the language
/// switch, the CSRF token forms carry.
#[derive(Clone)]
pub struct Ui {
    /// The page's language.
    pub lang: Lang,
    /// The signed-in person's login name.
    pub user: String,
    /// Their display name.
    pub display_name: String,
    /// Whether they may change things (an admin); auditors only read.
    pub admin: bool,
    /// The token every form carries (hidden field `csrf`).
    pub csrf: String,
    /// The path shown (for the navigation and the language switch).
    pub path: String,
    /// The organisation's offset from UTC (the policy's), for the times people read.
    pub offset: time::UtcOffset,
}

impl Ui {
    /// The frame for `user`'s session on the page at `path`; times shown at `offset`.
    pub fn new(lang: Lang, user: &User, session: &str, path: &str, offset: time::UtcOffset) -> Ui {
        Ui {
            offset,
            lang,
            user: user.name.clone(),
            display_name: user.display_name.clone(),
            admin: user.admin,
            csrf: fuda_keyd::console::csrf_token(session),
            path: path.to_owned(),
        }
    }

    /// The text in the page's language.
    pub fn t<'a>(&self, ja: &'a str, en: &'a str) -> &'a str {
        self.lang.t(ja, en)
    }

    /// The value in the page's language, for anything that is not text (column lists).
    pub fn t_static<T: ?Sized>(&self, ja: &'static T, en: &'static T) -> &'static T {
        match self.lang {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    /// The navigation, with the page shown marked.
    pub fn nav(&self) -> Vec<NavItem> {
        PAGES
            .iter()
            .map(|&(href, ja, en)| NavItem {
                href,
                label: self.lang.t(ja, en),
                current: self.path == href
                    || (href != "/console" && self.path.starts_with(&format!("{href}/"))),
            })
            .collect()
    }

    /// The role shown beside the name.
    pub fn role(&self) -> &'static str {
        match (self.admin, self.lang) {
            (true, Lang::Ja) => "管理者",
            (true, Lang::En) => "Administrator",
            (false, Lang::Ja) => "監査人（閲覧のみ）",
            (false, Lang::En) => "Auditor (read-only)",
        }
    }

    /// The other language: its code and its name, for the switch.
    pub fn other_lang(&self) -> (&'static str, &'static str) {
        match self.lang {
            Lang::Ja => ("en", "English"),
            Lang::En => ("ja", "日本語"),
        }
    }

    /// A Unix time as the people reading the page read it: the organisation's local
    /// time, to the minute, with its offset (`2026-12-05 09:30 +09:00`).
    pub fn time(&self, unix: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(unix)
            .ok()
            .and_then(|t| {
                t.to_offset(self.offset)
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute] [offset_hour sign:mandatory]:[offset_minute]"
                    ))
                    .ok()
            })
            .unwrap_or_else(|| unix.to_string())
    }
}

/// The policy the pages name levels by: the one in force, else the built-in default the
/// service runs on until an admin sets one.
pub fn policy_shown(service: &fuda_keyd::Service) -> fuda_core::policy::Policy {
    service.policy_in_force().unwrap_or_else(|| {
        fuda_core::policy::Policy::builtin("default").expect("the built-in policy is valid")
    })
}

/// Renders a template as an HTML answer (or a 500 page if it cannot render).
pub fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

/// Where the log-in page stands.
pub enum LoginState {
    /// No link: explain how to get one (`ended`: a session just ended).
    Ask {
        /// The session ended (idle, expired, signed out elsewhere).
        ended: bool,
    },
    /// The link worked: the display name of the person signed in.
    SignedIn(String),
    /// The link did not work.
    Refused,
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    lang: Lang,
    state: LoginState,
}

/// The log-in page.
pub fn login_page(lang: Lang, state: LoginState) -> Response {
    html(&LoginPage { lang, state })
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    lang: Lang,
    status: u16,
    title: String,
    message: String,
}

/// The HTTP status of a service error.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Denied(_) | Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::Store(fuda_keyd::store::StoreError::Unavailable { .. }) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A service error as a page: its status, and the service's message (which says what to
/// do) — except for the service's own failures, whose details stay in its log.
pub fn error_page(lang: Lang, e: &Error) -> Response {
    let status = status_of(e);
    let message = if status.is_server_error() {
        tracing::error!(error = %e, "console request failed");
        lang.t(
            "キーサービス内部でエラーが発生しました。しばらくしてから再度お試しください。解決しない場合は運用担当者にサービスのログを確認してもらってください。",
            "The key service failed. Try again in a moment; if it persists, ask the operator to read the service's log.",
        )
        .to_owned()
    } else {
        e.to_string()
    };
    render_error(lang, status, message)
}

/// A bare status as a page (a form without its CSRF token, a body too large …).
pub fn status_page(lang: Lang, status: StatusCode) -> Response {
    let message = match status {
        StatusCode::FORBIDDEN => lang.t(
            "このフォームは受け付けられません（ページが古いか、別のサイトから送信されました）。ページを開き直してから操作してください。",
            "This form was refused (the page is stale, or it was sent from another site). Reload the page and try again.",
        ),
        _ => lang.t(
            "この要求は受け付けられません。ページを開き直してから操作してください。",
            "This request was refused. Reload the page and try again.",
        ),
    };
    render_error(lang, status, message.to_owned())
}

fn render_error(lang: Lang, status: StatusCode, message: String) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => lang.t("許可されていません", "Not allowed"),
        StatusCode::NOT_FOUND => lang.t("見つかりません", "Not found"),
        StatusCode::CONFLICT => lang.t("実行できません", "Cannot be done"),
        StatusCode::BAD_REQUEST => lang.t("入力に誤りがあります", "Invalid input"),
        _ => lang.t("エラー", "Error"),
    }
    .to_owned();
    let mut resp = html(&ErrorPage {
        lang,
        status: status.as_u16(),
        title,
        message,
    });
    *resp.status_mut() = status;
    resp
}
