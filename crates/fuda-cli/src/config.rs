//! Where the CLI keeps its files, and the user's config.
//!
//! Config directory: `$FUDA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/fuda`, else
//! `~/.config/fuda`. It holds `config.toml`, `identity.age`, `signing.key` (both 0600)
//! and `trust.toml`. Label changes that need a justification are appended to
//! `label-changes.jsonl` in the state directory (`$XDG_STATE_HOME/fuda`, else
//! `~/.local/state/fuda`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fuda_core::digest_cache::DigestCache;
use fuda_core::identity::Identity;
use fuda_core::label::VerificationMemo;
use fuda_core::labeling::StorePreference;
use fuda_core::policy::Policy;
use fuda_core::trust::TrustStore;
use serde::{Deserialize, Serialize};

/// The user's settings (`config.toml`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// User name recorded in labels.
    pub user: String,
    /// Department recorded in new labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    /// `builtin:NAME` or a path to a policy file.
    pub policy: String,
    /// `xattr` (default), `auto` (xattr, else sidecar) or `sidecar`.
    #[serde(default = "default_store")]
    pub store: String,
    /// The key service, when one is configured (`fuda init --service`); else embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceConfig>,
}

/// A remote key service (`[service]` in config.toml). The API token is in `keyd.token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `https://host:port`.
    pub url: String,
    /// The addresses of the same service's other replicas (`https://host:port`, same
    /// certificate), tried in turn when one does not answer (docs/key-service.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
    /// SHA-256 fingerprint of its TLS certificate (pinned).
    pub fingerprint: String,
    /// The service id.
    pub id: String,
    /// Its licence signing key (base64 Ed25519), pinned at enrollment.
    pub signing_key: String,
}

fn default_store() -> String {
    "xattr".into()
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set; set HOME or FUDA_CONFIG_DIR")
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join("fuda")),
        None => Ok(home()?.join(fallback).join("fuda")),
    }
}

/// The config directory.
pub fn config_dir() -> Result<PathBuf> {
    match std::env::var_os("FUDA_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => xdg_dir("XDG_CONFIG_HOME", ".config"),
    }
}

/// The state directory (logs).
pub fn state_dir() -> Result<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

/// The cache directory (verification memo).
pub fn cache_dir() -> Result<PathBuf> {
    xdg_dir("XDG_CACHE_HOME", ".cache")
}

/// The data directory (the embedded key service): `$XDG_DATA_HOME/fuda`, else
/// `~/.local/share/fuda`.
pub fn data_dir() -> Result<PathBuf> {
    xdg_dir("XDG_DATA_HOME", ".local/share")
}

/// Where the API token of the remote key service is kept (0600).
pub fn token_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("keyd.token"))
}

/// Path of the trust store.
pub fn trust_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("trust.toml"))
}

/// Resolves a policy reference: `builtin:NAME`, a bare built-in name, or a path.
pub fn load_policy(reference: &str) -> Result<Policy> {
    let builtin = reference.strip_prefix("builtin:").or_else(|| {
        fuda_core::policy::BUILTIN
            .iter()
            .any(|(n, _)| *n == reference)
            .then_some(reference)
    });
    Ok(match builtin {
        Some(name) => Policy::builtin(name)?,
        None => Policy::load(Path::new(reference))?,
    })
}

impl Config {
    /// Reads `config.toml`.
    pub fn load() -> Result<Config> {
        let path = config_dir()?.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "fuda is not set up for this user ({} is missing): run `fuda init` first",
                    path.display()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid fuda config", path.display()))
    }

    /// Writes `config.toml` (0600).
    pub fn save_new(&self) -> Result<()> {
        let path = config_dir()?.join("config.toml");
        let text = format!(
            "# fuda settings. policy = \"builtin:default\", \"builtin:ipa-sme\" or a file path.\n{}",
            toml::to_string(self)?
        );
        fuda_core::fsutil::create_secret_file(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Rewrites `config.toml` (0600) atomically.
    pub fn save(&self) -> Result<()> {
        let path = config_dir()?.join("config.toml");
        let text = format!(
            "# fuda settings. policy = \"builtin:default\", \"builtin:ipa-sme\" or a file path.\n{}",
            toml::to_string(self)?
        );
        fuda_core::fsutil::write_atomic(&path, text.as_bytes(), 0o600)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The store preference.
    pub fn store_preference(&self) -> Result<StorePreference> {
        match self.store.as_str() {
            "xattr" => Ok(StorePreference::Xattr),
            "auto" => Ok(StorePreference::Auto),
            "sidecar" => Ok(StorePreference::Sidecar),
            other => bail!(
                "config.toml: unknown store {other:?}: use \"xattr\", \"auto\" or \"sidecar\""
            ),
        }
    }
}

/// Where the policy in force came from (`fuda policy show` says it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PolicySource {
    /// A policy file or built-in policy on this machine: there is no key service, or it
    /// holds no policy, or (`classify --policy`, `policy show FILE`) one was named.
    Local {
        /// `builtin:NAME` or the file.
        reference: String,
    },
    /// The organisation's policy, from the key service, verified with its pinned key.
    Service {
        /// The key service.
        url: String,
        /// The service's version number of the policy.
        version: u32,
        /// The admin who set it.
        set_by: String,
        /// Unix seconds when it was set.
        set_at: i64,
        /// Unix seconds when this machine fetched it.
        fetched_at: i64,
    },
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Local { reference } => write!(f, "local policy {reference}"),
            PolicySource::Service {
                url,
                version,
                set_by,
                set_at,
                fetched_at,
            } => write!(
                f,
                "the key service {url}: version {version}, set by {set_by} at {}, fetched at {}",
                crate::output::timestamp(*set_at),
                crate::output::timestamp(*fetched_at)
            ),
        }
    }
}

/// Everything a labeling command needs, loaded once ([`Session::load`], next to the key
/// service's directory that supplies its trust store: see [`crate::directory`]).
pub struct Session {
    /// Settings.
    pub config: Config,
    /// The policy in force (the organisation's when a key service holds one).
    pub policy: Policy,
    /// The user's identity.
    pub identity: Identity,
    /// Enrolled signers: the key service's directory when one is configured, else
    /// `trust.toml` (see [`crate::directory`]).
    pub trust: TrustStore,
    /// Signatures verified before.
    pub memo: VerificationMemo,
}

impl Session {
    /// The content digests remembered from earlier runs (`~/.cache/fuda/content-digests`),
    /// authenticated with the memo key; empty when there is none or it does not check.
    pub fn digest_cache(&self, now: i64) -> DigestCache {
        match (config_dir(), cache_dir()) {
            (Ok(config), Ok(cache)) => DigestCache::open(
                &config.join("memo.key"),
                &cache.join("content-digests"),
                now,
            ),
            _ => DigestCache::ephemeral(now),
        }
    }

    /// Saves what this run verified; a failure only costs speed next time.
    pub fn save_memo(&self) {
        if let Err(e) = self.memo.save() {
            eprintln!("fuda: note: could not update the verification memo: {e}");
        }
    }
}

/// Appends one record to the label change log.
pub fn log_change(record: &serde_json::Value) -> Result<()> {
    let dir = state_dir()?;
    fuda_core::fsutil::create_private_dir(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("label-changes.jsonl");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{record}").with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_data()?;
    Ok(())
}
