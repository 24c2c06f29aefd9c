//! The [`Service`] handle: creating a service (keys, database, first admin), opening it,
//! closing it, and running a job on its writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use fuda_core::envelope::FileKey;

use super::commit::Writer;
use super::policy::OrgPolicy;
use super::records::UserAdded;
use crate::audit::Event;
use crate::cache::{self, Cache};
use crate::directory::{self, NewUser, User, UserStatus};
use crate::error::Error;
use crate::keys::{KeyError, ServiceInfo, ServiceKeys};
use crate::limits::Limits;
use crate::store::{append_audit, Database, SnapshotOpener, Store, StoreError, Tx};

/// How long a replica waits for news of another's change before it reads the policy
/// version again (the most a lost notification delays it).
pub const FOLLOW_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How long an enrollment code stays valid (seconds).
pub const ENROLLMENT_TTL: i64 = 7 * 86_400;

pub use crate::store::DB_FILE;

/// What every clone of a [`Service`] shares.
pub(super) struct Inner {
    writer: Writer,
    /// Read-only views of the store beside the writer (the file index).
    pub(super) snapshots: SnapshotOpener,
    /// Replaced whole by a key rotation.
    keys: RwLock<Arc<ServiceKeys>>,
    /// File keys (and key versions) by header digest.
    pub(super) unwrapped: Cache<(FileKey, u32)>,
    /// Sealed file keys by (header digest, recipient).
    pub(super) sealed: Cache<Vec<u8>>,
    /// The data directory.
    pub(super) dir: PathBuf,
    /// The service id.
    pub(super) id: String,
    /// The caps on registrations and tokens.
    pub(super) limits: Limits,
    /// Whether other replicas share the store (each has its own copy of the keys).
    pub(super) replicated: bool,
    /// The organisation's policy in force (`None` until an admin sets one); replaced
    /// whole by `fuda admin policy set`.
    pub(super) policy: RwLock<Option<Arc<OrgPolicy>>>,
}

/// The key service. Cheap to clone; every clone shares one writer.
#[derive(Clone)]
pub struct Service {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("dir", &self.inner.dir)
            .field("id", &self.inner.id)
            .finish()
    }
}

impl Service {
    /// Creates a new service in `dir`: keys, database, and the first admin (returned with
    /// a one-time enrollment code). Refuses if keys exist.
    pub fn init(dir: &Path, admin: NewUser) -> Result<(Service, UserAdded), Error> {
        Service::init_on(dir, &Database::Sqlite(dir.join(DB_FILE)), admin)
    }

    /// [`Service::init`] with the state in `database`, which must hold no service yet;
    /// a database other than the SQLite file in `dir` is named in `dir` for later opens.
    pub fn init_on(
        dir: &Path,
        database: &Database,
        admin: NewUser,
    ) -> Result<(Service, UserAdded), Error> {
        // A database outside the data directory may hold a service already (a new
        // SQLite file in it cannot).
        if !matches!(database, Database::Sqlite(path) if path.starts_with(dir)) {
            let mut store = database.open()?;
            let mut existing = None;
            store.transaction(&mut |tx| {
                existing = tx.meta_get("service_id")?;
                Ok(())
            })?;
            if let Some(id) = existing {
                return Err(Error::Conflict(format!(
                    "{} already holds the key service {id}: to run another replica of it, copy the data directory (keys/, tls/, database) of the first one instead of running init",
                    database.label()
                )));
            }
        }
        fuda_core::fsutil::create_private_dir(dir).map_err(|source| {
            Error::Keys(KeyError::Io {
                path: dir.to_owned(),
                source,
            })
        })?;
        database.remember(dir)?;
        let service = Service::create(dir)?;
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
        let service = Service::create(dir)?;
        service.bootstrap_user(user, Some((recipient.to_owned(), signing_key.to_owned())))?;
        Ok(service)
    }

    /// Opens the embedded service in `dir`, adding `user` as its admin (enrolled with their
    /// keys) when its directory is empty: a first run killed between creating the database
    /// and adding the user left it so, and would otherwise refuse everyone from then on.
    pub fn open_embedded(
        dir: &Path,
        user: NewUser,
        recipient: &str,
        signing_key: &str,
    ) -> Result<Service, Error> {
        let service = Service::open(dir)?;
        if service.run(|tx| Ok(tx.user_list()?.is_empty()))? {
            service.bootstrap_user(user, Some((recipient.to_owned(), signing_key.to_owned())))?;
        }
        Ok(service)
    }

    /// Makes the data directory (mode 0700) and new keys in it, then opens the service.
    fn create(dir: &Path) -> Result<Service, Error> {
        fuda_core::fsutil::create_private_dir(dir).map_err(|source| {
            Error::Keys(KeyError::Io {
                path: dir.to_owned(),
                source,
            })
        })?;
        ServiceKeys::init(&dir.join("keys"))?;
        Service::open(dir)
    }

    /// Adds the first user, an admin: with a one-time enrollment code, or already
    /// enrolled with `keys` (age recipient, signing key) for an embedded service.
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
                auditor: false,
                recipient: keys.as_ref().map(|k| k.0.clone()),
                signing_key: keys.as_ref().map(|k| k.1.clone()),
                groups: Vec::new(),
                kind: directory::EntryKind::Person,
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
        Service::open_on(dir, &Database::of_dir(dir)?, limits)
    }

    /// Opens the service whose keys are in `dir` over `database`. Refuses a database that
    /// belongs to a service with other keys.
    pub fn open_on(dir: &Path, database: &Database, limits: Limits) -> Result<Service, Error> {
        let keys = ServiceKeys::load(&dir.join("keys"))?;
        let mut store = database.open()?;
        let signing_key = keys.info("").signing_key;
        let (mut id, mut policy, mut theirs) = (None, None, None);
        store.transaction(&mut |tx| {
            id = tx.meta_get("service_id")?;
            if id.is_none() {
                let new = ulid::Ulid::new().to_string();
                tx.meta_set("service_id", &new)?;
                id = Some(new);
            }
            theirs = tx.meta_get("signing_key")?;
            if theirs.is_none() {
                tx.meta_set("signing_key", &signing_key)?;
            }
            policy = tx.policy_get(None)?;
            Ok(())
        })?;
        if theirs.is_some_and(|k| k != signing_key) {
            return Err(Error::Store(StoreError::Address(format!(
                "{} belongs to another key service (its signing key is not the one in {}): use that service's data directory, or another database",
                database.label(),
                dir.join("keys").display()
            ))));
        }
        let id = id.unwrap_or_default();
        let policy = policy.map(|p| OrgPolicy::new(p, &id, &keys)).transpose()?;
        let service = Service::start(store, keys, dir, id, limits);
        *service.inner.policy.write().expect("policy lock") = policy.map(Arc::new);
        Ok(service)
    }

    /// Starts a service over any store (and, over a store replicas share, a thread that
    /// follows the others' policy changes).
    pub fn start(
        store: Box<dyn Store>,
        keys: ServiceKeys,
        dir: &Path,
        id: String,
        limits: Limits,
    ) -> Service {
        let follower = store.follower();
        let snapshots = store.snapshots();
        let service = Service {
            inner: Arc::new(Inner {
                replicated: follower.is_some(),
                snapshots,
                writer: Writer::start(store),
                keys: RwLock::new(Arc::new(keys)),
                unwrapped: Cache::new(cache::DEFAULT_CAPACITY),
                sealed: Cache::new(cache::DEFAULT_CAPACITY),
                dir: dir.to_owned(),
                id,
                limits,
                policy: RwLock::new(None),
            }),
        };
        if let Some(follower) = follower {
            service.follow(follower);
        }
        service
    }

    /// Follows the policy other replicas set, on a thread that ends with the service.
    fn follow(&self, mut follower: Box<dyn crate::store::Follower>) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("fuda-keyd-follow".into())
            .spawn(move || {
                let mut failing = false;
                loop {
                    let newest = follower.next(FOLLOW_WAIT);
                    let Some(inner) = weak.upgrade() else { break };
                    let service = Service { inner };
                    match newest {
                        Ok(Some(p)) => {
                            failing = false;
                            if service.org_policy().is_none_or(|c| c.version() < p.version) {
                                service.adopt_policy(p);
                            }
                        }
                        Ok(None) => failing = false,
                        Err(e) => {
                            if !failing {
                                tracing::warn!(error = %e, "cannot follow the other replicas' changes; retrying");
                            }
                            failing = true;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the thread that follows other replicas");
        }
    }

    /// Stops accepting work, lets the writer commit what it has, and waits for it.
    pub fn close(&self) {
        self.inner.writer.close();
    }

    /// The keys in use now (a rotation replaces them for later requests).
    pub(super) fn keys(&self) -> Arc<ServiceKeys> {
        self.inner.keys.read().expect("keys lock").clone()
    }

    /// Loads the keys again from the data directory (after a rotation) and uses them for
    /// every request from now on.
    pub(super) fn reload_keys(&self) -> Result<Arc<ServiceKeys>, Error> {
        let keys = Arc::new(ServiceKeys::load(&self.inner.dir.join("keys"))?);
        *self.inner.keys.write().expect("keys lock") = keys.clone();
        Ok(keys)
    }

    /// Sends a job to the writer and returns where its answer will arrive.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<Result<T, Error>> {
        self.inner.writer.submit(false, f)
    }

    /// Runs a job and waits (blocking) for its committed answer.
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.submit(f)
            .blocking_recv()
            .unwrap_or(Err(Error::ShuttingDown))
    }

    /// Runs a bulk job (a report chunk: many rows) and awaits its committed answer; it
    /// never shares a transaction with another bulk job.
    pub(super) async fn run_bulk<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.inner
            .writer
            .submit(true, f)
            .await
            .unwrap_or(Err(Error::ShuttingDown))
    }

    /// Runs a job and awaits its committed answer.
    pub(super) async fn run_async<T: Send + 'static>(
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
