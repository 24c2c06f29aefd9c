//! `GET /v1/admin/ledger`: the company ledger, built from the file index as it streams
//! out (`fuda_ledger::company::wire`), for admins and auditors; every export is audited.
//!
//! The ledger is built on a blocking thread in the passes of
//! [`fuda_ledger::company::Builder`], each a scan of a read-only snapshot of the index
//! (the writer is never held up): every file by machine and path, then by content digest,
//! then by document id. Its files and findings wait in unnamed temporary files in the
//! service's data folder; what is sent goes through a small channel, so a slow or gone
//! client holds up or stops the build instead of filling memory.

use std::io::Write;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fuda_core::policy::Policy;
use fuda_keyd::report::{IndexOrder, IndexedFile, MachineStatus};
use fuda_keyd::service::{LedgerSources, Service};
use fuda_ledger::company::{wire, Builder, Source};
use fuda_ledger::inventory::registry::{RegisteredDocument, Registry, Revoked};
use fuda_ledger::inventory::FileEntry;

/// Bytes sent at a time.
const BLOCK: usize = 64 * 1024;
/// Blocks waiting to be sent, at most.
const WAITING: usize = 16;
/// A progress line at least this often while the ledger is built (a silent connection
/// looks dead to proxies and clients).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What the export is audited with.
pub(crate) fn audit_detail() -> serde_json::Value {
    serde_json::json!({"stream": wire::FORMAT})
}

/// The response that streams the ledger built from `s`'s index, checked against
/// `sources` (the caller was let through and audited already).
pub(crate) fn stream(s: Service, sources: LedgerSources) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(WAITING);
    tokio::task::spawn_blocking(move || {
        let mut out = Sender {
            tx,
            block: Vec::with_capacity(BLOCK),
        };
        let result =
            export(&s, sources, &mut out).and_then(|()| out.flush().map_err(ExportError::from));
        if let Err(e) = result {
            // The client sees the stream end without its `end` line, and refuses it.
            tracing::error!(error = %e, "the company ledger stopped");
            let _ = out
                .tx
                .blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|block| (block, rx))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Why an export stopped.
#[derive(Debug)]
enum ExportError {
    Io(std::io::Error),
    Service(fuda_keyd::Error),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Io(e) => e.fmt(f),
            ExportError::Service(e) => e.fmt(f),
        }
    }
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Io(e)
    }
}

impl From<fuda_keyd::Error> for ExportError {
    fn from(e: fuda_keyd::Error) -> Self {
        ExportError::Service(e)
    }
}

/// Builds the ledger and writes its stream to `out`.
fn export(s: &Service, sources: LedgerSources, out: &mut Sender) -> Result<(), ExportError> {
    // Without an organisation's policy the built-in default decides (as on a fresh
    // install, where labels are made under it too).
    let policy = match sources.policy {
        Some(p) => p,
        None => Policy::builtin("default").expect("the built-in policy is valid"),
    };
    let registry = registry(sources.documents, &sources.revocations);
    let machines = s.machines()?.into_iter().map(source).collect();
    let dir = s.dir().to_owned();
    let now = fuda_keyd::now();
    let mut builder = Builder::new(&policy, now, machines, Some(&registry), None, &dir)?;
    let mut progress = Progress::new();
    s.index_scan(IndexOrder::MachinePath, |f: IndexedFile| {
        progress.tick(out)?;
        match serde_json::from_slice::<FileEntry>(&f.record_json) {
            Ok(entry) => builder.add(&f.machine, entry)?,
            // The service checked the record's columns when it took the report; a record
            // that is no inventory entry otherwise is left out, and said so in the log.
            Err(e) => tracing::warn!(machine = %f.machine, error = %e, "an index record is not a file entry"),
        }
        Ok::<(), ExportError>(())
    })?;
    s.index_scan(IndexOrder::Sha256, |f: IndexedFile| {
        progress.tick(out)?;
        if let Some(sha) = &f.sha256 {
            builder.add_by_content(sha, &f.machine, &f.path, &f.record_json)?;
        }
        Ok::<(), ExportError>(())
    })?;
    s.index_scan(IndexOrder::DocId, |f: IndexedFile| {
        progress.tick(out)?;
        if let Some(doc) = &f.doc {
            builder.add_by_doc(doc, &f.machine, &f.path, &f.record_json)?;
        }
        Ok::<(), ExportError>(())
    })?;
    let ledger = builder.finish()?;
    wire::write(&ledger, out)?;
    Ok(())
}

fn source(m: MachineStatus) -> Source {
    Source {
        name: m.name,
        kind: m.kind.as_str().to_owned(),
        last_report_at: m.last_report_at,
        expected_interval_s: m.expected_interval_s,
        files: m.files,
    }
}

/// The registry as the ledger checks files against it: documents revoked for everyone.
fn registry(
    documents: Vec<fuda_keyd::registry::Document>,
    revocations: &[fuda_keyd::registry::Revocation],
) -> Registry {
    Registry {
        documents: documents
            .into_iter()
            .map(|d| {
                let revoked = revocations
                    .iter()
                    .find(|r| r.user.is_none() && r.doc.as_deref() == Some(d.id.as_str()))
                    .map(|r| Revoked {
                        at: r.at,
                        by: r.by.clone(),
                    });
                RegisteredDocument {
                    id: d.id,
                    name: d.name,
                    owner: d.owner,
                    level: d.level,
                    revoked,
                }
            })
            .collect(),
    }
}

/// Progress lines while the ledger is built.
struct Progress {
    files: u64,
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            files: 0,
            last: Instant::now(),
        }
    }

    fn tick(&mut self, out: &mut Sender) -> std::io::Result<()> {
        self.files += 1;
        if self.files.is_multiple_of(4096) && self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            wire::line(out, &wire::Line::Progress(self.files))?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Writes into the response body a block at a time; fails when the client is gone.
struct Sender {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    block: Vec<u8>,
}

impl Write for Sender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.block.extend_from_slice(buf);
        if self.block.len() >= BLOCK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let block = Bytes::from(std::mem::replace(
            &mut self.block,
            Vec::with_capacity(BLOCK),
        ));
        self.tx.blocking_send(Ok(block)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client stopped reading the ledger",
            )
        })
    }
}
