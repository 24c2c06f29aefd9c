//! Extraction from real files built here: Office packages, PDF, and zip bombs.

use std::io::Write;
use std::path::Path;

use fuda_classify::extract::{extract, DocKind, ExtractError, Limits};
use fuda_classify::rules::Classifier;
use fuda_core::policy::Policy;

fn zip_file(path: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        z.start_file(
            *name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(bytes.len() > 1 << 30),
        )
        .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn a_zip_bomb_is_refused_with_a_clear_message_and_still_classified_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("極秘-bomb.docx");
    let zeros = vec![b' '; 64 << 20];
    zip_file(
        &bomb,
        &[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", &zeros),
        ],
    );
    assert!(std::fs::metadata(&bomb).unwrap().len() < 200_000);
    let err = extract(&bomb, &Limits::default()).unwrap_err();
    assert!(matches!(err, ExtractError::ZipBomb { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("word/document.xml") && msg.contains("zip bomb"),
        "{msg}"
    );

    // The classifier reports the problem and still reads the name: 極秘 in it.
    let policy = Policy::builtin("default").unwrap();
    let c = Classifier::new(&policy)
        .unwrap()
        .classify_file(&bomb)
        .unwrap();
    assert!(c.problem.as_deref().unwrap().contains("zip bomb"));
    assert_eq!(
        c.classification.level.as_deref(),
        Some("strictly-confidential")
    );
}

#[test]
fn a_total_budget_bounds_many_small_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.xlsx");
    let part = vec![b'a'; 900 << 10];
    let names: Vec<String> = (0..8)
        .map(|i| format!("xl/worksheets/sheet{i}.xml"))
        .collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &part[..])).collect();
    zip_file(&path, &entries);
    let limits = Limits {
        max_unpacked: 4 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        extract(&path, &limits),
        Err(ExtractError::ZipBomb { .. })
    ));
}

#[test]
fn spreadsheet_cells_and_slides_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("staff.xlsx");
    // My Numbers typed into Excel become numeric cells (<v>), the header a shared string.
    let shared = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>氏名</t></si><si><t>個人番号</t></si></sst>"#;
    let sheet = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row><row><c t="inlineStr"><is><t>山田</t></is></c><c><v>123456789018</v></c></row></sheetData></worksheet>"#;
    zip_file(
        &xlsx,
        &[
            ("xl/sharedStrings.xml", shared.as_bytes()),
            ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ],
    );
    let x = extract(&xlsx, &Limits::default()).unwrap();
    assert_eq!(x.kind, DocKind::Xlsx);
    assert!(
        x.text.contains("個人番号") && x.text.contains("123456789018"),
        "{}",
        x.text
    );
    assert!(
        !x.text.contains("\t0\t"),
        "shared-string indices are not text: {}",
        x.text
    );

    let pptx = dir.path().join("deck.pptx");
    let slide = r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>関係者外秘</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#;
    zip_file(&pptx, &[("ppt/slides/slide1.xml", slide.as_bytes())]);
    let x = extract(&pptx, &Limits::default()).unwrap();
    assert!(x.text.contains("関係者外秘"), "{}", x.text);
}

#[test]
fn pdf_text_is_read() {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 24.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new(
                "Tj",
                vec![Object::string_literal("Strictly Confidential drawing list")],
            ),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.pdf");
    doc.save(&path).unwrap();

    let x = extract(&path, &Limits::default()).unwrap();
    assert_eq!(x.kind, DocKind::Pdf);
    assert!(x.text.contains("Strictly Confidential"), "{:?}", x.text);

    // A broken PDF has no text, and says so.
    let broken = dir.path().join("broken.pdf");
    std::fs::write(&broken, b"%PDF-1.7\nnot a pdf").unwrap();
    let x = extract(&broken, &Limits::default()).unwrap();
    assert!(x.note.unwrap().contains("not readable"));
}

#[test]
fn big_and_binary_files_cost_a_bounded_read() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("huge.log");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(2 << 30).unwrap();
    let x = extract(&sparse, &Limits::default()).unwrap();
    assert_eq!(x.kind, DocKind::Binary, "NUL bytes: binary");
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "極秘\n".repeat(3 << 20)).unwrap();
    let x = extract(
        &big,
        &Limits {
            max_text_bytes: 1 << 20,
            ..Limits::default()
        },
    )
    .unwrap();
    assert!(x.truncated && x.text.len() <= 1 << 20);
}
