//! Hostile clients against a real `fuda-keyd` on 127.0.0.1: silent and slow connections,
//! more connections than the service allows, guessed tokens and enrollment codes, a valid
//! token hammering the service — and the request log an operator reads afterwards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::keyd::{policy_with_recovery, Keyd};
use common::{workdir, User};
use serde_json::{json, Value};

fn token(u: &User) -> String {
    std::fs::read_to_string(u.home.path().join(".config/fuda/keyd.token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A service served with `serve` flags, and its enrolled admin.
fn service(serve: &[&str], log: Option<&Path>) -> (Keyd, User, tempfile::TempDir) {
    let mut keyd = Keyd::start();
    keyd.stop();
    match log {
        Some(log) => keyd.serve_logging_to(serve, log),
        None => keyd.serve_with(serve, &[]),
    }
    let work = workdir();
    let (policy, _) = policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    (keyd, admin, work)
}

/// Whether the server closed `stream` (EOF or reset) before `within` passed.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn tls_client(keyd: &Keyd) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let pin = fuda_keyd::tls::parse_fingerprint(&keyd.fingerprint).unwrap();
    let config = Arc::new(fuda_keyd::tls::pinned_client_config(pin));
    let name = rustls::pki_types::ServerName::try_from("fuda-keyd").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&keyd.addr).unwrap());
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

#[test]
fn silent_and_slow_connections_are_closed_after_the_idle_timeout() {
    let (keyd, admin, _work) = service(&["--idle-timeout-secs", "2"], None);

    // A connection that never starts its TLS handshake (a half-open client).
    let mut silent = TcpStream::connect(&keyd.addr).unwrap();
    let start = Instant::now();
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(30)),
        "a silent connection was kept open"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "closed too early"
    );

    // Headers sent one byte at a time, slower than the idle timeout allows in total.
    let mut slow = tls_client(&keyd);
    let request = b"GET /v1/health HTTP/1.1\r\nHost: fuda-keyd\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = false;
    for byte in request {
        if slow.write_all(&[*byte]).and_then(|_| slow.flush()).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if !cut_off {
        let mut answer = Vec::new();
        let _ = slow.read_to_end(&mut answer);
        cut_off = !String::from_utf8_lossy(&answer).contains("200 OK");
    }
    assert!(
        cut_off,
        "a request whose headers took {request_len} × 250 ms was answered",
        request_len = request.len()
    );

    // A connection that answered a request and then falls silent is closed too.
    let mut idle = tls_client(&keyd);
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: fuda-keyd\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    idle.sock
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let rest = idle.read(&mut buf);
    assert!(
        matches!(rest, Ok(0)) || rest.is_err(),
        "an idle keep-alive connection was kept open"
    );

    // And the service goes on answering well-behaved clients.
    let (status, _) = keyd.api().call_json_get("/v1/me", &token(&admin));
    assert_eq!(status, 200);
}

#[test]
fn connections_over_the_limit_are_closed_at_once_and_the_service_answers_within_it() {
    for limit in [
        ["--max-connections", "8", "--idle-timeout-secs", "60"],
        [
            "--max-connections-per-address",
            "8",
            "--idle-timeout-secs",
            "60",
        ],
    ] {
        let (keyd, admin, _work) = service(&limit, None);
        let mut held: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(&keyd.addr).unwrap())
            .collect();
        // Let the service accept all eight before the ninth arrives.
        std::thread::sleep(Duration::from_millis(500));
        let mut over = TcpStream::connect(&keyd.addr).unwrap();
        assert!(
            closed_by_server(&mut over, Duration::from_secs(10)),
            "a ninth connection was kept with {limit:?}"
        );
        // Once the eight are closed, a well-behaved client is answered.
        held.clear();
        std::thread::sleep(Duration::from_millis(500));
        let (status, v) = keyd.api().call_json_get("/v1/me", &token(&admin));
        assert_eq!(status, 200, "{limit:?}: {v}");
        assert_eq!(v["name"], "admin");
    }
}

#[test]
fn guessing_tokens_or_codes_blocks_the_address_audited_while_known_users_go_on() {
    let (keyd, admin, _work) = service(&["--max-auth-failures", "5"], None);
    let api = keyd.api();
    let admin_token = token(&admin);
    // The admin has used their token before the guessing starts.
    assert_eq!(api.call_json_get("/v1/me", &admin_token).0, 200);

    for i in 0..5 {
        let (status, code, _) =
            api.call("GET", "/v1/me", Some(&format!("fuda_guess{i}")), None, None);
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "guess {i}");
    }
    let (status, code, message) = api.call("GET", "/v1/me", Some("fuda_guess5"), None, None);
    assert_eq!(
        (status, code.as_str()),
        (429, "too-many-failures"),
        "{message}"
    );
    assert!(message.contains("wait"), "{message}");
    // An enrollment code guess from the same address is refused before it is checked.
    let guess = json!({"code": "fudaenroll_guess", "recipient": "age1x", "signing_key": "AA"});
    let (status, v) = api.send(
        "POST",
        "/v1/enroll",
        None,
        Some("application/json"),
        Some(guess.to_string().as_bytes()),
    );
    assert_eq!(status, 429, "{v}");

    // A token that worked before still works from the blocked address.
    let (status, v) = api.json("POST", "/v1/admin/audit", &admin_token, &json!({}));
    assert_eq!(status, 200, "{v}");
    let blocks: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "auth-throttled")
        .collect();
    assert_eq!(blocks.len(), 1, "one audit record per block: {v}");
    assert_eq!(blocks[0]["outcome"], "deny");
    assert_eq!(blocks[0]["detail"]["address"], "127.0.0.1");
    assert_eq!(blocks[0]["detail"]["failures"], 5);
    let (status, _) = api.call_json_get("/v1/admin/audit/verify", &admin_token);
    assert_eq!(status, 200, "the chain verifies with the block in it");
}

#[test]
fn every_request_is_logged_with_its_user_and_no_colour_codes_in_a_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keyd.log");
    let (keyd, admin, _work) = service(&[], Some(&log));
    let api = keyd.api();
    assert_eq!(api.call_json_get("/v1/me", &token(&admin)).0, 200);
    assert_eq!(api.call_json_get("/v1/me", &token(&admin)).0, 200);
    assert_eq!(
        api.call("GET", "/v1/me", Some("fuda_wrong"), None, None).0,
        401
    );
    // The first request of a token is logged once its user is known (after the answer).
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.matches("/v1/me").count() >= 3 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
    // Values are quoted and escaped, so a crafted path cannot forge a line.
    let me: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#"path="/v1/me""#))
        .collect();
    assert_eq!(me.len(), 3, "{text}");
    let ok: Vec<&&str> = me.iter().filter(|l| l.contains("status=200")).collect();
    assert_eq!(ok.len(), 2, "{text}");
    for line in ok {
        assert!(line.contains(r#"user="admin""#), "{line}");
        assert!(line.contains(r#"method="GET""#), "{line}");
        assert!(line.contains(r#"peer="127.0.0.1""#), "{line}");
        assert!(line.contains("micros="), "{line}");
    }
    let refused = me.iter().find(|l| l.contains("status=401")).unwrap();
    assert!(refused.contains(r#"user="-""#), "{refused}");
    assert!(!text.contains("fuda_wrong"), "a token was logged:\n{text}");
    assert!(!text.contains(&token(&admin)), "a token was logged");
}

/// (status, Retry-After, JSON answer) of a GET with `token`.
fn get_with_retry_after(keyd: &Keyd, path: &str, token: &str) -> (u16, Option<u64>, Value) {
    let pin = fuda_keyd::tls::parse_fingerprint(&keyd.fingerprint).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
        .build();
    let resp = match agent
        .get(&format!("{}{path}", keyd.url()))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let status = resp.status();
    let retry_after = resp.header("Retry-After").map(|v| v.parse().unwrap());
    (status, retry_after, resp.into_json().unwrap_or_default())
}

/// `fuda protect`s `n` small files in `dir` as `user`; their protected paths.
fn protected_files(user: &User, dir: &Path, n: usize) -> Vec<std::path::PathBuf> {
    let plain: Vec<_> = (0..n)
        .map(|i| {
            let path = dir.join(format!("図面-{i:03}.txt"));
            common::write(&path, format!("drawing {i}\n"));
            path
        })
        .collect();
    let mut args = vec!["protect", "--level", "秘"];
    args.extend(plain.iter().map(|p| common::p(p)));
    user.fuda(&args).expect(0);
    plain
        .iter()
        .map(|p| p.with_file_name(format!("{}.fuda", p.file_name().unwrap().to_str().unwrap())))
        .collect()
}

#[test]
fn an_account_over_its_request_budget_gets_429_audited_once_while_a_colleague_is_served() {
    let (keyd, admin, work) = service(&["--max-requests-per-account-per-minute", "30"], None);
    let (policy, _) = policy_with_recovery(work.path());
    let hammer = keyd.add(&admin, "hammer", "設計部", &policy);
    let colleague = keyd.add(&admin, "colleague", "設計部", &policy);
    let drawing = protected_files(&colleague, work.path(), 1).remove(0);
    let own_dir = work.path().join("hammer");
    std::fs::create_dir(&own_dir).unwrap();
    let own = protected_files(&hammer, &own_dir, 1).remove(0);
    // Opened once while within budget: its offline licence is kept.
    hammer.fuda(&["open", common::p(&own)]).expect(0);

    // A valid token hammering the service: its budget of 30 a minute runs out.
    let hammer_token = token(&hammer);
    let mut answers = Vec::new();
    for _ in 0..60 {
        let (status, retry_after, v) = get_with_retry_after(&keyd, "/v1/me", &hammer_token);
        answers.push(status);
        if status == 429 {
            assert_eq!(v["error"], "too-many-requests", "{v}");
            let message = v["message"].as_str().unwrap();
            assert!(
                message.contains("hammer") && message.contains("30 requests"),
                "{message}"
            );
            let seconds = retry_after.expect("a 429 says when to come back");
            assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
        }
    }
    let served = answers.iter().filter(|s| **s == 200).count();
    assert!(
        answers.contains(&429) && served <= 33,
        "30 a minute, {served} served: {answers:?}"
    );
    // The hammering account's own `fuda open` says why it is refused.
    let refused = hammer.fuda(&["open", common::p(&drawing)]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("requests in a minute"),
        "{}",
        refused.stderr
    );

    // A 429 counts as the service being out of reach: what it holds offline still opens.
    let offline = hammer.fuda(&["open", common::p(&own)]).expect(0);
    assert_eq!(offline.stdout, "drawing 0\n", "{}", offline.stderr);

    // Meanwhile a colleague's licence is served.
    let opened = colleague.fuda(&["open", common::p(&drawing)]).expect(0);
    assert_eq!(opened.stdout, "drawing 0\n");

    // One audit record for the whole burst of refusals, naming the account.
    let (status, v) = keyd
        .api()
        .json("POST", "/v1/admin/audit", &token(&admin), &json!({}));
    assert_eq!(status, 200, "{v}");
    let throttled: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "account-throttled")
        .collect();
    assert_eq!(throttled.len(), 1, "one record per minute: {v}");
    assert_eq!(throttled[0]["actor"], "hammer");
    assert_eq!(throttled[0]["outcome"], "deny");
    assert_eq!(throttled[0]["detail"]["requests_per_minute"], 30);
    let (status, _) = keyd
        .api()
        .call_json_get("/v1/admin/audit/verify", &token(&admin));
    assert_eq!(status, 200);
}

#[test]
fn a_folder_opened_file_by_file_stays_far_within_the_default_request_budget() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keyd.log");
    let (keyd, admin, work) = service(&[], Some(&log));
    let (policy, _) = policy_with_recovery(work.path());
    let heavy = keyd.add(&admin, "heavy", "設計部", &policy);
    let files = protected_files(&heavy, work.path(), 40);
    let before = std::fs::read_to_string(&log).unwrap().len();

    // `fuda open` over a folder, four at a time, as fast as the machine goes.
    std::thread::scope(|s| {
        for part in files.chunks(10) {
            let heavy = &heavy;
            s.spawn(move || {
                for file in part {
                    let out = file.with_extension("out");
                    heavy
                        .fuda(&["open", common::p(file), "--out", common::p(&out)])
                        .expect(0);
                }
            });
        }
    });

    // Every request is logged with its user once answered; count this user's.
    let deadline = Instant::now() + Duration::from_secs(10);
    let requests = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let mine = text[before..]
            .lines()
            .filter(|l| l.contains(r#"user="heavy""#))
            .count();
        if mine >= files.len() || Instant::now() > deadline {
            assert!(!text[before..].contains("status=429"), "throttled:\n{text}");
            break mine;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // What a 10,000-file folder needs, whatever the speed, fits the default burst.
    let per_file = requests.div_ceil(files.len());
    eprintln!("{requests} requests for {} `fuda open --out`", files.len());
    assert!(
        per_file >= 1,
        "{requests} requests for {} files",
        files.len()
    );
    assert!(
        per_file * 10_000 <= fuda_keyd_server::guard::DEFAULT_ACCOUNT_REQUESTS_PER_MINUTE as usize,
        "{per_file} requests per `fuda open`: a 10,000-file folder would be throttled"
    );
}
