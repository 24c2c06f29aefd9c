//! The key service's directory as the trust store for label signatures.
//!
//! - A **remote** service configured (`fuda init --service`): the signers are the active
//!   users enrolled in its directory, replacing `trust.toml`. They are fetched with the
//!   user's token and cached for [`TTL`] seconds in `signers.json` in the cache directory;
//!   when the service is unreachable, the last fetched directory is used, and without one
//!   `trust.toml` (with a warning).
//! - **Embedded** (no service configured): `trust.toml` stays the trust store; the
//!   signers of the embedded directory, when it exists, are added to it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fuda_core::identity::Identity;
use fuda_core::label::VerificationMemo;
use fuda_core::trust::{decode_public_key, Signer, SignerKind, TrustStore};
use fuda_keyd::client::{Embedded, KeyService};
use fuda_keyd::directory::EnrolledSigner;
use serde::{Deserialize, Serialize};

use crate::config::{self, Config, ServiceConfig, Session};

impl Session {
    /// Loads config, policy (the organisation's from the key service, else
    /// `policy_override` or the configured one: see [`crate::orgpolicy`]), identity and
    /// trust store (the key service's directory, see [`trust_store`]). It lives here,
    /// above both config and the key service client, so that neither needs the other's
    /// module.
    pub fn load(policy_override: Option<&str>) -> Result<Session> {
        let config = Config::load()?;
        let policy = crate::orgpolicy::in_force(&config, policy_override)?.policy;
        let identity = Identity::load(&config::config_dir()?, &config.user)?;
        let trust = trust_store(&config, TrustStore::load(&config::trust_path()?)?)?;
        let memo = VerificationMemo::open(
            &config::config_dir()?.join("memo.key"),
            &config::cache_dir()?.join("verified-labels"),
        )
        .unwrap_or_else(|_| VerificationMemo::ephemeral());
        Ok(Session {
            config,
            policy,
            identity,
            trust,
            memo,
        })
    }
}

/// How long a fetched directory is used before it is fetched again (seconds).
pub const TTL: i64 = 600;

#[derive(Serialize, Deserialize)]
struct Cached {
    /// The service id the directory came from.
    service: String,
    /// Unix seconds of the fetch.
    fetched_at: i64,
    signers: Vec<EnrolledSigner>,
}

fn cache_path() -> Result<PathBuf> {
    Ok(config::cache_dir()?.join("signers.json"))
}

/// The trust store for `config`: the directory of its key service, or `local`.
pub fn trust_store(config: &Config, local: TrustStore) -> Result<TrustStore> {
    match &config.service {
        Some(service) => Ok(remote(service).unwrap_or_else(|e| {
            eprintln!(
                "fuda: warning: the key service's directory is unavailable ({e:#}); verifying label signers against the local trust store"
            );
            local
        })),
        None => embedded(config, local),
    }
}

fn to_store(signers: &[EnrolledSigner]) -> TrustStore {
    let mut store = TrustStore::default();
    add(&mut store, signers);
    store
}

fn add(store: &mut TrustStore, signers: &[EnrolledSigner]) {
    for s in signers {
        // A malformed key in the directory trusts nobody; the others still count.
        if let Ok(public_key) = decode_public_key(&s.public_key) {
            store.add(Signer {
                name: s.name.clone(),
                kind: SignerKind::User,
                public_key,
            });
        }
    }
}

fn remote(service: &ServiceConfig) -> Result<TrustStore> {
    let path = cache_path()?;
    let cached: Option<Cached> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|c: &Cached| c.service == service.id);
    let now = fuda_keyd::now();
    if let Some(c) = cached
        .as_ref()
        .filter(|c| (0..TTL).contains(&(now - c.fetched_at)))
    {
        return Ok(to_store(&c.signers));
    }
    match fetch(service, &path, now) {
        Ok(signers) => Ok(to_store(&signers)),
        Err(e) => match cached {
            Some(c) => {
                eprintln!(
                    "fuda: note: the key service is unreachable ({e:#}); verifying label signers against its directory as fetched at {}",
                    crate::output::timestamp(c.fetched_at)
                );
                Ok(to_store(&c.signers))
            }
            None => Err(e),
        },
    }
}

/// Fetches the directory's signers now and caches them at `path` (a failed write only
/// costs a fetch next time).
fn fetch(service: &ServiceConfig, path: &Path, now: i64) -> Result<Vec<EnrolledSigner>> {
    let signers = crate::keyservice::remote(service)?.signers()?;
    let fresh = Cached {
        service: service.id.clone(),
        fetched_at: now,
        signers,
    };
    if let Some(dir) = path.parent() {
        let _ = fuda_core::fsutil::create_private_dir(dir);
    }
    if let Ok(json) = serde_json::to_vec(&fresh) {
        let _ = fuda_core::fsutil::write_atomic(path, &json, 0o600);
    }
    Ok(fresh.signers)
}

/// Re-reads the key service's signer directory at once instead of waiting for the
/// cache to expire (`fuda trust refresh`); returns the signers it holds now.
pub fn refresh(service: &ServiceConfig) -> Result<Vec<EnrolledSigner>> {
    fetch(service, &cache_path()?, fuda_keyd::now()).with_context(|| {
        format!(
            "cannot read the directory of the key service {}",
            service.url
        )
    })
}

fn embedded(config: &Config, mut local: TrustStore) -> Result<TrustStore> {
    let dir = crate::keyservice::embedded_dir()?;
    if !dir.join(fuda_keyd::service::DB_FILE).exists() {
        return Ok(local);
    }
    let signers = fuda_keyd::Service::open(&dir).and_then(|service| {
        let signers = Embedded::new(service.clone(), &config.user).signers();
        service.close();
        signers
    });
    match signers {
        Ok(signers) => add(&mut local, &signers),
        Err(e) => eprintln!(
            "fuda: warning: cannot read the embedded key service's directory in {} ({e}); verifying label signers against the local trust store only",
            dir.display()
        ),
    }
    Ok(local)
}
