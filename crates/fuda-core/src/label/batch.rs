//! Ed25519 batch verification for many signatures by few signers.
//!
//! A signature `(R, s)` by key `A` over `M` is good when `[s]B = R + [h]A`, with
//! `h = SHA-512(R ‖ A ‖ M) mod ℓ`. A batch checks one random combination of all the
//! equations at once:
//!
//! ```text
//! [−Σ zᵢ·sᵢ]B + Σ [zᵢ]Rᵢ + Σₖ [Σ_{i signed by k} zᵢ·hᵢ]Aₖ = 0
//! ```
//!
//! with a fresh random 128-bit `zᵢ` per signature, so a bad signature makes the sum non-zero
//! except with probability about 2⁻¹²⁸. The labels of a share are signed by a handful of
//! people and services, so the `A` terms are gathered per signer: the multiscalar
//! multiplication has one point per signature plus one per signer, about half of what a
//! general batch verifier (one `R` and one `A` per signature) computes.
//!
//! A `false` answer only means "not all good": [`super::verify`] then checks each
//! signature on its own with ring, which stays the reference for every verdict.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ring::rand::{SecureRandom, SystemRandom};

/// A signer's public key, decoded once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Signer {
    compressed: [u8; 32],
    point: EdwardsPoint,
}

impl Signer {
    /// Decodes a 32-byte Ed25519 public key; `None` for bytes that are not a point.
    pub(super) fn decode(public_key: &[u8]) -> Option<Signer> {
        let compressed: [u8; 32] = public_key.try_into().ok()?;
        let point = CompressedEdwardsY(compressed).decompress()?;
        Some(Signer { compressed, point })
    }
}

/// One signature of a batch.
#[derive(Clone, Copy, Debug)]
pub(super) struct Item<'a> {
    /// Index of its signer in the `signers` slice given to [`verify`].
    pub signer: usize,
    /// The signed bytes.
    pub message: &'a [u8],
    /// `R ‖ s`.
    pub sig: &'a [u8; 64],
}

/// Whether every signature of `items` is good; `false` when at least one may not be (or
/// no randomness could be had).
pub(super) fn verify(signers: &[Signer], items: &[Item<'_>]) -> bool {
    let mut random = vec![0u8; 16 * items.len()];
    if SystemRandom::new().fill(&mut random).is_err() {
        return false;
    }
    let mut base = Scalar::ZERO;
    let mut per_signer = vec![Scalar::ZERO; signers.len()];
    let mut scalars = Vec::with_capacity(1 + items.len() + signers.len());
    let mut points = Vec::with_capacity(scalars.capacity());
    scalars.push(Scalar::ZERO); // the base point's coefficient, filled in below
    points.push(ED25519_BASEPOINT_POINT);
    for (item, z) in items.iter().zip(random.chunks_exact(16)) {
        let Some(signer) = signers.get(item.signer) else {
            return false;
        };
        let (r_bytes, s_bytes) = item.sig.split_at(32);
        let r_bytes: [u8; 32] = r_bytes.try_into().expect("32 bytes");
        let s_bytes: [u8; 32] = s_bytes.try_into().expect("32 bytes");
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let z = Scalar::from(u128::from_le_bytes(z.try_into().expect("16 bytes")));
        let h = challenge(&r_bytes, &signer.compressed, item.message);
        base -= z * s;
        per_signer[item.signer] += z * h;
        scalars.push(z);
        points.push(r);
    }
    scalars[0] = base;
    for (signer, coefficient) in signers.iter().zip(per_signer) {
        scalars.push(coefficient);
        points.push(signer.point);
    }
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}

/// `SHA-512(R ‖ A ‖ M) mod ℓ`.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA512);
    ctx.update(r);
    ctx.update(a);
    ctx.update(message);
    let wide: [u8; 64] = ctx.finish().as_ref().try_into().expect("64 bytes");
    Scalar::from_bytes_mod_order_wide(&wide)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key_pair(seed: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
    }

    /// A signature as a test holds it: signer index, message, `R ‖ s`.
    type Sig = (usize, Vec<u8>, [u8; 64]);

    /// `count` signatures alternating between the signers made from `seeds`.
    fn signed(seeds: &[u8], count: usize) -> (Vec<Signer>, Vec<Sig>) {
        let pairs: Vec<_> = seeds.iter().map(|s| key_pair(*s)).collect();
        let signers = pairs
            .iter()
            .map(|p| Signer::decode(p.public_key().as_ref()).unwrap())
            .collect();
        let sigs = (0..count)
            .map(|i| {
                let who = i % pairs.len();
                let message = format!("label {i}").into_bytes();
                let sig = pairs[who].sign(&message).as_ref().try_into().unwrap();
                (who, message, sig)
            })
            .collect();
        (signers, sigs)
    }

    fn items(sigs: &[Sig]) -> Vec<Item<'_>> {
        sigs.iter()
            .map(|(signer, message, sig)| Item {
                signer: *signer,
                message,
                sig,
            })
            .collect()
    }

    #[test]
    fn good_signatures_by_several_signers_pass_together() {
        let (signers, sigs) = signed(&[1, 2, 3], 130);
        assert!(verify(&signers, &items(&sigs)));
        assert!(verify(&signers, &items(&sigs[..1])));
    }

    #[test]
    fn any_bad_signature_fails_the_batch() {
        let (signers, sigs) = signed(&[1, 2], 64);
        for victim in [0, 31, 63] {
            // A flipped bit in R, in s, in the message; the wrong signer.
            for case in 0..4 {
                let mut bad = sigs.clone();
                match case {
                    0 => bad[victim].2[3] ^= 1,
                    1 => bad[victim].2[40] ^= 1,
                    2 => bad[victim].1[0] ^= 1,
                    _ => bad[victim].0 = 1 - bad[victim].0,
                }
                assert!(
                    !verify(&signers, &items(&bad)),
                    "victim {victim} case {case}"
                );
            }
        }
    }

    /// The group order ℓ, little-endian.
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    #[test]
    fn non_canonical_s_and_unknown_signer_index_fail() {
        let (signers, mut sigs) = signed(&[1], 4);
        // s + ℓ is the same scalar mod ℓ but not canonical: refused, as ring refuses it.
        let mut carry = 0u16;
        for (byte, ell) in sigs[0].2[32..].iter_mut().zip(ELL) {
            let v = u16::from(*byte) + u16::from(ell) + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        assert!(!verify(&signers, &items(&sigs)));
        let (signers, mut sigs) = signed(&[1], 2);
        sigs[1].0 = 5;
        assert!(!verify(&signers, &items(&sigs)));
    }
}
