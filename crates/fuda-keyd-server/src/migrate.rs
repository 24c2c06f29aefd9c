//! `fuda-keyd migrate`: moves a service's state to another database (SQLite to
//! PostgreSQL) and checks the move: the source's audit chain must verify before anything
//! is written, the target is read back and compared with the source before it commits,
//! and the target's chain is verified again after.

use std::path::Path;

use anyhow::{bail, Context, Result};
use fuda_keyd::audit::{self, Verification};
use fuda_keyd::keys::ServiceKeys;
use fuda_keyd::store::{copy, Database, Store};

/// Reads the chain of `store` and verifies it with the service's audit key.
fn verify(store: &mut dyn Store, keys: &ServiceKeys) -> Result<Verification> {
    let mut result = None;
    store.transaction(&mut |tx| {
        let records = tx.audit_all()?;
        let head = tx.audit_head()?;
        result = Some(audit::verify(keys.audit_key(), records, head));
        Ok(())
    })?;
    Ok(result.expect("verified in the transaction"))
}

/// Runs the command.
pub fn run(data: &Path, from: Option<&str>, to: &str, json: bool) -> Result<()> {
    let keys = ServiceKeys::load(&data.join("keys"))
        .with_context(|| format!("cannot load the service keys in {}", data.display()))?;
    let from = match from {
        Some(spec) => Database::parse(spec)?,
        None => Database::of_dir(data)?,
    };
    let to = Database::parse(to)?;
    if from.label() == to.label() {
        bail!("--from and --to are the same database ({})", from.label());
    }
    let mut source = from
        .open()
        .with_context(|| format!("cannot open {}", from.label()))?;
    let before = verify(&mut *source, &keys)?;
    if !before.ok {
        bail!(
            "the audit chain of {} does not verify ({}): nothing was moved; keep this database and investigate (docs/key-service.md)",
            from.label(),
            before.problem.unwrap_or_default()
        );
    }
    let mut target = to
        .open()
        .with_context(|| format!("cannot open {}", to.label()))?;
    let moved = copy::copy(&mut *source, &mut *target)
        .with_context(|| format!("cannot move {} to {}", from.label(), to.label()))?;
    let after = verify(&mut *target, &keys)?;
    if !after.ok || after.records != before.records {
        bail!(
            "the audit chain in {} does not verify after the move ({}): do not use it; the source is unchanged",
            to.label(),
            after.problem.unwrap_or_default()
        );
    }
    to.remember(data)
        .with_context(|| format!("cannot name the new database in {}", data.display()))?;
    let counts = moved.counts();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "from": from.label(), "to": to.label(), "moved": counts,
                "audit": { "records": after.records, "verified": after.ok },
            })
        );
    } else {
        println!(
            "Moved the key service from {} to {}:",
            from.label(),
            to.label()
        );
        println!("  users:             {}", counts.users);
        println!("  groups:            {}", counts.groups);
        println!("  API tokens:        {}", counts.tokens);
        println!("  enrollment codes:  {}", counts.enrollments);
        println!("  documents:         {}", counts.documents);
        println!("  revocations:       {}", counts.revocations);
        println!("  policy versions:   {}", counts.policies);
        println!("  document versions: {}", counts.versions);
        println!("  indexed files:     {}", counts.index_files);
        println!("  machines:          {}", counts.machines);
        println!("  report states:     {}", counts.reports);
        println!(
            "  audit records:     {} (chain verified, identical to the source)",
            after.records
        );
        println!(
            "{} now names {}: start the service with `fuda-keyd serve --data {}`.",
            data.join(fuda_keyd::store::DATABASE_FILE).display(),
            to.label(),
            data.display()
        );
    }
    Ok(())
}
