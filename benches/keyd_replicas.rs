//! The key service on SQLite and on PostgreSQL, side by side in one run: licences per
//! second and latency for
//!
//! 1. one replica on SQLite (the baseline: benches/keyd.rs's setup),
//! 2. one replica on PostgreSQL,
//! 3. two replicas on the same PostgreSQL database, the clients spread over both,
//!
//! every decision durably audited (SQLite: WAL, synchronous=FULL; PostgreSQL: fsync on,
//! synchronous_commit on, one chain across replicas) and the licence answered only after
//! its record committed. PostgreSQL is a private cluster started for the run
//! (tests/common/postgres.rs) on this machine, sharing its cores with the service and
//! the load generator. The documents are "recently seen": their file keys are in the
//! service's cache, so the figures are those of the decision and its audit record.
//!
//! `FUDA_BENCH_CLIENTS` (default 64) keep-alive HTTPS clients, `FUDA_BENCH_SECS` (default
//! 10) measured seconds after a 2-second warm-up, `FUDA_BENCH_DOCS` (default 100)
//! documents. CPU seconds of the service processes, of PostgreSQL and of the load
//! generator are printed per measured second.
//!
//! Run: `cargo build --release -p fuda-keyd-server && cargo bench --bench keyd_replicas`

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/keyd_load.rs"]
#[allow(dead_code)]
mod keyd_load;
#[path = "../tests/common/signed_label.rs"]
mod signed_label;

use fuda_keyd::client::{KeyService, Remote};
use fuda_keyd::directory::{Enrollment, NewUser};
use fuda_keyd::store::Database;
use keyd_load::{cpu_secs, ms, Lean};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One configuration's figures.
struct Figures {
    name: String,
    rate: f64,
    p50: Duration,
    p99: Duration,
    service_cpu: f64,
    postgres_cpu: f64,
    generator_cpu: f64,
    records: u64,
    /// PostgreSQL: bytes of the audit table with its indexes, per record.
    bytes_per_record: Option<f64>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("fuda-keyd");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p fuda-keyd-server",
        bin.display()
    );
    let mut all = Vec::new();
    all.push(run(&bin, "SQLite, 1 replica", None, 1));
    let cluster = common::postgres::Cluster::start(true).expect("PostgreSQL (package postgresql)");
    let one = cluster.database("bench_one");
    all.push(run(&bin, "PostgreSQL, 1 replica", Some(&one), 1));
    let two = cluster.database("bench_two");
    all.push(run(&bin, "PostgreSQL, 2 replicas", Some(&two), 2));
    println!();
    println!(
        "| configuration | licences/s | p50 ms | p99 ms | CPU cores: service / PostgreSQL / load generator | audit records | bytes per record |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|");
    for f in &all {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} / {:.2} / {:.2} | {} | {} |",
            f.name,
            f.rate,
            ms(f.p50),
            ms(f.p99),
            f.service_cpu,
            f.postgres_cpu,
            f.generator_cpu,
            f.records,
            f.bytes_per_record
                .map_or("–".to_owned(), |b| format!("{b:.0}"))
        );
    }
}

/// The audit table's size on disk (with its indexes) per record.
fn audit_bytes_per_record(url: &str) -> f64 {
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    db.batch_execute("VACUUM ANALYZE audit").unwrap();
    let row = db
        .query_one(
            "SELECT pg_total_relation_size('audit')::float8, count(*)::float8 FROM audit",
            &[],
        )
        .unwrap();
    row.get::<_, f64>(0) / row.get::<_, f64>(1)
}

/// Starts `fuda-keyd serve` on `data`; its URL.
fn serve(bin: &Path, data: &Path) -> (Child, String) {
    keyd_load::serve(bin, data, &keyd_load::account_limit_args(), "warn")
}

/// CPU seconds of every PostgreSQL process on the machine (the private cluster's).
fn postgres_cpu() -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|e| cpu_secs(&e.file_name().to_string_lossy()))
        .sum()
}

fn run(bin: &Path, name: &str, database: Option<&str>, replicas: usize) -> Figures {
    let clients = env_num("FUDA_BENCH_CLIENTS", 64) as usize;
    let secs = env_num("FUDA_BENCH_SECS", 10);
    let docs = env_num("FUDA_BENCH_DOCS", 100).max(1) as usize;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keyd");
    let db = match database {
        Some(url) => Database::parse(url).unwrap(),
        None => Database::Sqlite(data.join(fuda_keyd::service::DB_FILE)),
    };
    let init = fuda_keyd_server::http::init_on(&data, &db, keyd_load::admin_user()).unwrap();
    let mut dirs: Vec<PathBuf> = vec![data.clone()];
    for i in 1..replicas {
        let copy = dir.path().join(format!("replica-{i}"));
        assert!(Command::new("cp")
            .args(["-a", data.to_str().unwrap(), copy.to_str().unwrap()])
            .status()
            .unwrap()
            .success());
        dirs.push(copy);
    }
    let servers: Vec<(Child, String)> = dirs.iter().map(|d| serve(bin, d)).collect();
    let url = servers[0].1.clone();

    let age = age::x25519::Identity::generate();
    let enroll = |code: String| Enrollment {
        code,
        recipient: age.to_public().to_string(),
        signing_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    };
    let anon = Remote::new(&url, &init.fingerprint, None).unwrap();
    let admin_token = anon.enroll(&enroll(init.admin.code)).unwrap().token;
    let admin = Remote::new(&url, &init.fingerprint, Some(admin_token)).unwrap();
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
    let token = anon.enroll(&enroll(code)).unwrap().token;
    let tanaka = Remote::new(&url, &init.fingerprint, Some(token.clone())).unwrap();
    let info = tanaka.info().unwrap();
    let recipient: age::x25519::Recipient = info.recipient.parse().unwrap();
    let (_keys, signer) = signed_label::signer("tanaka");
    let headers = keyd_load::register_drawings(&tanaka, &recipient, docs, |doc| {
        signed_label::body(&signer, doc, "confidential")
    });
    let headers = Arc::new(headers);
    let before = admin.audit_verify().unwrap().records;

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let threads: Vec<_> = (0..clients)
        .map(|n| {
            // Clients spread over the replicas, as DNS or HAProxy would spread them.
            let url = urls[n % urls.len()].clone();
            let (fp, token, headers) = (init.fingerprint.clone(), token.clone(), headers.clone());
            let (measuring, stop) = (measuring.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut lean = Lean::connect(&url, &fp);
                let bodies = keyd_load::licence_requests(&token, &headers);
                let mut lat = Vec::with_capacity(1 << 16);
                let mut total = 0u64;
                let mut i = n;
                while !stop.load(Ordering::Relaxed) {
                    i = (i + clients) % headers.len();
                    let t = Instant::now();
                    lean.post(&bodies[i]);
                    total += 1;
                    if measuring.load(Ordering::Relaxed) {
                        lat.push(t.elapsed());
                    }
                }
                (lat, total)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let service_cpu = || -> f64 {
        servers
            .iter()
            .map(|s| cpu_secs(&s.0.id().to_string()))
            .sum()
    };
    let cpu_before = (cpu_secs("self"), service_cpu(), postgres_cpu());
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = (cpu_secs("self"), service_cpu(), postgres_cpu());
    stop.store(true, Ordering::Relaxed);
    let joined: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    let v = admin.audit_verify();
    // Stopped before any failure is reported, so that none outlives the run.
    for (mut child, _) in servers {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    let v = v.unwrap();
    let mut lat = Vec::new();
    let mut total = 0;
    for t in joined {
        let (l, n) = t.expect("a client failed (its message is above)");
        lat.extend(l);
        total += n;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    assert!(
        v.ok && v.records - before >= total,
        "{name}: every licence has its audit record and the chain verifies"
    );
    let f = Figures {
        name: name.to_owned(),
        rate: lat.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        service_cpu: (cpu_after.1 - cpu_before.1) / elapsed,
        postgres_cpu: (cpu_after.2 - cpu_before.2) / elapsed,
        generator_cpu: (cpu_after.0 - cpu_before.0) / elapsed,
        records: v.records,
        bytes_per_record: database.map(audit_bytes_per_record),
    };
    println!(
        "{name}: {:.0} licences/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({clients} clients, {docs} documents, {secs} s; audit {} records, chain ok)",
        f.rate,
        ms(f.p50),
        ms(f.p99),
        ms(pct(1.0)),
        v.records
    );
    f
}
