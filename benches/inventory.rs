//! `fuda inventory` over a tree of labeled 1-KiB files, with `find` and `getfattr -R -d`
//! over the same tree as baselines in the same run.
//!
//! Run: `cargo build --release -p fuda-cli && cargo bench --bench inventory`
//! (`FUDA_BENCH_FILES` changes the tree size; default 100,000 files in folders of 1,000).
//! The tree lives under `target/` (the project's disk, not tmpfs) and is read warm: every
//! measurement follows earlier runs over the same tree.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

struct Bench {
    scratch: common::Scratch,
    tree: PathBuf,
    files: u64,
}

impl Bench {
    fn new() -> Bench {
        let files = common::files_wanted(100_000);
        let scratch = common::Scratch::new("bench-inventory-");
        let tree = scratch.path("share");
        common::uniform_tree(&tree, files);
        let bench = Bench {
            scratch,
            tree,
            files,
        };
        bench.scratch.fuda(&["init", "--name", "bench"], &[]);
        let tree = bench.tree();
        bench
            .scratch
            .fuda(&["label", "set", "社外秘", "-r", "-q", tree], &[]);
        Command::new("sync").status().unwrap();
        bench
    }

    fn tree(&self) -> &str {
        self.tree.to_str().unwrap()
    }

    /// One inventory; exit code 1 (findings) counts as success.
    fn inventory(&self, format: &str) -> Duration {
        let out = self.scratch.path(&format!("ledger.{format}"));
        let out = out.to_str().unwrap();
        self.scratch.fuda(
            &["inventory", self.tree(), "--format", format, "--out", out],
            &[1],
        )
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

    group.bench_function("fuda inventory --format json (repeat)", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| b.inventory("json")).sum())
    });
    group.bench_function("fuda inventory --format json (cold)", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    b.scratch.forget_memo();
                    b.inventory("json")
                })
                .sum()
        })
    });
    group.bench_function("fuda inventory --format xlsx (repeat)", |bench| {
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
