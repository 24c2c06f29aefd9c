//! The admin console in a real browser: headless Chromium driven over WebDriver
//! (tests/common/browser.rs) against a real `fuda-keyd`. What an admin and an auditor
//! see and can do from the browser — signing in with a one-time link, sessions that end,
//! forms that need their CSRF token, an auditor without a single change button — and
//! whether the pages can be used from the keyboard and with a screen reader. The
//! harness's own guarantees come first (the one certificate it trusts, an accessibility
//! check that can fail). The same doors without a browser: tests/console_keyd.rs.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::keyd::{policy_with_recovery, Keyd};
use common::{workdir, User};

/// A page of our own, without the service.
fn data_page(html: &str) -> String {
    use base64::Engine;
    format!(
        "data:text/html;charset=utf-8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(html)
    )
}

/// A service with an admin, an auditor (audrey) and a member of staff (sato).
struct Office {
    keyd: Keyd,
    work: tempfile::TempDir,
    admin: User,
    auditor: User,
    staff: User,
}

fn office() -> Office {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let run = admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "audrey",
            "--dept",
            "監査室",
            "--auditor",
            "--json",
        ])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let auditor = keyd.enroll("audrey", &code, &policy);
    let staff = keyd.add(&admin, "sato", "営業部", &policy);
    Office {
        keyd,
        work,
        admin,
        auditor,
        staff,
    }
}

/// The change forms of the page shown (every POST form but signing out and the ledger's
/// yearly review, a read that uploads a file): each one's action and the fields it would
/// send as it stands.
fn change_forms(browser: &Browser) -> Vec<(String, Vec<(String, String)>)> {
    let forms = browser.script(
        r#"return [...document.querySelectorAll('form')]
  .filter(f => f.method === 'post'
    && !['/console/logout', '/console/ledger/review'].includes(new URL(f.action).pathname))
  .map(f => [new URL(f.action).pathname, [...new FormData(f)].map(([k, v]) => [k, String(v)])]);"#,
        vec![],
    );
    serde_json::from_value(forms).expect("forms")
}

/// The pages of the navigation the signed-in browser is shown that exist (a page still
/// to be built answers 404).
fn pages(browser: &Browser) -> Vec<String> {
    browser.open("/console");
    let all = browser.script(
        "return [...document.querySelectorAll('nav.side a')].map(a => a.pathname);",
        vec![],
    );
    all.as_array()
        .expect("navigation")
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .filter(|p| browser.get(p).status != 404)
        .collect()
}

/// The name of a page's screenshots: `overview` for `/console`, `audit` for
/// `/console/audit`.
fn picture_name(page: &str) -> &str {
    match page.trim_start_matches("/console").trim_start_matches('/') {
        "" => "overview",
        name => name,
    }
}

/// The text of the page's content (without the frame around it).
fn main_text(browser: &Browser) -> String {
    browser.text("main")
}

// The harness.

#[test]
fn the_browser_trusts_the_services_certificate_and_no_other() {
    let keyd = Keyd::start();
    let other = Keyd::start();
    let Some(browser) = Browser::start(&keyd) else {
        return;
    };
    browser.open("/v1/health");
    assert!(
        browser.page_text().contains(r#""status":"ok""#),
        "the service's own certificate is accepted: {}",
        browser.page_text()
    );
    let health = browser.get("/v1/health");
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(health.content_type.starts_with("application/json"));
    // Another service's self-signed certificate is not: Chromium shows its error page.
    browser.open(&format!("{}/v1/health", other.url()));
    let text = browser.page_text();
    assert!(!text.contains(r#""status":"ok""#), "{text}");
}

#[test]
fn the_accessibility_check_names_what_a_keyboard_or_screen_reader_user_cannot_use() {
    let keyd = Keyd::start();
    let Some(browser) = Browser::start(&keyd) else {
        return;
    };
    browser.open(&data_page(
        r#"<html><head><title>悪い例</title></head><body>
<input type="text" name="q"><button></button><a href="/x"><img src="x.png"></a>
<button tabindex="2">二</button><button tabindex="1">一</button></body></html>"#,
    ));
    if let Some(violations) = browser.axe_violations() {
        let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
        for id in ["html-has-lang", "label", "button-name", "image-alt"] {
            assert!(ids.contains(&id), "{id} missing from {violations:#?}");
        }
    }
    let problems = browser.keyboard_problems().join("\n");
    assert!(
        problems.contains(r#"no accessible name: <input type="text" name="q">"#),
        "{problems}"
    );
    assert!(problems.contains("expected focus on"), "{problems}");

    browser.open(&data_page(
        r#"<html lang="ja"><head><title>良い例</title></head><body><main>
<h1>検索</h1><form><label for="q">文書名</label><input id="q" name="q">
<button type="submit">検索する</button></form><a href="/help">ヘルプ</a></main></body></html>"#,
    ));
    browser.assert_accessible();
}

#[test]
fn the_harness_types_chooses_and_confirms_as_a_person_does() {
    let keyd = Keyd::start();
    let Some(browser) = Browser::start(&keyd) else {
        return;
    };
    browser.open(&data_page(
        r#"<html lang="ja"><body><main>
<label for="who">利用者</label><input id="who" value="古い値">
<label for="level">レベル</label><select id="level"><option value="internal">社外秘</option>
<option value="confidential">秘</option></select>
<button id="revoke" onclick="document.body.dataset.answer = confirm('失効しますか？')">失効</button>
</main></body></html>"#,
    ));
    browser.fill("#who", "佐藤 <sato>");
    browser.select("#level", "confidential");
    browser.click("#revoke");
    assert_eq!(browser.accept_dialog(), "失効しますか？");
    let state = browser.script(
        "return [document.getElementById('who').value, document.getElementById('level').value, \
         document.body.dataset.answer];",
        vec![],
    );
    assert_eq!(
        state,
        serde_json::json!(["佐藤 <sato>", "confidential", "true"])
    );
    assert_eq!(browser.texts("label"), ["利用者", "レベル"]);
    assert_eq!(browser.count("option"), 2);
}

// Signing in and out.

#[test]
fn an_admin_signs_in_with_a_one_time_link_that_works_only_once() {
    let o = office();
    let Some(browser) = Browser::start(&o.keyd) else {
        return;
    };
    let link = browser.log_in(&o.admin);
    assert!(
        link.starts_with(&format!("{}/console/login?t=", o.keyd.url())),
        "{link}"
    );
    assert_eq!(browser.text("h1"), "概要");
    assert_eq!(browser.text(".who .role"), "管理者");

    // The session is a cookie no script can read, sent only over HTTPS, only to the
    // console, and never from another site.
    let session = browser.cookie("fuda_console").expect("a session cookie");
    assert!(session.http_only, "{session:?}");
    assert!(session.secure, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"), "{session:?}");
    assert_eq!(session.path.as_deref(), Some("/console"), "{session:?}");
    // The browser forgets it by the session's absolute end, 12 hours after signing in.
    let expires = session.expires.expect("an expiry");
    assert!(expires <= fuda_keyd::now() + 12 * 3600 + 60, "{session:?}");
    let seen_by_scripts = browser.script("return document.cookie;", vec![]);
    assert!(
        !seen_by_scripts
            .as_str()
            .unwrap_or_default()
            .contains("fuda_console"),
        "{seen_by_scripts}"
    );

    // Whoever finds the link afterwards (the browser history, a screenshot) gets in
    // nowhere, and is told how to get a link of their own.
    let Some(later) = Browser::start(&o.keyd) else {
        return;
    };
    later.open(&link);
    assert_eq!(later.path().split('?').next(), Some("/console/login"));
    let refused = later.page_text();
    assert!(
        refused.contains("このログインリンクは使えません"),
        "{refused}"
    );
    assert!(refused.contains("fuda admin console"), "{refused}");
    assert!(later.cookie("fuda_console").is_none());
    later.open("/console");
    later.wait_for_path("/console/login");

    // The admin who used it is still signed in.
    browser.open("/console");
    assert_eq!(browser.path(), "/console");
}

#[test]
fn without_a_session_or_once_it_ended_every_page_leads_to_the_log_in_page() {
    let mut o = office();
    let Some(browser) = Browser::start(&o.keyd) else {
        return;
    };
    browser.open("/console");
    browser.wait_for_path("/console/login");
    assert!(
        browser.page_text().contains("fuda admin console"),
        "the log-in page says how to get in: {}",
        browser.page_text()
    );

    browser.log_in(&o.admin);
    // 31 minutes without a click (the idle limit is 30), on a service restarted with
    // its clock moved on: the next page is the log-in page, saying why.
    o.keyd.stop();
    let later = (fuda_keyd::now() + 31 * 60).to_string();
    o.keyd.serve_with(&[], &[("FUDA_KEYD_NOW", &later)]);
    browser.open("/console");
    browser.wait_for_path("/console/login");
    let text = browser.page_text();
    assert!(text.contains("セッションが終了しました"), "{text}");
}

#[test]
fn a_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let o = office();
    let (Some(admin), Some(auditor)) = (Browser::start(&o.keyd), Browser::start(&o.keyd)) else {
        return;
    };
    admin.log_in(&o.admin);
    auditor.log_in(&o.auditor);
    let others_token = auditor.csrf();

    // Signing out is a change: a page script (or another site) posting it without the
    // session's own token is refused, and the admin stays signed in.
    for fields in [
        vec![],
        vec![("csrf", "00ff")],
        vec![("csrf", &*others_token)],
    ] {
        let answer = admin.post("/console/logout", &fields);
        assert_eq!(answer.status, 403, "{fields:?}: {}", answer.text());
        admin.open("/console");
        assert_eq!(admin.path(), "/console", "{fields:?} signed the admin out");
    }

    // The button itself carries the token: the session ends, the cookie is gone.
    admin.click("form[action='/console/logout'] button");
    admin.wait_for_path("/console/login");
    assert!(admin.cookie("fuda_console").is_none());
    admin.open("/console");
    admin.wait_for_path("/console/login");
}

// The auditor.

#[test]
fn an_auditor_sees_every_page_without_a_change_button_and_a_forged_change_is_refused() {
    let o = office();
    // Documents, people and a machine, so that pages with a change per row have rows.
    some_company(&o);
    let (Some(admin), Some(auditor)) = (Browser::start(&o.keyd), Browser::start(&o.keyd)) else {
        return;
    };
    admin.log_in(&o.admin);
    auditor.log_in(&o.auditor);
    assert_eq!(auditor.text(".who .role"), "監査人（閲覧のみ）");

    let pages = pages(&admin);
    assert!(pages.contains(&"/console".to_owned()), "{pages:?}");
    let mut forged = 0;
    for page in pages {
        admin.open(&page);
        auditor.open(&page);
        assert_eq!(auditor.path(), page, "the auditor reads {page}");
        let forms = change_forms(&auditor);
        assert!(forms.is_empty(), "change forms on {page}: {forms:?}");
        let before = main_text(&admin);
        // Every change the admin's page offers, posted by the auditor with his own
        // valid token (a forged button), is refused by the service.
        for (action, fields) in change_forms(&admin) {
            let csrf = auditor.csrf();
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), if k == "csrf" { &*csrf } else { v.as_str() }))
                .collect();
            let answer = auditor.post(&action, &fields);
            assert_eq!(answer.status, 403, "{action} {fields:?}: {}", answer.text());
            forged += 1;
        }
        // (The audit log does change: it records each refusal.)
        if page != "/console/audit" {
            admin.open(&page);
            assert_eq!(main_text(&admin), before, "{page} changed");
        }
    }
    eprintln!("{forged} change forms forged by the auditor, all refused");
    let audit = o
        .admin
        .fuda(&["admin", "audit", "--user", "audrey", "--json"])
        .expect(0);
    let refused = audit
        .json_lines()
        .iter()
        .filter(|r| r["outcome"] == "deny")
        .count();
    assert!(
        refused >= forged,
        "{forged} forged, {refused} audited refusals"
    );
}

// Languages, accessibility, screenshots.

#[test]
fn the_language_switch_shows_english_and_remembers_it() {
    let o = office();
    let Some(browser) = Browser::start(&o.keyd) else {
        return;
    };
    browser.log_in(&o.admin);
    assert_eq!(
        browser.script("return document.documentElement.lang;", vec![]),
        "ja"
    );
    browser.click("header a.lang");
    browser.wait_for("html[lang=en]");
    assert_eq!(browser.text("h1"), "Overview");
    assert_eq!(browser.text(".who .role"), "Administrator");
    browser.open("/console");
    assert_eq!(browser.text("h1"), "Overview", "the choice is remembered");
}

#[test]
fn every_page_passes_the_accessibility_check_in_both_languages() {
    let o = office();
    some_company(&o);
    let (Some(visitor), Some(admin), Some(auditor)) = (
        Browser::start(&o.keyd),
        Browser::start(&o.keyd),
        Browser::start(&o.keyd),
    ) else {
        return;
    };
    admin.log_in(&o.admin);
    auditor.log_in(&o.auditor);
    for lang in ["ja", "en"] {
        visitor.open(&format!("/console/login?lang={lang}"));
        visitor.assert_accessible();
        for page in pages(&admin) {
            for browser in [&admin, &auditor] {
                browser.open(&format!("{page}?lang={lang}"));
                browser.assert_accessible();
            }
        }
    }
}

/// A company with something to show: protected documents at three levels, and a file
/// server that reported its share.
fn some_company(o: &Office) {
    for (name, level) in [
        ("見積書.txt", "internal"),
        ("設計図.dxf", "confidential"),
        ("買収計画.txt", "strictly-confidential"),
    ] {
        let path = o.work.path().join(name);
        std::fs::write(&path, "内容").unwrap();
        o.staff
            .fuda(&["protect", common::p(&path), "--level", level])
            .expect(0);
    }
    let run = o
        .admin
        .fuda(&[
            "admin", "user", "add", "fs01", "--kind", "machine", "--json",
        ])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let server = User::new("fs01");
    server
        .fuda(&[
            "init",
            "--machine",
            "fs01",
            "--service",
            &o.keyd.url(),
            "--enroll",
            &code,
            "--ca-fingerprint",
            &o.keyd.fingerprint,
        ])
        .expect(0);
    let share = o.work.path().join("share");
    for name in [
        "営業部/2026年度 顧客一覧.xlsx",
        "設計部/図面/A-100.dxf",
        "総務部/規程.docx",
    ] {
        common::write(&share.join(name), "社内資料");
    }
    server
        .fuda(&["inventory", "--report", common::p(&share), "--json"])
        .expect(0);
}

#[test]
fn the_pages_that_exist_open_in_both_languages_for_their_screenshots() {
    let o = office();
    some_company(&o);
    let (Some(visitor), Some(admin), Some(auditor)) = (
        Browser::start(&o.keyd),
        Browser::start(&o.keyd),
        Browser::start(&o.keyd),
    ) else {
        return;
    };
    visitor.screenshots("/console/login", "login");
    admin.log_in(&o.admin);
    for page in pages(&admin) {
        admin.screenshots(&page, picture_name(&page));
    }
    auditor.log_in(&o.auditor);
    auditor.screenshots("/console", "overview-auditor");
}

// Documents and people (the pages' own contract, without a browser:
// tests/console_documents.rs, tests/console_people.rs).

/// sato protects a quotation that suzuki (営業部) may view; returns suzuki, the protected
/// file and its document id.
fn a_shared_quotation(o: &Office) -> (User, std::path::PathBuf, String) {
    let policy = o.work.path().join("policy.toml");
    let suzuki = o.keyd.add(&o.admin, "suzuki", "営業部", &policy);
    let file = o.work.path().join("見積書-2026.txt");
    std::fs::write(&file, "見積金額 1,200,000円").unwrap();
    let run = o
        .staff
        .fuda(&[
            "protect",
            common::p(&file),
            "--level",
            "confidential",
            "--grant",
            "user:suzuki=view",
            "--json",
        ])
        .expect(0);
    let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    (suzuki, o.work.path().join("見積書-2026.txt.fuda"), doc)
}

#[test]
fn an_admin_revokes_a_person_on_a_document_in_the_browser_and_their_next_open_is_refused() {
    let o = office();
    let (suzuki, sealed, doc) = a_shared_quotation(&o);
    suzuki.fuda(&["open", common::p(&sealed)]).expect(0);
    let Some(admin) = Browser::start(&o.keyd) else {
        return;
    };
    admin.log_in(&o.admin);

    // Find the document, open it, click "revoke" beside suzuki's grant.
    admin.click("nav.side a[href='/console/documents']");
    admin.wait_for_path("/console/documents");
    admin.fill("#q", "見積書");
    admin.click("main form.filters button[type=submit]");
    admin.click(&format!("main table a[href='/console/documents/{doc}']"));
    admin.wait_for_path(&format!("/console/documents/{doc}"));
    assert!(admin.text("h1").contains("見積書-2026.txt"));
    admin.click("button[aria-label='失効する：suzuki']");
    admin.wait_for(".notice.ok");
    assert!(
        admin.text(".notice.ok").contains("失効しました"),
        "{}",
        admin.page_text()
    );

    // suzuki's very next open is refused, and says so.
    let refused = suzuki.fuda(&["open", common::p(&sealed)]).expect(2);
    assert!(refused.stderr.contains("revoked"), "{}", refused.stderr);
    // The document's page now says so too, and lifts it with one more click.
    assert!(admin.page_text().contains("（失効中）"));
    admin.click("form[action$='/unrevoke'] button");
    admin.wait_for(".notice.ok");
    suzuki.fuda(&["open", common::p(&sealed)]).expect(0);
}

#[test]
fn a_grant_over_the_levels_cap_is_refused_in_the_browser_with_the_reason() {
    let o = office();
    let (suzuki, sealed, doc) = a_shared_quotation(&o);
    let Some(admin) = Browser::start(&o.keyd) else {
        return;
    };
    admin.log_in(&o.admin);
    admin.open(&format!("/console/documents/{doc}"));
    admin.select("#grant-kind", "user");
    admin.fill("#grant-name", "suzuki");
    admin.click("input[name=view]");
    admin.click("input[name=export]");
    admin.click("form.grant-form button[type=submit]");
    admin.wait_for(".notice.bad");
    assert!(
        admin
            .text(".notice.bad")
            .contains("allows at most view,edit,print"),
        "{}",
        admin.page_text()
    );
    let rights = suzuki
        .fuda(&["rights", common::p(&sealed), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    let grants = rights["document"]["grants"].as_array().unwrap();
    let theirs = grants.iter().find(|g| g["principal"] == "user:suzuki");
    assert_eq!(theirs.unwrap()["rights"], "view", "unchanged: {rights}");
}

#[test]
fn a_leaver_is_removed_in_the_browser_after_a_confirmation() {
    let o = office();
    let (suzuki, sealed, _) = a_shared_quotation(&o);
    let Some(admin) = Browser::start(&o.keyd) else {
        return;
    };
    admin.log_in(&o.admin);
    admin.click("nav.side a[href='/console/people']");
    admin.wait_for_path("/console/people");
    admin.click("main table a[href='/console/people/user?name=suzuki']");
    admin.wait_for_path("/console/people/user");
    admin.click("a[href='/console/people/leaver?name=suzuki']");
    admin.wait_for_path("/console/people/leaver");
    // The confirmation changed nothing yet.
    suzuki.fuda(&["open", common::p(&sealed)]).expect(0);
    admin.click("main form button.danger");
    admin.wait_for(".notice.ok");
    assert!(admin.page_text().contains("すべて完了しました"));
    suzuki.fuda(&["open", common::p(&sealed)]).expect(2);
}

#[test]
fn a_documents_own_page_and_a_persons_page_are_accessible_and_read_only_for_an_auditor() {
    let o = office();
    let (_, _, doc) = a_shared_quotation(&o);
    let (Some(admin), Some(auditor)) = (Browser::start(&o.keyd), Browser::start(&o.keyd)) else {
        return;
    };
    admin.log_in(&o.admin);
    auditor.log_in(&o.auditor);
    let below = [
        format!("/console/documents/{doc}"),
        format!("/console/documents/{doc}?show=all"),
        "/console/people/user?name=suzuki".to_owned(),
        "/console/people/leaver?name=suzuki".to_owned(),
    ];
    for page in &below {
        for lang in ["ja", "en"] {
            for browser in [&admin, &auditor] {
                browser.open(&format!(
                    "{page}{}lang={lang}",
                    if page.contains('?') { '&' } else { '?' }
                ));
                browser.assert_accessible();
            }
        }
        auditor.open(page);
        assert!(change_forms(&auditor).is_empty(), "{page}");
        // Every change the admin's page offers, filled in (a name, a right) and posted
        // by the auditor with his own token, is refused. (The list of every record of a
        // document shows the refusals, so only the other pages must stay as they were.)
        admin.open(page);
        let before = main_text(&admin);
        for (action, fields) in change_forms(&admin) {
            let csrf = auditor.csrf();
            let mut fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("csrf", _) => ("csrf", &*csrf),
                    (k, "") => (k, "suzuki"),
                    (k, v) => (k, v),
                })
                .collect();
            fields.push(("view", "on"));
            let answer = auditor.post(&action, &fields);
            assert_eq!(answer.status, 403, "{action} {fields:?}: {}", answer.text());
        }
        if !page.ends_with("show=all") {
            admin.open(page);
            assert_eq!(main_text(&admin), before, "{page} changed");
        }
    }
}

#[test]
fn a_document_and_a_person_open_in_both_languages_for_their_screenshots() {
    let o = office();
    let (suzuki, sealed, doc) = a_shared_quotation(&o);
    suzuki.fuda(&["open", common::p(&sealed)]).expect(0);
    let Some(admin) = Browser::start(&o.keyd) else {
        return;
    };
    admin.log_in(&o.admin);
    admin.screenshots(&format!("/console/documents/{doc}"), "document");
    admin.screenshots("/console/people/user?name=suzuki", "person");
    admin.screenshots("/console/people/leaver?name=suzuki", "leaver");
}
