//! A tiny front end to the envelope, for benchmarks and manual interop checks.
//!
//! ```text
//! envelope_tool encrypt [-j THREADS] -r age1… INPUT OUTPUT
//! envelope_tool decrypt [-j THREADS] -i KEYFILE INPUT OUTPUT
//! envelope_tool inspect INPUT
//! ```
//!
//! `-j 0` (default) uses every core, `-j 1` runs single-threaded. OUTPUT is opened and
//! truncated as given (`/dev/null` works), not written atomically.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;

use fuda_core::envelope::{self, x25519, Decryptor, StreamOptions};

fn run(args: &[String]) -> Result<(), String> {
    let mut opts = StreamOptions::default();
    let mut recipients = Vec::new();
    let mut identity = None;
    let mut rest = Vec::new();
    let mut it = args.iter().skip(1);
    let cmd = it
        .next()
        .ok_or("usage: envelope_tool encrypt|decrypt|inspect …")?;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-j" => opts.threads = it.next().and_then(|v| v.parse().ok()).ok_or("-j N")?,
            "-b" => opts.batch_chunks = it.next().and_then(|v| v.parse().ok()).ok_or("-b N")?,
            "-r" => recipients.push(
                it.next()
                    .ok_or("-r age1…")?
                    .parse::<x25519::Recipient>()
                    .map_err(|e| e.to_string())?,
            ),
            "-i" => identity = Some(it.next().ok_or("-i KEYFILE")?.clone()),
            _ => rest.push(a.clone()),
        }
    }
    match (cmd.as_str(), rest.as_slice()) {
        ("encrypt", [input, output]) => {
            let input = File::open(input).map_err(|e| format!("{input}: {e}"))?;
            let output = File::create(output).map_err(|e| format!("{output}: {e}"))?;
            envelope::encrypt(
                &recipients,
                None,
                input,
                BufWriter::with_capacity(1 << 20, output),
                &opts,
            )
            .map_err(|e| e.to_string())?;
            Ok(())
        }
        ("decrypt", [input, output]) => {
            let identities =
                x25519::read_identity_file(Path::new(identity.as_deref().ok_or("-i KEYFILE")?))
                    .map_err(|e| e.to_string())?;
            let input = File::open(input).map_err(|e| format!("{input}: {e}"))?;
            let output = File::create(output).map_err(|e| format!("{output}: {e}"))?;
            let decryptor = Decryptor::new(input).map_err(|e| e.to_string())?;
            let key = decryptor
                .unwrap_file_key_any(identities.iter().map(|i| i.as_ref()))
                .map_err(|e| e.to_string())?;
            decryptor
                .decrypt_with_key(&key, BufWriter::with_capacity(1 << 20, output), &opts)
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        ("inspect", [input]) => {
            let file = File::open(input).map_err(|e| format!("{input}: {e}"))?;
            let decryptor = Decryptor::new(BufReader::new(file)).map_err(|e| e.to_string())?;
            println!("{:#?}", decryptor.header().summary());
            Ok(())
        }
        _ => Err("usage: envelope_tool encrypt|decrypt|inspect …".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("envelope_tool: {e}");
            ExitCode::FAILURE
        }
    }
}
