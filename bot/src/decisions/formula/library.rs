//! Where formulas come from. Three layers, first match wins: the repository's
//! `.gastown/formulas/*.yaml`, the server's `formulas_dir`, the built-ins compiled in
//! from `formulas/`. A layer may hold several versions of one name: `name` is the
//! highest version of the first layer that has it, `name@version` that version from
//! the first layer that has it.
//!
//! A [`Library`] is a value: the caller reads the files (or fetches them from a
//! repository) and adds their text, so resolving stays pure and testable.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::FormulaError;
use super::model::{Formula, split_reference};
use super::parse::parse;

/// A layer of the library, in the order they are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The repository's `.gastown/formulas/*.yaml` on its target branch.
    Repo,
    /// The server configuration's `formulas_dir`.
    Server,
    /// Compiled into the binary from `formulas/`.
    BuiltIn,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Repo => "repo",
            Source::Server => "server",
            Source::BuiltIn => "built-in",
        })
    }
}

/// Why a reference does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No layer has a formula called `name` (the one asked for, or one it extends or
    /// composes): a caller that can fetch more files (a repository's) does, and asks
    /// again.
    #[error(
        "no formula called `{name}` (not in the repository's .gastown/formulas, the \
         server's formulas_dir, nor the built-ins)"
    )]
    Missing { name: String },
    #[error(transparent)]
    Invalid(#[from] FormulaError),
}

/// One formula of the library, as `gt formula list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub name: String,
    pub version: u32,
    pub source: Source,
    pub description: String,
    pub file: String,
    /// Another entry wins for `name` (an earlier layer, or a higher version in this
    /// one); this one is reached only as `name@version`, or not at all.
    pub shadowed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) source: Source,
    pub(crate) file: String,
    pub(crate) formula: Formula,
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    pub(crate) entries: Vec<Entry>,
}

/// The built-in formulas, as their files are named in messages.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "formulas/polecat-work.yaml",
        include_str!("../../../../formulas/polecat-work.yaml"),
    ),
    (
        "formulas/bugfix.yaml",
        include_str!("../../../../formulas/bugfix.yaml"),
    ),
    (
        "formulas/feature.yaml",
        include_str!("../../../../formulas/feature.yaml"),
    ),
    (
        "formulas/docs.yaml",
        include_str!("../../../../formulas/docs.yaml"),
    ),
    (
        "formulas/refactor.yaml",
        include_str!("../../../../formulas/refactor.yaml"),
    ),
    (
        "formulas/release.yaml",
        include_str!("../../../../formulas/release.yaml"),
    ),
    (
        "formulas/code-review.yaml",
        include_str!("../../../../formulas/code-review.yaml"),
    ),
    (
        "formulas/rule-of-five.yaml",
        include_str!("../../../../formulas/rule-of-five.yaml"),
    ),
];

impl Library {
    /// The built-ins alone. A built-in that does not parse (a test proves none) is
    /// left out and logged, never a panic.
    pub fn builtin() -> Library {
        let mut library = Library::default();
        for (file, text) in BUILT_IN {
            if let Err(e) = library.add(Source::BuiltIn, file, text) {
                tracing::error!(file, error = %e, "a built-in formula does not parse");
            }
        }
        library
    }

    /// Add one file's formula to layer `source`. `file` names it in messages.
    pub fn add(&mut self, source: Source, file: &str, text: &str) -> Result<(), FormulaError> {
        let formula = parse(text, file)?;
        self.insert(source, file, formula)
    }

    /// Add a formula already read (by [`parse`]) to layer `source`.
    pub fn insert(
        &mut self,
        source: Source,
        file: &str,
        formula: Formula,
    ) -> Result<(), FormulaError> {
        if let Some(other) = self.entries.iter().find(|e| {
            e.source == source
                && e.formula.formula == formula.formula
                && e.formula.version == formula.version
        }) {
            return Err(FormulaError::one(format!(
                "{}: `{}@{}` is already defined by {} ({source})",
                formula.written.locate("/formula"),
                formula.formula,
                formula.version,
                other.file
            )));
        }
        self.entries.push(Entry {
            source,
            file: file.to_string(),
            formula,
        });
        Ok(())
    }

    /// The `*.yaml` and `*.yml` files of `dir` added as the server's layer (the
    /// configuration's `formulas_dir`), in name order; every file's mistakes reported
    /// together.
    pub fn load_dir(self, dir: &Path) -> Result<Library, FormulaError> {
        self.load_dir_as(Source::Server, dir)
    }

    /// [`Library::load_dir`] into any layer (`gt formula --dir` reads a checkout's
    /// `.gastown/formulas` as the repository's).
    pub fn load_dir_as(mut self, source: Source, dir: &Path) -> Result<Library, FormulaError> {
        let cannot = |e: std::io::Error| {
            FormulaError::one(format!("{}: cannot read the formulas: {e}", dir.display()))
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(cannot)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut problems = Vec::new();
        for path in files {
            let name = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if let Err(e) = self.add(source, &name, &text) {
                        problems.extend(e.problems);
                    }
                }
                Err(e) => problems.push(format!("{name}: cannot read: {e}")),
            }
        }
        FormulaError::check(problems)?;
        Ok(self)
    }

    /// The formula `reference` (`name` or `name@version`) names, with `extends` and
    /// `compose` resolved and the whole checked: ready for
    /// [`super::expand`].
    pub fn resolve(&self, reference: &str) -> Result<Formula, ResolveError> {
        let found = self.lookup(reference, None, "")?;
        self.flatten(found, &mut super::resolve::Walk::default())
    }

    /// Every formula: per name, the one `name` resolves to first, then those it
    /// shadows; names in order.
    pub fn list(&self) -> Vec<Listed> {
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by(|a, b| {
            (
                &a.formula.formula,
                a.source,
                std::cmp::Reverse(a.formula.version),
            )
                .cmp(&(
                    &b.formula.formula,
                    b.source,
                    std::cmp::Reverse(b.formula.version),
                ))
        });
        let mut out: Vec<Listed> = Vec::new();
        for e in entries {
            let shadowed = out.last().is_some_and(|l| l.name == e.formula.formula);
            out.push(Listed {
                name: e.formula.formula.clone(),
                version: e.formula.version,
                source: e.source,
                description: e.formula.description.clone(),
                file: e.file.clone(),
                shadowed,
            });
        }
        out
    }

    /// The entry `reference` names, searching the layers after `below` (when a
    /// formula extends its own name: a repository's `polecat-work` that extends
    /// `polecat-work` builds on the built-in one). `at` starts a message about the
    /// place the reference was written.
    pub(crate) fn lookup(
        &self,
        reference: &str,
        below: Option<Source>,
        at: &str,
    ) -> Result<usize, ResolveError> {
        let (name, version) = split_reference(reference);
        let prefix = if at.is_empty() {
            String::new()
        } else {
            format!("{at}: ")
        };
        let version = match version {
            None => None,
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                FormulaError::one(format!(
                    "{prefix}`{reference}`: a version is a whole number (`{name}@2`)"
                ))
            })?),
        };
        if !self.entries.iter().any(|e| e.formula.formula == name) {
            return Err(ResolveError::Missing {
                name: name.to_string(),
            });
        }
        let candidates = self.entries.iter().enumerate().filter(|(_, e)| {
            e.formula.formula == name
                && below.is_none_or(|b| e.source > b)
                && version.is_none_or(|v| e.formula.version == v)
        });
        let best =
            candidates.min_by_key(|(i, e)| (e.source, std::cmp::Reverse(e.formula.version), *i));
        match best {
            Some((i, _)) => Ok(i),
            None => {
                let have: Vec<String> = self
                    .entries
                    .iter()
                    .filter(|e| e.formula.formula == name)
                    .map(|e| format!("{}@{} ({})", name, e.formula.version, e.source))
                    .collect();
                let after = match below {
                    Some(b) => format!(" after the {b} layer"),
                    None => String::new(),
                };
                Err(FormulaError::one(format!(
                    "{prefix}no `{reference}`{after}: there are {}",
                    have.join(", ")
                ))
                .into())
            }
        }
    }
}
