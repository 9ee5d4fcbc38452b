//! The git gateway as agents use it: real `git` clones from and pushes to the bot over
//! real HTTP, and the forge simulator is the forge behind it. An agent holds only its
//! own token; what reaches the forge is read back from the simulator's repositories.
//!
//! Tokens are resolved by a map standing in for the bot's database (the [`GitAuth`]
//! seam the bot implements), rigs by another.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bot::forge::config::{ForgeConfig, build_forge};
use bot::forge::resilience::Secret;
use bot::forge::{Forge, GitRemote, RepoPath};
use bot::gitgate::{
    AgentGrant, GatewayConfig, GitAuth, GitGateway, PushedBranch, RigResolver, RigTarget,
};
use forge_sim::{ForgeSim, Permission, SimHandle, SimOptions};
use tokio::sync::mpsc::UnboundedReceiver;

const BOT: &str = "gastown-bot";
const BEAD: &str = "gt-k3x9";
/// The polecat working bead `gt-k3x9` in rig `hello`.
const POLECAT: &str = "tok-polecat";
/// An agent of rig `hello` with no bead on its hook (a witness, say).
const WITNESS: &str = "tok-witness";
/// A polecat of another rig.
const STRANGER: &str = "tok-stranger";

struct Tokens(HashMap<&'static str, AgentGrant>);

#[async_trait]
impl GitAuth for Tokens {
    async fn agent_for_token(&self, token: &str) -> Option<AgentGrant> {
        self.0.get(token).cloned()
    }
}

/// Rigs by `(forge, host, path)`.
struct Rigs(HashMap<(String, String, String), RigTarget>);

#[async_trait]
impl RigResolver for Rigs {
    async fn rig(&self, forge: &str, host: &str, path: &str) -> Option<RigTarget> {
        self.0
            .get(&(forge.to_owned(), host.to_owned(), path.to_owned()))
            .cloned()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    GitHub,
    GitLab,
}

/// A simulated forge with rig `hello` (and rig `other`), the bot's client for it, and a
/// gateway in front of it on a loopback port.
struct World {
    sim: SimHandle,
    repo: &'static str,
    gateway: Arc<GitGateway>,
    rig: RigTarget,
    pushed: UnboundedReceiver<PushedBranch>,
    /// `http://127.0.0.1:port`, the gateway.
    base: String,
    /// Agents' homes and checkouts.
    tmp: tempfile::TempDir,
}

impl World {
    async fn start(kind: Kind) -> World {
        World::start_capped(kind, GatewayConfig::new("").max_push_bytes).await
    }

    /// A world whose gateway takes pushes of at most `max_push_bytes`.
    async fn start_capped(kind: Kind, max_push_bytes: usize) -> World {
        let sim = ForgeSim::start(SimOptions::default())
            .await
            .expect("simulator");
        let bot = sim.add_user(BOT).await.unwrap();
        let host = sim.addr().to_string();
        let (repo, other, mut cfg) = match kind {
            Kind::GitHub => {
                let cfg = ForgeConfig::new(webhooks::ForgeKind::GitHub, &host, "T");
                ("octo/hello", "octo/other", cfg)
            }
            Kind::GitLab => {
                let cfg = ForgeConfig::new(webhooks::ForgeKind::GitLab, &host, "T");
                ("octo/sub/hello", "octo/sub/other", cfg)
            }
        };
        for r in [repo, other] {
            match kind {
                Kind::GitHub => {
                    sim.create_repo(r, "main").await.unwrap();
                    sim.grant(r, BOT, Permission::Write).await.unwrap();
                }
                Kind::GitLab => {
                    sim.create_gitlab_project(r, "main").await.unwrap();
                    sim.add_member(r, BOT, 30).unwrap();
                }
            }
        }
        cfg.api_base = Some(match kind {
            Kind::GitHub => sim.github_api_url(),
            Kind::GitLab => sim.gitlab_api_url(),
        });
        let token = bot.token.clone();
        let forge: Arc<dyn Forge> = build_forge(&cfg, &move |_| Some(token.clone())).unwrap();
        let target = |rig_id: &str, path: &str| RigTarget {
            rig_id: rig_id.into(),
            forge: forge.clone(),
            repo: RepoPath::new(path),
        };
        let rig = target("hello", repo);
        let forge_name = forge.kind().as_str().to_owned();
        let rigs = Rigs(HashMap::from([
            (
                (forge_name.clone(), host.clone(), repo.to_owned()),
                rig.clone(),
            ),
            ((forge_name, host, other.to_owned()), target("other", other)),
        ]));
        let grant = |agent: &str, rig: &str, bead: Option<&str>| AgentGrant {
            branch_bead: bead.map(str::to_owned),
            agent_id: agent.into(),
            rig_id: rig.into(),
            bead_id: bead.map(str::to_owned),
        };
        let tokens = Tokens(HashMap::from([
            (POLECAT, grant("hello/polecat-1", "hello", Some(BEAD))),
            (WITNESS, grant("hello/witness", "hello", None)),
            (STRANGER, grant("other/polecat-1", "other", Some("gt-zz1"))),
        ]));

        let tmp = tempfile::tempdir().unwrap();
        let mut config = GatewayConfig::new(tmp.path().join("gateway"));
        // Every fetch syncs first, so a test never waits for the interval.
        config.sync_interval = Duration::ZERO;
        config.max_push_bytes = max_push_bytes;
        let (tx, pushed) = tokio::sync::mpsc::unbounded_channel();
        let gateway = Arc::new(GitGateway::new(
            config,
            Arc::new(tokens),
            Arc::new(rigs),
            tx,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = bot::gitgate::router(gateway.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        World {
            sim,
            repo,
            gateway,
            rig,
            pushed,
            base,
            tmp,
        }
    }

    /// The gateway URL of rig `hello` (or of another repository path on the forge).
    fn url_of(&self, path: &str) -> String {
        format!(
            "{}/git/{}/{}/{path}.git",
            self.base,
            self.rig.forge.kind().as_str(),
            self.sim.addr()
        )
    }

    fn url(&self) -> String {
        self.url_of(self.repo)
    }

    /// Run git as an agent holding `token` (none: no credentials at all), in `dir`
    /// under the agents' temporary directory.
    async fn git(&self, token: Option<&str>, dir: &str, args: &[&str]) -> Output {
        let cwd = self.tmp.path().join(dir);
        std::fs::create_dir_all(&cwd).unwrap();
        let mut cmd = tokio::process::Command::new("git");
        cmd.args(args)
            .current_dir(&cwd)
            .env("HOME", self.tmp.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Polecat")
            .env("GIT_AUTHOR_EMAIL", "polecat@gastown.invalid")
            .env("GIT_COMMITTER_NAME", "Polecat")
            .env("GIT_COMMITTER_EMAIL", "polecat@gastown.invalid");
        if let Some(token) = token {
            // As the bot will hand it to an agent: any user name, the token as password.
            let remote = GitRemote {
                url: String::new(),
                username: "agent".into(),
                password: Secret::new(token),
            };
            cmd.envs(remote.git_env());
        }
        cmd.output().await.unwrap()
    }

    /// Like [`Self::git`], asserting success; returns stdout.
    async fn ok(&self, token: Option<&str>, dir: &str, args: &[&str]) -> String {
        let out = self.git(token, dir, args).await;
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The polecat clones rig `hello` into `work` and commits `file` on `branch`.
    async fn clone_and_commit(&self, branch: &str, file: &str) -> String {
        self.ok(
            Some(POLECAT),
            ".",
            &["clone", "--quiet", &self.url(), "work"],
        )
        .await;
        assert!(
            self.checkout().join("README.md").exists(),
            "main checked out"
        );
        self.ok(None, "work", &["checkout", "--quiet", "-b", branch])
            .await;
        std::fs::write(self.checkout().join(file), "fixed\n").unwrap();
        self.ok(None, "work", &["add", file]).await;
        self.ok(None, "work", &["commit", "--quiet", "-m", "Fix the flux"])
            .await;
        self.ok(None, "work", &["rev-parse", "HEAD"]).await
    }

    fn checkout(&self) -> PathBuf {
        self.tmp.path().join("work")
    }

    async fn forge_refs(&self) -> std::collections::BTreeMap<String, String> {
        self.sim.refs(self.repo).await.unwrap()
    }

    async fn forge_branch(&self, branch: &str) -> Option<String> {
        self.sim.branch_sha(self.repo, branch).await.unwrap()
    }

    /// A branch of rig `hello`'s mirror.
    async fn mirror_branch(&self, branch: &str) -> Option<String> {
        let dir = self.gateway.mirror_dir(&self.rig).unwrap();
        let out = self
            .git(
                None,
                ".",
                &[
                    "--git-dir",
                    &dir.to_string_lossy(),
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{branch}"),
                ],
            )
            .await;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    async fn next_pushed(&mut self) -> PushedBranch {
        tokio::time::timeout(Duration::from_secs(10), self.pushed.recv())
            .await
            .expect("a pushed branch in time")
            .expect("channel open")
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The happy path on either forge: clone through the gateway, commit, push the bead's
/// branch; the forge has the commit and the bot hears of it. Then a rebase is pushed
/// over it, and a fetch sees what happened on the forge's main meanwhile.
async fn agent_pushes_its_branch_to_the_forge(kind: Kind) {
    let mut w = World::start(kind).await;
    let branch = format!("gt/{BEAD}-fix");
    let sha = w.clone_and_commit(&branch, "flux.txt").await;

    let out = w
        .git(Some(POLECAT), "work", &["push", "origin", &branch])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.forge_branch(&branch).await.as_deref(), Some(sha.as_str()));
    assert_eq!(
        w.next_pushed().await,
        PushedBranch {
            rig_id: "hello".into(),
            agent_id: "hello/polecat-1".into(),
            bead_id: BEAD.into(),
            branch: branch.clone(),
            sha: sha.clone(),
        }
    );

    // Agents rebase: a rewritten branch replaces the old one on the forge.
    w.ok(
        None,
        "work",
        &[
            "commit",
            "--quiet",
            "--amend",
            "-m",
            "Fix the flux, properly",
        ],
    )
    .await;
    let amended = w.ok(None, "work", &["rev-parse", "HEAD"]).await;
    w.ok(
        Some(POLECAT),
        "work",
        &["push", "--quiet", "--force", "origin", &branch],
    )
    .await;
    assert_eq!(w.forge_branch(&branch).await, Some(amended.clone()));
    assert_eq!(w.next_pushed().await.sha, amended);

    // Someone lands work on main on the forge; the agent's next fetch sees it.
    let landed = w
        .sim
        .commit_file(BOT, w.repo, "main", "LANDED.md", "yes\n", "Land")
        .await
        .unwrap();
    w.ok(Some(POLECAT), "work", &["fetch", "--quiet", "origin"])
        .await;
    assert_eq!(
        w.ok(None, "work", &["rev-parse", "origin/main"]).await,
        landed
    );
}

#[tokio::test]
async fn github_agent_pushes_its_branch_to_the_forge() {
    agent_pushes_its_branch_to_the_forge(Kind::GitHub).await;
}

#[tokio::test]
async fn gitlab_agent_pushes_its_branch_to_the_forge() {
    agent_pushes_its_branch_to_the_forge(Kind::GitLab).await;
}

#[tokio::test]
async fn pushes_outside_the_beads_branches_are_refused_and_the_forge_is_untouched() {
    let mut w = World::start(Kind::GitHub).await;
    let own = format!("gt/{BEAD}-keep");
    w.clone_and_commit(&own, "keep.txt").await;
    w.ok(Some(POLECAT), "work", &["push", "--quiet", "origin", &own])
        .await;
    w.next_pushed().await;
    w.ok(None, "work", &["tag", "v1"]).await;
    let forge_before = w.forge_refs().await;

    let allowed = format!("refs/heads/gt/{BEAD} or refs/heads/gt/{BEAD}-*");
    let attempts: Vec<(String, String)> = vec![
        ("HEAD:refs/heads/main".into(), "refs/heads/main".into()),
        (
            "HEAD:refs/heads/gt/gt-other-x".into(),
            "refs/heads/gt/gt-other-x".into(),
        ),
        // The bead's id followed by more letters is another bead.
        (
            format!("HEAD:refs/heads/gt/{BEAD}a-x"),
            format!("refs/heads/gt/{BEAD}a-x"),
        ),
        ("refs/tags/v1:refs/tags/v1".into(), "refs/tags/v1".into()),
    ];
    for (spec, refused) in attempts {
        let out = w
            .git(Some(POLECAT), "work", &["push", "origin", &spec])
            .await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{spec} was accepted: {err}");
        assert!(
            err.contains(&format!("refusing {refused}")) && err.contains(&allowed),
            "{spec}: {err}"
        );
    }
    let out = w
        .git(
            Some(POLECAT),
            "work",
            &["push", "origin", &format!(":{own}")],
        )
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("refusing to delete refs/heads/{own}")),
        "{}",
        stderr(&out)
    );

    // An agent with no bead may fetch but not push at all.
    w.ok(
        Some(WITNESS),
        ".",
        &["clone", "--quiet", &w.url(), "witness"],
    )
    .await;
    let out = w
        .git(
            Some(WITNESS),
            "witness",
            &["push", "origin", &format!("HEAD:refs/heads/gt/{BEAD}-w")],
        )
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no bead"), "{}", stderr(&out));

    assert_eq!(
        w.forge_refs().await,
        forge_before,
        "nothing changed on the forge"
    );
    assert!(w.pushed.try_recv().is_err(), "no refused push is reported");
}

#[tokio::test]
async fn only_the_rigs_own_agents_get_in() {
    let w = World::start(Kind::GitHub).await;
    let http = reqwest::Client::new();
    let refs = |url: String| format!("{url}/info/refs?service=git-upload-pack");

    let none = http.get(refs(w.url())).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Basic realm=\"gastown\""
    );
    let wrong = http
        .get(refs(w.url()))
        .basic_auth("agent", Some("tok-made-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let stranger = http
        .get(refs(w.url()))
        .bearer_auth(STRANGER)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 403);
    let unknown = http
        .get(refs(w.url_of("octo/nope")))
        .bearer_auth(POLECAT)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let ok = http
        .get(refs(w.url()))
        .bearer_auth(POLECAT)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // And as git sees it.
    let out = w.git(None, ".", &["clone", &w.url(), "anon"]).await;
    assert!(!out.status.success());
    let out = w
        .git(Some("tok-made-up"), ".", &["clone", &w.url(), "wrong"])
        .await;
    assert!(!out.status.success());
    // 401 again with its credentials: git gives up (it may not prompt).
    let err = stderr(&out);
    assert!(
        err.contains("Authentication failed") || err.contains("could not read Username"),
        "{err}"
    );
    let out = w
        .git(Some(STRANGER), ".", &["clone", &w.url(), "stranger"])
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_push_the_forge_refuses_fails_for_the_agent_and_leaves_the_mirror_as_it_was() {
    let mut w = World::start(Kind::GitHub).await;
    let branch = format!("gt/{BEAD}-fix");
    w.clone_and_commit(&branch, "flux.txt").await;
    // The bot loses write access to the repository.
    w.sim.grant(w.repo, BOT, Permission::Read).await.unwrap();

    let out = w
        .git(Some(POLECAT), "work", &["push", "origin", &branch])
        .await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("the forge did not accept the push"), "{err}");
    assert!(err.contains("rejected"), "{err}");
    assert_eq!(w.forge_branch(&branch).await, None);
    assert_eq!(w.mirror_branch(&branch).await, None, "mirror not advanced");
    assert!(w.pushed.try_recv().is_err());

    // Write access back: the same push goes through.
    w.sim.grant(w.repo, BOT, Permission::Write).await.unwrap();
    w.ok(
        Some(POLECAT),
        "work",
        &["push", "--quiet", "origin", &branch],
    )
    .await;
    let pushed = w.next_pushed().await;
    assert_eq!(w.mirror_branch(&branch).await, Some(pushed.sha.clone()));
    assert_eq!(w.forge_branch(&branch).await, Some(pushed.sha));
}

#[tokio::test]
async fn credentials_never_land_in_the_mirror() {
    let w = World::start(Kind::GitHub).await;
    w.gateway.sync(&w.rig).await.unwrap();
    let bot_token = w.sim.user(BOT).await.unwrap().token;
    let dir = w.gateway.mirror_dir(&w.rig).unwrap();
    let config = std::fs::read_to_string(dir.join("config")).unwrap();
    assert!(!config.contains(&bot_token), "{config}");
    assert!(!config.contains("extraHeader"), "{config}");
    assert!(Path::new(&dir).join("hooks/pre-receive").exists());
    let main = w.sim.branch_sha(w.repo, "main").await.unwrap();
    assert_eq!(w.mirror_branch("main").await, main);
}

/// An agent's branch may not change what runs with the repository's CI secrets, nor
/// gastown's own settings: the push is refused naming the file, and nothing reaches
/// the forge. Once a maintainer allows that file in `.gastown.yaml` on main, the same
/// push goes through (its landing is another matter: always a PR a person approves).
async fn protected_files_change_only_where_gastown_yaml_allows(kind: Kind) {
    let mut w = World::start(kind).await;
    let branch = format!("gt/{BEAD}-ci");
    w.clone_and_commit(&branch, "flux.txt").await;
    for file in [
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        ".gastown.yaml",
    ] {
        let path = w.checkout().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "steal: $SECRETS\n").unwrap();
        w.ok(None, "work", &["add", file]).await;
    }
    w.ok(None, "work", &["commit", "--quiet", "-m", "Speed up CI"])
        .await;
    // A later commit putting things back changes nothing: the commit is on the branch.
    for file in [".gitlab-ci.yml", ".gastown.yaml"] {
        w.ok(None, "work", &["rm", "--quiet", file]).await;
    }
    w.ok(None, "work", &["commit", "--quiet", "-m", "Undo"])
        .await;

    let out = w
        .git(Some(POLECAT), "work", &["push", "origin", &branch])
        .await;
    let err = stderr(&out);
    assert!(!out.status.success(), "a CI change was accepted: {err}");
    assert!(
        err.contains(&format!(
            "refusing refs/heads/{branch}: its commits change protected files"
        )),
        "{err}"
    );
    for file in [
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        ".gastown.yaml",
    ] {
        assert!(err.contains(&format!("gastown:   {file}")), "{file}: {err}");
    }
    assert!(
        err.contains("lists them under allow_protected_changes"),
        "{err}"
    );
    assert_eq!(w.forge_branch(&branch).await, None, "nothing on the forge");
    assert_eq!(w.mirror_branch(&branch).await, None);
    assert!(w.pushed.try_recv().is_err());

    // A maintainer allows workflow changes only: the push is still refused, for the
    // other files alone.
    w.sim
        .commit_file(
            BOT,
            w.repo,
            "main",
            ".gastown.yaml",
            "allow_protected_changes:\n  - .github/workflows\n",
            "Let agents touch workflows",
        )
        .await
        .unwrap();
    w.ok(Some(POLECAT), "work", &["fetch", "--quiet", "origin"])
        .await;
    let out = w
        .git(Some(POLECAT), "work", &["push", "origin", &branch])
        .await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains(".github/workflows/ci.yml"), "allowed: {err}");
    assert!(err.contains("gastown:   .gitlab-ci.yml"), "{err}");

    // Without the other files the branch goes through.
    w.ok(None, "work", &["reset", "--quiet", "--hard", "HEAD~2"])
        .await;
    let path = w.checkout().join(".github/workflows/ci.yml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "on: [push]\n").unwrap();
    w.ok(None, "work", &["add", "."]).await;
    w.ok(None, "work", &["commit", "--quiet", "-m", "Speed up CI"])
        .await;
    let sha = w.ok(None, "work", &["rev-parse", "HEAD"]).await;
    w.ok(
        Some(POLECAT),
        "work",
        &["push", "--quiet", "origin", &branch],
    )
    .await;
    assert_eq!(w.forge_branch(&branch).await, Some(sha.clone()));
    assert_eq!(w.next_pushed().await.sha, sha);
}

#[tokio::test]
async fn github_protected_files_change_only_where_gastown_yaml_allows() {
    protected_files_change_only_where_gastown_yaml_allows(Kind::GitHub).await;
}

#[tokio::test]
async fn gitlab_protected_files_change_only_where_gastown_yaml_allows() {
    protected_files_change_only_where_gastown_yaml_allows(Kind::GitLab).await;
}

/// `len` bytes git cannot compress, so a pack is as big as its file.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// git's client sends a push bigger than `http.postBuffer` chunked, with no length;
/// the gateway streams it into git as it comes and counts it: under
/// `git.max_push_bytes` it lands, over it git is stopped and the push refused (413).
#[tokio::test]
async fn a_chunked_push_lands_and_one_over_the_cap_is_refused_with_413() {
    let w = World::start_capped(Kind::GitHub, 1024 * 1024).await;
    let branch = format!("gt/{BEAD}-big");
    w.clone_and_commit(&branch, "flux.txt").await;
    std::fs::write(w.checkout().join("blob.bin"), noise(300 * 1024, 7)).unwrap();
    w.ok(None, "work", &["add", "blob.bin"]).await;
    w.ok(None, "work", &["commit", "--quiet", "-m", "A blob"])
        .await;
    let sha = w.ok(None, "work", &["rev-parse", "HEAD"]).await;
    let chunked = ["-c", "http.postBuffer=65536", "push", "origin"];
    let out = w
        .git(Some(POLECAT), "work", &[&chunked[..], &[&branch]].concat())
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.forge_branch(&branch).await, Some(sha.clone()));

    std::fs::write(w.checkout().join("huge.bin"), noise(3 * 1024 * 1024, 11)).unwrap();
    w.ok(None, "work", &["add", "huge.bin"]).await;
    w.ok(None, "work", &["commit", "--quiet", "-m", "Too big"])
        .await;
    let out = w
        .git(Some(POLECAT), "work", &[&chunked[..], &[&branch]].concat())
        .await;
    assert!(!out.status.success(), "an over-cap push went through");
    // The bot answers 413 and stops reading; git either reads that answer or, still
    // sending, finds the connection closed under it.
    let said = stderr(&out);
    assert!(
        said.contains("413") || said.contains("Broken pipe") || said.contains("hung up"),
        "{said}"
    );
    assert_eq!(w.forge_branch(&branch).await, Some(sha.clone()));
    assert_eq!(w.mirror_branch(&branch).await, Some(sha));
}

/// The push body goes to git as it arrives, not after the bot has read it all: a body
/// git gives up on at its first bytes is answered while the sender still holds it open
/// (the bot buffered up to 512 MiB first before).
#[tokio::test]
async fn a_push_body_is_streamed_to_git_not_buffered_first() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let w = World::start(Kind::GitHub).await;
    w.gateway.sync(&w.rig).await.unwrap();
    let addr = w.base.trim_start_matches("http://").to_owned();
    let path = w.url().trim_start_matches(&w.base).to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path}/git-receive-pack HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {POLECAT}\r\n\
         Content-Type: application/x-git-receive-pack-request\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(b"10\r\nzzzz not a pack\n\r\n")
        .await
        .unwrap();

    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("git answered before the body ended")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
}
