//! The policy in force: the organisation's, from the key service, or a local one.
//!
//! - A **remote** service configured: its current policy (`GET /v1/policy`), verified
//!   against the service's signing key pinned at enrollment, cached for [`TTL`] seconds in
//!   `policy.json` in the cache directory. When the service is unreachable the last good
//!   copy is used, with a warning; a copy that does not verify is never used. A local
//!   policy (`--policy`, or `policy` in config.toml) is refused for labels and protection
//!   once the service holds a policy; while it holds none, the local one is used.
//! - **Embedded** (no service configured): the local policy, as named in config.toml.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use fuda_core::policy::Policy;
use fuda_keyd::client::KeyService as _;
use fuda_keyd::policy::SignedPolicy;
use serde::{Deserialize, Serialize};

use crate::config::{self, Config, PolicySource, ServiceConfig};

/// How long a fetched policy is used before it is fetched again (seconds): a change an
/// admin makes reaches every client within this time.
pub const TTL: i64 = 600;

/// A policy and where it came from.
pub struct InForce {
    /// The policy.
    pub policy: Policy,
    /// Where it came from.
    pub source: PolicySource,
}

/// The policy for `config`: the key service's when it holds one (then `local_override`,
/// a policy named on the command line, is refused), else `local_override` or the
/// configured one.
pub fn in_force(config: &Config, local_override: Option<&str>) -> Result<InForce> {
    let local = |reference: &str| -> Result<InForce> {
        Ok(InForce {
            policy: config::load_policy(reference)?,
            source: PolicySource::Local {
                reference: reference.to_owned(),
            },
        })
    };
    let Some(service) = &config.service else {
        return local(local_override.unwrap_or(&config.policy));
    };
    let Some((signed, fetched_at)) = organisation(service)? else {
        return local(local_override.unwrap_or(&config.policy));
    };
    let version = signed.policy.version;
    if let Some(named) = local_override {
        bail!(
            "--policy {named}: under the key service {} the organisation's policy (version {version}) decides labels and protection; a local policy is only for dry runs (`fuda classify --policy FILE`)",
            service.url
        );
    }
    let p = signed.policy;
    let policy = Policy::from_toml(&p.text, std::path::Path::new(&p.origin)).with_context(|| {
        format!(
            "the organisation's policy (version {version} from {}) does not validate with this fuda: update fuda",
            service.url
        )
    })?;
    Ok(InForce {
        policy,
        source: PolicySource::Service {
            url: service.url.clone(),
            version,
            set_by: p.set_by,
            set_at: p.set_at,
            fetched_at,
        },
    })
}

#[derive(Serialize, Deserialize)]
struct Cached {
    /// The service id the policy came from.
    service: String,
    /// Unix seconds of the fetch.
    fetched_at: i64,
    /// The policy (`None`: the service held none).
    policy: Option<SignedPolicy>,
}

fn cache_path() -> Result<PathBuf> {
    Ok(config::cache_dir()?.join("policy.json"))
}

/// Drops the cached copy, so that the next command fetches the policy (after this
/// machine's admin changed it).
pub fn forget() -> Result<()> {
    match std::fs::remove_file(cache_path()?) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The service's signing key, as pinned in config.toml.
fn pinned_key(service: &ServiceConfig) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(&service.signing_key)
        .context("config.toml: the key service's signing key is not base64")
}

/// The cached copy, if it is for this service and (holding a policy) verifies.
fn read_cache(service: &ServiceConfig, key: &[u8]) -> Result<Option<Cached>> {
    let path = cache_path()?;
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let Ok(cached) = serde_json::from_slice::<Cached>(&bytes) else {
        return Ok(None);
    };
    if cached.service != service.id {
        return Ok(None);
    }
    if let Some(p) = &cached.policy {
        if let Err(e) = p.verify(&service.id, key) {
            eprintln!(
                "fuda: warning: ignoring the cached policy in {}: {e}",
                path.display()
            );
            return Ok(None);
        }
    }
    Ok(Some(cached))
}

/// The organisation's policy and when it was fetched: from the cache while it is fresh,
/// else from the service, else (unreachable) the last good copy.
fn organisation(service: &ServiceConfig) -> Result<Option<(SignedPolicy, i64)>> {
    let key = pinned_key(service)?;
    let cached = read_cache(service, &key)?;
    let now = fuda_keyd::now();
    if let Some(c) = cached
        .as_ref()
        .filter(|c| (0..TTL).contains(&(now - c.fetched_at)))
    {
        return Ok(c.policy.clone().map(|p| (p, c.fetched_at)));
    }
    let fetched = crate::keyservice::remote(service).and_then(|r| Ok(r.policy()?));
    match fetched {
        Ok(policy) => {
            if let Some(p) = &policy {
                p.verify(&service.id, &key).with_context(|| {
                    format!("the policy the key service {} sent", service.url)
                })?;
            }
            let fresh = Cached {
                service: service.id.clone(),
                fetched_at: now,
                policy,
            };
            let path = cache_path()?;
            if let Some(dir) = path.parent() {
                let _ = fuda_core::fsutil::create_private_dir(dir);
            }
            // A failed write only costs a fetch next time.
            if let Ok(json) = serde_json::to_vec(&fresh) {
                let _ = fuda_core::fsutil::write_atomic(&path, &json, 0o600);
            }
            Ok(fresh.policy.map(|p| (p, now)))
        }
        Err(e) => match cached {
            Some(c) => {
                if let Some(p) = &c.policy {
                    eprintln!(
                        "fuda: warning: the key service is unreachable ({e:#}); using the organisation's policy version {} as fetched at {}",
                        p.policy.version,
                        crate::output::timestamp(c.fetched_at)
                    );
                }
                Ok(c.policy.map(|p| (p, c.fetched_at)))
            }
            None => Err(e.context(format!(
                "cannot get the organisation's policy from the key service {}, and there is no good copy on this machine",
                service.url
            ))),
        },
    }
}
