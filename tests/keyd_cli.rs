//! End-to-end: a real `fuda-keyd` on 127.0.0.1 and separate `fuda` processes for several
//! people, each with their own HOME.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::keyd::{policy_with_recovery, Keyd};
use common::{p, path_of, require_tool, workdir, write, User};

#[test]
fn rights_revocation_and_audit_across_users() {
    let mut keyd = Keyd::start();
    let work = workdir();
    let (policy, recovery) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let sato = keyd.add(&admin, "sato", "生産技術部", &policy);
    let yamada = keyd.add(&admin, "yamada", "設計部", &policy);
    let suzuki = keyd.add(&admin, "suzuki", "営業部", &policy);

    // tanaka protects a drawing for 設計部 (view) and sato (edit).
    let drawing = work.path().join("bracket.dxf");
    let content = b"0\nSECTION\n2\nENTITIES\n0\nLINE\n".repeat(5000);
    write(&drawing, &content);
    let run = tanaka
        .fuda(&[
            "protect",
            p(&drawing),
            "--level",
            "confidential",
            "--grant",
            "group:設計部=view",
            "--grant",
            "user:sato=view,edit",
            "--json",
        ])
        .expect(0);
    let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    let protected = work.path().join("bracket.dxf.fuda");
    assert!(
        !drawing.exists(),
        "the original is removed after the protected copy verified"
    );
    assert!(protected.exists());

    // sato opens it, and holds edit; yamada (設計部) opens it with view only.
    let out = work.path().join("sato.dxf");
    sato.fuda(&["open", p(&protected), "--out", p(&out)])
        .expect(0);
    assert_eq!(std::fs::read(&out).unwrap(), content);
    let rights = sato
        .fuda(&["rights", p(&protected), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(rights["rights"], "view,edit");
    let seen = yamada.fuda(&["open", p(&protected)]).expect(0);
    assert_eq!(seen.stdout.as_bytes(), &content[..]);

    // suzuki (営業部) is refused, with a reason naming what to do.
    let denied = suzuki.fuda(&["open", p(&protected)]).expect(2);
    assert!(
        denied.stderr.contains("no rights") && denied.stderr.contains("tanaka"),
        "{}",
        denied.stderr
    );
    assert!(denied.stdout.is_empty());

    // An admin revokes sato on the drawing: sato's next open is refused.
    admin
        .fuda(&["admin", "revoke", "--doc", &doc, "--user", "sato"])
        .expect(0);
    let denied = sato
        .fuda(&["open", p(&protected), "--out", p(&work.path().join("x"))])
        .expect(2);
    assert!(denied.stderr.contains("revoked"), "{}", denied.stderr);
    assert!(!work.path().join("x").exists());

    // The owner shares with suzuki; suzuki opens, but may not export.
    tanaka
        .fuda(&["share", p(&protected), "--grant", "user:suzuki=view"])
        .expect(0);
    suzuki
        .fuda(&[
            "open",
            p(&protected),
            "--out",
            p(&work.path().join("suzuki.dxf")),
        ])
        .expect(0);
    let denied = suzuki
        .fuda(&["export", p(&protected), "--out", p(&work.path().join("y"))])
        .expect(2);
    assert!(denied.stderr.contains("export"), "{}", denied.stderr);
    // sato cannot share (no share right); the owner can take suzuki's grant away.
    sato.fuda(&["share", p(&protected), "--grant", "user:yamada=view"])
        .expect(2);
    tanaka
        .fuda(&["unshare", p(&protected), "--user", "suzuki"])
        .expect(0);
    suzuki.fuda(&["open", p(&protected)]).expect(2);

    // A disabled user is refused everywhere.
    admin
        .fuda(&["admin", "user", "disable", "yamada"])
        .expect(0);
    let denied = yamada.fuda(&["open", p(&protected)]).expect(2);
    assert!(denied.stderr.contains("disabled"), "{}", denied.stderr);
    yamada.fuda(&["rights", p(&protected)]).expect(2);

    // Replaying another file's header with this file's content never yields its content.
    let other = work.path().join("memo.txt");
    write(&other, "sato's own memo");
    let run = sato
        .fuda(&["protect", p(&other), "--level", "internal", "--json"])
        .expect(0);
    assert!(run.json_lines()[0]["doc"].is_string());
    let other_fuda = work.path().join("memo.txt.fuda");
    let a = std::fs::read(&protected).unwrap();
    let b = std::fs::read(&other_fuda).unwrap();
    let (ha, la) = fuda_core::envelope::Header::parse_bytes(&a).unwrap();
    let (_hb, lb) = fuda_core::envelope::Header::parse_bytes(&b).unwrap();
    let mut replay = b[..lb].to_vec();
    replay.extend_from_slice(&a[la..]);
    let replayed = work.path().join("replay.dxf.fuda");
    std::fs::write(&replayed, &replay).unwrap();
    let r = sato
        .fuda(&["open", p(&replayed), "--out", p(&work.path().join("r"))])
        .expect(2);
    assert!(!work.path().join("r").exists(), "{}", r.stderr);
    // …and a header whose doc id was swapped for another's fails the MAC at the service.
    let docb = fuda_core::envelope::Header::parse_bytes(&b)
        .unwrap()
        .0
        .label()
        .unwrap()
        .doc_id()
        .to_string();
    let text = String::from_utf8_lossy(&a[..la]).replace(&doc, &docb);
    let mut swapped = text.into_bytes();
    swapped.extend_from_slice(&a[la..]);
    let swapped_path = work.path().join("swapped.dxf.fuda");
    std::fs::write(&swapped_path, &swapped).unwrap();
    let r = sato.fuda(&["open", p(&swapped_path)]).expect(2);
    assert!(r.stderr.contains("header"), "{}", r.stderr);
    drop(ha);

    // offline_days: with the service down, a licence issued before keeps working until
    // the level's offline period ends (confidential: 7 days).
    tanaka.fuda(&["open", p(&protected)]).expect(0);
    keyd.stop();
    let offline = tanaka.fuda(&["open", p(&protected)]).expect(0);
    assert!(
        offline.stderr.contains("offline licence"),
        "{}",
        offline.stderr
    );
    // The clock override exists in debug builds only (what `cargo test` builds).
    if cfg!(debug_assertions) {
        let later = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 8 * 86_400)
            .to_string();
        let ended = tanaka
            .fuda_env(&["open", p(&protected)], &[("FUDA_KEYD_NOW", &later)])
            .expect(2);
        assert!(ended.stderr.contains("ended"), "{}", ended.stderr);
    }
    keyd.serve();

    // The recovery identity decrypts every protected file with the Go age CLI.
    if require_tool("age", Command::new("age").arg("--version").output().is_ok()) {
        for (file, expect) in [
            (&protected, &content[..]),
            (&other_fuda, &b"sato's own memo"[..]),
        ] {
            let out = Command::new("age")
                .args(["-d", "-i", p(&recovery), p(file)])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, expect);
        }
    }

    // The audit log has every decision, and an edited row is found and named.
    let records = admin
        .fuda(&["admin", "audit", "--doc", &doc, "--json"])
        .expect(0)
        .json_lines();
    assert!(records
        .iter()
        .any(|r| r["action"] == "open" && r["outcome"] == "deny" && r["actor"] == "suzuki"));
    assert!(records.iter().any(|r| r["action"] == "revoke"));
    admin.fuda(&["admin", "audit", "--verify"]).expect(0);
    let db = rusqlite::Connection::open(keyd.dir().join("keyd.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 12", [])
        .unwrap();
    let bad = admin.fuda(&["admin", "audit", "--verify"]).expect(1);
    assert!(bad.stdout.contains("record 12"), "{}", bad.stdout);
    db.execute("DELETE FROM audit WHERE seq = 12", []).unwrap();
    let bad = admin.fuda(&["admin", "audit", "--verify"]).expect(1);
    assert!(
        bad.stdout.contains("record 12 is missing"),
        "{}",
        bad.stdout
    );
}

#[test]
fn a_killed_service_loses_no_acknowledged_audit_record() {
    let mut keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let file = work.path().join("plan.txt");
    write(&file, "plan");
    tanaka
        .fuda(&["protect", p(&file), "--level", "internal"])
        .expect(0);
    let header = fuda_core::envelope::Header::parse_bytes(
        &std::fs::read(work.path().join("plan.txt.fuda")).unwrap(),
    )
    .unwrap()
    .0
    .to_bytes();
    let token =
        std::fs::read_to_string(tanaka.home.path().join(".config/fuda/keyd.token")).unwrap();

    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (url, fp, token, header) = (
                keyd.url(),
                keyd.fingerprint.clone(),
                token.clone(),
                header.clone(),
            );
            let (ack, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                use fuda_keyd::client::KeyService;
                let client =
                    fuda_keyd::client::Remote::new(&url, &fp, Some(token.trim().to_owned()))
                        .unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let req = fuda_keyd::licence::Request {
                        header: header.clone(),
                        rights: "view".parse().unwrap(),
                    };
                    match client.licence(req) {
                        Ok(_) => {
                            ack.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    keyd.kill();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = acknowledged.load(Ordering::SeqCst);
    assert!(acked > 10, "the load ran ({acked} licences)");

    keyd.serve();
    let records = admin
        .fuda(&[
            "admin", "audit", "--user", "tanaka", "--limit", "10000000", "--json",
        ])
        .expect(0)
        .json_lines();
    let opens = records
        .iter()
        .filter(|r| r["action"] == "open" && r["outcome"] == "allow")
        .count() as u64;
    // +1: protect's own verification opened the file once.
    assert!(
        opens > acked,
        "{opens} open records for {acked} acknowledged licences (+1)"
    );
    admin.fuda(&["admin", "audit", "--verify"]).expect(0);
}

#[test]
fn a_single_user_protects_and_opens_without_a_daemon() {
    let work = workdir();
    let (policy, recovery) = policy_with_recovery(work.path());
    let tanaka = User::new("tanaka");
    tanaka
        .fuda(&[
            "init",
            "--name",
            "tanaka",
            "--dept",
            "設計部",
            "--policy",
            p(&policy),
        ])
        .expect(0);
    let plan = work.path().join("plan.xlsx");
    write(&plan, "原価計画");

    // The policy decides: 公開 is never protected; outsiders get at most max_rights.
    let r = tanaka
        .fuda(&["protect", p(&plan), "--level", "public"])
        .expect(2);
    assert!(r.stderr.contains("never protected"), "{}", r.stderr);
    let r = tanaka
        .fuda(&[
            "protect",
            p(&plan),
            "--level",
            "confidential",
            "--grant",
            "user:sato=export",
        ])
        .expect(2);
    assert!(r.stderr.contains("at most"), "{}", r.stderr);
    assert!(
        plan.exists() && !work.path().join("plan.xlsx.fuda").exists(),
        "a refusal changes nothing"
    );

    let run = tanaka
        .fuda(&["protect", p(&plan), "--level", "秘", "--json"])
        .expect(0);
    let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    let fuda = work.path().join("plan.xlsx.fuda");
    assert!(!plan.exists());
    assert_eq!(
        tanaka.fuda(&["open", p(&fuda)]).expect(0).stdout,
        "原価計画"
    );
    let rights = tanaka
        .fuda(&["rights", p(&fuda), "--json"])
        .expect(0)
        .json_lines()
        .remove(0);
    assert_eq!(rights["document"]["owner"], "tanaka");
    // The embedded user is the admin of their own service.
    let docs = tanaka
        .fuda(&["admin", "documents", "--json"])
        .expect(0)
        .json_lines();
    assert_eq!(docs[0]["id"], doc.as_str());
    // Label changes go to the embedded service's audit log too.
    let note = work.path().join("note.txt");
    write(&note, "議事録");
    tanaka
        .fuda(&["label", "set", "internal", p(&note)])
        .expect(0);
    let note_doc = tanaka.show(&note)["doc"].as_str().unwrap().to_owned();
    let records = audit_of(&tanaka, &note_doc);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["action"], "label-set");
    assert_eq!(records[0]["detail"]["to"], "internal");
    // So do the labels the rules apply: `fuda scan --apply` and `fuda watch`.
    let scanned = work.path().join("scanned");
    let memo = scanned.join("memo.txt");
    write(&memo, "本資料は極秘です。");
    tanaka
        .fuda(&["scan", "--apply", "-q", p(&scanned)])
        .expect(0);
    let memo_doc = tanaka.show(&memo)["doc"].as_str().unwrap().to_owned();
    let records = audit_of(&tanaka, &memo_doc);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["action"], "label-set");
    assert_eq!(records[0]["detail"]["to"], "strictly-confidential");
    assert_eq!(records[0]["detail"]["path"], common::jp(&memo));
    let watched = work.path().join("watched");
    std::fs::create_dir(&watched).unwrap();
    let watch = common::watch::Watch::start(&tanaka, &watched, None);
    let arrived = watched.join("arrived.txt");
    write(&arrived, "社外秘の資料です。");
    watch.wait_for(|events| events.iter().any(|e| e["event"] == "labeled"), 30);
    let (_, events) = watch.stop();
    assert!(
        !events.iter().any(|e| e["event"] == "audit-failed"),
        "{events:#?}"
    );
    let arrived_doc = tanaka.show(&arrived)["doc"].as_str().unwrap().to_owned();
    let records = audit_of(&tanaka, &arrived_doc);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["detail"]["path"], common::jp(&arrived));
    // The embedded registry feeds the inventory: a revoked document still on disk.
    tanaka.fuda(&["admin", "revoke", "--doc", &doc]).expect(0);
    let run = tanaka.fuda(&[
        "inventory",
        p(work.path()),
        "--from-service",
        "--format",
        "json",
        "--out",
        "-",
    ]);
    let inv: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        inv["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "revoked-still-present"
                && path_of(&f["path"]).ends_with("plan.xlsx.fuda")),
        "{:#}",
        inv["findings"]
    );
    tanaka.fuda(&["admin", "audit", "--verify"]).expect(0);
    // Losing the service never loses data: the recovery key opens the file.
    if require_tool("age", Command::new("age").arg("--version").output().is_ok()) {
        let out = Command::new("age")
            .args(["-d", "-i", p(&recovery), p(&fuda)])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "原価計画");
    }
}

/// The audit records of a document, as `fuda admin audit --doc ID --json` prints them.
fn audit_of(admin: &User, doc: &str) -> Vec<serde_json::Value> {
    admin
        .fuda(&["admin", "audit", "--doc", doc, "--json"])
        .expect(0)
        .json_lines()
}

#[test]
fn the_directory_is_the_trust_store_and_label_changes_are_audited() {
    let mut keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let sato = keyd.add(&admin, "sato", "生産技術部", &policy);

    // tanaka labels a drawing; sato never ran `fuda trust add tanaka`, yet the label is
    // valid for sato: the directory says whose key it is.
    let drawing = work.path().join("bracket.dxf");
    write(&drawing, "0\nSECTION\n");
    tanaka
        .fuda(&["label", "set", "confidential", p(&drawing)])
        .expect(0);
    let shown = sato.show(&drawing);
    assert_eq!(shown["status"], "valid", "{shown}");
    assert_eq!(shown["signer"], "tanaka", "{shown}");
    let doc = shown["doc"].as_str().unwrap().to_owned();
    let listed = sato.fuda(&["trust", "list", "--json"]).expect(0);
    assert!(listed.stdout.contains("\"tanaka\""), "{}", listed.stdout);

    // Someone outside the directory signs with their own key: unverified for sato.
    let outsider = User::init("outsider");
    let memo = work.path().join("memo.txt");
    write(&memo, "見積");
    outsider
        .fuda(&["label", "set", "confidential", p(&memo)])
        .expect(0);
    assert_eq!(sato.show(&memo)["status"], "unverified");

    // Setting, lowering and removing the label are in the service's audit log, with
    // the justification, queryable by document.
    tanaka
        .fuda(&[
            "label",
            "set",
            "internal",
            p(&drawing),
            "--justify",
            "公開済みの部品",
        ])
        .expect(0);
    tanaka
        .fuda(&["label", "remove", p(&drawing), "--justify", "誤ラベル"])
        .expect(0);
    let records = audit_of(&admin, &doc);
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["label-set", "label-downgrade", "label-remove"],
        "{records:#?}"
    );
    let down = &records[1];
    assert_eq!(down["actor"], "tanaka");
    assert_eq!(down["detail"]["from"], "confidential");
    assert_eq!(down["detail"]["to"], "internal");
    assert_eq!(down["detail"]["justification"], "公開済みの部品");
    assert_eq!(down["detail"]["path"], common::jp(&drawing));
    admin.fuda(&["admin", "audit", "--verify"]).expect(0);

    // A disabled user's key is no longer trusted once the cached directory expires
    // (debug builds can move the clock).
    tanaka
        .fuda(&["label", "set", "confidential", p(&drawing)])
        .expect(0);
    admin
        .fuda(&["admin", "user", "disable", "tanaka"])
        .expect(0);
    if cfg!(debug_assertions) {
        let later = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3_600)
            .to_string();
        let shown = sato
            .fuda_env(
                &["label", "show", "--json", p(&drawing)],
                &[("FUDA_KEYD_NOW", &later)],
            )
            .expect(0)
            .json_lines()
            .remove(0);
        assert_eq!(shown["status"], "unverified", "{shown}");
    }

    // With the service down, a label change is made and waits in the local queue for
    // the audit log (tests/label_queue_cli.rs follows it until the service is back).
    keyd.stop();
    let r = sato
        .fuda(&["label", "set", "strictly-confidential", p(&memo)])
        .expect(0);
    assert!(
        r.stderr.contains("cannot be reached") && r.stderr.contains("audit log"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_inventory_finds_revoked_documents_still_on_disk() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let share = work.path().join("share");
    let old = share.join("old.dxf");
    let current = share.join("current.dxf");
    write(&old, "旧版");
    write(&current, "現行版");
    let mut docs = Vec::new();
    for f in [&old, &current] {
        let run = tanaka
            .fuda(&["protect", p(f), "--level", "confidential", "--json"])
            .expect(0);
        docs.push(run.json_lines()[0]["doc"].as_str().unwrap().to_owned());
    }
    admin
        .fuda(&["admin", "revoke", "--doc", &docs[0]])
        .expect(0);

    let inventory = |extra: &[&str]| {
        let mut args = vec!["inventory", p(&share), "--format", "json", "--out", "-"];
        args.extend_from_slice(extra);
        let run = admin.fuda(&args);
        let v: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr));
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "revoked-still-present")
            .map(|f| path_of(&f["path"]).to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // Only the key service knows what was revoked.
    assert!(inventory(&[]).is_empty());
    let found = inventory(&["--from-service"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("old.dxf.fuda"), "{found:?}");
    // Reading the registry needs an admin.
    let r = tanaka
        .fuda(&[
            "inventory",
            p(&share),
            "--from-service",
            "--format",
            "json",
            "--out",
            "-",
        ])
        .expect(2);
    assert!(r.stderr.contains("admin"), "{}", r.stderr);
}

#[test]
fn an_older_label_written_back_over_a_newer_one_is_replayed() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let sato = keyd.add(&admin, "sato", "生産技術部", &policy);

    // tanaka labels the plan 公開 and someone keeps a copy of that label's xattr …
    let plan = work.path().join("plan.txt");
    write(&plan, "来期の製品計画\n");
    tanaka.fuda(&["label", "set", "公開", p(&plan)]).expect(0);
    let saved = xattr::get(&plan, "user.fuda.label").unwrap().unwrap();
    // … the plan becomes 極秘 …
    tanaka.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    tanaka.fuda(&["label", "check", p(&plan)]).expect(0);
    // … and the old 公開 label is written back (`setfattr`): a silent downgrade.
    xattr::set(&plan, "user.fuda.label", &saved).unwrap();

    // Its signature is good, but the key service knows a newer label of the document.
    let r = tanaka.fuda(&["label", "check", p(&plan)]).expect(1);
    assert!(r.stdout.contains("replayed"), "{}", r.stdout);
    assert!(r.stdout.contains("1 replayed"), "{}", r.stdout);
    for who in [&tanaka, &sato] {
        let shown = who
            .fuda(&["label", "check", "--json", p(&plan)])
            .expect(1)
            .json_lines()
            .remove(0);
        assert_eq!(shown["status"], "replayed", "{shown}");
        assert_eq!(shown["level"], "public", "{shown}");
    }

    // The label changes in the audit log carry each label's place.
    let doc = tanaka.show(&plan)["doc"].as_str().unwrap().to_owned();
    let records = audit_of(&admin, &doc);
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| r["detail"]["version"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [0, 1], "{records:#?}");
}

#[test]
fn a_replayed_label_is_not_relabeled_silently() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let plan = work.path().join("plan.txt");
    write(&plan, "来期の製品計画\n");
    tanaka.fuda(&["label", "set", "公開", p(&plan)]).expect(0);
    let saved = xattr::get(&plan, "user.fuda.label").unwrap().unwrap();
    for _ in 0..3 {
        tanaka.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    }
    xattr::set(&plan, "user.fuda.label", &saved).unwrap();

    // "Relabeling" the replayed 公開 as 公開 would launder it into a fresh label: like a
    // tampered label, it needs a reason.
    let r = tanaka.fuda(&["label", "set", "公開", p(&plan)]).expect(2);
    assert!(r.stderr.contains("replayed"), "{}", r.stderr);
    assert!(r.stderr.contains("--justify"), "{}", r.stderr);
    tanaka.fuda(&["label", "check", p(&plan)]).expect(1);

    // With one, the new label comes after the newest known (seq 3), so it is valid.
    tanaka
        .fuda(&[
            "label",
            "set",
            "公開",
            p(&plan),
            "--justify",
            "公開資料になった",
        ])
        .expect(0);
    tanaka.fuda(&["label", "check", p(&plan)]).expect(0);
    assert_eq!(tanaka.show(&plan)["seq"], 4);
}

#[test]
fn the_directory_decides_who_people_and_hooks_are_and_a_refresh_reads_it_at_once() {
    let keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let sato = keyd.add(&admin, "sato", "生産技術部", &policy);

    // suzuki is in 設計部 in the directory but says 営業部 at enrollment: told, and the
    // directory's department is what signs suzuki's labels.
    let code = admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "suzuki",
            "--dept",
            "設計部",
            "--json",
        ])
        .expect(0)
        .json_lines()[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let suzuki = User::new("suzuki");
    let run = suzuki
        .fuda(&[
            "init",
            "--name",
            "suzuki",
            "--dept",
            "営業部",
            "--policy",
            p(&policy),
            "--service",
            &keyd.url(),
            "--enroll",
            &code,
            "--ca-fingerprint",
            &keyd.fingerprint,
        ])
        .expect(0);
    assert!(
        run.stderr.contains("設計部") && run.stderr.contains("営業部"),
        "{}",
        run.stderr
    );
    let memo = work.path().join("memo.txt");
    write(&memo, "見積");
    suzuki
        .fuda(&["label", "set", "confidential", p(&memo)])
        .expect(0);
    let shown = suzuki.show(&memo);
    assert_eq!(shown["dept"], "設計部", "{shown}");

    // sato has read the directory (cached for 10 minutes) before kato joined: kato's
    // label is unverified for sato until sato refreshes, then valid at once.
    assert_eq!(sato.show(&memo)["status"], "valid");
    let kato = keyd.add(&admin, "kato", "設計部", &policy);
    let drawing = work.path().join("drawing.dxf");
    write(&drawing, "0\nSECTION\n");
    kato.fuda(&["label", "set", "confidential", p(&drawing)])
        .expect(0);
    assert_eq!(sato.show(&drawing)["status"], "unverified");
    let refreshed = sato.fuda(&["trust", "refresh", "--json"]).expect(0);
    assert_eq!(refreshed.json_lines()[0]["type"], "directory_refresh");
    assert_eq!(
        refreshed.json_lines()[0]["signers"],
        4,
        "{}",
        refreshed.stdout
    );
    assert_eq!(sato.show(&drawing)["status"], "valid");

    // A file-server hook is a directory entry of its own kind: it enrolls like a person,
    // its labels are valid for everyone, and the trust store says it is a hook.
    let code = admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "share-hook",
            "--kind",
            "hook",
            "--json",
        ])
        .expect(0)
        .json_lines()[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook = keyd.enroll("share-hook", &code, &policy);
    let report = work.path().join("report.txt");
    write(&report, "月報");
    hook.fuda(&["label", "set", "internal", p(&report)])
        .expect(0);
    sato.fuda(&["trust", "refresh"]).expect(0);
    let shown = sato.show(&report);
    assert_eq!(shown["status"], "valid", "{shown}");
    assert_eq!(shown["signer"], "share-hook", "{shown}");
    let listed = sato.fuda(&["trust", "list", "--json"]).expect(0);
    let kinds: Vec<(String, String)> = listed
        .json_lines()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("share-hook".into(), "hook".into())),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("kato".into(), "user".into())), "{kinds:?}");
    let users = admin.fuda(&["admin", "user", "list", "--json"]).expect(0);
    let hook_entry = users
        .json_lines()
        .into_iter()
        .find(|u| u["name"] == "share-hook")
        .unwrap();
    assert_eq!(hook_entry["kind"], "hook");
    // Only a person administers the service.
    let run = admin.fuda(&[
        "admin", "user", "add", "pc-17", "--kind", "machine", "--admin",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("only a person"), "{}", run.stderr);

    // Without a key service there is nothing to refresh, and it says so.
    let alone = User::init("alone");
    let run = alone.fuda(&["trust", "refresh"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no key service"), "{}", run.stderr);
}

/// Under systemd the service's stderr is the journal (and elsewhere a log file): its
/// lines are plain text there, without a terminal's colour codes. And a stop the moment
/// it says it listens (`systemctl stop` right after start) is a graceful one.
#[test]
fn the_service_log_is_plain_text_and_a_stop_right_after_start_is_graceful() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let mut keyd = Keyd::start();
    keyd.stop();
    let mut child = Command::new(common::keyd_bin())
        .args(["serve", "--data", p(&keyd.dir()), "--listen", "127.0.0.1:0"])
        .env("FUDA_KEYD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on "), "{line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM at once ended it with {status}: {log}"
    );
    assert!(log.contains("fuda-keyd listening"), "{log}");
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "colour codes in the log: {log:?}");
}
