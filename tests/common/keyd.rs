//! A real `fuda-keyd` process on 127.0.0.1 for the end-to-end tests, and the users it
//! enrolls.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{keyd_bin, p, User};

/// A running key service.
pub struct Keyd {
    pub data: tempfile::TempDir,
    pub child: Option<Child>,
    pub addr: String,
    pub fingerprint: String,
    pub admin_code: String,
    /// The recovery key files `init` wrote (beside the data directory): the identity
    /// file, or the share pages with `--shares`.
    pub recovery_files: Vec<PathBuf>,
}

impl Keyd {
    pub fn start() -> Keyd {
        Keyd::start_with(&[])
    }

    /// Initialises with extra `init` flags (e.g. `--shares 2/3`), then serves.
    pub fn start_with(init: &[&str]) -> Keyd {
        let data = tempfile::tempdir().unwrap();
        let out = Command::new(keyd_bin())
            .args([
                "init",
                "--data",
                p(&data.path().join("d")),
                "--admin",
                "admin",
                "--dept",
                "情報システム部",
                "--json",
            ])
            .args(init)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut k = Keyd {
            data,
            child: None,
            addr: "127.0.0.1:0".into(),
            fingerprint: v["fingerprint"].as_str().unwrap().into(),
            admin_code: v["enrollment_code"].as_str().unwrap().into(),
            recovery_files: v["recovery"]["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().into())
                .collect(),
        };
        k.serve();
        k
    }

    /// The recovery identity file `init` wrote.
    pub fn recovery_file(&self) -> &Path {
        &self.recovery_files[0]
    }

    pub fn dir(&self) -> PathBuf {
        self.data.path().join("d")
    }

    pub fn serve(&mut self) {
        self.serve_with(&[], &[]);
    }

    /// Serves with extra `serve` flags and environment (e.g. `FUDA_KEYD_NOW`).
    pub fn serve_with(&mut self, args: &[&str], env: &[(&str, &str)]) {
        let mut command = Command::new(keyd_bin());
        command.env("FUDA_KEYD_LOG", "warn").stderr(Stdio::null());
        self.spawn(command, args, env);
    }

    /// Serves with extra `serve` flags, its log (at the default level) going to `log`.
    pub fn serve_logging_to(&mut self, args: &[&str], log: &Path) {
        let mut command = Command::new(keyd_bin());
        command
            .env_remove("FUDA_KEYD_LOG")
            .stderr(std::fs::File::create(log).unwrap());
        self.spawn(command, args, &[]);
    }

    fn spawn(&mut self, mut command: Command, args: &[&str], env: &[(&str, &str)]) {
        let mut child = command
            .args(["serve", "--data", p(&self.dir()), "--listen", &self.addr])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the listening line")
            .to_owned();
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A raw HTTPS client of this service.
    pub fn api(&self) -> super::raw::Api {
        super::raw::Api::new(&self.url(), &self.fingerprint)
    }

    /// SIGTERM: a graceful stop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let status = c.wait().unwrap();
            assert!(
                status.success(),
                "fuda-keyd exited with {status} after SIGTERM"
            );
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// A user set up with the policy at `policy` and enrolled with `code`.
    pub fn enroll(&self, name: &str, code: &str, policy: &Path) -> User {
        let u = User::new(name);
        u.fuda(&[
            "init",
            "--name",
            name,
            "--policy",
            p(policy),
            "--service",
            &self.url(),
            "--enroll",
            code,
            "--ca-fingerprint",
            &self.fingerprint,
        ])
        .expect(0);
        u
    }

    pub fn add(&self, admin: &User, name: &str, dept: &str, policy: &Path) -> User {
        let run = admin
            .fuda(&["admin", "user", "add", name, "--dept", dept, "--json"])
            .expect(0);
        let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
        self.enroll(name, &code, policy)
    }
}

impl Drop for Keyd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The default policy with a recovery recipient; returns (policy file, identity file).
pub fn policy_with_recovery(dir: &Path) -> (PathBuf, PathBuf) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let identity = dir.join("recovery.txt");
    std::fs::write(&identity, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml"),
    )
    .unwrap();
    let text = text.replace(
        "recipients = []",
        &format!("recipients = [\"{}\"]", id.to_public()),
    );
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, text).unwrap();
    (policy, identity)
}
