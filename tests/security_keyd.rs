//! Regression tests for the key service holes of issue 21, end to end against a real
//! `fuda-keyd` process with raw HTTPS requests (what a hostile enrolled colleague sends).

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::keyd::{policy_with_recovery, Keyd};
use common::{p, workdir, write, User};
use serde_json::{json, Value};

/// A service with an admin, alice (設計部, the owner of everything here), bob (営業部) and
/// carol (営業部). The policy lets `internal` grants include `share`.
struct Team {
    keyd: Keyd,
    work: tempfile::TempDir,
    admin: User,
    alice: User,
    bob: User,
    carol: User,
}

fn team() -> Team {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let text = std::fs::read_to_string(&policy).unwrap().replacen(
        r#"max_rights = "view,edit,print,copy""#,
        r#"max_rights = "view,edit,print,copy,share""#,
        1,
    );
    std::fs::write(&policy, text).unwrap();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let alice = keyd.add(&admin, "alice", "設計部", &policy);
    let bob = keyd.add(&admin, "bob", "営業部", &policy);
    let carol = keyd.add(&admin, "carol", "営業部", &policy);
    Team {
        keyd,
        work,
        admin,
        alice,
        bob,
        carol,
    }
}

impl Team {
    /// alice protects a new file at `rel` (under the work dir); returns (doc id, protected path).
    fn protect(&self, rel: &str, level: &str, grants: &[&str]) -> (String, PathBuf) {
        let path = self.work.path().join(rel);
        write(&path, format!("{rel}: 設計図 rev.3\n").repeat(50));
        let mut args = vec!["protect", p(&path), "--level", level, "--json"];
        for g in grants {
            args.extend(["--grant", g]);
        }
        let run = self.alice.fuda(&args).expect(0);
        let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
        (doc, self.work.path().join(format!("{rel}.fuda")))
    }

    /// The admin's audit records about `doc`.
    fn audit(&self, doc: &str) -> Vec<Value> {
        let (st, v) = self.keyd.api().json(
            "POST",
            "/v1/admin/audit",
            &token(&self.admin),
            &json!({"doc": doc}),
        );
        assert_eq!(st, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    /// The registered document `doc`, if any.
    fn registered(&self, doc: &str) -> Option<Value> {
        let (st, v) = self
            .keyd
            .api()
            .call_json_get("/v1/admin/documents", &token(&self.admin));
        assert_eq!(st, 200, "{v}");
        v.as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == doc)
            .cloned()
    }
}

/// A user's API token, as `fuda init --enroll` stored it.
fn token(u: &User) -> String {
    std::fs::read_to_string(token_path(u))
        .unwrap()
        .trim()
        .to_owned()
}

fn token_path(u: &User) -> PathBuf {
    u.home.path().join(".config/fuda/keyd.token")
}

/// The header bytes of a protected file, base64.
fn header_b64(protected: &Path) -> String {
    let bytes = std::fs::read(protected).unwrap();
    let (_, len) = fuda_core::envelope::Header::parse_bytes(&bytes).unwrap();
    STANDARD.encode(&bytes[..len])
}

fn deny_records(records: &[Value], actor: &str, action: &str) -> usize {
    records
        .iter()
        .filter(|r| r["actor"] == actor && r["action"] == action && r["outcome"] == "deny")
        .count()
}

fn allow_records(records: &[Value], actor: &str, action: &str) -> usize {
    records
        .iter()
        .filter(|r| r["actor"] == actor && r["action"] == action && r["outcome"] == "allow")
        .count()
}

#[test]
fn a_colleague_without_view_gets_no_key_for_empty_print_only_or_unknown_rights() {
    let t = team();
    let api = t.keyd.api();
    // A 極秘 document only alice holds, and a 秘 one carol may only print.
    let (secret, secret_file) = t.protect("極秘/plan.txt", "strictly-confidential", &[]);
    let (drawing, drawing_file) =
        t.protect("秘/drawing.txt", "confidential", &["user:carol=print"]);
    let (bob, carol) = (token(&t.bob), token(&t.carol));

    for (who, tok, file, rights, want) in [
        ("bob", &bob, &secret_file, "", (400, "invalid")),
        ("bob", &bob, &secret_file, "print", (400, "invalid")),
        ("bob", &bob, &secret_file, "view,delete", (400, "invalid")),
        ("bob", &bob, &secret_file, "view", (403, "no-rights")),
        ("carol", &carol, &drawing_file, "", (400, "invalid")),
        ("carol", &carol, &drawing_file, "print", (400, "invalid")),
        (
            "carol",
            &carol,
            &drawing_file,
            "view,print",
            (403, "no-rights"),
        ),
    ] {
        let (st, v) = api.json(
            "POST",
            "/v1/licences",
            tok,
            &json!({"header": header_b64(file), "rights": rights}),
        );
        assert_eq!(
            (st, v["error"].as_str().unwrap_or("")),
            want,
            "{who} asking {rights:?}: {v}"
        );
        assert!(v.get("sealed_key").is_none(), "{who} got a key: {v}");
        let msg = v["message"].as_str().unwrap();
        if st == 400 {
            assert!(msg.contains("view") || msg.contains("delete"), "{msg}");
        }
    }

    // Every refusal is audited as a denial of that user; nothing was allowed.
    let records = t.audit(&secret);
    assert_eq!(deny_records(&records, "bob", "open"), 4, "{records:#?}");
    assert_eq!(allow_records(&records, "bob", "open"), 0);
    let records = t.audit(&drawing);
    assert_eq!(deny_records(&records, "carol", "open"), 3, "{records:#?}");
    assert_eq!(allow_records(&records, "carol", "open"), 0);

    // And through the CLI, bob cannot open the 極秘 file.
    t.bob.fuda(&["open", p(&secret_file)]).expect(2);
}

#[test]
fn a_sharer_cannot_demote_the_owner_or_reduce_an_existing_grant() {
    let t = team();
    let api = t.keyd.api();
    let (doc, file) = t.protect(
        "memo.txt",
        "internal",
        &["user:bob=view,share", "user:carol=view,edit"],
    );
    let bob = token(&t.bob);
    let grant = |principal: &str, rights: &str| {
        api.json(
            "POST",
            "/v1/grant",
            &bob,
            &json!({"doc": doc, "grant": {"principal": principal, "rights": rights}}),
        )
    };

    // bob may not touch the owner's grant, reduce carol's, or hand out an empty grant.
    let (st, v) = grant("owner", "view");
    assert_eq!(
        (st, v["error"].as_str().unwrap()),
        (403, "no-rights"),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("only the owner"),
        "{v}"
    );
    let (st, v) = grant("user:carol", "view");
    assert_eq!(
        (st, v["error"].as_str().unwrap()),
        (403, "no-rights"),
        "{v}"
    );
    let (st, v) = grant("user:carol", "");
    assert_eq!((st, v["error"].as_str().unwrap()), (400, "invalid"), "{v}");

    // He may still add someone within his own rights.
    let (st, v) = grant("user:admin", "view");
    assert_eq!(st, 200, "{v}");

    let registered = t.registered(&doc).unwrap();
    let grants: Vec<String> = registered["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}={}",
                g["principal"].as_str().unwrap(),
                g["rights"].as_str().unwrap()
            )
        })
        .collect();
    assert!(grants.contains(&"owner=owner".to_owned()), "{grants:?}");
    assert!(
        grants.contains(&"user:carol=view,edit".to_owned()),
        "{grants:?}"
    );
    assert!(grants.contains(&"user:admin=view".to_owned()), "{grants:?}");
    assert_eq!(deny_records(&t.audit(&doc), "bob", "grant"), 3);

    // The owner keeps control: she takes bob's grant away.
    t.alice
        .fuda(&["unshare", p(&file), "--user", "bob"])
        .expect(0);
    t.bob.fuda(&["open", p(&file)]).expect(2);
}

/// A header wrapped to this service for a new document, whose label is alice's label on
/// `template` with a fresh doc id and `level`, signed by alice (`tamper`: the level is
/// changed after signing).
fn crafted_header(t: &Team, template: &Path, level: &str, tamper: bool) -> (String, String) {
    use fuda_core::store::Stored;
    let bytes = std::fs::read(template).unwrap();
    let (header, _) = fuda_core::envelope::Header::parse_bytes(&bytes).unwrap();
    let Stored::Signed(signed) =
        fuda_core::store::envelope::decode_body(header.label().unwrap().body())
    else {
        panic!("alice's file carries a signed label")
    };
    let identity =
        fuda_core::identity::Identity::load(&t.alice.home.path().join(".config/fuda"), "alice")
            .unwrap();
    let mut label = signed.label.clone();
    label.doc = fuda_core::label::DocId::new();
    if !tamper {
        label.level = level.to_owned();
    }
    let mut signed = identity.sign(label);
    if tamper {
        signed.label.level = level.to_owned();
    }
    let doc = signed.label.doc.to_string();
    let body = fuda_core::store::envelope::encode_body(
        &fuda_core::label::compact::encode(&signed),
        &Default::default(),
        "",
    );
    let stanza = fuda_core::envelope::LabelStanza::new(signed.label.doc, body);
    let (st, info) = t.keyd.api().call_json_get("/v1/info", &token(&t.alice));
    assert_eq!(st, 200);
    let recipient: fuda_core::envelope::x25519::Recipient =
        info["recipient"].as_str().unwrap().parse().unwrap();
    let header = fuda_core::envelope::encrypt(
        &[recipient],
        Some(&stanza),
        &b"plan"[..],
        Vec::new(),
        &fuda_core::envelope::StreamOptions::default(),
    )
    .unwrap();
    (doc, STANDARD.encode(header.to_bytes()))
}

#[test]
fn a_registration_must_match_its_signed_label_and_the_service_caps() {
    let t = team();
    let api = t.keyd.api();
    let (_, template) = t.protect("極秘/plan.txt", "strictly-confidential", &[]);
    let alice = token(&t.alice);
    let now = fuda_keyd::now();
    let register_with =
        |header: &str, level: &str, offline_days: u32, expires_at: Option<i64>, grants: Value| {
            api.json(
            "POST",
            "/v1/documents",
            &alice,
            &json!({
                "header": header, "name": "plan.txt", "level": level,
                "grants": grants,
                "max_rights": "view,export", "expires_at": expires_at,
                "offline_days": offline_days, "size": 4, "digest": "00", "host": "h", "path": "/p",
            }),
        )
        };
    let register = |header: &str, level: &str, offline_days: u32, expires_at: Option<i64>| {
        register_with(
            header,
            level,
            offline_days,
            expires_at,
            json!([{"principal": "owner", "rights": "owner"},
                   {"principal": "group:営業部", "rights": "view"}]),
        )
    };

    // The issue's registration: a 極秘 header registered as public, offline for a century.
    let (doc, header) = crafted_header(&t, &template, "strictly-confidential", false);
    for (level, offline, expires, what) in [
        ("public", 0, Some(now + 86_400), "level"),
        (
            "strictly-confidential",
            36_500,
            Some(now + 86_400),
            "offline",
        ),
        (
            "strictly-confidential",
            0,
            Some(now + 100 * 365 * 86_400),
            "expiry",
        ),
    ] {
        let (st, v) = register(&header, level, offline, expires);
        assert_eq!(
            (st, v["error"].as_str().unwrap()),
            (400, "invalid"),
            "{what}: {v}"
        );
        assert!(t.registered(&doc).is_none(), "{what}: nothing is stored");
    }
    // A grant of nothing is refused too.
    let (st, v) = register_with(
        &header,
        "strictly-confidential",
        0,
        None,
        json!([{"principal": "user:bob", "rights": ""}]),
    );
    assert_eq!(st, 400, "{v}");
    assert!(t.registered(&doc).is_none());
    assert_eq!(deny_records(&t.audit(&doc), "alice", "protect"), 4);

    // A label whose level was changed after signing is refused even when the levels agree.
    let (forged, header_forged) = crafted_header(&t, &template, "public", true);
    let (st, v) = register(&header_forged, "public", 0, None);
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("signature"), "{v}");
    assert!(t.registered(&forged).is_none());

    // The same header, registered honestly within the caps, is accepted.
    let (st, v) = register(&header, "strictly-confidential", 0, Some(now + 86_400));
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        t.registered(&doc).unwrap()["level"],
        "strictly-confidential"
    );
}

#[test]
fn re_enrollment_disabling_and_revoke_tokens_end_old_tokens() {
    let mut t = team();
    let api = t.keyd.api();
    let me = |tok: &str| api.call("GET", "/v1/me", Some(tok), None, None).0;
    let new_code = |t: &Team| {
        let run = t
            .admin
            .fuda(&["admin", "user", "code", "bob", "--json"])
            .expect(0);
        run.json_lines()[0]["code"].as_str().unwrap().to_owned()
    };
    let enroll = |code: &str| {
        let (st, v) = api.json(
            "POST",
            "/v1/enroll",
            "unused",
            &json!({
                "code": code,
                "recipient": age::x25519::Identity::generate().to_public().to_string(),
                "signing_key": STANDARD.encode([7u8; 32]),
            }),
        );
        assert_eq!(st, 200, "{v}");
        v["token"].as_str().unwrap().to_owned()
    };

    // A new enrollment ends the old token.
    let first = token(&t.bob);
    assert_eq!(me(&first), 200);
    let second = enroll(&new_code(&t));
    assert_eq!(me(&first), 401, "the token from before re-enrollment");
    assert_eq!(me(&second), 200);

    // An admin ends bob's tokens now.
    let run = t
        .admin
        .fuda(&["admin", "user", "revoke-tokens", "bob", "--json"])
        .expect(0);
    assert_eq!(run.json_lines()[0]["revoked"], 1);
    assert_eq!(me(&second), 401);

    // Disabling ends them too: enabling again does not bring them back.
    let third = enroll(&new_code(&t));
    t.admin.fuda(&["admin", "user", "disable", "bob"]).expect(0);
    t.admin.fuda(&["admin", "user", "enable", "bob"]).expect(0);
    assert_eq!(me(&third), 401);
    let audit = t.audit_user("bob");
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "revoke-tokens" && r["actor"] == "admin"),
        "{audit:#?}"
    );

    // Tokens live as long as the service says: two days on, a one-day token is over.
    let fourth = enroll(&new_code(&t));
    t.keyd.stop();
    t.keyd.serve_with(&["--token-lifetime-days", "1"], &[]);
    assert_eq!(me(&fourth), 200);
    t.keyd.stop();
    let later = (fuda_keyd::now() + 2 * 86_400).to_string();
    t.keyd.serve_with(
        &["--token-lifetime-days", "1"],
        &[("FUDA_KEYD_NOW", &later)],
    );
    let (st, _, msg) = api.call("GET", "/v1/me", Some(&fourth), None, None);
    assert_eq!(st, 401);
    assert!(msg.contains("expired"), "{msg}");
}

impl Team {
    fn audit_user(&self, user: &str) -> Vec<Value> {
        let (st, v) = self.keyd.api().json(
            "POST",
            "/v1/admin/audit",
            &token(&self.admin),
            &json!({"user": user}),
        );
        assert_eq!(st, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

#[test]
fn a_failed_enrollment_does_not_burn_the_code_and_a_wrong_code_reveals_nothing() {
    let t = team();
    let api = t.keyd.api();
    let run = t
        .admin
        .fuda(&["admin", "user", "add", "dave", "--dept", "営業部", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let key = STANDARD.encode([9u8; 32]);
    let enroll = |code: &str, recipient: &str, key: &str| {
        api.call(
            "POST",
            "/v1/enroll",
            None,
            Some("application/json"),
            Some(
                json!({"code": code, "recipient": recipient, "signing_key": key})
                    .to_string()
                    .as_bytes(),
            ),
        )
    };

    // Typos in the keys are refused and leave the code usable.
    assert_eq!(enroll(&code, "age1typo", &key).0, 400);
    assert_eq!(enroll(&code, &recipient, "AAAA").0, 400);
    // A wrong code says only that it is not valid.
    let (st, _, msg) = enroll("fudaenroll_wrong", &recipient, &key);
    assert_eq!(st, 401);
    assert!(!msg.contains("dave"), "{msg}");
    // The code still works, once.
    assert_eq!(enroll(&code, &recipient, &key).0, 200);
    assert_eq!(enroll(&code, &recipient, &key).0, 401);
}

#[test]
fn a_world_readable_token_is_refused_like_a_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let t = team();
    let (_, file) = t.protect("memo.txt", "internal", &["user:bob=view"]);
    let path = token_path(&t.bob);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = t.bob.fuda(&["open", p(&file)]).expect(2);
    assert!(
        run.stderr.contains("chmod 600") && run.stderr.contains("keyd.token"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    t.bob.fuda(&["open", p(&file)]).expect(0);
}

#[test]
fn a_wrong_certificate_is_named_loudly_before_any_offline_fallback() {
    let mut t = team();
    // bob opens an internal memo online: he now holds an offline licence for it.
    let (_, file) = t.protect("memo.txt", "internal", &["user:bob=view"]);
    t.bob.fuda(&["open", p(&file)]).expect(0);

    // Someone else answers on the service's address with another certificate.
    t.keyd.stop();
    let tls = t.keyd.dir().join("tls");
    std::fs::remove_dir_all(&tls).unwrap();
    let seen = fuda_keyd_server::tls::generate(&tls, &["127.0.0.1".to_owned()]).unwrap();
    t.keyd.serve();

    let run = t.bob.fuda(&["open", p(&file)]).expect(0);
    assert!(
        run.stderr.contains("WARNING")
            && run.stderr.contains(&t.keyd.fingerprint)
            && run.stderr.contains(&seen),
        "{}",
        run.stderr
    );
}

/// The organisation's policy in `team()`'s work dir (the team's local policy), set by the
/// admin on the service.
fn set_organisation_policy(t: &Team) -> PathBuf {
    let policy = t.work.path().join("policy.toml");
    t.admin
        .fuda(&["admin", "policy", "set", p(&policy)])
        .expect(0);
    policy
}

#[test]
fn under_the_organisations_policy_the_service_decides_the_caps_not_the_client() {
    let mut t = team();
    let org = set_organisation_policy(&t);
    // The policy outlives a restart of the service.
    t.keyd.stop();
    t.keyd.serve();
    let api = t.keyd.api();
    let (_, template) = t.protect("極秘/plan.txt", "strictly-confidential", &[]);

    // alice edits her own copy of the policy to allow export on 極秘: her fuda uses the
    // organisation's, and refuses before anything is encrypted.
    let edited = t.work.path().join("edited.toml");
    let text = std::fs::read_to_string(&org).unwrap();
    let at = text.find("id = \"strictly-confidential\"").unwrap();
    let text = format!(
        "{}{}",
        &text[..at],
        text[at..].replacen("max_rights = \"view\"", "max_rights = \"view,export\"", 1)
    );
    std::fs::write(&edited, text).unwrap();
    let config = t.alice.home.path().join(".config/fuda/config.toml");
    let conf = std::fs::read_to_string(&config).unwrap();
    let conf = conf
        .lines()
        .map(|l| {
            if l.starts_with("policy = ") {
                format!("policy = {:?}", p(&edited))
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, conf).unwrap();
    let secret = t.work.path().join("極秘/export.txt");
    write(&secret, "原価");
    let r = t
        .alice
        .fuda(&[
            "protect",
            p(&secret),
            "--level",
            "極秘",
            "--grant",
            "user:bob=view,export",
        ])
        .expect(2);
    assert!(r.stderr.contains("at most"), "{}", r.stderr);
    assert!(secret.exists() && !t.work.path().join("極秘/export.txt.fuda").exists());

    // The same, and more, sent as raw requests: each refused (400, audited), nothing stored.
    let alice = token(&t.alice);
    let now = fuda_keyd::now();
    let register = |header: &str, level: &str, grants: Value, expires_at: Option<i64>| {
        api.json(
            "POST",
            "/v1/documents",
            &alice,
            &json!({
                "header": header, "name": "plan.txt", "level": level, "grants": grants,
                "max_rights": "view,export,share", "expires_at": expires_at,
                "offline_days": 30, "size": 4, "digest": "00", "host": "h", "path": "/p",
            }),
        )
    };
    let owner_only = json!([{"principal": "owner", "rights": "owner"}]);
    let (doc, header) = crafted_header(&t, &template, "strictly-confidential", false);
    let (public, public_header) = crafted_header(&t, &template, "public", false);
    for (header, level, grants, expires, says) in [
        (
            &header,
            "strictly-confidential",
            json!([{"principal": "owner", "rights": "owner"},
                   {"principal": "user:bob", "rights": "view,export"}]),
            Some(now + 86_400),
            "more than level 極秘 allows",
        ),
        (
            &header,
            "strictly-confidential",
            owner_only.clone(),
            Some(now + 400 * 86_400),
            "later than level 極秘 allows",
        ),
        (
            &header,
            "strictly-confidential",
            owner_only.clone(),
            None,
            "never expires",
        ),
        (
            &public_header,
            "public",
            owner_only.clone(),
            None,
            "never protected",
        ),
    ] {
        let (st, v) = register(header, level, grants, expires);
        assert_eq!(st, 400, "{says}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(says), "{says}: {message}");
        assert!(
            message.contains("organisation's policy (version 1)"),
            "{message}"
        );
    }
    assert!(t.registered(&doc).is_none() && t.registered(&public).is_none());
    assert_eq!(deny_records(&t.audit(&doc), "alice", "protect"), 3);
    assert_eq!(deny_records(&t.audit(&public), "alice", "protect"), 1);

    // Within the caps it is registered, with the policy's max_rights and offline days,
    // not the ones it claimed (view,export,share; 30 days).
    let (st, v) = register(
        &header,
        "strictly-confidential",
        owner_only,
        Some(now + 86_400),
    );
    assert_eq!(st, 200, "{v}");
    let stored = t.registered(&doc).unwrap();
    assert_eq!(
        (
            stored["max_rights"].as_str(),
            stored["offline_days"].as_u64()
        ),
        (Some("view"), Some(0))
    );
    // So sharing export is refused later too.
    let (st, v) = api.json(
        "POST",
        "/v1/grant",
        &alice,
        &json!({"doc": doc, "grant": {"principal": "user:bob", "rights": "view,export"}}),
    );
    assert_eq!(st, 403, "{v}");
}

#[test]
fn an_admin_reapplies_a_stricter_policy_to_documents_already_protected() {
    let t = team();
    let org = set_organisation_policy(&t);
    // Under version 1, internal grants may include share.
    let (doc, _) = t.protect("社外秘/memo.txt", "internal", &["user:bob=view,share"]);
    // Version 2 takes share away; the document keeps its caps until the policy is applied.
    let v2 = t.work.path().join("v2.toml");
    let text = std::fs::read_to_string(&org).unwrap().replacen(
        r#"max_rights = "view,edit,print,copy,share""#,
        r#"max_rights = "view,edit,print,copy""#,
        1,
    );
    std::fs::write(&v2, text).unwrap();
    t.admin.fuda(&["admin", "policy", "set", p(&v2)]).expect(0);
    let bob_rights = |t: &Team| {
        t.registered(&doc).unwrap()["grants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["principal"] == "user:bob")
            .map(|g| g["rights"].as_str().unwrap().to_owned())
    };
    assert_eq!(bob_rights(&t).as_deref(), Some("view,share"));

    let applied = t
        .admin
        .fuda(&["admin", "policy", "apply", "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(applied["version"], 2);
    let tightened = applied["tightened"].as_array().unwrap();
    assert_eq!(tightened.len(), 1, "{applied}");
    assert_eq!(tightened[0]["doc"], doc.as_str());
    assert_eq!(bob_rights(&t).as_deref(), Some("view"));
    assert_eq!(
        t.registered(&doc).unwrap()["max_rights"],
        "view,edit,print,copy"
    );
    assert_eq!(allow_records(&t.audit(&doc), "admin", "policy-apply"), 1);
    // Applying again changes nothing.
    let again = t
        .admin
        .fuda(&["admin", "policy", "apply", "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(again["tightened"].as_array().unwrap().len(), 0);
}
