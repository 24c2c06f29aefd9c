//! Group commit: one writer thread owns the store. It takes every job waiting (up to
//! [`MAX_BATCH`]) and runs them in one transaction, each in a savepoint, then commits once
//! (one fsync) and only then answers them. A decision is never acknowledged before its
//! audit record is durable. A store whose commit returns before the disk has it
//! (PostgreSQL: [`Durability::Pending`]) hands the batch's answers to a second thread that
//! waits for the disk, while the writer goes on with the next batch.
//!
//! A *bulk* job (a chunk of a machine's report: a thousand index rows) shares a
//! transaction with any number of decisions but never with another bulk job: a decision
//! waits for at most one chunk, however many machines report at once.

use std::sync::{mpsc, Mutex};

use crate::error::Error;
use crate::store::{Durability, Store, StoreError, Tx};

/// Most jobs committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// Answers a job once its transaction committed (or failed).
type Finisher = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// Work for the writer: runs in a savepoint and says whether to keep it; or, given the
/// error of a transaction that could not begin (the database unreachable), does nothing
/// and answers with it.
type Work = Box<dyn FnOnce(Result<&mut dyn Tx, &StoreError>) -> (bool, Finisher) + Send>;

/// A job and whether it is bulk.
struct Job {
    work: Work,
    bulk: bool,
}

/// The writer thread and the queue that feeds it.
pub(super) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread over `store`.
    pub(super) fn start(store: Box<dyn Store>) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("fuda-keyd-writer".into())
            .spawn(move || write_loop(store, rx))
            .expect("spawn the writer thread");
        Writer {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Sends a job to the writer and returns where its answer will arrive; a `bulk` job
    /// never shares a transaction with another bulk job.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        bulk: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<Result<T, Error>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let work: Work = Box::new(move |tx: Result<&mut dyn Tx, &StoreError>| {
            let result = match tx {
                Ok(tx) => f(tx),
                Err(e) => Err(Error::Store(e.clone())),
            };
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
        let job = Job { work, bulk };
        let sender = self.jobs.lock().expect("jobs lock").clone();
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

    /// Stops accepting work, lets the writer commit what it has, and waits for it.
    pub(super) fn close(&self) {
        self.jobs.lock().expect("jobs lock").take();
        if let Some(h) = self.thread.lock().expect("writer lock").take() {
            let _ = h.join();
        }
    }
}

/// The writer thread: batches waiting jobs into one transaction, each in a savepoint
/// (kept or undone as the job says), commits once, then answers every job of the batch
/// once the commit is durable.
fn write_loop(store: Box<dyn Store>, rx: mpsc::Receiver<Job>) {
    let (pending, waiting) = mpsc::channel::<(Durability, Vec<Finisher>)>();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("fuda-keyd-durable".into())
            .spawn_scoped(scope, move || answer_loop(waiting))
            .expect("spawn the thread that waits for the disk");
        run_batches(store, rx, pending);
    });
}

/// Answers each batch, in commit order, once its commit is on disk (or with the error
/// that kept it from knowing).
fn answer_loop(waiting: mpsc::Receiver<(Durability, Vec<Finisher>)>) {
    for (durability, finishers) in waiting {
        let result = durability.wait();
        if let Err(e) = &result {
            tracing::error!(error = %e, jobs = finishers.len(), "commit not known durable");
        }
        for finish in finishers {
            finish(result.as_ref().map(|_| ()));
        }
    }
}

fn run_batches(
    mut store: Box<dyn Store>,
    rx: mpsc::Receiver<Job>,
    pending: mpsc::Sender<(Durability, Vec<Finisher>)>,
) {
    // Bulk jobs held back for a later transaction, oldest first.
    let mut deferred: std::collections::VecDeque<Job> = std::collections::VecDeque::new();
    loop {
        let first = match deferred.pop_front() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        let mut bulk = first.bulk;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) if job.bulk && bulk => deferred.push_back(job),
                Ok(job) => {
                    bulk |= job.bulk;
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let mut jobs: Vec<Option<Work>> = batch.into_iter().map(|j| Some(j.work)).collect();
        let mut finishers: Vec<Finisher> = Vec::with_capacity(jobs.len());
        let result = store.transaction_pending(&mut |tx| {
            for job in jobs.iter_mut() {
                if job.is_none() {
                    continue;
                }
                // A savepoint that fails (the database went away) leaves the job in
                // `jobs`, to be answered with the transaction's error below, not dropped.
                tx.savepoint()?;
                let Some(job) = job.take() else { continue };
                let (keep, finish) = job(Ok(tx));
                finishers.push(finish);
                tx.release(keep)?;
            }
            Ok(())
        });
        if let Err(e) = &result {
            // Jobs the failed transaction never ran are answered with its error too.
            for job in jobs.iter_mut().filter_map(Option::take) {
                finishers.push(job(Err(e)).1);
            }
            tracing::error!(error = %e, jobs = finishers.len(), "transaction failed");
        }
        match result {
            Ok(Durability::Pending(wait)) => {
                let _ = pending.send((Durability::Pending(wait), finishers));
            }
            result => {
                for finish in finishers {
                    finish(result.as_ref().map(|_| ()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn writer(dir: &std::path::Path) -> Writer {
        Writer::start(Box::new(SqliteStore::open(&dir.join("keyd.db")).unwrap()))
    }

    fn set_then(
        key: &'static str,
        outcome: Result<(), Error>,
    ) -> impl FnOnce(&mut dyn Tx) -> Result<(), Error> + Send {
        move |tx| {
            tx.meta_set(key, "written")?;
            outcome
        }
    }

    #[test]
    fn a_refusal_keeps_what_it_wrote_and_a_store_failure_undoes_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        let failed = StoreError::Database {
            path: "test".into(),
            message: "disk on fire".into(),
        };
        // Submitted together, so most likely committed in one batch; either way each job
        // runs in its own savepoint.
        let answers = [
            w.submit(false, set_then("yes", Ok(()))),
            w.submit(false, set_then("refused", Err(Error::Invalid("no".into())))),
            w.submit(false, set_then("store-failed", Err(Error::Store(failed)))),
        ];
        let got: Vec<_> = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap().map_err(|e| e.code()))
            .collect();
        assert_eq!(got, [Ok(()), Err("invalid"), Err("internal")]);
        let kept = w
            .submit(false, |tx| {
                Ok(["yes", "refused", "store-failed"].map(|k| tx.meta_get(k).unwrap().is_some()))
            })
            .blocking_recv()
            .unwrap()
            .unwrap();
        // A refusal's audit record must survive; a failed job leaves no trace.
        assert_eq!(kept, [true, true, false]);
    }

    /// A store that counts its transactions.
    struct Counting {
        inner: SqliteStore,
        transactions: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Store for Counting {
        fn transaction(
            &mut self,
            work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            self.transactions
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.transaction(work)
        }
        fn snapshots(&self) -> crate::store::SnapshotOpener {
            self.inner.snapshots()
        }
    }

    #[test]
    fn report_chunks_never_share_a_transaction_but_decisions_ride_along() {
        let dir = tempfile::tempdir().unwrap();
        let transactions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = Writer::start(Box::new(Counting {
            inner: SqliteStore::open(&dir.path().join("keyd.db")).unwrap(),
            transactions: transactions.clone(),
        }));
        // Hold the writer in a first transaction so that the next jobs all wait together.
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        let blocker = w.submit(false, move |_| {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            Ok(())
        });
        started.recv().unwrap();
        let chunks: Vec<_> = (0..3)
            .map(|i| {
                w.submit(true, move |tx| {
                    tx.meta_set(&format!("chunk{i}"), "x")?;
                    Ok(())
                })
            })
            .collect();
        let decisions: Vec<_> = (0..5).map(|_| w.submit(false, |_| Ok(()))).collect();
        go.send(()).unwrap();
        for answer in std::iter::once(blocker).chain(chunks).chain(decisions) {
            answer.blocking_recv().unwrap().unwrap();
        }
        // The blocker's transaction, then one per chunk (the decisions joined the first).
        assert_eq!(
            transactions.load(std::sync::atomic::Ordering::SeqCst),
            1 + 3
        );
    }

    /// A store whose commits reach the disk only when the test says so.
    struct Gated {
        inner: SqliteStore,
        disk: std::sync::Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl Store for Gated {
        fn transaction(
            &mut self,
            work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            self.transaction_pending(work)?.wait()
        }
        fn transaction_pending(
            &mut self,
            work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
        ) -> Result<Durability, StoreError> {
            self.inner.transaction(work)?;
            let disk = self.disk.clone();
            Ok(Durability::Pending(Box::new(move || {
                disk.lock()
                    .unwrap()
                    .recv()
                    .map_err(|_| StoreError::Unavailable {
                        database: "test".into(),
                        message: "the disk went away".into(),
                    })
            })))
        }
        fn snapshots(&self) -> crate::store::SnapshotOpener {
            self.inner.snapshots()
        }
    }

    #[test]
    fn nothing_is_answered_before_its_commit_is_on_disk_but_the_next_batch_runs_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let (flushed, disk) = mpsc::channel::<()>();
        let w = Writer::start(Box::new(Gated {
            inner: SqliteStore::open(&dir.path().join("keyd.db")).unwrap(),
            disk: std::sync::Arc::new(Mutex::new(disk)),
        }));
        let (ran_tx, ran) = mpsc::channel::<&str>();
        let ran_first = ran_tx.clone();
        let mut first = w.submit(false, move |tx| {
            tx.meta_set("first", "written")?;
            ran_first.send("first").unwrap();
            Ok(())
        });
        let wait = std::time::Duration::from_secs(10);
        assert_eq!(ran.recv_timeout(wait), Ok("first"));
        // The second job runs in the next batch (and commits) while the first's commit
        // is not on disk yet.
        let mut second = w.submit(false, move |tx| {
            tx.meta_set("second", "written")?;
            ran_tx.send("second").unwrap();
            Ok(())
        });
        assert_eq!(ran.recv_timeout(wait), Ok("second"));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            first.try_recv().is_err() && second.try_recv().is_err(),
            "answered before the disk had it"
        );
        flushed.send(()).unwrap();
        assert!(first.blocking_recv().unwrap().is_ok());
        // A flush that fails answers with its error, not with success.
        drop(flushed);
        let second = second.blocking_recv().unwrap();
        assert_eq!(second.map_err(|e| e.code()), Err("unavailable"));
        let third = w
            .submit(false, set_then("third", Ok(())))
            .blocking_recv()
            .unwrap();
        assert_eq!(third.map_err(|e| e.code()), Err("unavailable"));
    }

    #[test]
    fn after_close_a_job_is_not_run_and_its_caller_is_not_left_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        w.close();
        let answer = w.submit(false, |_| Ok(())).blocking_recv();
        // The job is dropped unanswered; the service turns that into ShuttingDown.
        assert!(answer.is_err());
    }
}
