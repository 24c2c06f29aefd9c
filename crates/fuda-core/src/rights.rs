//! Rights a person can hold on a protected document.
//!
//! The key service decides who gets a file key at all; `fuda` enforces the rest on its own
//! commands. `print` and `copy` are advisory without a trusted viewer (see docs/security.md).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One right, as written in policies and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    /// Open and read the document.
    View,
    /// Change the document and save it protected again.
    Edit,
    /// Print (advisory without a trusted viewer).
    Print,
    /// Copy content to the clipboard (advisory without a trusted viewer).
    Copy,
    /// Write the plaintext out unprotected.
    Export,
    /// Grant rights to others, up to one's own.
    Share,
    /// Everything, including changing rights and removing protection.
    Owner,
}

impl Right {
    /// Every right, in display order.
    pub const ALL: [Right; 7] = [
        Right::View,
        Right::Edit,
        Right::Print,
        Right::Copy,
        Right::Export,
        Right::Share,
        Right::Owner,
    ];

    /// The right's name as written in policies and commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::View => "view",
            Right::Edit => "edit",
            Right::Print => "print",
            Right::Copy => "copy",
            Right::Export => "export",
            Right::Share => "share",
            Right::Owner => "owner",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of rights. `owner` implies every other right.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rights(u8);

/// A rights list that names something that is not a right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown right {0:?}: use a comma-separated list of view, edit, print, copy, export, share, owner")]
pub struct UnknownRight(pub String);

impl Rights {
    /// No rights at all.
    pub const NONE: Rights = Rights(0);

    /// Whether `right` is held (directly or through `owner`).
    pub fn allows(self, right: Right) -> bool {
        self.0 & (Right::Owner.bit() | right.bit()) != 0
    }

    /// Whether every right in `other` is held.
    pub fn covers(self, other: Rights) -> bool {
        Right::ALL
            .iter()
            .all(|r| !other.contains_exactly(*r) || self.allows(*r))
    }

    /// Adds a right.
    pub fn with(self, right: Right) -> Rights {
        Rights(self.0 | right.bit())
    }

    /// Whether no right is held.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn contains_exactly(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    /// The rights explicitly in the set, in display order.
    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL
            .into_iter()
            .filter(move |r| self.contains_exactly(*r))
    }
}

impl FromStr for Rights {
    type Err = UnknownRight;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut rights = Rights::NONE;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let right = Right::ALL
                .into_iter()
                .find(|r| r.as_str().eq_ignore_ascii_case(word))
                .ok_or_else(|| UnknownRight(word.to_owned()))?;
            rights = rights.with(right);
        }
        Ok(rights)
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Right::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rights({self})")
    }
}

impl Serialize for Rights {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_implies_everything() {
        let owner: Rights = "owner".parse().unwrap();
        assert!(Right::ALL.iter().all(|r| owner.allows(*r)));
        let view: Rights = "view".parse().unwrap();
        assert!(view.allows(Right::View));
        assert!(!view.allows(Right::Export));
    }

    #[test]
    fn parses_and_prints_lists() {
        let r: Rights = " view, EDIT ,print".parse().unwrap();
        assert_eq!(r.to_string(), "view,edit,print");
        assert!(r.covers("view,edit".parse().unwrap()));
        assert!(!r.covers("export".parse().unwrap()));
        assert_eq!(
            "view,delete".parse::<Rights>().unwrap_err(),
            UnknownRight("delete".into())
        );
    }
}
