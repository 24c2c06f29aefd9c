//! Property tests of the recovery key's M-of-N shares (`fuda_core::recovery_key`): any M
//! shares give the key back, M−1 never do, and a mistyped share is caught and named.

use fuda_core::envelope::x25519::Identity;
use fuda_core::recovery_key::{combine, split, ShareError};
use proptest::prelude::*;

fn recipient(identity: &Identity) -> String {
    identity.to_public().to_string()
}

/// The error of a combination that must fail.
fn refused(shares: &[&str]) -> ShareError {
    match combine(shares) {
        Ok(_) => panic!("the shares must not combine"),
        Err(e) => e,
    }
}

/// (m, n, a permutation of 0..n) for splits up to 7 shares.
fn split_and_order() -> impl Strategy<Value = (u8, u8, Vec<usize>)> {
    (2u8..=7)
        .prop_flat_map(|n| (2u8..=n, Just(n)))
        .prop_flat_map(|(m, n)| {
            (
                Just(m),
                Just(n),
                Just((0..usize::from(n)).collect::<Vec<_>>()).prop_shuffle(),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_m_shares_in_any_order_give_the_key_back((m, n, order) in split_and_order()) {
        let identity = Identity::generate();
        let shares = split(&identity, m, n);
        prop_assert_eq!(shares.len(), usize::from(n));
        let chosen: Vec<&str> = order[..usize::from(m)].iter().map(|&i| shares[i].as_str()).collect();
        let back = combine(&chosen).unwrap();
        prop_assert_eq!(recipient(&back), recipient(&identity));
        // More than m work too.
        let all: Vec<&str> = order.iter().map(|&i| shares[i].as_str()).collect();
        prop_assert_eq!(recipient(&combine(&all).unwrap()), recipient(&identity));
    }

    #[test]
    fn m_minus_one_shares_are_refused((m, n, order) in split_and_order()) {
        let shares = split(&Identity::generate(), m, n);
        let chosen: Vec<&str> = order[..usize::from(m) - 1].iter().map(|&i| shares[i].as_str()).collect();
        prop_assert_eq!(
            refused(&chosen),
            ShareError::TooFew { given: usize::from(m) - 1, needed: m }
        );
    }

    #[test]
    fn a_mistyped_character_is_caught_and_its_share_named(
        (m, n, order) in split_and_order(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        replacement in prop::sample::select(b"0123456789abcdefABCDEF!xz:-".to_vec()),
    ) {
        let shares = split(&Identity::generate(), m, n);
        let mut chosen: Vec<String> = order[..usize::from(m)].iter().map(|&i| shares[i].to_string()).collect();
        let victim = which.index(chosen.len());
        let mut bytes = chosen[victim].clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(!bytes[i].eq_ignore_ascii_case(&replacement));
        bytes[i] = replacement;
        chosen[victim] = String::from_utf8(bytes).unwrap();
        let position = victim + 1;
        let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
        match refused(&chosen) {
            ShareError::Typo { position: p, .. } | ShareError::Malformed { position: p, .. } => {
                prop_assert_eq!(p, position)
            }
            other => prop_assert!(false, "share {position} altered, got {other:?}"),
        }
    }

    #[test]
    fn shares_of_two_keys_do_not_mix((m, n, order) in split_and_order()) {
        let a = split(&Identity::generate(), m, n);
        let b = split(&Identity::generate(), m, n);
        let mut chosen: Vec<&str> = order[..usize::from(m)].iter().map(|&i| a[i].as_str()).collect();
        chosen[usize::from(m) - 1] = b[order[0]].as_str();
        let is_mixed = matches!(combine(&chosen), Err(ShareError::MixedSets { .. }));
        prop_assert!(is_mixed);
    }
}

#[test]
fn a_share_given_twice_is_refused_not_counted() {
    let shares = split(&Identity::generate(), 2, 3);
    assert_eq!(
        refused(&[shares[0].as_str(), shares[0].as_str()]),
        ShareError::Duplicate { number: 1 }
    );
}

#[test]
fn whitespace_and_case_are_forgiven() {
    let identity = Identity::generate();
    let shares = split(&identity, 2, 2);
    let spaced = format!(" {} ", shares[0].to_uppercase().replace(':', " : "));
    let back = combine(&[spaced.as_str(), shares[1].as_str()]).unwrap();
    assert_eq!(recipient(&back), recipient(&identity));
}
