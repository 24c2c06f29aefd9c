//! A private PostgreSQL cluster for one test (or one benchmark run): `initdb` in a temp
//! dir, `pg_ctl start` on a free port of 127.0.0.1 with its unix socket in the same temp
//! dir, stopped (fast shutdown) and removed on drop. No system service, no fixed port,
//! nothing under /etc/postgresql or /var/lib/postgresql is read or written.
//!
//! The binaries come from Debian's `postgresql` package (/usr/lib/postgresql/VERSION/bin,
//! the newest version installed). `initdb` and `postgres` refuse to run as root: as root
//! the cluster runs as `nobody` (through `runuser`), which owns the temp dir; as any other
//! user it runs as that user. Authentication is `trust` for the superuser `fuda`, reachable
//! only from this machine.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::require_tool;

/// A running private cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Runs the server as `nobody` (the tests run as root).
    as_nobody: bool,
    running: bool,
}

/// The newest installed PostgreSQL's bin directory.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

fn uid_of(name: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

impl Cluster {
    /// Starts a cluster; `None` (a skip) where PostgreSQL is not installed, unless
    /// FUDA_REQUIRE_TOOLS=1 (then a failure). `durable`: fsync on (benchmarks); tests
    /// run with fsync off (a crash of the machine is not what they test; every commit
    /// still waits for the server).
    pub fn start(durable: bool) -> Option<Cluster> {
        let bin = bin_dir();
        if !require_tool(
            "PostgreSQL (Debian package postgresql: /usr/lib/postgresql/*/bin)",
            bin.is_some(),
        ) {
            return None;
        }
        let bin = bin.expect("checked");
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let dir = tempfile::Builder::new()
            .prefix("fuda-pg-")
            .tempdir()
            .expect("temp dir");
        if root {
            let nobody = uid_of("nobody").expect("the user nobody");
            std::os::unix::fs::chown(dir.path(), Some(nobody), None).expect("chown temp dir");
        }
        let mut cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_nobody: root,
            running: false,
        };
        let data = cluster.data();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8 temp dir"),
                "-U",
                "fuda",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", show(&out));
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = {}\nmax_connections = 100\nshared_buffers = 64MB\n",
            cluster.dir.path().display(),
            if durable { "on" } else { "off" }
        );
        let conf_file = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_file).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&conf_file, text).expect("write postgresql.conf");
        cluster.start_server();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the cluster's programs (as `nobody` when the tests are root).
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_nobody {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let port = format!("-p {}", self.port);
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-l",
                log.to_str().expect("utf-8"),
                "-o",
                &port,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            show(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.running = true;
    }

    /// Stops the server (fast shutdown: sessions are ended, nothing committed is lost).
    pub fn stop_server(&mut self) {
        self.stop("fast");
    }

    /// Stops the server as a crash would: no shutdown checkpoint, and what the
    /// write-ahead log held only in memory is gone (recovered from the log at the next
    /// start).
    #[allow(dead_code)]
    pub fn crash_server(&mut self) {
        self.stop("immediate");
    }

    fn stop(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let data = self.data();
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-m",
                mode,
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", show(&out));
        self.running = false;
    }

    /// Makes the server accept TCP connections only over TLS, with a certificate for
    /// 127.0.0.1 and localhost signed by a new CA (openssl, from ca-certificates'
    /// dependencies), and restarts it. Returns the CA certificate's PEM file.
    pub fn require_tls(&mut self) -> PathBuf {
        let d = self.dir.path().to_owned();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&d)
                .output()
                .expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", show(&out));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=fuda test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        let data = self.data();
        for f in ["server.pem", "server.key"] {
            std::fs::copy(d.join(f), data.join(f)).unwrap();
            if self.as_nobody {
                let nobody = uid_of("nobody").expect("nobody");
                std::os::unix::fs::chown(data.join(f), Some(nobody), None).unwrap();
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        self.stop_server();
        self.start_server();
        d.join("ca.pem")
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the unix socket (and of the cluster).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A URL of a new, empty database `name` in this cluster.
    pub fn database(&self, name: &str) -> String {
        let mut admin = ::postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=fuda dbname=postgres",
                self.port
            ),
            ::postgres::NoTls,
        )
        .expect("connect to the private cluster");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.url(name)
    }

    /// The URL of database `name` (over TCP to 127.0.0.1).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://fuda@127.0.0.1:{}/{name}", self.port)
    }
}

fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or_default(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
