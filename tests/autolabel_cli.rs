//! End-to-end: files on a share get the level the policy's rules give them, through
//! `fuda classify` (dry run) and `fuda scan --apply`, with real files built here.

mod common;

use std::io::Write;
use std::path::Path;

use common::office::docx;
use common::{p, write, User};

/// A valid My Number: 11 digits and the official check digit.
fn my_number(seed: u64) -> String {
    let mut digits: Vec<u8> = (0..11)
        .map(|i| {
            ((seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(i * 1442695040888963407)
                >> 33)
                % 10) as u8
        })
        .collect();
    let first: [u8; 11] = digits.clone().try_into().unwrap();
    digits.push(fuda_classify::detect::my_number_check_digit(&first));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

fn with_wrong_check_digit(n: &str) -> String {
    let mut b = n.as_bytes().to_vec();
    b[11] = b'0' + (b[11] - b'0' + 3) % 10;
    String::from_utf8(b).unwrap()
}

fn classify(user: &User, path: &Path) -> serde_json::Value {
    user.fuda(&["classify", "--json", p(path)])
        .expect(0)
        .json_lines()
        .remove(0)
}

#[test]
fn the_stories_of_the_issue_classify_as_the_policy_says() {
    let hook = User::init("fuda-hook");
    let dir = common::workdir();
    let root = dir.path();

    // A CP932 (Windows) text that says 極秘 → 極秘.
    let (cp932, _, _) =
        encoding_rs::SHIFT_JIS.encode("①髙橋様\r\n本資料は極秘です。取扱注意。\r\n");
    let sjis = root.join("連絡.txt");
    write(&sjis, &cp932);
    let c = classify(&hook, &sjis);
    assert_eq!(c["level"], "strictly-confidential", "{c}");
    assert_eq!(c["rule"], "marked-strictly-confidential");
    assert_eq!(c["extracted"]["encoding"], "Shift_JIS");
    assert_eq!(c["evidence"][0]["what"], "keyword:極秘");

    // A docx whose body says 社外秘 → 社外秘.
    let memo = root.join("minutes.docx");
    write(&memo, docx("定例会議 議事録\n社外秘\n出席者: 設計部"));
    let c = classify(&hook, &memo);
    assert_eq!(c["level"], "internal", "{c}");
    assert_eq!(c["rule"], "marked-internal");
    assert_eq!(c["extracted"]["kind"], "docx");

    // A CSV with valid My Numbers next to 個人番号 → the personal-data rule's level.
    let csv: String = std::iter::once("社員番号,氏名,個人番号\n".to_owned())
        .chain((0..20).map(|i| format!("{i:04},社員{i},{}\n", my_number(i))))
        .collect();
    let staff = root.join("人事").join("staff.csv");
    write(&staff, &csv);
    let c = classify(&hook, &staff);
    assert_eq!(c["level"], "confidential", "{c}");
    assert_eq!(c["rule"], "personal-numbers");
    assert_eq!(
        c["flags"],
        serde_json::json!(["personal-data", "specific-personal-data"])
    );
    assert_eq!(
        c["evidence"][0],
        serde_json::json!({"what": "detector:my-number", "count": 20})
    );
    // Evidence never carries the numbers themselves.
    assert!(!c.to_string().contains(&my_number(3)), "{c}");

    // The same CSV with wrong check digits → nothing.
    let bad: String = std::iter::once("社員番号,氏名,個人番号\n".to_owned())
        .chain(
            (0..20).map(|i| format!("{i:04},社員{i},{}\n", with_wrong_check_digit(&my_number(i)))),
        )
        .collect();
    let invalid = root.join("invalid.csv");
    write(&invalid, &bad);
    let c = classify(&hook, &invalid);
    assert_eq!(c["level"], serde_json::Value::Null, "{c}");

    // A .dwg under 設計図/ → the drawing rule.
    let dwg = root.join("設計図").join("bracket-A12.dwg");
    write(&dwg, b"AC1032\0\0\0binary drawing");
    let c = classify(&hook, &dwg);
    assert_eq!(c["level"], "confidential", "{c}");
    assert_eq!(c["rule"], "cad-drawings");
    let whats: Vec<&str> = c["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(whats, ["path", "extension:dwg"]);

    // The table names the rule and the evidence, and the default level of a file no rule
    // matches (what scan --apply would write).
    let table = hook.fuda(&["classify", "-r", p(root)]).expect(0);
    assert!(
        table.stdout.contains("cad-drawings") && table.stdout.contains("detector:my-number×20"),
        "{}",
        table.stdout
    );
    let invalid_row = table
        .stdout
        .lines()
        .find(|l| l.contains("invalid.csv"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(
        invalid_row.contains("社外秘") && invalid_row.contains("(default level)"),
        "{invalid_row}"
    );
}

#[test]
fn scan_applies_auto_labels_with_evidence_and_never_touches_a_manual_label() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let root = dir.path();
    // 極秘 by hand; the text only says 社外秘.
    let plan = root.join("plan.txt");
    write(&plan, "社外秘: 来期の計画");
    tanaka.fuda(&["label", "set", "極秘", p(&plan)]).expect(0);
    // 公開 by hand; a rule says 社外秘: a person decided, the rule does not override.
    let flyer = root.join("flyer.txt");
    write(&flyer, "社外秘ではありません");
    tanaka.fuda(&["label", "set", "公開", p(&flyer)]).expect(0);
    let memo = root.join("memo.docx");
    write(&memo, docx("社外秘"));
    let dwg = root.join("設計図").join("a.dwg");
    write(&dwg, b"AC1032");
    let none = root.join("readme.txt");
    write(&none, "hello");

    let run = tanaka.fuda(&["scan", "--apply", p(root)]).expect(0);
    assert!(
        run.stdout.contains("labeled 3 (2 社外秘, 1 秘)")
            && run
                .stdout
                .contains("1 at the default level 社外秘 (no rule matched)")
            && run.stdout.contains("kept 2 manual"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "{}  社外秘  (no rule matched: the policy's default level)",
            none.display()
        )),
        "{}",
        run.stdout
    );

    let shown = tanaka.show(&plan);
    assert_eq!(
        (shown["level"].as_str(), shown["method"].as_str()),
        (Some("strictly-confidential"), Some("manual"))
    );
    assert_eq!(tanaka.show(&flyer)["level"], "public");
    let m = tanaka.show(&memo);
    assert_eq!(m["status"], "valid");
    assert_eq!(m["store"], "ooxml");
    assert_eq!(m["method"], "auto");
    assert_eq!(m["rule"], "marked-internal");
    assert_eq!(
        m["evidence"],
        serde_json::json!([{"what": "keyword:社外秘", "count": 1}])
    );
    let d = tanaka.show(&dwg);
    assert_eq!(
        (d["level"].as_str(), d["status"].as_str()),
        (Some("confidential"), Some("valid"))
    );
    assert_eq!(d["asset"], "customer-drawings");
    // No rule matched the readme: it has the policy's default level, said to be one.
    let n = tanaka.show(&none);
    assert_eq!(
        (
            n["level"].as_str(),
            n["method"].as_str(),
            n["status"].as_str()
        ),
        (Some("internal"), Some("default"), Some("valid"))
    );

    // A second run changes nothing: auto labels are never lowered or rewritten, and
    // labels already at the scan's level are counted as such, not as higher ones.
    let again = tanaka
        .fuda(&["scan", "--apply", "--json", p(root)])
        .expect(0);
    let summary = again.json_lines().pop().unwrap();
    assert_eq!(summary["labeled"], 0, "{summary}");
    assert_eq!(summary["kept_same"], 3, "{summary}");
    assert_eq!(summary["kept_higher"], 0, "{summary}");
    let text = tanaka.fuda(&["scan", "--apply", p(root)]).expect(0);
    assert!(
        text.stdout
            .contains("kept 2 manual labels, 3 already at that level, 0 higher"),
        "{}",
        text.stdout
    );

    // A rule raises an auto label when the text gets more sensitive, never lowers it.
    write(&none, "これは極秘です");
    tanaka.fuda(&["scan", "--apply", p(root)]).expect(0);
    assert_eq!(tanaka.show(&none)["level"], "strictly-confidential");
    write(&none, "もう秘密ではない");
    tanaka.fuda(&["scan", "--apply", p(root)]).expect(0);
    assert_eq!(tanaka.show(&none)["level"], "strictly-confidential");
}

#[test]
fn a_policy_can_leave_files_no_rule_matches_unlabeled() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let policy = dir.path().join("policy.toml");
    let text = fuda_core::policy::BUILTIN[0].1.replacen(
        "apply_default_level = true",
        "apply_default_level = false",
        1,
    );
    write(&policy, text);
    let root = dir.path().join("share");
    let readme = root.join("readme.txt");
    write(&readme, "hello");
    let memo = root.join("memo.txt");
    write(&memo, "社外秘");
    let run = tanaka
        .fuda(&["scan", "--apply", "--policy", p(&policy), p(&root)])
        .expect(0);
    assert!(
        run.stdout
            .contains("1 without a matching rule (left unlabeled)"),
        "{}",
        run.stdout
    );
    assert_eq!(tanaka.show(&readme)["status"], "missing");
    assert_eq!(tanaka.show(&memo)["method"], "auto");
}

#[test]
fn ctrl_c_during_a_scan_prints_what_was_done_and_the_next_run_goes_on() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let n = 6000;
    for i in 0..n {
        write(
            &dir.path().join(format!("d{}/f{i:05}.txt", i % 10)),
            format!("社外秘 {i}"),
        );
    }
    let state_dir = tanaka.home.path().join(".local/state/fuda");
    let started = || {
        std::fs::read_dir(&state_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().starts_with("scan-")
                    && e.metadata().is_ok_and(|m| m.len() > 0)
            })
    };
    let child = std::process::Command::new(common::fuda_bin())
        .args(["scan", "--apply", "--jobs", "1", p(dir.path())])
        .env("HOME", tanaka.home.path())
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !started() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // What Ctrl-C sends.
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("scanned {n} files")) && stdout.contains("(interrupted)"),
        "{stdout}"
    );
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let labeled: usize = stdout
        .split("labeled ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(labeled > 0 && labeled < n, "{stdout}");
    // The next run does the rest.
    let rest = tanaka
        .fuda(&["scan", "--apply", "--json", p(dir.path())])
        .expect(0);
    let summary = rest.json_lines().pop().unwrap();
    assert_eq!(
        summary["labeled"].as_u64().unwrap() as usize
            + summary["resumed"].as_u64().unwrap() as usize,
        n,
        "{summary}"
    );
}

#[test]
fn an_interrupted_scan_resumes_where_it_stopped() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let n = 6000;
    for i in 0..n {
        write(
            &dir.path().join(format!("d{}/f{i:05}.txt", i % 10)),
            format!("社外秘 {i}"),
        );
    }
    let state_dir = tanaka.home.path().join(".local/state/fuda");
    let state_lines = || -> usize {
        std::fs::read_dir(&state_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("scan-"))
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum()
    };
    // Start a scan and kill it (SIGKILL: no chance to clean up) once it recorded progress.
    let mut child = std::process::Command::new(common::fuda_bin())
        .args(["scan", "--apply", "--jobs", "1", p(dir.path())])
        .env("HOME", tanaka.home.path())
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("FUDA_CONFIG_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while state_lines() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = state_lines();
    assert!(
        done > 0 && done < n,
        "{done} of {n} recorded before the kill"
    );

    let resumed = tanaka
        .fuda(&["scan", "--apply", "--json", p(dir.path())])
        .expect(0);
    let summary = resumed.json_lines().pop().unwrap();
    assert!(
        resumed.stderr.contains("resuming an interrupted scan"),
        "{}",
        resumed.stderr
    );
    assert_eq!(
        summary["resumed"].as_u64().unwrap() as usize,
        done,
        "{summary}"
    );
    assert_eq!(state_lines(), 0, "a finished scan removes its state");
    // Every file ends labeled, whether before or after the interruption.
    let check = tanaka
        .fuda(&["label", "check", "-r", p(dir.path())])
        .expect(0);
    assert!(
        check.stdout.contains(&format!("{n} valid")),
        "{}",
        check.stdout
    );
}

#[test]
fn hostile_files_are_reported_and_never_stop_the_scan() {
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let root = dir.path();
    // A zip bomb dressed as a docx: 200 MiB of zeros in word/document.xml.
    let bomb = root.join("bomb.docx");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&bomb).unwrap());
        z.start_file(
            "[Content_Types].xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(b"<Types/>").unwrap();
        z.start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(true),
        )
        .unwrap();
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..200 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap();
    }
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    // A 2 GiB sparse file.
    let sparse = root.join("disk.img.txt");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    // Invalid UTF-8 and invalid CP932.
    write(
        &root.join("garbage.txt"),
        [0x80, 0xfe, 0xfd, 0x80, 0x81, 0x82, b'a', 0xc3],
    );
    write(
        &root.join("broken-sjis.txt"),
        [0x82, 0xa0, 0x82, 0xff, 0x81, 0x7f, 0x8b, 0xc9, 0x94, 0xe9],
    );
    // A symlink loop and a dangling link.
    std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
    // A corrupt docx and a corrupt PDF.
    write(&root.join("broken.docx"), b"PK\x03\x04 not really");
    write(&root.join("broken.pdf"), b"%PDF-1.7\n garbage");
    // A good file after all of them still gets its label.
    write(&root.join("zz-memo.txt"), "極秘");

    let run = tanaka.fuda(&["scan", "--apply", p(root)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("bomb.docx") && run.stderr.contains("zip bomb"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("broken.docx"), "{}", run.stderr);
    assert_eq!(
        tanaka.show(&root.join("zz-memo.txt"))["level"],
        "strictly-confidential"
    );
    // The bomb is still classified by name and type (nothing matches it), not crashed on.
    assert_eq!(tanaka.show(&bomb)["status"], "missing");
    let c = classify(&tanaka, &root.join("garbage.txt"));
    assert_eq!(c["extracted"]["lossy"], true, "{c}");
}

#[test]
fn scan_protect_encrypts_what_the_policy_requires_and_loses_nothing() {
    // Embedded key service: no daemon, the user is the admin of their own service.
    let tanaka = User::init("tanaka");
    let dir = common::workdir();
    let root = dir.path();
    let secret = root.join("原価.txt");
    write(&secret, "【極秘】原価計画 2027\n");
    let memo = root.join("memo.txt");
    write(&memo, "社外秘：定例会議\n");
    let plain = root.join("readme.txt");
    write(&plain, "ただのメモ\n");
    // A 極秘 file whose protected name is taken: protecting it must fail and keep it.
    let blocked = root.join("blocked.txt");
    write(&blocked, "極秘の見積\n");
    write(&root.join("blocked.txt.fuda"), "someone else's file");

    // --protect only makes sense with --apply.
    let r = tanaka.fuda(&["scan", "--protect", p(root)]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(secret.exists());

    let run = tanaka
        .fuda(&["scan", "--apply", "--protect", "--json", p(root)])
        .expect(2);
    assert!(
        run.stderr.contains("blocked.txt") && run.stderr.contains("not protected"),
        "{}",
        run.stderr
    );
    let lines = run.json_lines();
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["protected"], 1, "{summary}");
    let protected: Vec<_> = lines
        .iter()
        .filter(|l| l.get("protected").is_some_and(|v| v.get("text").is_some()))
        .collect();
    assert_eq!(protected.len(), 1, "{lines:?}");

    // The 極秘 file is now only its protected copy, which opens to the same content and
    // carries the automatic label (level, rule) in its envelope.
    let sealed = root.join("原価.txt.fuda");
    assert!(!secret.exists(), "plaintext left behind");
    assert_eq!(
        tanaka.fuda(&["open", p(&sealed)]).expect(0).stdout,
        "【極秘】原価計画 2027\n"
    );
    let shown = tanaka.show(&sealed);
    assert_eq!(shown["level"], "strictly-confidential", "{shown}");
    assert_eq!(shown["store"], "envelope", "{shown}");
    assert_eq!(shown["method"], "auto", "{shown}");
    assert_eq!(shown["rule"], "marked-strictly-confidential", "{shown}");
    // 社外秘 is only optionally protected: labeled, left as it is; unmatched files untouched.
    assert_eq!(tanaka.show(&memo)["level"], "internal");
    assert!(memo.exists() && plain.exists());
    assert!(!root.join("memo.txt.fuda").exists());
    // The failure lost nothing: the original is there, labeled, and the other file kept.
    assert!(blocked.exists());
    assert_eq!(tanaka.show(&blocked)["level"], "strictly-confidential");
    assert_eq!(
        std::fs::read_to_string(root.join("blocked.txt.fuda")).unwrap(),
        "someone else's file"
    );
    // Once the name is free, scanning again protects it (the failure was not recorded).
    std::fs::remove_file(root.join("blocked.txt.fuda")).unwrap();
    let again = tanaka
        .fuda(&["scan", "--apply", "--protect", "--json", p(root)])
        .expect(0);
    let summary = again.json_lines().pop().unwrap();
    assert_eq!(summary["protected"], 1, "{summary}");
    assert!(!blocked.exists() && root.join("blocked.txt.fuda").exists());
}
