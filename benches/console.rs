//! The browser console at company scale: p95 latency of its pages over real HTTPS, against
//! the service's own JSON answers in the same run.
//!
//! Builds a company straight into a fresh key service's database (not timed):
//! `FUDA_BENCH_USERS` people (default 500), `FUDA_BENCH_MACHINES` file servers (default
//! 10) × `FUDA_BENCH_FILES` files each (default 100,000: a million in the index; folders of
//! 1,000 files, 15 % unlabeled, 5 % 極秘, 20 % 秘, the rest 社外秘). Then starts the release
//! `fuda-keyd serve` on 127.0.0.1, enrolls one user who registers `FUDA_BENCH_DOCS`
//! protected documents (default 10,000) over HTTPS, signs the admin in to the console
//! through a one-time link, waits for the console's company ledger to be built (printed:
//! how long the first build of the whole index took), and then asks each page
//! `FUDA_BENCH_SAMPLES` times (default 40) on one keep-alive connection, after 3 warm-ups.
//!
//! Baselines, asked the same way in the same run: `GET /v1/health` (the cost of HTTPS and
//! the router) and `GET /v1/admin/documents` (the service's JSON of every document).
//!
//! Run: `cargo build --release -p fuda-keyd-server && cargo bench --bench console`

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/keyd_load.rs"]
#[allow(dead_code)]
mod keyd_load;
#[path = "../tests/common/signed_label.rs"]
mod signed_label;

use fuda_keyd::client::{KeyService, Remote};
use fuda_keyd::directory::{Enrollment, NewUser};
use fuda_ledger::inventory::FileEntry;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// File `i` of machine `m`, as its inventory would report it.
fn record(m: u64, i: u64, now: i64) -> FileEntry {
    let level = match i % 20 {
        0..=2 => None,
        3 => Some("strictly-confidential"),
        4..=7 => Some("confidential"),
        _ => Some("internal"),
    };
    let folder = match level {
        Some("strictly-confidential") => format!("/srv/share/極秘/d{:03}", i / 1000),
        _ => format!("/srv/share/部署{:02}/d{:03}", m % 20, i / 1000),
    };
    FileEntry {
        path: PathBuf::from(format!("{folder}/f{i:06}.txt")),
        root: "/srv/share".into(),
        size: 1024,
        modified: now - 86_400,
        status: if level.is_some() {
            fuda_core::label::Status::Valid
        } else {
            fuda_core::label::Status::Missing
        },
        store: level.map(|_| "xattr".into()),
        doc: level.map(|_| format!("01JB{m:011}{i:011}").parse().expect("a doc id")),
        level: level.map(str::to_owned),
        owner: level.map(|_| "fuda-hook".into()),
        file_owner: level.map(|_| "tanaka".into()),
        method: level.map(|_| fuda_core::label::Method::Auto),
        set_at: level.map(|_| now - 86_400),
        sha256: Some(
            format!("{m:016x}{i:016x}{:032x}", 0u8)
                .parse()
                .expect("a digest"),
        ),
        ..FileEntry::default()
    }
}

/// People, machines and the file index, straight into the database (not timed).
fn fill(data: &Path, users: u64, machines: u64, per: u64) {
    let t = Instant::now();
    let now = fuda_keyd::now();
    let mut db = rusqlite::Connection::open(data.join(fuda_keyd::service::DB_FILE)).unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut person = tx
            .prepare(
                "INSERT INTO users (name, display_name, dept, status, admin, kind, auditor)
                 VALUES (?1, ?2, ?3, 'active', 0, 'person', 0)",
            )
            .unwrap();
        for u in 0..users {
            person
                .execute(rusqlite::params![
                    format!("user{u:04}"),
                    format!("社員 {u}"),
                    format!("部署{:02}", u % 20)
                ])
                .unwrap();
        }
        let mut file = tx
            .prepare(
                "INSERT INTO file_index (machine, path, doc, sha256, level, status, protected, size, modified, received_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 1024, ?7, ?7, ?8)",
            )
            .unwrap();
        for m in 0..machines {
            let name = format!("srv-{m:03}");
            tx.execute(
                "INSERT INTO machines (name, interval_s, last_report_at) VALUES (?1, 86400, ?2)",
                rusqlite::params![name, now],
            )
            .unwrap();
            for i in 0..per {
                let e = record(m, i, now);
                file.execute(rusqlite::params![
                    name,
                    e.path.as_os_str().as_bytes(),
                    e.doc.map(|d| d.to_string()),
                    e.sha256.map(|d| d.to_string()),
                    e.level,
                    e.status.as_str(),
                    now,
                    serde_json::to_vec(&e).unwrap(),
                ])
                .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    eprintln!(
        "{users} people, {machines} machines × {per} files filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// A keep-alive HTTPS client of the service, with the console's session cookie once
/// signed in.
struct Client {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
    token: Option<String>,
}

impl Client {
    fn get(&self, path: &str) -> (u16, String) {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.set("Cookie", c);
        }
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// p50 and p95 of `samples` answers to `path` (after 3 warm-ups), milliseconds.
    fn measure(&self, path: &str, samples: usize) -> Option<(f64, f64)> {
        for _ in 0..3 {
            let (status, _) = self.get(path);
            if status == 404 {
                return None;
            }
            assert_eq!(status, 200, "{path}");
        }
        let mut times: Vec<f64> = (0..samples)
            .map(|_| {
                let t = Instant::now();
                let (status, _) = self.get(path);
                assert_eq!(status, 200, "{path}");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        Some((at(0.5), at(0.95)))
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let users = env_num("FUDA_BENCH_USERS", 500);
    let machines = env_num("FUDA_BENCH_MACHINES", 10);
    let per = env_num("FUDA_BENCH_FILES", 100_000);
    let docs = env_num("FUDA_BENCH_DOCS", 10_000) as usize;
    let samples = env_num("FUDA_BENCH_SAMPLES", 40) as usize;
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("fuda-keyd");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p fuda-keyd-server",
        bin.display()
    );
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let dir = tempfile::Builder::new()
        .prefix("bench-console")
        .tempdir_in(base)
        .unwrap();
    let data = dir.path().join("keyd");
    let init = keyd_load::init_with_admin(&data);
    fill(&data, users, machines, per);
    let (mut server, url) = keyd_load::serve(&bin, &data, &[], "error");

    let age = age::x25519::Identity::generate();
    let enroll = |code: String| Enrollment {
        code,
        recipient: age.to_public().to_string(),
        signing_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    };
    let anon = Remote::new(&url, &init.fingerprint, None).unwrap();
    let admin_token = anon.enroll(&enroll(init.admin.code)).unwrap().token;
    let admin = Remote::new(&url, &init.fingerprint, Some(admin_token.clone())).unwrap();
    let code = admin
        .user_add(NewUser {
            name: "tanaka".into(),
            display_name: None,
            dept: Some("設計部".into()),
            admin: false,
            auditor: false,
            kind: Default::default(),
        })
        .unwrap()
        .code;
    let tanaka_token = anon.enroll(&enroll(code)).unwrap().token;
    let tanaka = Remote::new(&url, &init.fingerprint, Some(tanaka_token)).unwrap();
    let recipient: age::x25519::Recipient = tanaka.info().unwrap().recipient.parse().unwrap();
    let (_keys, signer) = signed_label::signer("tanaka");
    let t = Instant::now();
    keyd_load::register_drawings(&tanaka, &recipient, docs, |doc| {
        signed_label::body(&signer, doc, "confidential")
    });
    eprintln!(
        "{docs} documents registered in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let pin = fuda_keyd::tls::parse_fingerprint(&init.fingerprint).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
        .redirects(0)
        .build();
    let link = admin.console_link().unwrap().url;
    let resp = agent.get(&link).call().unwrap();
    let cookie = resp
        .all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("fuda_console="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let console = Client {
        agent: agent.clone(),
        base: url.clone(),
        cookie: Some(cookie),
        token: None,
    };
    let api = Client {
        agent,
        base: url.clone(),
        cookie: None,
        token: Some(admin_token),
    };

    // The first build of the company ledger, from the first visit.
    let t = Instant::now();
    loop {
        let (status, body) = console.get("/console/ledger");
        assert_eq!(status, 200);
        if !body.contains("作成中") && !body.contains("反映中") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3600),
            "no ledger after an hour"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let files = machines * per;
    let (_, findings) = console.get("/console/findings");
    let counted = findings
        .split("<p class=\"muted\">")
        .filter_map(|s| s.split(' ').next()?.parse::<u64>().ok())
        .last()
        .unwrap_or(0);
    eprintln!("the ledger has {counted} findings");
    eprintln!(
        "console ledger of {files} files built in {:.1} s (first visit to ready)",
        t.elapsed().as_secs_f64()
    );

    let deep = (files / 50 / 2).max(1);
    let machine_deep = (per / 50 / 2).max(1);
    let pages: Vec<(String, String)> = [
        ("baseline: GET /v1/health", "/v1/health".to_owned(), &api),
        (
            "baseline: GET /v1/admin/documents (JSON)",
            "/v1/admin/documents".to_owned(),
            &api,
        ),
        ("/console (overview)", "/console".to_owned(), &console),
        (
            "/console/ledger (rows)",
            "/console/ledger".to_owned(),
            &console,
        ),
        (
            "/console/ledger?view=confidential",
            "/console/ledger?view=confidential".to_owned(),
            &console,
        ),
        (
            "/console/ledger?view=files",
            "/console/ledger?view=files".to_owned(),
            &console,
        ),
        (
            "… files, middle page",
            format!("/console/ledger?view=files&page={deep}"),
            &console,
        ),
        (
            "… files of one machine, middle page",
            format!("/console/ledger?view=files&machine=srv-001&page={machine_deep}"),
            &console,
        ),
        (
            "… files at 極秘",
            "/console/ledger?view=files&level=strictly-confidential".to_owned(),
            &console,
        ),
        (
            "… files unlabeled, page 100",
            "/console/ledger?view=files&level=-&page=100".to_owned(),
            &console,
        ),
        (
            "… files with a finding (unlabeled)",
            "/console/ledger?view=files&finding=unlabeled".to_owned(),
            &console,
        ),
        (
            "/console/findings",
            "/console/findings".to_owned(),
            &console,
        ),
        (
            "/console/findings?kind=unlabeled&page=1000",
            "/console/findings?kind=unlabeled&page=1000".to_owned(),
            &console,
        ),
        (
            "/console/documents",
            "/console/documents".to_owned(),
            &console,
        ),
        ("/console/people", "/console/people".to_owned(), &console),
    ]
    .into_iter()
    .filter_map(|(name, path, client)| {
        client
            .measure(&path, samples)
            .map(|(p50, p95)| (name.to_owned(), format!("{p50:8.2} ms {p95:8.2} ms")))
            .or_else(|| {
                eprintln!("{name}: not on this build (404)");
                None
            })
    })
    .collect();
    println!(
        "{users} people, {docs} documents, {files} files in the index; {samples} samples each"
    );
    println!("{:<48} {:>11} {:>11}", "page", "p50", "p95");
    for (name, figures) in pages {
        println!("{name:<48} {figures}");
    }
    let _ = server.kill();
    let _ = server.wait();
}
