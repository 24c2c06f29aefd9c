//! The audit chain finds an edited or deleted record and names it.

use fuda_keyd::client::{Embedded, KeyService};
use fuda_keyd::directory::NewUser;

fn service_with_records(dir: &std::path::Path) -> Embedded {
    let age = age::x25519::Identity::generate();
    let admin = Embedded::open_or_init(
        dir,
        NewUser {
            name: "admin".into(),
            display_name: None,
            dept: None,
            admin: true,
            auditor: false,
            kind: Default::default(),
        },
        &age.to_public().to_string(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap();
    for name in ["a", "b", "c", "d"] {
        admin
            .user_add(NewUser {
                name: name.into(),
                display_name: None,
                dept: None,
                admin: false,
                auditor: false,
                kind: Default::default(),
            })
            .unwrap();
    }
    admin
}

fn sql(dir: &std::path::Path, statement: &str) {
    let db = rusqlite::Connection::open(dir.join("keyd.db")).unwrap();
    db.execute_batch(statement).unwrap();
}

#[test]
fn an_intact_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let admin = service_with_records(dir.path());
    let v = admin.audit_verify().unwrap();
    assert!(v.ok && v.records == 5, "{v:?}");
}

#[test]
fn an_edited_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    drop(service_with_records(dir.path()));
    sql(
        dir.path(),
        "UPDATE audit SET subject = 'mallory' WHERE seq = 3",
    );
    let admin = service_with_records_reopen(dir.path());
    let v = admin.audit_verify().unwrap();
    assert!(!v.ok);
    assert_eq!(v.bad_seq, Some(3));
    assert!(v.problem.unwrap().contains("record 3 was edited"));
}

#[test]
fn a_deleted_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    drop(service_with_records(dir.path()));
    sql(dir.path(), "DELETE FROM audit WHERE seq = 2");
    let v = service_with_records_reopen(dir.path())
        .audit_verify()
        .unwrap();
    assert_eq!(v.bad_seq, Some(2), "{v:?}");
    assert!(v.problem.unwrap().contains("record 2 is missing"));
}

#[test]
fn a_cut_tail_is_found() {
    let dir = tempfile::tempdir().unwrap();
    drop(service_with_records(dir.path()));
    sql(dir.path(), "DELETE FROM audit WHERE seq = 5");
    let v = service_with_records_reopen(dir.path())
        .audit_verify()
        .unwrap();
    assert!(!v.ok);
    assert_eq!(v.bad_seq, Some(5), "{v:?}");
}

fn service_with_records_reopen(dir: &std::path::Path) -> Embedded {
    Embedded::new(fuda_keyd::Service::open(dir).unwrap(), "admin")
}
