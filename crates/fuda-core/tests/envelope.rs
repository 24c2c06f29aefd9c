//! The envelope's promises, told as the user's story: a protected file opens for its
//! recipients and nobody else, survives no tampering, never leaves partial plaintext
//! behind, and stays a plain age file.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use fuda_core::envelope::{
    self, stream, x25519, Decryptor, Error, FileKey, Header, LabelStanza, PayloadError,
    StreamOptions,
};
use proptest::prelude::*;

const CHUNK: usize = stream::CHUNK_SIZE;
const CT_CHUNK: usize = stream::ENCRYPTED_CHUNK_SIZE;

fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn label(doc: &str, level: &str) -> LabelStanza {
    LabelStanza::new(
        doc.parse().unwrap(),
        format!("{{\"level\":\"{level}\"}}").into_bytes(),
    )
}

fn protect(
    recipients: &[x25519::Recipient],
    label: Option<&LabelStanza>,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut file = Vec::new();
    envelope::encrypt(
        recipients,
        label,
        plaintext,
        &mut file,
        &StreamOptions::default(),
    )
    .unwrap();
    file
}

fn open(file: &[u8], identity: &x25519::Identity) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    Decryptor::new(file)?.decrypt_to(identity, &mut out, &StreamOptions::default())?;
    Ok(out)
}

fn header_len(file: &[u8]) -> usize {
    Header::parse_bytes(file).unwrap().1
}

/// No file other than `keep` is left in `dir` (no temp files, no partial output).
fn assert_dir_holds_only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut keep: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    keep.sort();
    assert_eq!(names, keep);
}

#[test]
fn a_recipient_opens_the_file_and_a_stranger_does_not() {
    let service = x25519::Identity::generate();
    let recovery = x25519::Identity::generate();
    let stranger = x25519::Identity::generate();
    let plaintext = content(200_000, 1);
    let file = protect(
        &[service.to_public(), recovery.to_public()],
        Some(&label("01HZX0000000000000000000AB", "secret")),
        &plaintext,
    );
    assert_eq!(open(&file, &service).unwrap(), plaintext);
    assert_eq!(open(&file, &recovery).unwrap(), plaintext);
    assert!(matches!(
        open(&file, &stranger),
        Err(Error::NoMatchingIdentity)
    ));
}

#[test]
fn the_label_is_readable_without_any_key() {
    let recovery = x25519::Identity::generate();
    let file = protect(
        &[recovery.to_public()],
        Some(&label("01HZX0000000000000000000AB", "極秘")),
        b"drawing",
    );
    let decryptor = Decryptor::new(&file[..]).unwrap();
    let found = decryptor.header().label().unwrap();
    assert_eq!(found.doc_id().to_string(), "01HZX0000000000000000000AB");
    assert_eq!(found.body(), "{\"level\":\"極秘\"}".as_bytes());

    let summary = decryptor.header().summary();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["label"]["doc_id"], "01HZX0000000000000000000AB");
    assert_eq!(json["label"]["body_text"], "{\"level\":\"極秘\"}");
    assert_eq!(json["stanzas"][0]["tag"], "X25519");
    assert_eq!(json["stanzas"][1]["tag"], "fuda/label");
}

#[test]
fn flipping_any_header_byte_is_refused() {
    let recovery = x25519::Identity::generate();
    let plaintext = content(1000, 2);
    let file = protect(
        &[recovery.to_public()],
        Some(&label("01HZX0000000000000000000AB", "secret")),
        &plaintext,
    );
    let len = header_len(&file);
    for i in 0..len {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bad = file.clone();
            bad[i] ^= bit;
            match open(&bad, &recovery) {
                Ok(_) => panic!("header byte {i} ^ {bit:#x} went unnoticed"),
                Err(Error::Payload(e)) => {
                    panic!("header byte {i} ^ {bit:#x} reached the payload: {e}")
                }
                Err(_) => {}
            }
        }
    }
}

/// Replaces the label stanza of `file` (between "-> fuda/label" and "---") with `other`'s.
fn splice_label(file: &[u8], other: &[u8]) -> Vec<u8> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let (a0, a1) = (
        find(file, b"-> fuda/label").unwrap(),
        find(file, b"\n---").unwrap() + 1,
    );
    let (b0, b1) = (
        find(other, b"-> fuda/label").unwrap(),
        find(other, b"\n---").unwrap() + 1,
    );
    [&file[..a0], &other[b0..b1], &file[a1..]].concat()
}

#[test]
fn a_label_swapped_in_from_another_file_is_refused() {
    let recovery = x25519::Identity::generate();
    let secret = protect(
        &[recovery.to_public()],
        Some(&label("01HZX000000000000000000SEC", "secret")),
        b"the secret drawing",
    );
    let public = protect(
        &[recovery.to_public()],
        Some(&label("01HZX000000000000000000PB1", "public")),
        b"the brochure",
    );
    let relabelled = splice_label(&secret, &public);
    // The forged header parses and shows the forged label...
    let forged = Decryptor::new(&relabelled[..]).unwrap();
    assert_eq!(
        forged.header().label().unwrap().doc_id().to_string(),
        "01HZX000000000000000000PB1"
    );
    // ...but nobody opens it: the MAC no longer matches.
    assert!(matches!(
        open(&relabelled, &recovery),
        Err(Error::HeaderMac)
    ));
}

#[test]
fn a_doc_id_edited_in_place_is_refused() {
    let recovery = x25519::Identity::generate();
    let file = protect(
        &[recovery.to_public()],
        Some(&label("01HZX000000000000000000AAA", "secret")),
        b"x",
    );
    let text = file.clone();
    let at = text
        .windows(26)
        .position(|w| w == b"01HZX000000000000000000AAA")
        .unwrap();
    let mut bad = file;
    bad[at + 25] = b'B';
    assert!(matches!(open(&bad, &recovery), Err(Error::HeaderMac)));
}

/// Every way of damaging the payload fails, and `decrypt_to_path` leaves nothing behind.
#[test]
fn a_damaged_payload_never_leaves_plaintext_at_the_output_path() {
    let recovery = x25519::Identity::generate();
    let plaintext = content(3 * CHUNK + 1234, 3);
    let file = protect(&[recovery.to_public()], None, &plaintext);
    let start = header_len(&file) + stream::NONCE_SIZE;
    let chunk = |i: usize| start + i * CT_CHUNK..(start + (i + 1) * CT_CHUNK).min(file.len());

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated by one byte", file[..file.len() - 1].to_vec()),
        (
            "truncated mid-chunk",
            file[..start + CT_CHUNK + 100].to_vec(),
        ),
        ("last chunk dropped", file[..chunk(3).start].to_vec()),
        (
            "truncated at a chunk boundary",
            file[..chunk(2).start].to_vec(),
        ),
        ("payload removed", file[..start].to_vec()),
        ("nonce cut", file[..start - 3].to_vec()),
        ("one byte appended", [&file[..], &[0u8]].concat()),
        ("a chunk appended", [&file[..], &file[chunk(1)]].concat()),
        (
            "chunks reordered",
            [
                &file[..start],
                &file[chunk(1)],
                &file[chunk(0)],
                &file[chunk(2).start..],
            ]
            .concat(),
        ),
        (
            "a chunk duplicated",
            [&file[..chunk(1).end], &file[chunk(1).start..]].concat(),
        ),
    ];
    for i in [start, start + 5000, chunk(2).start + 17, file.len() - 1] {
        let mut bad = file.clone();
        bad[i] ^= 0x04;
        cases.push(("a payload byte flipped", bad));
    }

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("x.fuda"), &file).unwrap();
    for (what, bad) in &cases {
        assert!(open(bad, &recovery).is_err(), "{what}: went unnoticed");
        for opts in [StreamOptions::sequential(), StreamOptions::default()] {
            fs::write(dir.path().join("bad.fuda"), bad).unwrap();
            let result = envelope::decrypt_to_path(
                &dir.path().join("bad.fuda"),
                [&recovery as &dyn age::Identity],
                &dir.path().join("out.bin"),
                false,
                &opts,
            );
            assert!(result.is_err(), "{what}: decrypt_to_path succeeded");
            assert_dir_holds_only(dir.path(), &["x.fuda", "bad.fuda"]);
        }
    }
    // And the undamaged file lands whole.
    let n = envelope::decrypt_to_path(
        &dir.path().join("x.fuda"),
        [&recovery as &dyn age::Identity],
        &dir.path().join("out.bin"),
        false,
        &StreamOptions::default(),
    )
    .unwrap();
    assert_eq!(n as usize, plaintext.len());
    assert_eq!(fs::read(dir.path().join("out.bin")).unwrap(), plaintext);
}

#[test]
fn payload_errors_say_what_happened() {
    let recovery = x25519::Identity::generate();
    let plaintext = content(2 * CHUNK + 10, 4);
    let file = protect(&[recovery.to_public()], None, &plaintext);
    let start = header_len(&file) + stream::NONCE_SIZE;
    let err = |bytes: &[u8]| match open(bytes, &recovery) {
        Err(Error::Payload(e)) => e,
        other => panic!("expected a payload error, got {other:?}"),
    };
    assert_eq!(err(&file[..start + 2 * CT_CHUNK]), PayloadError::Truncated);
    assert_eq!(err(&file[..start]), PayloadError::NoChunks);
    assert!(matches!(
        err(&[&file[..], b"junk"].concat()),
        PayloadError::ChunkAuth { index: 2 }
    ));
    assert!(matches!(
        open(&file[..start - 1], &recovery),
        Err(Error::MissingNonce)
    ));
}

#[test]
fn recover_refuses_to_overwrite_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let recovery = x25519::Identity::generate();
    let keyfile = dir.path().join("recovery.txt");
    {
        use age::secrecy::ExposeSecret;
        let mut f = fs::File::create(&keyfile).unwrap();
        writeln!(f, "# break-glass key").unwrap();
        writeln!(f, "{}", recovery.to_string().expose_secret()).unwrap();
    }
    let src = dir.path().join("plan.xlsx");
    fs::write(&src, content(70_000, 5)).unwrap();
    let protected = dir.path().join("plan.xlsx.fuda");
    envelope::encrypt_to_path(
        &src,
        &[recovery.to_public()],
        Some(&label("01HZX0000000000000000000AB", "secret")),
        &protected,
        false,
        &StreamOptions::default(),
    )
    .unwrap();
    assert_eq!(
        envelope::inspect(&protected).unwrap().label.unwrap().doc_id,
        "01HZX0000000000000000000AB"
    );
    let out = dir.path().join("plan-recovered.xlsx");
    envelope::recover(&protected, &keyfile, &out, false).unwrap();
    assert_eq!(fs::read(&out).unwrap(), fs::read(&src).unwrap());
    assert!(matches!(
        envelope::recover(&protected, &keyfile, &out, false),
        Err(Error::OutputExists(_))
    ));
    envelope::recover(&protected, &keyfile, &out, true).unwrap();
    assert_dir_holds_only(
        dir.path(),
        &[
            "recovery.txt",
            "plan.xlsx",
            "plan.xlsx.fuda",
            "plan-recovered.xlsx",
        ],
    );
}

#[test]
fn rewrap_changes_recipients_and_leaves_the_payload_untouched() {
    let old_service = x25519::Identity::generate();
    let new_service = x25519::Identity::generate();
    let recovery = x25519::Identity::generate();
    let plaintext = content(150_000, 6);
    let the_label = label("01HZX0000000000000000000AB", "secret");
    let file = protect(&[old_service.to_public()], Some(&the_label), &plaintext);
    let key = Decryptor::new(&file[..])
        .unwrap()
        .unwrap_file_key(&old_service)
        .unwrap();

    let mut rewrapped = Vec::new();
    let header = envelope::rewrap(
        &file[..],
        &key,
        |stanzas| {
            stanzas.retain(|s| s.tag != x25519::X25519_TAG);
            stanzas.insert(0, x25519::wrap(&key, &new_service.to_public())?);
            stanzas.insert(1, x25519::wrap(&key, &recovery.to_public())?);
            Ok(())
        },
        &mut rewrapped,
    )
    .unwrap();
    assert_eq!(header.label(), Some(the_label));
    let old_len = header_len(&file);
    let new_len = header_len(&rewrapped);
    assert_eq!(
        file[old_len..],
        rewrapped[new_len..],
        "nonce and payload are byte-identical"
    );
    assert_eq!(open(&rewrapped, &new_service).unwrap(), plaintext);
    assert_eq!(open(&rewrapped, &recovery).unwrap(), plaintext);
    assert!(matches!(
        open(&rewrapped, &old_service),
        Err(Error::NoMatchingIdentity)
    ));

    // A key that does not open the header cannot rewrap it.
    let wrong = FileKey::from_bytes([1; 16]);
    let result = envelope::rewrap(&file[..], &wrong, |_| Ok(()), Vec::new());
    assert!(matches!(result, Err(Error::HeaderMac)));
}

#[test]
fn the_plaintext_reader_seeks() {
    let recovery = x25519::Identity::generate();
    let plaintext = content(5 * CHUNK + 333, 7);
    let file = protect(&[recovery.to_public()], None, &plaintext);
    for opts in [
        StreamOptions::sequential(),
        StreamOptions {
            threads: 0,
            batch_chunks: 2,
        },
    ] {
        let decryptor = Decryptor::new(std::io::Cursor::new(&file)).unwrap();
        let key = decryptor.unwrap_file_key(&recovery).unwrap();
        let mut reader = decryptor.into_reader(&key, &opts).unwrap();
        let mut first = [0u8; 10];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(first, plaintext[..10]);
        assert_eq!(reader.plaintext_len().unwrap(), plaintext.len() as u64);
        for &pos in &[
            0usize,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 5,
            plaintext.len() - 1,
        ] {
            reader.seek(SeekFrom::Start(pos as u64)).unwrap();
            let mut buf = vec![0u8; 3000];
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0);
            assert_eq!(buf[..n], plaintext[pos..pos + n], "at {pos}");
        }
        assert_eq!(
            reader.seek(SeekFrom::End(-5)).unwrap(),
            plaintext.len() as u64 - 5
        );
        let mut tail = Vec::new();
        reader.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, plaintext[plaintext.len() - 5..]);
        assert_eq!(
            reader.seek(SeekFrom::Current(-(CHUNK as i64))).unwrap(),
            (plaintext.len() - CHUNK) as u64
        );
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, plaintext[plaintext.len() - CHUNK..]);
    }
    // A file truncated at a chunk boundary cannot pass off a shorter length.
    let start = header_len(&file) + stream::NONCE_SIZE;
    let cut = file[..start + 3 * CT_CHUNK].to_vec();
    let decryptor = Decryptor::new(std::io::Cursor::new(cut)).unwrap();
    let key = decryptor.unwrap_file_key(&recovery).unwrap();
    let mut reader = decryptor
        .into_reader(&key, &StreamOptions::default())
        .unwrap();
    assert!(reader.seek(SeekFrom::Start(10)).is_err());
}

#[test]
fn hostile_headers_are_refused_without_big_allocations() {
    // One endless stanza line.
    let mut endless = b"age-encryption.org/v1\n-> X25519 ".to_vec();
    endless.extend(std::iter::repeat_n(b'A', 4 << 20));
    assert!(matches!(
        Header::parse_bytes(&endless),
        Err(Error::HeaderTooLarge { .. })
    ));
    // Too many stanzas.
    let mut many = b"age-encryption.org/v1\n".to_vec();
    for _ in 0..2000 {
        many.extend_from_slice(b"-> a\n\n");
    }
    many.extend_from_slice(b"--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    assert!(matches!(
        Header::parse_bytes(&many),
        Err(Error::HeaderTooLarge { .. })
    ));
    // Two label stanzas.
    let two = b"age-encryption.org/v1\n-> fuda/label a\n\n-> fuda/label b\n\n--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    assert!(matches!(Header::parse_bytes(two), Err(Error::Header(_))));
    // Not an age file at all.
    assert!(matches!(
        Header::parse_bytes(b"PK\x03\x04"),
        Err(Error::Header(_))
    ));
    assert!(matches!(
        Header::parse_bytes(b"age-encryption.org/v2\n"),
        Err(Error::UnsupportedVersion(_))
    ));
}

#[test]
fn we_read_what_the_age_crate_writes_and_it_reads_what_we_write() {
    let identity = x25519::Identity::generate();
    let recipient = identity.to_public();
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 4 * CHUNK, 300_001] {
        let plaintext = content(len, len as u64);
        // age crate → fuda
        let mut theirs = Vec::new();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut w = enc.wrap_output(&mut theirs).unwrap();
        w.write_all(&plaintext).unwrap();
        w.finish().unwrap();
        assert_eq!(open(&theirs, &identity).unwrap(), plaintext, "len {len}");

        // fuda (with a label stanza) → age crate
        let ours = protect(
            std::slice::from_ref(&recipient),
            Some(&label("01HZX0000000000000000000AB", "x")),
            &plaintext,
        );
        let dec = age::Decryptor::new(&ours[..]).unwrap();
        let mut r = dec
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, plaintext, "len {len}");
    }
}

#[test]
fn a_small_message_sealed_in_memory_is_a_plain_age_file_both_ways() {
    let identity = x25519::Identity::generate();
    let recipient = identity.to_public();
    for len in [0, 16, CHUNK, CHUNK + 1, 3 * CHUNK] {
        let message = content(len, len as u64 + 7);
        // fuda → age crate
        let ours = envelope::encrypt_bytes(std::slice::from_ref(&recipient), &message).unwrap();
        let dec = age::Decryptor::new(&ours[..]).unwrap();
        let mut back = Vec::new();
        dec.decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, message, "len {len}");
        // fuda → fuda
        let opened = envelope::decrypt_bytes(&ours, [&identity as &dyn age::Identity]).unwrap();
        assert_eq!(&opened[..], &message[..], "len {len}");
        // age crate → fuda
        let mut theirs = Vec::new();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut w = enc.wrap_output(&mut theirs).unwrap();
        w.write_all(&message).unwrap();
        w.finish().unwrap();
        let opened = envelope::decrypt_bytes(&theirs, [&identity as &dyn age::Identity]).unwrap();
        assert_eq!(&opened[..], &message[..], "len {len}");
    }
}

#[test]
fn a_small_message_opens_all_or_nothing_with_the_same_errors_as_a_file() {
    let identity = x25519::Identity::generate();
    let stranger = x25519::Identity::generate();
    let message = content(2 * CHUNK + 10, 9);
    let file = envelope::encrypt_bytes(&[identity.to_public()], &message).unwrap();
    let start = header_len(&file) + stream::NONCE_SIZE;
    let open_bytes = |bytes: &[u8], who: &x25519::Identity| {
        envelope::decrypt_bytes(bytes, [who as &dyn age::Identity]).map(|p| p.to_vec())
    };
    assert!(matches!(
        open_bytes(&file, &stranger),
        Err(Error::NoMatchingIdentity)
    ));
    let mut flipped = file.clone();
    flipped[start + CT_CHUNK + 3] ^= 1;
    let damaged: [&[u8]; 5] = [
        &file[..start + 2 * CT_CHUNK],
        &file[..start],
        &[&file[..], b"junk"].concat(),
        &file[..start - 1],
        &flipped,
    ];
    for bytes in damaged {
        // The in-memory path fails exactly where the file path fails…
        let as_file = format!("{:?}", open(bytes, &identity).unwrap_err());
        let in_memory = format!("{:?}", open_bytes(bytes, &identity).unwrap_err());
        assert_eq!(in_memory, as_file);
    }
    // …and a stanza added to the header after sealing fails the header MAC.
    let version_line = b"age-encryption.org/v1\n".len();
    let edited = [
        &file[..version_line],
        b"-> grease\n\n",
        &file[version_line..],
    ]
    .concat();
    assert!(matches!(
        open_bytes(&edited, &identity),
        Err(Error::HeaderMac)
    ));
}

fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(CHUNK - 1),
        Just(CHUNK),
        Just(CHUNK + 1),
        Just(2 * CHUNK),
        Just(7 * CHUNK + 3),
        0usize..600_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_any_size(len in sizes(), seed in any::<u64>(), threads in 0usize..4, batch in 1usize..6) {
        let identity = x25519::Identity::generate();
        let plaintext = content(len, seed);
        let opts = StreamOptions { threads, batch_chunks: batch };
        let mut file = Vec::new();
        envelope::encrypt(&[identity.to_public()], None, &plaintext[..], &mut file, &opts).unwrap();
        prop_assert_eq!(
            file.len() - header_len(&file),
            16 + len + 16 * len.div_ceil(CHUNK).max(1)
        );
        let mut out = Vec::new();
        Decryptor::new(&file[..]).unwrap().decrypt_to(&identity, &mut out, &opts).unwrap();
        prop_assert_eq!(&out, &plaintext);
        let mut pulled = Vec::new();
        Decryptor::new(&file[..]).unwrap().unwrap_with(&identity).unwrap().read_to_end(&mut pulled).unwrap();
        prop_assert_eq!(&pulled, &plaintext);
    }

    #[test]
    fn parallel_and_sequential_write_identical_bytes(len in sizes(), seed in any::<u64>(), batch in 1usize..6) {
        let key = FileKey::from_bytes([seed as u8; 16]);
        let nonce = [(seed >> 8) as u8; 16];
        let plaintext = content(len, seed);
        let mut seq = Vec::new();
        stream::encrypt_payload(&key, &nonce, &plaintext[..], &mut seq, &StreamOptions::sequential()).unwrap();
        for threads in [0usize, 2, 3] {
            let mut par = Vec::new();
            let opts = StreamOptions { threads, batch_chunks: batch };
            stream::encrypt_payload(&key, &nonce, &plaintext[..], &mut par, &opts).unwrap();
            prop_assert!(par == seq, "threads {} batch {}", threads, batch);
            let mut back = Vec::new();
            stream::decrypt_payload(&key, &nonce, &par[..], &mut back, &opts).unwrap();
            prop_assert!(back == plaintext);
        }
    }

    #[test]
    fn header_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Header::parse_bytes(&bytes);
        let mut prefixed = b"age-encryption.org/v1\n-> ".to_vec();
        prefixed.extend_from_slice(&bytes);
        if let Ok((header, len)) = Header::parse_bytes(&prefixed) {
            prop_assert_eq!(header.to_bytes(), &prefixed[..len]);
        }
    }
}

/// Writes the checked-in fuzz seeds (`fuzz/seeds/{header_parse,decrypt}`):
/// `cargo test -p fuda-core --test envelope write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/seeds; run by hand when the format changes"]
fn write_fuzz_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let (headers, decrypt) = (root.join("header_parse"), root.join("decrypt"));
    fs::create_dir_all(&headers).unwrap();
    fs::create_dir_all(&decrypt).unwrap();
    // The fuzz target's throwaway identity.
    let identity: x25519::Identity =
        "AGE-SECRET-KEY-17T6C5CEUPULPUKG8ZZD3QZPSXTL5MZMVJPPH8TCWD4CHUYH89ZKSGUAKFR"
            .parse()
            .unwrap();
    let key = FileKey::from_bytes([0x42; 16]);
    let nonce = [0x24; 16];
    for (i, len) in [0usize, 1, 100, CHUNK, CHUNK + 1, 2 * CHUNK + 5]
        .into_iter()
        .enumerate()
    {
        let plaintext = content(len, i as u64);
        let file = protect(
            &[identity.to_public()],
            Some(&label("01HZX0000000000000000000AB", "secret")),
            &plaintext,
        );
        fs::write(
            headers.join(format!("fuda-{len}")),
            &file[..header_len(&file)],
        )
        .unwrap();
        fs::write(
            decrypt.join(format!("file-{len}")),
            [&[0u8][..], &file].concat(),
        )
        .unwrap();
        let mut payload = vec![0x81u8];
        stream::encrypt_payload(
            &key,
            &nonce,
            &plaintext[..],
            &mut payload,
            &StreamOptions::sequential(),
        )
        .unwrap();
        fs::write(decrypt.join(format!("payload-{len}")), payload).unwrap();
    }
}

#[test]
fn protected_names_add_and_drop_the_fuda_extension() {
    let p = Path::new("/srv/share/図面 A.dwg");
    let protected = envelope::protected_path(p);
    assert_eq!(protected, Path::new("/srv/share/図面 A.dwg.fuda"));
    assert_eq!(envelope::plaintext_path(&protected).unwrap(), p);
    assert_eq!(envelope::plaintext_path(Path::new("x.age")), None);
    assert_eq!(envelope::plaintext_path(Path::new(".fuda")), None);
}
