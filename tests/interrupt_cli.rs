//! End-to-end: `fuda` stopped in the middle of writing a large file — by SIGTERM, which it
//! handles, or by SIGKILL, which nothing can — leaves no temporary file, no partial output
//! and no plaintext behind: the old file or the new one, never neither (DESIGN §8).
//!
//! Each case waits until the real `fuda` process is visibly mid-write (its temporary file
//! in the destination's folder has grown past a threshold, seen through
//! `/proc/PID/fd`) before stopping it, so the window does not depend on timing.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::keyd::policy_with_recovery;
use common::{fuda_bin, p, workdir, User};

const MIB: usize = 1 << 20;
/// Large enough that writing it takes a while after the threshold below.
const PLAINTEXT_MIB: usize = 320;
const MID_WRITE: u64 = 24 << 20;
/// How long a loaded machine may take to start writing.
const PATIENCE: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Term,
    Kill,
}

/// Temporary files as a file system without `O_TMPFILE` has them (named, then removed).
const NAMED_TMPFILES: (&str, &str) = ("FUDA_TMPFILE", "named");

#[test]
fn opening_or_exporting_a_large_file_stopped_midway_leaves_no_plaintext_behind() {
    let (tanaka, work, protected, plain) = protected_file();
    let dir = work.path();
    for command in ["open", "export"] {
        for (stop, env) in [
            (Stop::Term, None),
            (Stop::Kill, None),
            (Stop::Term, Some(NAMED_TMPFILES)),
        ] {
            let out = dir.join(format!("{command}-{stop:?}-{}.bin", env.is_some()));
            let before = names(dir);
            let child = spawn(
                &tanaka,
                &[command, p(&protected), "--out", p(&out)],
                env.as_slice(),
            );
            let case = format!("{command} --out, {stop:?}, {env:?}");
            let tmp = wait_mid_write(&child, dir, &case);
            if env.is_some() {
                assert_eq!(mode(&tmp), "600", "{case}: the named plaintext is private");
            }
            stop_it(child, stop, &case);

            let after = names(dir);
            let extra: Vec<_> = after.difference(&before).collect();
            let out_name = out.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                extra.is_empty() || extra == [&out_name],
                "{case}: left behind {extra:?}"
            );
            if out.exists() {
                assert!(same_bytes(&out, &plain), "{case}: a partial output");
                std::fs::remove_file(&out).unwrap();
            }
        }
    }
}

#[test]
fn protecting_a_large_file_stopped_midway_keeps_the_original_and_no_partial_copy() {
    let work = workdir();
    let dir = work.path();
    let tanaka = user();
    let plain = dir.join("plan.bin");
    write_large(&plain);
    let protected = dir.join("plan.bin.fuda");
    let original = digest(&plain);

    // Stopped while encrypting: the copy has no name yet (or a named one is removed).
    for (stop, env) in [
        (Stop::Term, None),
        (Stop::Kill, None),
        (Stop::Term, Some(NAMED_TMPFILES)),
    ] {
        let before = names(dir);
        let child = spawn(
            &tanaka,
            &["protect", p(&plain), "--level", "秘"],
            env.as_slice(),
        );
        let case = format!("protect while encrypting, {stop:?}, {env:?}");
        wait_mid_write(&child, dir, &case);
        stop_it(child, stop, &case);
        assert_eq!(names(dir), before, "{case}: nothing left behind");
        assert_eq!(digest(&plain), original, "{case}: the original is whole");
    }

    // Stopped after the protected copy was placed but before it was verified: it goes, the
    // original stays.
    let before = names(dir);
    let child = spawn(&tanaka, &["protect", p(&plain), "--level", "秘"], &[]);
    let case = "protect while verifying, Term";
    poll(&child, case, || protected.exists().then_some(()));
    stop_it(child, Stop::Term, case);
    assert_eq!(names(dir), before, "{case}: the unverified copy is removed");
    assert_eq!(digest(&plain), original, "{case}: the original is whole");
}

#[test]
fn relabeling_a_large_office_document_stopped_midway_keeps_the_document_whole() {
    let work = workdir();
    let dir = work.path();
    let tanaka = user();
    let doc = dir.join("drawing.docx");
    write_large_docx(&doc);
    let original = digest(&doc);
    let original_mode = mode(&doc);

    for (stop, env) in [
        (Stop::Term, None),
        (Stop::Kill, None),
        (Stop::Term, Some(NAMED_TMPFILES)),
    ] {
        let before = names(dir);
        let child = spawn(&tanaka, &["label", "set", "秘", p(&doc)], env.as_slice());
        let case = format!("label set on a docx, {stop:?}, {env:?}");
        let tmp = wait_mid_write(&child, dir, &case);
        if env.is_some() {
            assert_eq!(
                mode(&tmp),
                "600",
                "{case}: the partial copy holds the document's text"
            );
        }
        stop_it(child, stop, &case);
        assert_eq!(names(dir), before, "{case}: no partial copy left");
        assert_eq!(digest(&doc), original, "{case}: the document is whole");
        assert_eq!(mode(&doc), original_mode, "{case}");
    }
}

/// tanaka, whose policy protects 秘 through the embedded key service (no daemon).
fn user() -> User {
    let tanaka = User::new("tanaka");
    let (policy, _recovery) = policy_with_recovery(tanaka.home.path());
    tanaka
        .fuda(&[
            "init",
            "--name",
            "tanaka",
            "--dept",
            "設計部",
            "--policy",
            p(&policy),
        ])
        .expect(0);
    tanaka
}

/// A large protected file (the plaintext kept beside it for comparison).
fn protected_file() -> (User, tempfile::TempDir, PathBuf, PathBuf) {
    let work = workdir();
    let tanaka = user();
    let plain = work.path().join("plan.bin");
    write_large(&plain);
    tanaka
        .fuda(&["protect", p(&plain), "--level", "秘", "--keep"])
        .expect(0);
    let protected = work.path().join("plan.bin.fuda");
    (tanaka, work, protected, plain)
}

/// `PLAINTEXT_MIB` MiB that do not repeat within a MiB (each MiB is numbered).
fn write_large(path: &Path) {
    let mut block = noise(MIB);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..PLAINTEXT_MIB {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
}

/// A Word document (the python-docx fixture) with a large stored image.
fn write_large_docx(path: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/fuda-core/tests/data/ooxml/python-docx.docx");
    let mut source = zip::ZipArchive::new(std::fs::File::open(fixture).unwrap()).unwrap();
    let out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut zip = zip::ZipWriter::new(out);
    for i in 0..source.len() {
        zip.raw_copy_file(source.by_index_raw(i).unwrap()).unwrap();
    }
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("word/media/image1.bin", stored).unwrap();
    let mut block = noise(MIB);
    for i in 0..PLAINTEXT_MIB / 2 {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        zip.write_all(&block).unwrap();
    }
    zip.finish().unwrap().flush().unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

/// Starts `fuda ARGS…` as `user` (like [`User::fuda`], but without waiting).
fn spawn(user: &User, args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(fuda_bin())
        .args(args)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .env_remove("FUDA_TMPFILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fuda")
}

/// Polls (every few milliseconds, for up to [`PATIENCE`]) until `ready` gives a value;
/// fails if the process ends first, since then it could not be stopped midway.
fn poll<T>(child: &Child, case: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(
            Path::new(&format!("/proc/{}/fd", child.id())).exists()
                && !std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
                    .unwrap_or_default()
                    .contains(") Z "),
            "{case}: fuda ended before it could be stopped midway"
        );
        assert!(start.elapsed() < PATIENCE, "{case}: fuda never got going");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `child` has written [`MID_WRITE`] bytes to a temporary file in `dir` — an
/// unnamed one or a named `.fuda-tmp-` one — and returns the path the process holds it by.
fn wait_mid_write(child: &Child, dir: &Path, case: &str) -> PathBuf {
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let dir = std::fs::canonicalize(dir).unwrap();
    poll(child, case, || {
        std::fs::read_dir(&fds).ok()?.flatten().find_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            let name = target.file_name()?.to_string_lossy().into_owned();
            let temporary = name.ends_with(" (deleted)") || name.contains(".fuda-tmp-");
            let grown = std::fs::metadata(fd.path()).ok()?.len() >= MID_WRITE;
            (target.parent() == Some(dir.as_path()) && temporary && grown).then_some(target)
        })
    })
}

/// Stops `child` and checks that it did stop because of the signal (not finish first).
fn stop_it(mut child: Child, stop: Stop, case: &str) {
    match stop {
        Stop::Term => {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
        Stop::Kill => child.kill().unwrap(),
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let expected = match stop {
        Stop::Term => 15,
        Stop::Kill => 9,
    };
    assert!(
        status.signal() == Some(expected) || status.code() == Some(128 + expected),
        "{case}: {status}\n{stderr}"
    );
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Permission bits, in octal.
fn mode(path: &Path) -> String {
    format!(
        "{:o}",
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    )
}

fn digest(path: &Path) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; MIB];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return ctx.finish().as_ref().to_vec();
        }
        ctx.update(&buf[..n]);
    }
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    digest(a) == digest(b)
}
