//! The overview (`/console`): the company at a glance — protected documents per level,
//! people, machines and when each last reported.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use fuda_keyd::directory::{EntryKind, UserStatus};
use fuda_keyd::report::MachineStatus;
use fuda_keyd::service::Service;

use super::page::{html, Ui};
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

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    ui: Ui,
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

async fn build(service: &Service, me: &Signed) -> Result<Overview, fuda_keyd::Error> {
    let documents = service.documents(me.caller()).await?;
    let users = service.user_list(me.caller()).await?;
    let revocations = service.revocations(me.caller()).await?.len();
    let policy = service
        .policy_in_force()
        .map_or_else(|| fuda_core::policy::Policy::builtin("default"), Ok)
        .map_err(|e| fuda_keyd::Error::Invalid(e.to_string()))?;
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
    let machines = service
        .machines()?
        .into_iter()
        .map(|m: MachineStatus| Machine {
            overdue: m.overdue(now),
            last_report: m.last_report_at.map(|t| me.ui.time(t)),
            name: m.name,
            files: m.files,
        })
        .collect();
    Ok(Overview {
        ui: me.ui.clone(),
        documents: documents.len(),
        levels,
        revocations,
        people,
        machines,
    })
}
