//! Evaluating a policy's `[[rules]]` on a file: which level the rules propose, and why.
//!
//! A rule matches when any of its conditions does (docs/policy.md, `policies/default.toml`):
//! its path globs match the file's path, its extensions the file's extension, or its
//! keywords (in the file name and text), detectors and regex together reach `min_count`
//! hits. The highest level among matching rules wins (the first such rule in the policy
//! names the label's `rule`); flags of every matching rule are kept, so a 極秘 memo that
//! also lists My Numbers is still flagged as personal data. A detector that finds
//! something adds `personal-data` (and `my-number` adds `specific-personal-data`, the
//! ledger's 特定個人情報) even when the rule lists no flags. Evidence is the condition and
//! its hit count — `keyword:極秘 ×2`, `detector:my-number ×14` — never what matched.
//!
//! ```
//! use fuda_core::policy::Policy;
//! use fuda_classify::rules::Classifier;
//! let policy = Policy::builtin("default").unwrap();
//! let classifier = Classifier::new(&policy).unwrap();
//! let c = classifier.evaluate(std::path::Path::new("/srv/share/議事録.txt"), "【社外秘】定例会議");
//! assert_eq!(c.level.as_deref(), Some("internal"));
//! assert_eq!(c.rule.as_deref(), Some("marked-internal"));
//! assert_eq!(c.evidence[0].what, "keyword:社外秘");
//! ```

use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use fuda_core::digest::Digest;
use fuda_core::label::{Evidence, Flag};
use fuda_core::policy::Policy;
use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::Serialize;

use crate::detect::{self, Counts, Detector};
use crate::extract::{self, ExtractError, Extracted, Limits};

/// Why a policy's rules cannot be used (a validated policy never fails here).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A glob, regex or detector the policy names is not usable.
    #[error("rule {rule}: {reason}")]
    Invalid {
        /// The rule id.
        rule: String,
        /// What is wrong.
        reason: String,
    },
}

struct Compiled {
    id: String,
    level: String,
    rank: u8,
    paths: GlobSet,
    extensions: Vec<String>,
    /// Indices into the shared keyword automaton.
    keywords: Vec<usize>,
    detectors: Vec<Detector>,
    regex: Option<Regex>,
    min_count: u32,
    flags: Vec<Flag>,
}

/// A policy's rules, compiled once and shared by all threads.
pub struct Classifier {
    rules: Vec<Compiled>,
    keywords: Vec<String>,
    /// The policy's keywords, then (when a rule asks for `my-number`) the My Number
    /// keywords: one pass over the text finds both.
    automaton: Option<AhoCorasick>,
    detectors: Vec<Detector>,
    /// Extraction bounds.
    pub limits: Limits,
    /// Also compute the SHA-256 of files whose content extraction reads whole
    /// ([`FileClassification::content_sha256`]), for labeling them without a second read.
    pub hash_content: bool,
}

/// One matching rule.
#[derive(Clone, Debug, Serialize)]
pub struct RuleMatch {
    /// Rule id.
    pub rule: String,
    /// Level the rule proposes.
    pub level: String,
    /// What matched, with counts.
    pub evidence: Vec<Evidence>,
}

/// What the rules propose for one file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Classification {
    /// The proposed level id (`None`: no rule matched).
    pub level: Option<String>,
    /// The rule that decided the level.
    pub rule: Option<String>,
    /// Flags from every matching rule, sorted.
    pub flags: Vec<Flag>,
    /// Evidence from every matching rule (deduplicated), for the label.
    pub evidence: Vec<Evidence>,
    /// Every matching rule.
    pub matches: Vec<RuleMatch>,
}

/// A classification with what extraction found.
#[derive(Debug, Serialize)]
pub struct FileClassification {
    /// The file (in JSON: `{"text": …}` or `{"bytes": base64}`).
    #[serde(serialize_with = "fuda_core::pathname::serialize")]
    pub path: PathBuf,
    /// What the rules propose.
    #[serde(flatten)]
    pub classification: Classification,
    /// How the text was read.
    pub extracted: Option<Extracted>,
    /// Bytes of text scanned.
    pub text_bytes: usize,
    /// Why the content could not be read (the name and type were still classified).
    pub problem: Option<String>,
    /// SHA-256 of the content that was classified, when [`Classifier::hash_content`] is set
    /// and extraction read the whole file.
    #[serde(skip)]
    pub content_sha256: Option<Digest>,
}

impl Classifier {
    /// Compiles the rules of a (validated) policy.
    pub fn new(policy: &Policy) -> Result<Classifier, RuleError> {
        let mut keywords: Vec<String> = Vec::new();
        let mut rules = Vec::new();
        let mut all_detectors = Vec::new();
        for r in &policy.rules {
            let invalid = |reason: String| RuleError::Invalid {
                rule: r.id.clone(),
                reason,
            };
            let level = policy
                .level(&r.level)
                .ok_or_else(|| invalid(format!("unknown level {}", r.level)))?;
            let mut b = GlobSetBuilder::new();
            for g in &r.paths {
                b.add(Glob::new(g).map_err(|e| invalid(e.to_string()))?);
            }
            let mut kw = Vec::new();
            for k in &r.keywords {
                let i = keywords.iter().position(|x| x == k).unwrap_or_else(|| {
                    keywords.push(k.clone());
                    keywords.len() - 1
                });
                kw.push(i);
            }
            let mut detectors = Vec::new();
            for d in &r.detectors {
                let d = Detector::from_name(d)
                    .ok_or_else(|| invalid(format!("unknown detector {d}")))?;
                detectors.push(d);
                if !all_detectors.contains(&d) {
                    all_detectors.push(d);
                }
            }
            rules.push(Compiled {
                id: r.id.clone(),
                level: level.id.clone(),
                rank: level.rank,
                paths: b.build().map_err(|e| invalid(e.to_string()))?,
                extensions: r.extensions.iter().map(|e| e.to_lowercase()).collect(),
                keywords: kw,
                detectors,
                regex: r
                    .regex
                    .as_deref()
                    .map(Regex::new)
                    .transpose()
                    .map_err(|e| invalid(e.to_string()))?,
                min_count: r.min_count.max(1),
                flags: r.flags.clone(),
            });
        }
        let mut patterns: Vec<&str> = keywords.iter().map(String::as_str).collect();
        if all_detectors.contains(&Detector::MyNumber) {
            patterns.extend(detect::MY_NUMBER_KEYWORDS);
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    // A DFA: a few KiB per policy, and several times faster than the
                    // default NFA on Japanese text (see benches/classify.rs).
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .build(&patterns)
                    .map_err(|e| RuleError::Invalid {
                        rule: "keywords".into(),
                        reason: e.to_string(),
                    })?,
            )
        };
        Ok(Classifier {
            rules,
            keywords,
            automaton,
            detectors: all_detectors,
            limits: Limits::default(),
            hash_content: false,
        })
    }

    /// Whether any rule needs the file's text (keywords, detectors or regex).
    pub fn needs_text(&self) -> bool {
        self.rules
            .iter()
            .any(|r| !r.keywords.is_empty() || !r.detectors.is_empty() || r.regex.is_some())
    }

    /// Reads the file's text and evaluates the rules. A file whose content cannot be read
    /// (corrupt package, zip bomb) is still classified by its name and type, with the
    /// problem reported; only I/O errors (unreadable, vanished) are errors.
    pub fn classify_file(&self, path: &Path) -> Result<FileClassification, ExtractError> {
        let (extracted, problem, content_sha256) = if self.needs_text() {
            let read = if self.hash_content {
                extract::extract_and_hash(path, &self.limits)
            } else {
                extract::extract(path, &self.limits).map(|x| (x, None))
            };
            match read {
                Ok((x, digest)) => (Some(x), None, digest),
                Err(e @ ExtractError::Io { .. }) => return Err(e),
                Err(e) => (None, Some(e.to_string()), None),
            }
        } else {
            (None, None, None)
        };
        let text = extracted.as_ref().map_or("", |x| x.text.as_str());
        let classification = self.evaluate(path, text);
        Ok(FileClassification {
            path: path.to_owned(),
            classification,
            text_bytes: text.len(),
            extracted,
            problem,
            content_sha256,
        })
    }

    /// Evaluates the rules on a path and its text.
    pub fn evaluate(&self, path: &Path, text: &str) -> Classification {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase)
            .unwrap_or_default();
        let mut keyword_hits = vec![0u32; self.keywords.len()];
        // Where My Number keywords are in the text, for the detector.
        let mut my_number_at = Vec::new();
        if let Some(ac) = &self.automaton {
            for (source, is_text) in [(name.as_ref(), false), (text, true)] {
                for m in ac.find_overlapping_iter(source) {
                    match keyword_hits.get_mut(m.pattern().as_usize()) {
                        Some(hit) => *hit = hit.saturating_add(1),
                        None if is_text => my_number_at.push(m.start()),
                        None => {}
                    }
                }
            }
        }
        let mut counts = Counts::default();
        if !self.detectors.is_empty() && !text.is_empty() {
            detect::scan_with_keywords(text, &self.detectors, &my_number_at, &mut counts);
        }

        let mut out = Classification::default();
        let mut best: Option<&Compiled> = None;
        for rule in &self.rules {
            let mut evidence = Vec::new();
            let mut matched = false;
            if !rule.paths.is_empty() && rule.paths.is_match(&absolute) {
                evidence.push(ev("path", 1));
                matched = true;
            }
            if !ext.is_empty() && rule.extensions.contains(&ext) {
                evidence.push(ev(&format!("extension:{ext}"), 1));
                matched = true;
            }
            let mut hits = 0u32;
            for &k in &rule.keywords {
                if keyword_hits[k] > 0 {
                    evidence.push(ev(
                        &format!("keyword:{}", self.keywords[k]),
                        keyword_hits[k],
                    ));
                    hits = hits.saturating_add(keyword_hits[k]);
                }
            }
            for &d in &rule.detectors {
                let n = counts.get(d);
                if n > 0 {
                    evidence.push(ev(&format!("detector:{}", d.name()), n));
                    hits = hits.saturating_add(n);
                }
            }
            if let Some(re) = &rule.regex {
                let n = re.find_iter(text).count() as u32;
                if n > 0 {
                    evidence.push(ev("regex", n));
                    hits = hits.saturating_add(n);
                }
            }
            if hits >= rule.min_count {
                matched = true;
            }
            if !matched {
                continue;
            }
            if best.is_none_or(|b| rule.rank > b.rank) {
                best = Some(rule);
            }
            out.flags.extend(rule.flags.iter().copied());
            // What a detector found is personal data whatever the rule's flags say; My
            // Numbers make it 特定個人情報 (specific personal information) for the ledger.
            for &d in &rule.detectors {
                if counts.get(d) > 0 {
                    out.flags.push(Flag::PersonalData);
                    if d == Detector::MyNumber {
                        out.flags.push(Flag::SpecificPersonalData);
                    }
                }
            }
            for e in &evidence {
                if !out.evidence.iter().any(|x| x.what == e.what) {
                    out.evidence.push(e.clone());
                }
            }
            out.matches.push(RuleMatch {
                rule: rule.id.clone(),
                level: rule.level.clone(),
                evidence,
            });
        }
        if let Some(best) = best {
            out.level = Some(best.level.clone());
            out.rule = Some(best.id.clone());
            // The deciding rule's evidence first.
            out.evidence.sort_by_key(|e| {
                !out.matches
                    .iter()
                    .find(|m| m.rule == best.id)
                    .is_some_and(|m| m.evidence.iter().any(|x| x.what == e.what))
            });
        }
        out.flags.sort();
        out.flags.dedup();
        out
    }
}

fn ev(what: &str, count: u32) -> Evidence {
    Evidence {
        what: what.to_owned(),
        count,
    }
}

/// Applies what the rules propose for a file classified by [`Classifier::classify_file`]
/// as an automatic label (`method: auto`, the deciding rule, flags and evidence), signed
/// over the content that was classified ([`FileClassification::content_sha256`], when
/// known) instead of reading the file again. A file no rule matched, whose content was
/// read whole, gets the policy's default level ([`Policy::unmatched_level`](fuda_core::policy::Policy::unmatched_level),
/// `method: default`, no evidence); `None` when the policy gives none. Through
/// [`Labeler::set`](fuda_core::labeling::Labeler::set), a manual or imported label is never
/// replaced and no label is ever lowered.
pub fn apply_file(
    labeler: &fuda_core::labeling::Labeler<'_>,
    file: &FileClassification,
) -> Result<Option<fuda_core::labeling::SetOutcome>, fuda_core::labeling::LabelingError> {
    let c = &file.classification;
    let ruled = c.level.as_deref().and_then(|l| labeler.policy.level(l));
    let (level, method) = match (ruled, labeler.policy.unmatched_level()) {
        (Some(level), _) => (level, fuda_core::label::Method::Auto),
        // Content that could not be read whole may hold anything: no guess is written.
        (None, Some(level)) if c.level.is_none() && file.problem.is_none() => {
            (level, fuda_core::label::Method::Default)
        }
        _ => return Ok(None),
    };
    let request = fuda_core::labeling::SetRequest {
        level,
        method,
        asset: None,
        owner: None,
        justification: None,
        rule: c.rule.clone(),
        flags: c.flags.clone(),
        evidence: c.evidence.clone(),
        content_sha256: file.content_sha256,
        newest: None,
    };
    labeler.set(&file.path, &request).map(Some)
}
