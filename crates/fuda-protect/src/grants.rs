//! What a protected file allows, decided before it is written: its level, its grants and its
//! expiry, from the policy (docs/policy.md) and what the owner asked for.

use fuda_core::label::Label;
use fuda_core::policy::{Level, Policy};
use fuda_core::rights::{Right, Rights};
use fuda_keyd::registry::{Grant, Principal};

use crate::ProtectError;

/// The level to protect `path` at: the one asked for (id, Japanese or English name), else
/// the level of the label the file carries, else the policy's default level.
pub fn choose_level<'p>(
    policy: &'p Policy,
    asked: Option<&str>,
    current: Option<&Label>,
    path: &std::path::Path,
) -> Result<&'p Level, ProtectError> {
    let unknown = |name: &str| ProtectError::UnknownLevel {
        name: name.to_owned(),
        policy: policy.to_string(),
        known: policy.level_names(),
    };
    match (asked, current, &policy.default_level) {
        (Some(name), _, _) => policy.level_by_name(name).ok_or_else(|| unknown(name)),
        (None, Some(label), _) => policy
            .level(&label.level)
            .ok_or_else(|| unknown(&label.level)),
        (None, None, Some(default)) => policy.level(default).ok_or_else(|| unknown(default)),
        (None, None, None) => Err(ProtectError::NoLevel {
            path: path.to_owned(),
        }),
    }
}

/// The level's default grants, with `group:$dept` bound to the owner's department (and left
/// out when the owner has none).
pub fn default_grants(
    policy: &Policy,
    level: &Level,
    dept: Option<&str>,
) -> Result<Vec<Grant>, ProtectError> {
    let mut out = Vec::new();
    for (principal, rights) in &level.grants {
        let principal = if principal.contains("$dept") {
            match dept {
                Some(d) => principal.replace("$dept", d),
                None => continue,
            }
        } else {
            principal.clone()
        };
        let principal = principal.parse().map_err(|e| ProtectError::BadPolicy {
            policy: policy.to_string(),
            what: format!("level {}: default grant {principal:?}: {e}", level.id),
        })?;
        out.push(Grant {
            principal,
            rights: *rights,
        });
    }
    Ok(out)
}

/// The level's default rights for the owner's department (its `group:$dept` grant).
pub fn dept_rights(level: &Level) -> Option<Rights> {
    level
        .grants
        .iter()
        .find(|(principal, _)| principal.as_str() == "group:$dept")
        .map(|(_, rights)| *rights)
}

/// Every grant of a file protected at `level`: the level's defaults, then `extra` (which
/// replaces a default for the same principal), and the owner's `owner` right when no grant
/// names the owner. An extra grant beyond the level's `max_rights` is refused.
pub fn grants(
    policy: &Policy,
    level: &Level,
    dept: Option<&str>,
    extra: &[Grant],
) -> Result<Vec<Grant>, ProtectError> {
    let mut grants = default_grants(policy, level, dept)?;
    for g in extra {
        if g.principal != Principal::Owner && !level.max_rights.covers(g.rights) {
            return Err(ProtectError::GrantTooWide {
                level: level.name_ja.clone(),
                max: level.max_rights,
                principal: g.principal.to_string(),
                rights: g.rights,
            });
        }
        grants.retain(|d| d.principal != g.principal);
        grants.push(g.clone());
    }
    if !grants.iter().any(|g| g.principal == Principal::Owner) {
        grants.push(Grant {
            principal: Principal::Owner,
            rights: Rights::NONE.with(Right::Owner),
        });
    }
    Ok(grants)
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<time::Date, ProtectError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|_| ProtectError::BadDate {
        text: text.to_owned(),
    })
}

/// When a file protected at `level` now (`now`, Unix seconds) expires: the end (UTC) of the
/// day asked for, which must not be later than the level's `expires_days` allow; without
/// a date, the level's limit (or never).
pub fn expiry(
    level: &Level,
    asked: Option<time::Date>,
    now: i64,
) -> Result<Option<i64>, ProtectError> {
    let limit = (level.expires_days > 0).then(|| now + i64::from(level.expires_days) * 86_400);
    let Some(date) = asked else {
        return Ok(limit);
    };
    let end = date.midnight().assume_utc().unix_timestamp() + 86_400;
    match limit {
        Some(max) if end > max => Err(ProtectError::ExpiryTooLate {
            level: level.name_ja.clone(),
            days: level.expires_days,
            date,
        }),
        _ => Ok(Some(end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::builtin("default").unwrap()
    }

    #[test]
    fn the_department_of_the_owner_gets_the_levels_default_rights() {
        let p = policy();
        let level = p.level("confidential").unwrap();
        let g = grants(&p, level, Some("設計部"), &[]).unwrap();
        assert!(g
            .iter()
            .any(|g| g.principal == Principal::Group("設計部".into())
                && g.rights.allows(Right::View)));
        assert!(g.iter().any(|g| g.principal == Principal::Owner));
        // Without a department, nobody but the owner.
        let g = grants(&p, level, None, &[]).unwrap();
        assert_eq!(g.len(), 1, "{g:?}");
    }

    #[test]
    fn a_grant_beyond_the_levels_maximum_is_refused_with_the_maximum_named() {
        let p = policy();
        let level = p.level("strictly-confidential").unwrap();
        let wide: Grant = "user:sato=view,edit".parse().unwrap();
        let e = grants(&p, level, None, &[wide]).unwrap_err();
        assert!(
            matches!(e, ProtectError::GrantTooWide { .. })
                && e.to_string().contains("at most view"),
            "{e}"
        );
    }

    #[test]
    fn an_expiry_past_the_levels_limit_is_refused_and_without_one_the_limit_applies() {
        let p = policy();
        let level = p.level("strictly-confidential").unwrap();
        let now = 1_700_000_000;
        assert_eq!(expiry(level, None, now).unwrap(), Some(now + 365 * 86_400));
        let far = parse_date("2099-01-01").unwrap();
        assert!(matches!(
            expiry(level, Some(far), now),
            Err(ProtectError::ExpiryTooLate { .. })
        ));
        let near = parse_date("2023-12-01").unwrap();
        assert_eq!(
            expiry(level, Some(near), now).unwrap(),
            Some(1_701_475_200),
            "the end of that day, UTC"
        );
        assert!(matches!(
            parse_date("1/12/2023"),
            Err(ProtectError::BadDate { .. })
        ));
    }

    #[test]
    fn the_level_asked_for_wins_over_the_label_and_the_default() {
        let p = policy();
        let path = std::path::Path::new("x");
        assert_eq!(
            choose_level(&p, Some("秘"), None, path).unwrap().id,
            "confidential"
        );
        let e = choose_level(&p, Some("nope"), None, path).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
