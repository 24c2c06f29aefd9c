//! The audit records of the HTTPS front's brakes: an address blocked after too many failed
//! authentications, and an account refused for making too many requests (the front
//! decides; the records make it visible in the one log auditors read).

use std::net::IpAddr;

use super::authz::audit_err;
use super::lifecycle::Service;
use crate::audit::Event;
use crate::error::Error;
use crate::store::append_audit;

impl Service {
    /// Records that `address` is refused for `seconds` after `failures` failed
    /// authentications (actor `-`: a guess names nobody).
    pub async fn audit_throttled(
        &self,
        address: IpAddr,
        failures: u32,
        seconds: u64,
    ) -> Result<(), Error> {
        let keys = self.keys();
        self.run_async(move |tx| {
            let event = Event::allow("-", "auth-throttled")
                .deny("too-many-failures")
                .detail(serde_json::json!({
                    "address": address.to_string(),
                    "failures": failures,
                    "blocked_seconds": seconds,
                }));
            append_audit(tx, keys.audit_key(), event).map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Records that `user`'s requests are refused for going over `per_minute` a minute;
    /// `refused`: the refusals this record stands for (at most one record a minute).
    pub async fn audit_account_throttled(
        &self,
        user: String,
        per_minute: u32,
        refused: u64,
    ) -> Result<(), Error> {
        let keys = self.keys();
        self.run_async(move |tx| {
            let event = Event::allow(&user, "account-throttled")
                .deny("too-many-requests")
                .detail(serde_json::json!({
                    "requests_per_minute": per_minute,
                    "refused": refused,
                }));
            append_audit(tx, keys.audit_key(), event).map_err(audit_err)?;
            Ok(())
        })
        .await
    }
}
