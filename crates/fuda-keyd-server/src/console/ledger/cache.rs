//! The company ledger as the console shows it: built in the background, once per change
//! of what it is made of, and kept until the next change.
//!
//! A ledger of a million files takes far longer to build than a page may take, so pages
//! never build it. What a ledger is made of is summed up in a [`Key`]: the index's
//! generation (it changes with every report chunk the service applies), the policy in
//! force, the documents revoked for everyone, and the hour (machines fall overdue as time
//! passes). A page whose key differs from the built ledger's starts one build (never two
//! at once) and shows the ledger it has, saying that an update is under way; only when no
//! ledger was ever built does it wait for the first (up to [`FIRST_WAIT`]). The ledger is
//! therefore at most one build behind the index, plus an hour for overdue machines.
//!
//! It is built exactly as `fuda admin ledger` receives it: the service's stream
//! ([`crate::ledger::stream`]) read back with [`wire::read`]. Its findings are copied to
//! a temporary file of JSON lines with their places in memory (a few bytes each), so any
//! page of any filter is a few reads.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use fuda_core::policy::Policy;
use fuda_keyd::registry::Revocation;
use fuda_keyd::service::{Caller, LedgerSources, Service};
use fuda_keyd::store::IndexCount;
use fuda_keyd::Error;
use fuda_ledger::company::{wire, CompanyLedger};
use fuda_ledger::inventory::{Finding, FindingKind, Previous};
use futures_util::StreamExt as _;

/// How long a page waits for the first ledger before it answers without one.
pub const FIRST_WAIT: Duration = Duration::from_secs(10);

/// What a ledger is made of: when it changes, the ledger is built again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    generation: u64,
    policy: Option<(String, u32)>,
    revoked: Vec<String>,
    hour: i64,
}

/// A finding's place in the findings file, and what filters look at.
struct Place {
    offset: u64,
    len: u32,
    kind: FindingKind,
    /// Index into [`Findings::machines`].
    machine: u32,
    level: Option<Arc<str>>,
}

/// The ledger's findings, on disk, with their places in memory.
pub struct Findings {
    file: File,
    places: Vec<Place>,
    machines: Vec<String>,
}

/// Which findings a list shows.
#[derive(Clone, Debug, Default)]
pub struct FindingFilter {
    /// Only this kind.
    pub kind: Option<FindingKind>,
    /// Only on this machine.
    pub machine: Option<String>,
    /// Only at this level id.
    pub level: Option<String>,
}

impl Findings {
    /// Copies `ledger`'s findings into a temporary file in `dir`.
    fn copy(ledger: &CompanyLedger, dir: &std::path::Path) -> std::io::Result<Findings> {
        let mut w = BufWriter::new(tempfile::tempfile_in(dir)?);
        let mut places = Vec::with_capacity(ledger.findings.len());
        let mut machines: Vec<String> = Vec::new();
        let mut machine_ids: HashMap<String, u32> = HashMap::new();
        let mut levels: HashMap<String, Arc<str>> = HashMap::new();
        let mut offset = 0u64;
        for f in ledger.findings.iter() {
            let f = f?;
            let line = serde_json::to_vec(&f)?;
            w.write_all(&line)?;
            let machine = machine_of(&f).to_owned();
            let next = machine_ids.len() as u32;
            let machine = *machine_ids.entry(machine.clone()).or_insert_with(|| {
                machines.push(machine);
                next
            });
            let level = f.level.as_ref().map(|l| {
                levels
                    .entry(l.clone())
                    .or_insert_with(|| Arc::from(l.as_str()))
                    .clone()
            });
            places.push(Place {
                offset,
                len: line.len() as u32,
                kind: f.kind,
                machine,
                level,
            });
            offset += line.len() as u64;
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        Ok(Findings {
            file,
            places,
            machines,
        })
    }

    /// How many findings of each kind, most urgent first.
    pub fn by_kind(&self) -> Vec<(FindingKind, usize)> {
        let mut counts: BTreeMap<(fuda_ledger::inventory::Severity, FindingKind), usize> =
            BTreeMap::new();
        for p in &self.places {
            *counts.entry((p.kind.severity(), p.kind)).or_default() += 1;
        }
        counts.into_iter().map(|((_, k), n)| (k, n)).collect()
    }

    /// How many findings there are.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    fn keeps(&self, filter: &FindingFilter, p: &Place) -> bool {
        filter.kind.is_none_or(|k| k == p.kind)
            && filter
                .machine
                .as_deref()
                .is_none_or(|m| self.machines[p.machine as usize] == m)
            && filter
                .level
                .as_deref()
                .is_none_or(|l| p.level.as_deref() == Some(l))
    }

    /// How many findings `filter` keeps, and `limit` of them after the first `offset`.
    pub fn page(
        &self,
        filter: &FindingFilter,
        offset: usize,
        limit: usize,
    ) -> std::io::Result<(usize, Vec<Finding>)> {
        let mut total = 0;
        let mut out = Vec::new();
        for p in self.places.iter().filter(|p| self.keeps(filter, p)) {
            if total >= offset && out.len() < limit {
                let mut buf = vec![0; p.len as usize];
                self.file.read_exact_at(&mut buf, p.offset)?;
                out.push(serde_json::from_slice(&buf)?);
            }
            total += 1;
        }
        Ok((total, out))
    }
}

/// The machine of a finding (its company path is `MACHINE:PATH`).
pub fn machine_of(f: &Finding) -> &str {
    let bytes = f.path.as_os_str().as_bytes();
    let end = bytes.iter().position(|&b| b == b':').unwrap_or(0);
    std::str::from_utf8(&bytes[..end]).unwrap_or("")
}

/// A built ledger, with what the console's pages read from it.
pub struct Built {
    key: Key,
    /// The ledger (its rows in memory, its findings and files in temporary files).
    pub ledger: CompanyLedger,
    /// The policy it was checked against.
    pub policy: Policy,
    /// Files per machine and level, as the index had them.
    pub counts: Vec<IndexCount>,
    /// Its findings, for pages of them.
    pub findings: Findings,
}

/// What a page gets: the ledger it may show and whether a newer one is being built.
pub struct View {
    /// The newest ledger built (`None` while the first is still being built).
    pub built: Option<Arc<Built>>,
    /// A build for newer data is under way: the ledger shown is older than the index.
    pub updating: bool,
    /// Why the last build failed, if it did.
    pub failed: Option<String>,
}

#[derive(Default)]
struct Slot {
    built: Option<Arc<Built>>,
    building: bool,
    /// The last build that failed: not tried again for the same data (the hour in the key
    /// tries it again at least hourly).
    failed: Option<(Key, String)>,
}

struct Cache {
    slot: Mutex<Slot>,
    /// Counts finished builds (pages waiting for the first watch it).
    done: tokio::sync::watch::Sender<u64>,
}

/// The cache of the service whose data folder is `service.dir()`.
fn cache_of(service: &Service) -> Arc<Cache> {
    static CACHES: OnceLock<Mutex<HashMap<PathBuf, Arc<Cache>>>> = OnceLock::new();
    let mut all = CACHES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    all.entry(service.dir().to_owned())
        .or_insert_with(|| {
            Arc::new(Cache {
                slot: Mutex::default(),
                done: tokio::sync::watch::channel(0).0,
            })
        })
        .clone()
}

fn revoked_for_everyone(revocations: &[Revocation]) -> Vec<String> {
    let mut docs: Vec<String> = revocations
        .iter()
        .filter(|r| r.user.is_none())
        .filter_map(|r| r.doc.clone())
        .collect();
    docs.sort();
    docs
}

/// The ledger for `caller` (an admin or auditor: the service decides, and refuses anyone
/// else), starting a build when the data changed; with `wait`, waits for the first build
/// (up to [`FIRST_WAIT`]) when there is none yet.
pub async fn view(service: &Service, caller: Caller, wait: bool) -> Result<View, Error> {
    let revocations = service.revocations(caller.clone()).await?;
    let s = service.clone();
    let generation = tokio::task::spawn_blocking(move || -> Result<u64, Error> {
        Ok(s.index_snapshot()?.index_generation()?)
    })
    .await
    .map_err(|_| Error::ShuttingDown)??;
    let policy = crate::console::page::policy_shown(service);
    let key = Key {
        generation,
        policy: service.policy_in_force().map(|p| (p.id.clone(), p.version)),
        revoked: revoked_for_everyone(&revocations),
        hour: fuda_keyd::now().div_euclid(3600),
    };
    let cache = cache_of(service);
    let mut done = cache.done.subscribe();
    let start = {
        let mut slot = cache.slot.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = slot.built.as_ref().is_some_and(|b| b.key == key);
        let failed = slot.failed.as_ref().is_some_and(|(k, _)| *k == key);
        let start = !fresh && !failed && !slot.building;
        slot.building |= start;
        start
    };
    if start {
        let documents = match service.documents(caller.clone()).await {
            Ok(d) => d,
            Err(e) => {
                cache
                    .slot
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .building = false;
                return Err(e);
            }
        };
        let sources = LedgerSources {
            reader: String::new(),
            policy: service.policy_in_force(),
            documents,
            revocations,
        };
        let (s, c) = (service.clone(), cache.clone());
        tokio::spawn(async move {
            let result = build(&s, key.clone(), policy, sources).await;
            let mut slot = c.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.building = false;
            match result {
                Ok(b) => {
                    slot.built = Some(Arc::new(b));
                    slot.failed = None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the console's company ledger was not built");
                    slot.failed = Some((key, e));
                }
            }
            drop(slot);
            c.done.send_modify(|n| *n += 1);
        });
    }
    let first = cache
        .slot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .built
        .is_none();
    if first && wait {
        let _ = tokio::time::timeout(FIRST_WAIT, done.changed()).await;
    }
    let slot = cache.slot.lock().unwrap_or_else(|e| e.into_inner());
    Ok(View {
        built: slot.built.clone(),
        updating: slot.building,
        failed: slot.failed.as_ref().map(|(_, e)| e.clone()),
    })
}

async fn build(
    service: &Service,
    key: Key,
    policy: Policy,
    sources: LedgerSources,
) -> Result<Built, String> {
    let s = service.clone();
    let ledger = receive(service, sources, policy.clone(), None).await?;
    tokio::task::spawn_blocking(move || {
        let findings = Findings::copy(&ledger, s.dir()).map_err(|e| e.to_string())?;
        let counts = s
            .index_snapshot()
            .and_then(|mut snap| Ok(snap.index_counts()?))
            .map_err(|e| e.to_string())?;
        Ok(Built {
            key,
            ledger,
            policy,
            counts,
            findings,
        })
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The company ledger as `fuda admin ledger` receives it: the service's stream of it,
/// kept in an unnamed temporary file in the data folder, read back with [`wire::read`]
/// (with the review against `previous`, when given).
pub async fn receive(
    service: &Service,
    sources: LedgerSources,
    policy: Policy,
    previous: Option<Previous>,
) -> Result<CompanyLedger, String> {
    let dir = service.dir().to_owned();
    let body = crate::ledger::stream(service.clone(), sources).into_body();
    let mut stream = tempfile::tempfile_in(&dir).map_err(|e| e.to_string())?;
    let mut frames = body_frames(body);
    {
        let mut w = BufWriter::with_capacity(1 << 20, &mut stream);
        while let Some(block) = frames.next().await {
            let block = block.map_err(|e| e.to_string())?;
            w.write_all(&block).map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())?;
    }
    tokio::task::spawn_blocking(move || {
        stream.rewind().map_err(|e| e.to_string())?;
        wire::read(
            &mut BufReader::with_capacity(1 << 20, &stream),
            &policy,
            previous.as_ref(),
            &dir,
        )
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

fn body_frames(
    body: Body,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin {
    body.into_data_stream()
}
