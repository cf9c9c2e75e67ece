//! Package sets for `packages: [...]`: parsing requirements, checking them against an
//! allowlist, and the content-addressed key of a set in the cache.
//!
//! A request names top-level packages as PEP 508 requirements (`tabulate==0.9.0`,
//! `pandas>=2`); URLs, file paths, environment markers and pip options are refused.
//! Every name must be on the allowlist (the tenant policy's `packages`, else
//! [`DEFAULT_ALLOWLIST`]); an allowlist entry's version constraints are added to the
//! requirement, so pip can only install versions the operator allows, and an exact pin
//! outside them is refused before anything is installed.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Operator, VersionSpecifiers};
use pep508_rs::{Requirement, VersionOrUrl};
use sha2::{Digest, Sha256};

/// The allowlist that applies when a policy has none (`runtimes/python/allowlist.txt`).
pub const DEFAULT_ALLOWLIST: &str = include_str!("../../../runtimes/python/allowlist.txt");

/// Most packages one request may name.
pub const MAX_PACKAGES: usize = 50;
/// Longest requirement string accepted.
const MAX_SPEC_LEN: usize = 200;

/// Why a package request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// Not a requirement warden accepts (syntax, URL, marker, duplicate, too many).
    #[error("{0}")]
    Invalid(String),
    /// Not on the allowlist, or a pinned version outside its constraints.
    #[error("{0}")]
    NotAllowed(String),
}

/// One parsed requirement without URL or markers.
fn parse(spec: &str) -> Result<Requirement, PackageError> {
    let spec = spec.trim();
    if spec.is_empty() || spec.len() > MAX_SPEC_LEN || spec.starts_with('-') {
        return Err(PackageError::Invalid(format!(
            "{spec:?} is not a package requirement (name[extras] and PEP 440 constraints, up to {MAX_SPEC_LEN} characters)"
        )));
    }
    let req = Requirement::from_str(spec)
        .map_err(|e| PackageError::Invalid(format!("{spec:?} is not a valid requirement: {e}")))?;
    if matches!(req.version_or_url, Some(VersionOrUrl::Url(_))) {
        return Err(PackageError::Invalid(format!(
            "{spec:?}: packages come from the package index, not from URLs or paths"
        )));
    }
    if !req.marker.is_true() {
        return Err(PackageError::Invalid(format!(
            "{spec:?}: environment markers are not accepted"
        )));
    }
    Ok(req)
}

fn specifiers(req: &Requirement) -> Option<&VersionSpecifiers> {
    match &req.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Names that may be installed, each with optional version constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: BTreeMap<String, Option<VersionSpecifiers>>,
}

impl Allowlist {
    /// Parses one requirement per entry (blank entries and `#` comments skipped).
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Allowlist, PackageError> {
        let mut entries = BTreeMap::new();
        for line in lines {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let req = parse(line)?;
            entries.insert(req.name.to_string(), specifiers(&req).cloned());
        }
        Ok(Allowlist { entries })
    }

    /// The built-in list ([`DEFAULT_ALLOWLIST`]), parsed once.
    pub fn builtin() -> &'static Allowlist {
        static BUILTIN: std::sync::OnceLock<Allowlist> = std::sync::OnceLock::new();
        // The embedded file is checked by a test; an error here cannot happen at run time.
        BUILTIN.get_or_init(|| Allowlist::parse(DEFAULT_ALLOWLIST.lines()).unwrap_or_default())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks a request and returns the set to install: one requirement per package,
    /// with the allowlist's constraints added, sorted by name.
    pub fn check(&self, specs: &[String]) -> Result<PackageSet, PackageError> {
        if specs.len() > MAX_PACKAGES {
            return Err(PackageError::Invalid(format!(
                "{} packages requested; at most {MAX_PACKAGES} per request",
                specs.len()
            )));
        }
        let mut set = BTreeMap::new();
        for spec in specs {
            let req = parse(spec)?;
            let name = req.name.to_string();
            let Some(allowed) = self.entries.get(&name) else {
                return Err(PackageError::NotAllowed(format!(
                    "package {name} is not on the allowlist"
                )));
            };
            let requested = specifiers(&req);
            if let (Some(allowed), Some(requested)) = (allowed, requested) {
                for s in requested.iter() {
                    let pinned = matches!(s.operator(), Operator::Equal | Operator::ExactEqual);
                    if pinned && !allowed.contains(s.version()) {
                        return Err(PackageError::NotAllowed(format!(
                            "{name} {} is outside the allowed versions {allowed}",
                            s.version()
                        )));
                    }
                }
            }
            let mut line = name.clone();
            if !req.extras.is_empty() {
                let mut extras: Vec<String> = req.extras.iter().map(|e| e.to_string()).collect();
                extras.sort();
                line.push_str(&format!("[{}]", extras.join(",")));
            }
            let constraints: Vec<String> = requested
                .into_iter()
                .chain(allowed.as_ref())
                .map(|s| s.to_string())
                .collect();
            line.push_str(&constraints.join(","));
            if set.insert(name.clone(), line).is_some() {
                return Err(PackageError::Invalid(format!(
                    "package {name} is named twice"
                )));
            }
        }
        Ok(PackageSet {
            requirements: set.into_values().collect(),
        })
    }
}

/// A checked set of requirements, in a canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageSet {
    pub requirements: Vec<String>,
}

impl PackageSet {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The set's key in the cache: the same requirements for the same interpreter,
    /// platform and index share one installation.
    pub fn key(&self, python: &str, platform: &str, index: &str) -> String {
        let mut h = Sha256::new();
        for part in ["warden-packages-v1", python, platform, index] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        for r in &self.requirements {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_builtin_allowlist_parses_and_covers_the_data_stack() {
        let parsed = Allowlist::parse(DEFAULT_ALLOWLIST.lines()).unwrap();
        assert!(parsed.len() > 40);
        parsed
            .check(&specs(&[
                "numpy",
                "pandas",
                "matplotlib",
                "scipy",
                "tabulate",
            ]))
            .unwrap();
    }

    #[test]
    fn names_are_normalized_and_sets_sorted() {
        let a = Allowlist::parse(["Python_Dateutil", "tabulate"]).unwrap();
        let set = a
            .check(&specs(&["tabulate == 0.9.0", "python.dateutil"]))
            .unwrap();
        assert_eq!(set.requirements, ["python-dateutil", "tabulate==0.9.0"]);
    }

    #[test]
    fn names_off_the_list_are_refused() {
        let a = Allowlist::parse(["tabulate"]).unwrap();
        let e = a.check(&specs(&["requests"])).unwrap_err();
        assert!(
            matches!(e, PackageError::NotAllowed(ref m) if m.contains("requests")),
            "{e}"
        );
        // Spelling variants of an allowed name are the same package.
        a.check(&specs(&["TABULATE"])).unwrap();
    }

    #[test]
    fn allowlist_constraints_are_added_and_pins_outside_them_refused() {
        let a = Allowlist::parse(["tabulate>=0.9,<1", "six"]).unwrap();
        let set = a.check(&specs(&["tabulate"])).unwrap();
        assert_eq!(set.requirements, ["tabulate>=0.9, <1"]);
        let set = a.check(&specs(&["tabulate==0.9.0"])).unwrap();
        assert_eq!(set.requirements, ["tabulate==0.9.0,>=0.9, <1"]);
        let e = a.check(&specs(&["tabulate==0.8.10"])).unwrap_err();
        assert!(
            matches!(e, PackageError::NotAllowed(ref m) if m.contains("0.8.10")),
            "{e}"
        );
    }

    #[test]
    fn urls_paths_markers_options_and_duplicates_are_refused() {
        let a = Allowlist::parse(["tabulate", "six"]).unwrap();
        for bad in [
            "tabulate @ https://example.com/tabulate.whl",
            "tabulate ; python_version < '3'",
            "--index-url=https://evil.example/simple",
            "-e .",
            "./local/path",
            "",
            "tabulate===",
        ] {
            let e = a.check(&specs(&[bad])).unwrap_err();
            assert!(matches!(e, PackageError::Invalid(_)), "{bad}: {e}");
        }
        let e = a
            .check(&specs(&["tabulate", "Tabulate==0.9.0"]))
            .unwrap_err();
        assert!(
            matches!(e, PackageError::Invalid(ref m) if m.contains("twice")),
            "{e}"
        );
        let many: Vec<String> = (0..=MAX_PACKAGES).map(|_| "six".to_string()).collect();
        assert!(matches!(a.check(&many), Err(PackageError::Invalid(_))));
    }

    #[test]
    fn the_key_depends_on_the_set_the_interpreter_and_the_index() {
        let a = Allowlist::parse(["tabulate", "six"]).unwrap();
        let one = a.check(&specs(&["six", "tabulate"])).unwrap();
        let same = a.check(&specs(&["tabulate", "six"])).unwrap();
        let other = a.check(&specs(&["tabulate"])).unwrap();
        let k = |s: &PackageSet, py: &str, idx: &str| s.key(py, "x86_64-linux", idx);
        assert_eq!(k(&one, "cp311", "pypi"), k(&same, "cp311", "pypi"));
        assert_ne!(k(&one, "cp311", "pypi"), k(&other, "cp311", "pypi"));
        assert_ne!(k(&one, "cp311", "pypi"), k(&one, "cp312", "pypi"));
        assert_ne!(k(&one, "cp311", "pypi"), k(&one, "cp311", "mirror"));
        assert_eq!(k(&one, "cp311", "pypi").len(), 64);
    }
}
