//! A real Samba server for the end-to-end tests, started by the test and gone after it.
//!
//! Everything Samba writes (configuration, databases, the password database, the pid file
//! and the log) lives in one temp dir; it listens on a free port of 127.0.0.1 only. The
//! client is `smbclient` with the same private configuration, so nothing under
//! /etc/samba or /var/lib/samba is read or written. Samba maps an SMB user to a Unix
//! user and smbd needs root; the tests run as root, so the SMB user is `root` itself and
//! no Unix user is created.
//!
//! The share is configured the way docs/file-server.md recommends: `ea support = yes`
//! (Windows extended attributes are `user.*` xattrs), `vfs objects = streams_xattr`
//! (alternate data streams are `user.DosStream.*` xattrs), `store dos attributes = yes`,
//! `map archive = no`.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{p, require_tool};

/// The SMB user (mapped to the Unix user root, who runs the tests).
pub const USER: &str = "root";
const PASSWORD: &str = "fuda-Samba-test-1";

/// A running `smbd` serving one directory as `//127.0.0.1/share`; stopped (with every
/// process it started) on drop, its temp dir removed.
pub struct Samba {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// Whether `tool --version` runs.
fn runs(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The smbd binary: on the PATH, or in /usr/sbin (not on every user's PATH).
fn smbd() -> Option<&'static str> {
    ["smbd", "/usr/sbin/smbd"].into_iter().find(|s| runs(s))
}

/// Whether smbd and smbclient are installed and the tests run as root (smbd needs it).
fn available() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    root && smbd().is_some() && runs("smbclient")
}

/// A port nobody listens on now (the kernel's choice of a free ephemeral port).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl Samba {
    /// Starts smbd serving `share`; `None` (a skip) where smbd, smbclient or root are
    /// missing, unless FUDA_REQUIRE_TOOLS=1 (then a failure).
    pub fn start(share: &Path) -> Option<Samba> {
        if !require_tool(
            "smbd and smbclient (packages samba, smbclient; as root)",
            available(),
        ) {
            return None;
        }
        // The port was free a moment ago; another process may take it before smbd binds,
        // so try a few.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Samba::try_start(share, free_port()) {
                Ok(samba) => return Some(samba),
                Err(log) => last_log = log,
            }
        }
        panic!("smbd did not start; its log:\n{last_log}");
    }

    fn try_start(share: &Path, port: u16) -> Result<Samba, String> {
        let dir = tempfile::tempdir().expect("samba temp dir");
        let root = dir.path();
        for d in ["lock", "state", "cache", "run", "private", "log"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        let r = |d: &str| root.join(d).display().to_string();
        let conf = format!(
            "[global]\n\
             \tserver role = standalone server\n\
             \tnetbios name = FUDATEST\n\
             \tinterfaces = 127.0.0.1\n\
             \tbind interfaces only = yes\n\
             \tsmb ports = {port}\n\
             \tdisable netbios = yes\n\
             \tlock directory = {lock}\n\
             \tstate directory = {state}\n\
             \tcache directory = {cache}\n\
             \tpid directory = {run}\n\
             \tncalrpc dir = {run}/ncalrpc\n\
             \tprivate dir = {private}\n\
             \tpassdb backend = tdbsam:{private}/passdb.tdb\n\
             \tlog file = {log}/log.%m\n\
             \tmap to guest = never\n\
             \tload printers = no\n\
             \tprinting = bsd\n\
             \tprintcap name = /dev/null\n\
             \tdisable spoolss = yes\n\
             [share]\n\
             \tpath = {share}\n\
             \tread only = no\n\
             \tea support = yes\n\
             \tvfs objects = streams_xattr\n\
             \tstore dos attributes = yes\n\
             \tmap archive = no\n",
            lock = r("lock"),
            state = r("state"),
            cache = r("cache"),
            run = r("run"),
            private = r("private"),
            log = r("log"),
            share = share.display(),
        );
        let conf_path = root.join("smb.conf");
        std::fs::write(&conf_path, conf).unwrap();

        // The SMB password of `root`, in the private tdbsam only.
        let mut add = Command::new("smbpasswd")
            .args(["-c", p(&conf_path), "-s", "-a", USER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run smbpasswd");
        {
            use std::io::Write;
            let mut stdin = add.stdin.take().unwrap();
            writeln!(stdin, "{PASSWORD}\n{PASSWORD}").unwrap();
        }
        let out = add.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "smbpasswd -a failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let log = root.join("log").join("smbd.out");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(smbd().expect("smbd"))
            .args(["--foreground", "--no-process-group", "--debug-stdout"])
            .args(["--debuglevel=1", "--configfile", p(&conf_path)])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            // Its own process group: drop stops the connection processes it forks too.
            .process_group(0)
            .spawn()
            .expect("start smbd");
        let mut samba = Samba { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(samba);
            }
            let exited = samba.child.try_wait().unwrap().is_some();
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                drop(samba);
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `smbclient //127.0.0.1/share -c COMMANDS` as [`USER`]: whether it succeeded,
    /// and its output.
    fn smbclient(&self, commands: &str) -> (bool, String) {
        let out = Command::new("smbclient")
            .arg("//127.0.0.1/share")
            .args(["--port", &self.port.to_string()])
            .args(["--configfile", p(&self.conf())])
            .args(["--user", &format!("{USER}%{PASSWORD}")])
            .args(["--command", commands])
            .output()
            .expect("run smbclient");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success() && !text.contains("NT_STATUS_"), text)
    }

    /// Runs `smbclient //127.0.0.1/share -c COMMANDS` as [`USER`]; panics with its output
    /// when a command fails.
    pub fn client(&self, commands: &str) -> String {
        let (ok, text) = self.smbclient(commands);
        assert!(ok, "smbclient -c '{commands}' failed:\n{text}");
        text
    }

    /// Uploads the local file `local` to `remote` (a path in the share) with `put`.
    pub fn put(&self, local: &Path, remote: &str) {
        self.client(&format!("put \"{}\" \"{remote}\"", p(local)));
    }

    /// The extended attributes of `remote` as an SMB client sees them (`getea`): names
    /// and values.
    pub fn eas(&self, remote: &str) -> Vec<(String, Vec<u8>)> {
        let (ok, text) = self.smbclient(&format!("getea \"{remote}\""));
        if text.contains("NT_STATUS_NO_EAS_ON_FILE") {
            return Vec::new();
        }
        assert!(ok, "smbclient getea failed:\n{text}");
        parse_getea(&text)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("smb.conf")
    }
}

/// Reads smbclient's `getea` listing: for each EA a line `NAME (FLAGS) =`, then a hex dump
/// whose lines are `[OFFSET] ` and up to 16 bytes in hex (columns 7–56), then the bytes
/// as text.
fn parse_getea(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut eas: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.lines() {
        if let Some(hex) = line.strip_prefix('[').and(line.get(7..line.len().min(57))) {
            if let Some((_, value)) = eas.last_mut() {
                value.extend(
                    hex.split_whitespace()
                        .map(|b| u8::from_str_radix(b, 16).expect("a hex byte")),
                );
            }
        } else if let Some((name, _)) = line.strip_suffix(" =").and_then(|h| h.rsplit_once(" (")) {
            eas.push((name.to_owned(), Vec::new()));
        }
    }
    eas
}

impl Drop for Samba {
    fn drop(&mut self) {
        // smbd stops the processes it forked when it gets SIGTERM.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever did not stop (smbd or a process it forked) stops now.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
