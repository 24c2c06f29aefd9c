//! Label changes the key service's audit log has not received yet.
//!
//! A label change is made on the file whether or not the key service answers; when the
//! service cannot be reached (the network, a restart, a replica failing over), the
//! change is kept here — `label-queue.jsonl` in the state directory, 0600, one JSON
//! record per line, fsynced — and sent, oldest first, before anything else at the next
//! command that reaches the service. A lock (`label-queue.lock`) keeps two `fuda`
//! processes (a user's `label set` and a running `fuda watch`) from sending or losing
//! each other's records. A record is removed from the queue only after the service
//! acknowledged it; a crash between the two sends it again (the audit log then holds it
//! twice, never zero times).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fuda_keyd::audit::LabelChange;

/// The queue's file name in the state directory.
pub const FILE: &str = "label-queue.jsonl";
/// The most the queue holds, in bytes (≈ 200,000 changes): past it, a change is refused
/// rather than dropped, and the command says so.
pub const MAX_BYTES: u64 = 64 << 20;

/// The queue of one user's unsent label changes.
pub struct LabelQueue {
    path: PathBuf,
    lock: PathBuf,
}

/// The queue, locked by this process until dropped.
struct Locked {
    _lock: File,
}

impl LabelQueue {
    /// The queue in `dir` (the state directory), created on first use.
    pub fn in_dir(dir: &Path) -> LabelQueue {
        LabelQueue {
            path: dir.join(FILE),
            lock: dir.join("label-queue.lock"),
        }
    }

    /// Where the queue is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn locked(&self) -> Result<Locked> {
        if let Some(dir) = self.path.parent() {
            fuda_core::fsutil::create_private_dir(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock)
            .with_context(|| format!("cannot open {}", self.lock.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", self.lock.display()))?;
        Ok(Locked { _lock: lock })
    }

    /// Appends `changes` (in order) and makes them durable.
    pub fn push(&self, changes: &[LabelChange]) -> Result<()> {
        let _locked = self.locked()?;
        let mut lines = Vec::new();
        for c in changes {
            serde_json::to_writer(&mut lines, c)?;
            lines.push(b'\n');
        }
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size + lines.len() as u64 > MAX_BYTES {
            bail!(
                "the queue of label changes waiting for the key service is full ({} MiB in {}): connect to the key service so that it can be sent (any `fuda label` command sends it)",
                MAX_BYTES >> 20,
                self.path.display()
            );
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        file.write_all(&lines)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }

    /// How many changes wait.
    pub fn len(&self) -> Result<usize> {
        let _locked = self.locked()?;
        Ok(self.read()?.0.len())
    }

    /// The queued changes, and the lines that were not a change (a line cut short by a
    /// crash while it was written), which are kept aside, never sent.
    fn read(&self) -> Result<(Vec<LabelChange>, Vec<String>)> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()))
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot open {}", self.path.display()))
            }
        };
        let (mut changes, mut bad) = (Vec::new(), Vec::new());
        for line in BufReader::new(file).lines() {
            let line = line.with_context(|| format!("cannot read {}", self.path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(c) => changes.push(c),
                Err(_) => bad.push(line),
            }
        }
        Ok((changes, bad))
    }

    /// Sends the queued changes, oldest first, `chunk` at a time through `send`; each
    /// acknowledged chunk leaves the queue at once. Returns how many were sent; on the
    /// first failure, returns it with the unsent changes still queued.
    pub fn drain(
        &self,
        chunk: usize,
        mut send: impl FnMut(Vec<LabelChange>) -> Result<()>,
    ) -> Result<usize> {
        let _locked = self.locked()?;
        let (changes, bad) = self.read()?;
        if !bad.is_empty() {
            self.set_aside(&bad)?;
        }
        if changes.is_empty() {
            if !bad.is_empty() {
                self.rewrite(&[])?;
            }
            return Ok(0);
        }
        let mut sent = 0;
        for part in changes.chunks(chunk.max(1)) {
            send(part.to_vec())?;
            sent += part.len();
            self.rewrite(&changes[sent..])?;
        }
        Ok(sent)
    }

    /// Replaces the queue with `rest` (atomically: the old queue or the new one).
    fn rewrite(&self, rest: &[LabelChange]) -> Result<()> {
        if rest.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove {}", self.path.display()))
                }
                _ => Ok(()),
            };
        }
        let mut bytes = Vec::new();
        for c in rest {
            serde_json::to_writer(&mut bytes, c)?;
            bytes.push(b'\n');
        }
        fuda_core::fsutil::write_atomic(&self.path, &bytes, 0o600)
            .with_context(|| format!("cannot rewrite {}", self.path.display()))
    }

    /// Keeps lines that are not changes in `label-queue.bad.jsonl` for a person to read.
    fn set_aside(&self, bad: &[String]) -> Result<()> {
        let aside = self.path.with_extension("bad.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&aside)
            .with_context(|| format!("cannot open {}", aside.display()))?;
        for line in bad {
            writeln!(file, "{line}")?;
        }
        file.sync_data()?;
        eprintln!(
            "fuda: warning: {} unreadable line(s) of the label queue were set aside in {} (a write cut short); they are not sent",
            bad.len(),
            aside.display()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_keyd::audit::LabelAction;

    fn change(doc: &str) -> LabelChange {
        LabelChange {
            doc: doc.into(),
            action: LabelAction::Set,
            from: None,
            to: Some("secret".into()),
            path: PathBuf::from(std::ffi::OsStr::from_bytes(b"/share/\x82\xa0.docx")),
            host: "fs01".into(),
            justification: None,
            version: None,
        }
    }

    use std::os::unix::ffi::OsStrExt as _;

    #[test]
    fn changes_leave_the_queue_only_once_acknowledged_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let q = LabelQueue::in_dir(dir.path());
        q.push(&[change("A"), change("B")]).unwrap();
        q.push(&[change("C")]).unwrap();
        assert_eq!(q.len().unwrap(), 3);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(q.path()).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        // The service takes the first chunk, then goes away.
        let mut seen = Vec::new();
        let err = q
            .drain(2, |part| {
                if seen.is_empty() {
                    seen.extend(part.into_iter().map(|c| c.doc));
                    Ok(())
                } else {
                    bail!("unreachable")
                }
            })
            .unwrap_err();
        assert!(err.to_string().contains("unreachable"));
        assert_eq!(seen, ["A", "B"]);
        assert_eq!(q.len().unwrap(), 1, "C is still queued");

        let mut rest = Vec::new();
        let sent = q
            .drain(2, |part| {
                rest.extend(part);
                Ok(())
            })
            .unwrap();
        assert_eq!(sent, 1);
        assert_eq!(rest, [change("C")], "the name's bytes survive the queue");
        assert!(!q.path().exists());
    }

    #[test]
    fn a_line_cut_short_is_set_aside_not_sent_and_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let q = LabelQueue::in_dir(dir.path());
        q.push(&[change("A")]).unwrap();
        let mut f = OpenOptions::new().append(true).open(q.path()).unwrap();
        f.write_all(b"{\"doc\":\"B\",\"act").unwrap();
        let mut got = Vec::new();
        q.drain(10, |part| {
            got.extend(part);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [change("A")]);
        let aside = std::fs::read_to_string(dir.path().join("label-queue.bad.jsonl")).unwrap();
        assert!(aside.starts_with("{\"doc\":\"B\""));
    }
}
