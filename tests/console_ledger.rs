//! The console's company ledger and findings, over plain HTTPS against a real `fuda-keyd`
//! that two machines report to (`fuda inventory --report`): the ledger's rows and files
//! filtered and paged, its downloads equal to `fuda admin ledger`'s files, the findings
//! with what they mean and what to do, and hostile file names shown as text.

mod common;

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::console::Visitor;
use common::keyd::Keyd;
use common::{p, workdir, write, User};
use serde_json::Value;

/// A company: an admin, an auditor, and two file servers that reported their trees.
struct Company {
    keyd: Keyd,
    work: tempfile::TempDir,
    admin: User,
    auditor: User,
    /// The protected document revoked for everyone (still on srv-a).
    revoked_doc: String,
}

/// A machine enrolled from its own HOME, reporting hourly; its tree.
fn machine(keyd: &Keyd, admin: &User, work: &Path, name: &str) -> (User, PathBuf) {
    let run = admin
        .fuda(&["admin", "user", "add", name, "--kind", "machine", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let m = User::new(name);
    m.fuda(&[
        "init",
        "--machine",
        name,
        "--report-interval",
        "1h",
        "--service",
        &keyd.url(),
        "--enroll",
        &code,
        "--ca-fingerprint",
        &keyd.fingerprint,
    ])
    .expect(0);
    let tree = work.join(name);
    std::fs::create_dir_all(&tree).unwrap();
    (m, tree)
}

fn company() -> Company {
    let keyd = Keyd::start();
    let work = workdir();
    let admin = keyd.enroll("admin", &keyd.admin_code.clone(), Path::new("default"));
    let run = admin
        .fuda(&["admin", "user", "add", "audrey", "--auditor", "--json"])
        .expect(0);
    let code = run.json_lines()[0]["code"].as_str().unwrap().to_owned();
    let auditor = keyd.enroll("audrey", &code, Path::new("default"));
    let (srv_a, tree_a) = machine(&keyd, &admin, work.path(), "srv-a");
    let (srv_b, tree_b) = machine(&keyd, &admin, work.path(), "srv-b");

    // A protected 秘 specification, revoked for everyone, still on srv-a.
    let spec = tree_a.join("設計/spec.txt");
    write(&spec, "仕様書 第3版\n".repeat(40));
    let run = admin
        .fuda(&["protect", p(&spec), "--level", "confidential", "--json"])
        .expect(0);
    let revoked_doc = run.json_lines()[0]["doc"].as_str().unwrap().to_owned();
    admin
        .fuda(&["admin", "revoke", "--doc", &revoked_doc])
        .expect(0);
    // Names a browser must not run, a name that is not UTF-8, and a few memos.
    let shared = tree_a.join("共有");
    write(&shared.join("<script>alert(1)</script>.txt"), "hostile");
    let latin1 = shared.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    write(&latin1, "latin-1");
    for i in 1..=3 {
        write(&shared.join(format!("memo{i}.txt")), format!("memo {i}"));
    }
    write(&tree_b.join("other.txt"), "on the other server");
    for (m, tree) in [(&srv_a, &tree_a), (&srv_b, &tree_b)] {
        m.fuda(&["inventory", "--report", p(tree), "--json"])
            .expect(0);
    }
    Company {
        keyd,
        work,
        admin,
        auditor,
        revoked_doc,
    }
}

/// A console path's answer as bytes (a download), with `visitor`'s session.
fn download(keyd: &Keyd, visitor: &Visitor, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let pin = fuda_keyd::tls::parse_fingerprint(&keyd.fingerprint).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
        .redirects(0)
        .build();
    let url = format!("{}{path}", keyd.url().trim_end_matches('/'));
    let resp = match agent
        .get(&url)
        .set("Cookie", visitor.session.as_deref().unwrap())
        .call()
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|h| (h.clone(), resp.header(&h).unwrap_or_default().to_owned()))
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
    (status, headers, body)
}

/// Every sheet's name and cell values, read with openpyxl; `None` (a skip) without it.
fn xlsx_values(path: &Path) -> Option<Value> {
    const SCRIPT: &str = r#"
import json, sys
import openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"order": wb.sheetnames}
for ws in wb.worksheets:
    out[ws.title] = [[c for c in row] for row in ws.iter_rows(values_only=True)]
print(json.dumps(out, ensure_ascii=False, default=str))
"#;
    let present = Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool("python3 with openpyxl", present) {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", SCRIPT, p(path)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Whether `text` is in the page as escaped text (askama writes `<` as `&#60;`; `&lt;`
/// is as good) and never as markup.
fn shown_as_text(body: &str, text: &str) -> bool {
    let entities = body
        .replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#47;", "/");
    let escaped = text.replace('<', "&lt;").replace('>', "&gt;");
    entities.contains(&escaped) && !body.contains(text)
}

/// The `href`s of a page's links.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .map(|s| {
            s.split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
                .replace("&#38;", "&")
        })
        .collect()
}

#[test]
fn the_ledger_lists_rows_and_files_filtered_by_level_machine_and_finding_a_page_at_a_time() {
    let c = company();
    let admin = Visitor::sign_in(&c.keyd, &c.admin);

    let rows = admin.get("/console/ledger");
    assert_eq!(rows.status, 200, "{}", rows.body);
    assert!(rows.body.contains("情報資産管理台帳"), "{}", rows.body);
    assert!(
        rows.body.contains("srv-a:"),
        "rows name their machine:folder: {}",
        rows.body
    );
    let confidential = admin.get("/console/ledger?view=confidential");
    assert!(confidential.body.contains("機密情報台帳"));
    assert!(confidential.body.contains("設計"), "{}", confidential.body);
    assert!(!confidential.body.contains("共有"), "{}", confidential.body);

    // Every file, two a page: the four pages together list each once.
    let names = [
        "spec.txt.fuda",
        "memo1.txt",
        "memo2.txt",
        "memo3.txt",
        "other.txt",
        "caf\\xe9.txt",
        "alert(1)",
    ];
    let first = admin.get("/console/ledger?view=files&per_page=2");
    assert!(
        links(&first.body).contains(&"/console/ledger?view=files&page=2&per_page=2".to_owned()),
        "{}",
        first.body
    );
    let mut seen: Vec<&str> = Vec::new();
    for page in 1..=4 {
        let body = admin
            .get(&format!(
                "/console/ledger?view=files&page={page}&per_page=2"
            ))
            .body;
        let here: Vec<&str> = names.into_iter().filter(|n| body.contains(n)).collect();
        assert_eq!(
            here.len(),
            if page < 4 { 2 } else { 1 },
            "page {page}: {body}"
        );
        seen.extend(here);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), names.len(), "{seen:?}");

    // Hostile names are text, a name that is not UTF-8 is shown escaped.
    let shared = admin.get("/console/ledger?view=files&machine=srv-a&per_page=50");
    assert!(
        shown_as_text(&shared.body, "<script>alert(1)</script>.txt"),
        "{}",
        shared.body
    );
    assert!(shared.body.contains("caf\\xe9.txt"), "{}", shared.body);
    assert!(
        !shared.body.contains("other.txt"),
        "srv-b's file under srv-a: {}",
        shared.body
    );

    let other = admin.get("/console/ledger?view=files&machine=srv-b");
    assert!(other.body.contains("other.txt") && !other.body.contains("memo1.txt"));

    // By level: the protected specification is 秘, the memos have no label.
    let secret = admin.get("/console/ledger?view=files&level=confidential");
    assert!(secret.body.contains("spec.txt.fuda"), "{}", secret.body);
    assert!(!secret.body.contains("memo1.txt"), "{}", secret.body);
    let unlabeled = admin.get("/console/ledger?view=files&level=-&per_page=50");
    assert!(unlabeled.body.contains("memo1.txt") && !unlabeled.body.contains("spec.txt.fuda"));

    // By finding: the revoked document still present, linked to its document's page.
    let found = admin.get("/console/ledger?view=files&finding=revoked-still-present");
    assert!(found.body.contains("spec.txt.fuda"), "{}", found.body);
    assert!(!found.body.contains("memo1.txt"), "{}", found.body);
    assert!(
        links(&found.body).contains(&format!("/console/documents/{}", c.revoked_doc)),
        "{}",
        found.body
    );

    // A department no row has: an empty table, not an error.
    let none = admin.get("/console/ledger?department=%E7%B7%8F%E5%8B%99");
    assert_eq!(none.status, 200);
    assert!(
        none.body.contains("該当する行はありません"),
        "{}",
        none.body
    );

    // Hostile or nonsense parameters: a clear refusal or an empty list, never a crash.
    assert_eq!(admin.get("/console/ledger?page=abc").status, 400);
    let odd =
        admin.get("/console/ledger?view=files&level=%3Cscript%3E&finding=nonsense&page=99999");
    assert_eq!(odd.status, 200, "{}", odd.body);
    assert!(!odd.body.contains("<script>"), "{}", odd.body);
    assert_eq!(admin.get("/console/ledger/download?format=pdf").status, 400);
    assert_eq!(
        admin.get("/console").status,
        200,
        "the service still answers"
    );
}

#[test]
fn downloads_are_the_files_fuda_admin_ledger_writes_and_every_one_is_audited() {
    let c = company();
    // The auditor reads and downloads too.
    let auditor = Visitor::sign_in(&c.keyd, &c.auditor);

    let csv_cli = c.work.path().join("cli.csv");
    let xlsx_cli = c.work.path().join("cli.xlsx");
    let mut equal = false;
    // Twice at most: the workbook's first sheet says when it was made, to the minute.
    for _ in 0..2 {
        c.admin
            .fuda(&[
                "admin",
                "ledger",
                "--format",
                "csv",
                "--out",
                p(&csv_cli),
                "-q",
            ])
            .expect(1);
        c.admin
            .fuda(&[
                "admin",
                "ledger",
                "--format",
                "xlsx",
                "--out",
                p(&xlsx_cli),
                "-q",
            ])
            .expect(1);
        let (status, headers, csv) =
            download(&c.keyd, &auditor, "/console/ledger/download?format=csv");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv));
        assert!(
            headers
                .iter()
                .any(|(h, v)| h.eq_ignore_ascii_case("content-disposition")
                    && v.starts_with("attachment; filename=\"company-ledger-")
                    && v.ends_with(".csv\"")),
            "{headers:?}"
        );
        assert_eq!(
            csv,
            std::fs::read(&csv_cli).unwrap(),
            "the CSV is byte for byte the command's"
        );

        let (status, _, xlsx) = download(&c.keyd, &auditor, "/console/ledger/download?format=xlsx");
        assert_eq!(status, 200);
        let xlsx_web = c.work.path().join("web.xlsx");
        std::fs::write(&xlsx_web, &xlsx).unwrap();
        let (Some(web), Some(cli)) = (xlsx_values(&xlsx_web), xlsx_values(&xlsx_cli)) else {
            return;
        };
        assert!(web["order"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "情報資産管理台帳"));
        if web == cli {
            equal = true;
            break;
        }
    }
    assert!(
        equal,
        "the workbook's cells differ from fuda admin ledger's"
    );

    let run = c.admin.fuda(&["admin", "audit", "--json"]).expect(0);
    let console_exports = run
        .json_lines()
        .into_iter()
        .filter(|r| {
            r["action"] == "ledger-export"
                && r["actor"] == "audrey"
                && r["outcome"] == "allow"
                && r["detail"]["via"] == "console"
        })
        .count();
    assert!(
        console_exports >= 2,
        "each download is one ledger-export of audrey's"
    );
}

#[test]
fn findings_say_what_they_mean_and_what_to_do_and_the_overview_counts_them() {
    let c = company();
    let admin = Visitor::sign_in(&c.keyd, &c.admin);

    // The overview never waits for the company ledger: it counts it in the background
    // (here the ledger page waited for it first).
    assert_eq!(admin.get("/console/ledger").status, 200);
    let overview = admin.get("/console");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.body.contains("全社のファイル"),
        "{}",
        overview.body
    );
    assert!(
        links(&overview.body).contains(&"/console/findings?kind=revoked-still-present".to_owned()),
        "{}",
        overview.body
    );
    assert!(
        links(&overview.body).contains(&"/console/ledger?view=files&level=confidential".to_owned())
    );

    let all = admin.get("/console/findings");
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(all.body.contains("失効済み文書の残存"), "{}", all.body);
    assert!(
        all.body.contains("不要なら削除してください"),
        "what to do: {}",
        all.body
    );

    let revoked = admin.get("/console/findings?kind=revoked-still-present");
    assert!(revoked.body.contains("spec.txt.fuda"), "{}", revoked.body);
    assert!(!revoked.body.contains("memo1.txt"), "{}", revoked.body);
    let hrefs = links(&revoked.body);
    assert!(
        hrefs.contains(&format!("/console/documents/{}", c.revoked_doc)),
        "{hrefs:?}"
    );
    assert!(
        hrefs.contains(&"/console/ledger?view=files&machine=srv-a".to_owned()),
        "{hrefs:?}"
    );

    let english = admin.get("/console/findings?kind=revoked-still-present&lang=en");
    assert!(english.body.contains("Revoked document still present"));
    assert!(
        english.body.contains("Delete it if it is no longer needed"),
        "{}",
        english.body
    );

    // Another machine's findings only.
    let b = admin.get("/console/findings?kind=revoked-still-present&machine=srv-b");
    assert!(!b.body.contains("spec.txt.fuda"), "{}", b.body);

    // An auditor reads the same; a member of staff never gets a session.
    let auditor = Visitor::sign_in(&c.keyd, &c.auditor);
    let seen = auditor.get("/console/findings?kind=revoked-still-present");
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("spec.txt.fuda"));
}

/// POSTs a `multipart/form-data` form to a console path with the visitor's cookie.
fn upload(
    keyd: &Keyd,
    visitor: &Visitor,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> (u16, Vec<u8>) {
    let boundary = "fudaBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"last-year.json\"\r\nContent-Type: application/json\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let pin = fuda_keyd::tls::parse_fingerprint(&keyd.fingerprint).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
        .redirects(0)
        .build();
    let url = format!("{}{path}", keyd.url().trim_end_matches('/'));
    let resp = match agent
        .post(&url)
        .set("Cookie", visitor.session.as_deref().unwrap())
        .set(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send_bytes(&body)
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let status = resp.status();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut out).unwrap();
    (status, out)
}

#[test]
fn the_yearly_review_compares_the_ledger_with_last_years_json_uploaded_in_the_browser() {
    let c = company();
    let auditor = Visitor::sign_in(&c.keyd, &c.auditor);
    let (status, _, last_year) =
        download(&c.keyd, &auditor, "/console/ledger/download?format=json");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&last_year));
    let csrf = auditor.get("/console/ledger").csrf();

    let (status, reviewed) = upload(
        &c.keyd,
        &auditor,
        "/console/ledger/review",
        &[("csrf", &csrf), ("format", "json")],
        Some(("previous", &last_year)),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reviewed));
    let v: Value = serde_json::from_slice(&reviewed).unwrap();
    assert!(v["review"].is_object(), "the review is in the ledger: {v}");
    assert_eq!(
        v["review"]["added"], 0,
        "nothing changed since: {}",
        v["review"]
    );

    // Without the session's token nothing is read; a file that is not a ledger is named.
    let (status, _) = upload(
        &c.keyd,
        &auditor,
        "/console/ledger/review",
        &[("format", "json")],
        Some(("previous", &last_year)),
    );
    assert_eq!(status, 403);
    let (status, page) = upload(
        &c.keyd,
        &auditor,
        "/console/ledger/review",
        &[("csrf", &csrf)],
        Some(("previous", b"<script>alert(1)</script>")),
    );
    assert_eq!(status, 400);
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("last-year.json is not a JSON ledger"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
}
