//! End-to-end: files crafted to hurt whoever opens, labels or classifies them are refused
//! with an error that names the file, and nothing on disk changes.

mod common;

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
