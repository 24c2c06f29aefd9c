//! Hostile and broken requests get a 4xx with a clear JSON message, never a 500, and
//! write nothing.

#[path = "../../../tests/common/raw.rs"]
mod raw;

use fuda_keyd::client::{KeyService, Remote};
use fuda_keyd::directory::{Enrollment, NewUser};

struct Server {
    _dir: tempfile::TempDir,
    url: String,
    fingerprint: String,
    admin: Remote,
    admin_token: String,
    user_token: String,
    running: Option<fuda_keyd_server::http::Running>,
}

fn enrollment(code: String) -> Enrollment {
    Enrollment {
        code,
        recipient: age::x25519::Identity::generate().to_public().to_string(),
        signing_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    }
}

fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keyd");
    let init = fuda_keyd_server::http::init(
        &data,
        NewUser {
            name: "admin".into(),
            display_name: None,
            dept: None,
            admin: true,
            auditor: false,
            kind: Default::default(),
        },
    )
    .unwrap();
    let running =
        fuda_keyd_server::http::Running::start(&data, "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("https://{}", running.addr());
    let anon = Remote::new(&url, &init.fingerprint, None).unwrap();
    let admin_token = anon.enroll(&enrollment(init.admin.code)).unwrap().token;
    let admin = Remote::new(&url, &init.fingerprint, Some(admin_token.clone())).unwrap();
    let code = admin
        .user_add(NewUser {
            name: "sato".into(),
            display_name: None,
            dept: Some("生産技術部".into()),
            admin: false,
            auditor: false,
            kind: Default::default(),
        })
        .unwrap()
        .code;
    let user_token = anon.enroll(&enrollment(code)).unwrap().token;
    Server {
        _dir: dir,
        url,
        fingerprint: init.fingerprint,
        admin,
        admin_token,
        user_token,
        running: Some(running),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

/// (status, error code, message) of a raw request.
fn raw(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String, String) {
    raw::Api::new(&s.url, &s.fingerprint).call(method, path, token, content_type, body)
}

#[test]
fn bad_requests_are_refused_clearly_and_write_nothing() {
    let s = server();
    let before = s.admin.audit_verify().unwrap().records;
    let json = Some("application/json");
    let licence_body = br#"{"header":"YWdl","rights":"view"}"#;

    let (st, code, msg) = raw(&s, "POST", "/v1/licences", None, json, Some(licence_body));
    assert_eq!((st, code.as_str()), (401, "unauthorized"));
    assert!(msg.contains("API token"), "{msg}");

    let (st, code, _) = raw(
        &s,
        "POST",
        "/v1/licences",
        Some("fudatok_not-a-real-token"),
        json,
        Some(licence_body),
    );
    assert_eq!((st, code.as_str()), (401, "unauthorized"));

    let (st, _, msg) = raw(
        &s,
        "POST",
        "/v1/licences",
        Some(&s.user_token),
        json,
        Some(b"{not json"),
    );
    assert_eq!(st, 400, "{msg}");
    assert!(msg.contains("request body"), "{msg}");

    let (st, _, _) = raw(
        &s,
        "POST",
        "/v1/licences",
        Some(&s.user_token),
        json,
        Some(br#"{"header":"!!!","rights":"view"}"#),
    );
    assert_eq!(st, 400);

    let (st, _, _) = raw(
        &s,
        "POST",
        "/v1/licences",
        Some(&s.user_token),
        Some("text/plain"),
        Some(licence_body),
    );
    assert_eq!(st, 415);

    let big = vec![b'a'; 2 << 20];
    let mut body = br#"{"header":""#.to_vec();
    body.extend_from_slice(&big);
    body.extend_from_slice(br#"","rights":"view"}"#);
    // The answer is 413; on a loaded machine the client may instead see the connection
    // closed while it still sends, so try a few times for the 413 itself.
    let answers: Vec<_> = (0..3)
        .map(|_| {
            raw(
                &s,
                "POST",
                "/v1/licences",
                Some(&s.user_token),
                json,
                Some(&body),
            )
        })
        .collect();
    assert!(
        answers.iter().all(|(st, _, _)| *st == 413 || *st == 0),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|(st, code, msg)| *st == 413
            && code == "too-large"
            && msg.contains("larger than")),
        "{answers:?}"
    );

    // Another user's token does not make you an admin.
    let (st, code, msg) = raw(
        &s,
        "GET",
        "/v1/admin/users",
        Some(&s.user_token),
        None,
        None,
    );
    assert_eq!((st, code.as_str()), (403, "forbidden"));
    assert!(
        msg.contains("sato is neither an administrator nor an auditor"),
        "{msg}"
    );
    let (st, _, _) = raw(
        &s,
        "POST",
        "/v1/admin/revoke",
        Some(&s.user_token),
        json,
        Some(br#"{"user":"admin"}"#),
    );
    assert_eq!(st, 403);

    let (st, code, _) = raw(
        &s,
        "GET",
        "/v1/nothing-here",
        Some(&s.admin_token),
        None,
        None,
    );
    assert_eq!((st, code.as_str()), (404, "not-found"));

    // An unknown (or used) enrollment code is refused; keys that are not keys are refused
    // before the code is even looked at.
    let unknown = serde_json::to_vec(&enrollment("fudaenroll_x".into())).unwrap();
    let (st, _, msg) = raw(&s, "POST", "/v1/enroll", None, json, Some(&unknown));
    assert_eq!(st, 401, "{msg}");
    let (st, _, msg) = raw(
        &s,
        "POST",
        "/v1/enroll",
        None,
        json,
        Some(br#"{"code":"fudaenroll_x","recipient":"age1x","signing_key":"x"}"#),
    );
    assert_eq!(st, 400, "{msg}");

    // Label changes: unknown fields, a downgrade without a reason, too many in one batch
    // and no token are refused, and none of the batch is recorded.
    let change = r#"{"doc":"01JB0000000000000000000001","action":"set","to":"internal","path":"/a","host":"h"}"#;
    for (body, want) in [
        (format!(r#"{{"changes":[{change}],"extra":1}}"#), 400),
        (
            format!(
                r#"{{"changes":[{change},{}]}}"#,
                change.replace(r#""set""#, r#""downgrade""#)
            ),
            400,
        ),
        (
            format!(r#"{{"changes":[{}]}}"#, vec![change; 1001].join(",")),
            400,
        ),
    ] {
        let (st, _, msg) = raw(
            &s,
            "POST",
            "/v1/label-changes",
            Some(&s.user_token),
            json,
            Some(body.as_bytes()),
        );
        assert_eq!(st, want, "{msg}");
    }
    let (st, code, _) = raw(&s, "GET", "/v1/signers", None, None, None);
    assert_eq!((st, code.as_str()), (401, "unauthorized"));

    let (st, _, _) = raw(&s, "GET", "/v1/health", None, None, None);
    assert_eq!(st, 200);

    // Refused requests wrote nothing but the audit records of the two refused admin
    // requests (every access decision is audited) and that of the first verification.
    assert_eq!(
        s.admin.audit_verify().unwrap().records,
        before + 3,
        "refused requests wrote nothing else"
    );
}

#[test]
fn a_wrong_certificate_fingerprint_is_refused() {
    let s = server();
    let wrong = "00".repeat(32);
    let r = Remote::new(&s.url, &wrong, Some(s.user_token.clone())).unwrap();
    let err = r.whoami().unwrap_err();
    let fuda_keyd::Error::CertificateMismatch(m) = &err else {
        panic!("a pin failure is its own error, not {err:?}")
    };
    assert_eq!(m.seen, s.fingerprint);
    assert_eq!(m.expected, ["00"; 32].join(":"));
    assert!(err.to_string().contains("fingerprint"), "{err}");
    assert!(Remote::new(&s.url, "not-hex", None).is_err());
}

#[test]
fn the_newest_recorded_label_of_a_document_is_answered_to_enrolled_users_only() {
    let s = server();
    let json = Some("application/json");
    let doc = "01JB0000000000000000000001";
    let change = |seq: u64, set_at: i64, action: &str| {
        format!(
            r#"{{"doc":"{doc}","action":"{action}","from":null,"to":"public","path":"/srv/plan.txt","host":"pc-1","justification":"公開","version":{{"seq":{seq},"set_at":{set_at}}}}}"#
        )
    };
    // 公開 (seq 0), then 極秘 (seq 1); a change recorded without a version (an older
    // client) counts for nothing.
    let body = format!(
        r#"{{"changes":[{},{},{{"doc":"{doc}","action":"set","path":"/srv/plan.txt","host":"pc-1"}}]}}"#,
        change(0, 100, "set"),
        change(1, 200, "downgrade")
    );
    let (st, _, msg) = raw(
        &s,
        "POST",
        "/v1/label-changes",
        Some(&s.user_token),
        json,
        Some(body.as_bytes()),
    );
    assert_eq!(st, 200, "{msg}");

    let user = Remote::new(&s.url, &s.fingerprint, Some(s.user_token.clone())).unwrap();
    let newest = user
        .label_versions(vec![doc.into(), "01JB0000000000000000000002".into()])
        .unwrap();
    assert_eq!(newest.len(), 1, "{newest:?}");
    assert_eq!(newest[0].doc, doc);
    assert_eq!((newest[0].version.seq, newest[0].version.set_at), (1, 200));

    // Without a token: refused. A path-like or overlong id, or too many ids: a 4xx that
    // names the problem.
    let ask = |docs: &str| format!(r#"{{"docs":{docs}}}"#);
    let one = ask(&format!(r#"["{doc}"]"#));
    let (st, code, _) = raw(
        &s,
        "POST",
        "/v1/label-versions",
        None,
        json,
        Some(one.as_bytes()),
    );
    assert_eq!((st, code.as_str()), (401, "unauthorized"));
    let bad = ask(r#"["../../etc/passwd"]"#);
    let (st, _, msg) = raw(
        &s,
        "POST",
        "/v1/label-versions",
        Some(&s.user_token),
        json,
        Some(bad.as_bytes()),
    );
    assert_eq!(st, 400, "{msg}");
    assert!(msg.contains("not a document id"), "{msg}");
    let many = ask(&serde_json::to_string(&vec![doc; 1_001]).unwrap());
    let (st, _, msg) = raw(
        &s,
        "POST",
        "/v1/label-versions",
        Some(&s.user_token),
        json,
        Some(many.as_bytes()),
    );
    assert_eq!(st, 400, "{msg}");
    assert!(msg.contains("at most 1000"), "{msg}");
}
