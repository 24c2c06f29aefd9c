//! Group commit: one writer thread owns the store. It takes every job waiting (up to
//! [`MAX_BATCH`]) and runs them in one transaction, each in a savepoint, then commits once
//! (one fsync) and only then answers them. A decision is never acknowledged before its
//! audit record is durable.

use std::sync::{mpsc, Mutex};

use crate::error::Error;
use crate::store::{Store, StoreError, Tx};

/// Most jobs committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// Answers a job once its transaction committed (or failed).
type Finisher = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// Work for the writer: runs in a savepoint and says whether to keep it; or, given the
/// error of a transaction that could not begin (the database unreachable), does nothing
/// and answers with it.
type Job = Box<dyn FnOnce(Result<&mut dyn Tx, &StoreError>) -> (bool, Finisher) + Send>;

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

    /// Sends a job to the writer and returns where its answer will arrive.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<Result<T, Error>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx: Result<&mut dyn Tx, &StoreError>| {
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
/// (kept or undone as the job says), commits once, then answers every job of the batch.
fn write_loop(mut store: Box<dyn Store>, rx: mpsc::Receiver<Job>) {
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
        for finish in finishers {
            finish(result.as_ref().map(|_| ()));
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
            w.submit(set_then("yes", Ok(()))),
            w.submit(set_then("refused", Err(Error::Invalid("no".into())))),
            w.submit(set_then("store-failed", Err(Error::Store(failed)))),
        ];
        let got: Vec<_> = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap().map_err(|e| e.code()))
            .collect();
        assert_eq!(got, [Ok(()), Err("invalid"), Err("internal")]);
        let kept = w
            .submit(|tx| {
                Ok(["yes", "refused", "store-failed"].map(|k| tx.meta_get(k).unwrap().is_some()))
            })
            .blocking_recv()
            .unwrap()
            .unwrap();
        // A refusal's audit record must survive; a failed job leaves no trace.
        assert_eq!(kept, [true, true, false]);
    }

    #[test]
    fn after_close_a_job_is_not_run_and_its_caller_is_not_left_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        w.close();
        let answer = w.submit(|_| Ok(())).blocking_recv();
        // The job is dropped unanswered; the service turns that into ShuttingDown.
        assert!(answer.is_err());
    }
}
