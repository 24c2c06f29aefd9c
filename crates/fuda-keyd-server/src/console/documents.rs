//! Protected documents (`/console/documents`): search the registry by name, id, owner and
//! level; one document with its grants, its revocations and who opened it when (the audit
//! log); and, for admins, revoking and unrevoking (for everyone or one person) and changing
//! grants within the level's caps. The service decides and audits every change.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use fuda_core::pathname::escaped;
use fuda_core::policy::Policy;
use fuda_core::rights::{Right, Rights};
use fuda_keyd::audit::{self, Outcome, Record};
use fuda_keyd::directory::{EntryKind, UserStatus};
use fuda_keyd::registry::{Document, Grant, Principal, Revocation};
use fuda_keyd::service::{RevokeTarget, Service};
use fuda_keyd::Error;

use super::page::{html, status_of, Ui};
use super::pager::{PageQuery, Pager};
use super::{failed, Change, Signed};

/// The documents' routes.
pub fn routes() -> Router<Service> {
    Router::new()
        .route("/console/documents", get(list))
        .route("/console/documents/:id", get(show))
        .route("/console/documents/:id/revoke", post(revoke))
        .route("/console/documents/:id/unrevoke", post(unrevoke))
        .route("/console/documents/:id/grant", post(grant))
        .route("/console/documents/:id/ungrant", post(ungrant))
}

/// The most audit records of one document the page reads (the newest); older ones are on
/// the audit page.
const HISTORY_MAX: u32 = 10_000;

/// The search: GET parameters, so that a search is a link.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct Filter {
    /// A piece of the file name, or the document id (or its beginning).
    q: String,
    /// The owner's login name.
    owner: String,
    /// A level id.
    level: String,
}

impl Filter {
    fn matches(&self, d: &Document) -> bool {
        let q = self.q.trim();
        let by_text = q.is_empty()
            || d.id.eq_ignore_ascii_case(q)
            || (q.len() >= 4 && d.id.starts_with(&q.to_ascii_uppercase()))
            || escaped(&d.name).to_lowercase().contains(&q.to_lowercase());
        let owner = self.owner.trim();
        by_text
            && (owner.is_empty() || d.owner == owner)
            && (self.level.is_empty() || d.level == self.level)
    }

    /// The list's URL with this search, ready for `page=` (the pager's base).
    fn base(&self) -> String {
        match serde_urlencoded::to_string(self) {
            Ok(q) => format!("/console/documents?{q}&"),
            Err(_) => "/console/documents?".into(),
        }
    }
}

/// A level as a page shows it: its name in the page's language and its rank (colour).
struct LevelView {
    id: String,
    name: String,
    rank: u8,
}

fn level_view(ui: &Ui, policy: &Policy, id: &str) -> LevelView {
    match policy.level(id) {
        Some(l) => LevelView {
            id: l.id.clone(),
            name: ui.t(&l.name_ja, &l.name_en).to_owned(),
            rank: l.rank,
        },
        None => LevelView {
            id: id.to_owned(),
            name: id.to_owned(),
            rank: 0,
        },
    }
}

/// One row of the list.
struct Row {
    id: String,
    name: String,
    level: LevelView,
    owner: String,
    version: u32,
    created: String,
    revoked: bool,
    expired: bool,
}

#[derive(Template)]
#[template(path = "console/documents.html")]
struct ListPage {
    ui: Ui,
    filter: Filter,
    levels: Vec<LevelView>,
    rows: Vec<Row>,
    pager: Pager,
    base: String,
}

/// `GET /console/documents`.
async fn list(
    State(service): State<Service>,
    me: Signed,
    Query(filter): Query<Filter>,
    Query(paging): Query<PageQuery>,
) -> Response {
    match build_list(&service, &me, filter, paging).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

async fn build_list(
    service: &Service,
    me: &Signed,
    filter: Filter,
    paging: PageQuery,
) -> Result<ListPage, Error> {
    let policy = super::page::policy_shown(service);
    let now = fuda_keyd::now();
    let docs = service.documents(me.caller()).await?;
    let found: Vec<&Document> = docs.iter().rev().filter(|d| filter.matches(d)).collect();
    let pager = Pager::new(paging, found.len());
    let rows = pager
        .slice(&found)
        .iter()
        .map(|d| Row {
            id: d.id.clone(),
            name: escaped(&d.name),
            level: level_view(&me.ui, &policy, &d.level),
            owner: d.owner.clone(),
            version: d.version,
            created: me.ui.time(d.created_at),
            revoked: d.revoked,
            expired: d.expires_at.is_some_and(|t| t <= now),
        })
        .collect();
    let levels = policy
        .levels
        .iter()
        .rev()
        .map(|l| level_view(&me.ui, &policy, &l.id))
        .collect();
    Ok(ListPage {
        ui: me.ui.clone(),
        base: filter.base(),
        filter,
        levels,
        rows,
        pager,
    })
}

/// A grant as the document page lists it.
struct GrantView {
    /// `owner`, `user:NAME` or `group:NAME` (what the remove form sends back).
    principal: String,
    /// Who, for people.
    who: String,
    /// The person, when the grant is one person's (for the revoke button).
    user: Option<String>,
    rights: String,
    /// The owner's grant is changed by transferring the document, not removed.
    owner: bool,
    /// This person is revoked on the document already.
    revoked: bool,
}

/// A revocation as the document page lists it.
struct RevocationView {
    /// The person, or `None` for everyone.
    user: Option<String>,
    at: String,
    by: String,
}

/// A right's check box in the grant form.
struct RightBox {
    name: &'static str,
    /// Beyond the level's cap: the service refuses it for anyone outside its default grants.
    over_cap: bool,
}

/// One audit record of the document.
struct Entry {
    at: String,
    actor: String,
    action: String,
    subject: String,
    allowed: bool,
    reason: String,
    /// The justification a label change carried.
    justification: String,
}

/// What the history shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Show {
    /// Licence decisions: who opened the document when.
    #[default]
    Opens,
    /// Every record about the document.
    All,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DocQuery {
    show: Show,
    done: String,
}

/// The document's facts, shown at the top of its page.
struct Facts {
    id: String,
    name: String,
    level: LevelView,
    owner: String,
    version: u32,
    created: String,
    expires: Option<String>,
    expired: bool,
    offline_days: u32,
    max_rights: String,
    revoked: bool,
    size: u64,
    place: String,
}

#[derive(Template)]
#[template(path = "console/document.html")]
struct DocPage {
    ui: Ui,
    /// What the last change did (after a redirect).
    done: String,
    /// Why the change just asked for was refused (the service's words).
    problem: String,
    doc: Facts,
    grants: Vec<GrantView>,
    revocations: Vec<RevocationView>,
    /// People revoked on every document (they cannot open this one either).
    everywhere: Vec<RevocationView>,
    /// Active people, for the revoke and grant forms: (login, display name).
    people: Vec<(String, String)>,
    rights: Vec<RightBox>,
    show: Show,
    history: Vec<Entry>,
    /// The history was cut at [`HISTORY_MAX`] records.
    capped: bool,
    pager: Pager,
    base: String,
}

/// `GET /console/documents/{id}`.
async fn show(
    State(service): State<Service>,
    me: Signed,
    Path(id): Path<String>,
    Query(q): Query<DocQuery>,
    Query(paging): Query<PageQuery>,
) -> Response {
    match build_doc(&service, &me, &id, (q, paging), String::new()).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

async fn build_doc(
    service: &Service,
    me: &Signed,
    id: &str,
    (q, paging): (DocQuery, PageQuery),
    problem: String,
) -> Result<DocPage, Error> {
    let policy = super::page::policy_shown(service);
    let d = find(service, me, id).await?;
    let revocations = service.revocations(me.caller()).await?;
    let users = service.user_list(me.caller()).await?;
    let records = service
        .audit(
            me.caller(),
            audit::Query {
                doc: Some(d.id.clone()),
                limit: Some(HISTORY_MAX),
                action: (q.show == Show::Opens).then(|| "open".to_owned()),
                ..audit::Query::default()
            },
        )
        .await?;
    let capped = records.len() >= HISTORY_MAX as usize;
    let history: Vec<&Record> = records.iter().rev().collect();
    let pager = Pager::new(paging, history.len());
    let revoked_on_doc = |user: &str| {
        revocations
            .iter()
            .any(|r| r.doc.as_deref() == Some(&d.id) && r.user.as_deref() == Some(user))
    };
    let grants = d
        .grants
        .iter()
        .map(|g| grant_view(me, &d, g, &revoked_on_doc))
        .collect();
    let view = |r: &Revocation| RevocationView {
        user: r.user.clone(),
        at: me.ui.time(r.at),
        by: r.by.clone(),
    };
    let now = fuda_keyd::now();
    Ok(DocPage {
        ui: me.ui.clone(),
        done: done_text(me, &q.done),
        problem,
        grants,
        revocations: revocations
            .iter()
            .filter(|r| r.doc.as_deref() == Some(&d.id))
            .map(view)
            .collect(),
        everywhere: revocations
            .iter()
            .filter(|r| r.doc.is_none())
            .map(view)
            .collect(),
        people: users
            .into_iter()
            .filter(|u| u.kind == EntryKind::Person && u.status == UserStatus::Active)
            .map(|u| (u.name, u.display_name))
            .collect(),
        rights: Right::ALL
            .into_iter()
            .filter(|r| *r != Right::Owner)
            .map(|r| RightBox {
                name: r.as_str(),
                over_cap: !d.max_rights.allows(r),
            })
            .collect(),
        show: q.show,
        history: pager.slice(&history).iter().map(|r| entry(me, r)).collect(),
        capped,
        pager,
        base: format!(
            "/console/documents/{}?show={}&",
            d.id,
            if q.show == Show::All { "all" } else { "opens" }
        ),
        doc: Facts {
            level: level_view(&me.ui, &policy, &d.level),
            name: escaped(&d.name),
            owner: d.owner.clone(),
            version: d.version,
            created: me.ui.time(d.created_at),
            expires: d.expires_at.map(|t| me.ui.time(t)),
            expired: d.expires_at.is_some_and(|t| t <= now),
            offline_days: d.offline_days,
            max_rights: d.max_rights.to_string(),
            revoked: d.revoked,
            size: d.size,
            place: format!("{}:{}", d.host, escaped(&d.path)),
            id: d.id,
        },
    })
}

/// The document `id`: an admin reads it alone; an auditor, who holds no rights on it,
/// finds it in the registry's list (the service lets auditors read only that).
async fn find(service: &Service, me: &Signed, id: &str) -> Result<Document, Error> {
    if me.ui.admin {
        return Ok(service.document(me.caller(), id.to_owned()).await?.document);
    }
    service
        .documents(me.caller())
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| Error::NotFound(format!("document {id} is not registered")))
}

fn grant_view(
    me: &Signed,
    d: &Document,
    g: &Grant,
    revoked_on_doc: &dyn Fn(&str) -> bool,
) -> GrantView {
    let (who, user) = match &g.principal {
        Principal::Owner => (
            format!("{} ({})", me.ui.t("所有者", "owner"), d.owner),
            Some(d.owner.clone()),
        ),
        Principal::User(u) => (u.clone(), Some(u.clone())),
        Principal::Group(g) => (format!("{} {g}", me.ui.t("グループ", "group")), None),
    };
    GrantView {
        principal: g.principal.to_string(),
        revoked: user.as_deref().is_some_and(revoked_on_doc),
        who,
        user,
        rights: g.rights.to_string(),
        owner: g.principal == Principal::Owner,
    }
}

/// An audit record as the history shows it.
fn entry(me: &Signed, r: &Record) -> Entry {
    let e = &r.event;
    let text = |key: &str| {
        e.detail
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let action = match e.action.as_str() {
        "open" => format!("{} ({})", me.ui.t("開封", "open"), text("rights")),
        "protect" => me.ui.t("保護", "protected").to_owned(),
        "grant" => format!(
            "{} {} = {}",
            me.ui.t("権限付与", "grant"),
            text("principal"),
            text("rights")
        ),
        "ungrant" => format!(
            "{} {}",
            me.ui.t("権限削除", "grant removed"),
            text("principal")
        ),
        "revoke" => me.ui.t("失効", "revoked").to_owned(),
        "unrevoke" => me.ui.t("失効解除", "revocation lifted").to_owned(),
        "save" => me.ui.t("新しい版の保存", "new version saved").to_owned(),
        "reclassify" => me.ui.t("区分の変更", "level changed").to_owned(),
        "transfer" => format!(
            "{} → {}",
            me.ui.t("所有者の変更", "owner changed"),
            text("to")
        ),
        "label-set" => me.ui.t("ラベル設定", "label set").to_owned(),
        "label-downgrade" => me.ui.t("ラベル引き下げ", "label lowered").to_owned(),
        "label-remove" => me.ui.t("ラベル削除", "label removed").to_owned(),
        other => other.to_owned(),
    };
    Entry {
        at: me.ui.time(r.at_ms.div_euclid(1000)),
        actor: e.actor.clone(),
        action,
        subject: e.subject.clone().unwrap_or_default(),
        allowed: e.outcome == Outcome::Allow,
        reason: e.reason.clone().unwrap_or_default(),
        justification: text("justification"),
    }
}

/// The status line after a change (`?done=`), in the page's language.
fn done_text(me: &Signed, done: &str) -> String {
    me.ui
        .t(
            match done {
                "revoked" => "失効しました。次の開封から拒否されます。",
                "unrevoked" => "失効を解除しました。",
                "granted" => "権限を変更しました。",
                "ungranted" => "権限を削除しました。",
                _ => "",
            },
            match done {
                "revoked" => "Revoked: the next open is refused.",
                "unrevoked" => "The revocation is lifted.",
                "granted" => "The grant is changed.",
                "ungranted" => "The grant is removed.",
                _ => "",
            },
        )
        .to_owned()
}

/// The outcome of a change: back to the document with a status line, or the document
/// with the service's refusal (and its status) — a failure of the service itself is an
/// error page.
async fn after(
    service: &Service,
    who: &Signed,
    id: &str,
    outcome: Result<(), Error>,
    done: &str,
) -> Response {
    let e = match outcome {
        Ok(()) => {
            return Redirect::to(&format!("/console/documents/{id}?done={done}")).into_response()
        }
        Err(e) => e,
    };
    let status = status_of(&e);
    if status.is_server_error() {
        return failed(&who.ui, &e);
    }
    let first = (DocQuery::default(), PageQuery::default());
    match build_doc(service, who, id, first, e.to_string()).await {
        Ok(page) => {
            let mut resp = who.answer(html(&page));
            *resp.status_mut() = status;
            resp
        }
        Err(_) => failed(&who.ui, &e),
    }
}

/// Whether an id can be put back into a URL as it is (document ids are ULIDs).
fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The revoke and unrevoke forms: `user` empty means everyone.
#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    user: String,
}

impl RevokeForm {
    fn target(&self, id: &str) -> RevokeTarget {
        let user = self.user.trim();
        RevokeTarget {
            doc: Some(id.to_owned()),
            user: (!user.is_empty()).then(|| user.to_owned()),
        }
    }
}

/// `POST /console/documents/{id}/revoke`.
async fn revoke(
    State(service): State<Service>,
    Path(id): Path<String>,
    change: Change<RevokeForm>,
) -> Response {
    if !id_ok(&id) {
        return failed(&change.who.ui, &unknown(&id));
    }
    let target = change.form.target(&id);
    let outcome = service.revoke(change.who.caller(), target).await.map(drop);
    after(&service, &change.who, &id, outcome, "revoked").await
}

/// `POST /console/documents/{id}/unrevoke`.
async fn unrevoke(
    State(service): State<Service>,
    Path(id): Path<String>,
    change: Change<RevokeForm>,
) -> Response {
    if !id_ok(&id) {
        return failed(&change.who.ui, &unknown(&id));
    }
    let target = change.form.target(&id);
    let outcome = service.unrevoke(change.who.caller(), target).await;
    after(&service, &change.who, &id, outcome, "unrevoked").await
}

fn unknown(id: &str) -> Error {
    Error::NotFound(format!("document {id:?} is not registered"))
}

/// The grant form: a person or a group, and a check box per right.
#[derive(Deserialize)]
struct GrantForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    view: Option<String>,
    edit: Option<String>,
    print: Option<String>,
    copy: Option<String>,
    export: Option<String>,
    share: Option<String>,
}

impl GrantForm {
    fn grant(&self) -> Result<Grant, Error> {
        let principal: Principal = format!("{}:{}", self.kind, self.name.trim()).parse()?;
        let ticked = [
            (&self.view, Right::View),
            (&self.edit, Right::Edit),
            (&self.print, Right::Print),
            (&self.copy, Right::Copy),
            (&self.export, Right::Export),
            (&self.share, Right::Share),
        ];
        let rights = ticked
            .into_iter()
            .filter(|(v, _)| v.is_some())
            .fold(Rights::NONE, |acc, (_, r)| acc.with(r));
        Ok(Grant { principal, rights })
    }
}

/// `POST /console/documents/{id}/grant`: adds or changes a grant (the service checks the
/// caps and that the person or group exists).
async fn grant(
    State(service): State<Service>,
    Path(id): Path<String>,
    change: Change<GrantForm>,
) -> Response {
    if !id_ok(&id) {
        return failed(&change.who.ui, &unknown(&id));
    }
    let outcome = match change.form.grant() {
        Ok(g) => service
            .grant(change.who.caller(), id.clone(), g)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    after(&service, &change.who, &id, outcome, "granted").await
}

/// The remove-grant form.
#[derive(Deserialize)]
struct UngrantForm {
    #[serde(default)]
    principal: String,
}

/// `POST /console/documents/{id}/ungrant`.
async fn ungrant(
    State(service): State<Service>,
    Path(id): Path<String>,
    change: Change<UngrantForm>,
) -> Response {
    if !id_ok(&id) {
        return failed(&change.who.ui, &unknown(&id));
    }
    let outcome = match change.form.principal.parse::<Principal>() {
        Ok(p) => service
            .ungrant(change.who.caller(), id.clone(), p)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    after(&service, &change.who, &id, outcome, "ungranted").await
}
