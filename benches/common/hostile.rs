//! Hostile clients for the key service benchmark (`FUDA_BENCH_HOSTILE=1`), all from
//! 127.0.0.2 while the well-behaved clients connect from 127.0.0.1:
//!
//! - **idle**: keeps opening plain TCP connections that never say anything (up to 2,000
//!   held at once, reopened as the service closes them);
//! - **slow**: 200 TLS connections sending a request's headers one byte at a time, each
//!   about one byte a second;
//! - **junk**: two keep-alive connections of an enrolled (hostile) user sending malformed
//!   JSON, wrong content types and bodies at the 1 MiB limit as fast as answered;
//! - **guess**: one connection guessing tokens as fast as answered.
//!
//! Each attacker counts what it sent; nothing here asserts anything about the service.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the attackers did.
#[derive(Default)]
pub struct Counts {
    pub idle_opened: AtomicU64,
    pub slow_bytes: AtomicU64,
    pub junk_requests: AtomicU64,
    pub guesses: AtomicU64,
}

const ATTACKER: &str = "127.0.0.2:0";

fn connect_from_attacker(to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&ATTACKER.parse::<SocketAddr>().unwrap().into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

fn tls_from_attacker(
    to: SocketAddr,
    fingerprint: &str,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let pin = fuda_keyd::tls::parse_fingerprint(fingerprint).ok()?;
    let config = Arc::new(fuda_keyd::tls::pinned_client_config(pin));
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    let conn = rustls::ClientConnection::new(config, name).ok()?;
    let tcp = connect_from_attacker(to).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).ok()?;
    }
    Some(tls)
}

/// Reads one answer's head and body (by content-length); false when the connection ended.
fn read_answer(tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return !head.contains("connection: close");
        }
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Starts every attacker; they stop when `stop` is set.
pub fn start(
    to: SocketAddr,
    fingerprint: &str,
    hostile_token: &str,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    {
        let (stop, counts) = (stop.clone(), counts.clone());
        threads.push(std::thread::spawn(move || {
            let mut held = std::collections::VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(c) = connect_from_attacker(to) {
                    counts.idle_opened.fetch_add(1, Ordering::Relaxed);
                    held.push_back(c);
                }
                if held.len() > 2_000 {
                    held.pop_front();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }));
    }
    {
        let (stop, counts, fp) = (stop.clone(), counts.clone(), fingerprint.to_owned());
        threads.push(std::thread::spawn(move || {
            let request = b"POST /v1/licences HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-slow: ";
            let mut slow: Vec<(Option<_>, usize)> = (0..200).map(|_| (None, 0)).collect();
            let tick = Duration::from_millis(5);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                for (conn, sent) in slow.iter_mut() {
                    if conn.is_none() {
                        *conn = tls_from_attacker(to, &fp);
                        *sent = 0;
                    }
                    if let Some(tls) = conn.as_mut() {
                        let byte = request.get(*sent).copied().unwrap_or(b'a');
                        if tls.write_all(&[byte]).and_then(|_| tls.flush()).is_err() {
                            *conn = None;
                        } else {
                            *sent += 1;
                            counts.slow_bytes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(tick);
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                let _ = started;
            }
        }));
    }
    let junk: Vec<Vec<u8>> = {
        let big = vec![b'['; (1 << 20) - 1];
        let bodies: [(&str, &[u8]); 4] = [
            (
                "application/json",
                b"{\"header\": \"not base64!\", \"rights\": 7",
            ),
            ("text/plain", b"view please"),
            (
                "application/json",
                b"{\"header\": [1,2,3], \"rights\": \"view\"}",
            ),
            ("application/json", &big),
        ];
        bodies
            .iter()
            .map(|(ct, body)| {
                let mut r = format!(
                    "POST /v1/licences HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {hostile_token}\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            })
            .collect()
    };
    let junk = Arc::new(junk);
    for _ in 0..2 {
        let (stop, counts, fp, junk) = (
            stop.clone(),
            counts.clone(),
            fingerprint.to_owned(),
            junk.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let Some(mut tls) = tls_from_attacker(to, &fp) else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    if tls.write_all(&junk[i % junk.len()]).is_err() || !read_answer(&mut tls) {
                        break;
                    }
                    counts.junk_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    {
        let (stop, counts, fp) = (stop, counts, fingerprint.to_owned());
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Some(mut tls) = tls_from_attacker(to, &fp) else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let guess = format!(
                        "GET /v1/me HTTP/1.1\r\nhost: x\r\nauthorization: Bearer fuda_guess{n:016}\r\n\r\n"
                    );
                    if tls.write_all(guess.as_bytes()).is_err() || !read_answer(&mut tls) {
                        break;
                    }
                    counts.guesses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    threads
}

/// Resident and peak resident memory of a process, in MiB (`VmRSS`, `VmHWM`).
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
