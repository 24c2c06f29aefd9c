//! The company ledger of many machines' files, written as xlsx, side by side with the
//! ledger writer of `fuda inventory` writing the same number of files.
//!
//! `FUDA_BENCH_MACHINES` machines (default 10) × `FUDA_BENCH_FILES` files each (default
//! 100,000) are put straight into a real key service's file index (SQLite, the schema
//! `fuda inventory --report` fills; not timed), as records like a file server's: folders
//! of 1,000 files, 15 % unlabeled, 5 % 極秘, and 1 % of each machine's files copies of
//! another machine's (same document, same content). Then, each in its own process so
//! that each peak RSS is its own:
//!
//! - `company`: what `GET /v1/admin/ledger` and `fuda admin ledger` do, in one process
//!   and without TLS: the three streamed passes over the index (machine/path, content,
//!   document id), the ledger stream written and read back, and the xlsx;
//! - `inventory`: the same number of file records, spilled as `fuda inventory` spills
//!   them, written by the same xlsx writer (`fuda inventory --format xlsx`'s writer).
//!
//! Prints wall time per phase, files/s, CPU (user + sys) and peak RSS (VmHWM).
//!
//! Run: `cargo bench --bench company_ledger` (FUDA_BENCH_DIR: where the index and the
//! outputs go, default target/bench-company).

use std::io::{BufReader, Seek as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use fuda_core::policy::{Language, Policy};
use fuda_keyd::client::Embedded;
use fuda_keyd::directory::{EntryKind, NewUser};
use fuda_keyd::report::{IndexOrder, IndexedFile};
use fuda_ledger::company::{wire, Builder, Source};
use fuda_ledger::inventory::{self, FileEntry, Inventory, PolicyInfo, Summary};
use fuda_ledger::ledger::{self, Format};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const NOW: i64 = 1_800_000_000;

/// File `i` of machine `m`: its record as the machine's inventory makes it.
fn record(machines: u64, m: u64, i: u64) -> FileEntry {
    // 1 % are copies of the same file on the next machine.
    let copy = i % 100 == 7 && machines > 1;
    let (owner_m, n) = if copy {
        ((m + 1) % machines, i)
    } else {
        (m, i)
    };
    let kind = n % 20;
    let level = match kind {
        0..=2 => None,
        3 => Some("strictly-confidential"),
        4..=7 => Some("confidential"),
        _ => Some("internal"),
    };
    let folder = if level == Some("strictly-confidential") {
        format!("/srv/share/極秘/d{:03}", i / 1000)
    } else {
        format!("/srv/share/部署{:02}/d{:03}", m % 20, i / 1000)
    };
    let digest = format!("{:016x}{:016x}{:032x}", owner_m, n, 0u8);
    FileEntry {
        path: PathBuf::from(format!("{folder}/f{i:06}.txt")),
        root: "/srv/share".into(),
        size: 1024,
        modified: NOW - 86_400,
        status: if level.is_some() {
            fuda_core::label::Status::Valid
        } else {
            fuda_core::label::Status::Missing
        },
        store: level.map(|_| "xattr".into()),
        doc: level.map(|_| {
            format!("01JB{:011}{:011}", owner_m, n)
                .parse()
                .expect("a doc id")
        }),
        level: level.map(str::to_owned),
        owner: level.map(|_| "fuda-hook".into()),
        file_owner: level.map(|_| "tanaka".into()),
        method: level.map(|_| fuda_core::label::Method::Auto),
        set_at: level.map(|_| NOW - 86_400),
        sha256: Some(digest.parse().expect("a digest")),
        ..FileEntry::default()
    }
}

fn main() {
    let machines = env_num("FUDA_BENCH_MACHINES", 10);
    let per = env_num("FUDA_BENCH_FILES", 100_000);
    let dir = PathBuf::from(
        std::env::var("FUDA_BENCH_DIR").unwrap_or_else(|_| "target/bench-company".into()),
    );
    match std::env::var("FUDA_BENCH_MODE").as_deref() {
        Ok("company") => company(&dir, machines * per),
        Ok("inventory") => inventory(&dir, machines, per),
        _ => {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            fill(&dir, machines, per);
            for mode in ["inventory", "company"] {
                let status = std::process::Command::new(std::env::current_exe().unwrap())
                    .env("FUDA_BENCH_MODE", mode)
                    .status()
                    .unwrap();
                assert!(status.success(), "{mode} failed");
            }
        }
    }
}

/// The key service's index, filled straight through SQLite (not timed).
fn fill(dir: &Path, machines: u64, per: u64) {
    let t = Instant::now();
    let keyd = dir.join("keyd");
    let admin = Embedded::open_or_init(
        &keyd,
        NewUser {
            name: "admin".into(),
            display_name: None,
            dept: None,
            admin: true,
            auditor: false,
            kind: EntryKind::Person,
        },
        &age::x25519::Identity::generate().to_public().to_string(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap();
    drop(admin);
    let mut db = rusqlite::Connection::open(keyd.join(fuda_keyd::service::DB_FILE)).unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO file_index (machine, path, doc, sha256, level, status, protected, size, modified, received_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 1024, ?7, ?7, ?8)",
            )
            .unwrap();
        for m in 0..machines {
            let name = format!("srv-{m:03}");
            tx.execute(
                "INSERT INTO machines (name, interval_s, last_report_at) VALUES (?1, 86400, ?2)",
                rusqlite::params![name, NOW],
            )
            .unwrap();
            for i in 0..per {
                let e = record(machines, m, i);
                use std::os::unix::ffi::OsStrExt as _;
                insert
                    .execute(rusqlite::params![
                        name,
                        e.path.as_os_str().as_bytes(),
                        e.doc.map(|d| d.to_string()),
                        e.sha256.map(|d| d.to_string()),
                        e.level,
                        e.status.as_str(),
                        NOW,
                        serde_json::to_vec(&e).unwrap(),
                    ])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    eprintln!(
        "index of {machines} machines × {per} files filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// CPU seconds (user + sys) of this process so far.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Peak resident memory of this process, MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn report(name: &str, files: u64, start: Instant, phases: &[(&str, f64)]) {
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu();
    let phases: Vec<String> = phases
        .iter()
        .map(|(n, s)| format!("{n} {s:.1} s"))
        .collect();
    println!(
        "{name}: {files} files in {wall:.1} s ({:.0} files/s; {}), CPU {cpu:.1} s ({:.1} µs/file), peak RSS {:.0} MB",
        files as f64 / wall,
        phases.join(", "),
        cpu * 1e6 / files as f64,
        peak_rss_mb()
    );
}

fn policy() -> Policy {
    Policy::builtin("default").unwrap()
}

fn company(dir: &Path, files: u64) {
    let policy = policy();
    let service = fuda_keyd::Service::open(&dir.join("keyd")).unwrap();
    let start = Instant::now();
    let sources: Vec<Source> = service
        .machines()
        .unwrap()
        .into_iter()
        .map(|m| Source {
            name: m.name,
            kind: m.kind.as_str().into(),
            last_report_at: m.last_report_at,
            expected_interval_s: m.expected_interval_s,
            files: m.files,
        })
        .collect();
    let mut b = Builder::new(&policy, NOW, sources, None, None, dir).unwrap();
    service
        .index_scan(IndexOrder::MachinePath, |f: IndexedFile| {
            let entry: FileEntry = serde_json::from_slice(&f.record_json).unwrap();
            b.add(&f.machine, entry).unwrap();
            Ok::<(), fuda_keyd::Error>(())
        })
        .unwrap();
    let pass1 = start.elapsed().as_secs_f64();
    service
        .index_scan(IndexOrder::Sha256, |f: IndexedFile| {
            if let Some(sha) = &f.sha256 {
                b.add_by_content(sha, &f.machine, &f.path, &f.record_json)
                    .unwrap();
            }
            Ok::<(), fuda_keyd::Error>(())
        })
        .unwrap();
    service
        .index_scan(IndexOrder::DocId, |f: IndexedFile| {
            if let Some(doc) = &f.doc {
                b.add_by_doc(doc, &f.machine, &f.path, &f.record_json)
                    .unwrap();
            }
            Ok::<(), fuda_keyd::Error>(())
        })
        .unwrap();
    let ledger = b.finish().unwrap();
    let built = start.elapsed().as_secs_f64();
    let mut stream = tempfile::tempfile_in(dir).unwrap();
    wire::write(
        &ledger,
        &mut std::io::BufWriter::with_capacity(1 << 20, &mut stream),
    )
    .unwrap();
    drop(ledger);
    stream.rewind().unwrap();
    let ledger = wire::read(
        &mut BufReader::with_capacity(1 << 20, &stream),
        &policy,
        None,
        dir,
    )
    .unwrap();
    let sent = start.elapsed().as_secs_f64();
    ledger::company::write(
        &ledger,
        &policy,
        Format::Xlsx,
        Language::Ja,
        &dir.join("company.xlsx"),
    )
    .unwrap();
    let done = start.elapsed().as_secs_f64();
    report(
        "company ledger (index → xlsx)",
        files,
        start,
        &[
            ("pass 1", pass1),
            ("passes 2+3", built - pass1),
            ("stream out+in", sent - built),
            ("xlsx", done - sent),
        ],
    );
    println!(
        "  {} rows, {} findings",
        ledger.rows.len(),
        ledger.findings.len()
    );
}

fn inventory(dir: &Path, machines: u64, per: u64) {
    let policy = policy();
    let start = Instant::now();
    let mut spill = inventory::files::Spill::new(dir).unwrap();
    let mut grouper = inventory::rows::Grouper::new(&policy);
    for m in 0..machines {
        for i in 0..per {
            let mut e = record(machines, m, i);
            if let Some((id, asset)) = inventory::rows::row_of(&policy, &e) {
                grouper.add(&e, &id, asset);
                e.row = Some(id.into());
            }
            spill
                .push(&inventory::files::Spill::lines(std::slice::from_ref(&e)), 1)
                .unwrap();
        }
    }
    let rows = grouper.finish(NOW);
    let read = start.elapsed().as_secs_f64();
    let inv = Inventory {
        format: inventory::FORMAT.into(),
        version: inventory::VERSION,
        generated_at: NOW,
        policy: PolicyInfo {
            id: policy.id.clone(),
            version: policy.version,
        },
        roots: vec!["/srv/share".into()],
        summary: Summary::default(),
        rows,
        findings: Vec::new(),
        review: None,
        files: spill.finish().unwrap(),
    };
    ledger::write(
        &inv,
        &policy,
        Format::Xlsx,
        Language::Ja,
        &dir.join("inventory.xlsx"),
    )
    .unwrap();
    let done = start.elapsed().as_secs_f64();
    report(
        "fuda inventory's writer (records → xlsx)",
        machines * per,
        start,
        &[("records", read), ("xlsx", done - read)],
    );
}
