//! The HTTPS front of `fuda-keyd`: JSON under `/v1`, bearer tokens, rustls (ring).
//!
//! Every handler turns a request into one call on the [`Service`]; every error becomes a
//! 4xx with `{"error": CODE, "message": TEXT}` (5xx only for the service's own failures).
//! Limits: request bodies of at most [`BODY_LIMIT`] bytes, 30 s per request, and the
//! front's limits ([`FrontLimits`]: open connections, idle time, failed authentications,
//! requests per account). On shutdown the listener closes
//! and in-flight requests finish (up to 30 s) before the writer commits its last batch.
//! Logs (tracing) carry method, path, status, time and user — never tokens, codes or keys.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use fuda_core::label::DocId;

use fuda_keyd::audit::Query;
use fuda_keyd::directory::{Enrollment, NewUser, UserStatus};
use fuda_keyd::policy::{Applied, PolicySet, SignedPolicy};
use fuda_keyd::registry::{Grant, Principal, Registration};
use fuda_keyd::service::{Caller, RevokeTarget, Service, ServiceInfo, UserAdded};
use fuda_keyd::Error;

use crate::guard::{AccountBrake, Admit, AuthBrake, Failure, FrontLimits};

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;
/// Longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A service error on its way to the client: the status and JSON body it becomes.
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(e) = self;
        let status = match &e {
            Error::Denied(_) | Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Store(fuda_keyd::store::StoreError::Unavailable { .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Store(_) | Error::Keys(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Transport(_) | Error::Untrusted(_) | Error::CertificateMismatch(_) => {
                StatusCode::BAD_GATEWAY
            }
            Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        let body = serde_json::json!({"error": e.code(), "message": e.message()});
        (status, Json(body)).into_response()
    }
}

/// A JSON body whose rejections are our JSON errors (400, 413, 415), never plain text.
struct Body<T>(T);

#[axum::async_trait]
impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

fn reject(r: JsonRejection) -> Response {
    let status = r.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too-large"
    } else {
        "invalid"
    };
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the request body is larger than {BODY_LIMIT} bytes")
    } else {
        format!(
            "the request body is not what this endpoint takes: {}",
            r.body_text()
        )
    };
    // A body that is JSON but not what the endpoint takes (422 in axum) is a plain 400.
    let status = if status.is_client_error() && status != StatusCode::UNPROCESSABLE_ENTITY {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        Json(serde_json::json!({"error": code, "message": message})),
    )
        .into_response()
}

fn caller(headers: &HeaderMap) -> Result<Caller, Error> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthorized("this request needs an API token (Authorization: Bearer …): run `fuda init --service URL --enroll CODE`".into()))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or_else(|| {
            Error::Unauthorized("the Authorization header must be `Bearer TOKEN`".into())
        })?;
    Ok(Caller::Token(token.to_owned()))
}

type Svc = State<Service>;
type R<T> = Result<Json<T>, ApiError>;

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn info(State(s): Svc) -> Json<ServiceInfo> {
    Json(s.info())
}

async fn enroll(State(s): Svc, Body(e): Body<Enrollment>) -> R<fuda_keyd::directory::Enrolled> {
    s.enroll_async(e).await.map(Json).map_err(ApiError)
}

async fn me(State(s): Svc, h: HeaderMap) -> R<fuda_keyd::directory::User> {
    s.whoami(caller(&h)?).await.map(Json).map_err(ApiError)
}

async fn signers(State(s): Svc, h: HeaderMap) -> R<Vec<fuda_keyd::directory::EnrolledSigner>> {
    s.signers(caller(&h)?).await.map(Json).map_err(ApiError)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelChanges {
    changes: Vec<fuda_keyd::audit::LabelChange>,
}

#[derive(Serialize)]
struct Recorded {
    recorded: usize,
}

async fn label_changes(State(s): Svc, h: HeaderMap, Body(a): Body<LabelChanges>) -> R<Recorded> {
    s.label_changes(caller(&h)?, a.changes)
        .await
        .map(|recorded| Json(Recorded { recorded }))
        .map_err(ApiError)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelVersions {
    docs: Vec<String>,
}

async fn label_versions(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<LabelVersions>,
) -> R<Vec<fuda_keyd::audit::NewestLabel>> {
    s.label_versions(caller(&h)?, a.docs)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn register(
    State(s): Svc,
    h: HeaderMap,
    Body(r): Body<Registration>,
) -> R<fuda_keyd::service::Registered> {
    s.register(caller(&h)?, r).await.map(Json).map_err(ApiError)
}

/// A licence request as sent: the rights stay text until the caller is known, so that a
/// list naming no or unknown rights is refused and audited as that user's request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenceArg {
    #[serde(with = "fuda_keyd::registry::b64")]
    header: Vec<u8>,
    rights: String,
}

async fn licence(
    State(s): Svc,
    h: HeaderMap,
    Body(r): Body<LicenceArg>,
) -> R<fuda_keyd::licence::Granted> {
    s.licence_text(caller(&h)?, r.header, &r.rights)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct DocArg {
    doc: DocId,
}

async fn document(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<DocArg>,
) -> R<fuda_keyd::service::DocumentRights> {
    s.document(caller(&h)?, a.doc.to_string())
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct GrantArg {
    doc: DocId,
    grant: Grant,
}

async fn grant(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<GrantArg>,
) -> R<fuda_keyd::registry::Document> {
    s.grant(caller(&h)?, a.doc.to_string(), a.grant)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct UngrantArg {
    doc: DocId,
    principal: Principal,
}

async fn ungrant(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<UngrantArg>,
) -> R<fuda_keyd::registry::Document> {
    s.ungrant(caller(&h)?, a.doc.to_string(), a.principal)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn user_add(State(s): Svc, h: HeaderMap, Body(u): Body<NewUser>) -> R<UserAdded> {
    s.user_add(caller(&h)?, u).await.map(Json).map_err(ApiError)
}

async fn user_list(State(s): Svc, h: HeaderMap) -> R<Vec<fuda_keyd::directory::User>> {
    s.user_list(caller(&h)?).await.map(Json).map_err(ApiError)
}

#[derive(Deserialize)]
struct NameArg {
    name: String,
}

async fn user_code(State(s): Svc, h: HeaderMap, Body(a): Body<NameArg>) -> R<UserAdded> {
    s.user_code(caller(&h)?, a.name)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Serialize)]
struct Revoked {
    revoked: usize,
}

async fn revoke_tokens(State(s): Svc, h: HeaderMap, Body(a): Body<NameArg>) -> R<Revoked> {
    s.revoke_tokens(caller(&h)?, a.name)
        .await
        .map(|revoked| Json(Revoked { revoked }))
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct StatusArg {
    name: String,
    status: UserStatus,
}

async fn user_status(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<StatusArg>,
) -> R<fuda_keyd::directory::User> {
    s.user_status(caller(&h)?, a.name, a.status)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Serialize)]
struct Empty {}

async fn group_add(State(s): Svc, h: HeaderMap, Body(a): Body<NameArg>) -> R<Empty> {
    s.group_add(caller(&h)?, a.name)
        .await
        .map(|_| Json(Empty {}))
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct MemberArg {
    group: String,
    user: String,
    member: bool,
}

async fn group_member(State(s): Svc, h: HeaderMap, Body(a): Body<MemberArg>) -> R<Empty> {
    s.group_member(caller(&h)?, a.group, a.user, a.member)
        .await
        .map(|_| Json(Empty {}))
        .map_err(ApiError)
}

async fn group_list(State(s): Svc, h: HeaderMap) -> R<Vec<fuda_keyd::directory::Group>> {
    s.group_list(caller(&h)?).await.map(Json).map_err(ApiError)
}

async fn revoke(
    State(s): Svc,
    h: HeaderMap,
    Body(t): Body<RevokeTarget>,
) -> R<fuda_keyd::registry::Revocation> {
    check_doc(t.doc.as_deref())?;
    s.revoke(caller(&h)?, t).await.map(Json).map_err(ApiError)
}

async fn unrevoke(State(s): Svc, h: HeaderMap, Body(t): Body<RevokeTarget>) -> R<Empty> {
    check_doc(t.doc.as_deref())?;
    s.unrevoke(caller(&h)?, t)
        .await
        .map(|_| Json(Empty {}))
        .map_err(ApiError)
}

/// A document id named in a request must be one (a ULID): anything else is a 400.
fn check_doc(doc: Option<&str>) -> Result<(), Error> {
    match doc.map(str::parse::<DocId>) {
        Some(Err(_)) => Err(Error::Invalid(format!(
            "{:?} is not a document id (26 characters of Crockford base32, a ULID)",
            doc.unwrap_or_default()
        ))),
        _ => Ok(()),
    }
}

async fn revocations(State(s): Svc, h: HeaderMap) -> R<Vec<fuda_keyd::registry::Revocation>> {
    s.revocations(caller(&h)?).await.map(Json).map_err(ApiError)
}

/// The company ledger (admins and auditors), streamed as it is built.
async fn ledger(State(s): Svc, h: HeaderMap) -> Result<Response, ApiError> {
    let sources = s
        .ledger_sources(caller(&h)?, crate::ledger::audit_detail())
        .await?;
    Ok(crate::ledger::stream(s, sources))
}

/// A one-time log-in link to the browser console (admins and auditors).
async fn console_link(State(s): Svc, h: HeaderMap) -> R<fuda_keyd::console::LoginLink> {
    s.console_link(caller(&h)?)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn documents(State(s): Svc, h: HeaderMap) -> R<Vec<fuda_keyd::registry::Document>> {
    s.documents(caller(&h)?).await.map(Json).map_err(ApiError)
}

async fn audit(
    State(s): Svc,
    h: HeaderMap,
    Body(q): Body<Query>,
) -> R<Vec<fuda_keyd::audit::Record>> {
    s.audit(caller(&h)?, q).await.map(Json).map_err(ApiError)
}

async fn audit_verify(State(s): Svc, h: HeaderMap) -> R<fuda_keyd::audit::Verification> {
    s.audit_verify(caller(&h)?)
        .await
        .map(Json)
        .map_err(ApiError)
}

/// Checkpoints a client kept, to verify the log against.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldCheckpoints {
    checkpoints: Vec<fuda_keyd::checkpoint::Checkpoint>,
}

/// Most checkpoints one verification may be given.
const MAX_HELD_CHECKPOINTS: usize = 1_000;

async fn audit_verify_against(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<HeldCheckpoints>,
) -> R<fuda_keyd::audit::Verification> {
    let caller = caller(&h)?;
    if a.checkpoints.len() > MAX_HELD_CHECKPOINTS {
        return Err(ApiError(Error::Invalid(format!(
            "at most {MAX_HELD_CHECKPOINTS} checkpoints in one verification: keep the highest of each machine"
        ))));
    }
    s.audit_verify_against(caller, a.checkpoints)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn rotate_key(State(s): Svc, h: HeaderMap) -> R<ServiceInfo> {
    s.rotate_key(caller(&h)?).await.map(Json).map_err(ApiError)
}

/// The organisation's policy, signed by the service; `null` when no admin set one.
async fn policy(State(s): Svc, h: HeaderMap) -> R<Option<SignedPolicy>> {
    s.policy(caller(&h)?).await.map(Json).map_err(ApiError)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyArg {
    text: String,
    origin: String,
}

async fn policy_set(State(s): Svc, h: HeaderMap, Body(a): Body<PolicyArg>) -> R<PolicySet> {
    s.policy_set(caller(&h)?, a.text, a.origin)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionArg {
    version: Option<u32>,
}

async fn policy_version(State(s): Svc, h: HeaderMap, Body(a): Body<VersionArg>) -> R<SignedPolicy> {
    s.policy_version(caller(&h)?, a.version)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn policy_apply(State(s): Svc, h: HeaderMap) -> R<Applied> {
    s.policy_apply(caller(&h)?)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn not_found() -> ApiError {
    ApiError(Error::NotFound(
        "no such endpoint: the API is under /v1 (see docs/key-service.md)".into(),
    ))
}

/// What every request passes first: the brakes on failed authentications and on an
/// account's requests, and the log.
#[derive(Clone)]
struct Front {
    service: Service,
    brake: AuthBrake,
    accounts: AccountBrake,
    names: TokenNames,
    checkpoints: crate::checkpoint::Newest,
}

/// Who a token belongs to, for the request log and the per-account budget (never for an
/// access decision: the service checks every token itself): filled after a token's first
/// request answered by the service, bounded.
#[derive(Clone, Default)]
struct TokenNames(Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], String>>>);

/// Tokens remembered for the log at most; the map starts again when full.
const TOKEN_NAMES: usize = 16_384;

impl TokenNames {
    fn get(&self, key: &[u8; 32]) -> Option<String> {
        let names = self.0.lock().unwrap_or_else(|e| e.into_inner());
        names.get(key).cloned()
    }

    fn put(&self, key: [u8; 32], name: String) {
        let mut names = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= TOKEN_NAMES {
            names.clear();
        }
        names.insert(key, name);
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty() && token.len() <= 256).then(|| token.to_owned())
}

/// One log line per request at the default level: method, path, status, time, the
/// caller's address and user (`-` when none is known). Never tokens, codes or keys.
fn log_request(method: &str, path: &str, status: u16, micros: u64, peer: &str, user: &str) {
    if status >= 500 {
        tracing::error!(method, path, status, micros, peer, user, "request");
    } else if status >= 400 {
        tracing::warn!(method, path, status, micros, peer, user, "request");
    } else {
        tracing::info!(method, path, status, micros, peer, user, "request");
    }
}

/// The 429 for an account over its budget of requests (`None`: within it). Its first
/// refusal in a minute is logged and audited, the others are not (a hammering client
/// would fill the disk).
fn throttled(f: &Front, user: &str, now: Instant) -> Option<Response> {
    let Admit::Refused { retry_after, audit } = f.accounts.admit(user, now) else {
        return None;
    };
    if let Some(refused) = audit {
        let per_minute = f.accounts.per_minute();
        tracing::warn!(user, per_minute, refused, "account over its request budget");
        let (service, user) = (f.service.clone(), user.to_owned());
        tokio::spawn(async move {
            if let Err(e) = service
                .audit_account_throttled(user.clone(), per_minute, refused)
                .await
            {
                tracing::error!(error = %e, "cannot audit the throttling of {user}");
            }
        });
    }
    let seconds = retry_after.as_secs();
    let body = serde_json::json!({
        "error": "too-many-requests",
        "message": format!(
            "{user} made more than {} requests in a minute to the key service: try again in \
             {seconds} s (if a legitimate job needs more, ask the administrator to raise \
             --max-requests-per-account-per-minute)",
            f.accounts.per_minute()
        ),
    });
    let mut resp = refused_unread(body);
    resp.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, seconds.into());
    Some(resp)
}

/// A 429 answered before the request's body was read: the connection is closed after
/// it, so that no client sends its next request after an unread body (which the server
/// would take for the end of the connection).
fn refused_unread(body: serde_json::Value) -> Response {
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    resp
}

async fn front(State(f): State<Front>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let peer_text = peer.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let token = bearer(req.headers());
    let key = token.as_deref().map(fuda_keyd::directory::secret_hash);
    let start = Instant::now();
    // A blocked address is refused before the service sees the request, except with a
    // token that has worked before: behind a NAT or a proxy, one guesser must not lock
    // out every colleague who shares the address.
    let known = key.as_ref().and_then(|k| f.names.get(k));
    if let Some(user) = &known {
        if let Some(refused) = throttled(&f, user, start) {
            return refused;
        }
    }
    if known.is_none() && peer.is_some_and(|ip| f.brake.blocked(ip, start)) {
        // Not one line per refused request: a guesser would fill the disk. The block's
        // start is logged (and audited) once.
        tracing::debug!(%method, %path, peer = %peer_text, "refused: address blocked");
        let body = serde_json::json!({
            "error": "too-many-failures",
            "message": "too many failed authentications from this address: wait a few minutes, then check the token or enrollment code (ask an admin for a new code)",
        });
        return refused_unread(body);
    }
    let mut resp = next.run(req).await;
    if known.is_some() && resp.status().is_success() {
        f.checkpoints.attach(&f.service, &mut resp, Instant::now());
    }
    let status = resp.status().as_u16();
    let micros = start.elapsed().as_micros() as u64;
    if status == 401 {
        if let Some(ip) = peer {
            if let Failure::Blocked { failures } = f.brake.failed(ip, Instant::now()) {
                tracing::warn!(peer = %ip, failures, "address blocked after failed authentications");
                let service = f.service.clone();
                let seconds = f.brake.block().as_secs();
                tokio::spawn(async move {
                    if let Err(e) = service.audit_throttled(ip, failures, seconds).await {
                        tracing::error!(error = %e, "cannot audit the block of {ip}");
                    }
                });
            }
        }
    }
    match (key, token) {
        (Some(key), Some(token)) if status != 401 => match known {
            Some(user) => log_request(&method, &path, status, micros, &peer_text, &user),
            // The first request of a token: ask whose it is after answering, then log.
            None => {
                let (service, names) = (f.service.clone(), f.names.clone());
                tokio::spawn(async move {
                    let user = match service.whoami(Caller::Token(token)).await {
                        Ok(user) => {
                            names.put(key, user.name.clone());
                            user.name
                        }
                        Err(_) => "-".to_owned(),
                    };
                    log_request(&method, &path, status, micros, &peer_text, &user);
                });
            }
        },
        _ => log_request(&method, &path, status, micros, &peer_text, "-"),
    }
    resp
}

/// The API's routes over `service`, with the default [`FrontLimits`].
pub fn router(service: Service) -> Router {
    router_with(service, FrontLimits::default())
}

/// The API's routes over `service`; `limits` set the brake on failed authentications.
pub fn router_with(service: Service, limits: FrontLimits) -> Router {
    let front_state = Front {
        service: service.clone(),
        brake: AuthBrake::new(limits),
        accounts: AccountBrake::new(limits.account_requests_per_minute),
        names: TokenNames::default(),
        checkpoints: Default::default(),
    };
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/info", get(info))
        .route("/v1/enroll", post(enroll))
        .route("/v1/me", get(me))
        .route("/v1/signers", get(signers))
        .route("/v1/label-changes", post(label_changes))
        .route("/v1/label-versions", post(label_versions))
        .route("/v1/documents", post(register))
        .route("/v1/document", post(document))
        .route("/v1/grant", post(grant))
        .route("/v1/ungrant", post(ungrant))
        .route("/v1/licences", post(licence))
        .route("/v1/policy", get(policy))
        .route("/v1/admin/policy", post(policy_set))
        .route("/v1/admin/policy/show", post(policy_version))
        .route("/v1/admin/policy/apply", post(policy_apply))
        .route("/v1/admin/users", post(user_add).get(user_list))
        .route("/v1/admin/user-code", post(user_code))
        .route("/v1/admin/user-status", post(user_status))
        .route("/v1/admin/revoke-tokens", post(revoke_tokens))
        .route("/v1/admin/groups", post(group_add).get(group_list))
        .route("/v1/admin/group-members", post(group_member))
        .route("/v1/admin/revoke", post(revoke))
        .route("/v1/admin/unrevoke", post(unrevoke))
        .route("/v1/admin/revocations", get(revocations))
        .route("/v1/admin/documents", get(documents))
        .route("/v1/admin/audit", post(audit))
        .route(
            "/v1/admin/audit/verify",
            get(audit_verify).post(audit_verify_against),
        )
        .route("/v1/admin/rotate-key", post(rotate_key))
        .merge(recovery_routes())
        .merge(document_life_routes())
        .route("/v1/reports", post(report))
        .route("/v1/admin/ledger", get(ledger))
        .route("/v1/admin/console-link", post(console_link))
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(front_state, front))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(service)
}

/// Serves `service` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (at most 30 s). At most `limits.max_connections` connections are open at once
/// (one more is closed as soon as it is accepted), at most
/// `limits.max_connections_per_address` from one address, and a connection that sends nothing
/// for `limits.idle_timeout` — in the TLS handshake, in a request's headers or between
/// requests — is closed.
pub async fn serve(
    service: Service,
    tls: rustls::ServerConfig,
    listener: tokio::net::TcpListener,
    limits: FrontLimits,
    shutdown: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let app = router_with(service, limits);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_address = crate::guard::OpenConnections::default();
    let mut refused_since_warning = 0u64;
    let mut last_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let admitted = open.clone().try_acquire_owned().ok().and_then(|permit| {
                    per_address
                        .admit(peer.ip(), limits.max_connections_per_address)
                        .map(|counted| (permit, counted))
                });
                let Some(permit) = admitted else {
                    drop(tcp);
                    refused_since_warning += 1;
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(
                            max_connections = limits.max_connections,
                            per_address = limits.max_connections_per_address,
                            refused = refused_since_warning,
                            "connection limit reached: closing new connections"
                        );
                        (refused_since_warning, last_warning) = (0, Some(Instant::now()));
                    }
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, app, watcher) = (acceptor.clone(), app.clone(), graceful.watcher());
                let idle = limits.idle_timeout;
                tokio::spawn(async move {
                    let _permit = permit;
                    let tls = match tokio::time::timeout(idle, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let app = tower::util::MapRequest::new(app, move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                        req
                    });
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder.timer(TokioTimer::new()).header_read_timeout(idle).keep_alive(true);
                    let conn = builder.serve_connection(
                        TokioIo::new(tls),
                        hyper_util::service::TowerToHyperService::new(app),
                    );
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within 30 s");
    }
}

/// What `fuda-keyd init` made.
#[derive(Debug)]
pub struct Init {
    /// The first admin and their one-time enrollment code.
    pub admin: UserAdded,
    /// The TLS certificate's SHA-256 fingerprint.
    pub fingerprint: String,
    /// The service's id and keys.
    pub info: ServiceInfo,
}

/// `fuda-keyd init`: keys, TLS certificate, database, first admin.
pub fn init(data: &Path, admin: NewUser) -> Result<Init, Error> {
    init_on(
        data,
        &fuda_keyd::store::Database::Sqlite(data.join(fuda_keyd::service::DB_FILE)),
        admin,
    )
}

/// [`init`] with the state in `database` (which must hold no service yet).
pub fn init_on(
    data: &Path,
    database: &fuda_keyd::store::Database,
    admin: NewUser,
) -> Result<Init, Error> {
    let (service, added) = Service::init_on(data, database, admin)?;
    let info = service.info();
    service.close();
    let fingerprint = crate::tls::generate(
        &data.join("tls"),
        &[
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ],
    )?;
    Ok(Init {
        admin: added,
        fingerprint,
        info,
    })
}

/// A server running on its own threads (for tests and benchmarks).
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Opens the service in `data` and serves it on `addr` (port 0: any free port).
    pub fn start(data: &Path, addr: SocketAddr) -> Result<Running, Error> {
        let service = Service::open(data)?;
        let tls = crate::tls::server_config(&data.join("tls"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start the runtime: {e}")))?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| Error::Invalid(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(serve(
                service.clone(),
                tls,
                listener,
                FrontLimits::default(),
                async {
                    let _ = stopped.await;
                },
            ));
            service.close();
        });
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops gracefully and waits.
    pub fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// The recovery key (fuda_keyd::service::recovery): the recipients every protected file
// carries, adding one (admin), and rewrapping a registered file's header to them (admin).

fn recovery_routes() -> Router<Service> {
    Router::new()
        .route("/v1/recovery", get(recovery_recipients))
        .route("/v1/admin/recovery", post(recovery_add))
        .route("/v1/rewrap", post(rewrap))
}

async fn recovery_recipients(State(s): Svc, h: HeaderMap) -> R<Vec<String>> {
    s.recovery_recipients(caller(&h)?)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct RecoveryAdd {
    recipient: String,
}

async fn recovery_add(State(s): Svc, h: HeaderMap, Body(a): Body<RecoveryAdd>) -> R<Vec<String>> {
    s.recovery_add(caller(&h)?, a.recipient)
        .await
        .map(Json)
        .map_err(ApiError)
}

#[derive(Deserialize)]
struct Rewrap {
    #[serde(with = "fuda_keyd::registry::b64")]
    header: Vec<u8>,
}

async fn rewrap(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<Rewrap>,
) -> R<fuda_keyd::service::Rewrapped> {
    s.rewrap(caller(&h)?, a.header)
        .await
        .map(Json)
        .map_err(ApiError)
}

// A document's life after protection (fuda_keyd::service::documents, ::versions): a new
// owner (the owner or an admin), a new version (the edit right), a new level (the owner or
// an admin).

fn document_life_routes() -> Router<Service> {
    Router::new()
        .route("/v1/transfer", post(transfer))
        .route("/v1/versions", post(save_version))
        .route("/v1/reclassify", post(reclassify))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferArg {
    doc: DocId,
    owner: String,
}

async fn transfer(
    State(s): Svc,
    h: HeaderMap,
    Body(a): Body<TransferArg>,
) -> R<fuda_keyd::registry::Document> {
    s.transfer(caller(&h)?, a.doc.to_string(), a.owner)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn save_version(
    State(s): Svc,
    h: HeaderMap,
    Body(v): Body<fuda_keyd::service::NewVersion>,
) -> R<fuda_keyd::service::Registered> {
    s.save_version(caller(&h)?, v)
        .await
        .map(Json)
        .map_err(ApiError)
}

async fn reclassify(
    State(s): Svc,
    h: HeaderMap,
    Body(r): Body<fuda_keyd::service::Reclassify>,
) -> R<fuda_keyd::service::Registered> {
    s.reclassify(caller(&h)?, r)
        .await
        .map(Json)
        .map_err(ApiError)
}

// Machine reports (fuda_keyd::service::reports): one signed chunk per request, the body
// exactly as signed (so it is taken as bytes, never re-encoded), the signature in the
// `Fuda-Signature` header.

async fn report(
    State(s): Svc,
    h: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<fuda_keyd::report::ReportAck>, Response> {
    let refuse = |e: Error| ApiError(e).into_response();
    let caller = caller(&h).map_err(refuse)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let message = format!(
                "the report chunk is larger than {BODY_LIMIT} bytes: send fewer files per chunk"
            );
            let body = serde_json::json!({"error": "too-large", "message": message});
            (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
        } else {
            refuse(Error::Invalid(format!(
                "the report chunk could not be read: {}",
                r.body_text()
            )))
        }
    })?;
    let signature = h
        .get(fuda_keyd::report::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(fuda_keyd::report::decode_signature)
        .ok_or_else(|| {
            refuse(Error::Invalid(format!(
                "a report needs its Ed25519 signature in the {} header (standard base64 of 64 bytes)",
                fuda_keyd::report::SIGNATURE_HEADER
            )))
        })?;
    let chunk = fuda_keyd::report::SignedChunk {
        body: body.to_vec(),
        signature,
    };
    s.report(caller, chunk).await.map(Json).map_err(refuse)
}
