//! In-process envelope throughput: STREAM encryption and decryption of 64 MiB in memory,
//! single-threaded (`threads: 1`) against every core (`threads: 0`).
//!
//! Baseline: the `age` crate (what `rage` is built on) on the same input. The CLI
//! comparison against Go `age` and `rage` on a 1 GiB file is `benches/envelope_vs_age.sh`.

use std::io::{Read, Write};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fuda_core::envelope::{self, stream, x25519, Decryptor, FileKey, StreamOptions};

const SIZE: usize = 64 << 20;

fn bench(c: &mut Criterion) {
    let plaintext: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let identity = x25519::Identity::generate();
    let recipient = identity.to_public();
    let key = FileKey::from_bytes([7; 16]);
    let nonce = [9; 16];

    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);
    for (name, opts) in [
        ("1-thread", StreamOptions::sequential()),
        ("all-cores", StreamOptions::default()),
    ] {
        let mut out = Vec::with_capacity(SIZE + SIZE / 1000 + 4096);
        group.bench_function(format!("encrypt/{name}"), |b| {
            b.iter(|| {
                out.clear();
                stream::encrypt_payload(&key, &nonce, &plaintext[..], &mut out, &opts).unwrap()
            })
        });
        let mut file = Vec::new();
        envelope::encrypt(
            std::slice::from_ref(&recipient),
            None,
            &plaintext[..],
            &mut file,
            &opts,
        )
        .unwrap();
        let mut back = Vec::with_capacity(SIZE);
        group.bench_function(format!("decrypt/{name}"), |b| {
            b.iter(|| {
                back.clear();
                Decryptor::new(&file[..])
                    .unwrap()
                    .decrypt_to(&identity, &mut back, &opts)
                    .unwrap()
            })
        });
    }

    // Reference: the age crate.
    group.bench_function("encrypt/age-crate", |b| {
        let mut out = Vec::with_capacity(SIZE + SIZE / 1000 + 4096);
        b.iter(|| {
            out.clear();
            let enc =
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .unwrap();
            let mut w = enc.wrap_output(&mut out).unwrap();
            w.write_all(&plaintext).unwrap();
            w.finish().unwrap();
        })
    });
    let mut file = Vec::new();
    envelope::encrypt(
        std::slice::from_ref(&recipient),
        None,
        &plaintext[..],
        &mut file,
        &StreamOptions::default(),
    )
    .unwrap();
    group.bench_function("decrypt/age-crate", |b| {
        let mut back = Vec::with_capacity(SIZE);
        b.iter(|| {
            back.clear();
            let dec = age::Decryptor::new(&file[..]).unwrap();
            let mut r = dec
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .unwrap();
            r.read_to_end(&mut back).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
