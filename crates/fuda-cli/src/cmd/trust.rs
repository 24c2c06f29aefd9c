//! `fuda trust list|add|remove`: the trust store for label signatures.
//!
//! With a key service configured, its directory is the trust store (`list` shows it;
//! `add`/`remove` change the local file, used only when the directory is unavailable).

use std::process::ExitCode;

use anyhow::{bail, Result};
use fuda_core::trust::{decode_public_key, encode_public_key, Signer, SignerKind, TrustStore};

use crate::config;
use crate::output::Table;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List trusted signers (the key service's directory when one is configured).
    List {
        /// Print as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Trust a signer's Ed25519 public key (as printed by their `fuda init`).
    Add {
        /// The signer's name.
        name: String,
        /// The public key (base64).
        public_key: String,
        /// What the signer is.
        #[arg(long, default_value = "user", value_parser = ["user", "hook", "service"])]
        kind: String,
    },
    /// Stop trusting every key of a signer.
    Remove {
        /// The signer's name.
        name: String,
    },
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
    match command {
        Command::List { json } => {
            let shown = match &config {
                Some(c) => crate::directory::trust_store(c, trust.clone())?,
                None => trust.clone(),
            };
            let mut table = Table::new(&["NAME", "KIND", "KEY ID", "PUBLIC KEY"]);
            for s in shown.signers() {
                let kind = serde_json::to_value(s.kind)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"name": s.name, "kind": kind, "key_id": s.key_id().to_string(), "public_key": encode_public_key(&s.public_key)})
                    );
                } else {
                    table.row(vec![
                        s.name.clone(),
                        kind,
                        s.key_id().to_string(),
                        encode_public_key(&s.public_key),
                    ]);
                }
            }
            if !json {
                table.print(&mut std::io::stdout().lock())?;
            }
        }
        Command::Add {
            name,
            public_key,
            kind,
        } => {
            let kind = match kind.as_str() {
                "hook" => SignerKind::Hook,
                "service" => SignerKind::Service,
                _ => SignerKind::User,
            };
            let signer = Signer {
                name: name.clone(),
                kind,
                public_key: decode_public_key(&public_key)?,
            };
            let id = signer.key_id();
            trust.add(signer);
            trust.save(&path)?;
            println!("trusting {name} (key id {id})");
        }
        Command::Remove { name } => {
            let n = trust.remove(&name);
            if n == 0 {
                bail!("no trusted signer named {name:?}: see `fuda trust list`");
            }
            trust.save(&path)?;
            println!("removed {n} key{} of {name}", if n == 1 { "" } else { "s" });
        }
    }
    Ok(ExitCode::SUCCESS)
}
