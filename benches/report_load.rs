//! A machine's first report into the company file index, for `benches/keyd.rs`
//! (`FUDA_BENCH_REPORT_FILES`): a machine enrolled with its own Ed25519 key sends N
//! inventory records (the size and shape `fuda inventory` writes: labeled files with a
//! document id, level, signer and content digest) in signed chunks of 1,000 over the
//! CLI's own HTTPS client, one chunk after the other, as `fuda inventory --report` does.

use std::time::{Duration, Instant};

use base64::Engine as _;
use fuda_keyd::client::{KeyService, Remote};
use fuda_keyd::directory::{Enrollment, EntryKind, NewUser};
use fuda_keyd::report::{self, SignedChunk};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// An enrolled reporting machine.
pub struct Machine {
    client: Remote,
    key: Ed25519KeyPair,
}

impl Machine {
    /// Adds `srv-bench` (kind machine) with `admin` and enrolls it through `anon`.
    pub fn enroll(admin: &Remote, anon: &Remote, url: &str, fingerprint: &str) -> Machine {
        let code = admin
            .user_add(NewUser {
                name: "srv-bench".into(),
                display_name: None,
                dept: None,
                admin: false,
                auditor: false,
                kind: EntryKind::Machine,
            })
            .unwrap()
            .code;
        let rng = ring::rand::SystemRandom::new();
        let key =
            Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
                .unwrap();
        let token = anon
            .enroll(&Enrollment {
                code,
                recipient: age::x25519::Identity::generate().to_public().to_string(),
                signing_key: base64::engine::general_purpose::STANDARD.encode(key.public_key()),
            })
            .unwrap()
            .token;
        Machine {
            client: Remote::new(url, fingerprint, Some(token)).unwrap(),
            key,
        }
    }

    /// Chunk `seq` of a report of `files` records (the last one says so).
    fn chunk(&self, files: usize, seq: usize) -> SignedChunk {
        const PER: usize = 1_000;
        let first = seq * PER;
        let records: Vec<serde_json::Value> = (first..(first + PER).min(files))
            .map(|i| {
                serde_json::json!({
                    "path": {"text": format!("/srv/share/d{:04}/f{i:07}.txt", i / 1000)},
                    "root": "/srv/share", "size": 1024, "modified": 1_764_900_000 + i as i64,
                    "status": "valid", "store": "xattr", "protected": false,
                    "doc": ulid::Ulid::from_parts(i as u64, 7).to_string(),
                    "level": "confidential", "owner": "tanaka", "dept": "設計部",
                    "method": "manual", "set_at": 1_764_900_000, "signer": "tanaka",
                    "sha256": format!("{:064x}", i),
                })
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({
            "machine": "srv-bench", "report": "bench", "seq": seq,
            "last": first + PER >= files, "interval_s": 86_400, "files": records,
        }))
        .unwrap();
        let signature = self
            .key
            .sign(&report::signing_input(&body))
            .as_ref()
            .to_vec();
        SignedChunk { body, signature }
    }

    /// Sends a first report of `files` records; returns the time the service took to
    /// take them (from the first chunk sent to the last acknowledged) and the bytes sent.
    /// The chunks are made on another thread, ahead of the sending.
    pub fn report(&self, files: usize) -> (Duration, u64) {
        let chunks = files.div_ceil(1_000);
        let (tx, rx) = std::sync::mpsc::sync_channel::<SignedChunk>(4);
        std::thread::scope(|s| {
            s.spawn(|| {
                for seq in 0..chunks {
                    if tx.send(self.chunk(files, seq)).is_err() {
                        break;
                    }
                }
            });
            let mut bytes = 0;
            let mut start = None;
            for chunk in rx.iter().take(chunks) {
                start.get_or_insert_with(Instant::now);
                bytes += chunk.body.len() as u64;
                let ack = self.client.report(&chunk).unwrap();
                assert!(ack.applied);
            }
            (start.map_or(Duration::ZERO, |s| s.elapsed()), bytes)
        })
    }
}
