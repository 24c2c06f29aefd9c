//! `fuda init`: create the user's identity and config.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use fuda_core::identity::Identity;
use fuda_core::trust::{encode_public_key, SignerKind, TrustStore};

use crate::config::{self, Config};

/// Create your identity and config.
///
/// Generates an age X25519 identity (to receive file keys) and an Ed25519 key (to sign
/// labels), stored with mode 0600 in ~/.config/fuda (or $FUDA_CONFIG_DIR). Never overwrites
/// existing keys. Your own key is added to the local trust store; share the printed public
/// key with colleagues so they can `fuda trust add` it.
#[derive(clap::Args)]
pub struct Args {
    /// Your user name, recorded in labels [default: $USER].
    #[arg(long)]
    name: Option<String>,
    /// Your department (e.g. 設計部), recorded in new labels.
    #[arg(long)]
    dept: Option<String>,
    /// Policy: a built-in name (default, ipa-sme) or a policy file.
    #[arg(long, default_value = "default")]
    policy: String,
    /// Where labels of non-Office files go: xattr, auto (xattr, else a .fuda sidecar
    /// index, reported) or sidecar.
    #[arg(long, default_value = "xattr", value_parser = ["xattr", "auto", "sidecar"])]
    store: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dir = config::config_dir()?;
    if dir.join("config.toml").exists() {
        bail!(
            "fuda is already set up here ({}): fuda never overwrites keys; move the folder away first if you really want a new identity",
            dir.display()
        );
    }
    let name = match args
        .name
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.trim().is_empty())
    {
        Some(n) => n.trim().to_owned(),
        None => bail!("cannot tell your user name: pass --name NAME"),
    };
    // Validate the policy before creating anything.
    let policy_ref = match fuda_core::policy::BUILTIN
        .iter()
        .find(|(n, _)| *n == args.policy)
    {
        Some((n, _)) => format!("builtin:{n}"),
        None => std::fs::canonicalize(&args.policy)
            .with_context(|| format!("policy {}: no such built-in policy or file", args.policy))?
            .to_string_lossy()
            .into_owned(),
    };
    let policy = config::load_policy(&policy_ref)?;

    let identity = Identity::create(&dir, &name)?;
    let mut trust = TrustStore::load(&config::trust_path()?)?;
    trust.add(identity.as_signer(SignerKind::User));
    trust.save(&config::trust_path()?)?;
    Config {
        user: name.clone(),
        dept: args.dept,
        policy: policy_ref,
        store: args.store,
    }
    .save_new()?;

    let public_key = encode_public_key(identity.public_key());
    if args.json {
        let out = serde_json::json!({
            "user": name,
            "config_dir": dir,
            "policy": format!("{policy}"),
            "recipient": identity.recipient().to_string(),
            "signing_key": public_key,
            "key_id": identity.key_id().to_string(),
        });
        println!("{out}");
    } else {
        println!("Created the fuda identity of {name} in {}", dir.display());
        println!("  policy:       {} ({})", policy, policy.name);
        println!("  age recipient: {}", identity.recipient());
        println!("  signing key:  {public_key} (id {})", identity.key_id());
        println!();
        println!("Colleagues trust your labels after running:");
        println!("  fuda trust add {name} {public_key}");
    }
    Ok(ExitCode::SUCCESS)
}
