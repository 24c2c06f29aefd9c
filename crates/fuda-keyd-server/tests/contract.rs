//! The contract every key service keeps, run against the embedded service and against a
//! real HTTPS server: the same story, the same answers.

#[path = "../../../tests/common/signed_label.rs"]
mod signed_label;

use base64::Engine as _;
use fuda_core::envelope::{self, LabelStanza, StreamOptions};
use fuda_core::rights::Rights;
use fuda_keyd::client::{Embedded, KeyService, Remote};
use fuda_keyd::directory::{Enrollment, NewUser, UserStatus};
use fuda_keyd::licence::Request;
use fuda_keyd::registry::{Grant, Principal, Registration};
use fuda_keyd::service::{Registered, RevokeTarget};
use fuda_keyd::{DenyCode, Error, Service};

/// A person: their keys and their client.
struct Person {
    name: String,
    age: age::x25519::Identity,
    client: Box<dyn KeyService>,
}

/// Makes clients for enrolled users.
trait Harness {
    fn admin(&self) -> &dyn KeyService;
    fn service_key(&self) -> Vec<u8>;
    fn recipient(&self) -> age::x25519::Recipient;
    fn person(&self, name: &str, dept: &str) -> Person;
    /// Enrolls an existing user again with a new code (new keys, new client).
    fn reenroll(&self, name: &str) -> Person;
    /// Redeems `e` for `name` and returns its client.
    fn enrolled(&self, name: &str, e: Enrollment) -> Box<dyn KeyService>;
}

fn enrollment(code: String) -> (age::x25519::Identity, Enrollment) {
    let age = age::x25519::Identity::generate();
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let e = Enrollment {
        code,
        recipient: age.to_public().to_string(),
        signing_key: base64::engine::general_purpose::STANDARD.encode(kp.public_key().as_ref()),
    };
    (age, e)
}

fn new_user(name: &str, dept: &str) -> NewUser {
    NewUser {
        name: name.into(),
        display_name: None,
        dept: Some(dept.into()),
        admin: false,
        auditor: false,
        kind: Default::default(),
    }
}

struct EmbeddedHarness {
    _dir: tempfile::TempDir,
    service: Service,
    admin: Embedded,
}

impl EmbeddedHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (age, e) = enrollment(String::new());
        let admin = Embedded::open_or_init(
            &dir.path().join("keyd"),
            NewUser {
                name: "admin".into(),
                display_name: None,
                dept: Some("情報システム部".into()),
                admin: true,
                auditor: false,
                kind: Default::default(),
            },
            &e.recipient,
            &e.signing_key,
        )
        .unwrap();
        drop(age);
        let service = admin.service().clone();
        EmbeddedHarness {
            _dir: dir,
            service,
            admin,
        }
    }
}

impl Harness for EmbeddedHarness {
    fn admin(&self) -> &dyn KeyService {
        &self.admin
    }
    fn service_key(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(self.service.info().signing_key)
            .unwrap()
    }
    fn recipient(&self) -> age::x25519::Recipient {
        self.service.info().recipient.parse().unwrap()
    }
    fn person(&self, name: &str, dept: &str) -> Person {
        let added = self.admin.user_add(new_user(name, dept)).unwrap();
        let (age, e) = enrollment(added.code);
        self.service.enroll(e).unwrap();
        Person {
            name: name.into(),
            age,
            client: Box::new(Embedded::new(self.service.clone(), name)),
        }
    }
    fn reenroll(&self, name: &str) -> Person {
        let (age, e) = enrollment(self.admin.user_code(name).unwrap().code);
        self.service.enroll(e).unwrap();
        Person {
            name: name.into(),
            age,
            client: Box::new(Embedded::new(self.service.clone(), name)),
        }
    }
    fn enrolled(&self, name: &str, e: Enrollment) -> Box<dyn KeyService> {
        self.service.enroll(e).unwrap();
        Box::new(Embedded::new(self.service.clone(), name))
    }
}

struct RemoteHarness {
    _dir: tempfile::TempDir,
    url: String,
    fingerprint: String,
    admin: Remote,
    server: Option<fuda_keyd_server::http::Running>,
}

impl RemoteHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("keyd");
        let init = fuda_keyd_server::http::init(
            &data,
            NewUser {
                name: "admin".into(),
                display_name: None,
                dept: None,
                admin: true,
                auditor: false,
                kind: Default::default(),
            },
        )
        .unwrap();
        let server =
            fuda_keyd_server::http::Running::start(&data, "127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("https://{}", server.addr());
        let anon = Remote::new(&url, &init.fingerprint, None).unwrap();
        let (_age, e) = enrollment(init.admin.code);
        let enrolled = anon.enroll(&e).unwrap();
        let admin = Remote::new(&url, &init.fingerprint, Some(enrolled.token)).unwrap();
        RemoteHarness {
            _dir: dir,
            url,
            fingerprint: init.fingerprint,
            admin,
            server: Some(server),
        }
    }
}

impl Drop for RemoteHarness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

impl Harness for RemoteHarness {
    fn admin(&self) -> &dyn KeyService {
        &self.admin
    }
    fn service_key(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(self.admin.info().unwrap().signing_key)
            .unwrap()
    }
    fn recipient(&self) -> age::x25519::Recipient {
        self.admin.info().unwrap().recipient.parse().unwrap()
    }
    fn person(&self, name: &str, dept: &str) -> Person {
        let added = self.admin.user_add(new_user(name, dept)).unwrap();
        let (age, e) = enrollment(added.code);
        let anon = Remote::new(&self.url, &self.fingerprint, None).unwrap();
        let enrolled = anon.enroll(&e).unwrap();
        let client = Remote::new(&self.url, &self.fingerprint, Some(enrolled.token)).unwrap();
        Person {
            name: name.into(),
            age,
            client: Box::new(client),
        }
    }
    fn reenroll(&self, name: &str) -> Person {
        let (age, e) = enrollment(self.admin.user_code(name).unwrap().code);
        let anon = Remote::new(&self.url, &self.fingerprint, None).unwrap();
        let enrolled = anon.enroll(&e).unwrap();
        let client = Remote::new(&self.url, &self.fingerprint, Some(enrolled.token)).unwrap();
        Person {
            name: name.into(),
            age,
            client: Box::new(client),
        }
    }
    fn enrolled(&self, _name: &str, e: Enrollment) -> Box<dyn KeyService> {
        let anon = Remote::new(&self.url, &self.fingerprint, None).unwrap();
        let token = anon.enroll(&e).unwrap().token;
        Box::new(Remote::new(&self.url, &self.fingerprint, Some(token)).unwrap())
    }
}

/// A protected file (bytes) for `doc`, wrapped to the service.
fn protect(h: &dyn Harness, doc: &str, content: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (_keys, signer) = signed_label::signer("tanaka");
    let body = signed_label::body(&signer, doc, "confidential");
    let label = LabelStanza::new(doc.parse().unwrap(), body);
    let mut file = Vec::new();
    let header = envelope::encrypt(
        &[h.recipient()],
        Some(&label),
        content,
        &mut file,
        &StreamOptions::default(),
    )
    .unwrap();
    (file, header.to_bytes())
}

fn register(
    p: &Person,
    header: &[u8],
    name: &str,
    grants: &[&str],
    expires_at: Option<i64>,
) -> Registered {
    p.client
        .register(Registration {
            header: header.to_vec(),
            name: name.into(),
            level: "confidential".into(),
            grants: grants.iter().map(|g| g.parse().unwrap()).collect(),
            max_rights: "view,edit,print".parse().unwrap(),
            expires_at,
            offline_days: 7,
            size: 7,
            digest: "00".repeat(32),
            host: "pc1".into(),
            path: format!("/work/{name}").into(),
            owners: Vec::new(),
            dept_rights: None,
        })
        .unwrap()
}

fn open(h: &dyn Harness, p: &Person, file: &[u8], rights: &str) -> Result<Vec<u8>, Error> {
    let header = envelope::Header::parse_bytes(file).unwrap().0;
    let granted = p.client.licence(Request {
        header: header.to_bytes(),
        rights: rights.parse::<Rights>().unwrap(),
    })?;
    let doc = header.label().unwrap().doc_id().to_string();
    let key = granted.open(&h.service_key(), &p.age, &p.name, &doc)?;
    let mut out = Vec::new();
    envelope::Decryptor::new(file)
        .unwrap()
        .decrypt_with_key(&key, &mut out, &StreamOptions::default())
        .unwrap();
    Ok(out)
}

fn denied(r: Result<Vec<u8>, Error>) -> (DenyCode, String) {
    match r {
        Err(Error::Denied(d)) => (d.code, d.message),
        Err(e) => panic!("expected a denial, got {e}"),
        Ok(_) => panic!("expected a denial, got the content"),
    }
}

fn story(h: &dyn Harness) {
    let tanaka = h.person("tanaka", "設計部");
    let sato = h.person("sato", "生産技術部");
    let yamada = h.person("yamada", "設計部");
    let suzuki = h.person("suzuki", "営業部");
    let doc = ulid::Ulid::new().to_string();
    let (file, header) = protect(h, &doc, b"drawing");
    register(
        &tanaka,
        &header,
        "bracket.dxf",
        &["owner=owner", "group:設計部=view", "user:sato=view,edit"],
        None,
    );

    // The owner, a granted user and a department member open it; the latter only to view.
    assert_eq!(open(h, &tanaka, &file, "view").unwrap(), b"drawing");
    assert_eq!(open(h, &sato, &file, "view,edit").unwrap(), b"drawing");
    assert_eq!(open(h, &yamada, &file, "view").unwrap(), b"drawing");
    let (code, msg) = denied(open(h, &yamada, &file, "view,edit"));
    assert_eq!(code, DenyCode::NoRights);
    assert!(msg.contains("view") && msg.contains("tanaka"), "{msg}");

    // Another department is refused with a reason naming the owner.
    let (code, msg) = denied(open(h, &suzuki, &file, "view"));
    assert_eq!(code, DenyCode::NoRights);
    assert!(msg.contains("no rights") && msg.contains("tanaka"), "{msg}");

    // The owner shares with suzuki; suzuki opens. sato (no share right) cannot share.
    tanaka
        .client
        .grant(&doc, "user:suzuki=view".parse().unwrap())
        .unwrap();
    assert_eq!(open(h, &suzuki, &file, "view").unwrap(), b"drawing");
    assert!(matches!(
        sato.client.grant(&doc, "user:yamada=edit".parse().unwrap()),
        Err(Error::Denied(_))
    ));
    // max_rights limits what even the owner may give outsiders.
    assert!(matches!(
        tanaka
            .client
            .grant(&doc, "user:suzuki=export".parse().unwrap()),
        Err(Error::Denied(_))
    ));
    let rights = suzuki.client.document(&doc).unwrap();
    assert_eq!(rights.rights.to_string(), "view");

    // Revoking sato on the document: the next request is refused; unrevoke restores.
    h.admin()
        .revoke(RevokeTarget {
            doc: Some(doc.clone()),
            user: Some("sato".into()),
        })
        .unwrap();
    assert_eq!(
        denied(open(h, &sato, &file, "view")).0,
        DenyCode::UserRevokedOnDocument
    );
    assert_eq!(open(h, &yamada, &file, "view").unwrap(), b"drawing");
    h.admin()
        .unrevoke(RevokeTarget {
            doc: Some(doc.clone()),
            user: Some("sato".into()),
        })
        .unwrap();
    assert_eq!(open(h, &sato, &file, "view").unwrap(), b"drawing");
    // Revoking a user everywhere, and a document for everyone.
    h.admin()
        .revoke(RevokeTarget {
            doc: None,
            user: Some("sato".into()),
        })
        .unwrap();
    assert_eq!(
        denied(open(h, &sato, &file, "view")).0,
        DenyCode::UserRevoked
    );
    h.admin()
        .revoke(RevokeTarget {
            doc: Some(doc.clone()),
            user: None,
        })
        .unwrap();
    assert_eq!(
        denied(open(h, &tanaka, &file, "view")).0,
        DenyCode::DocumentRevoked
    );

    // A disabled user is refused everywhere.
    let (file2, header2) = protect(h, &ulid::Ulid::new().to_string(), b"plan");
    register(
        &tanaka,
        &header2,
        "plan.xlsx",
        &["owner=owner", "group:設計部=view"],
        None,
    );
    h.admin()
        .user_status("yamada", UserStatus::Disabled)
        .unwrap();
    assert_eq!(
        denied(open(h, &yamada, &file2, "view")).0,
        DenyCode::UserDisabled
    );
    assert!(matches!(
        yamada.client.document(&doc),
        Err(Error::Denied(_))
    ));
    // Enabled again, yamada enrolls with a new code (a remote token from before the
    // disabling is over) and opens.
    h.admin().user_status("yamada", UserStatus::Active).unwrap();
    let yamada = h.reenroll("yamada");
    assert_eq!(open(h, &yamada, &file2, "view").unwrap(), b"plan");

    // An expired document is refused.
    let (file3, header3) = protect(h, &ulid::Ulid::new().to_string(), b"old");
    register(&tanaka, &header3, "old.txt", &["owner=owner"], Some(1));
    assert_eq!(
        denied(open(h, &tanaka, &file3, "view")).0,
        DenyCode::Expired
    );

    // Swapping headers: another file's label stanza, or a doc id edited, never yields a key.
    let mut h2 = envelope::Header::parse_bytes(&file2)
        .unwrap()
        .0
        .stanzas()
        .to_vec();
    let label1 = envelope::Header::parse_bytes(&file)
        .unwrap()
        .0
        .label()
        .unwrap();
    let pos = h2.iter().position(|s| s.tag == "fuda/label").unwrap();
    h2[pos] = label1.to_stanza();
    let hdr = envelope::Header::parse_bytes(&file2).unwrap().0;
    let mut forged = hdr.to_bytes();
    // Rebuild the header text with the swapped stanza but the old MAC.
    let text = String::from_utf8_lossy(&forged).into_owned();
    let doc2 = hdr.label().unwrap().doc_id();
    forged = text.replace(&doc2.to_string(), &doc).into_bytes();
    let r = tanaka.client.licence(Request {
        header: forged,
        rights: "view".parse().unwrap(),
    });
    assert!(
        matches!(r, Err(Error::Denied(ref d)) if d.code == DenyCode::BadHeader),
        "{r:?}"
    );
    // A registered doc id with a header made with another key (a forged file) is refused.
    let label_for_doc2 = LabelStanza::new(doc2, b"x".to_vec());
    let mut other = Vec::new();
    envelope::encrypt(
        &[h.recipient()],
        Some(&label_for_doc2),
        &b"evil"[..],
        &mut other,
        &StreamOptions::default(),
    )
    .unwrap();
    assert_eq!(
        denied(open(h, &tanaka, &other, "view")).0,
        DenyCode::BadHeader
    );
    // Garbage is refused, not crashed on.
    let r = tanaka.client.licence(Request {
        header: b"not a header".to_vec(),
        rights: "view".parse().unwrap(),
    });
    assert!(matches!(r, Err(Error::Denied(ref d)) if d.code == DenyCode::BadHeader));

    // Non-admins cannot administer.
    assert!(matches!(sato.client.user_list(), Err(Error::Forbidden(_))));
    assert!(matches!(
        sato.client.audit_verify(),
        Err(Error::Forbidden(_))
    ));

    // Rotation: new files wrap to the new key; old ones keep opening.
    let before = h.admin().info().unwrap().key_version;
    let after = h.admin().rotate_key().unwrap();
    assert_eq!(after.key_version, before + 1);
    assert_eq!(open(h, &yamada, &file2, "view").unwrap(), b"plan");

    // The directory is the trust store for labels: every active user's signing key.
    let signers = sato.client.signers().unwrap();
    let names: Vec<&str> = signers.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"tanaka") && names.contains(&"sato"),
        "{names:?}"
    );
    assert!(signers.iter().all(|s| s.public_key.len() == 44));

    // Label changes are audited under the caller's name; a downgrade needs a reason,
    // and a bad batch records nothing.
    let change = |action: &str, why: Option<&str>| -> fuda_keyd::audit::LabelChange {
        serde_json::from_value(serde_json::json!({
            "doc": doc, "action": action, "from": "confidential", "to": "internal",
            "path": "/srv/設計/bracket.dxf", "host": "pc-1", "justification": why,
        }))
        .unwrap()
    };
    let bad = sato
        .client
        .label_changes(vec![change("set", None), change("downgrade", None)]);
    assert!(matches!(bad, Err(Error::Invalid(ref m)) if m.contains("justification")));
    assert_eq!(
        sato.client
            .label_changes(vec![change("downgrade", Some("公開済み"))])
            .unwrap(),
        1
    );

    // Every decision is in the audit log, and the chain verifies.
    let records = h
        .admin()
        .audit(fuda_keyd::audit::Query {
            doc: Some(doc.clone()),
            ..Default::default()
        })
        .unwrap();
    assert!(records.iter().any(|r| r.event.action == "protect"));
    let labels: Vec<_> = records
        .iter()
        .filter(|r| r.event.action.starts_with("label-"))
        .collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0].event.action, "label-downgrade");
    assert_eq!(labels[0].event.actor, "sato");
    assert_eq!(labels[0].event.detail["justification"], "公開済み");
    assert!(records.iter().any(|r| r.event.action == "open"
        && r.event.outcome == fuda_keyd::audit::Outcome::Deny
        && r.event.actor == "suzuki"));
    let v = h.admin().audit_verify().unwrap();
    assert!(v.ok, "{v:?}");
    assert!(v.records >= 20);
    let _ = Principal::Owner;
    let _ = Grant {
        principal: Principal::Owner,
        rights: Rights::NONE,
    };
}

/// The organisation's policy: an admin sets it, everyone gets it signed, registrations
/// are held to it.
fn policy_story(h: &dyn Harness) {
    let tanaka = h.person("tanaka", "設計部");
    let _sato = h.person("sato", "生産技術部");
    assert_eq!(
        tanaka.client.policy().unwrap(),
        None,
        "none until an admin sets one"
    );

    let broken = "[policy]\nid = \"acme\"\nversion = 1\n[[levels]]\nid = \"x\"\nrank = \"high\"\n";
    match h.admin().policy_set(broken, "org/broken.toml") {
        Err(Error::Invalid(m)) => assert!(m.contains("org/broken.toml:6:8"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let text = fuda_core::policy::BUILTIN[0].1;
    // A level asking more offline days than the service allows (30) is refused too.
    let too_long = text.replacen("offline_days = 30", "offline_days = 90", 1);
    match h.admin().policy_set(&too_long, "org.toml") {
        Err(Error::Invalid(m)) => assert!(m.contains("90 offline days"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let set = h.admin().policy_set(text, "org.toml").unwrap();
    assert_eq!((set.version, set.previous), (1, None));
    // The same text again is no new version.
    let again = h.admin().policy_set(text, "org.toml").unwrap();
    assert_eq!((again.version, again.diff.as_str()), (1, ""));
    assert!(matches!(
        tanaka.client.policy_set(text, "org.toml"),
        Err(Error::Forbidden(_))
    ));

    let signed = tanaka.client.policy().unwrap().expect("the policy");
    let id = h.admin().info().unwrap().id;
    signed.verify(&id, &h.service_key()).unwrap();
    assert_eq!(
        (signed.policy.version, signed.policy.text.as_str()),
        (1, text)
    );
    assert_eq!(
        h.admin().policy_version(Some(1)).unwrap().policy,
        signed.policy
    );
    assert!(matches!(
        h.admin().policy_version(Some(9)),
        Err(Error::NotFound(_))
    ));

    // 秘 allows at most view,edit,print to anyone beyond its defaults.
    let doc = ulid::Ulid::new().to_string();
    let (_, header) = protect(h, &doc, b"drawing");
    let registration = |grants: &[&str]| Registration {
        header: header.clone(),
        name: "bracket.dxf".into(),
        level: "confidential".into(),
        grants: grants.iter().map(|g| g.parse().unwrap()).collect(),
        max_rights: "view,edit,print,export,share".parse().unwrap(),
        expires_at: None,
        offline_days: 30,
        size: 7,
        digest: "00".repeat(32),
        host: "pc1".into(),
        path: "/work/bracket.dxf".into(),
        owners: Vec::new(),
        dept_rights: None,
    };
    match tanaka
        .client
        .register(registration(&["owner=owner", "user:sato=view,export"]))
    {
        Err(Error::Invalid(m)) => assert!(m.contains("more than level 秘 allows"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let stored = tanaka
        .client
        .register(registration(&["owner=owner", "user:sato=view,print"]))
        .unwrap()
        .document;
    assert_eq!(
        (stored.max_rights.to_string(), stored.offline_days),
        ("view,edit,print".to_owned(), 7),
        "the policy's caps, not the ones claimed"
    );
    // The level's default grant the client left out is added, for tanaka's department as
    // the directory has it.
    assert!(
        stored
            .grants
            .contains(&"group:設計部=view,edit".parse().unwrap()),
        "{:?}",
        stored.grants
    );
    let applied = h.admin().policy_apply().unwrap();
    assert_eq!((applied.version, applied.tightened.len()), (1, 0));
}

#[test]
fn embedded_service_keeps_the_contract() {
    story(&EmbeddedHarness::new());
}

#[test]
fn remote_service_keeps_the_contract() {
    story(&RemoteHarness::new());
}

#[test]
fn embedded_service_keeps_the_policy_contract() {
    policy_story(&EmbeddedHarness::new());
}

#[test]
fn remote_service_keeps_the_policy_contract() {
    policy_story(&RemoteHarness::new());
}

/// `file` with its header replaced by `header` (the payload untouched).
fn with_header(file: &[u8], header: &[u8]) -> Vec<u8> {
    let (_, len) = envelope::Header::parse_bytes(file).unwrap();
    let mut out = header.to_vec();
    out.extend_from_slice(&file[len..]);
    out
}

fn opens_with(file: &[u8], identity: &age::x25519::Identity) -> bool {
    envelope::decrypt_bytes(file, [identity as &dyn age::Identity])
        .is_ok_and(|plain| &plain[..] == b"drawing")
}

/// The recovery key: every registered header carries the recipients in force whatever
/// the client sent; an admin adds one; rewrap brings a registered file to it.
fn recovery_story(h: &dyn Harness) {
    let tanaka = h.person("tanaka", "設計部");
    assert!(h.admin().recovery_recipients().unwrap().is_empty());
    let first = age::x25519::Identity::generate();
    let second = age::x25519::Identity::generate();
    let name = |i: &age::x25519::Identity| i.to_public().to_string();
    assert!(matches!(
        tanaka.client.recovery_add(&name(&first)),
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        h.admin().recovery_add(&name(&first)).unwrap(),
        [name(&first)]
    );
    assert!(matches!(
        h.admin().recovery_add("age1notakey"),
        Err(Error::Invalid(_))
    ));
    assert_eq!(tanaka.client.recovery_recipients().unwrap(), [name(&first)]);

    // The client sent a header without the recovery stanza; the answer's header has it.
    let doc = ulid::Ulid::new().to_string();
    let (file, header) = protect(h, &doc, b"drawing");
    assert!(!opens_with(&file, &first));
    let registered = register(&tanaka, &header, "plan.dxf", &["owner=owner"], None);
    assert_eq!(registered.document.id, doc);
    let file = with_header(&file, &registered.header);
    assert!(opens_with(&file, &first));
    assert_eq!(open(h, &tanaka, &file, "view").unwrap(), b"drawing");

    // A second recipient: rewrap (admin only) adds it, once.
    h.admin().recovery_add(&name(&second)).unwrap();
    assert!(matches!(
        tanaka.client.rewrap(registered.header.clone()),
        Err(Error::Forbidden(_))
    ));
    let done = h.admin().rewrap(registered.header.clone()).unwrap();
    assert!(done.changed);
    assert_eq!(done.doc, doc);
    let file = with_header(&file, &done.header);
    assert!(opens_with(&file, &first) && opens_with(&file, &second));
    assert_eq!(open(h, &tanaka, &file, "view").unwrap(), b"drawing");
    let again = h.admin().rewrap(done.header.clone()).unwrap();
    assert!(!again.changed);
    assert_eq!(again.header, done.header);

    // A file that was never registered is not rewrapped.
    let (_, unregistered) = protect(h, &ulid::Ulid::new().to_string(), b"drawing");
    assert!(matches!(
        h.admin().rewrap(unregistered),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn embedded_service_keeps_the_recovery_contract() {
    recovery_story(&EmbeddedHarness::new());
}

#[test]
fn remote_service_keeps_the_recovery_contract() {
    recovery_story(&RemoteHarness::new());
}

/// A document's life after protection: a new owner (the owner or an admin), a new version
/// (the edit right, a label signed by the saver), a new level (the owner or an admin, a
/// label signed by them) — each refused as the same denial by both clients.
fn life_story(h: &dyn Harness) {
    use fuda_keyd::service::{NewVersion, Reclassify};
    let tanaka = h.person("tanaka", "設計部");
    let sato = h.person("sato", "設計部");
    let suzuki = h.person("suzuki", "営業部");
    let doc = ulid::Ulid::new().to_string();
    let (_file, header) = protect(h, &doc, b"drawing");
    let registered = register(
        &tanaka,
        &header,
        "bracket.dxf",
        &["owner=owner", "group:設計部=view"],
        None,
    );
    assert_eq!(registered.document.version, 1);
    let header = registered.header;
    let no_rights = |r: Result<Registered, Error>, needle: &str| match r {
        Err(Error::Denied(d)) => {
            assert_eq!(d.code, DenyCode::NoRights);
            assert!(d.message.contains(needle), "{}", d.message);
        }
        other => panic!("expected a denial, got {other:?}"),
    };

    // Saving a new version needs edit: none for another department, view is not enough.
    let version = NewVersion {
        header: header.clone(),
        size: 8,
        digest: "11".repeat(32),
    };
    no_rights(suzuki.client.save_version(version.clone()), "edit");
    no_rights(sato.client.save_version(version.clone()), "edit");
    // The owner may, but only with a label signed by their own enrolled key.
    match tanaka.client.save_version(version) {
        Err(Error::Invalid(m)) => assert!(m.contains("signed by you"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A new level: only the owner or an admin, with a label signed by the caller.
    let (_keys, other_signer) = signed_label::signer("mallory");
    let label = signed_label::body(&other_signer, &doc, "strictly-confidential");
    let reclassify = Reclassify {
        header: header.clone(),
        label,
    };
    no_rights(sato.client.reclassify(reclassify.clone()), "owner");
    match tanaka.client.reclassify(reclassify) {
        Err(Error::Invalid(m)) => assert!(m.contains("signed by you"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A new owner: not by a colleague, not to someone outside the directory; by an admin.
    match sato.client.transfer(&doc, "sato") {
        Err(Error::Denied(d)) => assert_eq!(d.code, DenyCode::NoRights),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(matches!(
        h.admin().transfer(&doc, "nobody"),
        Err(Error::Invalid(_))
    ));
    let moved = h.admin().transfer(&doc, "sato").unwrap();
    assert_eq!(moved.owner, "sato");
    // An admin changes grants as the owner would, within the level's caps.
    let granted = h
        .admin()
        .grant(&doc, "user:suzuki=view".parse().unwrap())
        .unwrap();
    assert!(granted
        .grants
        .contains(&"user:suzuki=view".parse().unwrap()));
    assert!(matches!(
        h.admin()
            .grant(&doc, "user:suzuki=view,export".parse().unwrap()),
        Err(Error::Denied(_))
    ));
    // Only hooks and admins register for someone else: a person naming another owner
    // owns the document themselves.
    let other = ulid::Ulid::new().to_string();
    let (_file, other_header) = protect(h, &other, b"drawing");
    let mine = suzuki
        .client
        .register(Registration {
            header: other_header,
            name: "mine.dxf".into(),
            level: "confidential".into(),
            grants: vec!["owner=owner".parse().unwrap()],
            max_rights: "view".parse().unwrap(),
            expires_at: None,
            offline_days: 0,
            size: 7,
            digest: "00".repeat(32),
            host: "pc1".into(),
            path: "/work/mine.dxf".into(),
            owners: vec!["tanaka".into()],
            dept_rights: None,
        })
        .unwrap();
    assert_eq!(mine.document.owner, "suzuki");
    // Registering the same file again: its owner gets the header back, the registry
    // unchanged; anyone else is told it is registered.
    assert!(matches!(
        suzuki.client.register(Registration {
            header: header.clone(),
            name: "bracket.dxf".into(),
            level: "confidential".into(),
            grants: vec!["owner=owner".parse().unwrap()],
            max_rights: "view".parse().unwrap(),
            expires_at: None,
            offline_days: 0,
            size: 7,
            digest: "00".repeat(32),
            host: "pc1".into(),
            path: "/work/bracket.dxf".into(),
            owners: Vec::new(),
            dept_rights: None,
        }),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn embedded_service_keeps_the_document_life_contract() {
    life_story(&EmbeddedHarness::new());
}

#[test]
fn remote_service_keeps_the_document_life_contract() {
    life_story(&RemoteHarness::new());
}

/// A machine reports its files: a signed chunk is taken once (a retry changes nothing),
/// an altered one is refused, a person cannot report, a malformed chunk is invalid.
fn report_story(h: &dyn Harness) {
    use fuda_keyd::report::{signing_input, SignedChunk};
    use ring::signature::KeyPair;
    let code = h
        .admin()
        .user_add(NewUser {
            name: "srv-a".into(),
            display_name: None,
            dept: None,
            admin: false,
            auditor: false,
            kind: fuda_keyd::directory::EntryKind::Machine,
        })
        .unwrap()
        .code;
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let (age, mut e) = enrollment(code);
    drop(age);
    e.signing_key = base64::engine::general_purpose::STANDARD.encode(key.public_key());
    let machine = h.enrolled("srv-a", e);
    let sign = |body: Vec<u8>| SignedChunk {
        signature: key.sign(&signing_input(&body)).as_ref().to_vec(),
        body,
    };
    // A CP932 name (見積.txt): the bytes travel as base64.
    let chunk = |report: &str| {
        serde_json::to_vec(&serde_json::json!({
            "machine": "srv-a", "report": report, "seq": 0, "last": true,
            "files": [{"path": {"bytes": "L3Nydi+MqZDPLnR4dA=="}, "root": "/srv", "size": 3,
                       "modified": 0, "status": "missing"}],
        }))
        .unwrap()
    };
    let ack = machine.report(&sign(chunk("r1"))).unwrap();
    assert_eq!((ack.applied, ack.files, ack.removed), (true, 1, 0));
    let again = machine.report(&sign(chunk("r1"))).unwrap();
    assert!(!again.applied, "a retried chunk is taken once");

    let mut altered = sign(chunk("r2"));
    altered.body = chunk("r3");
    assert!(matches!(machine.report(&altered), Err(Error::Forbidden(_))));
    let tanaka = h.person("tanaka", "設計部");
    assert!(matches!(
        tanaka.client.report(&sign(chunk("r4"))),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        machine.report(&sign(b"{\"machine\": \"srv-a\"}".to_vec())),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn embedded_service_keeps_the_report_contract() {
    report_story(&EmbeddedHarness::new());
}

#[test]
fn remote_service_keeps_the_report_contract() {
    report_story(&RemoteHarness::new());
}
