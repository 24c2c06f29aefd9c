//! `fuda label set` and `fuda label check` over a tree of 1-KiB files, with
//! `getfattr -R -d` over the same tree as the baseline.
//!
//! Run: `cargo build --release -p fuda-cli && cargo bench --bench labels`
//! (`FUDA_BENCH_FILES` changes the tree size; default 100,000 files in 100 folders).

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
        let scratch = common::Scratch::new("bench-labels-");
        let tree = scratch.path("tree");
        common::uniform_tree(&tree, files);
        let bench = Bench {
            scratch,
            tree,
            files,
        };
        bench.fuda(&["init", "--name", "bench"]);
        Command::new("sync").status().unwrap();
        bench
    }

    fn fuda(&self, args: &[&str]) -> Duration {
        self.scratch.fuda(args, &[])
    }

    fn tree(&self) -> &str {
        self.tree.to_str().unwrap()
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
                    b.scratch.forget_memo();
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
