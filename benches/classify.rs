//! Auto-labeling throughput over a mixed tree (Japanese text in UTF-8 and CP932, CSVs with
//! My Numbers, docx, CAD and other binaries), against `grep -rc 極秘` and `rg -c 極秘` over
//! the same tree as baselines (byte search only: no decoding, no Office text, no rules).
//!
//! Run: `cargo build --release -p fuda-cli && cargo bench --bench classify`
//! (`FUDA_BENCH_FILES` changes the tree size; default 100,000 files in 100 folders).
//!
//! Groups: `classify-files` reports files/s, `classify-text` MB/s of extracted text, both
//! for one thread in-process (`Classifier::classify_file`), and `fuda scan` as the real
//! process with `--jobs 1` (dry run and `--apply` on unlabeled files).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fuda_classify::rules::Classifier;
use fuda_core::policy::Policy;

struct Tree {
    scratch: common::Scratch,
    tree: PathBuf,
    files: Vec<PathBuf>,
    text_bytes: u64,
}

const PARAGRAPH: &str = "本書は設計部の定例会議の議事録である。出席者は田中、佐藤、鈴木。ブラケットの板厚を2.3mmから2.6mmに変更し、試作は来月とする。";

fn docx(body: &str) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file("[Content_Types].xml", o).unwrap();
    z.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>").unwrap();
    z.start_file("_rels/.rels", o).unwrap();
    z.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>").unwrap();
    z.start_file("word/document.xml", o).unwrap();
    let paras: String = body
        .lines()
        .map(|l| format!("<w:p><w:r><w:t>{l}</w:t></w:r></w:p>"))
        .collect();
    z.write_all(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{paras}</w:body></w:document>").as_bytes()).unwrap();
    z.finish().unwrap().into_inner()
}

impl Tree {
    fn new() -> Tree {
        let n = common::files_wanted(100_000) as usize;
        let scratch = common::Scratch::new("bench-classify-");
        let tree = scratch.path("tree");
        let per_dir = n.div_ceil(100).max(1);
        // ~4 KiB of Japanese text; a tenth carries a marking.
        let body: String = (0..28).map(|i| format!("{i}. {PARAGRAPH}\n")).collect();
        let csv: String = std::iter::once("氏名,個人番号,電話\n".to_owned())
            .chain((0..60).map(|i| format!("社員{i},1234567890{:02},03-1234-{i:04}\n", i)))
            .collect();
        let (cp932, _, _) = encoding_rs::SHIFT_JIS.encode(&body);
        let office = docx(&body);
        let binary: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut files = Vec::with_capacity(n);
        for i in 0..n {
            let dir = tree.join(format!("d{:03}", i / per_dir));
            if i % per_dir == 0 {
                std::fs::create_dir_all(&dir).unwrap();
            }
            let (name, bytes): (String, Vec<u8>) = match i % 10 {
                0 => (
                    format!("f{i}.txt"),
                    format!("【極秘】\n{body}").into_bytes(),
                ),
                1..=4 => (format!("f{i}.txt"), body.clone().into_bytes()),
                5 => (format!("f{i}.csv"), csv.clone().into_bytes()),
                6 => (format!("f{i}.txt"), cp932.to_vec()),
                7 => (format!("f{i}.docx"), office.clone()),
                8 => (format!("f{i}.dwg"), binary.clone()),
                _ => (format!("f{i}.bin"), binary.clone()),
            };
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            files.push(path);
        }
        let policy = Policy::builtin("default").unwrap();
        let classifier = Classifier::new(&policy).unwrap();
        let text_bytes = files
            .iter()
            .map(|f| classifier.classify_file(f).unwrap().text_bytes as u64)
            .sum();
        let t = Tree {
            scratch,
            tree,
            files,
            text_bytes,
        };
        t.fuda(&["init", "--name", "bench"]);
        Command::new("sync").status().unwrap();
        t
    }

    fn fuda(&self, args: &[&str]) -> Duration {
        self.scratch.fuda(args, &[])
    }

    fn tool(&self, program: &str, args: &[&str]) -> Option<Duration> {
        let start = Instant::now();
        let status = Command::new(program)
            .args(args)
            .arg(&self.tree)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        // grep exits 1 when some files have no match; only "not found" is an error.
        assert!(status.code().is_some_and(|c| c <= 1), "{program} failed");
        Some(start.elapsed())
    }

    fn tree(&self) -> &str {
        self.tree.to_str().unwrap()
    }
}

fn classify(c: &mut Criterion) {
    let t = Tree::new();
    eprintln!(
        "tree: {} files, {:.1} MB of extracted text",
        t.files.len(),
        t.text_bytes as f64 / 1e6
    );
    let policy = Policy::builtin("default").unwrap();
    let classifier = Classifier::new(&policy).unwrap();
    let run_all = || {
        for f in &t.files {
            std::hint::black_box(classifier.classify_file(f).unwrap());
        }
    };

    for (group_name, throughput) in [
        ("classify-files", Throughput::Elements(t.files.len() as u64)),
        ("classify-text", Throughput::Bytes(t.text_bytes)),
    ] {
        let mut group = c.benchmark_group(group_name);
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(30))
            .throughput(throughput);
        group.bench_function("Classifier::classify_file (1 thread)", |b| b.iter(run_all));
        group.bench_function("baseline: grep -rc 極秘", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| t.tool("grep", &["-rc", "極秘"]).expect("grep"))
                    .sum()
            })
        });
        if t.tool("rg", &["--version"]).is_some() {
            group.bench_function("baseline: rg -c 極秘 (all threads)", |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| t.tool("rg", &["-c", "極秘"]).unwrap())
                        .sum()
                })
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("fuda-scan");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .throughput(Throughput::Elements(t.files.len() as u64));
    group.bench_function("fuda scan (dry run, --jobs 1)", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| t.fuda(&["scan", "-q", "--jobs", "1", t.tree()]))
                .sum()
        })
    });
    group.bench_function("fuda scan --apply (unlabeled, --jobs 1)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                t.fuda(&[
                    "label",
                    "remove",
                    "-r",
                    t.tree(),
                    "--justify",
                    "bench reset",
                ]);
                total += t.fuda(&[
                    "scan",
                    "--apply",
                    "-q",
                    "--restart",
                    "--jobs",
                    "1",
                    t.tree(),
                ]);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
