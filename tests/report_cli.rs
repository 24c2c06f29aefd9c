//! Machines report their files to a real `fuda-keyd`: the company file index the ledger
//! is built from. Each machine has its own HOME (identity, acknowledged state) and tree.

mod common;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::keyd::Keyd;
use common::watch::Watch;
use common::{p, path_of, write, User};

/// The service with its admin enrolled (a person, who labels files).
fn service() -> (Keyd, User) {
    let keyd = Keyd::start();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), Path::new("default"));
    (keyd, admin)
}

/// A machine entry added by the admin and enrolled from its own HOME.
fn machine(keyd: &Keyd, admin: &User, name: &str, kind: &str) -> User {
    let run = admin
        .fuda(&["admin", "user", "add", name, "--kind", kind, "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let m = User::new(name);
    m.fuda(&[
        "init",
        "--machine",
        name,
        "--report-interval",
        "1h",
        "--service",
        &keyd.url(),
        "--enroll",
        &code,
        "--ca-fingerprint",
        &keyd.fingerprint,
    ])
    .expect(0);
    m
}

/// The index as the service stores it: (machine, path bytes) → the record as received.
fn index(keyd: &Keyd) -> Vec<(String, Vec<u8>, serde_json::Value)> {
    let db = rusqlite::Connection::open_with_flags(
        keyd.dir().join("keyd.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = db
        .prepare("SELECT machine, path, record FROM file_index ORDER BY machine, path")
        .unwrap();
    st.query_map([], |r| {
        let record: Vec<u8> = r.get(2)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            serde_json::from_slice(&record).unwrap(),
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn report(m: &User, root: &Path) -> serde_json::Value {
    let run = m
        .fuda(&["inventory", "--report", p(root), "--json"])
        .expect(0);
    run.json_lines().remove(0)
}

/// `/…/見積.txt` as a CP932 file server names it.
fn cp932(dir: &Path) -> PathBuf {
    dir.join(std::ffi::OsStr::from_bytes(b"\x8c\xa9\x90\xcf.txt"))
}

#[test]
fn a_machines_report_lands_in_the_index_and_an_unchanged_one_sends_almost_nothing() {
    let (keyd, admin) = service();
    let srv = machine(&keyd, &admin, "srv-a", "machine");
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("share");
    write(&root.join("plan.txt"), "設計図");
    write(&root.join("memo.txt"), "議事録");
    write(&cp932(&root), "見積");
    admin
        .fuda(&["label", "set", "confidential", p(&root.join("plan.txt"))])
        .expect(0);

    let first = report(&srv, &root);
    assert_eq!(
        (first["sent"].as_u64(), first["removed"].as_u64()),
        (Some(3), Some(0))
    );
    let rows = index(&keyd);
    let paths: BTreeSet<Vec<u8>> = rows.iter().map(|r| r.1.clone()).collect();
    let want: BTreeSet<Vec<u8>> = [root.join("memo.txt"), root.join("plan.txt"), cp932(&root)]
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    assert_eq!(paths, want, "every file, the CP932 name byte for byte");
    assert!(rows.iter().all(|r| r.0 == "srv-a"));
    let plan = rows.iter().find(|r| r.1.ends_with(b"plan.txt")).unwrap();
    assert_eq!(plan.2["level"], "confidential");
    assert_eq!(plan.2["status"], "valid");
    assert_eq!(plan.2["signer"], "admin");
    let odd = rows
        .iter()
        .find(|r| r.1 == cp932(&root).as_os_str().as_bytes())
        .unwrap();
    assert_eq!(
        path_of(&odd.2["path"]),
        cp932(&root),
        "the record carries the exact bytes"
    );

    // Nothing changed: one small closing chunk, no record.
    let again = report(&srv, &root);
    assert_eq!(again["sent"], 0);
    assert_eq!(again["removed"], 0);
    assert_eq!(again["unchanged"], 3);
    assert_eq!(again["chunks"], 1);
    assert!(again["bytes"].as_u64().unwrap() < 200, "{again}");

    // A label set and a file deleted: exactly those two go out.
    admin
        .fuda(&[
            "label",
            "set",
            "strictly-confidential",
            p(&root.join("memo.txt")),
        ])
        .expect(0);
    std::fs::remove_file(cp932(&root)).unwrap();
    let third = report(&srv, &root);
    assert_eq!(
        (third["sent"].as_u64(), third["removed"].as_u64()),
        (Some(1), Some(1))
    );
    let rows = index(&keyd);
    assert_eq!(rows.len(), 2);
    let memo = rows.iter().find(|r| r.1.ends_with(b"memo.txt")).unwrap();
    assert_eq!(memo.2["level"], "strictly-confidential");

    // A label kept in the folder's sidecar index changes nothing about the file itself:
    // the file is read again all the same.
    write(&root.join("extra.txt"), "追加");
    assert_eq!(report(&srv, &root)["sent"], 1);
    admin
        .fuda(&[
            "label",
            "set",
            "confidential",
            "--store",
            "sidecar",
            p(&root.join("extra.txt")),
        ])
        .expect(0);
    let fifth = report(&srv, &root);
    assert_eq!(fifth["sent"], 1, "{fifth}");
    let rows = index(&keyd);
    let extra = rows.iter().find(|r| r.1.ends_with(b"extra.txt")).unwrap();
    assert_eq!(extra.2["store"], "sidecar", "{}", extra.2);

    // Each report is one audit record, with the machine as its subject.
    let audit = admin.fuda(&["admin", "audit", "--json"]).expect(0);
    let reports: Vec<_> = audit
        .json_lines()
        .into_iter()
        .filter(|r| r["action"] == "report")
        .collect();
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r["subject"] == "srv-a" && r["outcome"] == "allow"));
}

#[test]
fn a_report_killed_half_way_and_run_again_leaves_the_index_as_a_clean_report_does() {
    let (keyd, admin) = service();
    let a = machine(&keyd, &admin, "srv-a", "machine");
    let b = machine(&keyd, &admin, "srv-b", "machine");
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("share");
    for i in 0..300 {
        write(
            &root
                .join(format!("d{}", i % 7))
                .join(format!("f{i:03}.txt")),
            format!("file {i}"),
        );
    }
    write(&cp932(&root), "見積");
    admin
        .fuda(&["label", "set", "confidential", "-r", p(&root.join("d3"))])
        .expect(0);
    let count = |machine: &str| index(&keyd).iter().filter(|r| r.0 == machine).count();

    // Ten files a chunk, a pause after each: killed (SIGKILL) after a few chunks.
    let mut child = std::process::Command::new(common::fuda_bin())
        .args(["inventory", "--report", p(&root), "--json"])
        .env("HOME", a.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .env("FUDA_REPORT_CHUNK_FILES", "10")
        .env("FUDA_REPORT_PAUSE_MS", "100")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count("srv-a") < 30 {
        assert!(Instant::now() < deadline, "the report never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let cut = count("srv-a");
    assert!(
        cut < 301,
        "the report was cut off half-way ({cut} files in)"
    );

    let resumed = report(&a, &root);
    assert!(
        resumed["sent"].as_u64().unwrap() <= 301 - 30,
        "what was acknowledged is not sent again: {resumed}"
    );
    report(&b, &root);
    let rows = index(&keyd);
    let of = |machine: &str| -> Vec<(Vec<u8>, serde_json::Value)> {
        rows.iter()
            .filter(|r| r.0 == machine)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect()
    };
    assert_eq!(of("srv-a").len(), 301);
    assert_eq!(
        of("srv-a"),
        of("srv-b"),
        "the same records as a clean report"
    );
    // And a report after that has nothing to send.
    assert_eq!(report(&a, &root)["sent"], 0);
}

/// The machine's API token and identity, as its HOME keeps them.
fn credentials(m: &User) -> (String, fuda_core::identity::Identity) {
    let dir = m.home.path().join(".config/fuda");
    let token = std::fs::read_to_string(dir.join("keyd.token")).unwrap();
    let identity = fuda_core::identity::Identity::load(&dir, &m.name).unwrap();
    (token.trim().to_owned(), identity)
}

fn signed(identity: &fuda_core::identity::Identity, body: &[u8]) -> String {
    let sig = identity.sign_bytes(&fuda_keyd::report::signing_input(body));
    fuda_keyd::report::encode_signature(&sig)
}

fn chunk(machine: &str, report: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "machine": machine, "report": report, "seq": 0, "last": true,
        "files": [{"path": {"text": "/srv/x.txt"}, "root": "/srv", "size": 1,
                   "modified": 0, "status": "missing"}],
    }))
    .unwrap()
}

#[test]
fn forged_malformed_and_oversized_reports_are_refused_and_change_nothing() {
    let (keyd, admin) = service();
    let a = machine(&keyd, &admin, "srv-a", "machine");
    let b = machine(&keyd, &admin, "srv-b", "hook");
    let (a_token, a_key) = credentials(&a);
    let (_, b_key) = credentials(&b);
    let (admin_token, admin_key) = credentials(&admin);
    let api = keyd.api();

    // The sanity case: a chunk of its own, signed with its key, is taken.
    let own = chunk("srv-a", "ok");
    let (status, ack) = api.report(Some(&a_token), Some(&signed(&a_key, &own)), &own);
    assert_eq!(
        (status, ack["applied"].as_bool()),
        (200, Some(true)),
        "{ack}"
    );
    let before = index(&keyd);

    let other = chunk("srv-b", "f1");
    let refused = [
        // srv-a reporting for srv-b (signed by srv-a).
        api.report(Some(&a_token), Some(&signed(&a_key, &other)), &other),
        // srv-a's token, but srv-b's key.
        api.report(Some(&a_token), Some(&signed(&b_key, &own)), &own),
        // A person is not a reporting identity.
        {
            let body = chunk("admin", "f3");
            api.report(Some(&admin_token), Some(&signed(&admin_key, &body)), &body)
        },
    ];
    for (status, answer) in &refused {
        assert_eq!(*status, 403, "{answer}");
    }
    // Not enrolled at all: no token, or one the service never issued.
    let (status, _) = api.report(None, Some(&signed(&a_key, &own)), &own);
    assert_eq!(status, 401);
    let (status, _) = api.report(Some("fudatok_forged"), Some(&signed(&a_key, &own)), &own);
    assert_eq!(status, 401);

    // Malformed: not JSON, a relative path, no signature; oversized: 2 MB.
    let relative = br#"{"machine":"srv-a","report":"m1","seq":0,"last":true,"files":[{"path":{"text":"x"},"size":1,"modified":0,"status":"missing"}]}"#;
    for (body, sig) in [
        (&b"{not json"[..], Some(signed(&a_key, b"{not json"))),
        (&relative[..], Some(signed(&a_key, relative))),
        (&own[..], None),
    ] {
        let (status, answer) = api.report(Some(&a_token), sig.as_deref(), body);
        assert_eq!(status, 400, "{answer}");
    }
    let huge = vec![b' '; 2 << 20];
    let (status, _) = api.report(Some(&a_token), Some(&signed(&a_key, &huge)), &huge);
    assert!(status == 413 || status == 0, "oversized: {status}");

    assert_eq!(index(&keyd), before, "nothing refused reached the index");
    let audit = admin.fuda(&["admin", "audit", "--json"]).expect(0);
    let reasons: Vec<String> = audit
        .json_lines()
        .into_iter()
        .filter(|r| r["action"] == "report" && r["outcome"] == "deny")
        .map(|r| r["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["other-machine", "bad-signature", "not-a-reporter"]
    );
}

#[test]
fn a_person_code_does_not_enroll_a_machine() {
    let (keyd, admin) = service();
    let run = admin
        .fuda(&[
            "admin",
            "user",
            "add",
            "tanaka",
            "--dept",
            "設計部",
            "--json",
        ])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let m = User::new("tanaka");
    let run = m.fuda(&[
        "init",
        "--machine",
        "tanaka",
        "--service",
        &keyd.url(),
        "--enroll",
        &code,
        "--ca-fingerprint",
        &keyd.fingerprint,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--kind machine"), "{}", run.stderr);
    assert!(!m.home.path().join(".config/fuda/machine.toml").exists());
    let tree = tempfile::tempdir().unwrap();
    let run = m.fuda(&["inventory", "--report", p(tree.path())]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_file_labeled_on_a_watched_share_is_in_the_index_within_seconds() {
    let (keyd, admin) = service();
    let hook = machine(&keyd, &admin, "fs-1", "hook");
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("share");
    std::fs::create_dir_all(&root).unwrap();
    let watch = Watch::start_reporting(&hook, &root);
    let file = cp932(&root);
    write(&file, "報告書: 極秘");
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = loop {
        if let Some(r) = index(&keyd)
            .into_iter()
            .find(|r| r.1 == file.as_os_str().as_bytes())
        {
            if r.2["level"].is_string() {
                break r;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not in the index: {}",
            watch.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row.0, "fs-1");
    assert_eq!(row.2["level"], "strictly-confidential");
    assert_eq!(path_of(&row.2["path"]), file);
    let (code, events) = watch.stop();
    assert_eq!(code, 0);
    assert!(events.iter().any(|e| e["event"] == "reported"));
}
