//! End-to-end: the ledger `fuda inventory` writes is itself a confidential document — it
//! lists where the confidential files are — so it is written labeled, and the next
//! inventory of the same folder neither lists it as an unlabeled file nor lists the
//! ledger being replaced.

mod common;

use common::{p, write, User};

#[test]
fn the_ledger_is_labeled_at_the_highest_level_it_lists_and_never_lists_itself() {
    let admin = User::init("admin");
    let share = common::workdir();
    let root = share.path();
    let plan = root.join("設計").join("plan.txt");
    write(&plan, "来期の計画");
    admin.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    let menu = root.join("menu.txt");
    write(&menu, "昼食の案内");
    admin
        .fuda(&[
            "label",
            "set",
            "公開",
            p(&menu),
            "--justify",
            "on the notice board",
        ])
        .expect(0);

    // The ledger goes into the folder it lists, twice (a daily timer does that).
    let ledger = root.join("inventory.xlsx");
    for run in 0..2 {
        let out = admin.fuda(&["inventory", p(root), "--out", p(&ledger), "--json"]);
        let summary = out.json_lines().pop().unwrap();
        assert_eq!(summary["files"], 2, "run {run}: {summary}");
        assert_eq!(summary["missing"], 0, "run {run}: {summary}");
        let shown = admin.show(&ledger);
        assert_eq!(
            (
                shown["level"].as_str(),
                shown["status"].as_str(),
                shown["store"].as_str()
            ),
            (Some("strictly-confidential"), Some("valid"), Some("ooxml")),
            "run {run}: {shown}"
        );
        assert_eq!(shown["rule"], "fuda-inventory", "{shown}");
    }

    // A ledger of 公開 files only is still at least 秘, every CSV sheet of it.
    let public = common::workdir();
    let flyer = public.path().join("flyer.txt");
    write(&flyer, "新製品のご案内");
    admin
        .fuda(&["label", "set", "公開", p(&flyer), "--justify", "published"])
        .expect(0);
    let csv = public.path().join("ledger.csv");
    let out = admin
        .fuda(&[
            "inventory",
            p(public.path()),
            "--format",
            "csv",
            "--out",
            p(&csv),
            "--json",
        ])
        .expect(0);
    let summary = out.json_lines().pop().unwrap();
    let written = summary["written"].as_array().unwrap();
    assert!(written.len() > 1, "{summary}");
    for file in written {
        let file = common::path_of(file);
        let shown = admin.show(&file);
        assert_eq!(
            (shown["level"].as_str(), shown["status"].as_str()),
            (Some("confidential"), Some("valid")),
            "{}: {shown}",
            file.display()
        );
    }
    // Listed again: the sheets of the earlier run are not files of the folder.
    let again = admin
        .fuda(&[
            "inventory",
            p(public.path()),
            "--format",
            "csv",
            "--out",
            p(&csv),
            "--json",
        ])
        .expect(0);
    assert_eq!(again.json_lines().pop().unwrap()["files"], 1);
}
