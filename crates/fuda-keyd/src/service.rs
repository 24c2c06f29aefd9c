//! The service: every decision, over a [`Store`], audited in the same transaction.
//!
//! One writer thread owns the store. Requests become jobs; the writer takes every job
//! waiting (up to [`MAX_BATCH`]) and runs them in one transaction, each in a savepoint, then
//! commits once (one fsync) and only then answers them: group commit. A decision is never
//! acknowledged before its audit record is durable. Cryptography (unwrapping the header,
//! sealing the key, signing the licence) runs on the caller's thread, outside the writer.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, RwLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fuda_core::envelope::{FileKey, Header};
use fuda_core::label::verify::verify;
use fuda_core::label::{SignedLabel, Status};
use fuda_core::rights::{Right, Rights};
use fuda_core::store::Stored;
use fuda_core::trust::{decode_public_key, Signer, SignerKind, TrustStore};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Event, LabelChange};
use crate::cache::{self, Cache, Digest};
use crate::directory::{
    self, Enrolled, EnrolledSigner, Enrollment, Group, NewUser, User, UserStatus,
};
use crate::error::{Denial, DenyCode, Error};
pub use crate::keys::ServiceInfo;
use crate::keys::ServiceKeys;
use crate::licence::{self, Granted, Licence, SignedLicence};
use crate::limits::Limits;
use crate::registry::{Document, Grant, Principal, Registration, Revocation};
use crate::store::sqlite::SqliteStore;
use crate::store::{append_audit, DocRow, Store, StoreError, Tx};

/// Most jobs committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// How long an enrollment code stays valid (seconds).
pub const ENROLLMENT_TTL: i64 = 7 * 86_400;

/// File name of the database in the data directory.
pub const DB_FILE: &str = "keyd.db";

/// Who is asking.
#[derive(Clone)]
pub enum Caller {
    /// A bearer token (remote clients); resolved to a user inside the transaction.
    Token(String),
    /// A user of the embedded service (the process is the user).
    Local(String),
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Token(_) => f.write_str("Caller::Token(<redacted>)"),
            Caller::Local(n) => write!(f, "Caller::Local({n})"),
        }
    }
}

/// A document with the caller's own rights on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentRights {
    /// The document.
    pub document: Document,
    /// What the caller may do.
    pub rights: Rights,
}

/// A user just added, with their one-time enrollment code.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserAdded {
    /// The user.
    pub user: User,
    /// One-time enrollment code (shown once).
    pub code: String,
}

/// What to revoke or unrevoke: a document, a user, or a user on a document.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RevokeTarget {
    /// The document.
    #[serde(default)]
    pub doc: Option<String>,
    /// The user.
    #[serde(default)]
    pub user: Option<String>,
}

type Finisher = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut dyn Tx) -> (bool, Finisher) + Send>;

struct Inner {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    keys: RwLock<Arc<ServiceKeys>>,
    /// File keys (and key versions) by header digest.
    unwrapped: Cache<(FileKey, u32)>,
    /// Sealed file keys by (header digest, recipient).
    sealed: Cache<Vec<u8>>,
    dir: PathBuf,
    id: String,
    limits: Limits,
}

/// The key service. Cheap to clone; every clone shares one writer.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("dir", &self.inner.dir)
            .field("id", &self.inner.id)
            .finish()
    }
}

fn key_check(key: &FileKey) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"fuda-keyd/key-check/v1");
    ctx.update(key.expose());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

fn audit_err(e: StoreError) -> Error {
    Error::Store(e)
}

/// The rights `user` holds on `doc` through its grants.
pub fn effective_rights(doc: &Document, user: &User) -> Rights {
    doc.grants
        .iter()
        .filter(|g| g.principal.matches(user, &doc.owner))
        .fold(Rights::NONE, |acc, g| {
            g.rights.iter().fold(acc, |a, r| a.with(r))
        })
}

impl Service {
    /// Creates a new service in `dir`: keys, database, and the first admin (returned with
    /// a one-time enrollment code). Refuses if keys exist.
    pub fn init(dir: &Path, admin: NewUser) -> Result<(Service, UserAdded), Error> {
        fuda_core::fsutil::create_private_dir(dir).map_err(|source| {
            Error::Keys(crate::keys::KeyError::Io {
                path: dir.to_owned(),
                source,
            })
        })?;
        ServiceKeys::init(&dir.join("keys"))?;
        let service = Service::open(dir)?;
        let added = service.bootstrap_user(admin, None)?;
        Ok((service, added))
    }

    /// Creates an embedded service in `dir` whose admin is the local user, enrolled with
    /// their keys directly (no code).
    pub fn init_embedded(
        dir: &Path,
        user: NewUser,
        recipient: &str,
        signing_key: &str,
    ) -> Result<Service, Error> {
        fuda_core::fsutil::create_private_dir(dir).map_err(|source| {
            Error::Keys(crate::keys::KeyError::Io {
                path: dir.to_owned(),
                source,
            })
        })?;
        ServiceKeys::init(&dir.join("keys"))?;
        let service = Service::open(dir)?;
        service.bootstrap_user(user, Some((recipient.to_owned(), signing_key.to_owned())))?;
        Ok(service)
    }

    fn bootstrap_user(
        &self,
        admin: NewUser,
        keys: Option<(String, String)>,
    ) -> Result<UserAdded, Error> {
        let id = self.inner.id.clone();
        let akey = self.keys();
        self.run(move |tx| {
            if tx.meta_get("service_id")?.is_none() {
                tx.meta_set("service_id", &id)?;
            }
            directory::validate_name("user", &admin.name)?;
            let user = User {
                name: admin.name.clone(),
                display_name: admin
                    .display_name
                    .clone()
                    .unwrap_or_else(|| admin.name.clone()),
                dept: admin.dept.clone(),
                status: UserStatus::Active,
                admin: true,
                recipient: keys.as_ref().map(|k| k.0.clone()),
                signing_key: keys.as_ref().map(|k| k.1.clone()),
                groups: Vec::new(),
            };
            tx.user_put(&user)?;
            let code = directory::new_secret("fudaenroll")?;
            if keys.is_none() {
                tx.enrollment_add(
                    &directory::secret_hash(&code),
                    &user.name,
                    crate::now() + ENROLLMENT_TTL,
                )?;
            }
            append_audit(
                tx,
                akey.audit_key(),
                Event::allow(&user.name, "init").subject(&user.name),
            )?;
            Ok(UserAdded { user, code })
        })
    }

    /// Opens the service in `dir` (keys and database) with the default [`Limits`] and
    /// starts its writer thread.
    pub fn open(dir: &Path) -> Result<Service, Error> {
        Service::open_with(dir, Limits::default())
    }

    /// Opens the service in `dir` with the given caps.
    pub fn open_with(dir: &Path, limits: Limits) -> Result<Service, Error> {
        let keys = ServiceKeys::load(&dir.join("keys"))?;
        let mut store = SqliteStore::open(&dir.join(DB_FILE))?;
        let mut id = None;
        store.transaction(&mut |tx| {
            id = tx.meta_get("service_id")?;
            if id.is_none() {
                let new = ulid::Ulid::new().to_string();
                tx.meta_set("service_id", &new)?;
                id = Some(new);
            }
            Ok(())
        })?;
        Ok(Service::start(
            Box::new(store),
            keys,
            dir,
            id.unwrap_or_default(),
            limits,
        ))
    }

    /// Starts a service over any store.
    pub fn start(
        store: Box<dyn Store>,
        keys: ServiceKeys,
        dir: &Path,
        id: String,
        limits: Limits,
    ) -> Service {
        let (tx, rx) = mpsc::channel::<Job>();
        let writer = std::thread::Builder::new()
            .name("fuda-keyd-writer".into())
            .spawn(move || writer(store, rx))
            .expect("spawn the writer thread");
        Service {
            inner: Arc::new(Inner {
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                keys: RwLock::new(Arc::new(keys)),
                unwrapped: Cache::new(cache::DEFAULT_CAPACITY),
                sealed: Cache::new(cache::DEFAULT_CAPACITY),
                dir: dir.to_owned(),
                id,
                limits,
            }),
        }
    }

    /// Stops accepting work, lets the writer commit what it has, and waits for it.
    pub fn close(&self) {
        self.inner.jobs.lock().expect("jobs lock").take();
        if let Some(h) = self.inner.writer.lock().expect("writer lock").take() {
            let _ = h.join();
        }
    }

    fn keys(&self) -> Arc<ServiceKeys> {
        self.inner.keys.read().expect("keys lock").clone()
    }

    /// Sends a job to the writer and returns where its answer will arrive.
    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<Result<T, Error>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx: &mut dyn Tx| {
            let result = f(tx);
            // Store failures undo the job; refusals keep their audit record.
            let keep = !matches!(result, Err(Error::Store(_)));
            let finish: Finisher = Box::new(move |commit| {
                let _ = reply.send(match commit {
                    Ok(()) => result,
                    Err(e) => Err(Error::Store(e.clone())),
                });
            });
            (keep, finish)
        });
        let sender = self.inner.jobs.lock().expect("jobs lock").clone();
        match sender {
            Some(s) => {
                if let Err(mpsc::SendError(job)) = s.send(job) {
                    drop(job);
                }
            }
            None => drop(job),
        }
        answer
    }

    /// Runs a job and waits (blocking) for its committed answer.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.submit(f)
            .blocking_recv()
            .unwrap_or(Err(Error::ShuttingDown))
    }

    /// Runs a job and awaits its committed answer.
    async fn run_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.submit(f).await.unwrap_or(Err(Error::ShuttingDown))
    }

    /// The service's id and public keys.
    pub fn info(&self) -> ServiceInfo {
        self.keys().info(&self.inner.id)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

/// Resolves the caller to a user. Bad credentials write nothing.
fn resolve(tx: &mut dyn Tx, caller: &Caller, limits: &Limits) -> Result<User, Error> {
    let name = match caller {
        Caller::Local(n) => n.clone(),
        Caller::Token(t) => {
            let invalid = || {
                Error::Unauthorized(
                    "the API token is not valid (revoked, expired, replaced by a newer enrollment, or mistyped): enroll again with `fuda init --service URL --enroll CODE` (ask an admin for a code)".into(),
                )
            };
            let (name, created_at) = tx
                .token_user(&directory::secret_hash(t))?
                .ok_or_else(invalid)?;
            if !limits.token_valid(created_at, crate::now()) {
                return Err(invalid());
            }
            name
        }
    };
    tx.user_get(&name)?
        .ok_or_else(|| Error::Unauthorized(format!("user {name} is not in the directory")))
}

/// A disabled user is refused everywhere, and the refusal audited.
fn require_active(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    user: &User,
    action: &str,
    doc: Option<&str>,
) -> Result<(), Error> {
    if user.status == UserStatus::Active {
        return Ok(());
    }
    let mut ev = Event::allow(&user.name, action).deny(DenyCode::UserDisabled.as_str());
    ev.doc = doc.map(str::to_owned);
    append_audit(tx, key, ev).map_err(audit_err)?;
    Err(Error::Denied(Denial {
        code: DenyCode::UserDisabled,
        message: format!(
            "your account {} is disabled: ask an administrator to enable it",
            user.name
        ),
    }))
}

fn require_admin(user: &User) -> Result<(), Error> {
    if user.admin {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "{} is not an administrator of this key service",
            user.name
        )))
    }
}

/// Audits a denial and returns it as an error.
fn deny<T>(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    ev: Event,
    code: DenyCode,
    message: String,
) -> Result<T, Error> {
    append_audit(tx, key, ev.deny(code.as_str())).map_err(audit_err)?;
    Err(Error::Denied(Denial { code, message }))
}

/// What the header says, checked outside the writer.
struct HeaderCheck {
    doc: Option<String>,
    /// SHA-256 of the header bytes (all zero when they do not parse).
    digest: Digest,
    outcome: Result<(FileKey, u32), Denial>,
}

fn check_header(keys: &ServiceKeys, cache: &Cache<(FileKey, u32)>, bytes: &[u8]) -> HeaderCheck {
    let bad = |message: String| Denial {
        code: DenyCode::BadHeader,
        message,
    };
    let (header, len) = match Header::parse_bytes(bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            return HeaderCheck {
                doc: None,
                digest: [0; 32],
                outcome: Err(bad(format!(
                    "the request does not carry a valid fuda file header: {e}"
                ))),
            }
        }
    };
    let doc = header.label().map(|l| l.doc_id().to_string());
    let digest = cache::digest(&[&bytes[..len]]);
    if doc.is_none() {
        return HeaderCheck {
            doc,
            digest,
            outcome: Err(bad(
                "the file has no fuda/label stanza: it was not protected with fuda".into(),
            )),
        };
    }
    if let Some(hit) = cache.get(&digest) {
        return HeaderCheck {
            doc,
            digest,
            outcome: Ok(hit),
        };
    }
    let outcome = keys.unwrap(&header).map_err(|e| match e {
        fuda_core::envelope::Error::HeaderMac => bad(
            "the file's header was modified or comes from another file (its MAC does not match): ask the owner for an intact copy".into(),
        ),
        _ => bad(
            "this file was not protected for this key service (none of its keys opens it): ask the owner to protect it again, or use the recovery key".into(),
        ),
    });
    if let Ok(unwrapped) = &outcome {
        cache.insert(digest, unwrapped);
    }
    HeaderCheck {
        doc,
        digest,
        outcome,
    }
}

impl Service {
    /// Redeems a one-time enrollment code: stores the user's public keys, returns a token.
    pub fn enroll(&self, e: Enrollment) -> Result<Enrolled, Error> {
        let (key, info) = (self.keys(), self.info());
        self.run(move |tx| enroll(tx, &key, info, e))
    }

    /// Async [`Service::enroll`].
    pub async fn enroll_async(&self, e: Enrollment) -> Result<Enrolled, Error> {
        let (key, info) = (self.keys(), self.info());
        self.run_async(move |tx| enroll(tx, &key, info, e)).await
    }

    /// The caller's directory entry.
    pub async fn whoami(&self, caller: Caller) -> Result<User, Error> {
        let limits = self.inner.limits;
        self.run_async(move |tx| resolve(tx, &caller, &limits))
            .await
    }

    /// Registers a protected document (at `fuda protect`).
    pub async fn register(&self, caller: Caller, r: Registration) -> Result<Document, Error> {
        let keys = self.keys();
        let check = check_header(&keys, &self.inner.unwrapped, &r.header);
        let label = signed_label(&r.header);
        let (key, limits) = (keys.clone(), self.inner.limits);
        self.run_async(move |tx| register(tx, &key, &limits, &caller, r, (check, label)))
            .await
    }

    /// Decides a licence request; on yes, seals the key to the user and signs a licence.
    pub async fn licence(&self, caller: Caller, req: licence::Request) -> Result<Granted, Error> {
        self.licence_asked(caller, req.header, Ok(req.rights)).await
    }

    /// Decides a licence request whose rights are still text (as the HTTP API receives
    /// them): a list that does not parse is refused like any other request, and audited.
    pub async fn licence_text(
        &self,
        caller: Caller,
        header: Vec<u8>,
        rights: &str,
    ) -> Result<Granted, Error> {
        let asked = rights
            .parse::<Rights>()
            .map_err(|e| format!("the licence request names {e}"));
        self.licence_asked(caller, header, asked).await
    }

    async fn licence_asked(
        &self,
        caller: Caller,
        header: Vec<u8>,
        rights: Result<Rights, String>,
    ) -> Result<Granted, Error> {
        let keys = self.keys();
        let check = check_header(&keys, &self.inner.unwrapped, &header);
        let digest = check.digest;
        let (key, limits) = (keys.clone(), self.inner.limits);
        let (file_key, decision) = self
            .run_async(move |tx| decide(tx, &key, &limits, &caller, rights, check))
            .await?;
        self.grant_licence(&keys, &file_key, &digest, decision)
    }

    fn grant_licence(
        &self,
        keys: &ServiceKeys,
        file_key: &FileKey,
        header: &Digest,
        d: Decision,
    ) -> Result<Granted, Error> {
        let slot = cache::digest(&[header, d.recipient.as_bytes()]);
        let sealed = match self.inner.sealed.get(&slot) {
            Some(sealed) => sealed,
            None => {
                let recipient: age::x25519::Recipient = d.recipient.parse().map_err(|_| {
                    Error::Invalid(format!(
                        "the enrolled age recipient of {} is invalid: enroll again",
                        d.user
                    ))
                })?;
                let sealed = licence::seal(file_key, &recipient)?;
                self.inner.sealed.insert(slot, &sealed);
                sealed
            }
        };
        let now = crate::now();
        let mut offline_until = now + i64::from(d.offline_days) * 86_400;
        if let Some(exp) = d.expires_at {
            offline_until = offline_until.min(exp);
        }
        let l = Licence {
            v: 1,
            service: self.inner.id.clone(),
            doc: d.doc,
            user: d.user,
            rights: d.rights,
            issued_at: now,
            offline_until,
            sealed_sha256: licence::sha256_hex(&sealed),
        };
        let sig = STANDARD.encode(keys.sign(&SignedLicence::signing_input(&l)));
        Ok(Granted {
            sealed_key: sealed,
            licence: SignedLicence { licence: l, sig },
        })
    }

    /// A document and the caller's rights on it (any right, or admin, needed).
    pub async fn document(&self, caller: Caller, doc: String) -> Result<DocumentRights, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "rights", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let rights = effective_rights(&row.doc, &user);
            if rights.is_empty() && !user.admin {
                return Err(Error::Forbidden(format!(
                    "you have no rights on document {doc}"
                )));
            }
            Ok(DocumentRights {
                document: row.doc,
                rights,
            })
        })
        .await
    }

    /// Adds or changes a grant (owner, or `share` up to one's own rights and the level's
    /// `max_rights`).
    pub async fn grant(
        &self,
        caller: Caller,
        doc: String,
        grant: Grant,
    ) -> Result<Document, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "grant", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let mine = effective_rights(&row.doc, &user);
            let ev = Event::allow(&user.name, "grant").doc(&doc).detail(serde_json::json!({
                "principal": grant.principal.to_string(), "rights": grant.rights.to_string()}));
            if grant.rights.is_empty() {
                return refuse_invalid(tx, k, ev, format!(
                    "a grant must give at least one right; to take {}'s rights away, ask the owner {} (`fuda unshare`)",
                    grant.principal, row.doc.owner));
            }
            if !mine.allows(Right::Owner) {
                if !mine.allows(Right::Share) {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "you have {} on {doc}; sharing needs the share or owner right: ask the owner {}",
                        show_rights(mine), row.doc.owner));
                }
                if !mine.covers(grant.rights) || grant.rights.allows(Right::Owner) {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "you can share at most your own rights ({}) on {doc}", show_rights(mine)));
                }
                // A sharer adds; only the owner changes what someone already holds.
                if grant.principal == Principal::Owner {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "only the owner ({}) can change the owner's grant on {doc}", row.doc.owner));
                }
                let held = row.doc.grants.iter().find(|g| g.principal == grant.principal);
                if let Some(held) = held.filter(|h| !grant.rights.covers(h.rights)) {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "{} holds {} on {doc}; only the owner ({}) can reduce an existing grant",
                        grant.principal, held.rights, row.doc.owner));
                }
            }
            if grant.principal != Principal::Owner && !row.doc.max_rights.covers(grant.rights) {
                return deny(tx, k, ev, DenyCode::NoRights, format!(
                    "level {} allows at most {} for people outside its default grants; {} is more",
                    row.doc.level, show_rights(row.doc.max_rights), grant.rights));
            }
            check_principal(tx, &grant.principal)?;
            tx.grant_set(&doc, &grant)?;
            append_audit(tx, k, ev).map_err(audit_err)?;
            tx.doc_get(&doc)?.map(|r| r.doc).ok_or_else(|| not_registered(&doc))
        })
        .await
    }

    /// Removes a grant (owner only).
    pub async fn ungrant(
        &self,
        caller: Caller,
        doc: String,
        principal: Principal,
    ) -> Result<Document, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "ungrant", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let ev = Event::allow(&user.name, "ungrant")
                .doc(&doc)
                .detail(serde_json::json!({
                "principal": principal.to_string()}));
            if !effective_rights(&row.doc, &user).allows(Right::Owner) {
                return deny(
                    tx,
                    k,
                    ev,
                    DenyCode::NoRights,
                    format!(
                        "only the owner ({}) can remove grants on {doc}",
                        row.doc.owner
                    ),
                );
            }
            if !tx.grant_remove(&doc, &principal)? {
                return Err(Error::NotFound(format!(
                    "{doc} has no grant for {principal}"
                )));
            }
            append_audit(tx, k, ev).map_err(audit_err)?;
            tx.doc_get(&doc)?
                .map(|r| r.doc)
                .ok_or_else(|| not_registered(&doc))
        })
        .await
    }
}

fn show_rights(r: Rights) -> String {
    if r.is_empty() {
        "no rights".into()
    } else {
        r.to_string()
    }
}

fn not_registered(doc: &str) -> Error {
    Error::NotFound(format!(
        "document {doc} is not registered with this key service"
    ))
}

fn check_principal(tx: &mut dyn Tx, p: &Principal) -> Result<(), Error> {
    match p {
        Principal::Owner => Ok(()),
        Principal::User(u) => match tx.user_get(u)? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!(
                "user {u} is not in the directory: ask an admin to add them"
            ))),
        },
        Principal::Group(g) => {
            if tx.group_exists(g)? {
                Ok(())
            } else {
                Err(Error::NotFound(format!(
                    "group {g} does not exist (no such group or department)"
                )))
            }
        }
    }
}

fn enroll(
    tx: &mut dyn Tx,
    key: &ServiceKeys,
    info: ServiceInfo,
    e: Enrollment,
) -> Result<Enrolled, Error> {
    let bad_code = || {
        Error::Unauthorized(
            "the enrollment code is not valid (already used, expired or mistyped): ask an admin for a new one".into(),
        )
    };
    // Check the keys before taking the code: a typo in them must not burn it. (A refusal
    // is kept, not rolled back: see `Service::submit`.)
    e.recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|_| Error::Invalid("the age recipient is not an age1… X25519 recipient".into()))?;
    let sk = STANDARD
        .decode(&e.signing_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            Error::Invalid("the signing key is not a base64 Ed25519 public key".into())
        })?;
    let (name, expires) = tx
        .enrollment_take(&directory::secret_hash(&e.code))?
        .ok_or_else(bad_code)?;
    if expires < crate::now() {
        return Err(bad_code());
    }
    let mut user = tx.user_get(&name)?.ok_or_else(bad_code)?;
    user.recipient = Some(e.recipient);
    user.signing_key = Some(STANDARD.encode(sk));
    tx.user_put(&user)?;
    // A new enrollment replaces the user's tokens: a lost or stolen one stops working.
    tx.token_delete_user(&user.name)?;
    let token = directory::new_secret("fudatok")?;
    tx.token_add(&directory::secret_hash(&token), &user.name, crate::now())?;
    append_audit(
        tx,
        key.audit_key(),
        Event::allow(&user.name, "enroll").subject(&user.name),
    )
    .map_err(audit_err)?;
    Ok(Enrolled {
        user,
        token,
        service: info,
    })
}

fn register(
    tx: &mut dyn Tx,
    keys: &ServiceKeys,
    limits: &Limits,
    caller: &Caller,
    r: Registration,
    (check, label): (HeaderCheck, Result<SignedLabel, String>),
) -> Result<Document, Error> {
    let user = resolve(tx, caller, limits)?;
    let k = keys.audit_key();
    require_active(tx, k, &user, "protect", check.doc.as_deref())?;
    let (file_key, version) = check.outcome.map_err(|d| Error::Invalid(d.message))?;
    let doc_id = check.doc.unwrap_or_default();
    if tx.doc_get(&doc_id)?.is_some() {
        return Err(Error::Conflict(format!(
            "document {doc_id} is already registered"
        )));
    }
    let ev = Event::allow(&user.name, "protect")
        .doc(&doc_id)
        .detail(serde_json::json!({
            "level": r.level, "offline_days": r.offline_days, "expires_at": r.expires_at}));
    if let Err(message) = check_registration(tx, limits, &user, &r, label) {
        return refuse_invalid(tx, k, ev, message);
    }
    for g in &r.grants {
        check_principal(tx, &g.principal)?;
    }
    let now = crate::now();
    let doc = Document {
        id: doc_id.clone(),
        name: r.name,
        level: r.level,
        owner: user.name.clone(),
        grants: r.grants,
        max_rights: r.max_rights,
        expires_at: r.expires_at,
        offline_days: r.offline_days,
        size: r.size,
        digest: r.digest,
        host: r.host,
        path: r.path,
        key_version: version,
        created_at: now,
        revoked: false,
    };
    tx.doc_insert(&DocRow {
        doc: doc.clone(),
        key_check: key_check(&file_key),
    })?;
    append_audit(
        tx,
        k,
        Event::allow(&user.name, "protect").doc(&doc_id).detail(serde_json::json!({
            "name": doc.name, "level": doc.level, "expires_at": doc.expires_at,
            "grants": doc.grants.iter().map(|g| format!("{}={}", g.principal, g.rights)).collect::<Vec<_>>(),
        })),
    )
    .map_err(audit_err)?;
    Ok(tx.doc_get(&doc_id)?.map(|r| r.doc).unwrap_or(doc))
}

/// The signed label in a header's `fuda/label` stanza (checked outside the writer).
fn signed_label(header: &[u8]) -> Result<SignedLabel, String> {
    let (header, _) = Header::parse_bytes(header)
        .map_err(|e| format!("the request does not carry a valid fuda file header: {e}"))?;
    let stanza = header
        .label()
        .ok_or("the file has no fuda/label stanza: it was not protected with fuda")?;
    match fuda_core::store::envelope::decode_body(stanza.body()) {
        Stored::Signed(signed) if signed.label.doc == stanza.doc_id() => Ok(*signed),
        Stored::Signed(signed) => Err(format!(
            "the header names document {} but its label is for {}",
            stanza.doc_id(),
            signed.label.doc
        )),
        Stored::Corrupt(why) => Err(format!("the file's label is not readable: {why}")),
        Stored::Foreign(_) => Err("the file's label is not a fuda label".into()),
    }
}

/// A registration must agree with the file's own signed label (level; signature, when the
/// signer is enrolled here) and stay within the service's caps.
fn check_registration(
    tx: &mut dyn Tx,
    limits: &Limits,
    user: &User,
    r: &Registration,
    label: Result<SignedLabel, String>,
) -> Result<(), String> {
    let signed = label?;
    if let Some(g) = r.grants.iter().find(|g| g.rights.is_empty()) {
        return Err(format!("the grant for {} gives no rights", g.principal));
    }
    if signed.label.level != r.level {
        return Err(format!(
            "the registration says level {:?} but the file's signed label says {:?}: the service registers the level the file carries",
            r.level, signed.label.level
        ));
    }
    // `fuda protect` signs with the caller's own key: check that one without reading the
    // whole directory (this runs in the writer); any other enrolled signer is looked up.
    let signer_of = |u: &User| {
        let key = decode_public_key(u.signing_key.as_deref()?).ok()?;
        Some(Signer {
            name: u.name.clone(),
            kind: SignerKind::User,
            public_key: key,
        })
    };
    let mut trust = TrustStore::default();
    match signer_of(user).filter(|s| s.key_id() == signed.key) {
        Some(me) => trust.add(me),
        None => {
            let users = tx.user_list().map_err(|e| e.to_string())?;
            for u in users.iter().filter(|u| u.status == UserStatus::Active) {
                if let Some(s) = signer_of(u) {
                    trust.add(s);
                }
            }
        }
    }
    if verify(&signed, &trust, None, None).status == Status::Tampered {
        return Err(
            "the file's label signature does not verify with its signer's enrolled key: the label was altered"
                .into(),
        );
    }
    limits.check_registration(r.offline_days, r.expires_at, crate::now())
}

struct Decision {
    doc: String,
    user: String,
    recipient: String,
    rights: Rights,
    offline_days: u32,
    expires_at: Option<i64>,
}

/// Audits a refused malformed request and returns it as a 400.
fn refuse_invalid<T>(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    ev: Event,
    message: String,
) -> Result<T, Error> {
    append_audit(tx, key, ev.deny(INVALID_REQUEST)).map_err(audit_err)?;
    Err(Error::Invalid(message))
}

/// The audit reason of a request refused as malformed (unknown or missing rights, a
/// registration that contradicts its own label).
pub const INVALID_REQUEST: &str = "invalid-request";

/// What a licence request may ask: a key opens the file, so every request must ask for
/// `view` (an empty list, or `print` alone, is covered by any grant — even none).
fn check_asked(asked: Result<Rights, String>) -> Result<Rights, String> {
    let asked = asked?;
    if asked.is_empty() {
        return Err("the licence request asks for no rights: ask for view (and what else you need, e.g. view,export)".into());
    }
    if !asked.allows(Right::View) {
        return Err(format!(
            "the licence request asks for {asked} without view: a file key is only handed out to open the file, so ask for view,{asked}"
        ));
    }
    Ok(asked)
}

fn decide(
    tx: &mut dyn Tx,
    keys: &ServiceKeys,
    limits: &Limits,
    caller: &Caller,
    asked: Result<Rights, String>,
    check: HeaderCheck,
) -> Result<(FileKey, Decision), Error> {
    let user = resolve(tx, caller, limits)?;
    let k = keys.audit_key();
    let doc_id = check.doc.clone();
    require_active(tx, k, &user, "open", doc_id.as_deref())?;
    let shown = match &asked {
        Ok(r) => r.to_string(),
        Err(_) => "(invalid)".to_owned(),
    };
    let mut ev = Event::allow(&user.name, "open").detail(serde_json::json!({"rights": shown}));
    ev.doc = doc_id.clone();
    let asked = match check_asked(asked) {
        Ok(a) => a,
        Err(message) => return refuse_invalid(tx, k, ev, message),
    };
    let (file_key, _version) = match check.outcome {
        Ok(v) => v,
        Err(d) => return deny(tx, k, ev, d.code, d.message),
    };
    let doc_id = doc_id.unwrap_or_default();
    let Some(row) = tx.doc_get(&doc_id)? else {
        return deny(tx, k, ev, DenyCode::NotRegistered, format!(
            "document {doc_id} is not registered with this key service: it was protected elsewhere; ask its owner"));
    };
    let doc = row.doc;
    if !directory::constant_time_eq(&row.key_check, &key_check(&file_key)) {
        return deny(tx, k, ev, DenyCode::BadHeader, format!(
            "this file's key does not belong to document {doc_id} as registered: the file was forged or re-encrypted outside fuda"));
    }
    // The first revocation found decides (one denial, one audit record).
    if let Some(r) = tx.revocations_for(&doc_id, &user.name)?.into_iter().next() {
        let when = date(r.at);
        let (code, message) = match (&r.doc, &r.user) {
            (Some(_), None) => (DenyCode::DocumentRevoked, format!(
                "document {} ({doc_id}) was revoked by {} on {when}: nobody can open it; ask the owner {} for a current version",
                doc.name, r.by, doc.owner)),
            (None, Some(_)) => (DenyCode::UserRevoked, format!(
                "your access to all protected documents was revoked by {} on {when}: ask an administrator", r.by)),
            _ => (DenyCode::UserRevokedOnDocument, format!(
                "your access to {} ({doc_id}) was revoked by {} on {when}: ask the owner {} or an administrator",
                doc.name, r.by, doc.owner)),
        };
        return deny(tx, k, ev, code, message);
    }
    if let Some(exp) = doc.expires_at {
        if crate::now() >= exp {
            return deny(
                tx,
                k,
                ev,
                DenyCode::Expired,
                format!(
                    "document {} ({doc_id}) expired on {}: ask the owner {} to extend it",
                    doc.name,
                    date(exp),
                    doc.owner
                ),
            );
        }
    }
    let rights = effective_rights(&doc, &user);
    // Never rely on `covers` alone: the key leaves only for someone who may view.
    if !rights.allows(Right::View) || !rights.covers(asked) {
        return deny(tx, k, ev, DenyCode::NoRights, format!(
            "you ({}) have {} on {} ({doc_id}); {asked} needs a grant from the owner {} (`fuda share`)",
            user.name, show_rights(rights), doc.name, doc.owner));
    }
    let recipient = user.recipient.clone().ok_or_else(|| {
        Error::Invalid(format!(
            "{} has not enrolled an age recipient: run `fuda init --service … --enroll CODE`",
            user.name
        ))
    })?;
    append_audit(tx, k, ev).map_err(audit_err)?;
    Ok((
        file_key,
        Decision {
            doc: doc_id,
            user: user.name,
            recipient,
            rights,
            offline_days: doc.offline_days,
            expires_at: doc.expires_at,
        },
    ))
}

/// The directory as a trust store, and label changes for the audit log.
impl Service {
    /// The label signers enrolled in the directory (active users with a signing key):
    /// the trust store of every client of this service. Any active user may ask.
    pub async fn signers(&self, caller: Caller) -> Result<Vec<EnrolledSigner>, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "signers", None)?;
            Ok(tx
                .user_list()?
                .into_iter()
                .filter(|u| u.status == UserStatus::Active)
                .filter_map(|u| {
                    u.signing_key.map(|public_key| EnrolledSigner {
                        name: u.name,
                        public_key,
                    })
                })
                .collect())
        })
        .await
    }

    /// Records label changes the caller made (`fuda label set|remove`) in the audit log,
    /// all or none. Returns how many were recorded.
    pub async fn label_changes(
        &self,
        caller: Caller,
        changes: Vec<LabelChange>,
    ) -> Result<usize, Error> {
        if changes.len() > audit::MAX_LABEL_CHANGES {
            return Err(Error::Invalid(format!(
                "at most {} label changes per request",
                audit::MAX_LABEL_CHANGES
            )));
        }
        for c in &changes {
            c.validate().map_err(Error::Invalid)?;
        }
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "label", None)?;
            for c in &changes {
                append_audit(tx, k, c.event(&user.name)).map_err(audit_err)?;
            }
            Ok(changes.len())
        })
        .await
    }

    /// The newest label version the audit log recorded for each of `docs` that has one
    /// (`fuda label check` calls an older label on a file `replayed`). Any active user may
    /// ask: the answer holds no level, owner or path.
    pub async fn label_versions(
        &self,
        caller: Caller,
        docs: Vec<String>,
    ) -> Result<Vec<audit::NewestLabel>, Error> {
        if docs.len() > audit::MAX_LABEL_VERSIONS {
            return Err(Error::Invalid(format!(
                "at most {} documents per request",
                audit::MAX_LABEL_VERSIONS
            )));
        }
        if let Some(bad) = docs
            .iter()
            .find(|d| d.parse::<fuda_core::label::DocId>().is_err())
        {
            return Err(Error::Invalid(format!("{bad:?} is not a document id")));
        }
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "label-versions", None)?;
            let mut out = Vec::new();
            for doc in docs {
                if let Some(version) = audit::newest_label(&tx.audit_label_sets(&doc)?) {
                    out.push(audit::NewestLabel { doc, version });
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Administration.
impl Service {
    fn admin_job<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx, &ring::hmac::Key, &User) -> Result<T, Error> + Send + 'static,
        caller: Caller,
    ) -> tokio::sync::oneshot::Receiver<Result<T, Error>> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.submit(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "admin", None)?;
            require_admin(&user)?;
            f(tx, key.audit_key(), &user)
        })
    }

    async fn admin<T: Send + 'static>(
        &self,
        caller: Caller,
        f: impl FnOnce(&mut dyn Tx, &ring::hmac::Key, &User) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.admin_job(f, caller)
            .await
            .unwrap_or(Err(Error::ShuttingDown))
    }

    /// Adds a user and returns their one-time enrollment code.
    pub async fn user_add(&self, caller: Caller, new: NewUser) -> Result<UserAdded, Error> {
        self.admin(caller, move |tx, k, me| {
            directory::validate_name("user", &new.name)?;
            if let Some(d) = &new.dept {
                directory::validate_name("department", d)?;
            }
            if tx.user_get(&new.name)?.is_some() {
                return Err(Error::Conflict(format!("user {} already exists", new.name)));
            }
            let user = User {
                name: new.name.clone(),
                display_name: new.display_name.clone().unwrap_or_else(|| new.name.clone()),
                dept: new.dept.clone(),
                status: UserStatus::Active,
                admin: new.admin,
                recipient: None,
                signing_key: None,
                groups: Vec::new(),
            };
            tx.user_put(&user)?;
            let code = directory::new_secret("fudaenroll")?;
            tx.enrollment_add(
                &directory::secret_hash(&code),
                &user.name,
                crate::now() + ENROLLMENT_TTL,
            )?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "user-add")
                    .subject(&user.name)
                    .detail(serde_json::json!({"dept": user.dept, "admin": user.admin})),
            )
            .map_err(audit_err)?;
            Ok(UserAdded { user, code })
        })
        .await
    }

    /// A new one-time enrollment code for an existing user (new machine, lost token).
    pub async fn user_code(&self, caller: Caller, name: String) -> Result<UserAdded, Error> {
        self.admin(caller, move |tx, k, me| {
            let user = tx
                .user_get(&name)?
                .ok_or_else(|| Error::NotFound(format!("user {name} does not exist")))?;
            let code = directory::new_secret("fudaenroll")?;
            tx.enrollment_add(
                &directory::secret_hash(&code),
                &user.name,
                crate::now() + ENROLLMENT_TTL,
            )?;
            append_audit(tx, k, Event::allow(&me.name, "user-code").subject(&name))
                .map_err(audit_err)?;
            Ok(UserAdded { user, code })
        })
        .await
    }

    /// Enables or disables a user.
    pub async fn user_status(
        &self,
        caller: Caller,
        name: String,
        status: UserStatus,
    ) -> Result<User, Error> {
        self.admin(caller, move |tx, k, me| {
            let mut user = tx
                .user_get(&name)?
                .ok_or_else(|| Error::NotFound(format!("user {name} does not exist")))?;
            if user.name == me.name && status == UserStatus::Disabled {
                return Err(Error::Conflict("you cannot disable yourself".into()));
            }
            // Disabled, a user's token still names them, so every refusal is audited and
            // tells them why; enabled again, no token from before the disabling works:
            // they enroll with a new code.
            if user.status == UserStatus::Disabled && status == UserStatus::Active {
                tx.token_delete_user(&user.name)?;
            }
            user.status = status;
            tx.user_put(&user)?;
            let action = if status == UserStatus::Active {
                "user-enable"
            } else {
                "user-disable"
            };
            append_audit(tx, k, Event::allow(&me.name, action).subject(&name))
                .map_err(audit_err)?;
            Ok(user)
        })
        .await
    }

    /// Ends every API token of a user (a lost laptop, a leaked token); they enroll again
    /// with a new code. Returns how many tokens ended.
    pub async fn revoke_tokens(&self, caller: Caller, name: String) -> Result<usize, Error> {
        self.admin(caller, move |tx, k, me| {
            if tx.user_get(&name)?.is_none() {
                return Err(Error::NotFound(format!("user {name} does not exist")));
            }
            let ended = tx.token_delete_user(&name)?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "revoke-tokens")
                    .subject(&name)
                    .detail(serde_json::json!({"tokens": ended})),
            )
            .map_err(audit_err)?;
            Ok(ended)
        })
        .await
    }

    /// Every user.
    pub async fn user_list(&self, caller: Caller) -> Result<Vec<User>, Error> {
        self.admin(caller, |tx, _, _| Ok(tx.user_list()?)).await
    }

    /// Creates a group.
    pub async fn group_add(&self, caller: Caller, name: String) -> Result<(), Error> {
        self.admin(caller, move |tx, k, me| {
            directory::validate_name("group", &name)?;
            tx.group_add(&name)?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "group-add").detail(serde_json::json!({"group": name})),
            )
            .map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Adds (`member`) or removes a user from a group.
    pub async fn group_member(
        &self,
        caller: Caller,
        group: String,
        user: String,
        member: bool,
    ) -> Result<(), Error> {
        self.admin(caller, move |tx, k, me| {
            if tx.user_get(&user)?.is_none() {
                return Err(Error::NotFound(format!("user {user} does not exist")));
            }
            tx.group_add(&group)?;
            tx.group_member(&group, &user, member)?;
            let action = if member {
                "group-member-add"
            } else {
                "group-member-remove"
            };
            append_audit(
                tx,
                k,
                Event::allow(&me.name, action)
                    .subject(&user)
                    .detail(serde_json::json!({"group": group})),
            )
            .map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Every group with its members.
    pub async fn group_list(&self, caller: Caller) -> Result<Vec<Group>, Error> {
        self.admin(caller, |tx, _, _| Ok(tx.group_list()?)).await
    }

    /// Revokes a document, a user, or a user on a document: effective at the next request.
    pub async fn revoke(&self, caller: Caller, target: RevokeTarget) -> Result<Revocation, Error> {
        self.admin(caller, move |tx, k, me| {
            check_target(tx, &target)?;
            let r = Revocation {
                doc: target.doc.clone(),
                user: target.user.clone(),
                at: crate::now(),
                by: me.name.clone(),
            };
            tx.revocation_add(&r)?;
            let mut ev = Event::allow(&me.name, "revoke");
            ev.doc = target.doc;
            ev.subject = target.user;
            append_audit(tx, k, ev).map_err(audit_err)?;
            Ok(r)
        })
        .await
    }

    /// Lifts a revocation.
    pub async fn unrevoke(&self, caller: Caller, target: RevokeTarget) -> Result<(), Error> {
        self.admin(caller, move |tx, k, me| {
            check_target(tx, &target)?;
            if !tx.revocation_remove(target.doc.as_deref(), target.user.as_deref())? {
                return Err(Error::NotFound("no such revocation is in force".into()));
            }
            let mut ev = Event::allow(&me.name, "unrevoke");
            ev.doc = target.doc;
            ev.subject = target.user;
            append_audit(tx, k, ev).map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Revocations in force.
    pub async fn revocations(&self, caller: Caller) -> Result<Vec<Revocation>, Error> {
        self.admin(caller, |tx, _, _| Ok(tx.revocation_list()?))
            .await
    }

    /// Every registered document.
    pub async fn documents(&self, caller: Caller) -> Result<Vec<Document>, Error> {
        self.admin(caller, |tx, _, _| Ok(tx.doc_list()?)).await
    }

    /// Audit records matching a query.
    pub async fn audit(
        &self,
        caller: Caller,
        q: audit::Query,
    ) -> Result<Vec<audit::Record>, Error> {
        self.admin(caller, move |tx, _, _| Ok(tx.audit_query(&q)?))
            .await
    }

    /// Verifies the whole audit chain.
    pub async fn audit_verify(&self, caller: Caller) -> Result<audit::Verification, Error> {
        let keys = self.keys();
        self.admin(caller, move |tx, _, _| {
            let records = tx.audit_all()?;
            let head = tx.audit_head()?;
            Ok(audit::verify(keys.audit_key(), records, head))
        })
        .await
    }

    /// Adds a wrapping key version; new files are wrapped to it, old ones keep opening.
    pub async fn rotate_key(&self, caller: Caller) -> Result<ServiceInfo, Error> {
        let dir = self.inner.dir.join("keys");
        let this = self.clone();
        let version = self
            .admin(caller, move |tx, k, me| {
                let version = ServiceKeys::rotate(&dir)?;
                append_audit(
                    tx,
                    k,
                    Event::allow(&me.name, "rotate-key")
                        .detail(serde_json::json!({"version": version})),
                )
                .map_err(audit_err)?;
                Ok(version)
            })
            .await?;
        let keys = ServiceKeys::load(&this.inner.dir.join("keys"))?;
        debug_assert_eq!(keys.current_version(), version);
        *this.inner.keys.write().expect("keys lock") = Arc::new(keys);
        Ok(this.info())
    }
}

fn check_target(tx: &mut dyn Tx, t: &RevokeTarget) -> Result<(), Error> {
    if t.doc.is_none() && t.user.is_none() {
        return Err(Error::Invalid(
            "name a document (--doc ID), a user (--user NAME) or both".into(),
        ));
    }
    if let Some(d) = &t.doc {
        if tx.doc_get(d)?.is_none() {
            return Err(not_registered(d));
        }
    }
    if let Some(u) = &t.user {
        if tx.user_get(u)?.is_none() {
            return Err(Error::NotFound(format!("user {u} does not exist")));
        }
    }
    Ok(())
}

fn writer(mut store: Box<dyn Store>, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut jobs: Vec<Option<Job>> = batch.into_iter().map(Some).collect();
        let mut finishers: Vec<Finisher> = Vec::with_capacity(jobs.len());
        let result = store.transaction(&mut |tx| {
            for job in jobs.iter_mut() {
                let Some(job) = job.take() else { continue };
                tx.savepoint()?;
                let (keep, finish) = job(tx);
                finishers.push(finish);
                tx.release(keep)?;
            }
            Ok(())
        });
        if let Err(e) = &result {
            tracing::error!(error = %e, jobs = finishers.len(), "transaction failed");
        }
        for finish in finishers {
            finish(result.as_ref().map(|_| ()));
        }
    }
}
