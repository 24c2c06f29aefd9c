//! `fuda trust list|add|remove`: the trust store for label signatures.
//!
//! With a key service configured, its directory is the trust store (`list` shows it;
//! `add`/`remove` change the local file, used only when the directory is unavailable).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use fuda_core::trust::{decode_public_key, encode_public_key, Signer, SignerKind, TrustStore};
use serde::Serialize;

use crate::args::OutputArgs;
use crate::config;
use crate::output::{self, Record, Table};

#[derive(clap::Subcommand)]
pub enum Command {
    /// List trusted signers (the key service's directory when one is configured).
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Trust a signer's Ed25519 public key (as printed by their `fuda init`).
    Add {
        /// The signer's name.
        name: String,
        /// The public key (base64).
        public_key: String,
        /// What the signer is.
        #[arg(long, value_enum, default_value_t = Kind::User)]
        kind: Kind,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Re-read the key service's signer directory now instead of waiting for its cache
    /// (10 minutes) to expire: after an admin enrolled or disabled someone.
    Refresh {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Stop trusting every key of a signer.
    Remove {
        /// The signer's name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// What a signer is.
#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Kind {
    /// A person.
    User,
    /// A file-server hook (`fuda watch`, `fuda scan --apply`).
    Hook,
    /// A key service.
    Service,
}

impl From<Kind> for SignerKind {
    fn from(kind: Kind) -> SignerKind {
        match kind {
            Kind::User => SignerKind::User,
            Kind::Hook => SignerKind::Hook,
            Kind::Service => SignerKind::Service,
        }
    }
}

/// `trust list|add --json`: a signer whose labels count as valid.
#[derive(Serialize)]
struct Trusted<'a> {
    name: &'a str,
    kind: SignerKind,
    key_id: String,
    /// The Ed25519 public key (base64).
    public_key: String,
}

impl Record for Trusted<'_> {
    const TYPE: &'static str = "signer";
}

impl<'a> From<&'a Signer> for Trusted<'a> {
    fn from(s: &'a Signer) -> Trusted<'a> {
        Trusted {
            name: &s.name,
            kind: s.kind,
            key_id: s.key_id().to_string(),
            public_key: encode_public_key(&s.public_key),
        }
    }
}

/// `trust remove --json`: a signer no longer trusted.
#[derive(Serialize)]
struct Untrusted<'a> {
    name: &'a str,
    /// How many of their keys were removed.
    keys: usize,
}

impl Record for Untrusted<'_> {
    const TYPE: &'static str = "signer_removed";
}

/// `trust refresh --json`: the key service's directory as just fetched.
#[derive(Serialize)]
struct Refreshed<'a> {
    /// The key service's URL.
    service: &'a str,
    /// How many label signers its directory holds.
    signers: usize,
}

impl Record for Refreshed<'_> {
    const TYPE: &'static str = "directory_refresh";
}

pub fn run(command: Command) -> Result<ExitCode> {
    let path = config::trust_path()?;
    let mut trust = TrustStore::load(&path)?;
    let config = config::Config::load().ok();
    let service = config.as_ref().and_then(|c| c.service.as_ref());
    if let (Some(s), Command::Add { .. } | Command::Remove { .. }) = (service, &command) {
        eprintln!(
            "fuda: note: the directory of the key service {} is the trust store; the local trust store changed here is used only when that directory is unavailable",
            s.url
        );
    }
    // A person or a hook is trusted everywhere through the directory, not this file.
    if let (Some(_), Command::Add { name, kind, .. }) = (service, &command) {
        let entry = match kind {
            Kind::User => Some("person"),
            Kind::Hook => Some("hook"),
            Kind::Service => None,
        };
        if let Some(kind) = entry {
            eprintln!(
                "fuda: note: to have {name}'s labels trusted everywhere, an administrator enrolls it in the directory: `fuda admin user add {name} --kind {kind}`, then {name} runs the `fuda init --service …` line it prints (docs/file-server.md)"
            );
        }
    }
    let mut out = output::stdout();
    match command {
        Command::List { output } => {
            let shown = match &config {
                Some(c) => crate::directory::trust_store(c, trust.clone())?,
                None => trust.clone(),
            };
            let mut table = Table::new(&["NAME", "KIND", "KEY ID", "PUBLIC KEY"]);
            for s in shown.signers() {
                let record = Trusted::from(s);
                if output.json {
                    output::write_json(&mut out, &record)?;
                } else {
                    table.row(vec![
                        record.name.to_owned(),
                        kind_name(s.kind).to_owned(),
                        record.key_id,
                        record.public_key,
                    ]);
                }
            }
            if !output.json {
                table.print(&mut out)?;
            }
        }
        Command::Add {
            name,
            public_key,
            kind,
            output,
        } => {
            let signer = Signer {
                name: name.clone(),
                kind: kind.into(),
                public_key: decode_public_key(&public_key)?,
            };
            trust.add(signer.clone());
            trust.save(&path)?;
            let record = Trusted::from(&signer);
            if output.json {
                output::write_json(&mut out, &record)?;
            } else {
                writeln!(out, "trusting {name} (key id {})", record.key_id)?;
            }
        }
        Command::Refresh { output } => {
            let Some(service) = service else {
                bail!(
                    "no key service is configured: the local trust store ({}) is all there is to read; `fuda trust list` shows it",
                    fuda_core::pathname::escaped(&path)
                );
            };
            let signers = crate::directory::refresh(service)?;
            if output.json {
                output::write_json(
                    &mut out,
                    &Refreshed {
                        service: &service.url,
                        signers: signers.len(),
                    },
                )?;
            } else {
                writeln!(
                    out,
                    "read the directory of {}: {} label signer{}",
                    service.url,
                    signers.len(),
                    if signers.len() == 1 { "" } else { "s" }
                )?;
            }
        }
        Command::Remove { name, output } => {
            let n = trust.remove(&name);
            if n == 0 {
                bail!("no trusted signer named {name:?}: see `fuda trust list`");
            }
            trust.save(&path)?;
            if output.json {
                output::write_json(
                    &mut out,
                    &Untrusted {
                        name: &name,
                        keys: n,
                    },
                )?;
            } else {
                writeln!(
                    out,
                    "removed {n} key{} of {name}",
                    if n == 1 { "" } else { "s" }
                )?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The name of a signer kind, as in trust.toml.
fn kind_name(kind: SignerKind) -> &'static str {
    match kind {
        SignerKind::User => "user",
        SignerKind::Hook => "hook",
        SignerKind::Service => "service",
    }
}
