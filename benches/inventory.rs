//! `fuda inventory` over a tree of labeled 1-KiB files, with `find` and `getfattr -R -d`
//! over the same tree as baselines in the same run.
//!
//! Run: `cargo build --release -p fuda-cli && cargo bench --bench inventory`
//! (`FUDA_BENCH_FILES` changes the tree size; default 100,000 files in folders of 1,000).
//! The tree lives under `target/` (the project's disk, not tmpfs) and is read warm: every
//! measurement follows earlier runs over the same tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn fuda_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("fuda");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p fuda-cli"
    );
    bin
}

struct Bench {
    root: tempfile::TempDir,
    home: PathBuf,
    tree: PathBuf,
    files: u64,
}

impl Bench {
    fn new() -> Bench {
        let files: u64 = std::env::var("FUDA_BENCH_FILES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let root = tempfile::Builder::new()
            .prefix("bench-inventory-")
            .tempdir_in(base)
            .unwrap();
        let home = root.path().join("home");
        let tree = root.path().join("share");
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
        let bench = Bench {
            root,
            home,
            tree,
            files,
        };
        bench.fuda(&["init", "--name", "bench"], false);
        bench.fuda(&["label", "set", "社外秘", "-r", "-q", bench.tree()], false);
        Command::new("sync").status().unwrap();
        bench
    }

    /// Runs fuda; `findings_ok` accepts exit code 1 (findings) as success.
    fn fuda(&self, args: &[&str], findings_ok: bool) -> Duration {
        let start = Instant::now();
        let status = Command::new(fuda_bin())
            .args(args)
            .env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        let took = start.elapsed();
        let ok = status.success() || (findings_ok && status.code() == Some(1));
        assert!(ok, "fuda {args:?} failed: {status}");
        took
    }

    fn tree(&self) -> &str {
        self.tree.to_str().unwrap()
    }

    fn out(&self, ext: &str) -> String {
        self.root
            .path()
            .join(format!("ledger.{ext}"))
            .to_string_lossy()
            .into_owned()
    }

    fn inventory(&self, format: &str) -> Duration {
        let out = self.out(format);
        self.fuda(
            &["inventory", self.tree(), "--format", format, "--out", &out],
            true,
        )
    }

    fn forget_memo(&self) {
        let _ = std::fs::remove_file(self.home.join(".cache/fuda/verified-labels"));
    }

    fn baseline(&self, program: &str, args: &[&str]) -> Duration {
        let start = Instant::now();
        let ok = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{program}: {e} (apt install attr findutils)"))
            .success();
        assert!(ok, "{program} failed");
        start.elapsed()
    }
}

fn inventory(c: &mut Criterion) {
    let b = Bench::new();
    let mut group = c.benchmark_group("inventory");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(b.files));

    group.bench_function("fuda inventory --format json (memo warm)", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| b.inventory("json")).sum())
    });
    group.bench_function("fuda inventory --format json (memo cold)", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    b.forget_memo();
                    b.inventory("json")
                })
                .sum()
        })
    });
    group.bench_function("fuda inventory --format xlsx (memo warm)", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| b.inventory("xlsx")).sum())
    });
    group.bench_function("baseline: find -type f", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| b.baseline("find", &[b.tree(), "-type", "f"]))
                .sum()
        })
    });
    group.bench_function("baseline: getfattr -R -d", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| b.baseline("getfattr", &["-R", "-d", b.tree()]))
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, inventory);
criterion_main!(benches);
