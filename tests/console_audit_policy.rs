//! The console's audit log and policy pages, over HTTPS against a real `fuda-keyd`: what
//! an auditor reads when asked who did what, and which rules were in force.

mod common;

use common::console::{office, Visitor};

/// The body's `<tbody>` rows of the first table.
fn rows(body: &str) -> usize {
    body.split("<tbody>").nth(1).map_or(0, |t| {
        t.split("</tbody>").next().unwrap().matches("<tr>").count()
    })
}

#[test]
fn the_audit_log_filters_by_action_and_pages_back_in_time() {
    let o = office();
    // 60 more records: each log-in link asked for is audited.
    for _ in 0..60 {
        Visitor::link_of(&o.admin);
    }
    let auditor = Visitor::sign_in(&o.keyd, &o.auditor);

    let newest = auditor.get("/console/audit");
    assert_eq!(newest.status, 200, "{}", newest.body);
    assert_eq!(rows(&newest.body), 50, "a page of 50");
    let older = newest
        .body
        .split("&amp;before=")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a link to older records")
        .to_owned();
    let next = auditor.get(&format!("/console/audit?before={older}"));
    assert_eq!(next.status, 200);
    assert!(rows(&next.body) > 0);
    let seqs = |body: &str| -> Vec<i64> {
        body.split("<td class=\"num\">")
            .skip(1)
            .filter_map(|t| t.split('<').next()?.parse().ok())
            .collect()
    };
    let (first, second) = (seqs(&newest.body), seqs(&next.body));
    assert!(
        second.iter().all(|s| s < first.last().unwrap()),
        "the next page is older: {first:?} then {second:?}"
    );

    let adds = auditor.get("/console/audit?action=user-add");
    assert_eq!(rows(&adds.body), 2, "audrey and sato: {}", adds.body);
    let by_sato = auditor.get("/console/audit?user=sato&action=enroll");
    assert_eq!(rows(&by_sato.body), 1);
    let bad = auditor.get("/console/audit?since=yesterday");
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("YYYY-MM-DD"), "{}", bad.body);
}

#[test]
fn the_audit_export_is_the_filtered_records_as_excel_ready_csv() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let csv = admin.get("/console/audit.csv?action=user-add");
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with('\u{feff}'), "a BOM for Excel");
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "連番,日時,実行者,操作,結果,文書ID,対象者,理由,詳細,ハッシュ"
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].contains(",admin,user-add,allow,,audrey,"),
        "{}",
        lines[1]
    );
    let en = admin.get("/console/audit.csv?action=user-add&lang=en");
    assert!(en.body.contains("seq,time,actor,action"), "{}", en.body);
}

#[test]
fn the_chain_is_verified_on_request_and_the_overview_says_when_and_how_it_ended() {
    let o = office();
    let auditor = Visitor::sign_in(&o.keyd, &o.auditor);
    let before = auditor.get("/console");
    assert!(
        before.body.contains("まだ検証されていません"),
        "never verified: {}",
        before.body
    );
    let page = auditor.get("/console/audit/verify");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("改ざんはありません"), "{}", page.body);
    let after = auditor.get("/console?lang=en");
    assert!(
        after.text().contains("(audrey)") && after.body.contains("intact"),
        "{}",
        after.body
    );
    // The verification is itself in the log.
    let log = auditor.get("/console/audit?action=audit-verify");
    assert!(log.body.contains("audit-verify"), "{}", log.body);
}

#[test]
fn hostile_text_in_the_audit_log_is_shown_as_text() {
    let o = office();
    o.admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "mallory",
            "--dept",
            "<script>alert(1)</script>",
            "--display-name",
            "\"><img src=x onerror=alert(2)>",
        ])
        .expect(0);
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let page = admin.get("/console/audit?action=user-add");
    assert!(
        page.text().contains("<script>alert(1)</script>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert!(!page.body.contains("<img"), "{}", page.body);
}

#[test]
fn the_policy_page_shows_the_levels_in_force_its_versions_and_what_changed() {
    let o = office();
    let admin = Visitor::sign_in(&o.keyd, &o.admin);
    let builtin = admin.get("/console/policy");
    assert_eq!(builtin.status, 200, "{}", builtin.body);
    for level in ["極秘", "秘", "社外秘", "公開"] {
        assert!(builtin.body.contains(level), "{level}: {}", builtin.body);
    }
    assert!(
        builtin.body.contains("組み込みの既定ポリシー"),
        "{}",
        builtin.body
    );

    let (v1, _) = common::keyd::policy_with_recovery(o.work.path());
    o.admin
        .fuda(&["admin", "policy", "set", v1.to_str().unwrap()])
        .expect(0);
    let text = std::fs::read_to_string(&v1).unwrap();
    let v2 = o.work.path().join("policy-v2.toml");
    std::fs::write(
        &v2,
        text.replacen("offline_days = 7", "offline_days = 1 # <b>短縮</b>", 1),
    )
    .unwrap();
    o.admin
        .fuda(&["admin", "policy", "set", v2.to_str().unwrap()])
        .expect(0);

    let page = admin.get("/console/policy?lang=en");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Version 2"), "{}", page.body);
    assert!(page.body.contains("(in force)"), "{}", page.body);
    assert!(page.body.contains("/console/policy?v=1"), "{}", page.body);
    assert!(
        page.text().contains("+offline_days = 1 # <b>短縮</b>") && !page.body.contains("<b>"),
        "the diff, as text: {}",
        page.body
    );
    let first = admin.get("/console/policy?v=1");
    assert!(!first.body.contains("適用中"), "v1 is not in force");
    assert_eq!(admin.get("/console/policy?v=9").status, 404);
}
