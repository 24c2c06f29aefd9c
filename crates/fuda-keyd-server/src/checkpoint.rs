//! The newest signed audit checkpoint ([`fuda_keyd::checkpoint`]), attached to every
//! successful answer to an enrolled user in the `Fuda-Audit-Checkpoint` header, so that
//! every client keeps evidence of how far the audit log had reached.
//!
//! Signed at most once a second, by one background task: an answer carries the newest
//! checkpoint signed so far (at most about a second old) and never waits for one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use axum::response::Response;
use fuda_keyd::checkpoint::HEADER;
use fuda_keyd::Service;

/// How often a new checkpoint is signed at most.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    value: Option<HeaderValue>,
    asked: Option<Instant>,
    signing: bool,
}

/// The newest checkpoint, shared by every request.
#[derive(Clone, Default)]
pub struct Newest(Arc<Mutex<State>>);

impl Newest {
    /// Attaches the newest checkpoint to `resp`, and has a new one signed when it is
    /// older than a second.
    pub fn attach(&self, service: &Service, resp: &mut Response, now: Instant) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let stale = state.asked.is_none_or(|at| now.duration_since(at) >= EVERY);
        if stale && !state.signing {
            state.signing = true;
            state.asked = Some(now);
            let (newest, service) = (self.clone(), service.clone());
            tokio::spawn(async move { newest.sign(&service).await });
        }
        if let Some(value) = &state.value {
            resp.headers_mut().insert(HEADER, value.clone());
        }
    }

    async fn sign(&self, service: &Service) {
        let value = match service.audit_checkpoint().await {
            Ok(c) => HeaderValue::from_str(&c.to_header()).ok(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot sign an audit checkpoint");
                None
            }
        };
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.signing = false;
        if value.is_some() {
            state.value = value;
        }
    }
}
