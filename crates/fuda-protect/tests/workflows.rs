//! The protected-file workflows against a real key service in-process
//! (`fuda_keyd::client::Embedded` over a temporary `fuda_keyd::Service`): no binary spawned.

use std::io::Read;
use std::path::{Path, PathBuf};

use fuda_core::identity::Identity;
use fuda_core::policy::Policy;
use fuda_core::rights::{Right, Rights};
use fuda_keyd::audit::{LabelChange, NewestLabel, Query, Record, Verification};
use fuda_keyd::client::{Embedded, KeyService};
use fuda_keyd::directory::{EnrolledSigner, Enrollment, Group, NewUser, User, UserStatus};
use fuda_keyd::licence::{Granted, Request};
use fuda_keyd::registry::{Document, Grant, Principal, Registration, Revocation};
use fuda_keyd::service::{
    DocumentRights, Registered, RevokeTarget, Rewrapped, ServiceInfo, UserAdded,
};
use fuda_keyd::tls::PinMismatch;
use fuda_keyd::Service;
use fuda_protect::{
    Account, Connection, LicenceCache, LicenceSource, ProtectError, Protection, Protector,
};

/// tanaka (設計部, the service's admin) and sato (営業部), enrolled with their own keys at
/// one service; a policy whose files are also encrypted to a recovery key.
struct Office {
    dir: tempfile::TempDir,
    service: Service,
    tanaka: Identity,
    sato: Identity,
    recovery: age::x25519::Identity,
    policy: Policy,
}

fn office() -> Office {
    let dir = tempfile::tempdir().unwrap();
    let tanaka = Identity::create(&dir.path().join("tanaka"), "tanaka").unwrap();
    let sato = Identity::create(&dir.path().join("sato"), "sato").unwrap();
    let key = |i: &Identity| fuda_core::trust::encode_public_key(i.public_key());
    let service = Service::init_embedded(
        &dir.path().join("keyd"),
        NewUser {
            name: "tanaka".into(),
            display_name: None,
            dept: Some("設計部".into()),
            admin: true,
            auditor: false,
            kind: Default::default(),
        },
        &tanaka.recipient().to_string(),
        &key(&tanaka),
    )
    .unwrap();
    let added = Embedded::new(service.clone(), "tanaka")
        .user_add(NewUser {
            name: "sato".into(),
            display_name: None,
            dept: Some("営業部".into()),
            admin: false,
            auditor: false,
            kind: Default::default(),
        })
        .unwrap();
    service
        .enroll(Enrollment {
            code: added.code,
            recipient: sato.recipient().to_string(),
            signing_key: key(&sato),
        })
        .unwrap();
    let recovery = age::x25519::Identity::generate();
    let mut policy = Policy::builtin("default").unwrap();
    policy.recovery_recipients = vec![recovery.to_public().to_string()];
    Office {
        dir,
        service,
        tanaka,
        sato,
        recovery,
        policy,
    }
}

impl Office {
    fn conn(&self, user: &str) -> Connection {
        Connection::embedded(Embedded::new(self.service.clone(), user)).unwrap()
    }

    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn view() -> Rights {
    Rights::NONE.with(Right::View)
}

fn read_all(opened: fuda_protect::Opened) -> Vec<u8> {
    let mut out = Vec::new();
    opened.write_to(&mut out).unwrap();
    out
}

/// The file names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_protected_file_is_an_age_file_that_opens_with_the_recovery_key_and_no_other() {
    let o = office();
    let content = b"0\nSECTION\n2\nENTITIES\n".repeat(4000);
    let drawing = o.write("bracket.dxf", &content);
    let conn = o.conn("tanaka");
    let account = Account {
        conn: &conn,
        identity: &o.tanaka,
        licences: None,
    };
    let protector = Protector::new(&account, &o.policy, Some("設計部".into()), "cad-01").unwrap();
    let level = o.policy.level("confidential").unwrap();
    let done = protector
        .protect(&drawing, &Protection::manual(level))
        .unwrap();

    assert_eq!(done.path, o.dir.path().join("bracket.dxf.fuda"));
    assert!(
        !drawing.exists(),
        "the original goes once the copy verified"
    );
    let protected = std::fs::read(&done.path).unwrap();

    // Plain age (the reference implementation) opens it with the organisation's recovery key…
    let mut back = Vec::new();
    age::Decryptor::new(&protected[..])
        .unwrap()
        .decrypt(std::iter::once(&o.recovery as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, content);
    // …and not with a user's own key: users get the file key only through a licence.
    let stranger = age::Decryptor::new(&protected[..])
        .unwrap()
        .decrypt(std::iter::once(
            o.tanaka.age_identity() as &dyn age::Identity
        ));
    assert!(stranger.is_err());

    // The owner opens it through the service; the label names the document registered.
    let opened = account.open(&done.path, view()).unwrap();
    assert_eq!(opened.doc, done.doc);
    assert_eq!(opened.source, LicenceSource::Service);
    assert_eq!(read_all(opened), content);
    let rights = conn.rights(&done.path).unwrap();
    assert_eq!(rights.document.owner, "tanaka");
    assert!(rights
        .document
        .grants
        .iter()
        .any(|g| g.principal == Principal::Group("設計部".into())));
}

#[test]
fn a_refused_registration_leaves_the_plaintext_untouched_and_no_protected_copy() {
    let o = office();
    let content = b"quotation: 1,200,000 JPY".to_vec();
    let quote = o.write("quote.txt", &content);
    // The admin disables sato: the service refuses whatever sato asks.
    Embedded::new(o.service.clone(), "tanaka")
        .user_status("sato", UserStatus::Disabled)
        .unwrap();
    let conn = o.conn("sato");
    let account = Account {
        conn: &conn,
        identity: &o.sato,
        licences: None,
    };
    let protector = Protector::new(&account, &o.policy, None, "pc-02").unwrap();
    let level = o.policy.level("internal").unwrap();
    let before = names(o.dir.path());

    let e = protector
        .protect(&quote, &Protection::manual(level))
        .unwrap_err();

    assert!(matches!(e, ProtectError::Register { .. }), "{e:?}");
    assert!(e.to_string().contains("nothing changed"), "{e}");
    assert_eq!(std::fs::read(&quote).unwrap(), content);
    assert_eq!(
        names(o.dir.path()),
        before,
        "no .fuda and no temporary file"
    );
}

#[test]
fn the_original_is_removed_only_after_the_protected_copy_opened_and_matched() {
    let o = office();
    let level = o.policy.level("confidential").unwrap();

    // The service registers the copy but then will not hand out its key: the copy cannot
    // be verified, so the original stays and the copy goes.
    let content = b"design review minutes".to_vec();
    let minutes = o.write("minutes.txt", &content);
    let conn = faulty(&o, Fault::NoLicence);
    let account = Account {
        conn: &conn,
        identity: &o.tanaka,
        licences: None,
    };
    let protector = Protector::new(&account, &o.policy, None, "pc-01").unwrap();
    let e = protector
        .protect(&minutes, &Protection::manual(level))
        .unwrap_err();
    assert!(matches!(e, ProtectError::Unverified { .. }), "{e:?}");
    assert_eq!(std::fs::read(&minutes).unwrap(), content);
    assert!(!o.dir.path().join("minutes.txt.fuda").exists());

    // The original changes while it is being protected (an editor saves during the
    // registration): the copy no longer matches it, so the original (new content) is kept.
    let plan = o.write("plan.txt", b"plan v1");
    let conn = faulty(&o, Fault::EditDuringRegistration(plan.clone()));
    let account = Account {
        conn: &conn,
        identity: &o.tanaka,
        licences: None,
    };
    let protector = Protector::new(&account, &o.policy, None, "pc-01").unwrap();
    let e = protector
        .protect(&plan, &Protection::manual(level))
        .unwrap_err();
    assert!(matches!(e, ProtectError::Changed { .. }), "{e:?}");
    assert_eq!(std::fs::read(&plan).unwrap(), b"plan v2, saved meanwhile");
    assert!(!o.dir.path().join("plan.txt.fuda").exists());
}

#[test]
fn a_garbled_or_forged_header_from_the_service_leaves_the_original_and_no_protected_copy() {
    for fault in [Fault::GarbledHeader, Fault::ForgedHeader] {
        refused_header(fault);
    }
}

fn refused_header(fault: Fault) {
    let o = office();
    let level = o.policy.level("confidential").unwrap();
    let plan = o.write("plan.txt", b"plan v1");
    let conn = faulty(&o, fault);
    let account = Account {
        conn: &conn,
        identity: &o.tanaka,
        licences: None,
    };
    let protector = Protector::new(&account, &o.policy, None, "pc-01").unwrap();
    let e = protector
        .protect(&plan, &Protection::manual(level))
        .unwrap_err();
    assert!(e.to_string().contains("plan.txt.fuda"), "{e}");
    assert_eq!(std::fs::read(&plan).unwrap(), b"plan v1");
    assert!(!o.dir.path().join("plan.txt.fuda").exists());
}

#[test]
fn a_protected_file_carries_the_services_recovery_recipient_though_the_policy_has_none() {
    let o = office();
    let recovery = fuda_core::envelope::x25519::Identity::generate();
    o.service
        .recovery_init("tanaka", &recovery.to_public().to_string())
        .unwrap();
    let mut policy = o.policy.clone();
    policy.recovery_recipients.clear();
    let level = policy.level("confidential").unwrap();
    let plan = o.write("plan.txt", b"plan v1");
    let conn = o.conn("tanaka");
    let account = Account {
        conn: &conn,
        identity: &o.tanaka,
        licences: None,
    };
    let done = Protector::new(&account, &policy, None, "pc-01")
        .unwrap()
        .protect(&plan, &Protection::manual(level))
        .unwrap();
    let out = o.dir.path().join("recovered.txt");
    let key = o.dir.path().join("recovery.txt");
    std::fs::write(
        &key,
        &*fuda_core::recovery_key::identity_file_text(&recovery, "test"),
    )
    .unwrap();
    fuda_core::envelope::recover(&done.path, &key, &out, false).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"plan v1");
    // The owner still opens it through the service.
    let opened = account
        .open(&done.path, Rights::NONE.with(Right::View))
        .unwrap();
    let mut text = Vec::new();
    opened.reader().unwrap().read_to_end(&mut text).unwrap();
    assert_eq!(text, b"plan v1");
}

#[test]
fn sharing_gives_a_licence_and_unsharing_takes_it_away() {
    let o = office();
    let content = b"customer drawing, rev. C".to_vec();
    let drawing = o.write("customer.dxf", &content);
    let tanaka_conn = o.conn("tanaka");
    let tanaka = Account {
        conn: &tanaka_conn,
        identity: &o.tanaka,
        licences: None,
    };
    let protector = Protector::new(&tanaka, &o.policy, Some("設計部".into()), "cad-01").unwrap();
    let level = o.policy.level("confidential").unwrap();
    let done = protector
        .protect(&drawing, &Protection::manual(level))
        .unwrap();
    let sato_conn = o.conn("sato");
    let sato = Account {
        conn: &sato_conn,
        identity: &o.sato,
        licences: None,
    };

    // sato (営業部) has no grant: no licence.
    let denied = sato.open(&done.path, view()).unwrap_err();
    assert!(
        matches!(
            &denied,
            ProtectError::Service {
                source: fuda_keyd::Error::Denied(_),
                ..
            }
        ),
        "{denied:?}"
    );

    // The owner shares with sato: sato's next request gets a licence and the content.
    let grant: Grant = "user:sato=view".parse().unwrap();
    tanaka_conn.share(&done.path, grant).unwrap();
    let opened = sato.open(&done.path, view()).unwrap();
    assert_eq!(opened.rights(), view());
    assert_eq!(read_all(opened), content);
    // View is not export: sato may not write it out unprotected, and nothing is written.
    let out = o.dir.path().join("sato-copy.dxf");
    assert!(sato.export(&done.path, &out).is_err());
    assert!(!out.exists());

    // The owner takes the grant away: sato's next request is refused.
    tanaka_conn
        .unshare(&done.path, &Principal::User("sato".into()))
        .unwrap();
    assert!(sato.open(&done.path, view()).is_err());
    // sato may not share it either (no share right).
    let e = sato_conn
        .share(&done.path, "user:sato=view".parse().unwrap())
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProtectError::Service {
                action: "share",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn an_unreachable_service_falls_back_to_an_offline_licence_within_its_period() {
    let o = office();
    let content = b"offline reading".to_vec();
    let file = o.write("notes.txt", &content);
    let cache = LicenceCache::new(o.dir.path().join("licences"));
    let conn = o.conn("tanaka");
    let online = Account {
        conn: &conn,
        identity: &o.tanaka,
        licences: Some(cache.clone()),
    };
    let protector = Protector::new(&online, &o.policy, None, "pc-01").unwrap();
    // Confidential: 7 offline days.
    let level = o.policy.level("confidential").unwrap();
    let done = protector
        .protect(&file, &Protection::manual(level))
        .unwrap();
    read_all(online.open(&done.path, view()).unwrap());

    let down = faulty(&o, Fault::Unreachable);
    let offline = Account {
        conn: &down,
        identity: &o.tanaka,
        licences: Some(cache),
    };
    let opened = offline.open(&done.path, view()).unwrap();
    assert!(
        matches!(opened.source, LicenceSource::Offline { .. }),
        "{:?}",
        opened.source
    );
    assert_eq!(read_all(opened), content);
    // A certificate that is not the pinned one is no better than no service: the offline
    // licence is used, and the mismatch is handed up for the user to hear of.
    let intercepted = faulty(&o, Fault::WrongCertificate);
    let account = Account {
        conn: &intercepted,
        identity: &o.tanaka,
        licences: Some(LicenceCache::new(o.dir.path().join("licences"))),
    };
    let opened = account.open(&done.path, view()).unwrap();
    assert!(
        matches!(&opened.source, LicenceSource::Offline { pin_mismatch: Some(m), .. } if m.seen == "intercepted"),
        "{:?}",
        opened.source
    );
    // Without the cached licence there is nothing to fall back on.
    let nothing = Account {
        conn: &down,
        identity: &o.tanaka,
        licences: None,
    };
    let e = nothing.open(&done.path, view()).unwrap_err();
    assert!(
        matches!(e, ProtectError::Offline { .. }) && e.to_string().contains("no offline licence"),
        "{e}"
    );
}

/// What a [`Faulty`] service does wrong.
enum Fault {
    /// Refuses every licence (after registering normally).
    NoLicence,
    /// Cannot be reached for licences.
    Unreachable,
    /// Answers for licences with a certificate that is not the pinned one.
    WrongCertificate,
    /// Registers, but the file at this path is edited during the registration.
    EditDuringRegistration(PathBuf),
    /// Registers, but answers with a header that is not a header.
    GarbledHeader,
    /// Registers, but answers with a header whose MAC was made without the file key.
    ForgedHeader,
}

/// The real service as tanaka, with one fault.
struct Faulty {
    inner: Embedded,
    fault: Fault,
}

/// A connection to the real service as tanaka, with one `fault`.
fn faulty(o: &Office, fault: Fault) -> Connection {
    let inner = Embedded::new(o.service.clone(), "tanaka");
    let key = inner.service().info().signing_key;
    Connection::pinned(Box::new(Faulty { inner, fault }), &key).unwrap()
}

impl KeyService for Faulty {
    fn info(&self) -> Result<ServiceInfo, fuda_keyd::Error> {
        self.inner.info()
    }
    fn whoami(&self) -> Result<User, fuda_keyd::Error> {
        self.inner.whoami()
    }
    fn signers(&self) -> Result<Vec<EnrolledSigner>, fuda_keyd::Error> {
        self.inner.signers()
    }
    fn label_changes(&self, changes: Vec<LabelChange>) -> Result<usize, fuda_keyd::Error> {
        self.inner.label_changes(changes)
    }
    fn label_versions(&self, docs: Vec<String>) -> Result<Vec<NewestLabel>, fuda_keyd::Error> {
        self.inner.label_versions(docs)
    }
    fn register(&self, registration: Registration) -> Result<Registered, fuda_keyd::Error> {
        if let Fault::EditDuringRegistration(path) = &self.fault {
            std::fs::write(path, b"plan v2, saved meanwhile").unwrap();
        }
        let mut registered = self.inner.register(registration)?;
        if let Fault::GarbledHeader = &self.fault {
            registered.header = b"age-encryption.org/v1\n-> X25519\n".to_vec();
        }
        if let Fault::ForgedHeader = &self.fault {
            // Same document, one more stanza, a MAC made without this file's key.
            let (header, _) = fuda_core::envelope::Header::parse_bytes(&registered.header).unwrap();
            let mut stanzas = header.stanzas().to_vec();
            stanzas.push(stanzas[0].clone());
            let other = fuda_core::envelope::FileKey::generate().unwrap();
            registered.header = fuda_core::envelope::Header::new(stanzas, &other)
                .unwrap()
                .to_bytes();
        }
        Ok(registered)
    }
    fn licence(&self, request: Request) -> Result<Granted, fuda_keyd::Error> {
        match self.fault {
            Fault::NoLicence => Err(fuda_keyd::Error::Forbidden("no licences today".into())),
            Fault::Unreachable => Err(fuda_keyd::Error::Transport("connection refused".into())),
            Fault::WrongCertificate => Err(fuda_keyd::Error::CertificateMismatch(PinMismatch {
                expected: "pinned".into(),
                seen: "intercepted".into(),
            })),
            Fault::EditDuringRegistration(_) | Fault::GarbledHeader | Fault::ForgedHeader => {
                self.inner.licence(request)
            }
        }
    }
    fn document(&self, doc: &str) -> Result<DocumentRights, fuda_keyd::Error> {
        self.inner.document(doc)
    }
    fn grant(&self, doc: &str, grant: Grant) -> Result<Document, fuda_keyd::Error> {
        self.inner.grant(doc, grant)
    }
    fn ungrant(&self, doc: &str, principal: &Principal) -> Result<Document, fuda_keyd::Error> {
        self.inner.ungrant(doc, principal)
    }
    fn user_add(&self, user: NewUser) -> Result<UserAdded, fuda_keyd::Error> {
        self.inner.user_add(user)
    }
    fn user_code(&self, name: &str) -> Result<UserAdded, fuda_keyd::Error> {
        self.inner.user_code(name)
    }
    fn user_status(&self, name: &str, status: UserStatus) -> Result<User, fuda_keyd::Error> {
        self.inner.user_status(name, status)
    }
    fn revoke_tokens(&self, name: &str) -> Result<usize, fuda_keyd::Error> {
        self.inner.revoke_tokens(name)
    }
    fn user_list(&self) -> Result<Vec<User>, fuda_keyd::Error> {
        self.inner.user_list()
    }
    fn group_add(&self, name: &str) -> Result<(), fuda_keyd::Error> {
        self.inner.group_add(name)
    }
    fn group_member(&self, group: &str, user: &str, member: bool) -> Result<(), fuda_keyd::Error> {
        self.inner.group_member(group, user, member)
    }
    fn group_list(&self) -> Result<Vec<Group>, fuda_keyd::Error> {
        self.inner.group_list()
    }
    fn revoke(&self, target: RevokeTarget) -> Result<Revocation, fuda_keyd::Error> {
        self.inner.revoke(target)
    }
    fn unrevoke(&self, target: RevokeTarget) -> Result<(), fuda_keyd::Error> {
        self.inner.unrevoke(target)
    }
    fn revocations(&self) -> Result<Vec<Revocation>, fuda_keyd::Error> {
        self.inner.revocations()
    }
    fn documents(&self) -> Result<Vec<Document>, fuda_keyd::Error> {
        self.inner.documents()
    }
    fn ledger(&self, out: &mut dyn std::io::Write) -> Result<(), fuda_keyd::Error> {
        self.inner.ledger(out)
    }
    fn report(
        &self,
        chunk: &fuda_keyd::report::SignedChunk,
    ) -> Result<fuda_keyd::report::ReportAck, fuda_keyd::Error> {
        self.inner.report(chunk)
    }
    fn audit(&self, query: Query) -> Result<Vec<Record>, fuda_keyd::Error> {
        self.inner.audit(query)
    }
    fn audit_verify(&self) -> Result<Verification, fuda_keyd::Error> {
        self.inner.audit_verify()
    }
    fn audit_verify_against(
        &self,
        held: Vec<fuda_keyd::checkpoint::Checkpoint>,
    ) -> Result<Verification, fuda_keyd::Error> {
        self.inner.audit_verify_against(held)
    }
    fn console_link(&self) -> Result<fuda_keyd::console::ConsoleLink, fuda_keyd::Error> {
        self.inner.console_link()
    }
    fn rotate_key(&self) -> Result<ServiceInfo, fuda_keyd::Error> {
        self.inner.rotate_key()
    }
    fn policy(&self) -> Result<Option<fuda_keyd::policy::SignedPolicy>, fuda_keyd::Error> {
        self.inner.policy()
    }
    fn policy_set(
        &self,
        text: &str,
        origin: &str,
    ) -> Result<fuda_keyd::policy::PolicySet, fuda_keyd::Error> {
        self.inner.policy_set(text, origin)
    }
    fn policy_version(
        &self,
        version: Option<u32>,
    ) -> Result<fuda_keyd::policy::SignedPolicy, fuda_keyd::Error> {
        self.inner.policy_version(version)
    }
    fn policy_apply(&self) -> Result<fuda_keyd::policy::Applied, fuda_keyd::Error> {
        self.inner.policy_apply()
    }
    fn recovery_recipients(&self) -> Result<Vec<String>, fuda_keyd::Error> {
        self.inner.recovery_recipients()
    }
    fn recovery_add(&self, recipient: &str) -> Result<Vec<String>, fuda_keyd::Error> {
        self.inner.recovery_add(recipient)
    }
    fn rewrap(&self, header: Vec<u8>) -> Result<Rewrapped, fuda_keyd::Error> {
        self.inner.rewrap(header)
    }
    fn transfer(&self, doc: &str, owner: &str) -> Result<Document, fuda_keyd::Error> {
        self.inner.transfer(doc, owner)
    }
    fn save_version(
        &self,
        version: fuda_keyd::service::NewVersion,
    ) -> Result<Registered, fuda_keyd::Error> {
        self.inner.save_version(version)
    }
    fn reclassify(
        &self,
        reclassify: fuda_keyd::service::Reclassify,
    ) -> Result<Registered, fuda_keyd::Error> {
        self.inner.reclassify(reclassify)
    }
}
