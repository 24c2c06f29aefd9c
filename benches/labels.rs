//! `fuda label set` and `fuda label check` over a tree of 1-KiB files, with
//! `getfattr -R -d` over the same tree as the baseline.
//!
//! Run: `cargo build --release -p fuda-cli && cargo bench --bench labels`
//! (`FUDA_BENCH_FILES` changes the tree size; default 100,000 files in 100 folders).

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
    _root: tempfile::TempDir,
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
        // Under target/, on the same disk as the project (not tmpfs).
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let root = tempfile::Builder::new()
            .prefix("bench-labels-")
            .tempdir_in(base)
            .unwrap();
        let home = root.path().join("home");
        let tree = root.path().join("tree");
        let per_dir = 1000;
        let mut content = vec![b'x'; 1024];
        for i in 0..files {
            let dir = tree.join(format!("d{:04}", i / per_dir));
            if i % per_dir == 0 {
                std::fs::create_dir_all(&dir).unwrap();
            }
            content[..8].copy_from_slice(&i.to_le_bytes());
            std::fs::write(dir.join(format!("f{i:06}.txt")), &content).unwrap();
        }
        let bench = Bench {
            _root: root,
            home,
            tree,
            files,
        };
        bench.fuda(&["init", "--name", "bench"]);
        Command::new("sync").status().unwrap();
        bench
    }

    fn fuda(&self, args: &[&str]) -> Duration {
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
        assert!(status.success(), "fuda {args:?} failed");
        took
    }

    fn tree(&self) -> &str {
        self.tree.to_str().unwrap()
    }

    fn forget_memo(&self) {
        let _ = std::fs::remove_file(self.home.join(".cache/fuda/verified-labels"));
    }
}

fn labels(c: &mut Criterion) {
    let b = Bench::new();
    let mut group = c.benchmark_group("labels");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .throughput(Throughput::Elements(b.files));

    group.bench_function("fuda label set (unlabeled files)", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                b.fuda(&[
                    "label",
                    "remove",
                    "-r",
                    b.tree(),
                    "--justify",
                    "bench reset",
                ]);
                total += b.fuda(&["label", "set", "社外秘", "-r", "-q", b.tree()]);
            }
            total
        })
    });
    group.bench_function("fuda label set (relabel)", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| b.fuda(&["label", "set", "社外秘", "-r", "-q", b.tree()]))
                .sum()
        })
    });
    group.bench_function("fuda label check (memo warm)", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| b.fuda(&["label", "check", "-r", b.tree()]))
                .sum()
        })
    });
    group.bench_function("fuda label check (memo cold)", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    b.forget_memo();
                    b.fuda(&["label", "check", "-r", b.tree()])
                })
                .sum()
        })
    });
    group.bench_function("baseline: getfattr -R -d", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let start = Instant::now();
                    let ok = Command::new("getfattr")
                        .args(["-R", "-d", b.tree()])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("getfattr (apt install attr)")
                        .success();
                    assert!(ok);
                    start.elapsed()
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, labels);
criterion_main!(benches);
