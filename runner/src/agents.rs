//! Real agent CLIs in the town image, with no Node in it: each CLI's Linux binary ships
//! inside a per-platform npm package, so the package's tarball is fetched from the
//! registry at a pinned version, checked against its pinned SHA-512 (the registry's
//! `integrity`), and the binary (and what it needs beside it) extracted into a layer on
//! top of the town image. Tarballs and extracted trees are cached by their checksum, so
//! a second build is instant; the layer's tag is derived from the base image and the
//! pins, so a rebuild of the same recipe finds it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

use crate::RunnerError;

/// An agent CLI the town image can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentCli {
    Codex,
    Claude,
    Opencode,
    Kilo,
}

/// Where one CLI comes from, pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    /// The command the town runs (`/usr/local/bin/<name>`).
    pub name: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    pub tarball: &'static str,
    /// The registry's `dist.integrity`: `sha512-<base64>`.
    pub integrity: &'static str,
    /// Tarball members to install (a path, or a directory ending in `/`), relative to
    /// `package/`.
    pub members: &'static [&'static str],
    /// The executable, relative to the install directory.
    pub entry: &'static str,
}

impl AgentCli {
    pub const ALL: [AgentCli; 4] = [
        AgentCli::Codex,
        AgentCli::Claude,
        AgentCli::Opencode,
        AgentCli::Kilo,
    ];

    /// Versions measured in `../shared/reference/stack.md`; integrities read from the
    /// registry when they were pinned.
    pub fn pin(self) -> Pin {
        match self {
            AgentCli::Codex => Pin {
                name: "codex",
                package: "@openai/codex",
                version: "0.169.0-linux-x64",
                tarball: "https://registry.npmjs.org/@openai/codex/-/codex-0.169.0-linux-x64.tgz",
                integrity: "sha512-o05NyAOCDygSPRo1yinzxvkRSdmsZyBD9E7mbpmjRanSfM8lypqWtQgEo4XfNkwhuCR2aFu8mlGOsQGFXVbVww==",
                members: &[
                    "vendor/x86_64-unknown-linux-musl/bin/codex",
                    "vendor/x86_64-unknown-linux-musl/codex-path/rg",
                ],
                entry: "vendor/x86_64-unknown-linux-musl/bin/codex",
            },
            AgentCli::Claude => Pin {
                name: "claude",
                package: "@anthropic-ai/claude-code-linux-x64",
                version: "2.1.332",
                tarball: "https://registry.npmjs.org/@anthropic-ai/claude-code-linux-x64/-/claude-code-linux-x64-2.1.332.tgz",
                integrity: "sha512-f4JWhzwYutJIHScC7/dYOPX6s28tt7ZADhsOi8zwOHq5fFPEuUeChh2NMfinSg0GrUckYxaeebC4h0DqiKzLcw==",
                members: &["claude"],
                entry: "claude",
            },
            AgentCli::Opencode => Pin {
                name: "opencode",
                package: "opencode-linux-x64",
                version: "1.18.33",
                tarball: "https://registry.npmjs.org/opencode-linux-x64/-/opencode-linux-x64-1.18.33.tgz",
                integrity: "sha512-q/t/3p2CTxOT9y2kvjesb/LZab2+1eqlhhWA02Be6mjTtmYtNBcBsrI5yDo4Fw7ZSPBW2oyMIGMNRqiKQjiAWw==",
                members: &["bin/opencode"],
                entry: "bin/opencode",
            },
            AgentCli::Kilo => Pin {
                name: "kilo",
                package: "@kilocode/cli-linux-x64",
                version: "7.7.9",
                tarball: "https://registry.npmjs.org/@kilocode/cli-linux-x64/-/cli-linux-x64-7.7.9.tgz",
                integrity: "sha512-83tBMkWSOk6ilD1VAT55ze8BjOrNkZGMs+mulnE4tjfPNJ/ZlCQeoRmH79s36yPVbAP7D8m3f8LfJpPlkz5daw==",
                // Its tree-sitter grammars sit beside the binary and are read from there.
                members: &["bin/"],
                entry: "bin/kilo",
            },
        }
    }

    pub fn parse(name: &str) -> Option<AgentCli> {
        AgentCli::ALL
            .into_iter()
            .find(|c| c.pin().name == name.trim().to_ascii_lowercase())
    }
}

fn err(step: &str, detail: impl ToString) -> RunnerError {
    RunnerError::Image {
        step: step.to_owned(),
        detail: detail.to_string(),
    }
}

/// The SRI string of `bytes`' SHA-512, as npm writes it.
pub fn integrity_of(digest: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The CLI's install tree (`<cache>/<name>-<version>/`, holding `pin.members`), fetched
/// and verified if not cached yet. `progress` hears about the download as it goes.
pub async fn fetch(
    cli: AgentCli,
    cache: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<PathBuf, RunnerError> {
    let pin = cli.pin();
    let tree = cache.join(format!("{}-{}", pin.name, pin.version));
    // The marker is written last: a tree without it is an interrupted extraction.
    let marker = tree.join(".gastown-integrity");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == pin.integrity) {
        progress(&format!("{} {}: cached", pin.name, pin.version));
        return Ok(tree);
    }
    std::fs::create_dir_all(cache).map_err(|e| err("creating the agent cache", e))?;
    let tarball = cache.join(format!("{}-{}.tgz", pin.name, pin.version));
    if !verified(&tarball, pin.integrity)? {
        download(&pin, &tarball, progress).await?;
        if !verified(&tarball, pin.integrity)? {
            let _ = std::fs::remove_file(&tarball);
            return Err(err(
                &format!("verifying {} {}", pin.package, pin.version),
                format!(
                    "the tarball from {} does not match the pinned {}",
                    pin.tarball, pin.integrity
                ),
            ));
        }
    }
    progress(&format!(
        "{} {}: checksum verified, extracting",
        pin.name, pin.version
    ));
    let (from, to) = (tarball.clone(), tree.clone());
    tokio::task::spawn_blocking(move || extract(&from, &to, pin.members))
        .await
        .map_err(|e| err("extracting", e))??;
    std::fs::write(&marker, pin.integrity).map_err(|e| err("writing the cache marker", e))?;
    Ok(tree)
}

/// Whether the file at `path` exists and has this integrity.
fn verified(path: &Path, integrity: &str) -> Result<bool, RunnerError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(false);
    };
    let mut hasher = Sha512::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n =
            std::io::Read::read(&mut file, &mut buf).map_err(|e| err("hashing the tarball", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(integrity_of(&hasher.finalize()) == integrity)
}

async fn download(
    pin: &Pin,
    to: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RunnerError> {
    let step = format!("downloading {} {}", pin.package, pin.version);
    let mut res = reqwest::get(pin.tarball)
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| err(&step, e.without_url()))?;
    let total = res.content_length();
    let partial = to.with_extension("part");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| err(&step, e))?;
    let (mut got, mut said) = (0u64, 0u64);
    while let Some(chunk) = res.chunk().await.map_err(|e| err(&step, e.without_url()))? {
        file.write_all(&chunk).await.map_err(|e| err(&step, e))?;
        got += chunk.len() as u64;
        if got - said >= 32 << 20 {
            said = got;
            progress(&match total {
                Some(t) => format!("{}: {} of {} MB", pin.name, got >> 20, t >> 20),
                None => format!("{}: {} MB", pin.name, got >> 20),
            });
        }
    }
    file.flush().await.map_err(|e| err(&step, e))?;
    tokio::fs::rename(&partial, to)
        .await
        .map_err(|e| err(&step, e))?;
    progress(&format!("{}: downloaded {} MB", pin.name, got >> 20));
    Ok(())
}

/// Extract `members` of the package (paths under `package/`) into `to`, refusing any
/// entry that would land outside it.
fn extract(tarball: &Path, to: &Path, members: &[&str]) -> Result<(), RunnerError> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).map_err(|e| err("extracting", e))?;
    let file = std::fs::File::open(tarball).map_err(|e| err("extracting", e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = 0;
    for entry in archive
        .entries()
        .map_err(|e| err("reading the tarball", e))?
    {
        let mut entry = entry.map_err(|e| err("reading the tarball", e))?;
        let path = entry
            .path()
            .map_err(|e| err("reading the tarball", e))?
            .into_owned();
        let Ok(rel) = path.strip_prefix("package") else {
            continue;
        };
        let rel_s = rel.to_string_lossy();
        let wanted = members.iter().any(|m| match m.strip_suffix('/') {
            Some(dir) => rel.starts_with(dir),
            None => rel_s == *m,
        });
        if !wanted || !entry.header().entry_type().is_file() {
            continue;
        }
        // `unpack_in` refuses `..` and absolute paths (it answers false for them).
        if !entry.unpack_in(to).map_err(|e| err("extracting", e))? {
            continue;
        }
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err("extracting", e))?;
        }
        std::fs::rename(to.join(&path), &dest).map_err(|e| err("extracting", e))?;
        found += 1;
    }
    let _ = std::fs::remove_dir_all(to.join("package"));
    if found == 0 {
        return Err(err(
            "extracting",
            "none of the expected files is in the package",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package tarball as npm packs one: every path under `package/`.
    fn tarball(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("pkg.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn only_the_pinned_members_are_installed() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = tarball(
            dir.path(),
            &[
                ("package/bin/kilo", b"binary"),
                ("package/bin/tree-sitter/go.wasm", b"grammar"),
                ("package/README.md", b"readme"),
                ("package/package.json", b"{}"),
            ],
        );
        let to = dir.path().join("tree");
        extract(&pkg, &to, AgentCli::Kilo.pin().members).unwrap();
        assert_eq!(std::fs::read(to.join("bin/kilo")).unwrap(), b"binary");
        assert!(to.join("bin/tree-sitter/go.wasm").is_file());
        assert!(!to.join("README.md").exists() && !to.join("package").exists());
        // A package without the pinned files is an error, not an empty install.
        let err = extract(&pkg, &to, AgentCli::Claude.pin().members).unwrap_err();
        assert!(
            err.to_string().contains("none of the expected files"),
            "{err}"
        );
    }

    #[test]
    fn a_file_is_verified_against_its_pinned_integrity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tgz");
        std::fs::write(&path, b"the package").unwrap();
        let good = integrity_of(&Sha512::digest(b"the package"));
        assert!(verified(&path, &good).unwrap());
        assert!(!verified(&path, AgentCli::Codex.pin().integrity).unwrap());
        assert!(!verified(&dir.path().join("missing"), &good).unwrap());
    }

    #[test]
    fn agents_are_named_as_the_cli_spells_them() {
        assert_eq!(AgentCli::parse(" Codex"), Some(AgentCli::Codex));
        assert_eq!(AgentCli::parse("kilo"), Some(AgentCli::Kilo));
        assert_eq!(AgentCli::parse("gemini"), None);
        for a in AgentCli::ALL {
            assert!(a.pin().integrity.starts_with("sha512-"));
            assert!(a.pin().tarball.starts_with("https://registry.npmjs.org/"));
        }
    }
}
