//! Shared helpers for the end-to-end tests: a user with their own HOME running the real
//! `fuda` binary as a separate process.
#![allow(dead_code)]

pub mod console;
pub mod keyd;
pub mod office;
pub mod postgres;
pub mod raw;
pub mod samba;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `fuda` binary built by `cargo build --workspace` (next to this test's deps folder).
pub fn fuda_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_fuda") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = dir.join("fuda");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the tests (scripts/test does)",
        bin.display()
    );
    bin
}

/// The `fuda-keyd` binary, next to `fuda`.
pub fn keyd_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_fuda-keyd") {
        return PathBuf::from(p);
    }
    let bin = fuda_bin().with_file_name("fuda-keyd");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the tests (scripts/test does)",
        bin.display()
    );
    bin
}

/// Whether CI asked for every external tool to be present (a missing tool then fails).
pub fn tools_required() -> bool {
    std::env::var_os("FUDA_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}

/// Skips (locally) or fails (in CI) when a tool is missing.
pub fn require_tool(name: &str, available: bool) -> bool {
    if !available {
        assert!(
            !tools_required(),
            "{name} is required (FUDA_REQUIRE_TOOLS=1) but not available"
        );
        eprintln!("skipping: {name} is not available here");
    }
    available
}

/// The output of one `fuda` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The `file` records of the stdout (JSON lines), without the `summary`.
    pub fn file_records(&self) -> Vec<serde_json::Value> {
        self.json_lines()
            .into_iter()
            .filter(|r| r["type"] == "file")
            .collect()
    }

    /// The stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// A person with their own HOME (and so their own fuda identity).
pub struct User {
    pub name: String,
    pub home: tempfile::TempDir,
}

impl User {
    /// A user who has not run `fuda init` yet.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_owned(),
            home: tempfile::tempdir().expect("temp home"),
        }
    }

    /// A user who has run `fuda init --name NAME --dept 設計部`.
    pub fn init(name: &str) -> User {
        let user = User::new(name);
        user.fuda(&["init", "--name", name, "--dept", "設計部"])
            .expect(0);
        user
    }

    /// Runs `fuda ARGS…` as this user.
    pub fn fuda(&self, args: &[&str]) -> Run {
        let out = Command::new(fuda_bin())
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .env_remove("FUDA_KEYD_NOW")
            .output()
            .expect("run fuda");
        Run::from(out)
    }

    /// Runs `fuda ARGS…` as this user with extra environment variables.
    pub fn fuda_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(fuda_bin())
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .envs(env.iter().copied())
            .output()
            .expect("run fuda");
        Run::from(out)
    }

    /// Runs `fuda ARGS…` as this user in the folder `dir` (so that relative names in the
    /// arguments, and in what fuda prints, stay the same from run to run).
    pub fn fuda_in<S: AsRef<std::ffi::OsStr>>(&self, dir: &Path, args: &[S]) -> Run {
        let out = Command::new(fuda_bin())
            .args(args)
            .current_dir(dir)
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("FUDA_CONFIG_DIR")
            .env_remove("FUDA_KEYD_NOW")
            .output()
            .expect("run fuda");
        Run::from(out)
    }

    /// This user's base64 signing public key, from `fuda trust list --json`.
    pub fn public_key(&self) -> String {
        let run = self.fuda(&["trust", "list", "--json"]).expect(0);
        let me = run
            .json_lines()
            .into_iter()
            .find(|s| s["name"] == self.name.as_str())
            .expect("own key");
        me["public_key"].as_str().unwrap().to_owned()
    }

    /// The JSON object `fuda label show --json PATH` prints.
    pub fn show(&self, path: &Path) -> serde_json::Value {
        let run = self.fuda(&["label", "show", "--json", p(path)]).expect(0);
        run.json_lines().remove(0)
    }
}

/// A directory of files to label.
pub fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("work dir")
}

/// Writes a file, creating parent directories.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A path as fuda's JSON output writes it: `{"text": …}` (UTF-8) or `{"bytes": base64}`.
pub fn jp(path: &Path) -> serde_json::Value {
    fuda_core::pathname::JsonPath::new(path).value()
}

/// The path a JSON record carries, with its exact bytes.
pub fn path_of(value: &serde_json::Value) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = fuda_core::pathname::decode_json_path(value)
        .unwrap_or_else(|| panic!("not a JSON path: {value}"));
    std::ffi::OsString::from_vec(bytes).into()
}

/// The exact paths the JSON records of a run carry.
pub fn json_paths(lines: &[serde_json::Value]) -> std::collections::BTreeSet<std::path::PathBuf> {
    lines
        .iter()
        .filter(|v| v.get("path").is_some())
        .map(|v| path_of(&v["path"]))
        .collect()
}

/// A ramfs mount (a file system without any xattr support), unmounted on drop.
pub struct RamFs {
    dir: tempfile::TempDir,
}

impl RamFs {
    /// Mounts ramfs on a temp dir; `None` (a skip) where mounting is not permitted,
    /// unless FUDA_REQUIRE_TOOLS=1.
    pub fn mount() -> Option<RamFs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "ramfs", "-o", "size=4m", "ramfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        require_tool("mount -t ramfs (root)", ok).then_some(RamFs { dir })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RamFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
