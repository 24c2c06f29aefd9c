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
//! Run: `cargo build --release -p fuda-keyd && cargo bench --bench keyd`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuda_core::envelope::{self, LabelStanza, StreamOptions};
use fuda_keyd::client::{KeyService, Remote};
use fuda_keyd::directory::{Enrollment, NewUser};
use fuda_keyd::registry::Registration;

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
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("fuda-keyd");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p fuda-keyd",
        bin.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keyd");
    let init = fuda_keyd::http::init(
        &data,
        NewUser {
            name: "admin".into(),
            display_name: None,
            dept: None,
            admin: true,
        },
    )
    .unwrap();
    let mut server = Command::new(&bin)
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("FUDA_KEYD_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!(
        "https://{}",
        line.trim().strip_prefix("listening on ").unwrap()
    );

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
        })
        .unwrap()
        .code;
    let token = anon.enroll(&enroll(code)).unwrap().token;
    let tanaka = Remote::new(&url, &init.fingerprint, Some(token.clone())).unwrap();
    let info = tanaka.info().unwrap();
    let label = LabelStanza::new(ulid::Ulid::new().to_string(), vec![b'L'; 200]).unwrap();
    let header = envelope::encrypt(
        &[info.recipient.parse().unwrap()],
        Some(&label),
        &b"drawing"[..],
        std::io::sink(),
        &StreamOptions::default(),
    )
    .unwrap()
    .to_bytes();
    tanaka
        .register(Registration {
            header: header.clone(),
            name: "bracket.dxf".into(),
            level: "confidential".into(),
            grants: vec![
                "owner=owner".parse().unwrap(),
                "group:設計部=view,edit".parse().unwrap(),
            ],
            max_rights: "view,edit,print".parse().unwrap(),
            expires_at: None,
            offline_days: 0,
            size: 7,
            digest: "00".repeat(32),
            host: "bench".into(),
            path: "/bench/bracket.dxf".into(),
        })
        .unwrap();
    let before = admin.audit_verify().unwrap().records;

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, fp, token, header) = (
                url.clone(),
                init.fingerprint.clone(),
                token.clone(),
                header.clone(),
            );
            let (measuring, stop) = (measuring.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = Remote::new(&url, &fp, Some(token)).unwrap();
                let mut lat = Vec::with_capacity(1 << 16);
                let mut total = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    client
                        .licence(fuda_keyd::licence::Request {
                            header: header.clone(),
                            rights: "view".parse().unwrap(),
                        })
                        .unwrap();
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
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut total = 0;
    for t in threads {
        let (l, n) = t.join().unwrap();
        lat.extend(l);
        total += n;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let v = admin.audit_verify().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    println!("key service: {clients} clients, {secs} s, HTTPS keep-alive, every decision durably audited");
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
