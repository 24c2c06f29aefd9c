//! The console's People and groups pages over plain HTTPS against a real `fuda-keyd`,
//! with real `fuda` users: the directory as it stands, adding a person (the enrollment
//! code shown once), disabling and enabling, departments and groups changing what people
//! may open, a new code for a lost machine, a leaver's access removed everywhere in one
//! confirmed action — and an auditor who sees all of it and changes none of it.

mod common;

use std::path::PathBuf;

use common::console::{assert_ok, opens, text};
use common::console::{Page, Visitor};
use common::keyd::{policy_with_recovery, Keyd};
use common::{p, workdir, write, User};

/// A service with an admin, an auditor (audrey), tanaka (設計部, who protects) and sato
/// (営業部, granted view on tanaka's file).
struct Office {
    keyd: Keyd,
    work: tempfile::TempDir,
    policy: PathBuf,
    admin: User,
    auditor: User,
    tanaka: User,
    sato: User,
    /// tanaka's protected file (設計部 may view and edit, sato may view).
    sealed: PathBuf,
}

fn office() -> Office {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let run = admin
        .fuda(&["admin", "user", "add", "audrey", "--auditor", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let auditor = keyd.enroll("audrey", &code, &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let sato = keyd.add(&admin, "sato", "営業部", &policy);
    let file = work.path().join("drawing.txt");
    write(&file, b"bracket, rev C\n");
    tanaka
        .fuda(&[
            "protect",
            p(&file),
            "--level",
            "confidential",
            "--grant",
            "user:sato=view",
        ])
        .expect(0);
    Office {
        keyd,
        sealed: work.path().join("drawing.txt.fuda"),
        work,
        policy,
        admin,
        auditor,
        tanaka,
        sato,
    }
}

/// The enrollment code a page shows.
fn code_in(page: &Page) -> String {
    let at = page.body.find("fudaenroll").expect("an enrollment code");
    page.body[at..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-')
        .next()
        .unwrap()
        .to_owned()
}

/// The directory as `fuda admin user list --json` prints it.
fn directory(admin: &User) -> Vec<serde_json::Value> {
    admin
        .fuda(&["admin", "user", "list", "--json"])
        .expect(0)
        .json_lines()
}

fn person(name: &str) -> String {
    format!("/console/people/user?name={name}")
}

#[test]
fn the_people_page_shows_everyone_with_state_role_department_and_groups() {
    let o = office();
    o.admin
        .fuda(&["admin", "user", "add", "kato", "--dept", "品質保証部"])
        .expect(0);
    o.admin
        .fuda(&["admin", "user", "disable", "sato"])
        .expect(0);
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/people");
    assert_ok(&page);
    let row = |name: &str| {
        let at = page
            .body
            .find(&format!("<td>{name}</td>"))
            .unwrap_or_else(|| panic!("{name} listed: {}", page.body));
        let end = page.body[at..].find("</tr>").unwrap();
        page.body[at..at + end].to_owned()
    };
    assert!(row("kato").contains("登録待ち"), "{}", row("kato"));
    assert!(row("kato").contains("品質保証部"));
    assert!(row("sato").contains("停止中"), "{}", row("sato"));
    assert!(row("tanaka").contains("有効"), "{}", row("tanaka"));
    assert!(row("admin").contains("管理者"));
    assert!(row("audrey").contains("監査人"));
    // Departments are groups, with their members.
    assert!(page.body.contains("<td>設計部</td>"), "{}", page.body);

    let pending = admin.get("/console/people?state=pending");
    assert!(pending.body.contains("<td>kato</td>"));
    assert!(!pending.body.contains("<td>tanaka</td>"));
    let found = admin.get("/console/people?q=品質");
    assert!(found.body.contains("<td>kato</td>"));
    assert!(!found.body.contains("<td>sato</td>"));
    let en = admin.get("/console/people?lang=en&state=disabled");
    assert!(en.body.contains("People and groups"), "{}", en.body);
    assert!(en.body.contains("<td>sato</td>"));
}

#[test]
fn an_admin_adds_a_person_whose_code_is_shown_once_never_in_a_url_or_the_log() {
    let mut o = office();
    let log = o.work.path().join("keyd.log");
    o.keyd.stop();
    o.keyd.serve_logging_to(&[], &log);
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/people");
    let added = admin.post(
        "/console/people/add",
        &[
            ("csrf", &page.csrf()),
            ("name", "kato"),
            ("display_name", "加藤 一郎"),
            ("dept", "品質保証部"),
            ("groups", "監査対応, プロジェクトA"),
            ("role", "staff"),
        ],
    );
    // The answer itself shows the code (no redirect: it would put the code in a URL).
    assert_ok(&added);
    assert!(added.location.is_none());
    let code = code_in(&added);
    assert!(added.body.contains("今回だけ表示"), "{}", added.body);
    assert!(
        added
            .body
            .contains(&format!("fuda init --name kato --service {}", o.keyd.url())),
        "{}",
        added.body
    );
    assert!(added.body.contains(&o.keyd.fingerprint), "{}", added.body);

    // The person enrolls with it, in the department and groups given.
    o.keyd.enroll("kato", &code, &o.policy);
    let entry = directory(&o.admin)
        .into_iter()
        .find(|u| u["name"] == "kato")
        .unwrap();
    assert!(entry["recipient"].is_string(), "enrolled: {entry}");
    assert_eq!(entry["dept"], "品質保証部", "{entry}");
    assert_eq!(entry["display_name"], "加藤 一郎", "{entry}");
    let groups = entry["groups"].to_string();
    assert!(
        groups.contains("監査対応") && groups.contains("プロジェクトA"),
        "{entry}"
    );
    // The code was used once: it does not enroll a second machine.
    let again = User::new("kato");
    let run = again.fuda(&[
        "init",
        "--name",
        "kato",
        "--policy",
        p(&o.policy),
        "--service",
        &o.keyd.url(),
        "--enroll",
        &code,
        "--ca-fingerprint",
        &o.keyd.fingerprint,
    ]);
    assert_ne!(run.code, 0, "{}", run.stdout);

    // Nothing the service logged holds the code.
    o.keyd.stop();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.is_empty(), "the service logged its requests");
    assert!(!logged.contains(&code), "{logged}");
    assert!(!logged.contains("fudaenroll"), "{logged}");
}

#[test]
fn a_refused_addition_says_why_and_adds_nobody() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/people");
    let taken = admin.post(
        "/console/people/add",
        &[("csrf", &page.csrf()), ("name", "sato"), ("role", "staff")],
    );
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(taken.body.contains("already exists"), "{}", taken.body);
    let bad = admin.post(
        "/console/people/add",
        &[("csrf", &page.csrf()), ("name", "a:b"), ("role", "admin")],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(!directory(&o.admin).iter().any(|u| u["name"] == "a:b"));
    // A group needs a name the directory can hold.
    let nameless = admin.post(
        "/console/people/member",
        &[
            ("csrf", &page.csrf()),
            ("name", "sato"),
            ("group", " "),
            ("op", "add"),
        ],
    );
    assert_eq!(nameless.status, 400, "{}", nameless.body);
    assert!(nameless.body.contains("group name"), "{}", nameless.body);
    let groups = o
        .admin
        .fuda(&["admin", "group", "list", "--json"])
        .expect(0);
    assert!(!groups.stdout.contains(r#""name":"""#), "{}", groups.stdout);
}

#[test]
fn disabling_stops_a_person_at_once_and_enabling_needs_a_new_code() {
    let o = office();
    assert!(opens(&o.sato, &o.sealed));
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get(&person("sato"));
    assert_ok(&page);
    assert!(page.body.contains("利用を停止"), "{}", page.body);
    let done = admin.post(
        "/console/people/status",
        &[
            ("csrf", &page.csrf()),
            ("name", "sato"),
            ("status", "disabled"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/console/people/user?name=sato&done=disabled")
    );
    let refused = o.sato.fuda(&["open", p(&o.sealed)]).expect(2);
    assert!(refused.stderr.contains("disabled"), "{}", refused.stderr);
    let page = admin.get("/console/people/user?name=sato&done=disabled");
    assert!(page.body.contains("停止中"), "{}", page.body);
    assert!(page.body.contains("利用を再開"), "{}", page.body);

    // Enabled again, the old machine's token is over: a new code enrolls the machine.
    let done = admin.post(
        "/console/people/status",
        &[
            ("csrf", &page.csrf()),
            ("name", "sato"),
            ("status", "active"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(!opens(&o.sato, &o.sealed));
    let coded = admin.post(
        "/console/people/code",
        &[("csrf", &page.csrf()), ("name", "sato")],
    );
    assert_ok(&coded);
    assert!(coded.body.contains("新しい登録コード"), "{}", coded.body);
    let laptop = o.keyd.enroll("sato", &code_in(&coded), &o.policy);
    assert!(opens(&laptop, &o.sealed));
}

#[test]
fn department_and_group_membership_change_what_a_person_may_open() {
    let o = office();
    // 設計部 may view tanaka's file (the level's default grant); a project group may too.
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/people");
    let made = admin.post(
        "/console/people/group",
        &[("csrf", &page.csrf()), ("group", "プロジェクトA")],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    o.tanaka
        .fuda(&["share", p(&o.sealed), "--grant", "group:プロジェクトA=view"])
        .expect(0);
    let suzuki = o.keyd.add(&o.admin, "suzuki", "営業部", &o.policy);
    assert!(!opens(&suzuki, &o.sealed));

    let moved = admin.post(
        "/console/people/dept",
        &[
            ("csrf", &page.csrf()),
            ("name", "suzuki"),
            ("dept", "設計部"),
        ],
    );
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert!(opens(&suzuki, &o.sealed), "設計部 may view");
    let page = admin.get(&person("suzuki"));
    assert!(page.body.contains("value=\"設計部\""), "{}", page.body);
    admin.post(
        "/console/people/dept",
        &[
            ("csrf", &page.csrf()),
            ("name", "suzuki"),
            ("dept", "営業部"),
        ],
    );
    assert!(!opens(&suzuki, &o.sealed));

    let joined = admin.post(
        "/console/people/member",
        &[
            ("csrf", &page.csrf()),
            ("name", "suzuki"),
            ("group", "プロジェクトA"),
            ("op", "add"),
        ],
    );
    assert_eq!(joined.status, 303, "{}", joined.body);
    assert!(opens(&suzuki, &o.sealed), "the project group may view");
    let page = admin.get(&person("suzuki"));
    assert!(
        page.body
            .contains("<span class=\"tag\">プロジェクトA</span>"),
        "{}",
        page.body
    );
    admin.post(
        "/console/people/member",
        &[
            ("csrf", &page.csrf()),
            ("name", "suzuki"),
            ("group", "プロジェクトA"),
            ("op", "remove"),
        ],
    );
    assert!(!opens(&suzuki, &o.sealed));
    let audit = o
        .admin
        .fuda(&["admin", "audit", "--user", "suzuki", "--json"])
        .expect(0)
        .json_lines();
    for action in ["user-dept", "group-member-add", "group-member-remove"] {
        assert!(
            audit
                .iter()
                .any(|r| r["action"] == action && r["actor"] == "admin"),
            "{action}: {audit:?}"
        );
    }
}

#[test]
fn a_leaver_is_removed_everywhere_in_one_confirmed_action() {
    let o = office();
    assert!(opens(&o.sato, &o.sealed));
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get(&person("sato"));
    assert!(
        page.body
            .contains("href=\"/console/people/leaver?name=sato\""),
        "{}",
        page.body
    );
    // The confirmation changes nothing.
    let confirm = admin.get("/console/people/leaver?name=sato");
    assert_ok(&confirm);
    assert!(
        confirm.body.contains("アクセスをすべて停止する"),
        "{}",
        confirm.body
    );
    assert!(opens(&o.sato, &o.sealed));

    let done = admin.post(
        "/console/people/leaver",
        &[("csrf", &confirm.csrf()), ("name", "sato")],
    );
    assert_ok(&done);
    assert!(done.body.contains("すべて完了しました"), "{}", done.body);
    assert!(
        done.body.contains("すべての文書で失効しました"),
        "{}",
        done.body
    );
    assert!(!done.body.contains("未実行"), "{}", done.body);
    assert!(!opens(&o.sato, &o.sealed));

    // Each step is the admin's, in the audit log.
    let audit = o
        .admin
        .fuda(&["admin", "audit", "--user", "sato", "--json"])
        .expect(0)
        .json_lines();
    let steps: Vec<&str> = audit
        .iter()
        .filter(|r| r["actor"] == "admin" && r["subject"] == "sato")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        steps.ends_with(&["user-disable", "revoke", "revoke-tokens"]),
        "{steps:?}"
    );

    // Even enabled again with a new machine, they open nothing: revoked everywhere.
    o.admin.fuda(&["admin", "user", "enable", "sato"]).expect(0);
    let run = o
        .admin
        .fuda(&["admin", "user", "code", "sato", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let laptop = o.keyd.enroll("sato", &code, &o.policy);
    let refused = laptop.fuda(&["open", p(&o.sealed)]).expect(2);
    assert!(refused.stderr.contains("revoked"), "{}", refused.stderr);
}

#[test]
fn a_leaver_action_stops_at_the_first_refusal_and_says_what_was_done() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let confirm = admin.get("/console/people/leaver?name=admin");
    let stopped = admin.post(
        "/console/people/leaver",
        &[("csrf", &confirm.csrf()), ("name", "admin")],
    );
    assert_eq!(stopped.status, 409, "{}", stopped.body);
    assert!(
        stopped.body.contains("you cannot disable yourself"),
        "{}",
        stopped.body
    );
    assert_eq!(
        stopped.body.matches("未実行").count(),
        2,
        "{}",
        stopped.body
    );
    // Nothing after the refusal happened: the admin still works.
    assert_ok(&admin.get("/console/people"));
    o.admin.fuda(&["admin", "documents", "--json"]).expect(0);
}

#[test]
fn an_auditor_sees_people_without_a_change_button_and_each_post_is_refused() {
    let o = office();
    let before = directory(&o.admin);
    let auditor = Visitor::sign_in(&o.keyd, &o.auditor);
    for path in [
        "/console/people".to_owned(),
        person("sato"),
        "/console/people/leaver?name=sato".to_owned(),
    ] {
        let page = auditor.get(&path);
        assert_ok(&page);
        assert!(
            !page
                .body
                .contains("method=\"post\" action=\"/console/people"),
            "{path}: no change button for an auditor: {}",
            page.body
        );
    }
    let csrf = auditor.get("/console/people").csrf();
    let posts: [(&str, Vec<(&str, &str)>); 7] = [
        ("add", vec![("name", "kato"), ("role", "admin")]),
        ("status", vec![("name", "sato"), ("status", "disabled")]),
        ("dept", vec![("name", "sato"), ("dept", "設計部")]),
        (
            "member",
            vec![("name", "sato"), ("group", "設計部"), ("op", "add")],
        ),
        ("code", vec![("name", "sato")]),
        ("group", vec![("group", "監査チーム")]),
        ("leaver", vec![("name", "sato")]),
    ];
    for (action, fields) in posts {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let refused = auditor.post(&format!("/console/people/{action}"), &form);
        assert_eq!(refused.status, 403, "{action}: {}", refused.body);
        assert!(
            !refused.body.contains("fudaenroll"),
            "{action}: {}",
            refused.body
        );
    }
    assert_eq!(directory(&o.admin), before, "nothing changed");
    assert!(opens(&o.sato, &o.sealed));
}

#[test]
fn a_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let before = directory(&o.admin);
    for (path, fields) in [
        ("/console/people/add", vec![("name", "kato")]),
        ("/console/people/leaver", vec![("name", "sato")]),
        (
            "/console/people/status",
            vec![("csrf", "00ff"), ("name", "sato"), ("status", "disabled")],
        ),
    ] {
        let refused = admin.post(path, &fields);
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }
    assert_eq!(directory(&o.admin), before);
    assert!(opens(&o.sato, &o.sealed));
}

#[test]
fn hostile_display_names_departments_and_groups_are_shown_as_text() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/people");
    let added = admin.post(
        "/console/people/add",
        &[
            ("csrf", &page.csrf()),
            ("name", "mallory"),
            ("display_name", "<script>alert('name')</script>"),
            ("dept", "<script>alert(1)</script>"),
            ("groups", "<b>bold</b>"),
            ("role", "staff"),
        ],
    );
    assert_ok(&added);
    for page in [
        added,
        admin.get("/console/people"),
        admin.get(&person("mallory")),
        admin.get("/console/people/leaver?name=mallory"),
    ] {
        let shown = text(&page);
        assert!(!page.body.contains("<script>"), "{}", page.body);
        assert!(!page.body.contains("<b>bold"), "{}", page.body);
        assert!(
            shown.contains("&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;"),
            "{}",
            page.body
        );
    }
    let list = text(&admin.get("/console/people"));
    assert!(
        list.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{list}"
    );
    assert!(list.contains("&lt;b&gt;bold&lt;/b&gt;"), "{list}");
}
