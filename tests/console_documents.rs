//! The console's Documents pages over plain HTTPS against a real `fuda-keyd`, with real
//! `fuda` users protecting and opening files: finding a document, who opened it, revoking
//! and unrevoking (for everyone or one person), grants within the level's caps — and an
//! auditor who sees all of it and changes none of it.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use common::console::{assert_ok, opens, text};
use common::console::{Page, Visitor};
use common::keyd::{policy_with_recovery, Keyd};
use common::{p, workdir, write, User};

/// A service with an admin, an auditor (audrey), tanaka (設計部, who protects), sato
/// (営業部, granted view) and suzuki (営業部, no grant).
struct Office {
    keyd: Keyd,
    work: tempfile::TempDir,
    admin: User,
    auditor: User,
    tanaka: User,
    sato: User,
    suzuki: User,
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
    let suzuki = keyd.add(&admin, "suzuki", "営業部", &policy);
    Office {
        keyd,
        work,
        admin,
        auditor,
        tanaka,
        sato,
        suzuki,
    }
}

impl Office {
    /// tanaka protects a new file `name` at `level`, sato may view it; returns the
    /// protected file and its document id.
    fn protect(&self, name: &str, level: &str) -> (PathBuf, String) {
        self.protect_bytes(name.as_bytes(), level)
    }

    fn protect_bytes(&self, name: &[u8], level: &str) -> (PathBuf, String) {
        let dir = self.work.path().join("files");
        let file = dir.join(OsString::from_vec(name.to_vec()));
        write(&file, b"quotation: 1,200,000 yen\n");
        let run = self.tanaka.fuda_in(
            &dir,
            &[
                OsString::from("protect"),
                file.clone().into_os_string(),
                "--level".into(),
                level.into(),
                "--grant".into(),
                "user:sato=view".into(),
                "--json".into(),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
        let mut sealed = file.into_os_string();
        sealed.push(".fuda");
        (PathBuf::from(sealed), doc)
    }
}

/// The `?done=` redirect back to the document after a change.
fn assert_back_to(page: &Page, doc: &str, done: &str) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("/console/documents/{doc}?done={done}").as_str())
    );
}

#[test]
fn an_admin_revokes_a_person_on_a_document_and_their_next_open_is_refused() {
    let o = office();
    let (sealed, doc) = o.protect("見積書.txt", "confidential");
    assert!(opens(&o.sato, &sealed), "sato holds view");

    // Two clicks: the document in the list, then "revoke" beside sato's grant.
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let list = admin.get("/console/documents?q=見積");
    assert_ok(&list);
    let link = format!("/console/documents/{doc}");
    assert!(
        list.body.contains(&format!("href=\"{link}\"")),
        "{}",
        list.body
    );
    let page = admin.get(&link);
    assert_ok(&page);
    assert!(page.body.contains("見積書.txt"), "{}", page.body);
    assert!(
        page.body.contains("秘"),
        "the level in Japanese: {}",
        page.body
    );
    assert!(
        page.body.contains(&format!("action=\"{link}/revoke\"")),
        "{}",
        page.body
    );
    let done = admin.post(
        &format!("{link}/revoke"),
        &[("csrf", &page.csrf()), ("user", "sato")],
    );
    assert_back_to(&done, &doc, "revoked");

    // At once: sato's next open is refused, and says why; the owner still opens it.
    let refused = o.sato.fuda(&["open", p(&sealed)]).expect(2);
    assert!(refused.stderr.contains("revoked"), "{}", refused.stderr);
    assert!(refused.stdout.is_empty());
    assert!(opens(&o.tanaka, &sealed));

    // The page shows the revocation, who did it, and the refused open.
    let page = admin.get(&format!("{link}?done=revoked"));
    assert_ok(&page);
    assert!(page.body.contains("失効しました"), "{}", page.body);
    assert!(page.body.contains("（失効中）"), "{}", page.body);
    assert!(page.body.contains("拒否"), "{}", page.body);

    // Lifted from the same page: sato opens again.
    let lifted = admin.post(
        &format!("{link}/unrevoke"),
        &[("csrf", &page.csrf()), ("user", "sato")],
    );
    assert_back_to(&lifted, &doc, "unrevoked");
    assert!(opens(&o.sato, &sealed));
    // The service audited both changes as the admin's.
    let audit = o
        .admin
        .fuda(&["admin", "audit", "--doc", &doc, "--json"])
        .expect(0)
        .json_lines();
    for action in ["revoke", "unrevoke"] {
        assert!(
            audit
                .iter()
                .any(|r| r["action"] == action && r["actor"] == "admin" && r["subject"] == "sato"),
            "{action}: {audit:?}"
        );
    }
}

#[test]
fn revoking_a_document_for_everyone_stops_even_its_owner_until_lifted() {
    let o = office();
    let (sealed, doc) = o.protect("plan.txt", "confidential");
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let link = format!("/console/documents/{doc}");
    let page = admin.get(&link);
    assert!(page.body.contains("全員に対して失効する"), "{}", page.body);
    assert_back_to(
        &admin.post(&format!("{link}/revoke"), &[("csrf", &page.csrf())]),
        &doc,
        "revoked",
    );
    assert!(!opens(&o.tanaka, &sealed));
    assert!(!opens(&o.sato, &sealed));
    let page = admin.get(&link);
    assert!(page.body.contains("全員に対して失効中"), "{}", page.body);
    let list = admin.get("/console/documents");
    assert!(list.body.contains("失効（全員）"), "{}", list.body);

    assert_back_to(
        &admin.post(&format!("{link}/unrevoke"), &[("csrf", &page.csrf())]),
        &doc,
        "unrevoked",
    );
    assert!(opens(&o.tanaka, &sealed));
    assert!(opens(&o.sato, &sealed));
}

#[test]
fn the_search_finds_documents_by_name_id_owner_and_level_a_page_at_a_time() {
    let o = office();
    let (_, quote) = o.protect("quote-2026.txt", "confidential");
    let (_, memo) = o.protect("memo.txt", "internal");
    let (_, plan) = o.protect("plan-2026.txt", "strictly-confidential");
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let found = |query: &str| {
        let page = admin.get(&format!("/console/documents?{query}"));
        assert_ok(&page);
        [&quote, &memo, &plan]
            .iter()
            .filter(|id| page.body.contains(&format!("/console/documents/{id}\"")))
            .count()
    };
    assert_eq!(found(""), 3);
    assert_eq!(found("q=2026"), 2);
    assert_eq!(found("q=MEMO"), 1, "names match without regard to case");
    assert_eq!(found(&format!("q={memo}")), 1, "the whole id");
    assert_eq!(
        found(&format!("q={}", &memo[..10].to_lowercase())),
        1,
        "its start"
    );
    assert_eq!(found("owner=tanaka"), 3);
    assert_eq!(found("owner=sato"), 0);
    assert_eq!(found("level=strictly-confidential"), 1);
    assert_eq!(found("level=confidential&q=2026"), 1);

    // One row a page: the newest first, and links to the next page keep the search.
    let first = admin.get("/console/documents?q=2026&per_page=1");
    assert!(first.body.contains(&plan), "newest first: {}", first.body);
    assert!(!first.body.contains(&quote));
    assert!(
        text(&first).contains(
            "href=\"/console/documents?q=2026&amp;owner=&amp;level=&amp;page=2&amp;per_page=1\""
        ),
        "{}",
        first.body
    );
    let second = admin.get("/console/documents?q=2026&owner=&level=&page=2&per_page=1");
    assert!(second.body.contains(&quote), "{}", second.body);

    // The level is shown by its policy name, in English with ?lang=en.
    let en = admin.get("/console/documents?level=strictly-confidential&lang=en");
    assert!(en.body.contains("Strictly confidential"), "{}", en.body);
    let ja = admin.get("/console/documents?level=strictly-confidential&lang=ja");
    assert!(ja.body.contains("極秘"), "{}", ja.body);
}

#[test]
fn the_document_page_lists_who_opened_it_newest_first() {
    let o = office();
    let (sealed, doc) = o.protect("drawing.txt", "confidential");
    assert!(opens(&o.sato, &sealed));
    assert!(!opens(&o.suzuki, &sealed));
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get(&format!("/console/documents/{doc}"));
    assert_ok(&page);
    let body = &page.body;
    let suzuki = body
        .find("<td class=\"actor\">suzuki</td>")
        .expect("suzuki's refused open");
    let sato = body
        .find("<td class=\"actor\">sato</td>")
        .expect("sato's open");
    assert!(suzuki < sato, "newest first: {body}");
    assert!(body.contains("no-rights"), "the refusal's reason: {body}");
    // Only licence decisions by default; the registration is among every record.
    assert!(!body.contains("<td>保護</td>"), "{body}");
    let all = admin.get(&format!("/console/documents/{doc}?show=all"));
    assert!(all.body.contains("<td>保護</td>"), "{}", all.body);

    // One record a page.
    let first = admin.get(&format!("/console/documents/{doc}?per_page=1"));
    assert!(first.body.contains("<td class=\"actor\">suzuki</td>"));
    assert!(!first.body.contains("<td class=\"actor\">sato</td>"));
    assert!(
        first.body.contains("page=2&amp;per_page=1"),
        "{}",
        first.body
    );
    let second = admin.get(&format!(
        "/console/documents/{doc}?show=opens&page=2&per_page=1"
    ));
    assert!(
        second.body.contains("<td class=\"actor\">sato</td>"),
        "{}",
        second.body
    );
}

#[test]
fn grants_change_within_the_levels_caps_and_a_grant_over_the_cap_is_refused_clearly() {
    let o = office();
    let (sealed, doc) = o.protect("spec.txt", "confidential");
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let link = format!("/console/documents/{doc}");
    let page = admin.get(&link);
    // The form marks the rights beyond the level's cap (view,edit,print).
    assert!(
        page.body
            .contains("name=\"export\" value=\"on\"> export <span class=\"warn\">"),
        "{}",
        page.body
    );
    assert!(!opens(&o.suzuki, &sealed));

    let granted = admin.post(
        &format!("{link}/grant"),
        &[
            ("csrf", &page.csrf()),
            ("kind", "user"),
            ("name", "suzuki"),
            ("view", "on"),
        ],
    );
    assert_back_to(&granted, &doc, "granted");
    assert!(opens(&o.suzuki, &sealed));

    // Export is over the cap: the service refuses, the page says so, nothing changes.
    let over = admin.post(
        &format!("{link}/grant"),
        &[
            ("csrf", &page.csrf()),
            ("kind", "user"),
            ("name", "suzuki"),
            ("view", "on"),
            ("export", "on"),
        ],
    );
    assert_eq!(over.status, 403, "{}", over.body);
    assert!(
        over.body.contains("キーサービスが拒否しました"),
        "{}",
        over.body
    );
    assert!(
        over.body.contains("allows at most view,edit,print"),
        "{}",
        over.body
    );
    let rights = o
        .suzuki
        .fuda(&["rights", p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(rights["rights"], "view", "{rights}");

    // A grant for nobody in the directory is refused too, and says who is missing.
    let nobody = admin.post(
        &format!("{link}/grant"),
        &[
            ("csrf", &page.csrf()),
            ("kind", "user"),
            ("name", "nobody"),
            ("view", "on"),
        ],
    );
    assert_eq!(nobody.status, 404, "{}", nobody.body);
    assert!(nobody.body.contains("nobody"), "{}", nobody.body);

    // Removed from the page: suzuki is refused again.
    let removed = admin.post(
        &format!("{link}/ungrant"),
        &[("csrf", &page.csrf()), ("principal", "user:suzuki")],
    );
    assert_back_to(&removed, &doc, "ungranted");
    assert!(!opens(&o.suzuki, &sealed));
}

#[test]
fn an_auditor_sees_the_document_without_a_change_button_and_each_post_is_refused() {
    let o = office();
    let (sealed, doc) = o.protect("audit-me.txt", "confidential");
    let auditor = Visitor::sign_in(&o.keyd, &o.auditor);
    let link = format!("/console/documents/{doc}");
    let page = auditor.get(&link);
    assert_ok(&page);
    assert!(page.body.contains("audit-me.txt"));
    assert!(page.body.contains("user:sato") || page.body.contains("sato"));
    assert!(
        !page
            .body
            .contains("method=\"post\" action=\"/console/documents"),
        "no change button for an auditor: {}",
        page.body
    );
    let csrf = page.csrf();
    let posts: [(&str, Vec<(&str, &str)>); 5] = [
        ("revoke", vec![("user", "sato")]),
        ("revoke", vec![]),
        ("unrevoke", vec![("user", "sato")]),
        (
            "grant",
            vec![("kind", "user"), ("name", "suzuki"), ("view", "on")],
        ),
        ("ungrant", vec![("principal", "user:sato")]),
    ];
    for (action, fields) in posts {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let refused = auditor.post(&format!("{link}/{action}"), &form);
        assert_eq!(refused.status, 403, "{action}: {}", refused.body);
    }
    // Nothing changed: sato still opens, suzuki still cannot; every attempt is in the
    // audit log as refused, and no change of the document as allowed.
    assert!(opens(&o.sato, &sealed));
    assert!(!opens(&o.suzuki, &sealed));
    let audit = o
        .admin
        .fuda(&["admin", "audit", "--user", "audrey", "--json"])
        .expect(0)
        .json_lines();
    let refused = audit
        .iter()
        .filter(|r| r["actor"] == "audrey" && r["outcome"] == "deny")
        .count();
    assert_eq!(refused, 5, "{audit:?}");
    let changes = o
        .admin
        .fuda(&["admin", "audit", "--doc", &doc, "--json"])
        .expect(0)
        .json_lines();
    assert!(
        !changes.iter().any(|r| r["outcome"] == "allow"
            && ["revoke", "unrevoke", "grant", "ungrant"].contains(&r["action"].as_str().unwrap())),
        "{changes:?}"
    );
}

#[test]
fn a_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let o = office();
    let (sealed, doc) = o.protect("csrf.txt", "confidential");
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let link = format!("/console/documents/{doc}");
    for fields in [
        vec![("user", "sato")],
        vec![("csrf", "00ff"), ("user", "sato")],
    ] {
        let refused = admin.post(&format!("{link}/revoke"), &fields);
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    assert!(opens(&o.sato, &sealed));
}

#[test]
fn hostile_file_names_and_justifications_are_shown_as_text() {
    let o = office();
    let (sealed, doc) = o.protect("<script>alert(1).txt", "confidential");
    let (_, odd) = o.protect_bytes(b"\xff\xfe<b>odd.txt", "confidential");
    // The owner lowers the level with a hostile justification: the audit records it.
    o.tanaka
        .fuda(&[
            "label",
            "set",
            "社外秘",
            p(&sealed),
            "--justify",
            "<script>alert('why')</script>",
        ])
        .expect(0);
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let list = admin.get("/console/documents");
    assert_ok(&list);
    assert!(
        text(&list).contains("&lt;script&gt;alert(1).txt"),
        "{}",
        list.body
    );
    assert!(
        text(&list).contains("\\xff\\xfe&lt;b&gt;odd.txt"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("<script>"), "{}", list.body);
    assert!(!list.body.contains("<b>odd"), "{}", list.body);

    let page = admin.get(&format!("/console/documents/{doc}?show=all"));
    assert_ok(&page);
    assert!(
        text(&page).contains("&lt;script&gt;alert(&#x27;why&#x27;)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>"), "{}", page.body);

    let odd_page = admin.get(&format!("/console/documents/{odd}"));
    assert_ok(&odd_page);
    assert!(
        text(&odd_page).contains("\\xff\\xfe&lt;b&gt;odd.txt"),
        "{}",
        odd_page.body
    );
    // …and found by its name as shown.
    let found = admin.get("/console/documents?q=odd.txt");
    assert!(found.body.contains(&odd), "{}", found.body);
}

#[test]
fn an_unknown_document_is_a_clear_not_found() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/documents/01JBNOSUCHDOCUMENT000000000");
    assert_eq!(page.status, 404, "{}", page.body);
    let page = admin.get("/console/documents?page=abc");
    assert_eq!(page.status, 400, "{}", page.body);
}
