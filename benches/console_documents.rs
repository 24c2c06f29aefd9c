//! The console's Documents and People pages of a company with `FUDA_BENCH_DOCS` (default
//! 10,000) protected documents and `FUDA_BENCH_USERS` (default 500) people, over HTTPS
//! keep-alive against the service's own router (`fuda_keyd_server::http::Running`, the
//! same code `fuda-keyd serve` runs), side by side with the baseline: the API's list of
//! the same documents (`GET /v1/admin/documents`, what `fuda admin documents` asks for).
//!
//! Setting up (not timed): the documents are registered through the service as `fuda
//! protect` registers them (a signed label in each header), one document gets 200 licence
//! decisions in its audit history. Then each page is asked `FUDA_BENCH_ROUNDS` (default
//! 50) times after 5 warm-up requests, one at a time, and the p50, p95 and slowest answer
//! are printed in milliseconds, with each page's p95 as a ratio of the baseline's.
//! Last, licence decisions for 100 documents are timed for `FUDA_BENCH_SECONDS` (default
//! 5) over one keep-alive connection, alone and then while an admin keeps listing the
//! documents: what a page view costs the decisions waiting behind it.
//!
//! Run: `cargo bench --bench console_documents`

use std::sync::Arc;
use std::time::{Duration, Instant};

#[allow(dead_code)] // the licence benchmarks' client and CPU counters are not used here
#[path = "common/keyd_load.rs"]
mod keyd_load;
#[path = "../tests/common/signed_label.rs"]
mod signed_label;

use fuda_keyd::client::{Embedded, KeyService, Remote};
use fuda_keyd::directory::{Enrollment, EntryKind, NewUser};
use fuda_keyd::service::Service;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn person(name: &str, dept: &str) -> NewUser {
    NewUser {
        name: name.into(),
        display_name: Some(format!("社員 {name}")),
        dept: Some(dept.into()),
        admin: false,
        auditor: false,
        kind: EntryKind::Person,
    }
}

/// What the set-up made: the admin's API token, a document with a history, and tanaka's
/// token with the headers of a hundred of tanaka's documents.
struct Company {
    admin_token: String,
    doc: String,
    tanaka_token: String,
    headers: Vec<Vec<u8>>,
}

/// The company: people, documents, and one document's history.
fn fill(data: &std::path::Path, docs: usize, users: usize) -> Company {
    let t = Instant::now();
    let init = fuda_keyd_server::http::init(
        data,
        NewUser {
            name: "admin".into(),
            display_name: None,
            dept: Some("情報システム部".into()),
            admin: true,
            auditor: false,
            kind: EntryKind::Person,
        },
    )
    .unwrap();
    let service = Service::open(data).unwrap();
    let age = age::x25519::Identity::generate();
    let enroll = |code: String| {
        service
            .enroll(Enrollment {
                code,
                recipient: age.to_public().to_string(),
                signing_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
            })
            .unwrap()
            .token
    };
    let token = enroll(init.admin.code);
    let admin = Embedded::new(service.clone(), "admin");
    for i in 0..users.saturating_sub(2) {
        let dept = ["設計部", "営業部", "製造部", "総務部"][i % 4];
        admin
            .user_add(person(&format!("user{i:04}"), dept))
            .unwrap();
    }
    let code = admin.user_add(person("tanaka", "設計部")).unwrap().code;
    let tanaka_token = enroll(code);
    let tanaka = Embedded::new(service.clone(), "tanaka");
    let (_keys, signer) = signed_label::signer("tanaka");
    let recipient: age::x25519::Recipient = service.info().recipient.parse().unwrap();
    let headers = keyd_load::register_drawings(&tanaka, &recipient, docs, |doc| {
        signed_label::body(&signer, doc, "confidential")
    });
    for _ in 0..200 {
        tanaka
            .licence(fuda_keyd::licence::Request {
                header: headers[0].clone(),
                rights: "view".parse().unwrap(),
            })
            .unwrap();
    }
    let doc = admin
        .documents()
        .unwrap()
        .into_iter()
        .next()
        .expect("the first document")
        .id;
    drop((admin, tanaka));
    service.close();
    eprintln!(
        "{users} people and {docs} documents registered in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Company {
        admin_token: token,
        doc,
        tanaka_token,
        headers: headers.into_iter().take(100).collect(),
    }
}

/// Latencies of one page, in milliseconds, sorted.
fn measure(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)], rounds: usize) -> Vec<f64> {
    let get = || {
        let mut req = agent.get(url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let t = Instant::now();
        let resp = req.call().unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(resp.status(), 200, "{url}");
        let body = resp.into_string().unwrap();
        assert!(!body.is_empty());
        t.elapsed()
    };
    for _ in 0..5 {
        get();
    }
    let mut ms: Vec<f64> = (0..rounds).map(|_| keyd_load::ms(get())).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let docs = env_num("FUDA_BENCH_DOCS", 10_000) as usize;
    let users = env_num("FUDA_BENCH_USERS", 500).max(2) as usize;
    let rounds = env_num("FUDA_BENCH_ROUNDS", 50).max(1) as usize;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keyd");
    let company = fill(&data, docs, users);
    let (token, doc) = (company.admin_token.clone(), company.doc.clone());

    let running =
        fuda_keyd_server::http::Running::start(&data, "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = format!("https://{}", running.addr());
    let fingerprint = fuda_keyd_server::tls::fingerprint_of(&data.join("tls")).unwrap();
    let pin = fuda_keyd::tls::parse_fingerprint(&fingerprint).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build();
    let link = Remote::new(&base, &fingerprint, Some(token.clone()))
        .unwrap()
        .console_link()
        .unwrap();
    let (_, t) = link.url.split_once("?t=").expect("a log-in link");
    let login = agent
        .get(&format!("{base}/console/login?t={t}"))
        .call()
        .unwrap();
    let cookie = login
        .all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("fuda_console="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();

    let bearer = format!("Bearer {token}");
    let baseline = measure(
        &agent,
        &format!("{base}/v1/admin/documents"),
        &[("Authorization", &bearer)],
        rounds,
    );
    let pages = [
        ("documents, first page", "/console/documents".to_owned()),
        (
            "documents, name search",
            "/console/documents?q=bracket-99&level=confidential".to_owned(),
        ),
        (
            "documents, page 150",
            "/console/documents?page=150".to_owned(),
        ),
        (
            "documents, owner search",
            "/console/documents?owner=tanaka&per_page=500".to_owned(),
        ),
        (
            "one document (200 opens)",
            format!("/console/documents/{doc}"),
        ),
        ("people, first page", "/console/people".to_owned()),
        ("people, search", "/console/people?q=製造".to_owned()),
        ("one person", "/console/people/user?name=tanaka".to_owned()),
    ];
    println!("{docs} documents, {users} people, {rounds} requests per page (ms, one at a time):");
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>10}",
        "page", "p50", "p95", "max", "p95/base"
    );
    let row = |name: &str, ms: &[f64]| {
        println!(
            "{name:<28} {:>8.1} {:>8.1} {:>8.1} {:>10.2}",
            pct(ms, 0.5),
            pct(ms, 0.95),
            ms[ms.len() - 1],
            pct(ms, 0.95) / pct(&baseline, 0.95)
        );
    };
    row("baseline: API document list", &baseline);
    for (name, path) in pages {
        let ms = measure(
            &agent,
            &format!("{base}{path}"),
            &[("Cookie", &cookie)],
            rounds,
        );
        row(name, &ms);
    }

    let seconds = env_num("FUDA_BENCH_SECONDS", 5);
    println!("licence decisions for {seconds} s, one connection (ms):");
    println!(
        "{:<36} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "", "decisions", "p50", "p99", "max", "lists"
    );
    for listing in [false, true] {
        let (ms, lists) = decisions(&base, &fingerprint, &company, seconds, |stop| {
            let mut lists = 0;
            while listing && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                measure_once(&agent, &format!("{base}/console/documents"), &cookie);
                lists += 1;
            }
            lists
        });
        println!(
            "{:<36} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8}",
            if listing {
                "while an admin lists the documents"
            } else {
                "alone"
            },
            ms.len(),
            pct(&ms, 0.5),
            pct(&ms, 0.99),
            ms[ms.len() - 1],
            lists
        );
    }
    drop(running);
}

/// One page, not timed.
fn measure_once(agent: &ureq::Agent, url: &str, cookie: &str) {
    let resp = agent.get(url).set("Cookie", cookie).call().unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.into_string().unwrap();
}

/// Licence decisions for tanaka's documents, one at a time on one keep-alive connection,
/// for `seconds`, while `beside` runs on the calling thread (told to stop by the flag);
/// returns the sorted latencies in milliseconds and what `beside` returned.
fn decisions(
    base: &str,
    fingerprint: &str,
    company: &Company,
    seconds: u64,
    beside: impl FnOnce(&std::sync::atomic::AtomicBool) -> usize,
) -> (Vec<f64>, usize) {
    let requests = keyd_load::licence_requests(&company.tanaka_token, &company.headers);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let timed = s.spawn(|| {
            let mut lean = keyd_load::Lean::connect(base, fingerprint);
            let mut ms = Vec::new();
            let end = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < end {
                let t = Instant::now();
                lean.post(&requests[ms.len() % requests.len()]);
                ms.push(keyd_load::ms(t.elapsed()));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            ms.sort_by(f64::total_cmp);
            ms
        });
        let beside = beside(&stop);
        (timed.join().unwrap(), beside)
    })
}
