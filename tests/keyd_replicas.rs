//! End-to-end: `fuda-keyd` replicas on one PostgreSQL database (a private cluster per
//! test, tests/common/postgres.rs), reached by real `fuda` users whose configuration
//! names both replicas, and by load threads using the same client library.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::keyd::{policy_with_recovery, Keyd};
use common::postgres::Cluster;
use common::{keyd_bin, p, workdir, write, User};

/// Another replica of `first`'s service: a copy of its data directory (keys, TLS
/// certificate, the file naming the database), serving on its own port.
fn replica_of(first: &Keyd) -> Keyd {
    let data = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .args(["-a", p(&first.dir()), p(&data.path().join("d"))])
        .status()
        .unwrap();
    assert!(status.success());
    let mut k = Keyd {
        data,
        child: None,
        addr: "127.0.0.1:0".into(),
        fingerprint: first.fingerprint.clone(),
        admin_code: String::new(),
        recovery_files: Vec::new(),
    };
    k.serve();
    k
}

/// Names `also` as another replica in `user`'s config.toml (what an admin hands out).
fn add_replica(user: &User, also: &Keyd) {
    let config = user.home.path().join(".config/fuda/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[service]"), "{text}");
    let text = text.replace(
        "[service]\n",
        &format!("[service]\nreplicas = [\"{}\"]\n", also.url()),
    );
    std::fs::write(&config, text).unwrap();
}

fn token_of(user: &User) -> String {
    std::fs::read_to_string(user.home.path().join(".config/fuda/keyd.token"))
        .unwrap()
        .trim()
        .to_owned()
}

fn header_of(file: &std::path::Path) -> Vec<u8> {
    fuda_core::envelope::Header::parse_bytes(&std::fs::read(file).unwrap())
        .unwrap()
        .0
        .to_bytes()
}

fn header_b64(file: &std::path::Path) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(header_of(file))
}

/// Allowed `open` decisions recorded for `user`, read through `admin`.
fn opens_recorded(admin: &User, user: &str) -> u64 {
    admin
        .fuda(&[
            "admin", "audit", "--user", user, "--limit", "10000000", "--json",
        ])
        .expect(0)
        .json_lines()
        .iter()
        .filter(|r| r["action"] == "open" && r["outcome"] == "allow")
        .count() as u64
}

/// A service on PostgreSQL: one replica serving, an admin and tanaka enrolled, tanaka's
/// drawing protected.
struct Org {
    cluster: Cluster,
    url: String,
    a: Keyd,
    admin: User,
    tanaka: User,
    work: tempfile::TempDir,
    policy: std::path::PathBuf,
    doc: String,
}

impl Org {
    fn start() -> Option<Org> {
        let cluster = Cluster::start(false)?;
        let url = cluster.database("keyd");
        let a = Keyd::start_with(&["--database", &url]);
        let work = workdir();
        let (policy, _) = policy_with_recovery(work.path());
        let admin = a.enroll("admin", &a.admin_code.clone(), &policy);
        let tanaka = a.add(&admin, "tanaka", "設計部", &policy);
        let file = work.path().join("bracket.dxf");
        write(&file, b"0\nSECTION\n".repeat(1000));
        let run = tanaka
            .fuda(&["protect", p(&file), "--level", "internal", "--json"])
            .expect(0);
        let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
        Some(Org {
            cluster,
            url,
            a,
            admin,
            tanaka,
            work,
            policy,
            doc,
        })
    }

    fn protected(&self) -> std::path::PathBuf {
        self.work.path().join("bracket.dxf.fuda")
    }
}

/// Load threads asking for licences through a client that knows `urls`; each answer
/// counted, each error kept.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(urls: &[String], fingerprint: &str, token: &str, header: Vec<u8>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..4)
            .map(|_| {
                let (urls, fp, token, header) = (
                    urls.to_vec(),
                    fingerprint.to_owned(),
                    token.to_owned(),
                    header.clone(),
                );
                let (stop, acked, errors) = (stop.clone(), acked.clone(), errors.clone());
                std::thread::spawn(move || {
                    use fuda_keyd::client::KeyService;
                    let client = fuda_keyd::client::Remote::new(&urls[0], &fp, Some(token))
                        .unwrap()
                        .with_replicas(&urls[1..])
                        .unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        let req = fuda_keyd::licence::Request {
                            header: header.clone(),
                            rights: "view".parse().unwrap(),
                        };
                        match client.licence(req) {
                            Ok(_) => {
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                errors.lock().unwrap().push(e.to_string());
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked,
            errors,
            threads,
        }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Stops the threads: (licences answered, errors seen).
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let errors = self.errors.lock().unwrap().clone();
        (self.acked.load(Ordering::SeqCst), errors)
    }
}

#[test]
fn clients_go_on_through_the_other_replica_when_one_is_killed() {
    let Some(mut org) = Org::start() else { return };
    let b = replica_of(&org.a);
    add_replica(&org.admin, &b);
    add_replica(&org.tanaka, &b);
    // Both replicas answer for the same service.
    let out = org.work.path().join("via-b.dxf");
    org.tanaka
        .fuda(&["open", p(&org.protected()), "--out", p(&out)])
        .expect(0);

    let load = Load::start(
        &[org.a.url(), b.url()],
        &org.a.fingerprint,
        &token_of(&org.tanaka),
        header_of(&org.protected()),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before_kill = load.acked();
    org.a.kill();
    std::thread::sleep(Duration::from_millis(2000));
    let (acked, errors) = load.finish();
    assert!(before_kill > 10, "the load ran ({before_kill} licences)");
    assert!(
        acked > before_kill + 10,
        "the clients went on through the other replica ({before_kill} before the kill, {acked} in all)"
    );
    assert!(
        errors.is_empty(),
        "a client noticed the replica die: {errors:?}"
    );

    // A user whose configured first address is dead opens the file as before, from the
    // service (not from an offline licence: the decision is recorded).
    let recorded = opens_recorded(&org.admin, "tanaka");
    let out = org.work.path().join("after-kill.dxf");
    org.tanaka
        .fuda(&["open", p(&org.protected()), "--out", p(&out)])
        .expect(0);
    assert_eq!(std::fs::read(&out).unwrap(), b"0\nSECTION\n".repeat(1000));
    assert_eq!(opens_recorded(&org.admin, "tanaka"), recorded + 1);

    // No acknowledged licence lacks its record (+2: protect's verification and the
    // first open through B), and the one chain across both replicas verifies.
    assert!(
        recorded >= acked + 2,
        "{recorded} open records for {acked} acknowledged licences"
    );
    org.admin.fuda(&["admin", "audit", "--verify"]).expect(0);
}

#[test]
fn while_postgresql_is_down_requests_fail_cleanly_and_succeed_after() {
    let Some(mut org) = Org::start() else { return };
    let api = org.a.api();
    let token = token_of(&org.tanaka);
    let body = serde_json::json!({"header": header_b64(&org.protected()), "rights": "view"});
    let load = Load::start(
        &[org.a.url()],
        &org.a.fingerprint,
        &token,
        header_of(&org.protected()),
    );
    std::thread::sleep(Duration::from_millis(1000));
    org.cluster.stop_server();
    // Refused with a reason while the database is away; the replica keeps running.
    let (status, v) = api.json("POST", "/v1/licences", &token, &body);
    assert_eq!(
        (status, v["error"].as_str()),
        (503, Some("unavailable")),
        "{v}"
    );
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("database") && message.contains("try again"),
        "{message}"
    );
    assert!(v.get("sealed_key").is_none());
    let down_at = load.acked();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        load.acked() <= down_at + 4,
        "no licence is answered while its record cannot be committed"
    );
    org.cluster.start_server();
    // Back without restarting the replica.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, v) = api.json("POST", "/v1/licences", &token, &body);
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{v}");
        assert!(
            Instant::now() < deadline,
            "still refused after the restart: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let resumed = load.acked();
    std::thread::sleep(Duration::from_millis(1000));
    let (acked, errors) = load.finish();
    assert!(acked > resumed, "the load resumed");
    assert!(
        errors.iter().all(|e| e.contains("database")),
        "every failure named the database: {errors:?}"
    );
    // Nothing half-written: every acknowledged licence has its record, and the chain
    // verifies (+3: protect's verification, the raw request, the one that came back).
    let recorded = opens_recorded(&org.admin, "tanaka");
    assert!(
        recorded >= acked + 2,
        "{recorded} open records for {acked} acknowledged licences"
    );
    org.admin.fuda(&["admin", "audit", "--verify"]).expect(0);
}

#[test]
fn what_one_replica_changes_the_other_honours_within_a_second() {
    let Some(org) = Org::start() else { return };
    let b = replica_of(&org.a);
    let sato = org.a.add(&org.admin, "sato", "設計部", &org.policy);
    org.tanaka
        .fuda(&["share", p(&org.protected()), "--grant", "user:sato=view"])
        .expect(0);
    let (api_a, api_b) = (org.a.api(), b.api());
    let admin_token = token_of(&org.admin);
    let sato_token = token_of(&sato);
    let body = serde_json::json!({"header": header_b64(&org.protected()), "rights": "view"});
    let (status, v) = api_b.json("POST", "/v1/licences", &sato_token, &body);
    assert_eq!(status, 200, "{v}");

    // A revocation through A is refused by B within a second.
    let (status, v) = api_a.json(
        "POST",
        "/v1/admin/revoke",
        &admin_token,
        &serde_json::json!({"doc": org.doc, "user": "sato"}),
    );
    assert_eq!(status, 200, "{v}");
    let revoked = Instant::now();
    let refused = loop {
        let (status, v) = api_b.json("POST", "/v1/licences", &sato_token, &body);
        if status == 403 {
            break (Instant::now() - revoked, v);
        }
        assert!(revoked.elapsed() < Duration::from_secs(5), "{v}");
    };
    assert!(refused.0 < Duration::from_secs(1), "{:?}", refused.0);
    assert_eq!(refused.1["error"], "user-revoked-on-document");

    // A user disabled through A is refused by B within a second.
    let (status, v) = api_a.json(
        "POST",
        "/v1/admin/user-status",
        &admin_token,
        &serde_json::json!({"name": "tanaka", "status": "disabled"}),
    );
    assert_eq!(status, 200, "{v}");
    let disabled = Instant::now();
    let (status, v) = api_b.json("POST", "/v1/licences", &token_of(&org.tanaka), &body);
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("user-disabled")),
        "{v}"
    );
    assert!(disabled.elapsed() < Duration::from_secs(1));

    // A policy set through A is the one B serves within a second.
    let text = std::fs::read_to_string(&org.policy).unwrap() + "\n# 改訂 2\n";
    let newer = org.work.path().join("policy-v2.toml");
    write(&newer, &text);
    let set_at = Instant::now();
    org.admin
        .fuda(&["admin", "policy", "set", p(&newer)])
        .expect(0);
    let set_took = set_at.elapsed();
    let served = loop {
        let (status, v) = api_b.call_json_get("/v1/policy", &admin_token);
        assert_eq!(status, 200, "{v}");
        if v["policy"]["text"].as_str() == Some(text.as_str()) {
            break set_at.elapsed() - set_took;
        }
        assert!(
            set_at.elapsed() < Duration::from_secs(10),
            "B still serves {v}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        served < Duration::from_secs(1),
        "B served it {served:?} later"
    );

    // A key rotation through one replica would leave the others without the new key:
    // refused over the API, with what to do instead, which works.
    let refused = org.admin.fuda(&["admin", "rotate-key"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("fuda-keyd rotate-key"),
        "{}",
        refused.stderr
    );
    let (mut a, mut b) = (org.a, b);
    a.stop();
    b.stop();
    let out = Command::new(keyd_bin())
        .args(["rotate-key", "--data", p(&a.dir()), "--admin", "admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(a.dir().join("keys/wrap-2.age").exists());
}

/// Replica B keeps the rows of people and documents it decided on recently (so that a
/// licence costs no round trip to PostgreSQL): whatever is committed through replica A
/// must decide the very next licence on B — no retry, no waiting.
#[test]
fn a_change_through_one_replica_decides_the_very_next_licence_on_the_other() {
    let Some(org) = Org::start() else { return };
    let b = replica_of(&org.a);
    let sato = org.a.add(&org.admin, "sato", "営業部", &org.policy);
    org.tanaka
        .fuda(&["share", p(&org.protected()), "--grant", "user:sato=view"])
        .expect(0);
    let (api_a, api_b) = (org.a.api(), b.api());
    let (admin, tanaka, sato) = (token_of(&org.admin), token_of(&org.tanaka), token_of(&sato));
    let body = serde_json::json!({"header": header_b64(&org.protected()), "rights": "view"});
    let on_b = || {
        let (status, v) = api_b.json("POST", "/v1/licences", &sato, &body);
        (status, v["error"].as_str().map(str::to_owned))
    };
    let through_a = |path: &str, token: &str, arg: serde_json::Value| {
        let (status, v) = api_a.json("POST", path, token, &arg);
        assert_eq!(status, 200, "{path}: {v}");
    };
    // B has decided on sato and the drawing (twice: the second from what it kept).
    assert_eq!(on_b(), (200, None));
    assert_eq!(on_b(), (200, None));

    through_a(
        "/v1/admin/revoke",
        &admin,
        serde_json::json!({"doc": org.doc, "user": "sato"}),
    );
    assert_eq!(on_b(), (403, Some("user-revoked-on-document".into())));
    through_a(
        "/v1/admin/unrevoke",
        &admin,
        serde_json::json!({"doc": org.doc, "user": "sato"}),
    );
    assert_eq!(on_b(), (200, None));

    // The whole document revoked, then lifted.
    through_a(
        "/v1/admin/revoke",
        &admin,
        serde_json::json!({"doc": org.doc}),
    );
    assert_eq!(on_b(), (403, Some("document-revoked".into())));
    through_a(
        "/v1/admin/unrevoke",
        &admin,
        serde_json::json!({"doc": org.doc}),
    );
    assert_eq!(on_b(), (200, None));

    // The owner takes sato's grant away, then gives it back.
    through_a(
        "/v1/ungrant",
        &tanaka,
        serde_json::json!({"doc": org.doc, "principal": "user:sato"}),
    );
    assert_eq!(on_b(), (403, Some("no-rights".into())));
    through_a(
        "/v1/grant",
        &tanaka,
        serde_json::json!({"doc": org.doc, "grant": {"principal": "user:sato", "rights": "view"}}),
    );
    assert_eq!(on_b(), (200, None));

    // Everything sato may open revoked; then sato's tokens revoked: the token is dead.
    through_a(
        "/v1/admin/revoke",
        &admin,
        serde_json::json!({"user": "sato"}),
    );
    assert_eq!(on_b(), (403, Some("user-revoked".into())));
    through_a(
        "/v1/admin/unrevoke",
        &admin,
        serde_json::json!({"user": "sato"}),
    );
    assert_eq!(on_b(), (200, None));
    through_a(
        "/v1/admin/revoke-tokens",
        &admin,
        serde_json::json!({"name": "sato"}),
    );
    assert_eq!(on_b().0, 401);

    // Every one of B's decisions is in the one chain.
    org.admin.fuda(&["admin", "audit", "--verify"]).expect(0);
}

#[test]
fn migrate_moves_an_organisation_from_sqlite_to_postgresql() {
    let Some(cluster) = Cluster::start(false) else {
        return;
    };
    let mut keyd = Keyd::start();
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let tanaka = keyd.add(&admin, "tanaka", "設計部", &policy);
    let sato = keyd.add(&admin, "sato", "生産技術部", &policy);
    let file = work.path().join("plan.txt");
    write(&file, "計画");
    let run = tanaka
        .fuda(&[
            "protect",
            p(&file),
            "--level",
            "internal",
            "--grant",
            "user:sato=view",
            "--json",
        ])
        .expect(0);
    let doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    admin
        .fuda(&["admin", "revoke", "--doc", &doc, "--user", "sato"])
        .expect(0);
    // A file server reports its files (one named in CP932) into the company index.
    let code = admin
        .fuda(&[
            "admin", "user", "add", "srv-1", "--kind", "machine", "--json",
        ])
        .expect(0)
        .json_lines()[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let srv = User::new("srv-1");
    srv.fuda(&[
        "init",
        "--machine",
        "srv-1",
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
    let share = work.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let cp932 = share.join(std::ffi::OsStr::from_bytes(b"\x8c\xa9\x90\xcf.txt"));
    write(&cp932, "見積");
    write(&share.join("a.txt"), "a");
    srv.fuda(&["inventory", "--report", p(&share), "--json"])
        .expect(0);
    let before = opens_recorded(&admin, "tanaka");
    let audit_before = admin
        .fuda(&["admin", "audit", "--limit", "10000000", "--json"])
        .expect(0)
        .json_lines();
    keyd.stop();

    let url = cluster.database("moved");
    let out = Command::new(keyd_bin())
        .args(["migrate", "--data", p(&keyd.dir()), "--to", &url, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Three people and the file server.
    assert_eq!(v["moved"]["users"], 4);
    assert_eq!(v["moved"]["tokens"], 4);
    assert_eq!(v["moved"]["revocations"], 1);
    assert_eq!(v["moved"]["index_files"], 2);
    assert_eq!(v["moved"]["machines"], 1);
    assert_eq!(v["moved"]["reports"], 1);
    assert_eq!(v["audit"]["records"], audit_before.len());
    assert_eq!(v["audit"]["verified"], true);

    // The same data directory now serves from PostgreSQL: the same tokens work, the
    // revocation holds, the audit log is the same chain, going on.
    keyd.serve();
    let audit_after = admin
        .fuda(&["admin", "audit", "--limit", "10000000", "--json"])
        .expect(0)
        .json_lines();
    assert_eq!(audit_after[..audit_before.len()], audit_before[..]);
    tanaka
        .fuda(&["open", p(&work.path().join("plan.txt.fuda"))])
        .expect(0);
    assert_eq!(opens_recorded(&admin, "tanaka"), before + 1);
    let denied = sato
        .fuda(&["open", p(&work.path().join("plan.txt.fuda"))])
        .expect(2);
    assert!(denied.stderr.contains("revoked"), "{}", denied.stderr);
    admin.fuda(&["admin", "audit", "--verify"]).expect(0);

    // The server reports again, now into PostgreSQL: the new file joins the moved ones,
    // the CP932 name byte for byte.
    write(&share.join("b.txt"), "b");
    srv.fuda(&["inventory", "--report", p(&share), "--json"])
        .expect(0);
    let store = fuda_keyd::store::Database::parse(&url)
        .unwrap()
        .open()
        .unwrap();
    let mut snapshot = (store.snapshots())().unwrap();
    let mut indexed = Vec::new();
    snapshot
        .index_scan(fuda_keyd::report::IndexOrder::MachinePath, &mut |f| {
            indexed.push((f.machine, f.path));
            true
        })
        .unwrap();
    let srv1 = |path: &std::path::Path| ("srv-1".to_owned(), path.to_owned());
    let mut want = vec![
        srv1(&share.join("a.txt")),
        srv1(&share.join("b.txt")),
        srv1(&cp932),
    ];
    want.sort_by(|a, b| a.1.as_os_str().as_bytes().cmp(b.1.as_os_str().as_bytes()));
    assert_eq!(indexed, want);
    drop(snapshot);
    drop(store);
    // The company ledger is built from PostgreSQL's index (0: no findings, 1: findings).
    let ledger = work.path().join("company.json");
    let run = admin.fuda(&[
        "admin",
        "ledger",
        "--format",
        "json",
        "--out",
        p(&ledger),
        "--json",
    ]);
    assert!(matches!(run.code, 0 | 1), "{}", run.stderr);
    let ledger = std::fs::read(&ledger).unwrap();
    assert!(
        ledger.windows(5).any(|w| w == b"b.txt"),
        "{}",
        String::from_utf8_lossy(&ledger)
    );

    // Moving again into a database that holds a service is refused, changing nothing.
    keyd.stop();
    let again = Command::new(keyd_bin())
        .args([
            "migrate",
            "--data",
            p(&keyd.dir()),
            "--from",
            &format!("sqlite:{}", p(&keyd.dir().join("keyd.db"))),
            "--to",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds"), "{stderr}");
}

#[test]
fn a_database_that_is_not_for_this_build_or_this_service_is_refused() {
    let Some(org) = Org::start() else { return };
    // init on a database that holds a service refuses, and creates nothing.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(keyd_bin())
        .args([
            "init",
            "--data",
            p(&other.path().join("d")),
            "--database",
            &org.url,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds"), "{stderr}");
    assert!(!other.path().join("d").exists());

    // Another service's keys on this database: refused before serving.
    let stranger = Keyd::start();
    let out = Command::new(keyd_bin())
        .args([
            "serve",
            "--data",
            p(&stranger.dir()),
            "--database",
            &org.url,
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("belongs to another key service"),
        "{stderr}"
    );

    // A schema newer than this build knows: refused, naming both versions.
    let mut db = postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={} user=fuda dbname=keyd",
            org.cluster.port()
        ),
        postgres::NoTls,
    )
    .unwrap();
    db.batch_execute("INSERT INTO fuda_schema (version) VALUES (999)")
        .unwrap();
    let out = Command::new(keyd_bin())
        .args([
            "serve",
            "--data",
            p(&org.a.dir()),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("999") && stderr.contains("upgrade fuda-keyd"),
        "{stderr}"
    );
}

/// HAProxy (Debian's package) in front of two replicas, in TCP mode so that the pinned
/// certificate is still the service's own: after one replica is killed, people keep
/// opening files through the one address, decided by the other replica.
#[test]
fn behind_haproxy_people_keep_opening_files_when_a_replica_dies() {
    let haproxy = std::path::Path::new("/usr/sbin/haproxy");
    if !common::require_tool("haproxy (Debian package haproxy)", haproxy.exists()) {
        return;
    }
    let Some(mut org) = Org::start() else { return };
    let b = replica_of(&org.a);
    add_replica(&org.admin, &b);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = org.work.path().join("haproxy.cfg");
    write(
        &conf,
        format!(
            "global\n    maxconn 256\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    retries 3\n    option redispatch\nfrontend fuda_keyd\n    bind 127.0.0.1:{port}\n    default_backend replicas\nbackend replicas\n    balance roundrobin\n    default-server check inter 200ms fall 1 rise 1\n    server a {}\n    server b {}\n",
            org.a.addr, b.addr
        ),
    );
    struct Proxy(std::process::Child);
    impl Drop for Proxy {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proxy = Proxy(
        Command::new(haproxy)
            .args(["-f", p(&conf), "-db"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // tanaka's configuration names only the proxy.
    let config = org.tanaka.home.path().join(".config/fuda/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(&org.a.url(), &format!("https://127.0.0.1:{port}"));
    std::fs::write(&config, text).unwrap();

    let (tanaka, protected, work) = (&org.tanaka, org.protected(), org.work.path().to_owned());
    let open = |n: usize| {
        let out = work.join(format!("open-{n}.dxf"));
        tanaka
            .fuda(&["open", p(&protected), "--out", p(&out)])
            .expect(0);
    };
    let before = opens_recorded(&org.admin, "tanaka");
    open(0);
    open(1);
    org.a.kill();
    std::thread::sleep(Duration::from_millis(600));
    for n in 2..8 {
        open(n);
    }
    // Every open was decided by a replica (recorded), none from an offline licence.
    assert_eq!(opens_recorded(&org.admin, "tanaka"), before + 8);
    org.admin.fuda(&["admin", "audit", "--verify"]).expect(0);
}
