//! Builds the town image without a registry: debootstrap a minimal Debian, strip it,
//! and `docker import` the tree.
//!
//! The tag is derived from the recipe (suite, packages, recipe version), so a second
//! build of the same recipe is a no-op: `gastown-town:<hash>`, also tagged `:latest`.
//! Users with a registry can use `runner/town-image/Dockerfile` instead.

use std::process::Stdio;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tracing::{Instrument, info, info_span};

use crate::RunnerError;

/// Bumped whenever the build steps change what ends up in the image.
const RECIPE_VERSION: u32 = 1;

/// Packages every town needs: git for worktrees, CA certificates for HTTPS remotes,
/// bash for the agent CLIs' shell tools. `util-linux` (setsid, flock) is essential in
/// Debian and comes with minbase.
pub const BASE_PACKAGES: &[&str] = &["git", "ca-certificates", "bash"];

/// What to build; the defaults give the standard town image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// Image repository; the tag is computed.
    pub repo: String,
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// Debian mirror; not part of the recipe hash (it does not change the content).
    pub mirror: String,
    /// Packages on top of [`BASE_PACKAGES`].
    pub extra_packages: Vec<String>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            repo: "gastown-town".to_owned(),
            suite: "bookworm".to_owned(),
            mirror: "http://deb.debian.org/debian".to_owned(),
            extra_packages: Vec::new(),
        }
    }
}

impl ImageOptions {
    fn packages(&self) -> Vec<String> {
        let mut all: Vec<String> = BASE_PACKAGES.iter().map(|p| (*p).to_owned()).collect();
        for p in &self.extra_packages {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }

    /// The content-addressed tag, `repo:<12 hex of sha256(recipe)>`.
    pub fn tag(&self) -> String {
        let mut packages = self.packages();
        packages.sort();
        let recipe = format!(
            "gastown-town recipe v{RECIPE_VERSION}\nvariant=minbase\nsuite={}\npackages={}\n",
            self.suite,
            packages.join(",")
        );
        let hash = hex::encode(Sha256::digest(recipe.as_bytes()));
        format!("{}:{}", self.repo, &hash[..12])
    }
}

fn image_err(step: &str) -> impl FnOnce(String) -> RunnerError + '_ {
    move |detail| RunnerError::Image {
        step: step.to_owned(),
        detail,
    }
}

/// Builds (or finds) the town image and returns its content-addressed tag.
///
/// Needs root (debootstrap), network access to the mirror and ~400 MB of scratch
/// space; takes about a minute the first time. `progress` receives human-readable
/// lines, including debootstrap's own `I:` lines.
pub async fn build_town_image(
    opts: &ImageOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String, RunnerError> {
    let tag = opts.tag();
    let span = info_span!("build_town_image", tag = %tag);
    async {
        let docker = connect().await?;
        if built(&docker, opts, &tag, "", progress).await? {
            return Ok(tag);
        }
        let scratch = tempfile::Builder::new()
            .prefix("gastown-rootfs-")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| image_err("creating a scratch directory")(e.to_string()))?;
        let rootfs = scratch.path().join("rootfs");
        progress(&format!(
            "debootstrap: {} ({}) from {}…",
            opts.suite,
            opts.packages().join(","),
            opts.mirror
        ));
        run_debootstrap(opts, &rootfs, progress).await?;
        strip(&rootfs).map_err(|e| image_err("stripping the rootfs")(e.to_string()))?;
        let size = dir_size(&rootfs);
        progress(&format!("importing rootfs ({} MB)…", size / 1_000_000));
        import(&docker, opts, &tag, &rootfs, progress).await?;
        tag_latest(&docker, opts, &tag).await?;
        progress(&format!("town image {tag} built"));
        info!("town image built");
        Ok(tag)
    }
    .instrument(span)
    .await
}

/// Whether the recipe's image is there already (then it is made `:latest` again): a
/// second build of the same recipe does nothing else.
async fn built(
    docker: &Docker,
    opts: &ImageOptions,
    tag: &str,
    with: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<bool, RunnerError> {
    if docker.inspect_image(tag).await.is_err() {
        return Ok(false);
    }
    progress(&format!("town image {tag}{with} already exists"));
    tag_latest(docker, opts, tag).await?;
    Ok(true)
}

async fn tag_latest(docker: &Docker, opts: &ImageOptions, tag: &str) -> Result<(), RunnerError> {
    let options = TagImageOptionsBuilder::default()
        .repo(&opts.repo)
        .tag("latest")
        .build();
    docker
        .tag_image(tag, Some(options))
        .await
        .map_err(RunnerError::docker(format!(
            "tag {tag} as {}:latest",
            opts.repo
        )))
}

async fn run_debootstrap(
    opts: &ImageOptions,
    rootfs: &std::path::Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RunnerError> {
    let mut child = tokio::process::Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", opts.packages().join(",")))
        .arg(&opts.suite)
        .arg(rootfs)
        .arg(&opts.mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            image_err("starting debootstrap (apt-get install debootstrap; run as root)")(
                e.to_string(),
            )
        })?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut tail: Vec<String> = Vec::new();
    while let Some(line) = rx.recv().await {
        progress(&format!("debootstrap: {line}"));
        tail.push(line);
        if tail.len() > 20 {
            tail.remove(0);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| image_err("waiting for debootstrap")(e.to_string()))?;
    if !status.success() {
        return Err(image_err("debootstrap")(format!(
            "{status}; last output:\n{}",
            tail.join("\n")
        )));
    }
    Ok(())
}

/// Drops what a town never needs (apt caches, docs, locales): halves the image.
fn strip(rootfs: &std::path::Path) -> std::io::Result<()> {
    for dir in [
        "var/cache/apt",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "var/log",
    ] {
        let path = rootfs.join(dir);
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
    }
    Ok(())
}

fn dir_size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// Streams `tar -C rootfs -c .` into the daemon's import endpoint (what
/// `docker import` does), so the tarball never sits on disk or in memory.
async fn import(
    docker: &Docker,
    opts: &ImageOptions,
    tag: &str,
    rootfs: &std::path::Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RunnerError> {
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(rootfs)
        .args(["--numeric-owner", "-c", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| image_err("starting tar")(e.to_string()))?;
    let stdout = tar.stdout.take().expect("stdout is piped");
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(stdout));
    let (_, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(&opts.repo)
        .tag(version)
        .changes(vec![
            "ENV LANG=C.UTF-8".to_owned(),
            format!("LABEL gastown.recipe={version}"),
            "CMD [\"/bin/bash\"]".to_owned(),
        ])
        .message("gastown town image (debootstrap)")
        .build();
    let mut stream = docker.create_image(Some(options), Some(body), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| image_err("docker import")(e.to_string()))?;
        if let Some(status) = info.status.filter(|s| !s.trim().is_empty()) {
            progress(&format!("import: {status}"));
        }
    }
    let output = tar
        .wait_with_output()
        .await
        .map_err(|e| image_err("waiting for tar")(e.to_string()))?;
    if !output.status.success() {
        return Err(image_err("tar of the rootfs")(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    docker
        .inspect_image(tag)
        .await
        .map_err(RunnerError::docker(format!(
            "find the imported image {tag}"
        )))?;
    Ok(())
}

/// The town image with `agents` on top: the base image (built or found) plus a layer
/// holding each CLI's pinned binary under `/opt/gastown/agents/` and a command in
/// `/usr/local/bin/`, tagged `repo:<hash of the base and the pins>` and `:latest` (the
/// image the town runs is the one last built). Downloads are cached in `cache`.
pub async fn build_town_image_with_agents(
    opts: &ImageOptions,
    agents: &[crate::agents::AgentCli],
    cache: &std::path::Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String, RunnerError> {
    let base = build_town_image(opts, progress).await?;
    if agents.is_empty() {
        return Ok(base);
    }
    let mut agents = agents.to_vec();
    agents.sort();
    agents.dedup();
    let pins: Vec<String> = agents
        .iter()
        .map(|a| {
            format!(
                "{}@{}={}",
                a.pin().package,
                a.pin().version,
                a.pin().integrity
            )
        })
        .collect();
    let recipe = format!("gastown-town agents v1\nbase={base}\n{}\n", pins.join("\n"));
    let hash = hex::encode(Sha256::digest(recipe.as_bytes()));
    let tag = format!("{}:{}", opts.repo, &hash[..12]);
    let docker = connect().await?;
    let with = format!(" with {}", names(&agents));
    if built(&docker, opts, &tag, &with, progress).await? {
        return Ok(tag);
    }
    let scratch = tempfile::Builder::new()
        .prefix("gastown-agents-")
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| image_err("creating a scratch directory")(e.to_string()))?;
    let layer = scratch.path().join("layer");
    stage_agents(&agents, cache, &layer, progress).await?;
    progress(&format!(
        "adding {} ({} MB) to {base}…",
        names(&agents),
        dir_size(&layer) / 1_000_000
    ));
    commit_layer(&docker, opts, &base, &tag, &layer).await?;
    tag_latest(&docker, opts, &tag).await?;
    progress(&format!("town image {tag} built with {}", names(&agents)));
    Ok(tag)
}

/// The image of the bot, which is also the town image on Kubernetes (a pod cannot
/// mount the bot's binary as Docker does): `town` with `gt` at `/usr/local/bin/gt`,
/// tagged `repo:<hash of the town image and the binary>` and `repo:latest`.
pub async fn build_with_gt(
    town: &str,
    gt: &std::path::Path,
    repo: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String, RunnerError> {
    let staging = |e: std::io::Error| image_err("staging the gt layer")(e.to_string());
    let binary = std::fs::read(gt).map_err(staging)?;
    let docker = connect().await?;
    let base = docker
        .inspect_image(town)
        .await
        .map_err(RunnerError::docker(format!("find the town image {town}")))?
        .id
        .unwrap_or_else(|| town.to_owned());
    let recipe = format!(
        "gastown bot image v1\nbase={base}\ngt={}\n",
        hex::encode(Sha256::digest(&binary))
    );
    let tag = format!(
        "{repo}:{}",
        &hex::encode(Sha256::digest(recipe.as_bytes()))[..12]
    );
    let opts = ImageOptions {
        repo: repo.to_owned(),
        ..Default::default()
    };
    if built(&docker, &opts, &tag, " with gt", progress).await? {
        return Ok(tag);
    }
    let scratch = tempfile::Builder::new()
        .prefix("gastown-gt-")
        .tempdir_in(std::env::temp_dir())
        .map_err(staging)?;
    let bin = scratch.path().join("usr/local/bin");
    std::fs::create_dir_all(&bin).map_err(staging)?;
    std::fs::write(bin.join("gt"), &binary).map_err(staging)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("gt"), std::fs::Permissions::from_mode(0o755))
            .map_err(staging)?;
    }
    progress(&format!(
        "adding gt ({} MB) to {town}…",
        binary.len() / 1_000_000
    ));
    commit_layer(&docker, &opts, town, &tag, scratch.path()).await?;
    tag_latest(&docker, &opts, &tag).await?;
    progress(&format!("image {tag} built with gt"));
    Ok(tag)
}

/// Lay `agents` out in `layer` as the image holds them: each CLI's tree under
/// `opt/gastown/agents/<name>-<version>/` and its command in `usr/local/bin/`. What
/// `gt town-image fetch` writes for the Dockerfile, and what the layer is made of.
pub async fn stage_agents(
    agents: &[crate::agents::AgentCli],
    cache: &std::path::Path,
    layer: &std::path::Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RunnerError> {
    let staging = |e: std::io::Error| image_err("staging the agents layer")(e.to_string());
    for &agent in agents {
        let tree = crate::agents::fetch(agent, cache, progress).await?;
        let pin = agent.pin();
        let home = format!("opt/gastown/agents/{}-{}", pin.name, pin.version);
        let _ = std::fs::remove_dir_all(layer.join(&home));
        link_tree(&tree, &layer.join(&home)).map_err(staging)?;
        let bin = layer.join("usr/local/bin");
        std::fs::create_dir_all(&bin).map_err(staging)?;
        let _ = std::fs::remove_file(bin.join(pin.name));
        std::os::unix::fs::symlink(format!("/{home}/{}", pin.entry), bin.join(pin.name))
            .map_err(staging)?;
    }
    Ok(())
}

fn names(agents: &[crate::agents::AgentCli]) -> String {
    agents
        .iter()
        .map(|a| a.pin().name)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn connect() -> Result<Docker, RunnerError> {
    let unreachable = |source| RunnerError::DockerUnreachable {
        socket: "/var/run/docker.sock".to_owned(),
        source,
    };
    Docker::connect_with_socket_defaults()
        .map_err(unreachable)?
        .negotiate_version()
        .await
        .map_err(unreachable)
}

/// `to` as a copy of the cached tree: hard links where the file system allows (no
/// bytes copied), else copies. Executables stay executable.
fn link_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == ".gastown-integrity" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            link_tree(&src, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// A container of `base` (never started), the layer's tar streamed into its root, and
/// the container committed as `tag`: a layer without a builder, a registry or a network.
async fn commit_layer(
    docker: &Docker,
    opts: &ImageOptions,
    base: &str,
    tag: &str,
    layer: &std::path::Path,
) -> Result<(), RunnerError> {
    let body = bollard::models::ContainerCreateBody {
        image: Some(base.to_owned()),
        ..Default::default()
    };
    let created = docker
        .create_container(None, body)
        .await
        .map_err(RunnerError::docker(format!("create a container of {base}")))?;
    let id = created.id;
    let result = async {
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(layer)
            .args(["--numeric-owner", "--owner=0", "--group=0", "-c", "."])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| image_err("starting tar")(e.to_string()))?;
        let stdout = tar.stdout.take().expect("stdout is piped");
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(stdout));
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path("/")
            .build();
        docker
            .upload_to_container(&id, Some(options), body)
            .await
            .map_err(RunnerError::docker(
                "copy the layer into the container".to_owned(),
            ))?;
        let output = tar
            .wait_with_output()
            .await
            .map_err(|e| image_err("waiting for tar")(e.to_string()))?;
        if !output.status.success() {
            return Err(image_err("tar of the agents layer")(
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        let (_, version) = tag.split_once(':').unwrap_or((tag, "latest"));
        let options = bollard::query_parameters::CommitContainerOptionsBuilder::default()
            .container(&id)
            .repo(&opts.repo)
            .tag(version)
            .comment("gastown: a layer on the town image")
            .build();
        docker
            .commit_container(options, bollard::models::ContainerConfig::default())
            .await
            .map_err(RunnerError::docker(format!("commit the layer as {tag}")))?;
        Ok(())
    }
    .await;
    let remove = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
        .force(true)
        .build();
    let _ = docker.remove_container(&id, Some(remove)).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_depends_on_the_recipe_not_the_mirror() {
        let a = ImageOptions::default();
        let b = ImageOptions {
            mirror: "http://example.invalid/debian".to_owned(),
            ..ImageOptions::default()
        };
        let c = ImageOptions {
            extra_packages: vec!["curl".to_owned()],
            ..ImageOptions::default()
        };
        assert_eq!(a.tag(), b.tag());
        assert_ne!(a.tag(), c.tag());
        assert!(a.tag().starts_with("gastown-town:"));
    }
}
