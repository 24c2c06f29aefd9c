//! How the CLI talks to a key service: one trait, [`KeyService`], two implementations that
//! pass the same contract tests.
//!
//! - [`Embedded`]: the [`Service`] in-process over a SQLite file in the user's data
//!   directory. The default when no service is configured: a single user needs no daemon
//!   and is the admin of their own service.
//! - [`Remote`]: HTTPS to `fuda-keyd`, with the server certificate pinned by its SHA-256
//!   fingerprint (given at `fuda init --service URL --enroll CODE --ca-fingerprint F`).
//!   `ureq` is a small blocking client: the CLI needs no async runtime for one request per
//!   file, and it accepts our own rustls config, so pinning is a custom verifier.
//!   A service run as several replicas has several addresses ([`Remote::with_replicas`]):
//!   a request that cannot reach one (refused, reset, timed out) or that it answers with
//!   503 (its database unreachable, or shutting down) goes to the next, and the client
//!   stays with the one that answered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{LabelChange, NewestLabel, Query, Record, Verification};
use crate::checkpoint::Checkpoint;
use crate::directory::{Enrolled, EnrolledSigner, Enrollment, Group, NewUser, User, UserStatus};
use crate::licence::{Granted, Request};
use crate::policy::{Applied, PolicySet, SignedPolicy};
use crate::registry::{Document, Grant, Principal, Registration, Revocation};
use crate::report::{ReportAck, SignedChunk};
use crate::service::{
    Caller, DocumentRights, NewVersion, Reclassify, Registered, RevokeTarget, Rewrapped, Service,
    ServiceInfo, UserAdded,
};
use crate::Error;

/// Everything the CLI asks of a key service.
pub trait KeyService {
    /// The service's id and public keys.
    fn info(&self) -> Result<ServiceInfo, Error>;
    /// Who the caller is.
    fn whoami(&self) -> Result<User, Error>;
    /// The label signers enrolled in the directory (the trust store for labels).
    fn signers(&self) -> Result<Vec<EnrolledSigner>, Error>;
    /// Records label changes the caller made in the audit log; how many were recorded.
    fn label_changes(&self, changes: Vec<LabelChange>) -> Result<usize, Error>;
    /// The newest label version the audit log recorded for each of `docs` that has one.
    fn label_versions(&self, docs: Vec<String>) -> Result<Vec<NewestLabel>, Error>;
    /// Registers a newly protected document.
    fn register(&self, registration: Registration) -> Result<Registered, Error>;
    /// Asks for a file key.
    fn licence(&self, request: Request) -> Result<Granted, Error>;
    /// A document and the caller's rights on it.
    fn document(&self, doc: &str) -> Result<DocumentRights, Error>;
    /// Adds or changes a grant.
    fn grant(&self, doc: &str, grant: Grant) -> Result<Document, Error>;
    /// Removes a grant.
    fn ungrant(&self, doc: &str, principal: &Principal) -> Result<Document, Error>;
    /// Admin: adds a user, returning their enrollment code.
    fn user_add(&self, user: NewUser) -> Result<UserAdded, Error>;
    /// Admin: a new enrollment code for a user.
    fn user_code(&self, name: &str) -> Result<UserAdded, Error>;
    /// Admin: enables or disables a user.
    fn user_status(&self, name: &str, status: UserStatus) -> Result<User, Error>;
    /// Admin: ends every API token of a user; how many ended.
    fn revoke_tokens(&self, name: &str) -> Result<usize, Error>;
    /// Admin: every user.
    fn user_list(&self) -> Result<Vec<User>, Error>;
    /// Admin: creates a group.
    fn group_add(&self, name: &str) -> Result<(), Error>;
    /// Admin: adds or removes a member.
    fn group_member(&self, group: &str, user: &str, member: bool) -> Result<(), Error>;
    /// Admin: every group.
    fn group_list(&self) -> Result<Vec<Group>, Error>;
    /// Admin: revokes.
    fn revoke(&self, target: RevokeTarget) -> Result<Revocation, Error>;
    /// Admin: lifts a revocation.
    fn unrevoke(&self, target: RevokeTarget) -> Result<(), Error>;
    /// Admin: revocations in force.
    fn revocations(&self) -> Result<Vec<Revocation>, Error>;
    /// Admin: every document.
    fn documents(&self) -> Result<Vec<Document>, Error>;
    /// Admin or auditor: the company ledger the service builds from the machines'
    /// reports, streamed into `out` (`fuda_ledger::company::wire`: JSON lines).
    fn ledger(&self, out: &mut dyn std::io::Write) -> Result<(), Error>;
    /// Admin: audit records.
    fn audit(&self, query: Query) -> Result<Vec<Record>, Error>;
    /// Admin: verifies the audit chain.
    fn audit_verify(&self) -> Result<Verification, Error>;
    /// Admin: verifies the audit chain, and against `held`, checkpoints the service
    /// signed that were kept outside it (one not signed by the service is refused).
    fn audit_verify_against(&self, held: Vec<Checkpoint>) -> Result<Verification, Error>;
    /// Admin or auditor: a one-time log-in link to the browser console.
    fn console_link(&self) -> Result<crate::console::ConsoleLink, Error>;
    /// Admin: adds a wrapping key version.
    fn rotate_key(&self) -> Result<ServiceInfo, Error>;
    /// The organisation's policy, signed by the service (`None`: no admin set one).
    /// Verify it with [`SignedPolicy::verify`] before use.
    fn policy(&self) -> Result<Option<SignedPolicy>, Error>;
    /// Admin: makes `text` (from the file `origin`) the organisation's policy.
    fn policy_set(&self, text: &str, origin: &str) -> Result<PolicySet, Error>;
    /// Admin: a version of the policy (`None`: the current one).
    fn policy_version(&self, version: Option<u32>) -> Result<SignedPolicy, Error>;
    /// Admin: re-applies the current policy to every registered document.
    fn policy_apply(&self) -> Result<Applied, Error>;

    // The recovery key (service/recovery.rs).
    /// The recovery recipients every protected file carries.
    fn recovery_recipients(&self) -> Result<Vec<String>, Error>;
    /// Admin: adds a recovery recipient; returns the recipients in force.
    fn recovery_add(&self, recipient: &str) -> Result<Vec<String>, Error>;
    /// Admin: the header a registered file must carry to open with every recovery
    /// recipient in force (the file key never leaves the service).
    fn rewrap(&self, header: Vec<u8>) -> Result<Rewrapped, Error>;

    // A document's life after protection (service/documents.rs, service/versions.rs).
    /// The owner or an admin: makes `owner` the owner of `doc`.
    fn transfer(&self, doc: &str, owner: &str) -> Result<Document, Error>;
    /// Records a new version (the edit right); answers with the header to write.
    fn save_version(&self, version: NewVersion) -> Result<Registered, Error>;
    /// The owner or an admin: a new level; answers with the header to write.
    fn reclassify(&self, reclassify: Reclassify) -> Result<Registered, Error>;
    // Machine reports (service/reports.rs).
    /// A machine: sends one signed chunk of its report into the company's file index.
    fn report(&self, chunk: &SignedChunk) -> Result<ReportAck, Error>;
}

/// The service in-process.
pub struct Embedded {
    service: Service,
    user: String,
    rt: tokio::runtime::Runtime,
    /// Whether dropping this client closes the service (the one that opened it).
    owns: bool,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("user", &self.user)
            .finish()
    }
}

impl Embedded {
    /// The embedded service in `dir`, acting as `user`; created (with `user` as its admin,
    /// enrolled with the given keys) if it does not exist yet.
    pub fn open_or_init(
        dir: &std::path::Path,
        user: NewUser,
        recipient: &str,
        signing_key: &str,
    ) -> Result<Embedded, Error> {
        let name = user.name.clone();
        let (db, keys) = (dir.join(crate::service::DB_FILE), dir.join("keys"));
        if !db.exists() && keys.exists() && crate::keys::ServiceKeys::load(&keys).is_err() {
            // A first run killed while making the keys: nothing was protected with them (a
            // file is written only after its registration, which needs the database). They
            // are set aside, never deleted, and made anew.
            let aside = dir.join(format!("keys.incomplete-{}", crate::now()));
            std::fs::rename(&keys, &aside).map_err(|source| {
                Error::Keys(crate::keys::KeyError::Io {
                    path: keys.clone(),
                    source,
                })
            })?;
        }
        // A first run killed after making the keys (or the database) left a service to
        // complete, not to create again.
        let begun = db.exists() || keys.exists();
        let service = if begun {
            Service::open_embedded(dir, user, recipient, signing_key)?
        } else {
            Service::init_embedded(dir, user, recipient, signing_key)?
        };
        let mut embedded = Embedded::new(service, &name);
        embedded.owns = true;
        Ok(embedded)
    }

    /// Acts as `user` on `service` (which stays open when this client is dropped).
    pub fn new(service: Service, user: &str) -> Embedded {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        Embedded {
            service,
            user: user.to_owned(),
            rt,
            owns: false,
        }
    }

    fn caller(&self) -> Caller {
        Caller::Local(self.user.clone())
    }

    /// The service.
    pub fn service(&self) -> &Service {
        &self.service
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if self.owns {
            self.service.close();
        }
    }
}

impl KeyService for Embedded {
    fn info(&self) -> Result<ServiceInfo, Error> {
        Ok(self.service.info())
    }
    fn whoami(&self) -> Result<User, Error> {
        self.rt.block_on(self.service.whoami(self.caller()))
    }
    fn signers(&self) -> Result<Vec<EnrolledSigner>, Error> {
        self.rt.block_on(self.service.signers(self.caller()))
    }
    fn label_changes(&self, changes: Vec<LabelChange>) -> Result<usize, Error> {
        self.rt
            .block_on(self.service.label_changes(self.caller(), changes))
    }
    fn label_versions(&self, docs: Vec<String>) -> Result<Vec<NewestLabel>, Error> {
        self.rt
            .block_on(self.service.label_versions(self.caller(), docs))
    }
    fn register(&self, r: Registration) -> Result<Registered, Error> {
        self.rt.block_on(self.service.register(self.caller(), r))
    }
    fn licence(&self, r: Request) -> Result<Granted, Error> {
        self.rt.block_on(self.service.licence(self.caller(), r))
    }
    fn document(&self, doc: &str) -> Result<DocumentRights, Error> {
        self.rt
            .block_on(self.service.document(self.caller(), doc.to_owned()))
    }
    fn grant(&self, doc: &str, grant: Grant) -> Result<Document, Error> {
        self.rt
            .block_on(self.service.grant(self.caller(), doc.to_owned(), grant))
    }
    fn ungrant(&self, doc: &str, p: &Principal) -> Result<Document, Error> {
        self.rt.block_on(
            self.service
                .ungrant(self.caller(), doc.to_owned(), p.clone()),
        )
    }
    fn user_add(&self, user: NewUser) -> Result<UserAdded, Error> {
        self.rt.block_on(self.service.user_add(self.caller(), user))
    }
    fn user_code(&self, name: &str) -> Result<UserAdded, Error> {
        self.rt
            .block_on(self.service.user_code(self.caller(), name.to_owned()))
    }
    fn user_status(&self, name: &str, status: UserStatus) -> Result<User, Error> {
        self.rt.block_on(
            self.service
                .user_status(self.caller(), name.to_owned(), status),
        )
    }
    fn revoke_tokens(&self, name: &str) -> Result<usize, Error> {
        self.rt
            .block_on(self.service.revoke_tokens(self.caller(), name.to_owned()))
    }
    fn user_list(&self) -> Result<Vec<User>, Error> {
        self.rt.block_on(self.service.user_list(self.caller()))
    }
    fn group_add(&self, name: &str) -> Result<(), Error> {
        self.rt
            .block_on(self.service.group_add(self.caller(), name.to_owned()))
    }
    fn group_member(&self, group: &str, user: &str, member: bool) -> Result<(), Error> {
        self.rt.block_on(self.service.group_member(
            self.caller(),
            group.to_owned(),
            user.to_owned(),
            member,
        ))
    }
    fn group_list(&self) -> Result<Vec<Group>, Error> {
        self.rt.block_on(self.service.group_list(self.caller()))
    }
    fn revoke(&self, t: RevokeTarget) -> Result<Revocation, Error> {
        self.rt.block_on(self.service.revoke(self.caller(), t))
    }
    fn unrevoke(&self, t: RevokeTarget) -> Result<(), Error> {
        self.rt.block_on(self.service.unrevoke(self.caller(), t))
    }
    fn revocations(&self) -> Result<Vec<Revocation>, Error> {
        self.rt.block_on(self.service.revocations(self.caller()))
    }
    fn documents(&self) -> Result<Vec<Document>, Error> {
        self.rt.block_on(self.service.documents(self.caller()))
    }
    fn ledger(&self, _out: &mut dyn std::io::Write) -> Result<(), Error> {
        Err(Error::Invalid(
            "the company ledger is built by a key service that machines report to (fuda-keyd); this fuda uses the embedded one: `fuda init --service URL --enroll CODE`, or `fuda inventory` for this machine's folders".into(),
        ))
    }
    fn audit(&self, q: Query) -> Result<Vec<Record>, Error> {
        self.rt.block_on(self.service.audit(self.caller(), q))
    }
    fn audit_verify(&self) -> Result<Verification, Error> {
        self.rt.block_on(self.service.audit_verify(self.caller()))
    }
    fn audit_verify_against(&self, held: Vec<Checkpoint>) -> Result<Verification, Error> {
        self.rt
            .block_on(self.service.audit_verify_against(self.caller(), held))
    }
    fn console_link(&self) -> Result<crate::console::ConsoleLink, Error> {
        Err(Error::Invalid(
            "the browser console is served by the key service daemon (fuda-keyd); this fuda uses the embedded one: set up fuda-keyd (docs/operator-guide.md), then `fuda init --service URL --enroll CODE`".into(),
        ))
    }
    fn rotate_key(&self) -> Result<ServiceInfo, Error> {
        self.rt.block_on(self.service.rotate_key(self.caller()))
    }
    fn policy(&self) -> Result<Option<SignedPolicy>, Error> {
        self.rt.block_on(self.service.policy(self.caller()))
    }
    fn policy_set(&self, text: &str, origin: &str) -> Result<PolicySet, Error> {
        self.rt.block_on(
            self.service
                .policy_set(self.caller(), text.to_owned(), origin.to_owned()),
        )
    }
    fn policy_version(&self, version: Option<u32>) -> Result<SignedPolicy, Error> {
        self.rt
            .block_on(self.service.policy_version(self.caller(), version))
    }
    fn policy_apply(&self) -> Result<Applied, Error> {
        self.rt.block_on(self.service.policy_apply(self.caller()))
    }

    // The recovery key.
    fn recovery_recipients(&self) -> Result<Vec<String>, Error> {
        self.rt
            .block_on(self.service.recovery_recipients(self.caller()))
    }
    fn recovery_add(&self, recipient: &str) -> Result<Vec<String>, Error> {
        self.rt.block_on(
            self.service
                .recovery_add(self.caller(), recipient.to_owned()),
        )
    }
    fn rewrap(&self, header: Vec<u8>) -> Result<Rewrapped, Error> {
        self.rt.block_on(self.service.rewrap(self.caller(), header))
    }
    fn transfer(&self, doc: &str, owner: &str) -> Result<Document, Error> {
        self.rt.block_on(
            self.service
                .transfer(self.caller(), doc.to_owned(), owner.to_owned()),
        )
    }
    fn save_version(&self, v: NewVersion) -> Result<Registered, Error> {
        self.rt
            .block_on(self.service.save_version(self.caller(), v))
    }
    fn reclassify(&self, r: Reclassify) -> Result<Registered, Error> {
        self.rt.block_on(self.service.reclassify(self.caller(), r))
    }

    fn report(&self, chunk: &SignedChunk) -> Result<ReportAck, Error> {
        self.rt
            .block_on(self.service.report(self.caller(), chunk.clone()))
    }
}

/// Longest the company ledger may take to arrive.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

/// A `fuda-keyd` over HTTPS, at one address or at several (replicas of one service).
pub struct Remote {
    /// The service's addresses: the configured one first, then its replicas.
    bases: Vec<String>,
    /// The address that answered last (tried first).
    current: AtomicUsize,
    token: Option<String>,
    agent: ureq::Agent,
    /// Where the service's audit checkpoints are kept, if anywhere.
    witness: Option<crate::checkpoint::Witness>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("bases", &self.bases)
            .finish_non_exhaustive()
    }
}

/// One address's answer: a result, or a reason to try the next address.
enum Attempt<T> {
    Answered(Result<T, Error>),
    Unreachable(Error),
}

/// Reads an answer from `base`: the JSON on success, the service's error otherwise; a
/// reason to try another replica when it could not answer.
fn answer<T: serde::de::DeserializeOwned>(
    base: &str,
    path: &str,
    resp: Result<ureq::Response, ureq::Error>,
) -> Attempt<T> {
    match resp {
        Ok(r) => Attempt::Answered(
            r.into_json::<T>()
                .map_err(|e| Error::Transport(format!("{base}{path}: bad answer: {e}"))),
        ),
        Err(ureq::Error::Status(status, r)) => {
            let v: serde_json::Value = r.into_json().unwrap_or_default();
            let code = v["error"].as_str().unwrap_or("").to_owned();
            let msg = v["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}"));
            let e = Error::from_code(&code, msg);
            if status == 503 {
                Attempt::Unreachable(e)
            } else {
                Attempt::Answered(Err(e))
            }
        }
        Err(ureq::Error::Transport(t)) => match crate::tls::PinMismatch::find(&t) {
            Some(m) => Attempt::Answered(Err(Error::CertificateMismatch(m))),
            None => Attempt::Unreachable(Error::Transport(format!("{base}: {t}"))),
        },
    }
}

/// `https://host:port` without a trailing slash, or why not.
fn base_of(url: &str) -> Result<String, Error> {
    let base = url.trim_end_matches('/').to_owned();
    if !base.starts_with("https://") {
        return Err(Error::Invalid(format!(
            "the key service URL {url} must start with https://"
        )));
    }
    Ok(base)
}

impl Remote {
    /// A client of the service at `url` (`https://host:port`) whose certificate has the
    /// SHA-256 fingerprint `fingerprint` (hex, colons allowed), using `token` if enrolled.
    pub fn new(url: &str, fingerprint: &str, token: Option<String>) -> Result<Remote, Error> {
        let pin = crate::tls::parse_fingerprint(fingerprint)?;
        let config = crate::tls::pinned_client_config(pin);
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(config))
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build();
        Ok(Remote {
            bases: vec![base_of(url)?],
            current: AtomicUsize::new(0),
            token,
            agent,
            witness: None,
        })
    }

    /// Keeps the highest audit checkpoint the service's answers carry in `witness`
    /// ([`crate::checkpoint`]): evidence, outside the service's database, of how far its
    /// audit log had reached.
    pub fn keeping_checkpoints(mut self, witness: crate::checkpoint::Witness) -> Remote {
        self.witness = Some(witness);
        self
    }

    /// Reads an answer, keeping the audit checkpoint it carries (a checkpoint that does
    /// not verify, or a state file that cannot be written, never fails the request).
    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        resp: Result<ureq::Response, ureq::Error>,
    ) -> Attempt<T> {
        if let (Some(witness), Ok(r)) = (&self.witness, &resp) {
            if let Some(c) = r
                .header(crate::checkpoint::HEADER)
                .and_then(crate::checkpoint::Checkpoint::from_header)
            {
                let _ = witness.observe(&c);
            }
        }
        answer(base, path, resp)
    }

    /// Adds the addresses of the service's other replicas (same certificate, same
    /// service), tried in turn when one cannot answer.
    pub fn with_replicas(mut self, urls: &[String]) -> Result<Remote, Error> {
        for url in urls {
            let base = base_of(url)?;
            if !self.bases.contains(&base) {
                self.bases.push(base);
            }
        }
        Ok(self)
    }

    /// Redeems an enrollment code (no token needed).
    pub fn enroll(&self, e: &Enrollment) -> Result<Enrolled, Error> {
        self.call(
            "POST",
            "/v1/enroll",
            Some(serde_json::to_value(e).expect("json")),
        )
    }

    /// Sends the request to the address that answered last, then to each other one
    /// until one answers; the last failure (every address named) when none does.
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, Error> {
        self.over_replicas(|base| self.call_at(base, method, path, body.clone()))
    }

    /// Runs `attempt` at the address that answered last, then at each other one until
    /// one answers; the last failure (every address named) when none does.
    fn over_replicas<T>(&self, mut attempt: impl FnMut(&str) -> Attempt<T>) -> Result<T, Error> {
        let n = self.bases.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut failures = Vec::new();
        for i in 0..n {
            let at = (first + i) % n;
            match attempt(&self.bases[at]) {
                Attempt::Answered(result) => {
                    if at != first {
                        self.current.store(at, Ordering::Relaxed);
                    }
                    return result;
                }
                Attempt::Unreachable(e) => failures.push(e),
            }
        }
        let last = failures.pop().expect("at least one address");
        Err(match last {
            Error::Transport(m) if !failures.is_empty() => Error::Transport(format!(
                "no replica of the key service answered: {}; {m}",
                failures
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            other => other,
        })
    }

    fn call_at<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Attempt<T> {
        let mut req = self.agent.request(method, &format!("{base}{path}"));
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        self.answer(base, path, resp)
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call("GET", path, None)
    }

    fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: impl serde::Serialize,
    ) -> Result<T, Error> {
        self.call(
            "POST",
            path,
            Some(serde_json::to_value(body).expect("json")),
        )
    }
}

#[derive(serde::Deserialize)]
struct Empty {}

impl KeyService for Remote {
    fn info(&self) -> Result<ServiceInfo, Error> {
        self.get("/v1/info")
    }
    fn whoami(&self) -> Result<User, Error> {
        self.get("/v1/me")
    }
    fn signers(&self) -> Result<Vec<EnrolledSigner>, Error> {
        self.get("/v1/signers")
    }
    fn label_changes(&self, changes: Vec<LabelChange>) -> Result<usize, Error> {
        #[derive(serde::Deserialize)]
        struct Recorded {
            recorded: usize,
        }
        self.post::<Recorded>(
            "/v1/label-changes",
            serde_json::json!({ "changes": changes }),
        )
        .map(|r| r.recorded)
    }
    fn label_versions(&self, docs: Vec<String>) -> Result<Vec<NewestLabel>, Error> {
        self.post("/v1/label-versions", serde_json::json!({ "docs": docs }))
    }
    fn register(&self, r: Registration) -> Result<Registered, Error> {
        self.post("/v1/documents", r)
    }
    fn licence(&self, r: Request) -> Result<Granted, Error> {
        self.post("/v1/licences", r)
    }
    fn document(&self, doc: &str) -> Result<DocumentRights, Error> {
        self.post("/v1/document", serde_json::json!({"doc": doc}))
    }
    fn grant(&self, doc: &str, grant: Grant) -> Result<Document, Error> {
        self.post("/v1/grant", serde_json::json!({"doc": doc, "grant": grant}))
    }
    fn ungrant(&self, doc: &str, p: &Principal) -> Result<Document, Error> {
        self.post(
            "/v1/ungrant",
            serde_json::json!({"doc": doc, "principal": p}),
        )
    }
    fn user_add(&self, user: NewUser) -> Result<UserAdded, Error> {
        self.post("/v1/admin/users", user)
    }
    fn user_code(&self, name: &str) -> Result<UserAdded, Error> {
        self.post("/v1/admin/user-code", serde_json::json!({"name": name}))
    }
    fn user_status(&self, name: &str, status: UserStatus) -> Result<User, Error> {
        self.post(
            "/v1/admin/user-status",
            serde_json::json!({"name": name, "status": status}),
        )
    }
    fn revoke_tokens(&self, name: &str) -> Result<usize, Error> {
        #[derive(serde::Deserialize)]
        struct Ended {
            revoked: usize,
        }
        self.post::<Ended>("/v1/admin/revoke-tokens", serde_json::json!({"name": name}))
            .map(|e| e.revoked)
    }
    fn user_list(&self) -> Result<Vec<User>, Error> {
        self.get("/v1/admin/users")
    }
    fn group_add(&self, name: &str) -> Result<(), Error> {
        self.post::<Empty>("/v1/admin/groups", serde_json::json!({"name": name}))
            .map(drop)
    }
    fn group_member(&self, group: &str, user: &str, member: bool) -> Result<(), Error> {
        self.post::<Empty>(
            "/v1/admin/group-members",
            serde_json::json!({"group": group, "user": user, "member": member}),
        )
        .map(drop)
    }
    fn group_list(&self) -> Result<Vec<Group>, Error> {
        self.get("/v1/admin/groups")
    }
    fn revoke(&self, t: RevokeTarget) -> Result<Revocation, Error> {
        self.post("/v1/admin/revoke", t)
    }
    fn unrevoke(&self, t: RevokeTarget) -> Result<(), Error> {
        self.post::<Empty>("/v1/admin/unrevoke", t).map(drop)
    }
    fn revocations(&self) -> Result<Vec<Revocation>, Error> {
        self.get("/v1/admin/revocations")
    }
    fn documents(&self) -> Result<Vec<Document>, Error> {
        self.get("/v1/admin/documents")
    }
    fn ledger(&self, out: &mut dyn std::io::Write) -> Result<(), Error> {
        let path = "/v1/admin/ledger";
        self.over_replicas(|base| {
            let mut req = self
                .agent
                .get(&format!("{base}{path}"))
                // The service builds the ledger as it streams it: minutes for millions of files.
                .timeout(LEDGER_TIMEOUT);
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            match req.call() {
                Ok(r) => Attempt::Answered(
                    std::io::copy(&mut r.into_reader(), &mut *out)
                        .map(drop)
                        .map_err(|e| Error::Transport(format!("{base}{path}: {e}"))),
                ),
                Err(e) => match answer::<Empty>(base, path, Err(e)) {
                    Attempt::Answered(r) => Attempt::Answered(r.map(drop)),
                    Attempt::Unreachable(e) => Attempt::Unreachable(e),
                },
            }
        })
    }

    fn audit(&self, q: Query) -> Result<Vec<Record>, Error> {
        self.post("/v1/admin/audit", q)
    }
    fn audit_verify(&self) -> Result<Verification, Error> {
        self.get("/v1/admin/audit/verify")
    }
    fn audit_verify_against(&self, held: Vec<Checkpoint>) -> Result<Verification, Error> {
        self.post(
            "/v1/admin/audit/verify",
            serde_json::json!({ "checkpoints": held }),
        )
    }
    fn console_link(&self) -> Result<crate::console::ConsoleLink, Error> {
        let link: crate::console::LoginLink =
            self.post("/v1/admin/console-link", serde_json::json!({}))?;
        // The address that answered: any replica serves the session it opens.
        let base = &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()];
        Ok(crate::console::ConsoleLink {
            url: format!("{base}/console/login?t={}", link.token),
            user: link.user,
            expires_at: link.expires_at,
        })
    }
    fn rotate_key(&self) -> Result<ServiceInfo, Error> {
        self.post("/v1/admin/rotate-key", serde_json::json!({}))
    }
    fn policy(&self) -> Result<Option<SignedPolicy>, Error> {
        match self.get("/v1/policy") {
            // A service from before policies has no such endpoint: it holds none.
            Err(Error::NotFound(_)) => Ok(None),
            other => other,
        }
    }
    fn policy_set(&self, text: &str, origin: &str) -> Result<PolicySet, Error> {
        self.post(
            "/v1/admin/policy",
            serde_json::json!({"text": text, "origin": origin}),
        )
    }
    fn policy_version(&self, version: Option<u32>) -> Result<SignedPolicy, Error> {
        self.post(
            "/v1/admin/policy/show",
            serde_json::json!({ "version": version }),
        )
    }
    fn policy_apply(&self) -> Result<Applied, Error> {
        self.post("/v1/admin/policy/apply", serde_json::json!({}))
    }

    // The recovery key.
    fn recovery_recipients(&self) -> Result<Vec<String>, Error> {
        self.get("/v1/recovery")
    }
    fn recovery_add(&self, recipient: &str) -> Result<Vec<String>, Error> {
        self.post(
            "/v1/admin/recovery",
            serde_json::json!({ "recipient": recipient }),
        )
    }
    fn rewrap(&self, header: Vec<u8>) -> Result<Rewrapped, Error> {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::STANDARD.encode(header);
        self.post("/v1/rewrap", serde_json::json!({ "header": header }))
    }
    fn transfer(&self, doc: &str, owner: &str) -> Result<Document, Error> {
        self.post(
            "/v1/transfer",
            serde_json::json!({ "doc": doc, "owner": owner }),
        )
    }
    fn save_version(&self, v: NewVersion) -> Result<Registered, Error> {
        self.post("/v1/versions", v)
    }
    fn reclassify(&self, r: Reclassify) -> Result<Registered, Error> {
        self.post("/v1/reclassify", r)
    }

    fn report(&self, chunk: &SignedChunk) -> Result<ReportAck, Error> {
        // The body goes as signed, byte for byte; the signature rides in a header.
        let path = "/v1/reports";
        self.over_replicas(|base| {
            let mut req = self
                .agent
                .post(&format!("{base}{path}"))
                .set("Content-Type", "application/json")
                .set(
                    crate::report::SIGNATURE_HEADER,
                    &crate::report::encode_signature(&chunk.signature),
                );
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            self.answer(base, path, req.send_bytes(&chunk.body))
        })
    }
}
