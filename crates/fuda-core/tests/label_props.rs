//! Property tests for the label encodings and signatures.

use fuda_core::digest::Digest;
use fuda_core::identity::Identity;
use fuda_core::label::{
    canonical, compact, verify, verify_many, Claim, DocId, Evidence, Flag, KeyId, Label, Method,
    PolicyRef, SignedLabel, Status,
};
use fuda_core::trust::{SignerKind, TrustStore};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn text() -> impl Strategy<Value = String> {
    // ASCII, Japanese (with a combining dakuten to exercise NFC), emoji.
    "[a-z0-9 ._-]{0,12}|[あ-んア-ン一-龥]{1,6}|か\u{3099}|[\u{1F600}-\u{1F64F}]{1,3}"
}

fn nfc(s: String) -> String {
    s.nfc().collect()
}

fn label() -> impl Strategy<Value = Label> {
    (
        (
            any::<[u8; 16]>(),
            "[a-z-]{1,24}",
            "[a-z-]{1,12}",
            any::<u32>(),
        ),
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of("[a-z-]{1,16}"),
            0usize..4,
        ),
        (
            proptest::option::of(text()),
            text(),
            any::<i64>(),
            proptest::option::of(any::<[u8; 32]>()),
        ),
        (
            proptest::option::of(text()),
            proptest::collection::btree_set(0usize..4, 0..4),
            proptest::collection::vec(("[a-z:-]{1,16}|keyword:[一-龥]{1,3}", any::<u32>()), 0..3),
            // First labels (seq 0, as every label before seq existed) and relabels.
            prop_oneof![Just(0u64), 1u64..4, any::<u64>()],
        ),
    )
        .prop_map(
            |(
                (doc, level, pid, pver),
                (owner, dept, asset, method),
                (origin, set_by, set_at, digest),
                (justification, flags, evidence, seq),
            )| Label {
                v: 1,
                doc: DocId::from_bytes(doc),
                level,
                policy: PolicyRef {
                    id: pid,
                    version: pver,
                },
                owner: nfc(owner),
                dept: dept.map(nfc),
                asset,
                method: [
                    Method::Manual,
                    Method::Auto,
                    Method::Default,
                    Method::Imported,
                ][method],
                rule: None,
                origin: origin.map(nfc),
                set_by: nfc(set_by),
                set_at,
                seq,
                content_sha256: digest.map(Digest),
                justification: justification.map(nfc),
                flags: flags.into_iter().map(|i| Flag::ALL[i]).collect(),
                evidence: evidence
                    .into_iter()
                    .map(|(what, count)| Evidence { what, count })
                    .collect(),
            },
        )
}

struct Signer {
    _dir: tempfile::TempDir,
    identity: Identity,
    trust: TrustStore,
}

fn signer() -> Signer {
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity::create(&dir.path().join("id"), "prop").unwrap();
    let mut trust = TrustStore::default();
    trust.add(identity.as_signer(SignerKind::User));
    Signer {
        _dir: dir,
        identity,
        trust,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_json_round_trips(l in label()) {
        let text = canonical::encode(&l);
        let back = canonical::decode(&text).unwrap();
        prop_assert_eq!(&back, &l);
        prop_assert_eq!(canonical::encode(&back), text.clone());
        // Sorted keys, no whitespace between tokens.
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        prop_assert_eq!(keys, sorted);
        prop_assert!(!text.contains("\": ") && !text.contains('\n'));
    }

    #[test]
    fn compact_round_trips(l in label(), sig in any::<[[u8; 32]; 2]>(), key in any::<[u8; 8]>()) {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&sig[0]);
        s[32..].copy_from_slice(&sig[1]);
        let signed = SignedLabel { label: l, key: KeyId(key), sig: s };
        let bytes = compact::encode(&signed);
        prop_assert_eq!(compact::decode(&bytes).unwrap(), signed);
    }

    #[test]
    fn compact_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = compact::decode(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_single_byte_change_to_a_signed_label_is_detected(l in label(), index in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let s = signer();
        let signed = s.identity.sign(l);
        prop_assert_eq!(verify(&signed, &s.trust, None, None).status, Status::Valid);
        let mut bytes = compact::encode(&signed);
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(changed) = compact::decode(&bytes) {
            let status = verify(&changed, &s.trust, None, None).status;
            prop_assert!(matches!(status, Status::Tampered | Status::Unverified), "byte {} -> {:?}", i, status);
        } // else: undecodable, which every store reports as tampered
    }
}

#[test]
fn a_typical_label_is_compact() {
    let s = signer();
    let label = Label {
        v: 1,
        doc: DocId::new(),
        level: "strictly-confidential".into(),
        policy: PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: "tanaka".into(),
        dept: Some("設計部".into()),
        asset: Some("customer-drawings".into()),
        method: Method::Manual,
        rule: None,
        origin: None,
        set_by: "tanaka".into(),
        set_at: 1_795_000_000,
        seq: 0,
        content_sha256: Some(Digest([7; 32])),
        justification: None,
        flags: vec![],
        evidence: vec![],
    };
    let bytes = compact::encode(&s.identity.sign(label));
    // 64 signature + 32 digest + 16 doc id + 8 key id + the strings.
    assert!(bytes.len() <= 220, "{} bytes", bytes.len());
}

#[test]
fn the_memo_skips_reverification_but_still_catches_tampering() {
    let s = signer();
    let dir = tempfile::tempdir().unwrap();
    let memo =
        fuda_core::label::VerificationMemo::open(&dir.path().join("k"), &dir.path().join("m"))
            .unwrap();
    let signed = s.identity.sign(Label {
        v: 1,
        doc: DocId::new(),
        level: "internal".into(),
        policy: PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: "a".into(),
        dept: None,
        asset: None,
        method: Method::Manual,
        rule: None,
        origin: None,
        set_by: "a".into(),
        set_at: 0,
        seq: 0,
        content_sha256: None,
        justification: None,
        flags: vec![],
        evidence: vec![],
    });
    assert_eq!(
        verify(&signed, &s.trust, None, Some(&memo)).status,
        Status::Valid
    );
    assert!(memo.contains(&compact::encode(&signed)));
    memo.save().unwrap();
    let memo =
        fuda_core::label::VerificationMemo::open(&dir.path().join("k"), &dir.path().join("m"))
            .unwrap();
    assert!(
        memo.contains(&compact::encode(&signed)),
        "saved and reloaded"
    );

    let mut forged = signed.clone();
    forged.label.level = "public".into();
    assert_eq!(
        verify(&forged, &s.trust, None, Some(&memo)).status,
        Status::Tampered
    );
    // A signer removed from the trust store is not rescued by the memo.
    assert_eq!(
        verify(&signed, &TrustStore::default(), None, Some(&memo)).status,
        Status::Unverified
    );
}

#[test]
fn an_escaped_control_character_before_a_combining_mark_stays_valid_json() {
    // Found by the label_compact fuzz target: NFC over the JSON text composed the `n` of
    // the escape `\n` with a following U+0300 into `ǹ`, leaving an invalid escape.
    let mut l = canonical::decode(r#"{"doc":"01M8A300T591EP9ZCC1QWWA3M1","level":"x","method":"manual","owner":"a","policy":{"id":"p","version":1},"set_at":0,"set_by":"b","v":1}"#).unwrap();
    l.owner = "line\n\u{300}end".into();
    let text = canonical::encode(&l);
    let back = canonical::decode(&text).expect("canonical text is valid JSON");
    assert_eq!(back.owner, "line\n\u{300}end".nfc().collect::<String>());
}

#[test]
fn evidence_extends_the_compact_form_without_changing_labels_that_have_none() {
    let s = signer();
    let mut label = Label {
        v: 1,
        doc: DocId::new(),
        level: "confidential".into(),
        policy: PolicyRef {
            id: "default".into(),
            version: 1,
        },
        owner: "fuda-hook".into(),
        dept: None,
        asset: None,
        method: Method::Auto,
        rule: Some("personal-numbers".into()),
        origin: None,
        set_by: "fuda-hook".into(),
        set_at: 1_795_000_000,
        seq: 0,
        content_sha256: Some(Digest([7; 32])),
        justification: None,
        flags: vec![Flag::PersonalData],
        evidence: vec![],
    };
    // Without evidence: the canonical JSON has no evidence key, so labels written before
    // the field existed keep verifying.
    let plain = s.identity.sign(label.clone());
    assert!(!canonical::encode(&plain.label).contains("evidence"));
    let plain_bytes = compact::encode(&plain);

    label.evidence = vec![Evidence {
        what: "detector:my-number".into(),
        count: 14,
    }];
    let with = s.identity.sign(label);
    let bytes = compact::encode(&with);
    assert_eq!(compact::decode(&bytes).unwrap(), with);
    assert_eq!(verify(&with, &s.trust, None, None).status, Status::Valid);
    assert!(bytes.len() - plain_bytes.len() < 64, "evidence is compact");

    // An empty evidence list after the signature is not canonical: refused.
    let mut empty = plain_bytes.clone();
    empty.push(0);
    assert!(compact::decode(&empty).is_err());
    // Stripping the evidence leaves a label whose signature no longer matches.
    let stripped = &bytes[..plain_bytes.len()];
    if let Ok(l) = compact::decode(stripped) {
        assert_eq!(verify(&l, &s.trust, None, None).status, Status::Tampered);
    }
}

/// What can happen to a label between signing and an inventory.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Intact,
    SignatureFlipped(usize),
    FieldChanged,
    UnknownSigner,
    ContentChanged,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Intact),
        1 => (0usize..64).prop_map(Fate::SignatureFlipped),
        1 => Just(Fate::FieldChanged),
        1 => Just(Fate::UnknownSigner),
        1 => Just(Fate::ContentChanged),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Batches of a few hundred labels, some broken: the batch verdicts are exactly the
    /// one-at-a-time verdicts, so one bad label neither hides nor taints its batch.
    #[test]
    fn batch_verification_agrees_with_single_verification(
        fates in proptest::collection::vec(fate(), 1..300),
        memoised in any::<bool>(),
    ) {
        let s = signer();
        let stranger = signer();
        let now = Digest([1; 32]);
        let signed: Vec<SignedLabel> = fates
            .iter()
            .enumerate()
            .map(|(i, fate)| {
                let label = Label {
                    v: 1,
                    doc: DocId::new(),
                    level: "internal".into(),
                    policy: PolicyRef { id: "default".into(), version: 1 },
                    owner: format!("user{i}"),
                    dept: None,
                    asset: None,
                    method: Method::Manual,
                    rule: None,
                    origin: None,
                    set_by: "prop".into(),
                    set_at: i as i64,
                    seq: 0,
                    content_sha256: Some(match fate {
                        Fate::ContentChanged => Digest([2; 32]),
                        _ => now,
                    }),
                    justification: None,
                    flags: vec![],
                    evidence: vec![],
                };
                let mut signed = match fate {
                    Fate::UnknownSigner => stranger.identity.sign(label),
                    _ => s.identity.sign(label),
                };
                match fate {
                    Fate::SignatureFlipped(b) => signed.sig[*b] ^= 0x01,
                    Fate::FieldChanged => signed.label.level = "public".into(),
                    _ => {}
                }
                signed
            })
            .collect();
        let memo = fuda_core::label::VerificationMemo::ephemeral();
        let memo = memoised.then_some(&memo);
        let claims: Vec<Claim<'_>> = signed
            .iter()
            .map(|signed| Claim { signed, current: Some(&now) })
            .collect();
        let batch = verify_many(&claims, &s.trust, memo);
        prop_assert_eq!(batch.len(), fates.len());
        for ((fate, signed), got) in fates.iter().zip(&signed).zip(&batch) {
            let single = verify(signed, &s.trust, Some(&now), None);
            prop_assert_eq!(got, &single, "{:?}", fate);
            let expected = match fate {
                Fate::Intact => Status::Valid,
                Fate::SignatureFlipped(_) | Fate::FieldChanged => Status::Tampered,
                Fate::UnknownSigner => Status::Unverified,
                Fate::ContentChanged => Status::Stale,
            };
            prop_assert_eq!(got.status, expected, "{:?}", fate);
        }
        // A second pass answers from the memo with the same verdicts.
        prop_assert_eq!(verify_many(&claims, &s.trust, memo), batch);
    }
}

/// A label written by fuda before labels had a `seq` (`fuda label set 社外秘` on a file
/// holding "hello, fuda\n", by the user `golden`): its `user.fuda.label` value and the
/// signer's public key.
const OLD_XATTR: &str = "f101a2469e7139935a282cc478a19d4be208696e7465726e616c0764656661756c740106676f6c64656e0109e8a8ade8a888e983a80000000006676f6c64656ebc81a1b10d01b5312eb3f52d3a808d22bdd03da22b3e2c0585aaa29ad9c58ddc862748b2d6490000087d2fc53d5acc6b81c4f0bd350f6e9abd74915b8d542edf97c7b521892677abb97643656fa0430ccd5976dc4f574a6bac370235eddc284385b24a7181bcf7e7355a01969213c906";
const OLD_SIGNER: &str = "T3zaeN3gYtHOXb3v/kDfjXFbFnR/GG9kbSJyVSFCNKU=";

#[test]
fn a_label_written_before_seq_existed_still_verifies_and_round_trips() {
    let bytes = hex::decode(OLD_XATTR).unwrap();
    let old = compact::decode(&bytes).expect("an old compact label decodes");
    assert_eq!(old.label.seq, 0, "an old label is its document's first");
    assert_eq!(compact::encode(&old), bytes, "and re-encodes byte for byte");
    assert!(!canonical::encode(&old.label).contains("seq"));
    let mut trust = TrustStore::default();
    trust.add(fuda_core::trust::Signer {
        name: "golden".into(),
        kind: SignerKind::User,
        public_key: fuda_core::trust::decode_public_key(OLD_SIGNER).unwrap(),
    });
    let content = Digest::of_bytes(b"hello, fuda\n");
    let v = verify(&old, &trust, Some(&content), None);
    assert_eq!(v.status, Status::Valid);
}

#[test]
fn a_relabel_carries_its_seq_in_the_signature_and_the_compact_form() {
    let s = signer();
    let first = s.identity.sign(
        canonical::decode(r#"{"doc":"01M8A300T591EP9ZCC1QWWA3M1","level":"public","method":"manual","owner":"a","policy":{"id":"p","version":1},"set_at":100,"set_by":"a","v":1}"#).unwrap(),
    );
    let mut next = first.label.clone();
    next.level = "strictly-confidential".into();
    next.seq = first.label.next_seq();
    next.set_at = 200;
    let relabel = s.identity.sign(next);
    assert!(first.label.is_older_than(&relabel.label));
    assert!(!relabel.label.is_older_than(&first.label));

    // seq 0 keeps the old form (0xF1); seq > 0 uses 0xF2 and round-trips.
    let (old_bytes, new_bytes) = (compact::encode(&first), compact::encode(&relabel));
    assert_eq!(old_bytes[0], compact::VERSION_BYTE);
    assert_eq!(new_bytes[0], compact::VERSION_BYTE_SEQ);
    assert_eq!(compact::decode(&new_bytes).unwrap(), relabel);
    assert!(canonical::encode(&relabel.label).contains(r#""seq":1"#));

    // The seq is signed: lowering it to pass an old label off as new breaks the signature.
    let mut forged = relabel.clone();
    forged.label.seq = 0;
    assert_eq!(
        verify(&forged, &s.trust, None, None).status,
        Status::Tampered
    );
    // 0xF2 with seq 0 is not canonical: one label, one encoding.
    let mut zero = vec![compact::VERSION_BYTE_SEQ, 0];
    zero.extend_from_slice(&old_bytes[1..]);
    assert!(compact::decode(&zero).is_err());
}
