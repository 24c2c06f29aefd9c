//! Crash safety of the protected-document steps: `fuda protect`, `fuda save` and `fuda
//! label set FILE.fuda` killed with SIGKILL at random moments leave the old state or the
//! new one — never a lost file, never plaintext beside the output — and the next run
//! finishes the job. The seed of each run is printed, so a failure can be replayed with
//! `FUDA_CRASH_SEED`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fuda_bin, p, workdir, write, User};

/// A small deterministic generator (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("FUDA_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("FUDA_CRASH_SEED={seed}");
        Rng(seed | 1)
    }

    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Runs `fuda ARGS…` as `user` and kills it with SIGKILL after `ms` milliseconds if it
/// is still running then; returns how long it took when it finished on its own.
fn killed_after(user: &User, args: &[&str], ms: u64) -> Option<u64> {
    let started = std::time::Instant::now();
    let mut child = Command::new(fuda_bin())
        .args(args)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = started + Duration::from_millis(ms);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let took = started.elapsed().as_millis() as u64;
            eprintln!("fuda {} finished after {took} ms", args[0]);
            return Some(took);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
    eprintln!("fuda {} killed after {ms} ms", args[0]);
    None
}

/// The moments to kill at: anywhere within the step's own duration, learnt from the runs
/// that finished.
struct Moments {
    span: u64,
}

impl Moments {
    fn next(&self, rng: &mut Rng) -> u64 {
        rng.below(self.span.max(20))
    }

    fn learn(&mut self, finished: Option<u64>) {
        if let Some(took) = finished {
            self.span = took;
        }
    }
}

/// Content of `size` bytes that names its `version` on every line.
fn content(version: &str, size: usize) -> Vec<u8> {
    let line = format!("設計書 {version} PLAINTEXT-MARK\n");
    line.repeat(size / line.len() + 1).into_bytes()
}

/// No file in `dir` holds plaintext but the ones named in `allowed` (a temporary file
/// left by a kill must never be plaintext).
fn no_stray_plaintext(dir: &Path, allowed: &[&Path], seed_note: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if allowed.contains(&path.as_path()) || path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("PLAINTEXT-MARK"),
            "{seed_note}: plaintext left in {}",
            path.display()
        );
    }
}

#[test]
fn saving_back_killed_at_any_moment_leaves_the_old_or_the_new_version() {
    let mut rng = Rng::new();
    let seed = format!("seed {}", rng.0);
    let tanaka = User::init("tanaka");
    let share = workdir();
    let desk = workdir();
    let original = share.path().join("spec.txt");
    write(&original, content("v0", 1 << 20));
    tanaka
        .fuda(&["protect", p(&original), "--level", "秘"])
        .expect(0);
    let sealed = share.path().join("spec.txt.fuda");
    let copy = desk.path().join("spec.txt");
    let mut committed = content("v0", 1 << 20);
    let mut moments = Moments { span: 400 };
    for round in 1..=12 {
        tanaka
            .fuda(&["open", p(&sealed), "--out", p(&copy)])
            .expect(0);
        let next = content(&format!("v{round}"), 1 << 20);
        write(&copy, &next);
        let ms = moments.next(&mut rng);
        moments.learn(killed_after(
            &tanaka,
            &["save", p(&copy), "--to", p(&sealed)],
            ms,
        ));
        // The protected file holds the old version or the new one, and opens.
        let now = tanaka
            .fuda(&["open", p(&sealed)])
            .expect(0)
            .stdout
            .into_bytes();
        assert!(
            now == committed || now == next,
            "{seed}, round {round}, killed after {ms} ms: the protected file holds neither version"
        );
        // The working copy goes only once the new version is in place.
        assert!(
            copy.exists() || now == next,
            "{seed}, round {round}: the working copy is gone but the new version is not saved"
        );
        no_stray_plaintext(share.path(), &[], &seed);
        // The next run finishes the job.
        if copy.exists() {
            tanaka
                .fuda(&["save", p(&copy), "--to", p(&sealed)])
                .expect(0);
        }
        assert_eq!(
            tanaka
                .fuda(&["open", p(&sealed)])
                .expect(0)
                .stdout
                .into_bytes(),
            next,
            "{seed}, round {round}"
        );
        assert!(!copy.exists());
        committed = next;
    }
}

#[test]
fn protecting_killed_at_any_moment_never_loses_the_file() {
    let mut rng = Rng::new();
    let seed = format!("seed {}", rng.0);
    let tanaka = User::init("tanaka");
    let share = workdir();
    let mut moments = Moments { span: 400 };
    for round in 1..=12 {
        let file = share.path().join(format!("drawing-{round}.txt"));
        let plain = content(&format!("d{round}"), 1 << 20);
        write(&file, &plain);
        tanaka.fuda(&["label", "set", "秘", p(&file)]).expect(0);
        let doc = tanaka.show(&file)["doc"].as_str().unwrap().to_owned();
        let sealed = share.path().join(format!("drawing-{round}.txt.fuda"));
        let ms = moments.next(&mut rng);
        moments.learn(killed_after(&tanaka, &["protect", p(&file)], ms));
        // The original, or its protected copy that opens to it: never neither.
        let opens =
            sealed.exists() && tanaka.fuda(&["open", p(&sealed)]).stdout.into_bytes() == plain;
        assert!(
            file.exists() || opens,
            "{seed}, round {round}, killed after {ms} ms: the file is lost"
        );
        if file.exists() {
            assert_eq!(
                std::fs::read(&file).unwrap(),
                plain,
                "{seed}: original changed"
            );
        }
        no_stray_plaintext(share.path(), &[&file], &seed);
        // The next run finishes: the original goes, the protected copy stays, one id.
        if file.exists() {
            tanaka.fuda(&["protect", p(&file)]).expect(0);
        }
        assert!(!file.exists(), "{seed}, round {round}");
        assert_eq!(
            tanaka
                .fuda(&["open", p(&sealed)])
                .expect(0)
                .stdout
                .into_bytes(),
            plain
        );
        let kept_id = tanaka.show(&sealed)["doc"] == doc.as_str();
        // A kill after the registration but before the copy was written leaves the id
        // registered with a key no file has: the next run gives the file a new id.
        if !kept_id {
            eprintln!("{seed}, round {round}: new document id after a kill at {ms} ms");
        }
    }
}

#[test]
fn reclassifying_killed_at_any_moment_leaves_a_file_that_opens_and_the_next_run_converges() {
    let mut rng = Rng::new();
    let seed = format!("seed {}", rng.0);
    let tanaka = User::init("tanaka");
    let share = workdir();
    let file = share.path().join("plan.txt");
    let plain = content("plan", 1 << 20);
    write(&file, &plain);
    tanaka
        .fuda(&["protect", p(&file), "--level", "秘"])
        .expect(0);
    let sealed = share.path().join("plan.txt.fuda");
    let mut moments = Moments { span: 400 };
    for round in 1..=12 {
        let (to, id) = if round % 2 == 1 {
            ("極秘", "strictly-confidential")
        } else {
            ("秘", "confidential")
        };
        let args = ["label", "set", to, p(&sealed), "--justify", "見直し"];
        let ms = moments.next(&mut rng);
        moments.learn(killed_after(&tanaka, &args, ms));
        assert_eq!(
            tanaka
                .fuda(&["open", p(&sealed)])
                .expect(0)
                .stdout
                .into_bytes(),
            plain,
            "{seed}, round {round}, killed after {ms} ms"
        );
        let level = tanaka.show(&sealed)["level"].as_str().unwrap().to_owned();
        assert!(
            level == "confidential" || level == "strictly-confidential",
            "{seed}: {level}"
        );
        no_stray_plaintext(share.path(), &[], &seed);
        tanaka.fuda(&args).expect(0);
        assert_eq!(tanaka.show(&sealed)["level"], id, "{seed}, round {round}");
        assert_eq!(tanaka.show(&sealed)["status"], "valid");
    }
}

#[test]
fn a_working_copy_killed_while_written_is_absent_or_labeled_never_bare_plaintext() {
    let mut rng = Rng::new();
    let seed = format!("seed {}", rng.0);
    let tanaka = User::init("tanaka");
    let share = workdir();
    let desk = workdir();
    let file = share.path().join("cost.txt");
    let plain = content("cost", 4 << 20);
    write(&file, &plain);
    tanaka
        .fuda(&["protect", p(&file), "--level", "極秘"])
        .expect(0);
    let sealed = share.path().join("cost.txt.fuda");
    let mut moments = Moments { span: 400 };
    for round in 1..=12 {
        let copy = desk.path().join(format!("cost-{round}.txt"));
        let ms = moments.next(&mut rng);
        moments.learn(killed_after(
            &tanaka,
            &["open", p(&sealed), "--out", p(&copy)],
            ms,
        ));
        // Only the working copies themselves hold plaintext, never a temporary file.
        let copies: Vec<_> = (1..=round)
            .map(|r| desk.path().join(format!("cost-{r}.txt")))
            .collect();
        let copies: Vec<&Path> = copies.iter().map(PathBuf::as_path).collect();
        no_stray_plaintext(desk.path(), &copies, &seed);
        eprintln!("round {round}: working copy written: {}", copy.exists());
        if copy.exists() {
            assert_eq!(
                std::fs::read(&copy).unwrap(),
                plain,
                "{seed}, round {round}"
            );
            let shown = tanaka.show(&copy);
            assert_eq!(
                (shown["method"].as_str(), shown["status"].as_str()),
                (Some("opened"), Some("valid")),
                "{seed}, round {round}, killed after {ms} ms: {shown}"
            );
        }
    }
}
