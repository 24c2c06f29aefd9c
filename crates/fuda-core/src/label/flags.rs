//! Flags a label can carry beside its level.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A property of the labelled information that the ledger and the rules care about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// Contains personal information (個人情報).
    PersonalData,
    /// Contains sensitive personal information (要配慮個人情報).
    SensitivePersonalData,
    /// Contains My Numbers (特定個人情報).
    SpecificPersonalData,
    /// Another company's secret received under NDA (取引先秘密).
    ThirdPartySecret,
}

impl Flag {
    /// Every flag.
    pub const ALL: [Flag; 4] = [
        Flag::PersonalData,
        Flag::SensitivePersonalData,
        Flag::SpecificPersonalData,
        Flag::ThirdPartySecret,
    ];

    /// The flag's name in policies, commands and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::PersonalData => "personal-data",
            Flag::SensitivePersonalData => "sensitive-personal-data",
            Flag::SpecificPersonalData => "specific-personal-data",
            Flag::ThirdPartySecret => "third-party-secret",
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a flag.
#[derive(Debug, thiserror::Error)]
#[error("unknown flag {0:?}: use personal-data, sensitive-personal-data, specific-personal-data or third-party-secret")]
pub struct UnknownFlag(pub String);

impl FromStr for Flag {
    type Err = UnknownFlag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flag::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFlag(s.to_owned()))
    }
}
