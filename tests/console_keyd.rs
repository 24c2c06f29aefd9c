//! The browser console's doors, over plain HTTPS against a real `fuda-keyd`: the one-time
//! log-in link, the session cookie, CSRF, the auditor's read-only role, and who cannot
//! get in at all. (Chromium drives the pages in tests/console_browser.rs.)

mod common;

use common::console::{office, Visitor};
use common::keyd::policy_with_recovery;
use common::workdir;

#[test]
fn a_log_in_link_works_once_and_sets_a_strict_session_cookie() {
    let o = office();
    let link = Visitor::link_of(&o.admin);
    assert!(link.starts_with(&o.keyd.url()), "{link}");

    let mut first = Visitor::new(&o.keyd);
    let page = first.open(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page
        .cookies
        .iter()
        .find(|c| c.starts_with("fuda_console="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let overview = first.get("/console");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("admin"), "{}", overview.body);

    // The same link a second time opens nothing, and says how to get a new one.
    let mut second = Visitor::new(&o.keyd);
    let again = second.open(&link);
    assert_eq!(again.status, 401, "{}", again.body);
    assert!(second.session.is_none());
    assert!(again.body.contains("fuda admin console"), "{}", again.body);
}

#[test]
fn without_a_session_every_page_leads_to_the_log_in_page() {
    let o = office();
    let stranger = Visitor::new(&o.keyd);
    let page = stranger.get("/console");
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/console/login?ended=1"));
    let login = stranger.get("/console/login");
    assert_eq!(login.status, 200);
    assert!(login.body.contains("fuda admin console"), "{}", login.body);
    // A forged cookie is no session either.
    let mut forged = Visitor::new(&o.keyd);
    forged.session = Some("fuda_console=fudacs_forged".into());
    assert_eq!(forged.get("/console").status, 303);
}

#[test]
fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console");
    let csrf = page.csrf();

    // Signing out is a change: without the token, or with a wrong one, it is refused.
    assert_eq!(admin.post("/console/logout", &[]).status, 403);
    assert_eq!(
        admin.post("/console/logout", &[("csrf", "00ff")]).status,
        403
    );
    assert_eq!(
        admin.get("/console").status,
        200,
        "the session must live on"
    );

    // With it, the session ends.
    let out = admin.post("/console/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(admin.get("/console").status, 303);
}

#[test]
fn an_expired_session_leads_back_to_the_log_in_page() {
    let mut o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    assert_eq!(admin.get("/console").status, 200);
    // 31 minutes later (idle limit 30), on a service restarted with the clock moved on.
    o.keyd.stop();
    let later = (fuda_keyd::now() + 31 * 60).to_string();
    o.keyd.serve_with(&[], &[("FUDA_KEYD_NOW", &later)]);
    let page = admin.get("/console");
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/console/login?ended=1"));
}

#[test]
fn an_auditor_reads_the_console_but_staff_cannot_even_get_a_link() {
    let o = office();
    let auditor = Visitor::sign_in(&o.keyd, &o.auditor);
    let page = auditor.get("/console");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("監査人（閲覧のみ）"),
        "the role is shown: {}",
        page.body
    );

    let refused = o
        .staff
        .fuda(&["admin", "console", "--json", "--no-browser"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("neither an administrator nor an auditor"),
        "{}",
        refused.stderr
    );
    // …and the refusal is in the audit log.
    let audit = o
        .admin
        .fuda(&["admin", "audit", "--user", "sato", "--json"])
        .expect(0);
    assert!(
        audit
            .json_lines()
            .iter()
            .any(|r| r["action"] == "admin-read" && r["outcome"] == "deny"),
        "{}",
        audit.stdout
    );
}

#[test]
fn a_disabled_admin_is_signed_out_at_once() {
    let o = office();
    let run = o
        .admin
        .fuda(&["admin", "user", "add", "kato", "--admin", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let kato = o.keyd.enroll("kato", &code, &policy);
    let session = Visitor::sign_in(&o.keyd, &kato);
    assert_eq!(session.get("/console").status, 200);
    o.admin
        .fuda(&["admin", "user", "disable", "kato"])
        .expect(0);
    assert_eq!(session.get("/console").status, 303);
}

#[test]
fn every_console_answer_forbids_foreign_scripts_framing_and_caching() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let pin = fuda_keyd::tls::parse_fingerprint(&o.keyd.fingerprint).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(std::sync::Arc::new(fuda_keyd::tls::pinned_client_config(
            pin,
        )))
        .build();
    let r = agent
        .get(&format!("{}/console", o.keyd.url()))
        .set("Cookie", admin.session.as_deref().unwrap())
        .call()
        .unwrap();
    let csp = r.header("Content-Security-Policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
}
