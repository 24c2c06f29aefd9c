//! Key service throughput: licence requests per second and latency over HTTPS keep-alive.
//!
//! Starts `fuda-keyd serve` (the release binary: `cargo build --release -p fuda-keyd`
//! first) on 127.0.0.1, enrolls one user, registers one document, then runs
//! `FUDA_BENCH_CLIENTS` (default 64) client threads, each with its own keep-alive HTTPS
//! connection, asking for licences for `FUDA_BENCH_SECS` (default 10) seconds after a
//! 2-second warm-up. Every licence is a full decision: unwrap, MAC, directory, registry,
//! revocation and grant checks, an audit record committed durably (SQLite WAL,
//! synchronous=FULL, group commit), the key sealed to the user and the licence signed.
//! At the end the audit chain is verified and must hold a record for every licence.
//!
//! `FUDA_BENCH_DOCS` (default 1) registers that many documents and has the clients cycle
//! through them: with more documents than the service's file-key cache holds, every
//! request pays the full X25519 unwrap. The CPU time used during the measured seconds by
//! the service and by this load generator (from `/proc`) is printed beside the figures, so
//! one can see which of the two, or other processes on the machine, bound the rate.
//! `FUDA_BENCH_KEYD` runs another `fuda-keyd` binary (to compare builds).
//! `FUDA_BENCH_HOSTILE=1` runs hostile clients from 127.0.0.2 at the same time (idle and
//! slow connections, malformed and oversized bodies from an enrolled user, token guessing:
//! `benches/common/hostile.rs`); the service's resident memory is printed either way.
//!
//! All the clients are one account, so the service runs with a per-account budget that
//! never refuses (`FUDA_BENCH_ACCOUNT_LIMIT`: `keyd_load::account_limit_args`).
//!
//! `FUDA_BENCH_REPORT_FILES=N` also has a machine send a first report of N files into the
//! company file index (`report_load.rs`) while the licences are measured, and prints the
//! records/s the service took them at; with `FUDA_BENCH_CLIENTS=0` the report runs alone.
//!
//! Run: `cargo build --release -p fuda-keyd && cargo bench --bench keyd`

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/keyd_load.rs"]
mod keyd_load;
mod report_load;
#[path = "../tests/common/signed_label.rs"]
mod signed_label;

#[path = "common/hostile.rs"]
mod hostile;

use fuda_keyd::client::{KeyService, Remote};
use fuda_keyd::directory::{Enrollment, NewUser};
use keyd_load::{cpu_secs, ms, Lean};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let clients = env_num("FUDA_BENCH_CLIENTS", 64) as usize;
    let secs = env_num("FUDA_BENCH_SECS", 10);
    let docs = env_num("FUDA_BENCH_DOCS", 1).max(1) as usize;
    let report_files = env_num("FUDA_BENCH_REPORT_FILES", 0) as usize;
    let exe = std::env::current_exe().unwrap();
    let bin = std::env::var_os("FUDA_BENCH_KEYD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| exe.parent().unwrap().parent().unwrap().join("fuda-keyd"));
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p fuda-keyd",
        bin.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keyd");
    let init = keyd_load::init_with_admin(&data);
    // Hostile clients' 4xx answers are logged as warnings: keep the output readable.
    let (mut server, url) =
        keyd_load::serve(&bin, &data, &keyd_load::account_limit_args(), "error");

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
    let hostile_code = admin
        .user_add(NewUser {
            name: "mallory".into(),
            display_name: None,
            dept: Some("営業部".into()),
            admin: false,
            auditor: false,
            kind: Default::default(),
        })
        .unwrap()
        .code;
    let hostile_token = anon.enroll(&enroll(hostile_code)).unwrap().token;
    let tanaka = Remote::new(&url, &init.fingerprint, Some(token.clone())).unwrap();
    let info = tanaka.info().unwrap();
    let recipient: age::x25519::Recipient = info.recipient.parse().unwrap();
    let (_keys, signer) = signed_label::signer("tanaka");
    let headers = keyd_load::register_drawings(&tanaka, &recipient, docs, |doc| {
        signed_label::body(&signer, doc, "confidential")
    });
    let headers = Arc::new(headers);
    let service_key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &info.signing_key,
    )
    .unwrap();
    // The load generator: by default a lean HTTPS/1.1 client (rustls, requests encoded
    // once, answers checked for 200 and the first one opened in full), so that the
    // generator takes as little of the shared CPU as possible; FUDA_BENCH_CLIENT=ureq uses
    // the CLI's own client (`Remote`, JSON both ways) instead.
    let raw = std::env::var("FUDA_BENCH_CLIENT").map_or(true, |c| c != "ureq");
    let before = admin.audit_verify().unwrap().records;
    let machine = (report_files > 0)
        .then(|| report_load::Machine::enroll(&admin, &anon, &url, &init.fingerprint));

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let hostile_on = std::env::var("FUDA_BENCH_HOSTILE").is_ok_and(|v| v == "1");
    let attack = Arc::new(hostile::Counts::default());
    let (rss_before, _) = hostile::memory_mib(server.id());
    let attackers = if hostile_on {
        let to: std::net::SocketAddr = url.strip_prefix("https://").unwrap().parse().unwrap();
        hostile::start(
            to,
            &init.fingerprint,
            &hostile_token,
            stop.clone(),
            attack.clone(),
        )
    } else {
        Vec::new()
    };
    let threads: Vec<_> = (0..clients)
        .map(|n| {
            let service_key = service_key.clone();
            let (url, fp, token, headers) = (
                url.clone(),
                init.fingerprint.clone(),
                token.clone(),
                headers.clone(),
            );
            let (measuring, stop) = (measuring.clone(), stop.clone());
            let identity = age.clone();
            std::thread::spawn(move || {
                let remote = Remote::new(&url, &fp, Some(token.clone())).unwrap();
                let mut lean = raw.then(|| Lean::connect(&url, &fp));
                let bodies = keyd_load::licence_requests(&token, &headers);
                let mut lat = Vec::with_capacity(1 << 16);
                let mut total = 0u64;
                let mut i = n;
                while !stop.load(Ordering::Relaxed) {
                    i = (i + clients) % headers.len();
                    let t = Instant::now();
                    match lean.as_mut() {
                        Some(lean) => {
                            let body = lean.post(&bodies[i]);
                            if total == 0 {
                                // The first answer of each client is opened in full.
                                let granted: fuda_keyd::licence::Granted =
                                    serde_json::from_slice(&body).unwrap();
                                granted
                                    .open(
                                        &service_key,
                                        &identity,
                                        "tanaka",
                                        &granted.licence.licence.doc,
                                    )
                                    .unwrap();
                            }
                        }
                        None => {
                            remote
                                .licence(fuda_keyd::licence::Request {
                                    header: headers[i].clone(),
                                    rights: "view".parse().unwrap(),
                                })
                                .unwrap();
                        }
                    }
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
    let cpu_before = (cpu_secs("self"), cpu_secs(&server.id().to_string()));
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let server_pid = server.id().to_string();
    let (elapsed, cpu_after, load, ingest) = std::thread::scope(|s| {
        let ingest = machine.as_ref().map(|m| {
            s.spawn(|| {
                let cpu = cpu_secs(&server_pid);
                let (took, bytes) = m.report(report_files);
                (took, bytes, cpu_secs(&server_pid) - cpu)
            })
        });
        if clients > 0 {
            std::thread::sleep(Duration::from_secs(secs));
        }
        measuring.store(false, Ordering::Relaxed);
        let elapsed = start.elapsed();
        let cpu_after = (cpu_secs("self"), cpu_secs(&server_pid));
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        (elapsed, cpu_after, load, ingest.map(|t| t.join().unwrap()))
    });
    let (rss_after, rss_peak) = hostile::memory_mib(server.id());
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.join();
    }
    let mut lat = Vec::new();
    let mut total = 0;
    for t in threads {
        let (l, n) = t.join().unwrap();
        lat.extend(l);
        total += n;
    }
    lat.sort();
    if let Some((took, bytes, cpu)) = ingest {
        println!(
            "report ingest: {report_files} records in {:.2} s = {:.0} records/s ({:.1} MB sent, service CPU {:.2} s = {:.1} µs per record){}",
            took.as_secs_f64(),
            report_files as f64 / took.as_secs_f64(),
            bytes as f64 / 1e6,
            cpu,
            cpu * 1e6 / report_files as f64,
            if clients > 0 { ", beside the licence load below" } else { ", alone" }
        );
    }
    if clients == 0 {
        let _ = Command::new("kill").args(["-TERM", &server_pid]).status();
        let _ = server.wait();
        return;
    }
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let v = admin.audit_verify().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    println!("key service: {clients} {} clients, {docs} documents, {secs} s, HTTPS keep-alive, every decision durably audited", if raw { "lean" } else { "ureq" });
    println!(
        "  binary {}, requests per account per minute: {}",
        bin.display(),
        keyd_load::account_limit_args()
            .get(1)
            .map_or("flag not given", String::as_str)
    );
    println!(
        "  licences/s: {:.0}",
        lat.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    let wall = elapsed.as_secs_f64();
    println!(
        "  CPU during the measured seconds: service {:.2} cores, load generator {:.2} cores (of {}); load average {}",
        (cpu_after.1 - cpu_before.1) / wall,
        (cpu_after.0 - cpu_before.0) / wall,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "  service memory: {rss_before:.0} MiB resident before, {rss_after:.0} MiB at the end, peak {rss_peak:.0} MiB"
    );
    if hostile_on {
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        println!(
            "  hostile clients (127.0.0.2), whole run: {} idle connections opened, {} slow header bytes, {} junk requests (malformed, wrong type, 1 MiB), {} token guesses",
            n(&attack.idle_opened),
            n(&attack.slow_bytes),
            n(&attack.junk_requests),
            n(&attack.guesses)
        );
    }
    println!(
        "  audit: {} records, chain ok = {}, licences issued {total}, records added {}",
        v.records,
        v.ok,
        v.records - before
    );
    assert!(
        v.ok && v.records - before >= total,
        "every licence has its audit record"
    );
}
