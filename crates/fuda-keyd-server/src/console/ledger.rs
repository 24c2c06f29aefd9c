//! The company ledger (`/console/ledger`): the rows of 情報資産管理台帳 and 機密情報台帳,
//! and every file of the index, filtered by level, department, machine and finding, a
//! page at a time; and its download as xlsx or CSV, written by the same library calls as
//! `fuda admin ledger` (audited `ledger-export`, like the command).
//!
//! The rows and findings come from the ledger built in the background ([`cache`]); the
//! files page comes straight from the index (a narrow index per filter, so a page of a
//! million files reads a page).

pub mod cache;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Multipart};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use fuda_core::pathname::escaped;
use fuda_core::policy::{Language, Policy};
use fuda_keyd::service::Service;
use fuda_keyd::store::{IndexCount, IndexFilter, LevelIs, ListedFile};
use fuda_ledger::company::wire;
use fuda_ledger::inventory::review::Previous;
use fuda_ledger::inventory::{AssetRow, Finding, FindingKind};
use fuda_ledger::ledger::{self, Format};

use super::page::{html, Lang, Ui};
use super::pager::{PageQuery, Pager};
use super::{failed, Signed};
use cache::{Built, FindingFilter, View};

/// The ledger's routes.
pub fn routes() -> Router<Service> {
    Router::new()
        .route("/console/ledger", get(page))
        .route("/console/ledger/download", get(download))
        .route(
            "/console/ledger/review",
            post(review).layer(DefaultBodyLimit::max(REVIEW_LIMIT)),
        )
}

/// The largest previous ledger the yearly review reads (a JSON ledger of about a million
/// files).
pub const REVIEW_LIMIT: usize = 512 << 20;

/// The filters of the ledger page (GET parameters: a filtered page is a link).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LedgerQuery {
    /// `rows` (情報資産管理台帳), `confidential` (機密情報台帳) or `files` (ファイル明細).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// A level id, or `-` for unlabeled files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// 管理部署 of the rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// A machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// A finding kind (`unlabeled`, `tampered` …): only the files with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// The page.
    #[serde(skip_serializing)]
    pub page: Option<usize>,
    /// Rows per page.
    #[serde(skip_serializing)]
    pub per_page: Option<usize>,
}

/// A filter's value: an empty field means no filter.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl LedgerQuery {
    fn pages(&self) -> PageQuery {
        PageQuery {
            page: self.page,
            per_page: self.per_page,
        }
    }

    fn finding(&self) -> Option<FindingKind> {
        given(&self.finding).and_then(kind_of)
    }

    /// This page's URL with its filters and `view`, ready for `page=` (ends in `?` or `&`).
    fn base(&self, view: &str) -> String {
        let mut q = self.clone();
        q.view = Some(view.to_owned());
        for f in [
            &mut q.level,
            &mut q.department,
            &mut q.machine,
            &mut q.finding,
        ] {
            if given(f).is_none() {
                *f = None;
            }
        }
        let query = serde_urlencoded::to_string(&q).unwrap_or_default();
        format!("/console/ledger?{query}&")
    }
}

/// A finding kind from its name in JSON (`unlabeled`, `copies-on-several-machines` …).
pub fn kind_of(name: &str) -> Option<FindingKind> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// One choice of a filter.
pub struct Choice {
    /// The parameter's value.
    pub value: String,
    /// What is shown.
    pub label: String,
    /// Whether it is the one chosen.
    pub selected: bool,
}

/// A level as a page shows it: its name and rank (for the colour).
pub struct LevelName {
    /// The name in the page's language.
    pub name: String,
    /// Its rank, 0 lowest.
    pub rank: u8,
}

/// A level id's name under `policy`, in `lang` (`None`: unlabeled).
pub fn level_name(policy: &Policy, lang: Lang, id: Option<&str>) -> LevelName {
    match id.map(|id| (id, policy.level(id))) {
        Some((_, Some(l))) => LevelName {
            name: lang.t(&l.name_ja, &l.name_en).to_owned(),
            rank: l.rank,
        },
        Some((id, None)) => LevelName {
            name: id.to_owned(),
            rank: 0,
        },
        None => LevelName {
            name: lang.t("ラベルなし", "unlabeled").to_owned(),
            rank: 0,
        },
    }
}

/// A row of 情報資産管理台帳 as the page shows it.
pub struct RowView {
    id: String,
    name: String,
    department: String,
    level: LevelName,
    places: Vec<String>,
    files: usize,
    encrypted: usize,
    personal: bool,
    last_modified: String,
}

/// A file as the page shows it.
pub struct FileView {
    machine: String,
    /// The files of its machine.
    machine_href: String,
    /// Its document's page.
    doc_href: Option<String>,
    path: String,
    level: LevelName,
    status: String,
    protected: bool,
    size: u64,
    modified: String,
    doc: Option<String>,
    /// The finding that put it in the list (when filtered by a finding).
    finding: Option<String>,
}

#[derive(Template)]
#[template(path = "console/ledger.html")]
struct LedgerPage {
    ui: Ui,
    view: &'static str,
    built: bool,
    updating: bool,
    failed: Option<String>,
    as_of: String,
    complete: bool,
    overdue: String,
    levels: Vec<Choice>,
    departments: Vec<Choice>,
    machines: Vec<Choice>,
    findings: Vec<Choice>,
    rows: Vec<RowView>,
    files: Vec<FileView>,
    department_ignored: bool,
    pager: Pager,
    base: String,
    tabs: Vec<(String, &'static str, bool)>,
}

async fn page(
    State(service): State<Service>,
    me: Signed,
    Query(q): Query<LedgerQuery>,
) -> Response {
    let view = match cache::view(&service, me.caller(), true).await {
        Ok(v) => v,
        Err(e) => return failed(&me.ui, &e),
    };
    match build(&service, &me.ui, &q, view).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

fn choices(
    all: impl IntoIterator<Item = (String, String)>,
    chosen: Option<&str>,
    lang: Lang,
) -> Vec<Choice> {
    std::iter::once(Choice {
        value: String::new(),
        label: lang.t("（すべて）", "(all)").to_owned(),
        selected: chosen.is_none(),
    })
    .chain(all.into_iter().map(|(value, label)| Choice {
        selected: chosen == Some(value.as_str()),
        value,
        label,
    }))
    .collect()
}

/// Whether the row is in 機密情報台帳 (as the ledger's writer decides it).
fn confidential(policy: &Policy, r: &AssetRow) -> bool {
    policy
        .level(&r.level)
        .map_or(r.confidentiality >= 2, |l| l.ipa_confidentiality >= 2)
}

fn row_view(policy: &Policy, ui: &Ui, r: &AssetRow) -> RowView {
    RowView {
        id: r.id.clone(),
        name: r.name.clone(),
        department: r.department.clone().unwrap_or_default(),
        level: level_name(policy, ui.lang, Some(&r.level)),
        places: r.locations.clone(),
        files: r.files,
        encrypted: r.encrypted,
        personal: r.personal_data || r.sensitive_personal_data || r.specific_personal_data,
        last_modified: ledger::date(r.last_modified, policy.utc_offset),
    }
}

/// `s` as one segment of a URL's path or a query value (RFC 3986 unreserved characters
/// kept, every other byte `%XX`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The ledger's files of `machine`.
pub fn machine_href(machine: &str) -> String {
    format!("/console/ledger?view=files&machine={}", encode(machine))
}

/// The page of document `doc`.
pub fn doc_href(doc: &str) -> String {
    format!("/console/documents/{}", encode(doc))
}

fn file_view(policy: &Policy, ui: &Ui, f: ListedFile, finding: Option<String>) -> FileView {
    FileView {
        machine_href: machine_href(&f.machine),
        doc_href: f.doc.as_deref().map(doc_href),
        path: escaped(&f.path),
        level: level_name(policy, ui.lang, f.level.as_deref()),
        status: f.status,
        protected: f.protected,
        size: f.size,
        modified: ledger::date(f.modified, policy.utc_offset),
        doc: f.doc,
        machine: f.machine,
        finding,
    }
}

/// The level filter as the index takes it.
fn level_is(q: &LedgerQuery) -> LevelIs {
    match given(&q.level) {
        None => LevelIs::Any,
        Some("-") => LevelIs::Unlabeled,
        Some(l) => LevelIs::Level(l.to_owned()),
    }
}

/// Files the counts give for a filter.
fn counted(counts: &[IndexCount], filter: &IndexFilter) -> usize {
    counts
        .iter()
        .filter(|c| filter.machine.as_deref().is_none_or(|m| c.machine == m))
        .filter(|c| match &filter.level {
            LevelIs::Any => true,
            LevelIs::Unlabeled => c.level.is_none(),
            LevelIs::Level(l) => c.level.as_deref() == Some(l.as_str()),
        })
        .map(|c| c.files as usize)
        .sum()
}

async fn build(
    service: &Service,
    ui: &Ui,
    q: &LedgerQuery,
    view: View,
) -> Result<LedgerPage, fuda_keyd::Error> {
    let policy = view
        .built
        .as_ref()
        .map_or_else(|| super::page::policy_shown(service), |b| b.policy.clone());
    let which: &'static str = match q.view.as_deref() {
        Some("confidential") => "confidential",
        Some("files") => "files",
        _ if q.finding().is_some() => "files",
        _ => "rows",
    };
    let b: Option<&Built> = view.built.as_deref();
    let level = given(&q.level);
    let department = given(&q.department);
    let machine = given(&q.machine);
    let mut levels: Vec<(String, String)> = policy
        .levels
        .iter()
        .rev()
        .map(|l| (l.id.clone(), ui.t(&l.name_ja, &l.name_en).to_owned()))
        .collect();
    levels.push(("-".into(), ui.t("ラベルなし", "unlabeled").to_owned()));
    let mut departments: Vec<String> = b
        .map(|b| {
            b.ledger
                .rows
                .iter()
                .filter_map(|r| r.department.clone())
                .collect()
        })
        .unwrap_or_default();
    departments.sort();
    departments.dedup();
    let machines: Vec<String> = match b {
        Some(b) => b.ledger.sources.iter().map(|s| s.name.clone()).collect(),
        None => service.machines()?.into_iter().map(|m| m.name).collect(),
    };
    let kinds: Vec<(String, String)> = b
        .map(|b| b.findings.by_kind())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, n)| {
            (
                k.as_str().to_owned(),
                format!("{} ({n})", k.title(ui.lang == Lang::Ja)),
            )
        })
        .collect();

    let mut rows = Vec::new();
    let mut files = Vec::new();
    let pager;
    match (which, q.finding()) {
        ("files", Some(kind)) => {
            let filter = FindingFilter {
                kind: Some(kind),
                machine: machine.map(str::to_owned),
                level: level.filter(|l| *l != "-").map(str::to_owned),
            };
            let read = |offset, limit| -> Result<(usize, Vec<Finding>), fuda_keyd::Error> {
                match b {
                    Some(b) => b.findings.page(&filter, offset, limit).map_err(|e| {
                        fuda_keyd::Error::Invalid(format!("reading the findings: {e}"))
                    }),
                    None => Ok((0, Vec::new())),
                }
            };
            let (total, _) = read(0, 0)?;
            pager = Pager::new(q.pages(), total);
            let (_, found) = read(pager.offset(), pager.per_page)?;
            files = finding_files(service, &policy, ui, found).await?;
        }
        ("files", None) => {
            let filter = IndexFilter {
                machine: machine.map(str::to_owned),
                level: level_is(q),
            };
            let total = match b {
                Some(b) => counted(&b.counts, &filter),
                None => {
                    let s = service.clone();
                    let counts = tokio::task::spawn_blocking(move || {
                        s.index_snapshot()
                            .and_then(|mut snap| Ok(snap.index_counts()?))
                    })
                    .await
                    .map_err(|_| fuda_keyd::Error::ShuttingDown)??;
                    counted(&counts, &filter)
                }
            };
            pager = Pager::new(q.pages(), total);
            let (s, offset, limit) = (
                service.clone(),
                pager.offset() as u64,
                pager.per_page as u32,
            );
            let listed = tokio::task::spawn_blocking(move || {
                s.index_snapshot()
                    .and_then(|mut snap| Ok(snap.index_page(&filter, offset, limit)?))
            })
            .await
            .map_err(|_| fuda_keyd::Error::ShuttingDown)??;
            files = listed
                .into_iter()
                .map(|f| file_view(&policy, ui, f, None))
                .collect();
        }
        _ => {
            let all: Vec<&AssetRow> = b
                .map(|b| b.ledger.rows.iter().collect())
                .unwrap_or_default();
            let prefix = machine.map(|m| format!("{m}:"));
            let kept: Vec<&AssetRow> = all
                .into_iter()
                .filter(|r| which != "confidential" || confidential(&policy, r))
                .filter(|r| level.is_none_or(|l| r.level == l))
                .filter(|r| department.is_none_or(|d| r.department.as_deref() == Some(d)))
                .filter(|r| {
                    prefix
                        .as_deref()
                        .is_none_or(|p| r.locations.iter().any(|l| l.starts_with(p)))
                })
                .collect();
            pager = Pager::new(q.pages(), kept.len());
            rows = pager
                .slice(&kept)
                .iter()
                .map(|r| row_view(&policy, ui, r))
                .collect();
        }
    }
    Ok(frame(
        ui,
        q,
        which,
        &view,
        levels,
        departments,
        machines,
        kinds,
        rows,
        files,
        pager,
    ))
}

/// The files of a page of findings, each with its level and document from the index.
async fn finding_files(
    service: &Service,
    policy: &Policy,
    ui: &Ui,
    found: Vec<Finding>,
) -> Result<Vec<FileView>, fuda_keyd::Error> {
    let s = service.clone();
    let keys: Vec<(String, std::path::PathBuf)> = found
        .iter()
        .map(|f| {
            let machine = cache::machine_of(f).to_owned();
            let path = strip_machine(&f.path, &machine);
            (machine, path)
        })
        .collect();
    let listed = tokio::task::spawn_blocking(
        move || -> Result<Vec<Option<ListedFile>>, fuda_keyd::Error> {
            let mut snap = s.index_snapshot()?;
            keys.iter()
                .map(|(m, p)| Ok(snap.index_file(m, p)?))
                .collect()
        },
    )
    .await
    .map_err(|_| fuda_keyd::Error::ShuttingDown)??;
    Ok(found
        .into_iter()
        .zip(listed)
        .map(|(f, listed)| {
            let detail = ui.t(&f.detail_ja, &f.detail).to_owned();
            match listed {
                Some(l) => file_view(policy, ui, l, Some(detail)),
                None => FileView {
                    machine: cache::machine_of(&f).to_owned(),
                    machine_href: machine_href(cache::machine_of(&f)),
                    doc_href: None,
                    path: escaped(strip_machine(&f.path, cache::machine_of(&f))),
                    level: level_name(policy, ui.lang, f.level.as_deref()),
                    status: String::new(),
                    protected: false,
                    size: 0,
                    modified: String::new(),
                    doc: None,
                    finding: Some(detail),
                },
            }
        })
        .collect())
}

/// The path on its machine of a company path `MACHINE:PATH`.
pub fn strip_machine(path: &std::path::Path, machine: &str) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    let bytes = path.as_os_str().as_bytes();
    let rest = bytes.get(machine.len() + 1..).unwrap_or_default();
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(rest))
}

#[allow(clippy::too_many_arguments)]
fn frame(
    ui: &Ui,
    q: &LedgerQuery,
    which: &'static str,
    view: &View,
    levels: Vec<(String, String)>,
    departments: Vec<String>,
    machines: Vec<String>,
    kinds: Vec<(String, String)>,
    rows: Vec<RowView>,
    files: Vec<FileView>,
    pager: Pager,
) -> LedgerPage {
    let b = view.built.as_deref();
    let tabs = [
        ("rows", ui.t("情報資産管理台帳", "Asset ledger")),
        ("confidential", ui.t("機密情報台帳", "Confidential ledger")),
        ("files", ui.t("ファイル明細", "Files")),
    ]
    .into_iter()
    .map(|(v, label)| {
        let mut t = q.clone();
        if v != "files" {
            t.finding = None;
        }
        let mut href = t.base(v);
        href.pop();
        (href, label, which == v)
    })
    .collect();
    LedgerPage {
        ui: ui.clone(),
        view: which,
        built: b.is_some(),
        updating: view.updating,
        failed: view.failed.clone(),
        as_of: b
            .map(|b| ui.time(b.ledger.generated_at))
            .unwrap_or_default(),
        complete: b.is_none_or(|b| b.ledger.complete()),
        overdue: b.map(|b| b.ledger.overdue.join(", ")).unwrap_or_default(),
        levels: choices(levels, given(&q.level), ui.lang),
        departments: choices(
            departments.into_iter().map(|d| (d.clone(), d)),
            given(&q.department),
            ui.lang,
        ),
        machines: choices(
            machines.into_iter().map(|m| (m.clone(), m)),
            given(&q.machine),
            ui.lang,
        ),
        findings: choices(kinds, given(&q.finding), ui.lang),
        rows,
        files,
        department_ignored: which == "files" && given(&q.department).is_some(),
        pager,
        base: q.base(which),
        tabs,
    }
}

/// `?format=xlsx|csv` of a download.
#[derive(Deserialize)]
struct DownloadQuery {
    format: String,
}

/// The ledger as a file, written by `fuda admin ledger`'s own writer (xlsx, or the CSV
/// of 情報資産管理台帳) in the page's language; audited `ledger-export`.
async fn download(
    State(service): State<Service>,
    me: Signed,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let format = match format_of(&q.format) {
        Ok(f) => f,
        Err(e) => return failed(&me.ui, &e),
    };
    ledger_file(&service, &me, format, None).await
}

/// The format a download or review asks for.
fn format_of(asked: &str) -> Result<Format, fuda_keyd::Error> {
    match asked {
        "xlsx" => Ok(Format::Xlsx),
        "csv" => Ok(Format::Csv),
        "json" => Ok(Format::Json),
        _ => Err(fuda_keyd::Error::Invalid(format!(
            "format {asked:?}: the console writes xlsx, csv or json"
        ))),
    }
}

/// The yearly review: the ledger as now, compared file by file with a previous JSON
/// ledger the person uploads (what `fuda admin ledger --since FILE` does), as a file in
/// the format asked for. A form with a file is `multipart/form-data`: its CSRF token is
/// checked here, before the file is read.
async fn review(State(service): State<Service>, me: Signed, mut form: Multipart) -> Response {
    let refused = || super::page::status_page(me.ui.lang, axum::http::StatusCode::FORBIDDEN);
    let (mut format, mut previous, mut csrf) = (Format::Xlsx, None, false);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return failed(
                    &me.ui,
                    &fuda_keyd::Error::Invalid(format!("the uploaded form: {e}")),
                )
            }
        };
        match field.name().unwrap_or_default() {
            "csrf" => csrf = me.csrf_ok(&field.text().await.unwrap_or_default()),
            "format" => match format_of(&field.text().await.unwrap_or_default()) {
                Ok(f) => format = f,
                Err(e) => return failed(&me.ui, &e),
            },
            "previous" if csrf => {
                let name = field
                    .file_name()
                    .unwrap_or("the previous ledger")
                    .to_owned();
                let bytes = match field.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        return failed(&me.ui, &fuda_keyd::Error::Invalid(format!("{name}: {e}")))
                    }
                };
                match Previous::from_reader(&mut std::io::BufReader::new(&bytes[..])) {
                    Ok(p) => previous = Some(p),
                    Err(why) => {
                        return failed(
                            &me.ui,
                            &fuda_keyd::Error::Invalid(format!(
                                "{name} is not a JSON ledger fuda wrote ({why}): choose the JSON ledger kept from last time (this page's JSON download, or `fuda admin ledger --format json`)"
                            )),
                        )
                    }
                }
            }
            _ if !csrf => return refused(),
            _ => {}
        }
    }
    if !csrf {
        return refused();
    }
    let Some(previous) = previous else {
        return failed(
            &me.ui,
            &fuda_keyd::Error::Invalid("choose the previous ledger (JSON) to compare with".into()),
        );
    };
    ledger_file(&service, &me, format, Some(previous)).await
}

/// The company ledger as a file (`fuda admin ledger`'s writer), with the review against
/// `previous` when given; audited `ledger-export`.
async fn ledger_file(
    service: &Service,
    me: &Signed,
    format: Format,
    previous: Option<Previous>,
) -> Response {
    let detail = serde_json::json!({
        "stream": wire::FORMAT,
        "format": format.extension(),
        "via": "console",
        "review": previous.is_some(),
    });
    let sources = match service.ledger_sources(me.caller(), detail).await {
        Ok(s) => s,
        Err(e) => return failed(&me.ui, &e),
    };
    let policy = sources
        .policy
        .clone()
        .unwrap_or_else(|| super::page::policy_shown(service));
    let lang = match me.ui.lang {
        Lang::Ja => Language::Ja,
        Lang::En => Language::En,
    };
    let company = match cache::receive(service, sources, policy.clone(), previous).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the console's ledger download failed");
            return failed(&me.ui, &fuda_keyd::Error::Invalid(e));
        }
    };
    let name = format!(
        "company-ledger-{}.{}",
        ledger::date(company.generated_at, policy.utc_offset),
        format.extension()
    );
    let dir = service.dir().to_owned();
    let written = tokio::task::spawn_blocking(move || -> Result<std::fs::File, String> {
        let tmp = tempfile::tempdir_in(&dir).map_err(|e| e.to_string())?;
        let dest = tmp.path().join("ledger").with_extension(format.extension());
        ledger::company::write(&company, &policy, format, lang, &dest)
            .map_err(|e| e.to_string())?;
        // Open, then let the folder go: the file lives on through its handle.
        std::fs::File::open(&dest).map_err(|e| e.to_string())
    })
    .await;
    let file = match written {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the console's ledger download failed");
            return failed(&me.ui, &fuda_keyd::Error::Invalid(e));
        }
        Err(_) => return failed(&me.ui, &fuda_keyd::Error::ShuttingDown),
    };
    let content_type = match format {
        Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Format::Json => "application/json",
        _ => "text/csv; charset=utf-8",
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(blocks(file)),
    )
        .into_response()
}

/// A file's content, 64 KiB at a time, read on a blocking thread.
fn blocks(file: std::fs::File) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut file = file;
        loop {
            let mut buf = vec![0; 64 * 1024];
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}
