//! The audit log (`/console/audit`): every decision the service made, newest first,
//! filtered by person, document, action and time; the hash chain verified on request;
//! the filtered records exported as CSV (UTF-8 with BOM, as the ledger's CSV).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use fuda_keyd::audit::{self, Outcome, Record, Verification};
use fuda_keyd::service::Service;
use fuda_ledger::ledger::{csv, Cell, Sheet};

use super::page::{html, Ui};
use super::{failed, Signed};

/// Records per page.
const PER_PAGE: u32 = 50;
/// The most records one CSV export holds (the newest matching ones).
pub const EXPORT_MAX: u32 = 100_000;

/// The audit pages' routes.
pub fn routes() -> Router<Service> {
    Router::new()
        .route("/console/audit", get(list))
        .route("/console/audit/verify", get(verify))
        .route("/console/audit.csv", get(export))
}

/// The filters of the list and the export (GET parameters, so a filtered list is a link).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Records by or about this person.
    user: String,
    /// Records of this document.
    doc: String,
    /// Only this action.
    action: String,
    /// From this day (`YYYY-MM-DD`, the organisation's day).
    since: String,
    /// Until this day, inclusive.
    until: String,
    /// Records older than this sequence number (the next page).
    before: Option<i64>,
}

impl Filter {
    /// The store's query for this filter; `Err` names the field that is not a date.
    fn query(&self, ui: &Ui, limit: u32) -> Result<audit::Query, String> {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        Ok(audit::Query {
            user: some(&self.user),
            doc: some(&self.doc),
            action: some(&self.action),
            since: day_start(&self.since, ui)?,
            until: day_start(&self.until, ui)?.map(|t| t + 86_400),
            limit: Some(limit),
            before_seq: self.before,
        })
    }

    /// The query string of the filter (without the page), for links.
    fn link(&self) -> String {
        serde_urlencoded::to_string([
            ("user", self.user.as_str()),
            ("doc", self.doc.as_str()),
            ("action", self.action.as_str()),
            ("since", self.since.as_str()),
            ("until", self.until.as_str()),
        ])
        .unwrap_or_default()
    }
}

/// The Unix time a day (`YYYY-MM-DD`, the organisation's day) starts; `None` when empty.
fn day_start(day: &str, ui: &Ui) -> Result<Option<i64>, String> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(None);
    }
    let date = time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| day.to_owned())?;
    Ok(Some(
        date.midnight().assume_offset(ui.offset).unix_timestamp(),
    ))
}

/// One record as the list shows it.
pub struct Row {
    seq: i64,
    time: String,
    actor: String,
    action: String,
    allowed: bool,
    doc: Option<String>,
    subject: String,
    reason: String,
    detail: String,
}

impl Row {
    fn of(r: Record, ui: &Ui) -> Row {
        let e = r.event;
        Row {
            seq: r.seq,
            time: ui.time(r.at_ms / 1000),
            actor: e.actor,
            action: e.action,
            allowed: e.outcome == Outcome::Allow,
            doc: e.doc,
            subject: e.subject.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            detail: if e.detail.is_null() {
                String::new()
            } else {
                e.detail.to_string()
            },
        }
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    ui: Ui,
    filter: Filter,
    rows: Vec<Row>,
    /// The `before` of the next (older) page, if there may be one.
    older: Option<i64>,
    /// The filter as a query string, for the links.
    link: String,
    /// A filter field that is not a date.
    bad_date: Option<String>,
    verification: Option<Verification>,
}

async fn list(
    State(service): State<Service>,
    me: Signed,
    Query(filter): Query<Filter>,
) -> Response {
    page(&service, me, filter, None).await
}

/// Verifies the whole chain, then shows the newest records with the verdict above them.
async fn verify(State(service): State<Service>, me: Signed) -> Response {
    match service.audit_verify(me.caller()).await {
        Ok(v) => page(&service, me, Filter::default(), Some(v)).await,
        Err(e) => failed(&me.ui, &e),
    }
}

async fn page(
    service: &Service,
    me: Signed,
    filter: Filter,
    verification: Option<Verification>,
) -> Response {
    let (rows, bad_date) = match filter.query(&me.ui, PER_PAGE) {
        Ok(q) => match service.audit(me.caller(), q).await {
            Ok(records) => (records, None),
            Err(e) => return failed(&me.ui, &e),
        },
        Err(field) => (Vec::new(), Some(field)),
    };
    let older = (rows.len() == PER_PAGE as usize)
        .then(|| rows.first().map(|r| r.seq))
        .flatten();
    let rows = rows.into_iter().rev().map(|r| Row::of(r, &me.ui)).collect();
    let link = filter.link();
    let page = AuditPage {
        ui: me.ui.clone(),
        filter,
        rows,
        older,
        link,
        bad_date,
        verification,
    };
    me.answer(html(&page))
}

/// The CSV's columns.
const CSV_HEADER_JA: &[&str] = &[
    "連番",
    "日時",
    "実行者",
    "操作",
    "結果",
    "文書ID",
    "対象者",
    "理由",
    "詳細",
    "ハッシュ",
];
const CSV_HEADER_EN: &[&str] = &[
    "seq", "time", "actor", "action", "outcome", "doc", "subject", "reason", "detail", "hash",
];

/// The filtered records (the newest [`EXPORT_MAX`]), oldest first, as CSV.
async fn export(
    State(service): State<Service>,
    me: Signed,
    Query(filter): Query<Filter>,
) -> Response {
    let q = match filter.query(&me.ui, EXPORT_MAX) {
        Ok(q) => q,
        Err(field) => {
            return failed(
                &me.ui,
                &fuda_keyd::Error::Invalid(format!("{field} is not a date (YYYY-MM-DD)")),
            )
        }
    };
    let records = match service.audit(me.caller(), q).await {
        Ok(r) => r,
        Err(e) => return failed(&me.ui, &e),
    };
    let ui = me.ui.clone();
    let rows = records.into_iter().map(move |r| {
        let hash = r.hash.clone();
        let row = Row::of(r, &ui);
        Ok(vec![
            Cell::Int(row.seq),
            Cell::from(row.time),
            Cell::from(row.actor),
            Cell::from(row.action),
            Cell::from(if row.allowed { "allow" } else { "deny" }),
            Cell::from(row.doc),
            Cell::from(row.subject),
            Cell::from(row.reason),
            Cell::from(row.detail),
            Cell::from(hash),
        ])
    });
    let sheet = Sheet {
        name: "audit",
        slug: "audit",
        header: me.ui.t_static(CSV_HEADER_JA, CSV_HEADER_EN),
        rows: Box::new(rows),
    };
    let mut body = Vec::new();
    if let Err(e) = csv::write_sheet(sheet, &mut body) {
        return failed(&me.ui, &fuda_keyd::Error::Invalid(e.to_string()));
    }
    let today = time::OffsetDateTime::now_utc()
        .to_offset(me.ui.offset)
        .date();
    let name = format!(
        "attachment; filename=\"fuda-audit-{:04}{:02}{:02}.csv\"",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    me.answer(
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            body,
        )
            .into_response(),
    )
}
