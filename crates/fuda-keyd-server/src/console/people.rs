//! People and groups (`/console/people`): the directory (active, disabled, pending
//! enrollment; roles, departments, groups) and, for admins, adding a person (the
//! enrollment code shown once, on the answer page only), disabling and enabling, the
//! department and group membership, a new enrollment code for a lost machine, and a
//! leaver's access removed everywhere in one confirmed action. The service decides and
//! audits every step.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use fuda_keyd::directory::{EntryKind, Group, NewUser, User, UserStatus};
use fuda_keyd::service::{RevokeTarget, Service, UserAdded};
use fuda_keyd::Error;

use super::page::{html, status_of, Ui};
use super::pager::{PageQuery, Pager};
use super::{failed, Change, Signed};

/// The people pages' routes.
pub fn routes() -> Router<Service> {
    Router::new()
        .route("/console/people", get(list))
        .route("/console/people/user", get(person))
        .route("/console/people/leaver", get(leaver_confirm).post(leaver))
        .route("/console/people/add", post(add))
        .route("/console/people/status", post(status))
        .route("/console/people/dept", post(dept))
        .route("/console/people/member", post(member))
        .route("/console/people/code", post(code))
        .route("/console/people/group", post(group_add))
}

/// Where a person stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Standing {
    /// Any state (the filter's default).
    #[default]
    All,
    /// Active and enrolled.
    Active,
    /// Active, not enrolled yet.
    Pending,
    /// Disabled.
    Disabled,
}

fn state_of(u: &User) -> Standing {
    match (u.status, u.recipient.is_some()) {
        (UserStatus::Disabled, _) => Standing::Disabled,
        (UserStatus::Active, true) => Standing::Active,
        (UserStatus::Active, false) => Standing::Pending,
    }
}

/// The list's search: GET parameters, so that a search is a link.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct Filter {
    /// A piece of the login name, display name or department.
    q: String,
    /// Only people in this state.
    state: Standing,
}

impl Filter {
    fn matches(&self, u: &User) -> bool {
        let q = self.q.trim().to_lowercase();
        let text = q.is_empty()
            || u.name.to_lowercase().contains(&q)
            || u.display_name.to_lowercase().contains(&q)
            || u.dept
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(&q));
        text && (self.state == Standing::All || self.state == state_of(u))
    }

    fn base(&self) -> String {
        match serde_urlencoded::to_string(self) {
            Ok(q) => format!("/console/people?{q}&"),
            Err(_) => "/console/people?".into(),
        }
    }
}

/// A person as the pages show them.
struct Person {
    name: String,
    /// `/console/people/user?name=…`
    href: String,
    /// `/console/people/leaver?name=…`
    leaver_href: String,
    display_name: String,
    dept: String,
    groups: Vec<String>,
    state: Standing,
    admin: bool,
    auditor: bool,
    kind: &'static str,
}

fn person_view(ui: &Ui, u: &User) -> Person {
    Person {
        href: user_href(&u.name, ""),
        leaver_href: format!(
            "/console/people/leaver?{}",
            serde_urlencoded::to_string([("name", &u.name)]).unwrap_or_default()
        ),
        name: u.name.clone(),
        display_name: u.display_name.clone(),
        dept: u.dept.clone().unwrap_or_default(),
        groups: u.groups.clone(),
        state: state_of(u),
        admin: u.admin,
        auditor: u.auditor,
        kind: match u.kind {
            EntryKind::Person => ui.t("人", "person"),
            EntryKind::Hook => ui.t("ファイルサーバーのフック", "file-server hook"),
            EntryKind::Machine => ui.t("マシン", "machine"),
        },
    }
}

/// A person's page, with a status line (`done`).
fn user_href(name: &str, done: &str) -> String {
    let mut q = vec![("name", name)];
    if !done.is_empty() {
        q.push(("done", done));
    }
    format!(
        "/console/people/user?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

#[derive(Template)]
#[template(path = "console/people.html")]
struct ListPage {
    ui: Ui,
    done: String,
    problem: String,
    filter: Filter,
    people: Vec<Person>,
    groups: Vec<Group>,
    pager: Pager,
    base: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Done {
    done: String,
}

/// `GET /console/people`.
async fn list(
    State(service): State<Service>,
    me: Signed,
    Query(filter): Query<Filter>,
    Query(paging): Query<PageQuery>,
    Query(done): Query<Done>,
) -> Response {
    let done = done_text(&me.ui, &done.done);
    match build_list(&service, &me, (filter, paging), done, String::new()).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

async fn build_list(
    service: &Service,
    me: &Signed,
    (filter, paging): (Filter, PageQuery),
    done: String,
    problem: String,
) -> Result<ListPage, Error> {
    let users = service.user_list(me.caller()).await?;
    let groups = service.group_list(me.caller()).await?;
    let found: Vec<&User> = users.iter().filter(|u| filter.matches(u)).collect();
    let pager = Pager::new(paging, found.len());
    Ok(ListPage {
        ui: me.ui.clone(),
        done,
        problem,
        people: pager
            .slice(&found)
            .iter()
            .map(|u| person_view(&me.ui, u))
            .collect(),
        groups,
        pager,
        base: filter.base(),
        filter,
    })
}

#[derive(Template)]
#[template(path = "console/person.html")]
struct PersonPage {
    ui: Ui,
    done: String,
    problem: String,
    p: Person,
    /// Groups the person is not in (for the add form).
    other_groups: Vec<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Who {
    name: String,
    done: String,
}

/// `GET /console/people/user?name=…`.
async fn person(State(service): State<Service>, me: Signed, Query(who): Query<Who>) -> Response {
    let done = done_text(&me.ui, &who.done);
    match build_person(&service, &me, &who.name, done, String::new()).await {
        Ok(page) => me.answer(html(&page)),
        Err(e) => failed(&me.ui, &e),
    }
}

/// The directory entry `name`, read as the signed-in person (admins and auditors).
async fn find_user(service: &Service, me: &Signed, name: &str) -> Result<User, Error> {
    service
        .user_list(me.caller())
        .await?
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(|| Error::NotFound(format!("user {name} does not exist")))
}

async fn build_person(
    service: &Service,
    me: &Signed,
    name: &str,
    done: String,
    problem: String,
) -> Result<PersonPage, Error> {
    let u = find_user(service, me, name).await?;
    let other_groups = service
        .group_list(me.caller())
        .await?
        .into_iter()
        .map(|g| g.name)
        .filter(|g| !u.groups.contains(g) && u.dept.as_deref() != Some(g))
        .collect();
    Ok(PersonPage {
        ui: me.ui.clone(),
        done,
        problem,
        p: person_view(&me.ui, &u),
        other_groups,
    })
}

/// The status line after a change (`?done=`).
fn done_text(ui: &Ui, done: &str) -> String {
    let (ja, en) = match done {
        "disabled" => (
            "利用を停止しました。この人の要求はすべて拒否されます。",
            "Disabled: every request of theirs is refused.",
        ),
        "enabled" => (
            "利用を再開しました。以前のトークンは使えないため、新しい登録コードで登録し直してもらってください。",
            "Enabled. Their old tokens no longer work: give them a new enrollment code.",
        ),
        "dept" => ("部署を変更しました。", "The department is changed."),
        "member" => ("グループを変更しました。", "The groups are changed."),
        "group" => ("グループを作成しました。", "The group is created."),
        _ => ("", ""),
    };
    ui.t(ja, en).to_owned()
}

/// A refused change: the page it came from with the service's words, at the refusal's
/// status; a failure of the service itself is an error page.
async fn refused(service: &Service, who: &Signed, name: Option<&str>, e: Error) -> Response {
    let status = status_of(&e);
    if status.is_server_error() {
        return failed(&who.ui, &e);
    }
    let page = match name {
        Some(name) => build_person(service, who, name, String::new(), e.to_string())
            .await
            .map(|p| html(&p)),
        None => build_list(
            service,
            who,
            Default::default(),
            String::new(),
            e.to_string(),
        )
        .await
        .map(|p| html(&p)),
    };
    match page {
        Ok(resp) => {
            let mut resp = who.answer(resp);
            *resp.status_mut() = status;
            resp
        }
        Err(_) => failed(&who.ui, &e),
    }
}

/// The role a new person gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    /// Staff.
    #[default]
    Staff,
    /// An administrator.
    Admin,
    /// A read-only auditor.
    Auditor,
}

/// The add-person form.
#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    dept: String,
    /// Groups besides the department, comma separated.
    #[serde(default)]
    groups: String,
    #[serde(default)]
    role: Role,
}

/// What a page shows once: an enrollment code and the command that redeems it.
#[derive(Template)]
#[template(path = "console/person_code.html")]
struct CodePage {
    ui: Ui,
    /// A person was added (rather than a new code made for one).
    added: bool,
    p: Person,
    code: String,
    command: String,
    /// Groups that could not be joined, with why (the person exists).
    group_problems: Vec<String>,
}

fn trimmed(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The command a new person runs with their code.
fn enroll_command(service: &Service, headers: &HeaderMap, name: &str, code: &str) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("SERVICE");
    let fingerprint = crate::tls::fingerprint_of(&service.dir().join("tls"))
        .unwrap_or_else(|_| "FINGERPRINT".into());
    format!(
        "fuda init --name {name} --service https://{host} --enroll {code} --ca-fingerprint {fingerprint}"
    )
}

fn code_page(
    service: &Service,
    who: &Signed,
    headers: &HeaderMap,
    added: UserAdded,
    is_new: bool,
    group_problems: Vec<String>,
) -> Response {
    let page = CodePage {
        ui: who.ui.clone(),
        added: is_new,
        command: enroll_command(service, headers, &added.user.name, &added.code),
        p: person_view(&who.ui, &added.user),
        code: added.code,
        group_problems,
    };
    who.answer(html(&page))
}

/// `POST /console/people/add`: adds a person and shows their code once.
async fn add(
    State(service): State<Service>,
    headers: HeaderMap,
    change: Change<AddForm>,
) -> Response {
    let f = change.form;
    let new = NewUser {
        name: f.name.trim().to_owned(),
        display_name: trimmed(&f.display_name),
        dept: trimmed(&f.dept),
        admin: f.role == Role::Admin,
        auditor: f.role == Role::Auditor,
        kind: EntryKind::Person,
    };
    let mut added = match service.user_add(change.who.caller(), new).await {
        Ok(a) => a,
        Err(e) => return refused(&service, &change.who, None, e).await,
    };
    let mut problems = Vec::new();
    for g in f.groups.split(',').filter_map(trimmed) {
        match service
            .group_member(
                change.who.caller(),
                g.clone(),
                added.user.name.clone(),
                true,
            )
            .await
        {
            Ok(()) => added.user.groups.push(g),
            Err(e) => problems.push(format!("{g}: {e}")),
        }
    }
    code_page(&service, &change.who, &headers, added, true, problems)
}

/// A form naming one person.
#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

/// `POST /console/people/code`: a new enrollment code (a lost or new machine).
async fn code(
    State(service): State<Service>,
    headers: HeaderMap,
    change: Change<NameForm>,
) -> Response {
    let name = change.form.name;
    match service.user_code(change.who.caller(), name.clone()).await {
        Ok(added) => code_page(&service, &change.who, &headers, added, false, Vec::new()),
        Err(e) => refused(&service, &change.who, Some(&name), e).await,
    }
}

/// The enable/disable form.
#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
}

/// `POST /console/people/status`.
async fn status(State(service): State<Service>, change: Change<StatusForm>) -> Response {
    let StatusForm { name, status } = change.form;
    let (status, done) = match status.as_str() {
        "active" => (UserStatus::Active, "enabled"),
        "disabled" => (UserStatus::Disabled, "disabled"),
        _ => {
            let e = Error::Invalid(format!("status {status:?}: active or disabled"));
            return refused(&service, &change.who, Some(&name), e).await;
        }
    };
    match service
        .user_status(change.who.caller(), name.clone(), status)
        .await
    {
        Ok(_) => Redirect::to(&user_href(&name, done)).into_response(),
        Err(e) => refused(&service, &change.who, Some(&name), e).await,
    }
}

/// The department form (empty: no department).
#[derive(Deserialize)]
struct DeptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    dept: String,
}

/// `POST /console/people/dept`.
async fn dept(State(service): State<Service>, change: Change<DeptForm>) -> Response {
    let DeptForm { name, dept } = change.form;
    match service
        .user_dept(change.who.caller(), name.clone(), trimmed(&dept))
        .await
    {
        Ok(_) => Redirect::to(&user_href(&name, "dept")).into_response(),
        Err(e) => refused(&service, &change.who, Some(&name), e).await,
    }
}

/// The group membership form.
#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    group: String,
    /// `add` or `remove`.
    #[serde(default)]
    op: String,
}

/// `POST /console/people/member`.
async fn member(State(service): State<Service>, change: Change<MemberForm>) -> Response {
    let MemberForm { name, group, op } = change.form;
    let group = group.trim().to_owned();
    let member = match op.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            let e = Error::Invalid(format!("op {op:?}: add or remove"));
            return refused(&service, &change.who, Some(&name), e).await;
        }
    };
    let outcome = service
        .group_member(change.who.caller(), group, name.clone(), member)
        .await;
    match outcome {
        Ok(()) => Redirect::to(&user_href(&name, "member")).into_response(),
        Err(e) => refused(&service, &change.who, Some(&name), e).await,
    }
}

/// The new-group form.
#[derive(Deserialize)]
struct GroupForm {
    #[serde(default)]
    group: String,
}

/// `POST /console/people/group`.
async fn group_add(State(service): State<Service>, change: Change<GroupForm>) -> Response {
    let group = change.form.group.trim().to_owned();
    match service.group_add(change.who.caller(), group).await {
        Ok(()) => Redirect::to("/console/people?done=group").into_response(),
        Err(e) => refused(&service, &change.who, None, e).await,
    }
}

/// One step of removing a leaver's access, and how it went.
struct Step {
    what: &'static str,
    outcome: StepOutcome,
}

enum StepOutcome {
    Done(String),
    Failed(String),
    NotRun,
}

#[derive(Template)]
#[template(path = "console/leaver.html")]
struct LeaverPage {
    ui: Ui,
    p: Person,
    /// Empty: the confirmation, before anything is done.
    steps: Vec<Step>,
    /// Every step was done.
    complete: bool,
}

/// `GET /console/people/leaver?name=…`: what the action will do, and the button that
/// does it. Nothing changes here.
async fn leaver_confirm(
    State(service): State<Service>,
    me: Signed,
    Query(who): Query<Who>,
) -> Response {
    match find_user(&service, &me, &who.name).await {
        Ok(u) => me.answer(html(&LeaverPage {
            p: person_view(&me.ui, &u),
            ui: me.ui.clone(),
            steps: Vec::new(),
            complete: false,
        })),
        Err(e) => failed(&me.ui, &e),
    }
}

/// `POST /console/people/leaver`: disables the person, revokes them on every document and
/// ends their tokens, in that order, stopping at the first refusal; the answer lists what
/// was done. Each step is its own audited change in the service.
async fn leaver(State(service): State<Service>, change: Change<NameForm>) -> Response {
    let me = &change.who;
    let lang = me.ui.lang;
    let name = change.form.name;
    let u = match find_user(&service, me, &name).await {
        Ok(u) => u,
        Err(e) => return failed(&me.ui, &e),
    };
    let mut s = Steps::default();
    let outcome = if s.go() {
        let r = service
            .user_status(me.caller(), name.clone(), UserStatus::Disabled)
            .await;
        Some(r.map(|_| lang.t("利用を停止しました", "disabled").to_owned()))
    } else {
        None
    };
    s.record(lang.t("利用停止", "Disable"), outcome);
    let outcome = if s.go() {
        let everywhere = RevokeTarget {
            doc: None,
            user: Some(name.clone()),
        };
        let r = service.revoke(me.caller(), everywhere).await;
        Some(r.map(|_| {
            lang.t("すべての文書で失効しました", "revoked on every document")
                .to_owned()
        }))
    } else {
        None
    };
    s.record(
        lang.t("全文書での失効", "Revoke on every document"),
        outcome,
    );
    let outcome = if s.go() {
        let r = service.revoke_tokens(me.caller(), name.clone()).await;
        Some(r.map(|n| {
            format!(
                "{n} {}",
                lang.t("件のトークンを無効にしました", "tokens ended")
            )
        }))
    } else {
        None
    };
    s.record(lang.t("トークンの無効化", "End their tokens"), outcome);
    let mut resp = me.answer(html(&LeaverPage {
        ui: me.ui.clone(),
        p: person_view(&me.ui, &u),
        complete: s.go(),
        steps: s.steps,
    }));
    if let Some(status) = s.failure {
        *resp.status_mut() = status;
    }
    resp
}

/// The leaver's steps so far.
#[derive(Default)]
struct Steps {
    steps: Vec<Step>,
    /// The status of the step that failed.
    failure: Option<StatusCode>,
}

impl Steps {
    /// Whether the next step runs (none failed yet).
    fn go(&self) -> bool {
        self.failure.is_none()
    }

    /// Adds a step's outcome (`None`: not run, an earlier step failed).
    fn record(&mut self, what: &'static str, outcome: Option<Result<String, Error>>) {
        let outcome = match outcome {
            None => StepOutcome::NotRun,
            Some(Ok(done)) => StepOutcome::Done(done),
            Some(Err(e)) => {
                let status = status_of(&e);
                self.failure = Some(status);
                StepOutcome::Failed(if status.is_server_error() {
                    tracing::error!(error = %e, "a step of removing a leaver's access failed");
                    "the key service failed (see its log)".into()
                } else {
                    e.to_string()
                })
            }
        };
        self.steps.push(Step { what, outcome });
    }
}
