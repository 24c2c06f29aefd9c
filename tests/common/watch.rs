//! A running `fuda watch` as its own process, its JSON log read back by the tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{fuda_bin, jp, p, User};

/// A running `fuda watch`, its log in a file; killed on drop if still running.
pub struct Watch {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Watch {
    /// Starts `fuda watch ROOT --settle-ms 300` as `user` (with `FUDA_WATCH_QUEUE` set
    /// when `queue` is given) and waits until it logs `watching`.
    pub fn start(user: &User, root: &Path, queue: Option<usize>) -> Watch {
        Watch::spawn(user, root, &[], queue)
    }

    /// Like [`Watch::start`] with `-v`: files left as they were are logged too (`kept`,
    /// `no-rule`), so a test can wait until the watcher has looked at a file.
    pub fn start_verbose(user: &User, root: &Path) -> Watch {
        Watch::spawn(user, root, &["-v"], None)
    }

    /// Like [`Watch::start`] with extra flags (e.g. `--protect`).
    pub fn start_with(user: &User, root: &Path, extra: &[&str]) -> Watch {
        Watch::spawn(user, root, extra, None)
    }

    /// Like [`Watch::start`] with `--report`: the files it handles go to the company file
    /// index of the user's key service.
    pub fn start_reporting(user: &User, root: &Path) -> Watch {
        Watch::spawn(user, root, &["--report"], None)
    }

    fn spawn(user: &User, root: &Path, extra: &[&str], queue: Option<usize>) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("watch.log");
        let mut cmd = Command::new(fuda_bin());
        cmd.args(["watch", p(root), "--settle-ms", "300"])
            .args(extra)
            .env("HOME", user.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            // Ask often whether the key service's policy changed (debug builds only).
            .env("FUDA_WATCH_POLICY_CHECK_MS", "200")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(q) = queue {
            cmd.env("FUDA_WATCH_QUEUE", q.to_string());
        }
        let w = Watch {
            child: cmd.spawn().expect("start fuda watch"),
            log,
            _dir: dir,
        };
        w.wait_for(|l| l.iter().any(|e| e["event"] == "watching"), 60);
        w
    }

    /// The watcher's threads now: name, scheduling policy (`/proc`'s number: 0 normal, 3
    /// batch) and niceness of each.
    pub fn threads(&self) -> Vec<(String, u32, i32)> {
        let tasks = PathBuf::from(format!("/proc/{}/task", self.child.id()));
        let mut threads = Vec::new();
        for task in std::fs::read_dir(tasks).unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            let (head, tail) = stat.rsplit_once(')').unwrap();
            let name = head.split_once('(').unwrap().1.to_owned();
            // Fields from the third (state) on; niceness is the 19th, policy the 41st.
            let fields: Vec<&str> = tail.split_whitespace().collect();
            threads.push((
                name,
                fields[38].parse().unwrap(),
                fields[16].parse().unwrap(),
            ));
        }
        threads
    }

    /// Every JSON line logged so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The events logged so far about `path`.
    pub fn events_for(&self, path: &Path) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["path"] == jp(path))
            .collect()
    }

    /// The raw log, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the watcher has logged `labeled` for exactly `files`; panics with the
    /// log after `secs` seconds.
    pub fn wait_for_labels(
        &self,
        files: &std::collections::BTreeSet<std::path::PathBuf>,
        secs: u64,
    ) {
        self.wait_for(
            |events| {
                let labeled: std::collections::BTreeSet<_> = events
                    .iter()
                    .filter(|e| e["event"] == "labeled")
                    .map(|e| super::path_of(&e["path"]))
                    .collect();
                &labeled == files
            },
            secs,
        );
    }

    /// Waits until `done` holds for the events logged so far; panics with the log after
    /// `secs` seconds.
    pub fn wait_for(&self, done: impl Fn(&[serde_json::Value]) -> bool, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let events = self.events();
            if done(&events) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit code and every event logged.
    pub fn stop(mut self) -> (i32, Vec<serde_json::Value>) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "fuda watch ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        (code, self.events())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
