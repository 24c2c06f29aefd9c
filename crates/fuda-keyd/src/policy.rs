//! The organisation's policy as the service holds it: every version an admin set, and the
//! current one signed by the service so that clients can trust a cached copy.
//!
//! The service keeps the policy's TOML text exactly as the admin gave it ([`PolicyVersion`]);
//! clients parse it with [`fuda_core::policy::Policy::from_toml`], the same validation as
//! `fuda policy check`. [`SignedPolicy`] binds the text to the service id and the version
//! with the service's Ed25519 key (the one clients pinned at enrollment), so a copy that
//! another key service signed, or that someone edited in a cache, is refused.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// One version of the organisation's policy, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// The service's version number: 1 for the first policy an admin set, then one more
    /// for each change (not the `version` inside the policy, which labels record).
    pub version: u32,
    /// The policy file's text (TOML).
    pub text: String,
    /// The file name the admin gave (what error messages and `show` name).
    pub origin: String,
    /// The admin who set it.
    pub set_by: String,
    /// Unix seconds when it was set.
    pub set_at: i64,
}

/// A policy version with the service's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPolicy {
    /// The service id.
    pub service: String,
    /// The policy.
    pub policy: PolicyVersion,
    /// Ed25519 signature over [`SignedPolicy::signing_input`], base64.
    pub sig: String,
}

impl SignedPolicy {
    /// The bytes the signature covers: a domain tag, the service id and the policy's JSON.
    pub fn signing_input(service: &str, policy: &PolicyVersion) -> Vec<u8> {
        let mut out = b"fuda-policy-v1\n".to_vec();
        out.extend(service.as_bytes());
        out.push(b'\n');
        out.extend(serde_json::to_vec(policy).expect("a policy version always serialises"));
        out
    }

    /// Signs `policy` for the service `service` with `sign` (the service's key).
    pub fn sign(service: &str, policy: PolicyVersion, sign: impl Fn(&[u8]) -> [u8; 64]) -> Self {
        let sig = STANDARD.encode(sign(&Self::signing_input(service, &policy)));
        SignedPolicy {
            service: service.to_owned(),
            policy,
            sig,
        }
    }

    /// Checks that the service `service_id`, whose signing key is `service_key`, signed
    /// this policy.
    pub fn verify(&self, service_id: &str, service_key: &[u8]) -> Result<(), crate::Error> {
        let refused = || {
            crate::Error::Untrusted(format!(
                "the policy (version {}) is not signed by the enrolled key service: it was not made by your organisation's service, or it was altered",
                self.policy.version
            ))
        };
        if self.service != service_id {
            return Err(refused());
        }
        let sig = STANDARD.decode(&self.sig).map_err(|_| refused())?;
        UnparsedPublicKey::new(&ED25519, service_key)
            .verify(&Self::signing_input(&self.service, &self.policy), &sig)
            .map_err(|_| refused())
    }
}

/// What `fuda admin policy set` changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    /// The new version.
    pub version: u32,
    /// The version it replaced (`None`: the first policy set on this service).
    pub previous: Option<u32>,
    /// A unified diff of the text, from the previous version to this one.
    pub diff: String,
}

/// One document whose caps `fuda admin policy apply` tightened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tightened {
    /// The document.
    pub doc: String,
    /// Its level.
    pub level: String,
    /// What changed, in words (`max_rights view,edit,print → view`, `expiry …`).
    pub changes: Vec<String>,
}

/// What `fuda admin policy apply` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The policy version applied.
    pub version: u32,
    /// Documents examined.
    pub documents: usize,
    /// Documents whose caps were tightened.
    pub tightened: Vec<Tightened>,
    /// Documents left alone because their level is not in the policy (ids).
    pub unknown_level: Vec<String>,
}

/// A unified line diff from `old` to `new` (two versions of a policy's text), the form
/// audited when a version is set and shown by the console.
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> PolicyVersion {
        PolicyVersion {
            version: 2,
            text: "id = \"x\"\n".into(),
            origin: "org.toml".into(),
            set_by: "admin".into(),
            set_at: 1,
        }
    }

    fn key() -> ring::signature::Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn signer(k: &ring::signature::Ed25519KeyPair) -> impl Fn(&[u8]) -> [u8; 64] + '_ {
        |b| k.sign(b).as_ref().try_into().unwrap()
    }

    #[test]
    fn a_policy_verifies_only_with_its_service_key_and_id() {
        use ring::signature::KeyPair;
        let (ours, theirs) = (key(), key());
        let signed = SignedPolicy::sign("svc", version(), signer(&ours));
        assert!(signed.verify("svc", ours.public_key().as_ref()).is_ok());
        assert!(signed.verify("svc", theirs.public_key().as_ref()).is_err());
        assert!(signed.verify("other", ours.public_key().as_ref()).is_err());
        let mut edited = signed.clone();
        edited.policy.text.push_str("[[levels]]\n");
        assert!(edited.verify("svc", ours.public_key().as_ref()).is_err());
        let mut renumbered = signed;
        renumbered.policy.version = 3;
        assert!(renumbered
            .verify("svc", ours.public_key().as_ref())
            .is_err());
    }
}
