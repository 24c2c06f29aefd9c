//! Machine reports into the company's file index, and the index read back in a stable
//! order (the interface the company ledger is built on).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use base64::Engine as _;
use fuda_keyd::client::{Embedded, KeyService};
use fuda_keyd::directory::{Enrollment, EntryKind, NewUser};
use fuda_keyd::report::{self, IndexOrder, IndexedFile, SignedChunk};
use fuda_keyd::{Error, Service};
use ring::signature::{Ed25519KeyPair, KeyPair};

const DOC: &str = "01JDQ5V8N8ZK4Y3W2X1T0S9R8Q";

struct Machine {
    client: Embedded,
    key: Ed25519KeyPair,
}

impl Machine {
    fn chunk(&self, value: serde_json::Value) -> SignedChunk {
        sign(&self.key, value)
    }

    fn send(&self, value: serde_json::Value) -> Result<report::ReportAck, Error> {
        self.client.report(&self.chunk(value))
    }
}

fn sign(key: &Ed25519KeyPair, value: serde_json::Value) -> SignedChunk {
    let body = serde_json::to_vec(&value).unwrap();
    let signature = key.sign(&report::signing_input(&body)).as_ref().to_vec();
    SignedChunk { body, signature }
}

fn new_key() -> Ed25519KeyPair {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn service(dir: &std::path::Path) -> Embedded {
    let age = age::x25519::Identity::generate();
    Embedded::open_or_init(
        dir,
        NewUser {
            name: "admin".into(),
            display_name: None,
            dept: None,
            admin: true,
            auditor: false,
            kind: EntryKind::Person,
        },
        &age.to_public().to_string(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap()
}

/// Adds `name` of `kind` to the directory and enrolls it with a fresh key.
fn enroll(admin: &Embedded, name: &str, kind: EntryKind) -> Machine {
    let added = admin
        .user_add(NewUser {
            name: name.into(),
            display_name: None,
            dept: None,
            admin: false,
            auditor: false,
            kind,
        })
        .unwrap();
    let key = new_key();
    admin
        .service()
        .enroll(Enrollment {
            code: added.code,
            recipient: age::x25519::Identity::generate().to_public().to_string(),
            signing_key: base64::engine::general_purpose::STANDARD.encode(key.public_key()),
        })
        .unwrap();
    Machine {
        client: Embedded::new(admin.service().clone(), name),
        key,
    }
}

/// A file record as `fuda inventory` writes it (`fuda_ledger::inventory::FileEntry`).
fn record(path: &[u8], doc: Option<&str>) -> serde_json::Value {
    let path = match std::str::from_utf8(path) {
        Ok(text) => serde_json::json!({ "text": text }),
        Err(_) => {
            serde_json::json!({ "bytes": base64::engine::general_purpose::STANDARD.encode(path) })
        }
    };
    let mut r = serde_json::json!({
        "path": path, "root": "/srv", "size": 12, "modified": 1_700_000_000,
        "status": "valid", "store": "xattr", "protected": false, "level": "confidential",
        "sha256": "ab".repeat(32),
    });
    if let Some(doc) = doc {
        r["doc"] = doc.into();
    }
    r
}

fn chunk(
    machine: &str,
    report: &str,
    seq: u32,
    last: bool,
    files: Vec<serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({ "machine": machine, "report": report, "seq": seq, "last": last, "files": files })
}

fn scan(service: &Service, order: IndexOrder) -> Vec<IndexedFile> {
    let mut files = Vec::new();
    service
        .index_scan(order, |f| {
            files.push(f);
            Ok::<(), Error>(())
        })
        .unwrap();
    files
}

fn places(files: &[IndexedFile]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|f| (f.machine.clone(), f.path.as_os_str().as_bytes().to_vec()))
        .collect()
}

/// `/srv/見積.txt` as a CP932 file server names it.
const CP932: &[u8] = b"/srv/\x8c\xa9\x90\xcf.txt";

#[test]
fn reports_land_in_the_index_which_reads_back_in_a_stable_order_with_records_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let admin = service(dir.path());
    let a = enroll(&admin, "srv-a", EntryKind::Machine);
    let pc = enroll(&admin, "pc-1", EntryKind::Hook);
    let sent_a = vec![
        record(b"/srv/z.txt", None),
        record(CP932, Some(DOC)),
        record(b"/srv/a.txt", None),
    ];
    let ack = a
        .send(chunk("srv-a", "r1", 0, true, sent_a.clone()))
        .unwrap();
    assert_eq!((ack.applied, ack.files), (true, 3));
    pc.send(chunk(
        "pc-1",
        "r1",
        0,
        true,
        vec![record(b"/home/copy.txt", Some(DOC))],
    ))
    .unwrap();

    let service = admin.service();
    let by_place = scan(service, IndexOrder::MachinePath);
    assert_eq!(
        places(&by_place),
        [
            ("pc-1".into(), b"/home/copy.txt".to_vec()),
            ("srv-a".into(), b"/srv/a.txt".to_vec()),
            ("srv-a".into(), b"/srv/z.txt".to_vec()),
            // Byte order: 0x8c sorts after every ASCII letter.
            ("srv-a".into(), CP932.to_vec()),
        ]
    );
    // Each record is kept exactly as the machine sent it.
    let cp932 = &by_place[3];
    assert_eq!(cp932.record_json, serde_json::to_vec(&sent_a[1]).unwrap());
    assert_eq!(cp932.doc.as_deref(), Some(DOC));
    assert_eq!(cp932.sha256, Some("ab".repeat(32)));

    // By document: the unlabeled first, then both copies of DOC side by side.
    let by_doc = scan(service, IndexOrder::DocId);
    assert_eq!(
        places(&by_doc[2..]),
        [
            ("pc-1".into(), b"/home/copy.txt".to_vec()),
            ("srv-a".into(), CP932.to_vec())
        ]
    );
    assert!(by_doc[..2].iter().all(|f| f.doc.is_none()));

    let machines = service.machines().unwrap();
    let summary: Vec<_> = machines
        .iter()
        .map(|m| (m.name.as_str(), m.kind, m.files, m.last_report_at.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            ("pc-1", EntryKind::Hook, 1, true),
            ("srv-a", EntryKind::Machine, 3, true)
        ]
    );
    assert_eq!(
        machines[0].expected_interval_s,
        report::DEFAULT_INTERVAL_S,
        "a machine that never said otherwise is expected daily"
    );
    // A machine of the directory that never reported is listed, and overdue; a hook that
    // only labels is not a reporting machine.
    enroll(&admin, "pc-9", EntryKind::Machine);
    enroll(&admin, "fs-hook", EntryKind::Hook);
    let names: Vec<_> = service
        .machines()
        .unwrap()
        .into_iter()
        .map(|m| (m.name.clone(), m.overdue(fuda_keyd::now())))
        .collect();
    assert_eq!(
        names,
        [
            ("pc-1".to_owned(), false),
            ("pc-9".to_owned(), true),
            ("srv-a".to_owned(), false)
        ]
    );
}

#[test]
fn a_retried_chunk_changes_nothing_and_a_cut_off_report_is_audited_once_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let admin = service(dir.path());
    let a = enroll(&admin, "srv-a", EntryKind::Machine);
    let first = chunk("srv-a", "r1", 0, false, vec![record(b"/srv/1", None)]);
    assert!(a.send(first.clone()).unwrap().applied);
    let again = a.send(first).unwrap();
    assert!(
        !again.applied,
        "a retried chunk is acknowledged, not applied"
    );
    // Chunk 2 before chunk 1 is refused.
    let skipped = a.send(chunk("srv-a", "r1", 2, true, vec![]));
    assert!(matches!(skipped, Err(Error::Conflict(_))), "{skipped:?}");
    // Another report runs beside it (a watcher's beside a timer's): both complete.
    a.send(chunk("srv-a", "w1", 0, true, vec![record(b"/srv/w", None)]))
        .unwrap();
    a.send(chunk(
        "srv-a",
        "r1",
        1,
        false,
        vec![record(b"/srv/3", None)],
    ))
    .unwrap();
    // r1 is cut off here. An hour later the next report sends the rest and a removal;
    // r1 then gets its audit record, as incomplete.
    let later = fuda_keyd::now() + fuda_keyd::service::ABANDONED_AFTER_S + 1;
    std::env::set_var("FUDA_KEYD_NOW", later.to_string());
    let mut next = chunk("srv-a", "r2", 0, true, vec![record(b"/srv/2", None)]);
    next["removed"] = serde_json::json!([{ "text": "/srv/1" }]);
    next["interval_s"] = 3600.into();
    let sent = a.send(next);
    let late = a.send(chunk("srv-a", "r1", 2, true, vec![]));
    std::env::remove_var("FUDA_KEYD_NOW");
    sent.unwrap();
    assert!(
        matches!(late, Err(Error::Conflict(_))),
        "an abandoned report is over: {late:?}"
    );
    let files = scan(admin.service(), IndexOrder::MachinePath);
    assert_eq!(
        places(&files),
        [
            ("srv-a".into(), b"/srv/2".to_vec()),
            ("srv-a".into(), b"/srv/3".to_vec()),
            ("srv-a".into(), b"/srv/w".to_vec())
        ]
    );
    assert_eq!(
        admin.service().machines().unwrap()[0].expected_interval_s,
        3600
    );

    // One audit record per report (and one per refusal).
    let reports: Vec<_> = admin
        .audit(Default::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.event.action == "report")
        .map(|r| {
            (
                r.event.outcome.as_str(),
                r.event.detail["report"].as_str().map(str::to_owned),
                r.event.detail["complete"].as_bool(),
            )
        })
        .collect();
    let s = |t: &str| Some(t.to_owned());
    assert_eq!(
        reports,
        [
            ("deny", s("r1"), None),
            ("allow", s("w1"), Some(true)),
            ("allow", s("r1"), Some(false)),
            ("allow", s("r2"), Some(true)),
            ("deny", s("r1"), None),
        ]
    );
}

#[test]
fn forged_reports_are_refused_audited_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let admin = service(dir.path());
    let a = enroll(&admin, "srv-a", EntryKind::Machine);
    let b = enroll(&admin, "srv-b", EntryKind::Machine);
    let person = enroll(&admin, "tanaka", EntryKind::Person);
    let files = || vec![record(b"/srv/x", None)];

    let other = b.send(chunk("srv-a", "f1", 0, true, files()));
    let wrong_key = a
        .client
        .report(&sign(&new_key(), chunk("srv-a", "f2", 0, true, files())));
    let mut altered = a.chunk(chunk("srv-a", "f3", 0, true, files()));
    altered.body = serde_json::to_vec(&chunk("srv-a", "f3", 0, true, vec![])).unwrap();
    let altered = a.client.report(&altered);
    let not_a_machine = person.send(chunk("tanaka", "f4", 0, true, files()));
    for refused in [&other, &wrong_key, &altered, &not_a_machine] {
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    }
    assert!(scan(admin.service(), IndexOrder::MachinePath).is_empty());
    let reasons: Vec<_> = admin
        .audit(Default::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.event.action == "report")
        .map(|r| r.event.reason.unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        [
            "other-machine",
            "bad-signature",
            "bad-signature",
            "not-a-reporter"
        ]
    );

    // Malformed: refused before anything is looked up or written.
    for body in [
        serde_json::json!({"machine": "srv-a"}),
        chunk(
            "srv-a",
            "m1",
            0,
            true,
            vec![
                serde_json::json!({"path": "relative", "size": 1, "modified": 0, "status": "valid"}),
            ],
        ),
        chunk(
            "srv-a",
            "m2",
            0,
            true,
            vec![record(b"/srv/x", None), record(b"/srv/x", None)],
        ),
        chunk(
            "srv-a",
            "m3",
            0,
            true,
            vec![
                serde_json::json!({"path": {"text": "/srv/y"}, "size": 1, "modified": 0, "status": "nonsense"}),
            ],
        ),
    ] {
        let refused = a.send(body);
        assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
    }
    assert!(scan(admin.service(), IndexOrder::MachinePath).is_empty());
}

#[test]
fn a_scan_stops_at_the_first_error_of_its_callback() {
    let dir = tempfile::tempdir().unwrap();
    let admin = service(dir.path());
    let a = enroll(&admin, "srv-a", EntryKind::Machine);
    let files = (0..5)
        .map(|i| record(format!("/srv/{i}").as_bytes(), None))
        .collect();
    a.send(chunk("srv-a", "r1", 0, true, files)).unwrap();
    let mut seen = Vec::<PathBuf>::new();
    let stopped = admin.service().index_scan(IndexOrder::Sha256, |f| {
        seen.push(f.path);
        if seen.len() == 2 {
            return Err(Error::Invalid("the ledger's disk is full".into()));
        }
        Ok(())
    });
    assert!(matches!(stopped, Err(Error::Invalid(_))));
    assert_eq!(seen, [PathBuf::from("/srv/0"), PathBuf::from("/srv/1")]);
}
