//! Verifying a signed label against the trust store and the current content.

use ring::signature::{UnparsedPublicKey, ED25519};

use super::{canonical, compact, SignedLabel, Status, VerificationMemo};
use crate::digest::Digest;
use crate::trust::TrustStore;

/// The outcome of verifying a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// valid, stale, unverified or tampered.
    pub status: Status,
    /// Name of the signer in the trust store, when known.
    pub signer: Option<String>,
}

/// Verifies `signed`: signer known, signature good, content unchanged.
///
/// `current` is the digest of the content now; pass `None` where the label is bound to the
/// content by other means (the envelope's header MAC). With a `memo`, a signature that
/// verified before is not verified again, and a newly verified one is remembered.
pub fn verify(
    signed: &SignedLabel,
    trust: &TrustStore,
    current: Option<&Digest>,
    memo: Option<&VerificationMemo>,
) -> Verification {
    let Some(signer) = trust.get(&signed.key) else {
        return Verification {
            status: Status::Unverified,
            signer: None,
        };
    };
    let compact = memo.map(|_| compact::encode(signed));
    let remembered = matches!((memo, &compact), (Some(m), Some(c)) if m.contains(c));
    let good = remembered || {
        let input = canonical::signing_input(&signed.label);
        let good = UnparsedPublicKey::new(&ED25519, &signer.public_key)
            .verify(&input, &signed.sig)
            .is_ok();
        if let (true, Some(m), Some(c)) = (good, memo, &compact) {
            m.insert(c);
        }
        good
    };
    let status = if !good {
        Status::Tampered
    } else {
        match (&signed.label.content_sha256, current) {
            (Some(signed_digest), Some(now)) if signed_digest != now => Status::Stale,
            _ => Status::Valid,
        }
    };
    Verification {
        status,
        signer: Some(signer.name.clone()),
    }
}
