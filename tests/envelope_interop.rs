//! Interop with other age implementations, as real processes:
//!
//! - the Go `age` CLI (Debian package `age`) decrypts what fuda writes (label stanza
//!   included) and writes files fuda reads;
//! - `rage` (`cargo install rage`) does the same.
//!
//! Tools are found on `PATH` or through `FUDA_AGE_BIN` / `FUDA_RAGE_BIN`. A missing tool
//! skips its test with a message, unless `FUDA_REQUIRE_TOOLS=1` (set in CI), which turns
//! the skip into a failure. The `age` crate, which `rage` is built on, is also checked
//! in-process by `crates/fuda-core/tests/envelope.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;
use fuda_core::envelope::{self, x25519, Decryptor, LabelStanza, StreamOptions};

const SIZES: &[usize] = &[0, 1, 65_535, 65_536, 65_537, 1_000_000];

fn find_tool(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The tool, or `None` after printing why the test is skipped (fails under CI).
fn tool(name: &str, env: &str) -> Option<PathBuf> {
    let found = find_tool(name, env);
    if found.is_none() {
        let msg =
            format!("`{name}` not found on PATH (or {env}): install it to run this interop test");
        if std::env::var("FUDA_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{msg} (FUDA_REQUIRE_TOOLS=1)");
        }
        eprintln!("SKIPPED: {msg}");
    }
    found
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 997) as u8).collect()
}

struct Keys {
    identity: x25519::Identity,
    keyfile: PathBuf,
}

fn keys(dir: &Path) -> Keys {
    let identity = x25519::Identity::generate();
    let keyfile = dir.join("recovery.txt");
    fs::write(
        &keyfile,
        format!("# recovery key\n{}\n", identity.to_string().expose_secret()),
    )
    .unwrap();
    Keys { identity, keyfile }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `TOOL -d -i KEY FILE.fuda` gives back the plaintext of files fuda wrote.
fn tool_decrypts_fuda_files(tool: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let label = LabelStanza::new(
        "01HZX0000000000000000000AB".parse().unwrap(),
        br#"{"level":"secret"}"#.to_vec(),
    );
    for &len in SIZES {
        let plaintext = content(len);
        let src = dir.path().join(format!("doc-{len}.bin"));
        fs::write(&src, &plaintext).unwrap();
        let protected = dir.path().join(format!("doc-{len}.bin.fuda"));
        let service = x25519::Identity::generate();
        envelope::encrypt_to_path(
            &src,
            &[service.to_public(), k.identity.to_public()],
            Some(&label),
            &protected,
            false,
            &StreamOptions::default(),
        )
        .unwrap();
        let out = run(Command::new(tool)
            .arg("-d")
            .arg("-i")
            .arg(&k.keyfile)
            .arg(&protected));
        assert!(out == plaintext, "{}: {len} bytes differ", tool.display());
    }
}

/// Files `TOOL -r RECIPIENT` writes are read by fuda.
fn fuda_decrypts_tool_files(tool: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let recipient = k.identity.to_public().to_string();
    for &len in SIZES {
        let plaintext = content(len);
        let src = dir.path().join(format!("doc-{len}.bin"));
        fs::write(&src, &plaintext).unwrap();
        let encrypted = dir.path().join(format!("doc-{len}.age"));
        run(Command::new(tool)
            .arg("-r")
            .arg(&recipient)
            .arg("-o")
            .arg(&encrypted)
            .arg(&src));
        let out = dir.path().join(format!("doc-{len}.out"));
        envelope::recover(&encrypted, &k.keyfile, &out, false).unwrap();
        assert!(fs::read(&out).unwrap() == plaintext, "{len} bytes differ");
        // And the header reads without a key.
        let file = fs::File::open(&encrypted).unwrap();
        assert!(Decryptor::new(file).unwrap().header().label().is_none());
    }
}

#[test]
fn go_age_decrypts_fuda_files() {
    if let Some(age) = tool("age", "FUDA_AGE_BIN") {
        tool_decrypts_fuda_files(&age);
    }
}

#[test]
fn fuda_decrypts_go_age_files() {
    if let Some(age) = tool("age", "FUDA_AGE_BIN") {
        fuda_decrypts_tool_files(&age);
    }
}

#[test]
fn rage_decrypts_fuda_files() {
    if let Some(rage) = tool("rage", "FUDA_RAGE_BIN") {
        tool_decrypts_fuda_files(&rage);
    }
}

#[test]
fn fuda_decrypts_rage_files() {
    if let Some(rage) = tool("rage", "FUDA_RAGE_BIN") {
        fuda_decrypts_tool_files(&rage);
    }
}
