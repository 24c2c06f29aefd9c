//! The progress of `fuda scan --apply`, so that an interrupted scan resumes where it
//! stopped (docs/cli.md, "Auto-labeling").
//!
//! Finished files are appended to a state file, one line each: `MTIME_NS \t SIZE \t PATH`.
//! The path is the file's exact bytes with `\` and newline escaped (`\\`, `\n`), so a name
//! that is not UTF-8 or holds a newline is recorded faithfully. A scan started again with
//! the same roots and policy skips the files recorded *and unchanged* (same modification
//! time and size). A scan that finishes removes the file. Each line is one `write` on an
//! `O_APPEND` file, so a killed scan leaves whole lines only; a torn or unreadable line is
//! skipped (that file is simply scanned again).
//!
//! ```no_run
//! # fn demo(policy: &fuda_core::policy::Policy) -> std::io::Result<()> {
//! use fuda_classify::resume::ScanState;
//! let roots = vec![std::path::PathBuf::from("/srv/share")];
//! let path = ScanState::location("/var/lib/fuda".as_ref(), &roots, policy);
//! let state = ScanState::resume(&path)?;
//! # let files: Vec<std::path::PathBuf> = Vec::new();
//! for file in files.iter().filter(|f| !state.is_done(f)) {
//!     // … label it, then:
//!     state.record(file);
//! }
//! state.finish();
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fuda_core::policy::Policy;

/// What must be unchanged for a recorded file to count as done: its modification time (ns)
/// and size.
pub type Stamp = (i64, u64);

/// The stamp of the file at `path` now (not following a symbolic link).
pub fn stamp(path: &Path) -> Option<Stamp> {
    let m = fuda_core::longpath::symlink_metadata(path).ok()?;
    Some((m.mtime() * 1_000_000_000 + m.mtime_nsec(), m.size()))
}

/// An interrupted scan's progress, and the file this scan appends its own to.
#[derive(Debug)]
pub struct ScanState {
    path: PathBuf,
    done: HashMap<PathBuf, Stamp>,
    file: Mutex<std::fs::File>,
}

impl ScanState {
    /// Where the state of a scan of `roots` under `policy` lives in `state_dir`
    /// (`scan-<hash of the policy and roots>.state`).
    pub fn location(state_dir: &Path, roots: &[PathBuf], policy: &Policy) -> PathBuf {
        let mut key = format!("{}@{}", policy.id, policy.version).into_bytes();
        for r in roots {
            key.push(0);
            let absolute = std::path::absolute(r).unwrap_or_else(|_| r.clone());
            key.extend_from_slice(absolute.as_os_str().as_bytes());
        }
        let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        state_dir.join(format!("scan-{hash:016x}.state"))
    }

    /// Reads what an earlier, interrupted scan finished at `path` (nothing if there is no
    /// such file) and opens it to record this scan's progress (0600, its folder 0700).
    pub fn resume(path: &Path) -> std::io::Result<ScanState> {
        let done = read(path);
        ScanState::open(path, done)
    }

    /// Like [`ScanState::resume`], forgetting an earlier scan's progress (`--restart`).
    pub fn restart(path: &Path) -> std::io::Result<ScanState> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        ScanState::open(path, HashMap::new())
    }

    fn open(path: &Path, done: HashMap<PathBuf, Stamp>) -> std::io::Result<ScanState> {
        if let Some(dir) = path.parent() {
            fuda_core::fsutil::create_private_dir(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(ScanState {
            path: path.to_owned(),
            done,
            file: Mutex::new(file),
        })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many files the earlier scan recorded.
    pub fn recorded(&self) -> usize {
        self.done.len()
    }

    /// Whether the earlier scan finished `file` and it has not changed since.
    pub fn is_done(&self, file: &Path) -> bool {
        self.done
            .get(file)
            .is_some_and(|s| stamp(file).as_ref() == Some(s))
    }

    /// Records `file` as finished, with its stamp now (nothing if it is gone). A failed
    /// write only costs the file a second scan.
    pub fn record(&self, file: &Path) {
        if let Some(line) = line(file) {
            if let Ok(mut f) = self.file.lock() {
                let _ = f.write_all(&line);
            }
        }
    }

    /// The scan finished: its progress is no longer needed.
    pub fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The state line of `file` as it is now.
fn line(file: &Path) -> Option<Vec<u8>> {
    let (mtime, size) = stamp(file)?;
    let mut line = format!("{mtime}\t{size}\t").into_bytes();
    for &b in file.as_os_str().as_bytes() {
        match b {
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            _ => line.push(b),
        }
    }
    line.push(b'\n');
    Some(line)
}

/// The recorded files of the state file at `path`.
fn read(path: &Path) -> HashMap<PathBuf, Stamp> {
    let Ok(f) = std::fs::File::open(path) else {
        return HashMap::new();
    };
    std::io::BufReader::new(f)
        .split(b'\n')
        .map_while(Result::ok)
        .filter_map(|line| parse(&line))
        .collect()
}

fn parse(line: &[u8]) -> Option<(PathBuf, Stamp)> {
    let mut parts = line.splitn(3, |&b| b == b'\t');
    let mtime = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let size = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let escaped = parts.next()?;
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut it = escaped.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next()? {
                b'\\' => bytes.push(b'\\'),
                b'n' => bytes.push(b'\n'),
                _ => return None,
            }
        } else {
            bytes.push(b);
        }
    }
    Some((PathBuf::from(OsStr::from_bytes(&bytes)), (mtime, size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::builtin("default").unwrap()
    }

    #[test]
    fn a_resumed_scan_skips_finished_unchanged_files_whatever_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state/scan.state");
        // A CP932 name (not UTF-8), a newline and a backslash in names.
        let names: [&[u8]; 4] = [
            b"plain.txt",
            b"\x8c\xa9\x8f\x91.txt",
            b"two\nlines",
            b"back\\slash",
        ];
        let files: Vec<PathBuf> = names
            .iter()
            .map(|n| dir.path().join(OsStr::from_bytes(n)))
            .collect();
        for f in &files {
            std::fs::write(f, b"content").unwrap();
        }
        let state = ScanState::resume(&state_path).unwrap();
        assert!(
            files.iter().all(|f| !state.is_done(f)),
            "a new scan has done nothing"
        );
        for f in &files[..3] {
            state.record(f);
        }
        drop(state); // interrupted

        let state = ScanState::resume(&state_path).unwrap();
        assert_eq!(state.recorded(), 3);
        let todo: Vec<&PathBuf> = files.iter().filter(|f| !state.is_done(f)).collect();
        assert_eq!(todo, vec![&files[3]]);

        // A finished file that changed since is scanned again.
        std::fs::write(&files[0], b"changed, longer content").unwrap();
        assert!(!state.is_done(&files[0]));
        state.finish();
        assert!(!state_path.exists(), "a finished scan leaves no state");
    }

    #[test]
    fn a_torn_last_line_costs_only_that_file_and_restart_forgets_everything() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("scan.state");
        let a = dir.path().join("a.txt");
        std::fs::write(&a, b"a").unwrap();
        let state = ScanState::resume(&state_path).unwrap();
        state.record(&a);
        drop(state);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&state_path)
            .unwrap();
        f.write_all(b"12345\t9").unwrap(); // killed mid-line
        let state = ScanState::resume(&state_path).unwrap();
        assert!(state.is_done(&a));
        assert_eq!(state.recorded(), 1);
        let state = ScanState::restart(&state_path).unwrap();
        assert!(!state.is_done(&a));
    }

    #[test]
    fn the_state_of_other_roots_or_another_policy_is_another_file() {
        let p = policy();
        let dir = Path::new("/state");
        let one = ScanState::location(dir, &[PathBuf::from("/srv/a")], &p);
        assert_eq!(
            one,
            ScanState::location(dir, &[PathBuf::from("/srv/a")], &p)
        );
        assert_ne!(
            one,
            ScanState::location(dir, &[PathBuf::from("/srv/b")], &p)
        );
        let mut newer = p.clone();
        newer.version += 1;
        assert_ne!(
            one,
            ScanState::location(dir, &[PathBuf::from("/srv/a")], &newer)
        );
    }
}
