//! The overview (`/console`): the company at a glance — files per level across every
//! machine, open findings by kind, protected documents per level, people, machines and
//! when each last reported.
//!
//! The company-wide figures come from the ledger the console keeps
//! ([`super::ledger::cache`]); the overview never waits for it to be built, it says
//! the figures are being counted.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use fuda_keyd::directory::{EntryKind, UserStatus};
use fuda_keyd::report::MachineStatus;
use fuda_keyd::service::Service;

use super::ledger::cache;
use super::page::{html, Lang, Ui};
use super::{failed, Signed};

/// The overview's routes.
pub fn routes() -> Router<Service> {
    Router::new().route("/console", get(overview))
}

/// One level's row: its name and how many protected documents it has.
pub struct LevelCount {
    /// The level's name in the page's language.
    pub name: String,
    /// Its rank (0 lowest), for the colour.
    pub rank: u8,
    /// Registered documents at this level.
    pub documents: usize,
}

/// The people of the directory, counted.
#[derive(Default)]
pub struct People {
    /// Active people who enrolled a machine.
    pub active: usize,
    /// Disabled people.
    pub disabled: usize,
    /// People who have not enrolled yet.
    pub pending: usize,
    /// Administrators.
    pub admins: usize,
    /// Auditors.
    pub auditors: usize,
}

/// A reporting machine, as the overview lists it.
pub struct Machine {
    /// Its name.
    pub name: String,
    /// When it last completed a report.
    pub last_report: Option<String>,
    /// Whether it is late.
    pub overdue: bool,
    /// Its files in the company index.
    pub files: u64,
}

/// One level's files across the company.
pub struct LevelFiles {
    /// The level's name in the page's language.
    pub name: String,
    /// Its rank (0 lowest), for the colour.
    pub rank: u8,
    /// Files at this level in the index.
    pub files: u64,
    /// Of which protected.
    pub protected: u64,
    /// The ledger's files at this level.
    pub href: String,
}

/// Open findings of one kind.
pub struct KindCount {
    /// The kind's name.
    pub title: &'static str,
    /// How many.
    pub count: usize,
    /// Its findings.
    pub href: String,
    /// Whether it is urgent.
    pub high: bool,
}

/// The company-wide figures of the built ledger.
pub struct Company {
    /// When the ledger was built.
    pub as_of: String,
    /// Files in the index.
    pub files: u64,
    /// Per level, highest first, then unlabeled.
    pub levels: Vec<LevelFiles>,
    /// Open findings, most urgent kind first.
    pub findings: Vec<KindCount>,
    /// Findings in all.
    pub total_findings: usize,
}

/// The audit chain's last verification (an `audit-verify` record), as the overview shows it.
pub struct ChainCheck {
    /// When.
    pub at: String,
    /// By whom.
    pub by: String,
    /// Whether the chain was intact.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// What was wrong, if anything.
    pub problem: String,
}

impl ChainCheck {
    fn of(r: fuda_keyd::audit::Record, ui: &Ui) -> ChainCheck {
        let d = &r.event.detail;
        ChainCheck {
            at: ui.time(r.at_ms / 1000),
            by: r.event.actor.clone(),
            ok: d["ok"].as_bool().unwrap_or(false),
            records: d["records"].as_u64().unwrap_or(0),
            problem: d["problem"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    /// The chain's last verification, if it was ever verified.
    chain: Option<ChainCheck>,
    ui: Ui,
    company: Option<Company>,
    updating: bool,
    levels: Vec<LevelCount>,
    documents: usize,
    revocations: usize,
    people: People,
    machines: Vec<Machine>,
}

async fn overview(State(service): State<Service>, me: Signed) -> Response {
    match build(&service, &me).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

/// The figures of the built ledger, if there is one.
fn company(built: &cache::Built, lang: Lang, ui: &Ui) -> Company {
    let policy = &built.policy;
    let mut ids: Vec<Option<String>> = policy
        .levels
        .iter()
        .rev()
        .map(|l| Some(l.id.clone()))
        .collect();
    for c in &built.counts {
        if !ids.contains(&c.level) {
            ids.push(c.level.clone());
        }
    }
    let levels = ids
        .into_iter()
        .map(|id| {
            let of = built.counts.iter().filter(|c| c.level == id);
            let (files, protected) = of.fold((0, 0), |(f, p), c| (f + c.files, p + c.protected));
            let name = super::ledger::level_name(policy, lang, id.as_deref());
            LevelFiles {
                name: name.name,
                rank: name.rank,
                files,
                protected,
                href: format!(
                    "/console/ledger?view=files&level={}",
                    super::ledger::encode(id.as_deref().unwrap_or("-"))
                ),
            }
        })
        .collect();
    Company {
        as_of: ui.time(built.ledger.generated_at),
        files: built.counts.iter().map(|c| c.files).sum(),
        levels,
        findings: built
            .findings
            .by_kind()
            .into_iter()
            .map(|(k, n)| KindCount {
                title: k.title(lang == Lang::Ja),
                count: n,
                href: format!("/console/findings?kind={}", k.as_str()),
                high: k.severity() == fuda_ledger::inventory::Severity::High,
            })
            .collect(),
        total_findings: built.findings.len(),
    }
}

async fn build(service: &Service, me: &Signed) -> Result<Overview, fuda_keyd::Error> {
    let view = cache::view(service, me.caller(), false).await?;
    let documents = service.documents(me.caller()).await?;
    let users = service.user_list(me.caller()).await?;
    let revocations = service.revocations(me.caller()).await?.len();
    let policy = super::page::policy_shown(service);
    let mut levels: Vec<LevelCount> = policy
        .levels
        .iter()
        .rev()
        .map(|l| LevelCount {
            name: me.ui.t(&l.name_ja, &l.name_en).to_owned(),
            rank: l.rank,
            documents: documents.iter().filter(|d| d.level == l.id).count(),
        })
        .collect();
    let unknown = documents
        .iter()
        .filter(|d| policy.level(&d.level).is_none())
        .count();
    if unknown > 0 {
        levels.push(LevelCount {
            name: me
                .ui
                .t("（ポリシーにない区分）", "(level not in the policy)")
                .to_owned(),
            rank: 0,
            documents: unknown,
        });
    }
    let mut people = People::default();
    for u in users.iter().filter(|u| u.kind == EntryKind::Person) {
        match (u.status, u.recipient.is_some()) {
            (UserStatus::Disabled, _) => people.disabled += 1,
            (UserStatus::Active, true) => people.active += 1,
            (UserStatus::Active, false) => people.pending += 1,
        }
        people.admins += usize::from(u.admin);
        people.auditors += usize::from(u.auditor);
    }
    let now = fuda_keyd::now();
    // The machines with their files as the built ledger counted them (counting a million
    // files per page is what the ledger's cache is for); before it, from the index.
    let statuses = match &view.built {
        Some(b) => b
            .ledger
            .sources
            .iter()
            .map(|s| MachineStatus {
                name: s.name.clone(),
                kind: fuda_keyd::directory::EntryKind::parse(&s.kind),
                last_report_at: s.last_report_at,
                expected_interval_s: s.expected_interval_s,
                files: s.files,
            })
            .collect(),
        None => service.machines()?,
    };
    let machines = statuses
        .into_iter()
        .map(|m: MachineStatus| Machine {
            overdue: m.overdue(now),
            last_report: m.last_report_at.map(|t| me.ui.time(t)),
            name: m.name,
            files: m.files,
        })
        .collect();
    let chain = service
        .audit(
            me.caller(),
            fuda_keyd::audit::Query {
                action: Some("audit-verify".into()),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?
        .pop()
        .map(|r| ChainCheck::of(r, &me.ui));
    Ok(Overview {
        chain,
        company: view
            .built
            .as_deref()
            .map(|b| company(b, me.ui.lang, &me.ui)),
        updating: view.updating,
        ui: me.ui.clone(),
        documents: documents.len(),
        levels,
        revocations,
        people,
        machines,
    })
}
