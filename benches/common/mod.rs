//! What the CLI benchmarks share: the release `fuda` binary, a scratch directory under
//! `target/` (the project's disk, not tmpfs) with the benchmark user's HOME, and a tree of
//! uniform labeled-size files.

// Each benchmark uses the part it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The release `fuda` next to the benchmark binary.
pub fn fuda_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("fuda");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p fuda-cli"
    );
    bin
}

/// `FUDA_BENCH_FILES`, else `default`.
pub fn files_wanted(default: u64) -> u64 {
    std::env::var("FUDA_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A scratch directory under `target/` holding the benchmark user's HOME; removed on drop.
pub struct Scratch {
    /// The directory.
    pub root: tempfile::TempDir,
    /// `root/home`.
    pub home: PathBuf,
}

impl Scratch {
    /// Creates `target/<prefix>XXXX`.
    pub fn new(prefix: &str) -> Scratch {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let root = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(base)
            .unwrap();
        let home = root.path().join("home");
        Scratch { root, home }
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Runs `fuda` as the benchmark user and returns how long it took; exit codes other
    /// than 0 and those in `also_ok` fail the benchmark.
    pub fn fuda(&self, args: &[&str], also_ok: &[i32]) -> Duration {
        let start = Instant::now();
        let status = Command::new(fuda_bin())
            .args(args)
            .env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        let took = start.elapsed();
        let ok = status.success() || status.code().is_some_and(|c| also_ok.contains(&c));
        assert!(ok, "fuda {args:?} failed: {status}");
        took
    }

    /// Forgets the verification memo and the content digests, so that every signature
    /// is verified and every file hashed again (a user's first inventory).
    pub fn forget_memo(&self) {
        for cache in ["verified-labels", "content-digests"] {
            let _ = std::fs::remove_file(self.home.join(".cache/fuda").join(cache));
        }
    }
}

/// Writes `files` distinct 1-KiB files into `tree`, 1,000 per folder (`d0000/f0000000.txt`).
pub fn uniform_tree(tree: &Path, files: u64) {
    let per_dir = 1000;
    let mut content = vec![b'x'; 1024];
    for i in 0..files {
        let dir = tree.join(format!("d{:04}", i / per_dir));
        if i % per_dir == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        content[..8].copy_from_slice(&i.to_le_bytes());
        std::fs::write(dir.join(format!("f{i:07}.txt")), &content).unwrap();
    }
}
