//! Every request body the key service's HTTP API takes, sent to the real router over a
//! real service (SQLite in a temporary folder), by no one, by a user and by an admin
//! (first byte: the route; second: the caller; the rest: the body):
//! the answer is a 2xx or a 4xx with a JSON body, never a 5xx and never a panic.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use fuda_keyd::directory::{Enrollment, NewUser};
use fuda_keyd::service::Caller;
use fuda_keyd::Service;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

/// The API's routes. Those that end every later request's authority (revoking the
/// caller's own tokens, disabling users) are left out for the admin: the fuzzer would
/// spend the rest of its run on 401s.
const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/v1/enroll"),
    (Method::GET, "/v1/me"),
    (Method::GET, "/v1/signers"),
    (Method::POST, "/v1/label-changes"),
    (Method::POST, "/v1/label-versions"),
    (Method::POST, "/v1/documents"),
    (Method::POST, "/v1/document"),
    (Method::POST, "/v1/grant"),
    (Method::POST, "/v1/ungrant"),
    (Method::POST, "/v1/licences"),
    (Method::GET, "/v1/policy"),
    (Method::POST, "/v1/admin/policy"),
    (Method::POST, "/v1/admin/policy/show"),
    (Method::POST, "/v1/admin/policy/apply"),
    (Method::POST, "/v1/admin/users"),
    (Method::POST, "/v1/admin/user-code"),
    (Method::POST, "/v1/admin/groups"),
    (Method::POST, "/v1/admin/group-members"),
    (Method::POST, "/v1/admin/revoke"),
    (Method::POST, "/v1/admin/unrevoke"),
    (Method::POST, "/v1/admin/audit"),
    (Method::GET, "/v1/admin/audit/verify"),
    (Method::POST, "/v1/admin/recovery"),
    (Method::POST, "/v1/rewrap"),
    (Method::POST, "/v1/transfer"),
    (Method::POST, "/v1/versions"),
    (Method::POST, "/v1/reclassify"),
    (Method::POST, "/v1/reports"),
    (Method::GET, "/v1/admin/ledger"),
    (Method::POST, "/v1/no-such-route"),
];

struct World {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    tokens: [String; 2],
    _dir: tempfile::TempDir,
}

fn enrolled(service: &Service, code: String) -> String {
    let age = age::x25519::Identity::generate();
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use ring::signature::KeyPair as _;
    let enrollment = Enrollment {
        code,
        recipient: age.to_public().to_string(),
        signing_key: base64::engine::general_purpose::STANDARD.encode(pair.public_key()),
    };
    service.enroll(enrollment).unwrap().token
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let person = |name: &str, admin: bool| NewUser {
            name: name.into(),
            display_name: None,
            dept: Some("設計部".into()),
            admin,
            auditor: false,
            kind: Default::default(),
        };
        let (service, added) = Service::init(&dir.path().join("keyd"), person("admin", true)).unwrap();
        let admin = enrolled(&service, added.code);
        let user = runtime
            .block_on(service.user_add(Caller::Token(admin.clone()), person("tanaka", false)))
            .unwrap();
        let user = enrolled(&service, user.code);
        let app = fuda_keyd_server::http::router(service);
        World { runtime, app, tokens: [user, admin], _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let [route, caller, body @ ..] = data else {
        return;
    };
    let world = world();
    let (method, path) = &ROUTES[usize::from(*route) % ROUTES.len()];
    let caller = usize::from(*caller) % 4;
    let mut request = Request::builder()
        .method(method.clone())
        .uri(*path)
        .header("content-type", "application/json");
    match caller {
        0 => {}
        1 | 2 => {
            request = request.header("authorization", format!("Bearer {}", world.tokens[caller - 1]))
        }
        _ => request = request.header("authorization", "Bearer fuda_not-a-token"),
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let response = world
        .runtime
        .block_on(world.app.clone().oneshot(request))
        .unwrap();
    let status = response.status();
    let bytes = world
        .runtime
        .block_on(axum::body::to_bytes(response.into_body(), 1 << 24))
        .unwrap();
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{method} {path} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
        // One JSON value, or JSON lines (the company ledger streams as NDJSON).
        let json = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok()
            || bytes
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .all(|line| serde_json::from_slice::<serde_json::Value>(line).is_ok());
        assert!(
            json,
            "{method} {path} answered {status} with a body that is not JSON"
        );
    }
});
