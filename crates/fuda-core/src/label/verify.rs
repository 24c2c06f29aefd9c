//! Verifying signed labels against the trust store and the current content.
//!
//! [`verify`] checks one label; [`verify_many`] checks a whole batch and is what an
//! inventory of a million files uses: signatures are checked together with Ed25519 batch
//! verification ([`super::batch`], several times cheaper per signature than one at a time), and a batch
//! that fails is checked again one signature at a time, so exactly the bad labels are
//! reported as tampered. Both read the signed bytes from [`canonical::signing_input`], the
//! single definition of what a label signature covers.
//!
//! Batch verification accepts every batch whose signatures each verify on their own. It
//! checks the combined equation over the decoded points, so it could accept a signature
//! that the one-at-a-time check refuses only for its byte encoding (a non-canonical `R`);
//! making such a signature needs the signer's private key, so it is not a way to forge or
//! alter a label.

use std::collections::HashMap;

use ring::signature::{UnparsedPublicKey, ED25519};

use super::{batch, canonical, compact, KeyId, SignedLabel, Status, VerificationMemo};
use crate::digest::Digest;
use crate::trust::{Signer, TrustStore};

/// Signatures verified together in one batch: 512 costs ~13 % less per signature than 128
/// (`cargo bench --bench verify`), and a batch with a bad label in it costs at most 512
/// single checks (~25 ms).
pub const BATCH: usize = 512;

/// The outcome of verifying a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// valid, stale, unverified or tampered.
    pub status: Status,
    /// Name of the signer in the trust store, when known.
    pub signer: Option<String>,
}

/// One label for [`verify_many`], with the digest of its content now.
#[derive(Clone, Copy, Debug)]
pub struct Claim<'a> {
    /// The label.
    pub signed: &'a SignedLabel,
    /// Digest of the content now; `None` where the label is bound to the content by other
    /// means (the envelope's header MAC).
    pub current: Option<&'a Digest>,
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
    verify_many(&[Claim { signed, current }], trust, memo)
        .pop()
        .expect("one verification per claim")
}

/// Verifies many labels at once; the result has one [`Verification`] per claim, in order,
/// each exactly what [`verify`] gives for it alone.
pub fn verify_many(
    claims: &[Claim<'_>],
    trust: &TrustStore,
    memo: Option<&VerificationMemo>,
) -> Vec<Verification> {
    let mut good = vec![false; claims.len()];
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut signers: Vec<Option<&Signer>> = Vec::with_capacity(claims.len());
    for (i, claim) in claims.iter().enumerate() {
        let signer = trust.get(&claim.signed.key);
        signers.push(signer);
        let Some(signer) = signer else { continue };
        let tag = memo.map(|m| m.tag(&compact::encode(claim.signed)));
        if let (Some(m), Some(t)) = (memo, &tag) {
            if m.contains_tag(t) {
                good[i] = true;
                continue;
            }
        }
        pending.push(Pending {
            index: i,
            key: claim.signed.key,
            public_key: &signer.public_key,
            message: canonical::signing_input(&claim.signed.label),
            sig: &claim.signed.sig,
            tag,
        });
    }

    let mut keys = KeyCache::default();
    for batch in pending.chunks(BATCH) {
        let verdicts: Vec<bool> = if batch.len() > 1 && keys.verify_batch(batch) {
            vec![true; batch.len()]
        } else {
            batch.iter().map(Pending::verify_one).collect()
        };
        for (p, ok) in batch.iter().zip(verdicts) {
            good[p.index] = ok;
            if let (true, Some(m), Some(t)) = (ok, memo, p.tag) {
                m.insert_tag(t);
            }
        }
    }

    claims
        .iter()
        .zip(signers)
        .zip(good)
        .map(|((claim, signer), good)| {
            let Some(signer) = signer else {
                return Verification {
                    status: Status::Unverified,
                    signer: None,
                };
            };
            let status = if !good {
                Status::Tampered
            } else {
                match (&claim.signed.label.content_sha256, claim.current) {
                    (Some(signed_digest), Some(now)) if signed_digest != now => Status::Stale,
                    _ => Status::Valid,
                }
            };
            Verification {
                status,
                signer: Some(signer.name.clone()),
            }
        })
        .collect()
}

/// A signature still to check.
struct Pending<'a> {
    index: usize,
    key: KeyId,
    public_key: &'a [u8],
    message: Vec<u8>,
    sig: &'a [u8; 64],
    /// The label's memo tag, to remember it once verified.
    tag: Option<super::memo::Tag>,
}

impl Pending<'_> {
    /// The one-at-a-time check (ring), the reference for every verdict.
    fn verify_one(&self) -> bool {
        UnparsedPublicKey::new(&ED25519, self.public_key)
            .verify(&self.message, self.sig)
            .is_ok()
    }
}

/// Signers' public keys decoded once per run of [`verify_many`] (a decoding costs a square
/// root), each with its index in the batch's signer list.
#[derive(Default)]
struct KeyCache {
    index: HashMap<KeyId, Option<usize>>,
    signers: Vec<batch::Signer>,
}

impl KeyCache {
    fn get(&mut self, p: &Pending<'_>) -> Option<usize> {
        let signers = &mut self.signers;
        *self.index.entry(p.key).or_insert_with(|| {
            signers.push(batch::Signer::decode(p.public_key)?);
            Some(signers.len() - 1)
        })
    }

    /// Whether every signature of the batch verifies; `false` means at least one may not.
    fn verify_batch(&mut self, pending: &[Pending<'_>]) -> bool {
        let mut items = Vec::with_capacity(pending.len());
        for p in pending {
            let Some(signer) = self.get(p) else {
                return false;
            };
            items.push(batch::Item {
                signer,
                message: &p.message,
                sig: p.sig,
            });
        }
        batch::verify(&self.signers, &items)
    }
}
