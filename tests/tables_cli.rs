//! What people read: one file or document is always one line, whatever its name holds.

mod common;

use common::{write, User};

#[test]
fn a_document_with_a_newline_in_its_name_is_one_row_of_the_admin_table() {
    let tanaka = User::init("tanaka");
    let work = common::workdir();
    let dir = work.path();
    write(&dir.join("見積\nforged row.txt"), "quote");
    tanaka
        .fuda_in(dir, &["protect", "--level", "秘", "見積\nforged row.txt"])
        .expect(0);

    let run = tanaka.fuda_in(dir, &["admin", "documents"]).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row:\n{}", run.stdout);
    assert!(lines[1].contains(r"見積\nforged row.txt"), "{}", run.stdout);

    let inspect = tanaka
        .fuda_in(dir, &["inspect", "見積\nforged row.txt.fuda"])
        .expect(0);
    assert!(
        inspect
            .stdout
            .starts_with("見積\\nforged row.txt.fuda: age v1 protected file\n"),
        "{}",
        inspect.stdout
    );
}
