//! The auditor: a read-only role of the key service (`fuda admin user add --auditor`).
//! An auditor reads what admins read — the directory, the registry, the audit log (and
//! the company ledger) — and can change nothing; every refused change is in the audit
//! log. End to end against a real `fuda-keyd` process with raw HTTPS requests.

mod common;

use common::keyd::{policy_with_recovery, Keyd};
use common::{workdir, User};
use serde_json::{json, Value};

fn token(u: &User) -> String {
    std::fs::read_to_string(u.home.path().join(".config/fuda/keyd.token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A service with an admin, an auditor (audrey) and a member of staff (sato).
struct Office {
    keyd: Keyd,
    _work: tempfile::TempDir,
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
    let added = &run.json_lines()[0];
    assert_eq!(added["user"]["auditor"], true, "{added}");
    assert_eq!(added["user"]["admin"], false, "{added}");
    let auditor = keyd.enroll("audrey", added["code"].as_str().unwrap(), &policy);
    let staff = keyd.add(&admin, "sato", "営業部", &policy);
    Office {
        keyd,
        _work: work,
        admin,
        auditor,
        staff,
    }
}

impl Office {
    /// The whole audit log, as the admin reads it.
    fn audit(&self) -> Vec<Value> {
        let (st, v) =
            self.keyd
                .api()
                .json("POST", "/v1/admin/audit", &token(&self.admin), &json!({}));
        assert_eq!(st, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

#[test]
fn an_auditor_reads_the_directory_registry_and_audit_log() {
    let o = office();
    let api = o.keyd.api();
    let t = token(&o.auditor);
    for path in [
        "/v1/admin/users",
        "/v1/admin/groups",
        "/v1/admin/documents",
        "/v1/admin/revocations",
        "/v1/admin/audit/verify",
    ] {
        let (st, v) = api.call_json_get(path, &t);
        assert_eq!(st, 200, "{path}: {v}");
    }
    let (st, v) = api.json("POST", "/v1/admin/audit", &t, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["action"] == "user-add" && r["subject"] == "audrey"));
}

#[test]
fn an_auditors_change_requests_are_refused_and_audited_and_change_nothing() {
    let o = office();
    let api = o.keyd.api();
    let t = token(&o.auditor);
    let users_before = api.call_json_get("/v1/admin/users", &token(&o.admin)).1;
    let changes: [(&str, Value); 7] = [
        ("/v1/admin/users", json!({"name": "mallory", "admin": true})),
        (
            "/v1/admin/user-status",
            json!({"name": "sato", "status": "disabled"}),
        ),
        ("/v1/admin/user-code", json!({"name": "admin"})),
        ("/v1/admin/revoke-tokens", json!({"name": "admin"})),
        ("/v1/admin/groups", json!({"name": "監査用"})),
        ("/v1/admin/revoke", json!({"user": "sato"})),
        ("/v1/admin/rotate-key", json!({})),
    ];
    for (path, body) in &changes {
        let (st, v) = api.json("POST", path, &t, body);
        assert_eq!(st, 403, "{path}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("auditor"),
            "{path}: {v}"
        );
    }
    // Nothing changed: the same users, sato still active, the admin's token still works.
    let (st, users_after) = api.call_json_get("/v1/admin/users", &token(&o.admin));
    assert_eq!(st, 200);
    assert_eq!(users_after, users_before);
    // Every refusal is in the audit log, as the auditor's, with why.
    let refused: Vec<Value> = o
        .audit()
        .into_iter()
        .filter(|r| r["actor"] == "audrey" && r["outcome"] == "deny")
        .collect();
    assert_eq!(refused.len(), changes.len(), "{refused:#?}");
    assert!(refused.iter().all(|r| r["reason"] == "auditor-read-only"));
}

#[test]
fn staff_read_no_admin_data_and_the_refusal_is_audited() {
    let o = office();
    let (st, v) = o
        .keyd
        .api()
        .json("POST", "/v1/admin/audit", &token(&o.staff), &json!({}));
    assert_eq!(st, 403, "{v}");
    let refused = o
        .audit()
        .into_iter()
        .filter(|r| r["actor"] == "sato" && r["action"] == "admin-read")
        .filter(|r| r["outcome"] == "deny" && r["reason"] == "not-admin")
        .count();
    assert_eq!(refused, 1);
}

#[test]
fn an_auditor_cannot_also_be_an_admin() {
    let o = office();
    let run = o
        .admin
        .fuda(&["admin", "user", "add", "x", "--admin", "--auditor"]);
    run.expect(2);
    // Through the API too: the service refuses what the CLI does not send.
    let (st, v) = o.keyd.api().json(
        "POST",
        "/v1/admin/users",
        &token(&o.admin),
        &json!({"name": "x", "admin": true, "auditor": true}),
    );
    assert_eq!(st, 400, "{v}");
}
