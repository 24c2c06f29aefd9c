//! Decryption of arbitrary bytes, two ways:
//! - as a whole file, with a fixed X25519 identity (header, stanza unwrap, MAC);
//! - as a STREAM payload under a fixed file key and nonce, so that the fuzzer can reach
//!   chunk handling with authentic chunks from the seed corpus (`fuzz/seeds/decrypt`,
//!   written by `cargo test -p fuda-core --test envelope write_fuzz_seeds -- --ignored`).
//!
//! Never panics; never releases more plaintext than the payload holds.
#![no_main]

use std::io::{Cursor, Read, Seek, SeekFrom};

use fuda_core::envelope::{stream, Decryptor, FileKey, StreamOptions};
use libfuzzer_sys::fuzz_target;

// A throwaway key for fuzzing only (public key age1hg4tnzz7exyvhlkd0garvlsfa7etl5ggptfa2ths7m5925keh4ssfj936p).
const IDENTITY: &str = "AGE-SECRET-KEY-17T6C5CEUPULPUKG8ZZD3QZPSXTL5MZMVJPPH8TCWD4CHUYH89ZKSGUAKFR";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let opts = if mode & 1 == 0 {
        StreamOptions::sequential()
    } else {
        StreamOptions { threads: 2, batch_chunks: 1 + (mode as usize >> 1) % 4 }
    };
    if mode & 0x80 == 0 {
        let identity: age::x25519::Identity = IDENTITY.parse().unwrap();
        if let Ok(d) = Decryptor::new(rest) {
            let mut out = Vec::new();
            let _ = d.decrypt_to(&identity, &mut out, &opts);
            assert!(out.len() <= rest.len());
        }
    } else {
        let key = FileKey::from_bytes([0x42; 16]);
        let nonce = [0x24; 16];
        let mut out = Vec::new();
        let complete = stream::decrypt_payload(&key, &nonce, rest, &mut out, &opts).is_ok();
        assert!(out.len() <= rest.len());
        let mut reader = stream::PayloadReader::new(&key, &nonce, Cursor::new(rest), &opts);
        let mut pulled = Vec::new();
        let _ = reader.read_to_end(&mut pulled);
        assert_eq!(pulled.len(), out.len());
        // Random access authenticates only the chunks it reads (and the final one), so
        // compare with the whole-payload result only when that succeeded.
        if let (true, Ok(len)) = (complete, reader.plaintext_len()) {
            assert_eq!(len as usize, out.len());
            let at = (mode as u64 * 7919) % (len + 1);
            if reader.seek(SeekFrom::Start(at)).is_ok() {
                let mut tail = Vec::new();
                if reader.read_to_end(&mut tail).is_ok() {
                    assert_eq!(&tail[..], &out[at as usize..]);
                }
            }
        }
    }
});
