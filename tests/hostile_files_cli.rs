//! End-to-end: files crafted to hurt whoever opens, labels or classifies them are refused
//! with an error that names the file, and nothing on disk changes.

mod common;

use std::io::{Cursor, Write};

use common::{p, write, User};

/// The `fuda/label` line of a protected file's header with its document id replaced by
/// `doc` (the header MAC no longer matches, which only the key service can tell).
fn with_doc_id(protected: &[u8], doc: &str) -> Vec<u8> {
    let (header, len) = fuda_core::envelope::Header::parse_bytes(protected).unwrap();
    let real = header.label().unwrap().doc_id().to_string();
    let text = String::from_utf8(protected[..len].to_vec()).unwrap();
    let line = format!("-> fuda/label {real}\n");
    assert!(text.contains(&line), "{text}");
    let mut out = text
        .replace(&line, &format!("-> fuda/label {doc}\n"))
        .into_bytes();
    out.extend_from_slice(&protected[len..]);
    out
}

#[test]
fn a_protected_file_whose_document_id_is_a_path_cannot_touch_the_users_files() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let drawing = dir.path().join("assy.dwg");
    write(&drawing, "assembly drawing");
    tanaka
        .fuda(&["protect", "--level", "秘", p(&drawing)])
        .expect(0);
    let protected = std::fs::read(fuda_core::envelope::protected_path(&drawing)).unwrap();

    // Offline licences live in ~/.cache/fuda/licences/<doc>.json: "../../victim" would
    // name ~/.cache/victim.json, an absolute id any file ending in .json.
    let relative_victim = tanaka.home.path().join(".cache/victim.json");
    let absolute_victim = dir.path().join("victim.json");
    let absolute_id = dir.path().join("victim");
    for (doc, victim) in [
        ("../../victim", &relative_victim),
        (p(&absolute_id), &absolute_victim),
    ] {
        write(victim, "{\"precious\": true}");
        let crafted = dir.path().join("crafted.dwg.fuda");
        std::fs::write(&crafted, with_doc_id(&protected, doc)).unwrap();
        for command in ["open", "inspect"] {
            let run = tanaka.fuda(&[command, p(&crafted)]);
            assert_eq!(
                std::fs::read_to_string(victim).ok().as_deref(),
                Some("{\"precious\": true}"),
                "fuda {command} with doc id {doc:?} touched {}",
                victim.display()
            );
            let run = run.expect(2);
            assert!(
                run.stderr.contains("crafted.dwg.fuda") && run.stderr.contains("not a document id"),
                "fuda {command} with doc id {doc:?}:\n{}",
                run.stderr
            );
        }
    }
}

/// A Word document whose `word/document.xml` is `body`, plus `extra` parts.
fn docx(body: &str, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let parts = [
        ("[Content_Types].xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>".as_bytes().to_vec()),
        ("_rels/.rels", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>".as_bytes().to_vec()),
        ("word/document.xml", body.as_bytes().to_vec()),
    ];
    for (name, bytes) in parts.iter().chain(extra) {
        z.start_file(
            *name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn word_body(text: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>")
}

/// `n` attributes ` a0="1" a1="1" …` for one element.
fn attributes(n: usize) -> String {
    (0..n).map(|i| format!(" a{i}=\"1\"")).collect()
}

#[test]
fn an_element_with_eighty_thousand_attributes_is_refused_with_a_clear_error() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let custom = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties\" xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"><property fmtid=\"{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}\" pid=\"2\" name=\"x\"{}><vt:lpwstr>y</vt:lpwstr></property></Properties>",
        // On the property element, whose name and pid attributes are looked up.
        attributes(80_000)
    );
    let props = dir.path().join("props.docx");
    let bytes = docx(
        &word_body("hello"),
        &[("docProps/custom.xml", custom.into_bytes())],
    );
    write(&props, &bytes);
    for command in [&["label", "show"][..], &["label", "check"]] {
        let run = tanaka.fuda(&[command, &[p(&props)]].concat()).expect(2);
        assert!(
            run.stderr.contains("props.docx")
                && run.stderr.contains(
                    "docProps/custom.xml: an element has more than 1024 attributes: the document is malformed or hostile"
                ),
            "fuda {command:?}:\n{}",
            run.stderr
        );
    }
    let run = tanaka.fuda(&["label", "set", "秘", p(&props)]).expect(2);
    assert!(
        run.stderr.contains("more than 1024 attributes"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&props).unwrap(), bytes);

    // The classifier reads the body: the same bound there.
    let body = dir.path().join("body.docx");
    write(
        &body,
        docx(
            &word_body(&format!("極秘<w:x{}/>", attributes(80_000))),
            &[],
        ),
    );
    let run = tanaka.fuda(&["classify", p(&body)]);
    assert!(
        run.stderr.contains("body.docx")
            && run
                .stderr
                .contains("word/document.xml: an element has more than 1024 attributes"),
        "{}",
        run.stderr
    );
}

/// CRC-32 of `data`.
fn crc32(data: &[u8]) -> u32 {
    let mut h = flate2::Crc::new();
    h.update(data);
    h.sum()
}

/// A docx written by hand whose central directory points `aliases` entries
/// (`word/header1.xml` …) at the local header of one deflated stream of `zeros` zeros.
fn aliased_docx(aliases: usize, zeros: usize) -> Vec<u8> {
    let plain = [
        ("[Content_Types].xml", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/></Types>".to_vec()),
        ("_rels/.rels", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>".to_vec()),
        ("word/document.xml", word_body("hello").into_bytes()),
    ];
    // (name, method, crc, compressed, size, local header offset)
    let mut central: Vec<(String, u16, u32, u32, u32, u32)> = Vec::new();
    let mut out = Vec::new();
    let mut local =
        |out: &mut Vec<u8>, name: &str, method: u16, data: &[u8], crc: u32, size: u32| {
            let offset = out.len() as u32;
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&0u16.to_le_bytes()); // flags
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]); // 1980-01-01 00:00
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra length
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.push((
                name.to_owned(),
                method,
                crc,
                data.len() as u32,
                size,
                offset,
            ));
        };
    for (name, data) in &plain {
        local(&mut out, name, 0, data, crc32(data), data.len() as u32);
    }
    let zeros_bytes = vec![0u8; zeros];
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&zeros_bytes).unwrap();
    let stream = deflate.finish().unwrap();
    local(
        &mut out,
        "word/header1.xml",
        8,
        &stream,
        crc32(&zeros_bytes),
        zeros as u32,
    );
    let (_, method, crc, compressed, size, offset) = central.last().cloned().unwrap();
    for i in 2..=aliases {
        central.push((
            format!("word/header{i}.xml"),
            method,
            crc,
            compressed,
            size,
            offset,
        ));
    }
    let cd_start = out.len() as u32;
    for (name, method, crc, compressed, size, offset) in &central {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&0x0314u16.to_le_bytes()); // made by: Unix, 2.0
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&compressed.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        out.extend_from_slice(&0o100644u32.wrapping_shl(16).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(central.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn a_docx_whose_entries_alias_one_stream_is_refused_and_left_unchanged() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    // 3000 entries, each naming the same 1 MiB of zeros (just under the ratio exemption):
    // 3 GiB to inflate and hash for a file of about 200 KB.
    let bytes = aliased_docx(3000, (1 << 20) - 1);
    assert!(bytes.len() < 300 << 10, "{} bytes", bytes.len());
    let bomb = dir.path().join("aliased.docx");
    write(&bomb, &bytes);
    let refused = |run: &common::Run| {
        run.stderr.contains("aliased.docx") && run.stderr.contains("share the same bytes")
    };

    let run = tanaka.fuda(&["label", "set", "秘", p(&bomb)]).expect(2);
    assert!(refused(&run), "label set:\n{}", run.stderr);
    assert_eq!(std::fs::read(&bomb).unwrap(), bytes, "label set changed it");

    let run = tanaka.fuda(&["label", "check", p(&bomb)]).expect(2);
    assert!(refused(&run), "label check:\n{}", run.stderr);

    let run = tanaka.fuda(&["classify", p(&bomb)]);
    assert!(refused(&run), "classify:\n{}", run.stderr);
    assert_eq!(std::fs::read(&bomb).unwrap(), bytes);
}

#[test]
fn a_cp932_text_with_one_stray_nul_is_still_classified_by_its_marking() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let (cp932, _, _) =
        encoding_rs::SHIFT_JIS.encode("①髙橋様\r\n本資料は極秘です。取扱注意。\r\n");
    let mut text = cp932.into_owned();
    // A NUL between the greeting and the marking (as an old tool's padding leaves one).
    let line_end = text.iter().position(|&b| b == b'\n').unwrap();
    text.insert(line_end + 1, 0);
    let memo = dir.path().join("連絡.txt");
    write(&memo, &text);
    let run = tanaka.fuda(&["classify", "--json", p(&memo)]).expect(0);
    let c = run.json_lines().remove(0);
    assert_eq!(c["level"], "strictly-confidential", "{c}");
    assert_eq!(c["extracted"]["kind"], "text", "{c}");
    assert_eq!(c["extracted"]["encoding"], "Shift_JIS", "{c}");
}

#[test]
fn the_key_service_answers_a_malformed_document_id_with_a_400() {
    let keyd = common::keyd::Keyd::start();
    let work = common::workdir();
    let (policy, _) = common::keyd::policy_with_recovery(work.path());
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), &policy);
    let token = std::fs::read_to_string(admin.home.path().join(".config/fuda/keyd.token"))
        .unwrap()
        .trim()
        .to_owned();
    let api = keyd.api();
    for doc in ["../../victim", "/etc/passwd", "01HZX0000000000000000000A"] {
        for (path, body) in [
            ("/v1/document", serde_json::json!({ "doc": doc })),
            (
                "/v1/grant",
                serde_json::json!({ "doc": doc, "grant": { "principal": "user:admin", "rights": "view" } }),
            ),
            (
                "/v1/ungrant",
                serde_json::json!({ "doc": doc, "principal": "user:admin" }),
            ),
            ("/v1/admin/revoke", serde_json::json!({ "doc": doc })),
            ("/v1/admin/unrevoke", serde_json::json!({ "doc": doc })),
        ] {
            let (status, answer) = api.json("POST", path, &token, &body);
            assert_eq!(status, 400, "{path} with {doc:?}: {answer}");
            assert!(
                answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("is not a document id")),
                "{path} with {doc:?}: {answer}"
            );
        }
    }
    // The CLI refuses one before asking.
    let run = admin
        .fuda(&["admin", "revoke", "--doc", "../../victim"])
        .expect(2);
    assert!(run.stderr.contains("--doc"), "{}", run.stderr);
}
