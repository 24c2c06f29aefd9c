//! Raw HTTPS requests to a key service, with the certificate pinned by its fingerprint:
//! what a hostile client sends, byte for byte (shared by the root e2e tests and
//! `crates/fuda-keyd/tests/http.rs`).
#![allow(dead_code)]

use std::sync::Arc;

/// A pinned HTTPS client of one service.
pub struct Api {
    url: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client of the service at `url` whose certificate has SHA-256 `fingerprint`.
    pub fn new(url: &str, fingerprint: &str) -> Api {
        let pin = fuda_keyd::tls::parse_fingerprint(fingerprint).unwrap();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(fuda_keyd::tls::pinned_client_config(pin)))
            .build();
        Api {
            url: url.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// (status, error code, message) of a raw request; status 0 when the transport failed.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, String, String) {
        let (status, v) = self.send(method, path, token, content_type, body);
        (
            status,
            v["error"].as_str().unwrap_or("").into(),
            v["message"].as_str().unwrap_or("").into(),
        )
    }

    /// (status, JSON answer) of a JSON request with a bearer token.
    pub fn json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let body = body.to_string();
        self.send(
            method,
            path,
            Some(token),
            Some("application/json"),
            Some(body.as_bytes()),
        )
    }

    /// (status, JSON answer) of a GET with a bearer token.
    pub fn call_json_get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.send("GET", path, Some(token), None, None)
    }

    /// (status, JSON answer) of a machine report chunk: `body` as it is, the signature
    /// header when given.
    pub fn report(
        &self,
        token: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let headers: Vec<(&str, &str)> = signature
            .map(|s| (fuda_keyd::report::SIGNATURE_HEADER, s))
            .into_iter()
            .collect();
        self.send_with(
            "POST",
            "/v1/reports",
            token,
            Some("application/json"),
            Some(body),
            &headers,
        )
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, serde_json::Value) {
        self.send_with(method, path, token, content_type, body, &[])
    }

    fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut req = self.agent.request(method, &format!("{}{path}", self.url));
        for (name, value) in headers {
            req = req.set(name, value);
        }
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        let resp = match body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        let r = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            // The server may answer 413 and close before a large body is sent in full.
            Err(e) => {
                return (
                    0,
                    serde_json::json!({"error": "transport", "message": e.to_string()}),
                )
            }
        };
        let status = r.status();
        let v: serde_json::Value = r
            .into_json()
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        (status, v)
    }
}
