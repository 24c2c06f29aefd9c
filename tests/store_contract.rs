//! The store contract: every `Tx` method behaves the same on SQLite and on PostgreSQL.
//!
//! Each scenario is written once against `&mut dyn Store` and run twice, on a SQLite file
//! and on a database of a private PostgreSQL cluster (tests/common/postgres.rs). A new
//! `Tx` method gets a scenario here; the two stores then agree or this suite says where
//! they differ. `copy_moves_everything` also runs the migration from SQLite to each.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use fuda_keyd::audit::{self, Event, Query};
use fuda_keyd::directory::{EntryKind, User, UserStatus};
use fuda_keyd::policy::PolicyVersion;
use fuda_keyd::registry::{Document, Grant, Principal, Revocation};
use fuda_keyd::report::{Columns, IndexOrder, IndexRow, IndexedFile};
use fuda_keyd::store::{append_audit, copy, Database, DocRow, ReportState, Store, StoreError, Tx};

/// A place for one store, kept alive for the test.
enum Place {
    Sqlite(tempfile::TempDir),
    /// The cluster lives as long as the place.
    Postgres(#[allow(dead_code)] common::postgres::Cluster, String),
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Option<Place> {
        let cluster = common::postgres::Cluster::start(false)?;
        let url = cluster.database("contract");
        Some(Place::Postgres(cluster, url))
    }

    fn database(&self) -> Database {
        match self {
            Place::Sqlite(dir) => {
                Database::parse(&format!("sqlite:{}", dir.path().join("keyd.db").display()))
                    .unwrap()
            }
            Place::Postgres(_, url) => Database::parse(url).unwrap(),
        }
    }

    /// A new handle on the store (another replica, for PostgreSQL).
    fn open(&self) -> Box<dyn Store> {
        self.database().open().unwrap()
    }
}

/// Runs `f` in one committed transaction and returns its result.
fn tx<T>(store: &mut dyn Store, f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>) -> T {
    let mut f = Some(f);
    let mut out = None;
    store
        .transaction(&mut |t| {
            out = Some((f.take().expect("run once"))(t)?);
            Ok(())
        })
        .unwrap();
    out.unwrap()
}

fn key() -> ring::hmac::Key {
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"contract audit key")
}

fn user(name: &str, dept: Option<&str>) -> User {
    User {
        name: name.into(),
        display_name: format!("{name} 太郎"),
        dept: dept.map(Into::into),
        status: UserStatus::Active,
        admin: false,
        recipient: Some(format!("age1{name}")),
        signing_key: None,
        groups: Vec::new(),
        kind: EntryKind::Person,
        auditor: false,
    }
}

fn doc(id: &str, created_at: i64, name: &[u8]) -> DocRow {
    DocRow {
        doc: Document {
            id: id.into(),
            name: PathBuf::from(OsStr::from_bytes(name)),
            level: "極秘".into(),
            owner: "alice".into(),
            grants: vec![
                Grant {
                    principal: Principal::Owner,
                    rights: "view,edit".parse().unwrap(),
                },
                Grant {
                    principal: "group:設計".parse().unwrap(),
                    rights: "view".parse().unwrap(),
                },
            ],
            max_rights: "view,edit,print".parse().unwrap(),
            expires_at: Some(2_000_000_000),
            offline_days: 3,
            size: 5_000_000_000,
            digest: "sha256:00".into(),
            host: "ws-01".into(),
            path: PathBuf::from(OsStr::from_bytes(b"/share/\xff\xfe/"))
                .join(OsStr::from_bytes(name)),
            key_version: 2,
            created_at,
            revoked: false,
            version: 1,
        },
        key_check: [7u8; 32],
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::Place::sqlite());
            }
            #[test]
            fn postgres() {
                if let Some(place) = super::Place::postgres() {
                    super::$name(&place);
                }
            }
        }
    )*};
}

contract!(
    the_file_index_keeps_path_bytes_and_scans_in_byte_order,
    machines_are_every_reporting_identity,
    report_states_are_kept_replaced_and_forgotten,
    document_versions_count_up_and_the_owner_and_level_change,
    the_auditor_flag_round_trips,
    console_links_and_sessions_are_kept_by_hash,
    metadata_is_kept_by_key,
    users_tokens_and_enrollment_codes,
    groups_and_departments_sort_bytewise,
    documents_keep_grants_caps_and_name_bytes,
    revocations_touch_exactly_their_document_and_user,
    policy_versions_are_kept_in_order,
    audit_records_chain_and_answer_queries,
    a_job_undone_leaves_nothing_and_the_chain_goes_on,
    a_failed_transaction_commits_nothing,
    two_handles_append_to_one_chain,
    copy_moves_everything,
    keys_with_a_nul_byte_find_nothing_and_are_audited_exactly,
    reads_in_a_transaction_see_its_own_writes,
    what_another_handle_committed_is_read_by_the_next_transaction,
);

fn metadata_is_kept_by_key(place: &Place) {
    let s = &mut *place.open();
    assert_eq!(tx(s, |t| t.meta_get("service_id")), None);
    tx(s, |t| {
        t.meta_set("service_id", "01J")?;
        t.meta_set("recovery", "age1a")?;
        t.meta_set("recovery", "age1b")
    });
    assert_eq!(tx(s, |t| t.meta_get("recovery")), Some("age1b".into()));
    assert_eq!(
        tx(s, |t| t.meta_all()),
        vec![
            ("recovery".to_owned(), "age1b".to_owned()),
            ("service_id".to_owned(), "01J".to_owned())
        ]
    );
}

fn users_tokens_and_enrollment_codes(place: &Place) {
    let s = &mut *place.open();
    let mut bob = user("bob", Some("設計"));
    bob.admin = true;
    bob.kind = EntryKind::Hook;
    tx(s, |t| {
        t.user_put(&user("carol", None))?;
        t.user_put(&bob)?;
        t.user_put(&user("Alice", None))?;
        t.group_member("品質", "bob", true)?;
        t.group_member("営業", "bob", true)
    });
    let got = tx(s, |t| t.user_get("bob")).unwrap();
    assert_eq!(
        got.groups,
        ["品質", "営業"],
        "byte order (U+54C1 before U+55B6)"
    );
    assert_eq!(
        got,
        User {
            groups: got.groups.clone(),
            ..bob.clone()
        }
    );
    assert!(tx(s, |t| t.user_get("nobody")).is_none());
    // Replacing keeps the name and changes the rest.
    bob.status = UserStatus::Disabled;
    bob.recipient = None;
    tx(s, |t| t.user_put(&bob));
    let got = tx(s, |t| t.user_get("bob")).unwrap();
    assert_eq!((got.status, got.recipient), (UserStatus::Disabled, None));
    let names: Vec<String> = tx(s, |t| t.user_list())
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["Alice", "bob", "carol"], "byte order, as SQLite");

    tx(s, |t| {
        t.token_add(&[1; 32], "bob", 100)?;
        t.token_add(&[2; 32], "bob", 200)?;
        t.token_add(&[3; 32], "carol", 300)
    });
    assert_eq!(tx(s, |t| t.token_user(&[2; 32])), Some(("bob".into(), 200)));
    assert_eq!(tx(s, |t| t.token_user(&[9; 32])), None);
    assert_eq!(tx(s, |t| t.token_all()).len(), 3);
    assert_eq!(tx(s, |t| t.token_delete_user("bob")), 2);
    assert_eq!(tx(s, |t| t.token_delete_user("bob")), 0);
    assert_eq!(
        tx(s, |t| t.token_all()),
        vec![([3; 32], "carol".to_owned(), 300)]
    );

    tx(s, |t| t.enrollment_add(&[5; 32], "carol", 999));
    assert_eq!(
        tx(s, |t| t.enrollment_all()),
        vec![([5; 32], "carol".to_owned(), 999)]
    );
    assert_eq!(
        tx(s, |t| t.enrollment_take(&[5; 32])),
        Some(("carol".into(), 999))
    );
    assert_eq!(
        tx(s, |t| t.enrollment_take(&[5; 32])),
        None,
        "a code works once"
    );
}

fn groups_and_departments_sort_bytewise(place: &Place) {
    let s = &mut *place.open();
    tx(s, |t| {
        t.user_put(&user("dave", Some("Sales")))?;
        t.user_put(&user("erin", Some("Sales")))?;
        t.group_add("audit")?;
        t.group_add("audit")?;
        t.group_add("Board")?;
        t.group_member("Board", "erin", true)?;
        t.group_member("Board", "dave", true)?;
        t.group_member("Board", "dave", true)?;
        t.group_member("audit", "dave", true)?;
        t.group_member("audit", "dave", false)
    });
    assert!(tx(s, |t| t.group_exists("audit")));
    assert!(
        tx(s, |t| t.group_exists("Sales")),
        "a department is a group"
    );
    assert!(
        !tx(s, |t| t.group_exists("sales")),
        "names are case-sensitive"
    );
    let groups: Vec<(String, Vec<String>)> = tx(s, |t| t.group_list())
        .into_iter()
        .map(|g| (g.name, g.members))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("Board".into(), vec!["dave".into(), "erin".into()]),
            ("Sales".into(), vec!["dave".into(), "erin".into()]),
            ("audit".into(), vec![]),
        ]
    );
}

fn documents_keep_grants_caps_and_name_bytes(place: &Place) {
    let s = &mut *place.open();
    let a = doc("01B", 20, b"\x83\x7d\x83\x93.dxf");
    let b = doc("01A", 10, "図面.dxf".as_bytes());
    tx(s, |t| {
        t.doc_insert(&a)?;
        t.doc_insert(&b)
    });
    let got = tx(s, |t| t.doc_get("01B")).unwrap();
    assert_eq!(got.key_check, [7u8; 32]);
    assert_eq!(got.doc.name.as_os_str().as_bytes(), b"\x83\x7d\x83\x93.dxf");
    let mut want = a.doc.clone();
    want.grants.sort_by_key(|g| g.principal.to_string());
    assert_eq!(got.doc, want);
    assert!(tx(s, |t| t.doc_get("nope")).is_none());
    let ids: Vec<String> = tx(s, |t| t.doc_list()).into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["01A", "01B"], "oldest first");

    tx(s, |t| {
        t.doc_set_caps("01B", "view".parse().unwrap(), None, 0)?;
        t.grant_set(
            "01B",
            &Grant {
                principal: Principal::Owner,
                rights: "view".parse().unwrap(),
            },
        )?;
        t.grant_set(
            "01B",
            &Grant {
                principal: "user:zoe".parse().unwrap(),
                rights: "print".parse().unwrap(),
            },
        )
    });
    assert!(tx(s, |t| t.grant_remove("01B", &"group:設計".parse().unwrap())));
    assert!(!tx(s, |t| t.grant_remove("01B", &"group:設計".parse().unwrap())));
    let got = tx(s, |t| t.doc_get("01B")).unwrap().doc;
    assert_eq!(
        (got.max_rights.to_string(), got.expires_at, got.offline_days),
        ("view".into(), None, 0)
    );
    let grants: Vec<String> = got
        .grants
        .iter()
        .map(|g| format!("{}={}", g.principal, g.rights))
        .collect();
    assert_eq!(grants, ["owner=view", "user:zoe=print"]);

    tx(s, |t| {
        t.revocation_add(&Revocation {
            doc: Some("01A".into()),
            user: None,
            at: 5,
            by: "admin".into(),
        })
    });
    assert!(tx(s, |t| t.doc_get("01A")).unwrap().doc.revoked);
    let listed = tx(s, |t| t.doc_list());
    assert_eq!(
        listed.iter().map(|d| d.revoked).collect::<Vec<_>>(),
        [true, false]
    );
    // A snapshot (the console's and the API's listing, beside the writer) lists exactly
    // what the writer does, grants and revocations and name bytes too, as of its opening.
    let mut snapshot = (s.snapshots())().unwrap();
    assert_eq!(snapshot.documents().unwrap(), listed);
    tx(s, |t| t.doc_insert(&doc("01C", 30, b"later.dxf")));
    assert_eq!(
        snapshot.documents().unwrap(),
        listed,
        "a snapshot stays as it was"
    );
    assert_eq!((s.snapshots())().unwrap().documents().unwrap().len(), 3);
    // A second registration of one id is refused, not merged.
    let mut s2 = place.open();
    let dup = s2.transaction(&mut |t| t.doc_insert(&b));
    assert!(dup.is_err());
}

fn revocations_touch_exactly_their_document_and_user(place: &Place) {
    let s = &mut *place.open();
    let rev = |doc: Option<&str>, user: Option<&str>, at| Revocation {
        doc: doc.map(Into::into),
        user: user.map(Into::into),
        at,
        by: "admin".into(),
    };
    tx(s, |t| {
        t.revocation_add(&rev(Some("D1"), None, 1))?;
        t.revocation_add(&rev(None, Some("mallory"), 2))?;
        t.revocation_add(&rev(Some("D2"), Some("bob"), 3))?;
        t.revocation_add(&rev(Some("D2"), Some("bob"), 4))
    });
    let for_ = |s: &mut dyn Store, d: &'static str, u: &'static str| {
        let mut r = tx(s, move |t| t.revocations_for(d, u));
        r.sort_by_key(|r| r.at);
        r.into_iter().map(|r| r.at).collect::<Vec<_>>()
    };
    assert_eq!(for_(s, "D1", "alice"), [1]);
    assert_eq!(for_(s, "D3", "mallory"), [2]);
    assert_eq!(for_(s, "D2", "bob"), [3], "a second revocation is a no-op");
    assert_eq!(for_(s, "D2", "alice"), Vec::<i64>::new());
    assert_eq!(for_(s, "D3", "bob"), Vec::<i64>::new());
    assert_eq!(
        tx(s, |t| t.revocation_list()),
        vec![
            rev(Some("D1"), None, 1),
            rev(None, Some("mallory"), 2),
            rev(Some("D2"), Some("bob"), 3)
        ]
    );
    assert!(tx(s, |t| t.revocation_remove(None, Some("mallory"))));
    assert!(!tx(s, |t| t.revocation_remove(None, Some("mallory"))));
    assert!(!tx(s, |t| t.revocation_remove(Some("D2"), None)));
    assert_eq!(for_(s, "D3", "mallory"), Vec::<i64>::new());
}

fn policy_versions_are_kept_in_order(place: &Place) {
    let s = &mut *place.open();
    assert_eq!(tx(s, |t| t.policy_get(None)), None);
    let v = |version, text: &str| PolicyVersion {
        version,
        text: text.into(),
        origin: "policy.toml".into(),
        set_by: "admin".into(),
        set_at: 1_700_000_000 + i64::from(version),
    };
    tx(s, |t| {
        t.policy_put(&v(1, "id = \"a\"\n"))?;
        t.policy_put(&v(2, "id = \"b\"\n# 改訂\n"))
    });
    assert_eq!(
        tx(s, |t| t.policy_get(None)),
        Some(v(2, "id = \"b\"\n# 改訂\n"))
    );
    assert_eq!(tx(s, |t| t.policy_get(Some(1))), Some(v(1, "id = \"a\"\n")));
    assert_eq!(tx(s, |t| t.policy_get(Some(3))), None);
    let mut s2 = place.open();
    assert!(
        s2.transaction(&mut |t| t.policy_put(&v(2, "again")))
            .is_err(),
        "a version is set once"
    );
}

fn audit_records_chain_and_answer_queries(place: &Place) {
    let s = &mut *place.open();
    let k = key();
    assert_eq!(tx(s, |t| t.audit_head()), None);
    let events = [
        Event::allow("alice", "protect").doc("D1"),
        Event::allow("alice", "label-set").doc("D1"),
        Event::allow("bob", "open").doc("D1").deny("no-rights"),
        Event::allow("admin", "user-add").subject("bob"),
        Event::allow("alice", "label-downgrade").doc("D2"),
        Event::allow("alice", "label-set")
            .doc("D1")
            .deny("no-rights"),
    ];
    for e in events.iter().cloned() {
        let k = k.clone();
        tx(s, move |t| append_audit(t, &k, e).map(drop));
    }
    let all = tx(s, |t| t.audit_all());
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let head = tx(s, |t| t.audit_head()).unwrap();
    assert_eq!(head, (6, all[5].hash.clone()));
    assert!(audit::verify(&k, all.clone(), Some(head)).ok);
    assert_eq!(all[2].event, events[2]);

    let q = |s: &mut dyn Store, q: Query| {
        tx(s, move |t| t.audit_query(&q))
            .into_iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    let by_doc = Query {
        doc: Some("D1".into()),
        ..Query::default()
    };
    assert_eq!(q(s, by_doc), [1, 2, 3, 6]);
    let by_user = Query {
        user: Some("bob".into()),
        ..Query::default()
    };
    assert_eq!(q(s, by_user), [3, 4], "actor or subject");
    let newest = Query {
        limit: Some(2),
        ..Query::default()
    };
    assert_eq!(q(s, newest), [5, 6], "the newest, oldest first");
    let since = all[3].at_ms / 1000;
    let window = Query {
        since: Some(since),
        until: Some(since + 3600),
        ..Query::default()
    };
    assert!(q(s, window).contains(&4));
    let by_action = Query {
        action: Some("label-set".into()),
        ..Query::default()
    };
    assert_eq!(q(s, by_action), [2, 6]);
    let older = Query {
        before_seq: Some(4),
        limit: Some(2),
        ..Query::default()
    };
    assert_eq!(
        q(s, older),
        [2, 3],
        "the page before record 4, newest first"
    );
    let sets: Vec<i64> = tx(s, |t| t.audit_label_sets("D1"))
        .into_iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(sets, [2], "allowed label sets and downgrades only");
    let sets: Vec<i64> = tx(s, |t| t.audit_label_sets("D2"))
        .into_iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(sets, [5]);
}

/// What the group commit does: jobs in savepoints, some undone.
fn a_job_undone_leaves_nothing_and_the_chain_goes_on(place: &Place) {
    let s = &mut *place.open();
    let k = key();
    tx(s, |t| {
        // Kept: writes and a record.
        t.savepoint()?;
        t.meta_set("kept", "1")?;
        append_audit(t, &k, Event::allow("a", "one"))?;
        t.release(true)?;
        // Undone after a write: the write and the record go.
        t.savepoint()?;
        t.meta_set("undone", "1")?;
        append_audit(t, &k, Event::allow("a", "two"))?;
        t.release(false)?;
        // Undone without a write: its record goes.
        t.savepoint()?;
        append_audit(t, &k, Event::allow("a", "three"))?;
        assert_eq!(t.audit_head()?.unwrap().0, 2);
        t.release(false)?;
        assert_eq!(t.audit_head()?.unwrap().0, 1, "the head comes back");
        // Kept without a write (a licence decision): its record stays.
        t.savepoint()?;
        t.user_get("nobody")?;
        append_audit(t, &k, Event::allow("a", "four"))?;
        t.release(true)?;
        // A record read back inside the transaction, then undone with its job.
        t.savepoint()?;
        append_audit(t, &k, Event::allow("a", "five"))?;
        assert_eq!(t.audit_all()?.len(), 3);
        t.release(false)?;
        t.savepoint()?;
        append_audit(t, &k, Event::allow("a", "six"))?;
        t.release(true)
    });
    let all = tx(s, |t| t.audit_all());
    let actions: Vec<&str> = all.iter().map(|r| r.event.action.as_str()).collect();
    assert_eq!(actions, ["one", "four", "six"]);
    let head = tx(s, |t| t.audit_head());
    assert!(audit::verify(&k, all, head).ok);
    assert_eq!(tx(s, |t| t.meta_get("kept")), Some("1".into()));
    assert_eq!(tx(s, |t| t.meta_get("undone")), None);
}

fn a_failed_transaction_commits_nothing(place: &Place) {
    let s = &mut *place.open();
    let k = key();
    let failed = s.transaction(&mut |t| {
        t.meta_set("half", "written")?;
        append_audit(t, &k, Event::allow("a", "lost"))?;
        Err(StoreError::Database {
            path: "test".into(),
            message: "the work failed".into(),
        })
    });
    assert!(failed.is_err());
    assert_eq!(tx(s, |t| t.meta_get("half")), None);
    assert_eq!(tx(s, |t| t.audit_head()), None);
    // The store is still usable.
    tx(s, |t| {
        append_audit(t, &k, Event::allow("a", "after")).map(drop)
    });
    assert_eq!(tx(s, |t| t.audit_head()).unwrap().0, 1);
}

/// Two handles (two replicas on PostgreSQL) appending in turn build one chain.
fn two_handles_append_to_one_chain(place: &Place) {
    let k = key();
    let mut a = place.open();
    let mut b = place.open();
    for i in 0..10 {
        let s: &mut dyn Store = if i % 2 == 0 { &mut *a } else { &mut *b };
        let k = k.clone();
        tx(s, move |t| {
            for j in 0..3 {
                t.savepoint()?;
                append_audit(t, &k, Event::allow("x", &format!("r{i}-{j}")))?;
                t.release(true)?;
            }
            Ok(())
        });
    }
    let all = tx(&mut *a, |t| t.audit_all());
    assert_eq!(all.len(), 30);
    let head = tx(&mut *b, |t| t.audit_head());
    assert!(audit::verify(&k, all, head).ok);
}

/// `fuda-keyd migrate`: everything moves from SQLite, and a second copy is refused.
fn copy_moves_everything(place: &Place) {
    let source = Place::sqlite();
    let src = &mut *source.open();
    let k = key();
    tx(src, |t| {
        t.meta_set("service_id", "01SERVICE")?;
        t.user_put(&user("alice", Some("設計")))?;
        t.user_put(&user("bob", None))?;
        t.group_add("品質")?;
        t.group_member("品質", "bob", true)?;
        t.token_add(&[1; 32], "alice", 10)?;
        t.enrollment_add(&[2; 32], "bob", 20)?;
        t.doc_insert(&doc("D1", 1, b"\xffname"))?;
        t.revocation_add(&Revocation {
            doc: Some("D1".into()),
            user: Some("bob".into()),
            at: 3,
            by: "alice".into(),
        })?;
        t.policy_put(&PolicyVersion {
            version: 1,
            text: "id = \"x\"".into(),
            origin: "p.toml".into(),
            set_by: "alice".into(),
            set_at: 4,
        })?;
        for i in 0..25 {
            append_audit(t, &k, Event::allow("alice", "open").doc(&format!("D{i}")))?;
        }
        t.doc_add_version("D1", 9, "sha256:11", "bob", 30)?;
        t.index_put(
            "pc-1",
            &[
                index_row(
                    b"/s/\xff",
                    Some("01J0000000000000000000000A"),
                    Some(3),
                    "{}",
                ),
                index_row(b"/s/a", None, None, "{\"a\":1}"),
            ],
            40,
        )?;
        t.machine_reported("pc-1", 41, Some(3_600))?;
        t.report_state_put(
            "pc-1",
            &ReportState {
                report: "r1".into(),
                seq: 2,
                done: true,
                files: 2,
                removed: 0,
                started_at: 39,
                updated_at: 41,
            },
        )?;
        Ok(())
    });
    let dst = &mut *place.open();
    let moved = copy::copy(src, dst).unwrap();
    assert_eq!(moved.counts().audit_records, 25);
    assert_eq!(moved.counts().tokens, 1);
    let c = moved.counts();
    assert_eq!(
        (c.versions, c.index_files, c.machines, c.reports),
        (1, 2, 1, 1),
        "versions, the file index, machines and report states move too"
    );
    assert_eq!(
        scan(dst, IndexOrder::MachinePath),
        scan(src, IndexOrder::MachinePath)
    );
    let copied = tx(dst, |t| copy::Snapshot::read(t));
    assert_eq!(copied, moved);
    assert!(audit::verify(&k, copied.audit, copied.head).ok);
    assert!(matches!(
        copy::copy(src, dst),
        Err(copy::CopyError::NotEmpty(id)) if id == "01SERVICE"
    ));
}

/// A hostile request may name a document or user with a NUL byte (PostgreSQL's text
/// cannot hold one): lookups find nothing, the decision is recorded byte for byte, and
/// the other jobs of the batch are not disturbed.
fn keys_with_a_nul_byte_find_nothing_and_are_audited_exactly(place: &Place) {
    let s = &mut *place.open();
    let k = key();
    tx(s, |t| {
        t.user_put(&user("bob", None))?;
        t.revocation_add(&Revocation {
            doc: None,
            user: Some("bob".into()),
            at: 1,
            by: "admin".into(),
        })?;
        t.revocation_add(&Revocation {
            doc: Some("D1".into()),
            user: None,
            at: 2,
            by: "admin".into(),
        })
    });
    tx(s, |t| {
        t.savepoint()?;
        assert!(t.doc_get("D1\0x")?.is_none());
        assert!(t.user_get("bob\0")?.is_none());
        assert!(!t.group_exists("\0")?);
        assert!(t.meta_get("service_id\0")?.is_none());
        let bob: Vec<i64> = t
            .revocations_for("D\09", "bob")?
            .iter()
            .map(|r| r.at)
            .collect();
        assert_eq!(bob, [1]);
        let d1: Vec<i64> = t
            .revocations_for("D1", "x\0")?
            .iter()
            .map(|r| r.at)
            .collect();
        assert_eq!(d1, [2]);
        assert!(t.revocations_for("D\0", "x\0")?.is_empty());
        append_audit(
            t,
            &k,
            Event::allow("mallory", "label-set")
                .doc("D1\0x")
                .subject("b\0b")
                .deny("not-registered"),
        )?;
        t.release(true)?;
        t.savepoint()?;
        append_audit(t, &k, Event::allow("alice", "label-set").doc("D1\0x"))?;
        t.release(true)
    });
    let all = tx(s, |t| t.audit_all());
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].event.doc.as_deref(), Some("D1\0x"));
    assert_eq!(all[0].event.subject.as_deref(), Some("b\0b"));
    let head = tx(s, |t| t.audit_head());
    assert!(audit::verify(&k, all, head).ok);
    let by_doc = Query {
        doc: Some("D1\0x".into()),
        ..Query::default()
    };
    assert_eq!(tx(s, move |t| t.audit_query(&by_doc)).len(), 2);
    let sets: Vec<i64> = tx(s, |t| t.audit_label_sets("D1\0x"))
        .into_iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(sets, [2]);
}

/// A private cluster whose log writer waits 10 s between flushes of its own, so that a
/// commit nobody flushed is lost when the server crashes; and a database in it.
fn cluster_with_a_lazy_log_writer(name: &str) -> Option<(common::postgres::Cluster, String)> {
    let cluster = common::postgres::Cluster::start(false)?;
    let url = cluster.database(name);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("ALTER SYSTEM SET wal_writer_delay = '10s'")
        .unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    Some((cluster, url))
}

/// A commit that PostgreSQL may have lost in a crash is never confirmed — also when the
/// service's connections were made again since the last crash: a flush on a connection
/// opened after the commit cannot vouch for it.
#[test]
fn a_commit_lost_in_a_crash_is_never_confirmed_even_on_a_new_connection() {
    let Some((mut cluster, url)) = cluster_with_a_lazy_log_writer("lost") else {
        return;
    };
    let mut store = Database::parse(&url).unwrap().open().unwrap();
    let set = |store: &mut Box<dyn Store>, key: &str| {
        store.transaction_pending(&mut |t| t.meta_set(key, "yes"))
    };
    for round in 0..2 {
        // A commit made after the service's connections were (re)made, then a crash.
        let pending = loop {
            match set(&mut store, &format!("round{round}")) {
                Ok(p) => break p,
                // The first transaction after a restart finds its connection dead.
                Err(StoreError::Unavailable { .. }) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        cluster.crash_server();
        cluster.start_server();
        let confirmed = pending.wait();
        assert!(
            matches!(confirmed, Err(StoreError::Unavailable { .. })),
            "round {round}: a commit across a crash was confirmed: {confirmed:?}"
        );
    }
    // The service goes on once the database is back.
    let mut ok = false;
    for _ in 0..5 {
        if let Ok(p) = set(&mut store, "after") {
            ok = p.wait().is_ok();
            if ok {
                break;
            }
        }
    }
    assert!(ok, "commits are confirmed again after the restart");
    assert_eq!(tx(&mut *store, |t| t.meta_get("after")), Some("yes".into()));
}

/// A role that may not write the flush's log record (an administrator revoked it) is
/// refused at start with what to grant, not on every request.
#[test]
fn a_role_that_cannot_make_commits_durable_is_refused_at_start_with_the_grant_to_give() {
    let Some(cluster) = common::postgres::Cluster::start(false) else {
        return;
    };
    let url = cluster.database("grants");
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE ROLE keyd LOGIN; ALTER DATABASE grants OWNER TO keyd;
             REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC",
        )
        .unwrap();
    let as_keyd = url.replace("postgres://fuda@", "postgres://keyd@");
    let refused = Database::parse(&as_keyd)
        .unwrap()
        .open()
        .err()
        .expect("refused");
    assert!(
        refused
            .to_string()
            .contains("GRANT EXECUTE ON FUNCTION pg_logical_emit_message"),
        "{refused}"
    );
    admin
        .batch_execute(
            "GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO keyd",
        )
        .unwrap();
    let mut store = Database::parse(&as_keyd).unwrap().open().unwrap();
    tx(&mut *store, |t| t.meta_set("durable", "yes"));
}

/// A PostgreSQL batch commits without waiting for the disk (so the chain lock is free
/// while it works) and is acknowledged only once its `Durability` says so: everything
/// whose wait returned survives a crash of the database server, even with the log
/// writer told to wait 10 s (so only the flush the store asked for put it on disk).
#[test]
fn what_a_pending_commit_waited_for_survives_a_crash_of_postgresql() {
    let Some((mut cluster, url)) = cluster_with_a_lazy_log_writer("crash") else {
        return;
    };
    let k = key();
    let mut store = Database::parse(&url).unwrap().open().unwrap();
    for i in 0..20 {
        let key = format!("acknowledged{i}");
        let durability = store
            .transaction_pending(&mut |t| {
                t.meta_set(&key, "yes")?;
                append_audit(t, &k, Event::allow("alice", "licence").doc(&key)).map(drop)
            })
            .unwrap();
        durability.wait().unwrap();
    }
    cluster.crash_server();
    drop(store);
    cluster.start_server();
    let mut store = Database::parse(&url).unwrap().open().unwrap();
    for i in 0..20 {
        let key = format!("acknowledged{i}");
        assert_eq!(
            tx(&mut *store, |t| t.meta_get(&key)),
            Some("yes".into()),
            "{key} was acknowledged and lost in the crash"
        );
    }
    let records = tx(&mut *store, |t| t.audit_all());
    assert_eq!(records.len(), 20);
    let head = tx(&mut *store, |t| t.audit_head());
    assert!(audit::verify(&k, records, head).ok);
}

/// TLS to the database: the certificate is verified against the named CA, a server
/// that demands TLS is refused a plaintext connection, and another CA's certificate is
/// refused with a message that says so.
#[test]
fn tls_to_postgresql_is_verified_against_the_named_ca() {
    let Some(mut cluster) = common::postgres::Cluster::start(false) else {
        return;
    };
    let url = cluster.database("tls");
    let ca = cluster.require_tls();
    let with = |mode: &str, ca: &std::path::Path| {
        Database::parse(&format!(
            "{url}?sslmode={mode}&sslrootcert={}",
            ca.display()
        ))
        .unwrap()
    };
    let mut store = with("require", &ca).open().unwrap();
    tx(&mut *store, |t| t.meta_set("over", "tls"));
    assert_eq!(tx(&mut *store, |t| t.meta_get("over")), Some("tls".into()));

    let plain = with("disable", &ca)
        .open()
        .err()
        .expect("plaintext refused");
    assert!(
        plain.to_string().contains("no pg_hba.conf entry"),
        "{plain}"
    );

    // A CA that did not sign the server's certificate.
    let other = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=impostor CA",
        ])
        .current_dir(other.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let refused = with("require", &other.path().join("ca.pem"))
        .open()
        .err()
        .expect("an unknown CA is refused");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
    let missing = Database::parse(&format!(
        "{url}?sslmode=require&sslrootcert=/nonexistent/ca.pem"
    ))
    .expect_err("a missing CA file is named");
    assert!(
        missing.to_string().contains("/nonexistent/ca.pem"),
        "{missing}"
    );
}

/// What a lookup read (and a store may keep for the rest of the transaction) is never
/// older than the transaction's own writes, kept or undone.
fn reads_in_a_transaction_see_its_own_writes(place: &Place) {
    let s = &mut *place.open();
    let rev = |doc: Option<&str>, user: Option<&str>, at| Revocation {
        doc: doc.map(Into::into),
        user: user.map(Into::into),
        at,
        by: "admin".into(),
    };
    tx(s, |t| {
        t.user_put(&user("bob", Some("設計")))?;
        t.token_add(&[4; 32], "bob", 1)?;
        t.doc_insert(&doc("D1", 1, b"a.dxf"))
    });
    tx(s, |t| {
        assert_eq!(t.token_user(&[4; 32])?.unwrap().0, "bob");
        assert_eq!(t.user_get("bob")?.unwrap().status, UserStatus::Active);
        assert!(t.doc_get("D1")?.is_some());
        assert!(t.revocations_for("D1", "bob")?.is_empty());
        // A job that disables bob and revokes him, undone.
        t.savepoint()?;
        let mut bob = t.user_get("bob")?.unwrap();
        bob.status = UserStatus::Disabled;
        t.user_put(&bob)?;
        t.revocation_add(&rev(None, Some("bob"), 5))?;
        assert_eq!(t.user_get("bob")?.unwrap().status, UserStatus::Disabled);
        assert_eq!(t.revocations_for("D1", "bob")?, [rev(None, Some("bob"), 5)]);
        t.release(false)?;
        assert_eq!(t.user_get("bob")?.unwrap().status, UserStatus::Active);
        assert!(t.revocations_for("D1", "bob")?.is_empty());
        // Kept: a revocation of the document, a new group, a new grant.
        t.savepoint()?;
        t.revocation_add(&rev(Some("D1"), Some("bob"), 6))?;
        t.group_member("品質", "bob", true)?;
        t.grant_set(
            "D1",
            &Grant {
                principal: "user:bob".parse().unwrap(),
                rights: "print".parse().unwrap(),
            },
        )?;
        t.release(true)?;
        assert_eq!(t.token_user(&[4; 32])?.unwrap().0, "bob");
        assert_eq!(t.user_get("bob")?.unwrap().groups, ["品質"]);
        assert_eq!(
            t.revocations_for("D1", "bob")?,
            [rev(Some("D1"), Some("bob"), 6)]
        );
        assert!(t.revocations_for("D1", "carol")?.is_empty());
        assert_eq!(t.doc_get("D1")?.unwrap().doc.grants.len(), 3);
        t.token_delete_user("bob")?;
        assert_eq!(t.token_user(&[4; 32])?, None);
        Ok(())
    });
}

fn index_row(path: &[u8], doc: Option<&str>, sha: Option<u8>, record: &str) -> IndexRow {
    IndexRow {
        columns: Columns {
            path: PathBuf::from(OsStr::from_bytes(path)),
            doc: doc.map(|d| d.parse().unwrap()),
            level: doc.map(|_| "極秘".to_owned()),
            status: fuda_core::label::Status::Valid,
            protected: doc.is_some(),
            size: 42,
            modified: 1_700_000_000,
            sha256: sha.map(|b| fuda_core::digest::Digest([b; 32])),
        },
        record: record.as_bytes().to_vec(),
    }
}

/// Every file of the index, in `order`, from a snapshot.
fn scan(store: &dyn Store, order: IndexOrder) -> Vec<IndexedFile> {
    let mut snapshot = (store.snapshots())().unwrap();
    let mut files = Vec::new();
    snapshot
        .index_scan(order, &mut |f| {
            files.push(f);
            true
        })
        .unwrap();
    files
}

fn the_file_index_keeps_path_bytes_and_scans_in_byte_order(place: &Place) {
    let mut store = place.open();
    const DOC_A: &str = "01J0000000000000000000000A";
    const DOC_B: &str = "01J0000000000000000000000B";
    let names: [&[u8]; 6] = [
        b"/s/a",
        b"/s/Z",
        b"/s/\xff\xfe",
        "/s/é".as_bytes(),
        b"/s/a b",
        b"/s/",
    ];
    tx(&mut *store, |t| {
        let rows: Vec<IndexRow> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let doc = [None, Some(DOC_B), Some(DOC_A)][i % 3];
                index_row(
                    n,
                    doc,
                    (i % 2 == 0).then_some(i as u8),
                    &format!("{{\"i\":{i}}}"),
                )
            })
            .collect();
        t.index_put("ws-b", &rows, 100)?;
        // The same path twice in one chunk: the last row is kept.
        t.index_put(
            "ws-a",
            &[
                index_row(b"/x", None, None, "first"),
                index_row(b"/x", Some(DOC_A), None, "second"),
            ],
            200,
        )?;
        // A bulk machine: more files than one page of a scan.
        let bulk: Vec<IndexRow> = (0..2_500)
            .map(|i| index_row(format!("/bulk/{i:05}").as_bytes(), None, None, "{}"))
            .collect();
        t.index_put("ws-c", &bulk, 300)
    });
    let by_path = scan(&*store, IndexOrder::MachinePath);
    assert_eq!(by_path.len(), 6 + 1 + 2_500);
    let keys: Vec<(String, Vec<u8>)> = by_path
        .iter()
        .map(|f| (f.machine.clone(), f.path.as_os_str().as_bytes().to_vec()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "machine, then path bytes");
    let x = &by_path[0];
    assert_eq!(
        (x.machine.as_str(), x.record_json.as_slice()),
        ("ws-a", &b"second"[..])
    );
    assert_eq!((x.doc.as_deref(), x.received_at), (Some(DOC_A), 200));
    // Non-UTF-8 names come back exactly.
    assert!(by_path
        .iter()
        .any(|f| f.path.as_os_str().as_bytes() == b"/s/\xff\xfe"));

    for (order, key) in [
        (
            IndexOrder::DocId,
            (|f: &IndexedFile| f.doc.clone()) as fn(&IndexedFile) -> Option<String>,
        ),
        (IndexOrder::Sha256, |f: &IndexedFile| f.sha256.clone()),
    ] {
        let files = scan(&*store, order);
        let got: Vec<_> = files
            .iter()
            .map(|f| {
                (
                    key(f),
                    f.machine.clone(),
                    f.path.as_os_str().as_bytes().to_vec(),
                )
            })
            .collect();
        let mut want = got.clone();
        // None first, then bytes; as SQLite orders NULL and text.
        want.sort();
        assert_eq!(got, want, "{order:?}");
    }

    // Stopping early stops.
    let mut snapshot = (store.snapshots())().unwrap();
    let mut seen = 0;
    snapshot
        .index_scan(IndexOrder::MachinePath, &mut |_| {
            seen += 1;
            seen < 3
        })
        .unwrap();
    assert_eq!(seen, 3);

    // Removal counts the files that were there, and only on that machine.
    let removed = tx(&mut *store, |t| {
        t.index_remove(
            "ws-b",
            &[
                PathBuf::from(OsStr::from_bytes(b"/s/\xff\xfe")),
                PathBuf::from("/s/a"),
                PathBuf::from("/s/a"),
                PathBuf::from("/x"),
                PathBuf::from("/nothing"),
            ],
        )
    });
    assert_eq!(removed, 2);
    let left = scan(&*store, IndexOrder::MachinePath);
    assert_eq!(left.len(), 6 + 1 + 2_500 - 2);
    assert!(left
        .iter()
        .any(|f| f.machine == "ws-a" && f.path == std::path::Path::new("/x")));
}

fn machines_are_every_reporting_identity(place: &Place) {
    let mut store = place.open();
    tx(&mut *store, |t| {
        let mut m = user("pc-0001", None);
        m.kind = EntryKind::Machine;
        t.user_put(&m)?;
        let mut h = user("share-hook", None);
        h.kind = EntryKind::Hook;
        t.user_put(&h)?;
        t.user_put(&user("alice", None))?;
        t.machine_reported("share-hook", 1_000, Some(3_600))?;
        t.machine_reported("share-hook", 2_000, None)?;
        t.index_put("pc-0001", &[index_row(b"/a", None, None, "{}")], 5)?;
        t.index_put(
            "ghost",
            &[
                index_row(b"/a", None, None, "{}"),
                index_row(b"/b", None, None, "{}"),
            ],
            5,
        )
    });
    let mut snapshot = (store.snapshots())().unwrap();
    let got: Vec<_> = snapshot
        .machines()
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.name,
                m.kind,
                m.last_report_at,
                m.expected_interval_s,
                m.files,
            )
        })
        .collect();
    let daily = fuda_keyd::report::DEFAULT_INTERVAL_S;
    assert_eq!(
        got,
        [
            ("ghost".to_owned(), EntryKind::Machine, None, daily, 2),
            ("pc-0001".to_owned(), EntryKind::Machine, None, daily, 1),
            (
                "share-hook".to_owned(),
                EntryKind::Hook,
                Some(2_000),
                3_600,
                0
            ),
        ]
    );
}

fn report_states_are_kept_replaced_and_forgotten(place: &Place) {
    let mut store = place.open();
    let state = |report: &str, seq: u32, started_at: i64, updated_at: i64| ReportState {
        report: report.into(),
        seq,
        done: false,
        files: u64::from(seq) * 1_000,
        removed: 3,
        started_at,
        updated_at,
    };
    tx(&mut *store, |t| {
        t.report_state_put("pc-1", &state("r-b", 1, 10, 10))?;
        t.report_state_put("pc-1", &state("r-a", 1, 20, 20))?;
        t.report_state_put("pc-1", &state("r-c", 1, 5, 50))?;
        t.report_state_put("pc-2", &state("r-b", 7, 1, 1))
    });
    let mut done = state("r-b", 2, 10, 30);
    done.done = true;
    tx(&mut *store, |t| t.report_state_put("pc-1", &done));
    let (one, other, none, before) = tx(&mut *store, |t| {
        Ok((
            t.report_state("pc-1", "r-b")?,
            t.report_state("pc-2", "r-b")?,
            t.report_state("pc-1", "r-zzz")?,
            t.report_states_before("pc-1", 40)?,
        ))
    });
    assert_eq!(one, Some(done.clone()));
    assert_eq!(other, Some(state("r-b", 7, 1, 1)));
    assert_eq!(none, None);
    // Those last touched before 40, by start.
    assert_eq!(before, [done, state("r-a", 1, 20, 20)]);
    tx(&mut *store, |t| t.report_state_delete("pc-1", "r-b"));
    let (gone, kept) = tx(&mut *store, |t| {
        Ok((
            t.report_state("pc-1", "r-b")?,
            t.report_state("pc-2", "r-b")?,
        ))
    });
    assert_eq!((gone, kept.is_some()), (None, true));
}

fn document_versions_count_up_and_the_owner_and_level_change(place: &Place) {
    let mut store = place.open();
    tx(&mut *store, |t| {
        t.doc_insert(&doc("d1", 1, b"a.docx"))?;
        t.doc_insert(&doc("d2", 2, b"b.docx"))
    });
    let first = tx(&mut *store, |t| Ok(t.doc_get("d1")?.unwrap().doc.version));
    assert_eq!(first, 1, "the registration is version 1");
    let numbers = tx(&mut *store, |t| {
        let v2 = t.doc_add_version("d1", 10, "sha256:aa", "bob", 100)?;
        // Read in the same transaction: the new version shows.
        let seen = t.doc_get("d1")?.unwrap().doc;
        let v3 = t.doc_add_version("d1", 20, "sha256:bb", "carol", 200)?;
        t.doc_set_owner("d1", "bob")?;
        t.doc_set_level("d1", "秘")?;
        Ok((v2, seen.version, seen.size, v3))
    });
    assert_eq!(numbers, (2, 2, 10, 3));
    let (d1, d2, list) = tx(&mut *store, |t| {
        Ok((
            t.doc_get("d1")?.unwrap().doc,
            t.doc_get("d2")?.unwrap().doc,
            t.doc_list()?,
        ))
    });
    assert_eq!(
        (
            d1.version,
            d1.size,
            d1.digest.as_str(),
            d1.owner.as_str(),
            d1.level.as_str()
        ),
        (3, 20, "sha256:bb", "bob", "秘")
    );
    assert_eq!(
        (d2.version, d2.owner.as_str(), d2.level.as_str()),
        (1, "alice", "極秘")
    );
    assert_eq!(
        list.iter()
            .map(|d| (d.id.as_str(), d.version))
            .collect::<Vec<_>>(),
        [("d1", 3), ("d2", 1)]
    );
}

fn console_links_and_sessions_are_kept_by_hash(place: &Place) {
    use fuda_keyd::console::{Credential, CredentialKind};
    let mut store = place.open();
    let cred = |hash: u8, user: &str, kind, expires_at| Credential {
        hash: [hash; 32],
        user: user.into(),
        kind,
        created_at: 100,
        expires_at,
        last_seen: 100,
    };
    let link = cred(1, "kanri", CredentialKind::Link, 400);
    let session = cred(2, "kanri", CredentialKind::Session, 10_000);
    let other = cred(3, "kansa", CredentialKind::Session, 10_000);
    let stale = cred(4, "kansa", CredentialKind::Session, 150);
    tx(&mut *store, |t| {
        for c in [&link, &session, &other, &stale] {
            t.console_put(c)?;
        }
        Ok(())
    });
    assert_eq!(tx(&mut *store, |t| t.console_get(&[1; 32])), Some(link));
    assert_eq!(tx(&mut *store, |t| t.console_get(&[9; 32])), None);
    // A session's last use is written over.
    let used = Credential {
        last_seen: 500,
        ..session.clone()
    };
    tx(&mut *store, |t| t.console_put(&used));
    assert_eq!(tx(&mut *store, |t| t.console_get(&[2; 32])), Some(used));
    // Taken once.
    assert!(tx(&mut *store, |t| t.console_delete(&[1; 32])));
    assert!(!tx(&mut *store, |t| t.console_delete(&[1; 32])));
    // A user's credentials end with the expired ones of everybody.
    assert_eq!(tx(&mut *store, |t| t.console_delete_user("kanri", 200)), 2);
    assert_eq!(tx(&mut *store, |t| t.console_get(&[3; 32])), Some(other));
    assert_eq!(tx(&mut *store, |t| t.console_get(&[4; 32])), None);
}

fn the_auditor_flag_round_trips(place: &Place) {
    let mut store = place.open();
    let mut auditor = user("kansa", None);
    auditor.auditor = true;
    tx(&mut *store, |t| {
        t.user_put(&auditor)?;
        t.user_put(&user("alice", None))?;
        t.token_add(&[9u8; 32], "kansa", 5)
    });
    let (got, list, by_token) = tx(&mut *store, |t| {
        let by_token = t.token_user(&[9u8; 32])?;
        Ok((t.user_get("kansa")?, t.user_list()?, by_token))
    });
    assert_eq!(got.map(|u| u.auditor), Some(true));
    assert_eq!(
        list.iter()
            .map(|u| (u.name.as_str(), u.auditor))
            .collect::<Vec<_>>(),
        [("alice", false), ("kansa", true)]
    );
    assert_eq!(by_token.map(|(n, _)| n), Some("kansa".to_owned()));
    // Through the token's read-ahead too.
    let via_token = tx(&mut *store, |t| {
        t.token_user(&[9u8; 32])?;
        t.user_get("kansa")
    });
    assert!(via_token.unwrap().auditor);
    auditor.auditor = false;
    tx(&mut *store, |t| t.user_put(&auditor));
    let after = tx(&mut *store, |t| t.user_get("kansa"));
    assert!(!after.unwrap().auditor);
}

/// What a licence decision reads, as one comparable value.
type Seen = (
    Option<(String, i64)>,
    Option<(UserStatus, Vec<String>)>,
    Option<(String, usize, u32)>,
    usize,
);

fn seen(s: &mut dyn Store) -> Seen {
    tx(s, |t| {
        let member = t.token_user(&[9; 32])?;
        let user = t.user_get("bob")?.map(|u| (u.status, u.groups));
        let doc = t
            .doc_get("D1")?
            .map(|d| (d.doc.owner, d.doc.grants.len(), d.doc.version));
        let revoked = t.revocations_for("D1", "bob")?.len();
        Ok((member, user, doc, revoked))
    })
}

/// A handle that read a user, a token and a document (PostgreSQL's replicas keep such
/// rows between transactions) reads what another handle committed since in its very next
/// transaction; and a job of its own that is undone leaves nothing behind.
fn what_another_handle_committed_is_read_by_the_next_transaction(place: &Place) {
    let (a, b) = (&mut *place.open(), &mut *place.open());
    tx(b, |t| {
        t.user_put(&user("bob", None))?;
        t.token_add(&[9; 32], "bob", 5)?;
        t.doc_insert(&doc("D1", 1, b"bracket.dxf"))
    });
    let mut expected: Seen = (
        Some(("bob".into(), 5)),
        Some((UserStatus::Active, Vec::new())),
        Some(("alice".into(), 2, 1)),
        0,
    );
    assert_eq!(seen(a), expected);
    assert_eq!(seen(a), expected, "read again");

    // a's own job revokes bob, reads it, and is undone.
    a.transaction(&mut |t| {
        t.savepoint()?;
        t.revocation_add(&Revocation {
            doc: Some("D1".into()),
            user: Some("bob".into()),
            at: 2,
            by: "alice".into(),
        })?;
        assert_eq!(t.revocations_for("D1", "bob")?.len(), 1);
        t.release(false)
    })
    .unwrap();
    assert_eq!(seen(a), expected, "the undone revocation is gone");

    let revoke = |doc: Option<&str>, user: Option<&str>| Revocation {
        doc: doc.map(Into::into),
        user: user.map(Into::into),
        at: 3,
        by: "alice".into(),
    };
    tx(b, |t| t.revocation_add(&revoke(Some("D1"), Some("bob"))));
    expected.3 = 1;
    assert_eq!(seen(a), expected, "revoked on the document");
    tx(b, |t| t.revocation_add(&revoke(Some("D1"), None)));
    expected.3 = 2;
    assert_eq!(seen(a), expected, "the document revoked");
    tx(b, |t| t.revocation_add(&revoke(None, Some("bob"))));
    expected.3 = 3;
    assert_eq!(seen(a), expected, "bob revoked everywhere");
    tx(b, |t| t.revocation_remove(None, Some("bob")));
    expected.3 = 2;
    assert_eq!(seen(a), expected, "lifted");
    tx(b, |t| t.grant_remove("D1", &"group:設計".parse().unwrap()));
    expected.2 = Some(("alice".into(), 1, 1));
    assert_eq!(seen(a), expected, "ungranted");
    tx(b, |t| t.doc_set_owner("D1", "carol"));
    expected.2 = Some(("carol".into(), 1, 1));
    assert_eq!(seen(a), expected, "a new owner");
    tx(b, |t| {
        t.doc_add_version("D1", 7, "sha256:01", "carol", 4)
            .map(drop)
    });
    expected.2 = Some(("carol".into(), 1, 2));
    assert_eq!(seen(a), expected, "a new version");
    tx(b, |t| t.group_member("品質", "bob", true));
    expected.1 = Some((UserStatus::Active, vec!["品質".into()]));
    assert_eq!(seen(a), expected, "a new group");
    let mut disabled = user("bob", None);
    disabled.status = UserStatus::Disabled;
    tx(b, |t| t.user_put(&disabled));
    expected.1 = Some((UserStatus::Disabled, vec!["品質".into()]));
    assert_eq!(seen(a), expected, "disabled");
    tx(b, |t| t.token_delete_user("bob").map(drop));
    expected.0 = None;
    assert_eq!(seen(a), expected, "the token revoked");
}
