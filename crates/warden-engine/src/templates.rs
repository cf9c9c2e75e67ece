//! Published templates in the data directory:
//!
//! ```text
//! DATA_DIR/templates/NAME.json        the template (TemplateInfo), replaced atomically
//! DATA_DIR/templates/builds/BUILD/    its files (site-packages/, node/node_modules/),
//!                                     never changed
//! ```
//!
//! A build is published by renaming its checked staging directory into `builds/` and
//! then renaming a new `NAME.json` over the old one, so a reader sees the old template
//! or the new one, never half of either. Sandboxes bind a build's directory read-only;
//! a build that no template names any more is removed at the next start of the server
//! ([`TemplateStore::collect_garbage`]), when no sandbox can still be using it.

use std::path::{Path, PathBuf};

use warden_protocol::TemplateInfo;

use crate::installer::Installed;

/// Why a template operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template name {0:?} is invalid: 1 to 40 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadName(String),
    #[error("template {0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Io(String),
}

fn io(what: &str, path: &Path, e: std::io::Error) -> TemplateError {
    TemplateError::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// Checks a template name.
pub fn check_name(name: &str) -> Result<(), TemplateError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(TemplateError::BadName(name.to_string()))
    }
}

/// The templates of one data directory.
#[derive(Debug, Clone)]
pub struct TemplateStore {
    root: PathBuf,
}

/// Bytes of the regular files below a directory (symlinks not followed).
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

impl TemplateStore {
    /// `root` is `DATA_DIR/templates` (created when a template is published).
    pub fn new(root: PathBuf) -> TemplateStore {
        TemplateStore { root }
    }

    fn builds(&self) -> PathBuf {
        self.root.join("builds")
    }

    /// Every template, by name.
    pub fn list(&self) -> Vec<TemplateInfo> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut list: Vec<TemplateInfo> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let name = name.strip_suffix(".json")?;
                self.get(name).ok()
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// One template.
    pub fn get(&self, name: &str) -> Result<TemplateInfo, TemplateError> {
        check_name(name)?;
        let path = self.root.join(format!("{name}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TemplateError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io("read", &path, e)),
        };
        serde_json::from_str(&text)
            .map_err(|e| TemplateError::Io(format!("{} is damaged: {e}", path.display())))
    }

    /// The directory a template's sandboxes bind (`site-packages/` below it).
    pub fn dir(&self, info: &TemplateInfo) -> PathBuf {
        self.builds().join(&info.build)
    }

    /// Publishes a checked installation as template `name` (replacing any earlier
    /// build of that name for new sandboxes).
    pub fn publish(
        &self,
        name: &str,
        installed: Installed,
        pip: Vec<String>,
        npm: Vec<String>,
        preload: Vec<String>,
    ) -> Result<TemplateInfo, TemplateError> {
        check_name(name)?;
        let builds = self.builds();
        std::fs::create_dir_all(&builds).map_err(|e| io("create", &builds, e))?;
        let created_at = warden_store::now();
        let build = format!("{name}-{:x}", (created_at * 1e6) as u64);
        let dir = builds.join(&build);
        std::fs::rename(&installed.dir, &dir).map_err(|e| io("publish", &dir, e))?;
        let info = TemplateInfo {
            name: name.to_string(),
            pip,
            npm,
            preload,
            distributions: installed.distributions,
            python: installed.python,
            created_at,
            size_bytes: size_of(&dir),
            build,
        };
        let json = serde_json::to_vec_pretty(&info)
            .map_err(|e| TemplateError::Io(format!("cannot encode the template: {e}")))?;
        let tmp = self.root.join(format!(".{name}.json.tmp"));
        let path = self.root.join(format!("{name}.json"));
        std::fs::write(&tmp, json).map_err(|e| io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("publish", &path, e))?;
        Ok(info)
    }

    /// Removes a template: new sandboxes cannot use it; its files go at the next start.
    pub fn remove(&self, name: &str) -> Result<(), TemplateError> {
        check_name(name)?;
        let path = self.root.join(format!("{name}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(TemplateError::NotFound(name.to_string()))
            }
            Err(e) => Err(io("remove", &path, e)),
        }
    }

    /// Removes builds no template names (call when no sandbox runs, at start-up).
    /// Returns how many were removed.
    pub fn collect_garbage(&self) -> usize {
        let live: std::collections::HashSet<String> =
            self.list().into_iter().map(|t| t.build).collect();
        let Ok(entries) = std::fs::read_dir(self.builds()) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) && std::fs::remove_dir_all(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(root: &Path, n: u32) -> Installed {
        let dir = root.join(format!("staging-{n}"));
        std::fs::create_dir_all(dir.join("site-packages/pkg")).unwrap();
        std::fs::write(dir.join("site-packages/pkg/__init__.py"), "X = 1\n").unwrap();
        Installed {
            dir,
            distributions: vec![("pkg".into(), format!("1.{n}"))],
            index_connections: 1,
            python: "3.11".into(),
        }
    }

    #[test]
    fn names_are_checked() {
        for good in ["python-data", "a", "x_1", "0day"] {
            check_name(good).unwrap();
        }
        for bad in ["", "-x", "Upper", "a/b", "..", "a.json", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publish_replace_remove_and_collect_old_builds() {
        let tmp = tempfile::tempdir().unwrap();
        let store = TemplateStore::new(tmp.path().join("templates"));
        assert!(store.list().is_empty());
        let first = store
            .publish(
                "data",
                staged(tmp.path(), 1),
                vec!["pkg".into()],
                vec![],
                vec![],
            )
            .unwrap();
        assert!(store
            .dir(&first)
            .join("site-packages/pkg/__init__.py")
            .is_file());
        assert!(first.size_bytes >= 6);
        let second = store
            .publish(
                "data",
                staged(tmp.path(), 2),
                vec!["pkg".into()],
                vec![],
                vec![],
            )
            .unwrap();
        assert_ne!(first.build, second.build);
        // (Compared without created_at: a float through JSON may differ in its last bit.)
        let same = |t: &TemplateInfo| TemplateInfo {
            created_at: 0.0,
            ..t.clone()
        };
        assert_eq!(same(&store.get("data").unwrap()), same(&second));
        let listed: Vec<TemplateInfo> = store.list().iter().map(same).collect();
        assert_eq!(listed, vec![same(&second)]);
        // The first build stays until garbage collection (a sandbox may still use it).
        assert!(store.dir(&first).is_dir());
        assert_eq!(store.collect_garbage(), 1);
        assert!(!store.dir(&first).exists());
        assert!(store.dir(&second).is_dir());
        store.remove("data").unwrap();
        assert!(matches!(store.get("data"), Err(TemplateError::NotFound(_))));
        assert!(matches!(
            store.remove("data"),
            Err(TemplateError::NotFound(_))
        ));
        assert_eq!(store.collect_garbage(), 1);
    }
}

/// A shipped recipe: what `warden template build NAME --recipe RECIPE` installs.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    pub name: &'static str,
    pub pip: &'static [&'static str],
    pub preload: &'static [&'static str],
}

/// The shipped recipes.
pub const RECIPES: &[Recipe] = &[Recipe {
    name: "python-data",
    pip: &[
        "numpy",
        "pandas",
        "matplotlib",
        "scipy",
        "seaborn",
        "openpyxl",
        "tabulate",
    ],
    preload: &["numpy", "pandas", "matplotlib", "matplotlib.pyplot"],
}];

/// A shipped recipe by name.
pub fn recipe(name: &str) -> Option<&'static Recipe> {
    RECIPES.iter().find(|r| r.name == name)
}

/// What a template build installs: a recipe's lists (when one is named) plus the
/// caller's, checked the same way for the CLI and the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPlan {
    pub pip: Vec<String>,
    pub npm: Vec<String>,
    pub preload: Vec<String>,
}

impl BuildPlan {
    /// Refuses an unknown recipe, an empty build, pip options posing as requirements
    /// and npm specs that are not registry packages.
    pub fn new(
        recipe: Option<&str>,
        pip: Vec<String>,
        npm: Vec<String>,
        preload: Vec<String>,
    ) -> Result<BuildPlan, String> {
        let mut plan = BuildPlan::default();
        if let Some(name) = recipe {
            let r = self::recipe(name).ok_or_else(|| {
                let known: Vec<&str> = RECIPES.iter().map(|r| r.name).collect();
                format!("no recipe {name:?} (shipped: {})", known.join(", "))
            })?;
            plan.pip.extend(r.pip.iter().map(|s| s.to_string()));
            plan.preload.extend(r.preload.iter().map(|s| s.to_string()));
        }
        plan.pip.extend(pip);
        plan.npm = npm;
        plan.preload.extend(preload);
        if plan.pip.is_empty() && plan.npm.is_empty() {
            return Err("nothing to install: give pip or npm packages, or a recipe".into());
        }
        if let Some(bad) = plan.pip.iter().find(|r| r.trim_start().starts_with('-')) {
            return Err(format!(
                "{bad:?}: pip options are not accepted, only requirements"
            ));
        }
        for spec in &plan.npm {
            crate::installer::check_npm_spec(spec)?;
        }
        Ok(plan)
    }
}
