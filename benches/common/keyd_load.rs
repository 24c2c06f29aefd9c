//! The licence benchmarks' load generator (benches/keyd.rs, benches/keyd_replicas.rs,
//! benches/console_documents.rs): the documents they ask for, their licence requests, a
//! lean keep-alive HTTPS/1.1 client, and the CPU time of processes from `/proc`.

use std::sync::Arc;
use std::time::Duration;

/// Registers `docs` protected drawings (level `confidential`, owner `owner`, 設計部 may view
/// and edit) through `owner`, each header made for `recipient` with the signed label
/// `label(doc_id)` returns; returns the headers, in order.
pub fn register_drawings(
    owner: &dyn fuda_keyd::client::KeyService,
    recipient: &age::x25519::Recipient,
    docs: usize,
    label: impl Fn(&str) -> Vec<u8>,
) -> Vec<Vec<u8>> {
    use fuda_core::envelope::{self, LabelStanza, StreamOptions};
    (0..docs)
        .map(|i| {
            let doc = ulid::Ulid::new().to_string();
            let stanza = LabelStanza::new(doc.parse().unwrap(), label(&doc));
            let header = envelope::encrypt(
                std::slice::from_ref(recipient),
                Some(&stanza),
                &b"drawing"[..],
                std::io::sink(),
                &StreamOptions::default(),
            )
            .unwrap()
            .to_bytes();
            owner
                .register(fuda_keyd::registry::Registration {
                    header: header.clone(),
                    name: format!("bracket-{i}.dxf").into(),
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
                    path: format!("/bench/bracket-{i}.dxf").into(),
                    owners: Vec::new(),
                    dept_rights: None,
                })
                .unwrap();
            header
        })
        .collect()
}

/// For each header, the whole HTTP/1.1 request of a `view` licence for it as `token`'s
/// owner, ready for [`Lean::post`].
pub fn licence_requests(token: &str, headers: &[Vec<u8>]) -> Vec<Vec<u8>> {
    headers
        .iter()
        .map(|h| {
            let body = serde_json::to_vec(&fuda_keyd::licence::Request {
                header: h.clone(),
                rights: "view".parse().unwrap(),
            })
            .unwrap();
            let mut req = format!(
                "POST /v1/licences HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend(body);
            req
        })
        .collect()
}

/// A keep-alive HTTPS/1.1 connection that sends prepared requests.
pub struct Lean {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    buf: Vec<u8>,
}

impl Lean {
    pub fn connect(url: &str, fingerprint: &str) -> Lean {
        let addr = url.strip_prefix("https://").unwrap();
        let pin = fuda_keyd::tls::parse_fingerprint(fingerprint).unwrap();
        let config = Arc::new(fuda_keyd::tls::pinned_client_config(pin));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config, name).unwrap();
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        Lean {
            tls: rustls::StreamOwned::new(conn, tcp),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends one request and returns the body of its answer, which must be 200.
    pub fn post(&mut self, request: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        self.tls.write_all(request).unwrap();
        self.tls.flush().unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = self.tls.read(&mut chunk).unwrap();
            assert!(n > 0, "the service closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .unwrap()
            .to_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .expect("a content-length");
        while self.buf.len() < head_end + len {
            let n = self.tls.read(&mut chunk).unwrap();
            assert!(n > 0, "the service closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        self.buf[head_end..head_end + len].to_vec()
    }
}

/// Makes a key service's data directory at `data` with the administrator `admin`.
pub fn init_with_admin(data: &std::path::Path) -> fuda_keyd_server::http::Init {
    fuda_keyd_server::http::init(data, admin_user()).unwrap()
}

/// The benchmarks' first admin, `admin`.
pub fn admin_user() -> fuda_keyd::directory::NewUser {
    fuda_keyd::directory::NewUser {
        name: "admin".into(),
        display_name: None,
        dept: None,
        admin: true,
        auditor: false,
        kind: Default::default(),
    }
}

/// Starts `fuda-keyd serve --data DATA` on a free port of 127.0.0.1 with `args` after
/// it and the log at `log_level`; the process and its URL.
pub fn serve(
    bin: &std::path::Path,
    data: &std::path::Path,
    args: &[String],
    log_level: &str,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(bin)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("FUDA_KEYD_LOG", log_level)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!(
        "https://{}",
        line.trim().strip_prefix("listening on ").unwrap()
    );
    (child, url)
}

/// The `fuda-keyd serve` arguments for a benchmark whose clients are all one account:
/// `--max-requests-per-account-per-minute` of `FUDA_BENCH_ACCOUNT_LIMIT` (default
/// 100,000,000), so the per-account check runs on every request and never refuses; `0`
/// leaves the flag out (for a `FUDA_BENCH_KEYD` built before it existed).
pub fn account_limit_args() -> Vec<String> {
    let limit = std::env::var("FUDA_BENCH_ACCOUNT_LIMIT").unwrap_or_else(|_| "100000000".into());
    match limit.as_str() {
        "0" => vec![],
        _ => vec!["--max-requests-per-account-per-minute".into(), limit],
    }
}

/// User + system CPU seconds of a process (`self` or a pid), from `/proc/PID/stat`.
pub fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    ticks / 100.0
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
