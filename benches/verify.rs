//! Label signatures: one at a time with ring (`label::verify`) against batches with
//! our batch equation (`label::verify_many`), over the same 1,024 signed labels, no memo.
//!
//! Run: `cargo bench --bench verify`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fuda_core::digest::Digest;
use fuda_core::identity::Identity;
use fuda_core::label::{self, Claim, DocId, Label, Method, PolicyRef, SignedLabel, Status};
use fuda_core::trust::{SignerKind, TrustStore};

const LABELS: usize = 1024;

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity::create(&dir.path().join("id"), "bench").unwrap();
    let mut trust = TrustStore::default();
    trust.add(identity.as_signer(SignerKind::User));
    let digest = Digest([7; 32]);
    let signed: Vec<SignedLabel> = (0..LABELS)
        .map(|i| {
            identity.sign(Label {
                v: 1,
                doc: DocId::new(),
                level: "internal".into(),
                policy: PolicyRef {
                    id: "default".into(),
                    version: 1,
                },
                owner: "bench".into(),
                dept: Some("設計部".into()),
                asset: None,
                method: Method::Manual,
                rule: None,
                origin: None,
                set_by: "bench".into(),
                set_at: 1_795_000_000 + i as i64,
                seq: 0,
                content_sha256: Some(digest),
                justification: None,
                flags: vec![],
                evidence: vec![],
            })
        })
        .collect();
    let claims: Vec<Claim<'_>> = signed
        .iter()
        .map(|signed| Claim {
            signed,
            current: Some(&digest),
        })
        .collect();

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(LABELS as u64));
    group.bench_function("ring, one at a time (label::verify)", |b| {
        b.iter(|| {
            for s in &signed {
                assert_eq!(
                    label::verify(s, &trust, Some(&digest), None).status,
                    Status::Valid
                );
            }
        })
    });
    group.bench_function("batches (label::verify_many)", |b| {
        b.iter(|| {
            let v = label::verify_many(&claims, &trust, None);
            assert!(v.iter().all(|v| v.status == Status::Valid));
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
