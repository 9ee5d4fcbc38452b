//! The contract every [`Forge`] implementation keeps, checked against the forge
//! simulator the way a person would check it: the bot calls the trait, and the test
//! looks at the simulated forge (issues, labels, branches, statuses) to see what
//! actually happened there.
//!
//! One `async fn` per clause takes a [`Contract`] harness; [`contract_tests!`] turns each
//! clause into a `#[tokio::test]` per forge (`github::issue_read`, ...). Clauses act as
//! people and look at the forge only through the harness, so adding a forge is a
//! constructor on [`Contract`], an arm in each of its acts and reads, and one
//! `contract_tests!(name)` line. Where forges genuinely differ (GitLab's single
//! `pipeline` gate, its separate issue and MR iids, ...) the harness declares the forge's
//! answer and the clause keeps its meaning; a clause a forge cannot keep yet is listed,
//! with the reason, in [`known_gap!`].
//!
//! The bot has write access and no more, as a bot should. Rate-limit and backoff waits go
//! to a recording sleeper: they are asserted, never slept.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bot::clock::SystemClock;
use bot::forge::config::{ForgeConfig, build_forge_with_policy};
use bot::forge::resilience::{Policy, RetrySettings, Sleeper};
use bot::forge::{
    CheckState, CommentRef, CommitStatus, Forge, ForgeError, LabelSpec, MergeMethod, MergeOutcome,
    NewIssue, NewPullRequest, Permission, PullRequestUpdate, Reaction, RepoPath, ReviewState,
    State,
};
use forge_sim::ops::CheckRunInput;
use forge_sim::world::IssueState;
use forge_sim::{ForgeSim, SimHandle, SimOptions};

/// The bot's account on the forge.
const BOT: &str = "gastown-bot";
/// A writer who opens issues and pull requests and pushes code.
const MARA: &str = "mara";
/// A triager who labels and reviews.
const TESS: &str = "tess";

/// Records every wait the retry policy asks for and returns at once, so rate-limit
/// waits are asserted instead of slept.
#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl RecordingSleeper {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
}

/// Which forge a [`Contract`] runs against; every person-act below has one arm per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    GitHub,
    GitLab,
}

/// One forge under contract: a fresh simulator with a repository and its people, and
/// the bot's [`Forge`] client pointed at it. Clauses act as people and read the forge
/// only through the methods here, so a new forge adds one arm to each of them.
struct Contract {
    kind: Kind,
    sim: SimHandle,
    forge: Arc<dyn Forge>,
    /// The repository as the simulator names it, and as the client names it.
    repo: &'static str,
    path: RepoPath,
    sleeps: Arc<RecordingSleeper>,
    /// How the bot's client was configured.
    config: ForgeConfig,
    /// The bot's user id in the simulator.
    bot_id: u64,
    /// What the forge reports for an existing user with no role on the repository.
    /// GitHub answers `read` for anyone on a public repository (every simulated one is).
    stranger_sees: Permission,
}

impl Contract {
    /// GitHub: `GithubForge` built from config, on the simulator's REST API, with the
    /// bot's token and a recording sleeper.
    async fn github() -> Self {
        let repo = "octo/hello";
        let sim = ForgeSim::start(SimOptions::default())
            .await
            .expect("simulator");
        sim.create_repo(repo, "main").await.unwrap();
        let mut cfg = ForgeConfig::new(
            webhooks::ForgeKind::GitHub,
            sim.addr().to_string(),
            "GT_GITHUB_TOKEN",
        );
        cfg.api_base = Some(sim.github_api_url());
        Self::people(Kind::GitHub, sim, repo, cfg, Permission::Read).await
    }

    /// GitLab: `GitlabForge` built from config, on the simulator's REST v4 API, with the
    /// bot's token (the bot a developer, as on GitHub) and a recording sleeper. A
    /// stranger is no member: GitLab answers 404 for the membership, read as `None`.
    async fn gitlab() -> Self {
        let repo = "octo/sub/hello";
        let sim = ForgeSim::start(SimOptions::default())
            .await
            .expect("simulator");
        sim.create_gitlab_project(repo, "main").await.unwrap();
        let mut cfg = ForgeConfig::new(
            webhooks::ForgeKind::GitLab,
            sim.addr().to_string(),
            "GT_GITLAB_TOKEN",
        );
        cfg.api_base = Some(sim.gitlab_api_url());
        Self::people(Kind::GitLab, sim, repo, cfg, Permission::None).await
    }

    /// The bot and Mara (write), Tess (triage), and the bot's client.
    async fn people(
        kind: Kind,
        sim: SimHandle,
        repo: &'static str,
        cfg: ForgeConfig,
        stranger_sees: Permission,
    ) -> Self {
        let bot = sim.add_user(BOT).await.unwrap();
        sim.add_user(MARA).await.unwrap();
        sim.add_user(TESS).await.unwrap();
        let sleeps = Arc::new(RecordingSleeper::default());
        let policy =
            Policy::new(RetrySettings::default()).with_time(sleeps.clone(), Arc::new(SystemClock));
        let var = cfg.token_env.clone().unwrap_or_default();
        let token = bot.token.clone();
        let forge =
            build_forge_with_policy(&cfg, &move |k| (k == var).then(|| token.clone()), policy)
                .expect("forge client");
        let c = Self {
            kind,
            sim,
            forge,
            repo,
            path: RepoPath::new(repo),
            sleeps,
            config: cfg,
            bot_id: bot.id,
            stranger_sees,
        };
        // Write is all the bot needs; nothing here may depend on more.
        c.grant(BOT, forge_sim::Permission::Write).await;
        c.grant(MARA, forge_sim::Permission::Write).await;
        c.grant(TESS, forge_sim::Permission::Triage).await;
        c
    }

    fn waits(&self) -> Vec<Duration> {
        self.sleeps.waits()
    }

    /// Another client of the same forge, authenticated with `token`.
    async fn client_with_token(&self, token: &str) -> Arc<dyn Forge> {
        let var = self.config.token_env.clone().unwrap_or_default();
        let token = token.to_owned();
        build_forge_with_policy(
            &self.config,
            &move |k| (k == var).then(|| token.clone()),
            Policy::new(RetrySettings::default())
                .with_time(Arc::new(RecordingSleeper::default()), Arc::new(SystemClock)),
        )
        .expect("forge client")
    }

    // What people do on the forge.

    /// The world's number for issue (or, with `pull`, pull request) `n` as the forge
    /// numbers it: the same on GitHub; GitLab counts issue and MR iids apart.
    fn number(&self, n: u64, pull: bool) -> u64 {
        match self.kind {
            Kind::GitHub => n,
            Kind::GitLab => self
                .sim
                .sim()
                .gitlab_number(self.repo, n, pull)
                .expect("on the forge"),
        }
    }

    fn gl_id(&self, login: &str) -> u64 {
        self.sim
            .sim()
            .world()
            .user_by_login(login)
            .expect("a user")
            .id
    }

    /// The REST path of issue `n` (and of its comments), as faults are aimed.
    fn issue_api_path(&self, n: u64) -> String {
        match self.kind {
            Kind::GitHub => format!("/repos/{}/issues/{n}", self.repo),
            Kind::GitLab => format!("/projects/{}/issues/{n}", self.repo.replace('/', "%2F")),
        }
    }

    fn comments_api_path(&self, n: u64) -> String {
        let leaf = match self.kind {
            Kind::GitHub => "comments",
            Kind::GitLab => "notes",
        };
        format!("{}/{leaf}", self.issue_api_path(n))
    }

    async fn grant(&self, login: &str, role: forge_sim::Permission) {
        match self.kind {
            Kind::GitHub => self.sim.grant(self.repo, login, role).await.unwrap(),
            Kind::GitLab => {
                let level = match role {
                    forge_sim::Permission::None => 0,
                    forge_sim::Permission::Read => 10,
                    forge_sim::Permission::Triage => 20,
                    forge_sim::Permission::Write => 30,
                    forge_sim::Permission::Maintain => 40,
                    forge_sim::Permission::Admin => 50,
                };
                self.sim.add_member(self.repo, login, level).unwrap();
            }
        }
    }

    async fn open_issue(&self, who: &str, title: &str, body: &str) -> u64 {
        match self.kind {
            Kind::GitHub => self
                .sim
                .open_issue(who, self.repo, title, body)
                .await
                .unwrap(),
            Kind::GitLab => self
                .sim
                .gl_open_issue(who, self.repo, title, body)
                .await
                .unwrap(),
        }
    }

    async fn label(&self, who: &str, n: u64, label: &str) {
        match self.kind {
            Kind::GitHub => self.sim.add_label(who, self.repo, n, label).await.unwrap(),
            Kind::GitLab => self
                .sim
                .gl_add_label(who, self.repo, n, label)
                .await
                .unwrap(),
        }
    }

    /// Label pull request `n`.
    async fn label_pull(&self, who: &str, n: u64, label: &str) {
        match self.kind {
            Kind::GitHub => self.label(who, n, label).await,
            // The simulator has no MR label edit yet: the forge-neutral act labels it.
            Kind::GitLab => self
                .sim
                .add_label(who, self.repo, self.number(n, true), label)
                .await
                .unwrap(),
        }
    }

    async fn unlabel(&self, who: &str, n: u64, label: &str) {
        match self.kind {
            Kind::GitHub => self
                .sim
                .remove_label(who, self.repo, n, label)
                .await
                .unwrap(),
            Kind::GitLab => self
                .sim
                .gl_remove_label(who, self.repo, n, label)
                .await
                .unwrap(),
        }
    }

    async fn create_label(&self, who: &str, name: &str, color: &str) {
        self.sim
            .create_label(who, self.repo, name, color)
            .await
            .unwrap()
    }

    async fn close(&self, who: &str, n: u64) {
        match self.kind {
            Kind::GitHub => self.sim.close_issue(who, self.repo, n).await.unwrap(),
            Kind::GitLab => self.sim.gl_close_issue(who, self.repo, n).await.unwrap(),
        }
    }

    /// Close pull request `n` without merging.
    async fn close_pull(&self, who: &str, n: u64) {
        match self.kind {
            Kind::GitHub => self.close(who, n).await,
            Kind::GitLab => {
                let edit = forge_sim::ops::gitlab::GlIssueEdit {
                    state: Some(IssueState::Closed),
                    ..Default::default()
                };
                self.sim
                    .sim()
                    .gl_edit_mr(self.gl_id(who), self.repo, n, edit)
                    .unwrap();
            }
        }
    }

    /// Comment on an issue; returns the comment id.
    async fn comment(&self, who: &str, n: u64, body: &str) -> u64 {
        match self.kind {
            Kind::GitHub => self.sim.comment(who, self.repo, n, body).await.unwrap(),
            Kind::GitLab => self
                .sim
                .gl_comment(who, self.repo, n, false, body)
                .await
                .unwrap(),
        }
    }

    /// Comment on a pull request's conversation; returns the comment id.
    async fn comment_pull(&self, who: &str, n: u64, body: &str) -> u64 {
        match self.kind {
            Kind::GitHub => self.comment(who, n, body).await,
            Kind::GitLab => self
                .sim
                .gl_comment(who, self.repo, n, true, body)
                .await
                .unwrap(),
        }
    }

    /// Commit one file onto `branch` (new branches start at main); returns the commit.
    async fn push(&self, who: &str, branch: &str, path: &str, content: &str) -> String {
        self.sim
            .commit_file(
                who,
                self.repo,
                branch,
                path,
                content,
                &format!("Add {path}"),
            )
            .await
            .unwrap()
    }

    /// `who` pushes `path` to a new branch and opens a pull request into main; returns
    /// its number and head.
    async fn open_pull(&self, who: &str, branch: &str, path: &str) -> (u64, String) {
        let sha = self.push(who, branch, path, "content\n").await;
        (self.open_pull_from(who, branch).await, sha)
    }

    /// Open a pull request from an existing branch into main.
    async fn open_pull_from(&self, who: &str, branch: &str) -> u64 {
        let title = format!("Merge {branch}");
        match self.kind {
            Kind::GitHub => self
                .sim
                .open_pull(who, self.repo, branch, "main", &title, "")
                .await
                .unwrap(),
            Kind::GitLab => self
                .sim
                .gl_open_mr(who, self.repo, branch, "main", &title, "")
                .await
                .unwrap(),
        }
    }

    async fn approve(&self, who: &str, n: u64) {
        match self.kind {
            Kind::GitHub => {
                self.sim.approve(who, self.repo, n).await.unwrap();
            }
            Kind::GitLab => self.sim.gl_approve(who, self.repo, n).await.unwrap(),
        }
    }

    async fn request_changes(&self, who: &str, n: u64, body: &str) {
        match self.kind {
            Kind::GitHub => {
                self.sim
                    .request_changes(who, self.repo, n, body)
                    .await
                    .unwrap();
            }
            Kind::GitLab => panic!("the GitLab simulator has no reviewer states yet"),
        }
    }

    async fn review_comment(&self, who: &str, n: u64, path: &str, line: u64, body: &str) {
        match self.kind {
            Kind::GitHub => {
                self.sim
                    .review_comment(who, self.repo, n, path, line, body)
                    .await
                    .unwrap();
            }
            Kind::GitLab => {
                self.sim
                    .gl_diff_note(who, self.repo, n, path, line, body)
                    .await
                    .unwrap();
            }
        }
    }

    /// React to a comment as a person does (a GitHub reaction, a GitLab award emoji).
    async fn react(&self, who: &str, at: &CommentRef, reaction: Reaction) {
        match self.kind {
            Kind::GitHub => {
                self.sim
                    .react(who, self.repo, at.id, at.on_diff, reaction.github())
                    .await
                    .unwrap();
            }
            Kind::GitLab => {
                self.sim
                    .gl_award(
                        who,
                        self.repo,
                        at.number,
                        at.on_pull_request,
                        at.id,
                        reaction.gitlab(),
                    )
                    .await
                    .unwrap();
            }
        }
    }

    async fn press_merge(&self, who: &str, n: u64) {
        match self.kind {
            Kind::GitHub => {
                self.sim
                    .merge_pr(who, self.repo, n, forge_sim::MergeMethod::Merge)
                    .await
                    .unwrap();
            }
            Kind::GitLab => {
                self.sim.gl_merge(who, self.repo, n, false).await.unwrap();
            }
        }
    }

    /// CI reports a commit status (`success`, `failure`, `pending`, `error`).
    async fn ci_status(&self, sha: &str, state: &str, context: &str) {
        match self.kind {
            Kind::GitHub => {
                self.sim
                    .set_status(MARA, self.repo, sha, state, context)
                    .await
                    .unwrap();
            }
            Kind::GitLab => {
                let state = match state {
                    "failure" | "error" => "failed",
                    s => s,
                };
                self.sim
                    .gl_set_status(MARA, self.repo, sha, state, context)
                    .await
                    .unwrap();
            }
        }
    }

    /// CI reports a check run (a GitHub check run; on GitLab, where an outside CI
    /// reports through commit statuses, a status of that name).
    async fn ci_check_run(&self, sha: &str, name: &str, conclusion: Option<&str>) {
        let url = format!("https://ci.example/{name}");
        match self.kind {
            Kind::GitHub => {
                let ci = self.sim.user(MARA).await.unwrap().id;
                let run = CheckRunInput {
                    name: Some(name.into()),
                    head_sha: Some(sha.into()),
                    status: Some(
                        if conclusion.is_some() {
                            "completed"
                        } else {
                            "in_progress"
                        }
                        .into(),
                    ),
                    conclusion: conclusion.map(str::to_owned),
                    details_url: Some(url),
                    ..Default::default()
                };
                self.sim
                    .sim()
                    .create_check_run(ci, self.repo, run)
                    .await
                    .unwrap();
            }
            Kind::GitLab => {
                let state = match conclusion {
                    None => "running",
                    Some("success") => "success",
                    Some(_) => "failed",
                };
                let input = forge_sim::ops::gitlab::GlStatusInput {
                    state: state.into(),
                    name: Some(name.into()),
                    target_url: Some(url),
                    ..Default::default()
                };
                self.sim
                    .sim()
                    .gl_create_status(self.gl_id(MARA), self.repo, sha, input)
                    .await
                    .unwrap();
            }
        }
    }

    /// Require `contexts` to pass before merging into `branch`. GitLab has no
    /// per-check protection: its one gate is "pipelines must succeed".
    async fn protect(&self, branch: &str, contexts: &[&str]) {
        match self.kind {
            Kind::GitHub => self
                .sim
                .protect_branch(self.repo, branch, contexts)
                .await
                .unwrap(),
            Kind::GitLab => self
                .sim
                .set_pipelines_must_succeed(self.repo, true)
                .unwrap(),
        }
    }

    // What the forge answers where forges differ.

    /// The checks the forge requires on a branch after `protect(branch, contexts)`, on
    /// that branch (`protected`) or another. GitLab's gate is the whole pipeline, for
    /// every branch of the project.
    fn required_for(&self, protected: bool, contexts: &[&str]) -> Vec<String> {
        match self.kind {
            Kind::GitHub if protected => contexts.iter().map(|c| (*c).to_owned()).collect(),
            Kind::GitHub => Vec::new(),
            Kind::GitLab => vec!["pipeline".to_owned()],
        }
    }

    /// Whether the issue API also reads pull requests (GitHub: one numbering, and a pull
    /// request is an issue; GitLab: MRs are apart, with iids of their own).
    fn pulls_are_issues(&self) -> bool {
        self.kind == Kind::GitHub
    }

    /// The longest commit status description the forge stores.
    fn status_description_max(&self) -> usize {
        match self.kind {
            Kind::GitHub => 140,
            Kind::GitLab => 255,
        }
    }

    /// The check a forge adds on its own, summing up the commit's others: GitLab's
    /// pipeline (statuses from outside CI run in an external pipeline).
    fn summary_check(&self) -> Option<&'static str> {
        match self.kind {
            Kind::GitHub => None,
            Kind::GitLab => Some("pipeline"),
        }
    }

    // What a person sees on the forge.

    /// Parents of the commit a merge by `method` leaves on the base branch.
    fn merge_parents(&self, method: MergeMethod) -> usize {
        match (self.kind, method) {
            (Kind::GitHub, MergeMethod::Merge) => 2,
            (Kind::GitHub, MergeMethod::Squash | MergeMethod::Rebase) => 1,
            // GitLab merges with the project's method, "Merge commit" by default: a
            // squash is a squash commit merged by a merge commit, and `Rebase` is a merge.
            (Kind::GitLab, _) => 2,
        }
    }

    async fn seen_issue(&self, n: u64) -> forge_sim::world::Issue {
        self.sim
            .issue(self.repo, self.number(n, false))
            .await
            .expect("on the forge")
    }

    /// Pull request `n` as the forge's issue record (title, body, state).
    async fn seen_pull_issue(&self, n: u64) -> forge_sim::world::Issue {
        self.sim
            .issue(self.repo, self.number(n, true))
            .await
            .expect("on the forge")
    }

    async fn seen_comments(&self, n: u64) -> Vec<forge_sim::world::Comment> {
        self.sim.comments(self.repo, self.number(n, false)).await
    }

    async fn seen_pull_comments(&self, n: u64) -> Vec<forge_sim::world::Comment> {
        self.sim.comments(self.repo, self.number(n, true)).await
    }

    /// The reactions on a comment as (login, the forge's name for it), oldest first.
    async fn seen_reactions(&self, comment: u64) -> Vec<(String, String)> {
        match self.kind {
            Kind::GitHub => self.sim.reactions(self.repo, comment).await,
            Kind::GitLab => self.sim.gl_awards(self.repo, comment).await,
        }
    }

    /// What the forge calls `reaction` (GitHub's reaction content, GitLab's emoji name),
    /// given by `who`.
    fn reaction_by(&self, who: &str, reaction: Reaction) -> (String, String) {
        let name = match self.kind {
            Kind::GitHub => reaction.github(),
            Kind::GitLab => reaction.gitlab(),
        };
        (who.to_owned(), name.to_owned())
    }

    async fn seen_labels(&self, n: u64) -> Vec<String> {
        self.sim.labels(self.repo, self.number(n, false)).await
    }

    async fn seen_pulls(&self) -> Vec<forge_sim::world::PullRequest> {
        self.sim.pull_requests(self.repo).await
    }

    async fn seen_statuses(&self, sha: &str) -> Vec<forge_sim::world::CommitStatus> {
        self.sim.statuses(self.repo, sha).await
    }

    async fn branch_sha(&self, branch: &str) -> Option<String> {
        self.sim.branch_sha(self.repo, branch).await.unwrap()
    }

    async fn read_file(&self, rev: &str, path: &str) -> Option<Vec<u8>> {
        self.sim.read_file(self.repo, rev, path).await.unwrap()
    }

    fn label_color(&self, name: &str) -> Option<String> {
        let world = self.sim.sim().world();
        world
            .repo(self.repo)
            .and_then(|r| r.label(name))
            .map(|l| l.color.clone())
    }
}

fn assert_about(wait: Duration, advertised: Duration) {
    // The forge advertises whole seconds and the policy adds a second of slack to a
    // reset time; a second may also tick between the answer and the client's clock.
    let (lo, hi) = (
        advertised.saturating_sub(Duration::from_secs(1)),
        advertised + Duration::from_secs(2),
    );
    assert!(
        wait >= lo && wait <= hi,
        "waited {wait:?}, the forge advertised {advertised:?}"
    );
}

// Issues.

async fn issue_read(c: Contract) {
    let n = c.open_issue(MARA, "Fix the flux", "It is broken").await;
    c.label(TESS, n, "bug").await;

    let issue = c.forge.issue(&c.path, n).await.unwrap();
    assert_eq!(issue.number, n);
    assert_eq!(issue.title, "Fix the flux");
    assert_eq!(issue.body, "It is broken");
    assert_eq!(issue.state, State::Open);
    assert_eq!(issue.labels, vec!["bug".to_owned()]);
    assert_eq!(issue.author, MARA);
    assert!(!issue.is_pull_request);
    assert!(
        issue.url.contains(c.repo) && issue.url.ends_with(&n.to_string()),
        "{}",
        issue.url
    );
}

async fn create_issue(c: Contract) {
    let new = NewIssue {
        title: "Patrol found a stuck bead".into(),
        body: "Details inside".into(),
        labels: vec!["gt:patrol".into()],
    };
    let issue = c.forge.create_issue(&c.path, &new).await.unwrap();
    assert_eq!(issue.title, new.title);
    assert_eq!(issue.author, BOT);
    assert_eq!(issue.state, State::Open);

    let seen = c.seen_issue(issue.number).await;
    assert_eq!(seen.title, "Patrol found a stuck bead");
    assert_eq!(seen.body.as_deref(), Some("Details inside"));
    assert_eq!(seen.labels, vec!["gt:patrol".to_owned()]);
    assert_eq!(seen.author, c.bot_id);
    assert_eq!(seen.state, IssueState::Open);
}

async fn set_issue_state(c: Contract) {
    let n = c.open_issue(MARA, "Done soon", "").await;
    c.forge
        .set_issue_state(&c.path, n, State::Closed)
        .await
        .unwrap();
    let seen = c.seen_issue(n).await;
    assert_eq!(seen.state, IssueState::Closed);
    assert_eq!(seen.closed_by, Some(c.bot_id));
    // Closing a closed issue is not an error.
    c.forge
        .set_issue_state(&c.path, n, State::Closed)
        .await
        .unwrap();

    c.forge
        .set_issue_state(&c.path, n, State::Open)
        .await
        .unwrap();
    assert_eq!(c.seen_issue(n).await.state, IssueState::Open);
    assert_eq!(c.forge.issue(&c.path, n).await.unwrap().state, State::Open);
}

async fn issues_with_label(c: Contract) {
    const LABEL: &str = "gt:sling";
    let mut expected = Vec::new();
    for i in 0..105 {
        let n = c.open_issue(MARA, &format!("Work item {i}"), "").await;
        c.label(TESS, n, LABEL).await;
        expected.push(n);
    }
    // Not wanted: a closed labelled issue, an unlabelled one, a labelled pull request.
    let closed = c.open_issue(MARA, "Already done", "").await;
    c.label(TESS, closed, LABEL).await;
    c.close(MARA, closed).await;
    c.open_issue(MARA, "Unlabelled", "").await;
    let (pr, _) = c.open_pull(MARA, "feature", "f.txt").await;
    c.label_pull(TESS, pr, LABEL).await;

    let found = c.forge.issues_with_label(&c.path, LABEL).await.unwrap();
    let mut numbers: Vec<u64> = found.iter().map(|i| i.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, expected, "every page, open issues only, no PRs");
    assert!(found.iter().all(|i| !i.is_pull_request
        && i.state == State::Open
        && i.labels.iter().any(|l| l == LABEL)));
}

// Comments.

async fn comments(c: Contract) {
    let n = c.open_issue(MARA, "A long conversation", "").await;
    let mut ids = Vec::new();
    for i in 0..120 {
        let who = if i % 2 == 0 { MARA } else { TESS };
        ids.push(c.comment(who, n, &format!("comment {i}")).await);
    }
    let got = c.forge.comments(&c.path, n, false).await.unwrap();
    assert_eq!(got.len(), 120, "every page");
    for (i, comment) in got.iter().enumerate() {
        assert_eq!(comment.body, format!("comment {i}"), "oldest first");
        assert_eq!(comment.at.id, ids[i]);
        assert_eq!(comment.at.number, n);
        assert!(!comment.at.on_pull_request);
        assert_eq!(comment.author, if i % 2 == 0 { MARA } else { TESS });
        assert!(comment.created_at > 0);
    }

    // A pull request's conversation is read the same way.
    let (pr, _) = c.open_pull(MARA, "feature", "f.txt").await;
    c.comment_pull(TESS, pr, "looks good").await;
    let on_pr = c.forge.comments(&c.path, pr, true).await.unwrap();
    assert_eq!(on_pr.len(), 1);
    assert_eq!(on_pr[0].body, "looks good");
    assert!(on_pr[0].at.on_pull_request);
}

async fn create_comment(c: Contract) {
    let n = c.open_issue(MARA, "Sling this", "").await;
    c.comment(MARA, n, "please").await;
    let made = c
        .forge
        .create_comment(&c.path, n, false, "bead `gt-1` is **queued**")
        .await
        .unwrap();
    assert_eq!(made.author, BOT);
    assert_eq!(made.body, "bead `gt-1` is **queued**");
    assert_eq!(made.at.number, n);

    let seen = c.seen_comments(n).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].id, made.at.id);
    assert_eq!(seen[1].author, c.bot_id);
    assert_eq!(seen[1].body, "bead `gt-1` is **queued**");

    // On a pull request's conversation too.
    let (pr, _) = c.open_pull(MARA, "feature", "f.txt").await;
    let on_pr = c
        .forge
        .create_comment(&c.path, pr, true, "merging when green")
        .await
        .unwrap();
    assert!(on_pr.at.on_pull_request);
    assert_eq!(c.seen_pull_comments(pr).await[0].body, "merging when green");
}

async fn edit_comment(c: Contract) {
    let n = c.open_issue(MARA, "Sling this", "").await;
    let status = c
        .forge
        .create_comment(&c.path, n, false, "bead is **queued**")
        .await
        .unwrap();
    c.comment(MARA, n, "thanks").await;

    let edited = c
        .forge
        .edit_comment(&c.path, &status.at, "bead is **done**")
        .await
        .unwrap();
    assert_eq!(edited.at, status.at);
    assert_eq!(edited.body, "bead is **done**");

    let seen = c.seen_comments(n).await;
    assert_eq!(seen.len(), 2, "edited in place, not added");
    assert_eq!(seen[0].id, status.at.id);
    assert_eq!(seen[0].body, "bead is **done**");
    assert_eq!(seen[1].body, "thanks");
}

// Reactions.

/// The bot acknowledges a command on a comment: 👀 when it takes it, swapped for its
/// answer's reaction when done. Adding one twice, or taking off one that is not there,
/// is no error, and what other people gave stays.
async fn acknowledge(c: &Contract, at: &CommentRef) {
    // Mara saw it too: her 👀 is hers, not the bot's.
    c.react(MARA, at, Reaction::Seen).await;
    let forge = &c.forge;
    forge
        .add_reaction(&c.path, at, Reaction::Seen)
        .await
        .unwrap();
    forge
        .add_reaction(&c.path, at, Reaction::Seen)
        .await
        .unwrap();
    assert_eq!(
        c.seen_reactions(at.id).await,
        vec![
            c.reaction_by(MARA, Reaction::Seen),
            c.reaction_by(BOT, Reaction::Seen)
        ],
        "one 👀 from the bot however often it is added"
    );

    forge
        .add_reaction(&c.path, at, Reaction::Done)
        .await
        .unwrap();
    forge
        .remove_reaction(&c.path, at, Reaction::Seen)
        .await
        .unwrap();
    forge
        .remove_reaction(&c.path, at, Reaction::Seen)
        .await
        .unwrap();
    // Never given: taking it off is not an error, and leaves nothing behind.
    forge
        .remove_reaction(&c.path, at, Reaction::Failed)
        .await
        .unwrap();
    assert_eq!(
        c.seen_reactions(at.id).await,
        vec![
            c.reaction_by(MARA, Reaction::Seen),
            c.reaction_by(BOT, Reaction::Done)
        ],
        "the bot's 👀 swapped for its answer; Mara's stays"
    );
}

async fn comment_reactions(c: Contract) {
    let n = c.open_issue(MARA, "React to me", "").await;
    c.comment(MARA, n, "/gt sling").await;
    let on_issue = c.forge.comments(&c.path, n, false).await.unwrap();
    assert!(!on_issue[0].at.on_diff);
    acknowledge(&c, &on_issue[0].at).await;

    // On a pull request's conversation.
    let (pr, _) = c.open_pull(MARA, "feature", "src/lib.rs").await;
    c.comment_pull(MARA, pr, "/gt merge").await;
    let on_pr = c.forge.comments(&c.path, pr, true).await.unwrap();
    acknowledge(&c, &on_pr[0].at).await;

    // On a line of its diff.
    c.review_comment(MARA, pr, "src/lib.rs", 1, "/gt retry")
        .await;
    let line = &c.forge.review_comments(&c.path, pr).await.unwrap()[0];
    let on_diff = CommentRef {
        number: pr,
        on_pull_request: true,
        id: line.id,
        on_diff: true,
    };
    acknowledge(&c, &on_diff).await;

    // A comment that is not there is.
    let gone = CommentRef {
        id: 999_999,
        ..on_issue[0].at.clone()
    };
    let err = c
        .forge
        .add_reaction(&c.path, &gone, Reaction::Seen)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ForgeError::NotFound {
                call: "add_reaction",
                ..
            }
        ),
        "{err:?}"
    );
}

// Labels.

async fn add_labels(c: Contract) {
    let n = c.open_issue(MARA, "Label me", "").await;
    c.create_label(TESS, "bug", "d73a4a").await;
    assert_eq!(c.label_color("gt:queued"), None);

    let specs = [
        LabelSpec {
            name: "bug".into(),
            color: "000000".into(),
            description: None,
        },
        LabelSpec {
            name: "gt:queued".into(),
            color: "1d76db".into(),
            description: Some("A bead is queued".into()),
        },
    ];
    c.forge.add_labels(&c.path, n, &specs).await.unwrap();

    assert_eq!(
        c.seen_labels(n).await,
        vec!["bug".to_owned(), "gt:queued".to_owned()]
    );
    assert_eq!(c.label_color("gt:queued").as_deref(), Some("1d76db"));
    assert_eq!(
        c.label_color("bug").as_deref(),
        Some("d73a4a"),
        "an existing label keeps its colour"
    );
    // Adding again changes nothing.
    c.forge.add_labels(&c.path, n, &specs).await.unwrap();
    assert_eq!(c.seen_labels(n).await.len(), 2);
}

async fn remove_label(c: Contract) {
    let n = c.open_issue(MARA, "Unlabel me", "").await;
    c.label(TESS, n, "gt:sling").await;
    c.label(TESS, n, "bug").await;

    c.forge.remove_label(&c.path, n, "gt:sling").await.unwrap();
    assert_eq!(c.seen_labels(n).await, vec!["bug".to_owned()]);

    // Not on the issue any more, and never in the repository: neither is an error.
    c.forge.remove_label(&c.path, n, "gt:sling").await.unwrap();
    c.forge
        .remove_label(&c.path, n, "never-existed")
        .await
        .unwrap();
    assert_eq!(c.seen_labels(n).await, vec!["bug".to_owned()]);
}

async fn delete_branch(c: Contract) {
    c.push(MARA, "gt/gt-k3x9-done", "done.md", "done\n").await;
    assert!(c.branch_sha("gt/gt-k3x9-done").await.is_some());
    c.forge
        .delete_branch(&c.path, "gt/gt-k3x9-done")
        .await
        .unwrap();
    assert_eq!(c.branch_sha("gt/gt-k3x9-done").await, None);
    // Gone already: not an error. The default branch: refused, and still there.
    c.forge
        .delete_branch(&c.path, "gt/gt-k3x9-done")
        .await
        .unwrap();
    let err = c.forge.delete_branch(&c.path, "main").await.unwrap_err();
    assert!(
        matches!(
            err,
            ForgeError::Rejected { .. } | ForgeError::Forbidden { .. }
        ),
        "{err:?}"
    );
    assert!(c.branch_sha("main").await.is_some());
}

async fn label_added_by(c: Contract) {
    let n = c.open_issue(MARA, "Who slung it?", "").await;
    let added_by = || async {
        c.forge
            .label_added_by(&c.path, n, "gt:sling")
            .await
            .unwrap()
    };
    assert_eq!(added_by().await, None);
    c.label(TESS, n, "gt:sling").await;
    assert_eq!(added_by().await.as_deref(), Some(TESS));
    // Tess takes it off, Mara puts it back, Tess adds another label.
    c.unlabel(TESS, n, "gt:sling").await;
    c.label(MARA, n, "gt:sling").await;
    c.label(TESS, n, "bug").await;
    assert_eq!(
        added_by().await.as_deref(),
        Some(MARA),
        "the last person who added it"
    );

    // A long history: the answer is on its last page.
    for _ in 0..60 {
        c.unlabel(TESS, n, "gt:sling").await;
        c.label(TESS, n, "gt:sling").await;
    }
    c.unlabel(TESS, n, "gt:sling").await;
    c.label(MARA, n, "gt:sling").await;
    assert_eq!(added_by().await.as_deref(), Some(MARA), "every page");
}

// Permissions.

async fn permission(c: Contract) {
    let levels = [
        ("nora", forge_sim::Permission::None, c.stranger_sees),
        ("rita", forge_sim::Permission::Read, Permission::Read),
        ("tom", forge_sim::Permission::Triage, Permission::Triage),
        ("wes", forge_sim::Permission::Write, Permission::Write),
        ("max", forge_sim::Permission::Maintain, Permission::Maintain),
        ("ada", forge_sim::Permission::Admin, Permission::Admin),
    ];
    for (login, granted, _) in levels {
        c.sim.add_user(login).await.unwrap();
        c.grant(login, granted).await;
    }
    for (login, granted, expected) in levels {
        let p = c.forge.permission(&c.path, login).await.unwrap();
        assert_eq!(p, expected, "{login} granted {granted:?}");
    }
    assert!(!c.stranger_sees.can_command());
    assert_eq!(
        c.forge
            .permission(&c.path, "nobody-by-that-name")
            .await
            .unwrap(),
        Permission::None
    );
}

// Pull requests.

async fn pull_request_lifecycle(c: Contract) {
    let head = c.push(MARA, "feature", "src/lib.rs", "fn x() {}\n").await;
    let new = NewPullRequest {
        title: "Add x".into(),
        body: "Closes nothing".into(),
        head: "feature".into(),
        base: "main".into(),
        draft: false,
    };
    let pr = c.forge.create_pull_request(&c.path, &new).await.unwrap();
    assert_eq!(pr.title, "Add x");
    assert_eq!(pr.body, "Closes nothing");
    assert_eq!(pr.state, State::Open);
    assert!(!pr.merged);
    assert_eq!(pr.head, "feature");
    assert_eq!(pr.head_sha, head);
    assert_eq!(pr.base, "main");
    assert_eq!(pr.author, BOT);

    let on_forge = c.seen_pulls().await;
    assert_eq!(on_forge.len(), 1);
    assert_eq!(on_forge[0].number, pr.number);
    assert_eq!(on_forge[0].head_ref, "feature");
    if c.pulls_are_issues() {
        // Read back as an issue, it says it is a pull request.
        assert!(
            c.forge
                .issue(&c.path, pr.number)
                .await
                .unwrap()
                .is_pull_request
        );
    } else {
        // Its number names no issue, so it is never read as a plain one.
        let err = c.forge.issue(&c.path, pr.number).await.unwrap_err();
        assert!(matches!(err, ForgeError::NotFound { .. }), "{err:?}");
    }

    let update = PullRequestUpdate {
        title: Some("Add x, properly".into()),
        body: Some("Now with tests".into()),
        state: None,
    };
    let updated = c
        .forge
        .update_pull_request(&c.path, pr.number, &update)
        .await
        .unwrap();
    assert_eq!(updated.title, "Add x, properly");
    let seen = c.seen_pull_issue(pr.number).await;
    assert_eq!(seen.title, "Add x, properly");
    assert_eq!(seen.body.as_deref(), Some("Now with tests"));
    assert_eq!(
        c.forge.pull_request(&c.path, pr.number).await.unwrap(),
        updated
    );

    let close = PullRequestUpdate {
        state: Some(State::Closed),
        ..Default::default()
    };
    let closed = c
        .forge
        .update_pull_request(&c.path, pr.number, &close)
        .await
        .unwrap();
    assert_eq!(closed.state, State::Closed);
    assert!(!closed.merged);
    assert_eq!(c.seen_pull_issue(pr.number).await.state, IssueState::Closed);
    assert!(
        c.forge
            .open_pull_requests(&c.path)
            .await
            .unwrap()
            .is_empty()
    );

    let reopen = PullRequestUpdate {
        state: Some(State::Open),
        ..Default::default()
    };
    let reopened = c
        .forge
        .update_pull_request(&c.path, pr.number, &reopen)
        .await
        .unwrap();
    assert_eq!(reopened.state, State::Open);
    assert_eq!(c.seen_pull_issue(pr.number).await.state, IssueState::Open);
    let open = c.forge.open_pull_requests(&c.path).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].number, pr.number);
}

async fn open_pull_requests(c: Contract) {
    let (a, _) = c.open_pull(MARA, "a", "a.txt").await;
    let (b, _) = c.open_pull(MARA, "b", "b.txt").await;
    let (closed, _) = c.open_pull(MARA, "c", "c.txt").await;
    let (merged, _) = c.open_pull(MARA, "d", "d.txt").await;
    let issue = c.open_issue(MARA, "Just an issue", "").await;
    c.close_pull(MARA, closed).await;
    c.press_merge(MARA, merged).await;

    let open = c.forge.open_pull_requests(&c.path).await.unwrap();
    let mut numbers: Vec<u64> = open.iter().map(|p| p.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![a, b]);
    if c.pulls_are_issues() {
        // One numbering for issues and pull requests (GitLab counts iids apart).
        assert!(!numbers.contains(&issue));
    }
    assert!(open.iter().all(|p| p.state == State::Open && !p.merged));
}

async fn reviews(c: Contract) {
    let (pr, head) = c.open_pull(MARA, "feature", "src/lib.rs").await;
    c.approve(TESS, pr).await;
    c.sim.add_user("wes").await.unwrap();
    c.grant("wes", forge_sim::Permission::Write).await;
    c.request_changes("wes", pr, "Needs a test").await;

    let got = c.forge.reviews(&c.path, pr).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].author, TESS);
    assert_eq!(got[0].state, ReviewState::Approved);
    assert_eq!(got[0].commit_sha.as_deref(), Some(head.as_str()));
    assert_eq!(got[1].author, "wes");
    assert_eq!(got[1].state, ReviewState::ChangesRequested);
    assert_eq!(got[1].body, "Needs a test");

    // Many rounds of review: every page, the latest last.
    for i in 0..100 {
        c.request_changes("wes", pr, &format!("Round {i}")).await;
    }
    c.approve("wes", pr).await;
    let got = c.forge.reviews(&c.path, pr).await.unwrap();
    assert_eq!(got.len(), 103);
    assert_eq!(got[102].author, "wes");
    assert_eq!(got[102].state, ReviewState::Approved);
}

async fn review_comments(c: Contract) {
    let (pr, _) = c.open_pull(MARA, "feature", "src/lib.rs").await;
    c.review_comment(TESS, pr, "src/lib.rs", 1, "Rename this")
        .await;
    let got = c.forge.review_comments(&c.path, pr).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].author, TESS);
    assert_eq!(got[0].body, "Rename this");
    assert_eq!(got[0].path.as_deref(), Some("src/lib.rs"));
    assert_eq!(got[0].line, Some(1));

    // A thorough review: every page, in order.
    for i in 2..=110 {
        c.review_comment(TESS, pr, "src/lib.rs", 1, &format!("nit {i}"))
            .await;
    }
    let got = c.forge.review_comments(&c.path, pr).await.unwrap();
    assert_eq!(got.len(), 110);
    assert_eq!(got[109].body, "nit 110");
}

// Merging.

async fn merge_each_method(c: Contract) {
    for method in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
        let file = format!("{method:?}.txt").to_lowercase();
        let (pr, head) = c.open_pull(MARA, &format!("by-{file}"), &file).await;
        let before = c.branch_sha("main").await;

        let outcome = c
            .forge
            .merge(&c.path, pr, method, Some(&head))
            .await
            .unwrap();
        let MergeOutcome::Merged { sha } = outcome else {
            panic!("{method:?}: {outcome:?}");
        };

        // The base branch really moved to the merge's commit, which holds the change.
        assert_eq!(c.branch_sha("main").await, Some(sha.clone()));
        assert_ne!(before, Some(sha.clone()));
        let commit = c.sim.commit(c.repo, &sha).await.unwrap().unwrap();
        assert_eq!(commit.parents.len(), c.merge_parents(method), "{method:?}");
        assert_eq!(
            c.read_file("main", &file).await,
            Some(b"content\n".to_vec())
        );
        let after = c.forge.pull_request(&c.path, pr).await.unwrap();
        assert!(after.merged, "{method:?}");
        assert_eq!(after.state, State::Closed);
    }
}

async fn merge_guard(c: Contract) {
    let (pr, checked) = c.open_pull(MARA, "feature", "f.txt").await;
    // Mara pushes again after the bot checked the head.
    c.push(MARA, "feature", "g.txt", "late\n").await;
    let main = c.branch_sha("main").await;

    let outcome = c
        .forge
        .merge(&c.path, pr, MergeMethod::Squash, Some(&checked))
        .await
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::NotMergeable { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        c.branch_sha("main").await,
        main,
        "the repository is unchanged"
    );
    let seen = c.forge.pull_request(&c.path, pr).await.unwrap();
    assert!(!seen.merged);
    assert_eq!(seen.state, State::Open);

    // Two pull requests change the same file; once one is in, the other conflicts.
    let (first, first_head) = c.open_pull(MARA, "first", "shared.txt").await;
    let second_head = c.push(MARA, "second", "shared.txt", "other\n").await;
    let second = c.open_pull_from(MARA, "second").await;
    let merged = c
        .forge
        .merge(&c.path, first, MergeMethod::Merge, Some(&first_head))
        .await
        .unwrap();
    assert!(matches!(merged, MergeOutcome::Merged { .. }), "{merged:?}");
    let main = c.branch_sha("main").await;
    let outcome = c
        .forge
        .merge(&c.path, second, MergeMethod::Merge, Some(&second_head))
        .await
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::NotMergeable { .. }),
        "{outcome:?}"
    );
    assert_eq!(c.branch_sha("main").await, main);
    // A merged pull request cannot be merged again.
    let again = c
        .forge
        .merge(&c.path, first, MergeMethod::Merge, None)
        .await
        .unwrap();
    assert!(
        matches!(again, MergeOutcome::NotMergeable { .. }),
        "{again:?}"
    );
}

// Statuses and checks.

async fn statuses_and_checks(c: Contract) {
    let (_, head) = c.open_pull(MARA, "feature", "f.txt").await;
    let mut status = CommitStatus {
        context: "gastown".into(),
        state: CheckState::Pending,
        // Longer than forges accept: the client shortens it.
        description: "x".repeat(300),
        target_url: Some("https://town.example/beads/gt-1".into()),
    };
    c.forge.set_status(&c.path, &head, &status).await.unwrap();
    status.state = CheckState::Success;
    status.description = "bead gt-1 done".into();
    c.forge.set_status(&c.path, &head, &status).await.unwrap();
    c.ci_status(&head, "failure", "ci/build").await;

    let seen = c.seen_statuses(&head).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].context, "gastown");
    assert_eq!(seen[0].state, "pending");
    let stored = seen[0].description.as_ref().unwrap().chars().count();
    assert!(stored <= c.status_description_max(), "{stored} characters");
    assert_eq!(seen[1].state, "success");
    assert_eq!(seen[1].description.as_deref(), Some("bead gt-1 done"));
    assert_eq!(seen[1].creator, c.bot_id);

    for git_ref in [head.as_str(), "feature"] {
        let mut checks = c.forge.checks(&c.path, git_ref).await.unwrap();
        if let Some(sum) = c.summary_check() {
            let total = checks.iter().find(|k| k.name == sum);
            assert_eq!(
                total.map(|k| k.state),
                Some(CheckState::Failure),
                "at {git_ref}: {sum} fails with ci/build"
            );
            checks.retain(|k| k.name != sum);
        }
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        let summary: Vec<(&str, CheckState)> =
            checks.iter().map(|k| (k.name.as_str(), k.state)).collect();
        assert_eq!(
            summary,
            vec![
                ("ci/build", CheckState::Failure),
                ("gastown", CheckState::Success)
            ],
            "at {git_ref}: the latest state per check"
        );
        let ours = checks.iter().find(|k| k.name == "gastown").unwrap();
        assert_eq!(ours.url.as_deref(), Some("https://town.example/beads/gt-1"));
    }
}

/// CI reports through check runs too: the bot sees the latest run of each check, over
/// every page.
async fn check_runs_in_checks(c: Contract) {
    let (_, head) = c.open_pull(MARA, "feature", "f.txt").await;
    // The test failed, was re-run and passed; lint is still running.
    c.ci_check_run(&head, "test", Some("failure")).await;
    c.ci_check_run(&head, "test", Some("success")).await;
    c.ci_check_run(&head, "lint", None).await;
    for i in 0..105 {
        c.ci_check_run(&head, &format!("matrix-{i:03}"), Some("success"))
            .await;
    }

    let mut checks = c.forge.checks(&c.path, &head).await.unwrap();
    if let Some(sum) = c.summary_check() {
        let total = checks.iter().find(|k| k.name == sum);
        assert_eq!(
            total.map(|k| k.state),
            Some(CheckState::Pending),
            "{sum} runs while lint does"
        );
        checks.retain(|k| k.name != sum);
    }
    assert_eq!(checks.len(), 107, "one per check, every page");
    let test: Vec<_> = checks.iter().filter(|k| k.name == "test").collect();
    assert_eq!(test.len(), 1, "{test:?}");
    assert_eq!(test[0].state, CheckState::Success, "the re-run's result");
    assert_eq!(test[0].url.as_deref(), Some("https://ci.example/test"));
    let lint = checks.iter().find(|k| k.name == "lint").unwrap();
    assert_eq!(lint.state, CheckState::Pending);
}

async fn required_checks(c: Contract) {
    let contexts = ["ci/build", "gastown"];
    c.protect("main", &contexts).await;
    let mut required = c.forge.required_checks(&c.path, "main").await.unwrap();
    required.sort();
    assert_eq!(required, c.required_for(true, &contexts));
    assert_eq!(
        c.forge.required_checks(&c.path, "develop").await.unwrap(),
        c.required_for(false, &contexts),
        "a branch not protected requires only what the forge enforces there"
    );

    // The forge holds a merge until the required checks pass: the bot's own check is
    // still pending when CI's passes.
    let (pr, head) = c.open_pull(MARA, "feature", "f.txt").await;
    let pending = CommitStatus {
        context: "gastown".into(),
        state: CheckState::Pending,
        description: "working".into(),
        target_url: None,
    };
    c.forge.set_status(&c.path, &head, &pending).await.unwrap();
    c.ci_status(&head, "success", "ci/build").await;
    let main = c.branch_sha("main").await;
    let held = c
        .forge
        .merge(&c.path, pr, MergeMethod::Merge, Some(&head))
        .await
        .unwrap();
    assert!(
        matches!(held, MergeOutcome::NotMergeable { .. }),
        "{held:?}"
    );
    assert_eq!(c.branch_sha("main").await, main);
    let ok = CommitStatus {
        context: "gastown".into(),
        state: CheckState::Success,
        description: "ok".into(),
        target_url: None,
    };
    c.forge.set_status(&c.path, &head, &ok).await.unwrap();
    let merged = c
        .forge
        .merge(&c.path, pr, MergeMethod::Merge, Some(&head))
        .await
        .unwrap();
    assert!(matches!(merged, MergeOutcome::Merged { .. }), "{merged:?}");
}

// Files.

async fn file_at_ref(c: Contract) {
    let config = "rig: hello\nformulas:\n  - patrol\n";
    c.push(MARA, "config", ".gastown.yaml", config).await;
    c.push(MARA, "config", "docs/a guide/intro.md", "# Hi\n")
        .await;

    let got = c
        .forge
        .file(&c.path, ".gastown.yaml", "config")
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(config.as_bytes()));
    let nested = c
        .forge
        .file(&c.path, "docs/a guide/intro.md", "config")
        .await
        .unwrap();
    assert_eq!(nested.as_deref(), Some(&b"# Hi\n"[..]));
    let readme = c.read_file("main", "README.md").await;
    assert!(readme.is_some());
    assert_eq!(
        c.forge.file(&c.path, "README.md", "main").await.unwrap(),
        readme
    );

    assert_eq!(
        c.forge
            .file(&c.path, ".gastown.yaml", "main")
            .await
            .unwrap(),
        None,
        "not on main"
    );
    assert_eq!(
        c.forge
            .file(&c.path, ".gastown.yaml", "no-such-branch")
            .await
            .unwrap(),
        None
    );
}

/// Files over 1 MB come without inline content on GitHub; the bytes are still returned.
async fn large_file_at_ref(c: Contract) {
    let big: String = (0..50_000)
        .map(|i| format!("line {i:05} of a big file\n"))
        .collect();
    assert!(big.len() > 1024 * 1024);
    c.push(MARA, "big", "data/a big file.txt", &big).await;
    let got = c
        .forge
        .file(&c.path, "data/a big file.txt", "big")
        .await
        .unwrap();
    assert_eq!(got.map(|b| b.len()), Some(big.len()));
}

// Git.

/// The bot's own git reaches the repository with what `git_remote` answers, the
/// credentials going to git only through its environment, and sees the default branch.
async fn git_remote_clones(c: Contract) {
    let remote = c.forge.git_remote(&c.path).await.unwrap();
    let password = remote.password.expose().to_owned();
    assert!(!format!("{remote:?}").contains(&password), "{remote:?}");
    assert!(!remote.url.contains(&password), "no credentials in the URL");
    let main = c.branch_sha("main").await.expect("main on the forge");

    let tmp = tempfile::tempdir().unwrap();
    let git = |args: &[&str], with_credentials: bool| {
        let mut cmd = tokio::process::Command::new("git");
        cmd.args(args)
            .current_dir(tmp.path())
            .env("HOME", tmp.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        if with_credentials {
            cmd.envs(remote.git_env());
        }
        cmd.output()
    };
    let anonymous = git(&["clone", "--quiet", &remote.url, "anon"], false)
        .await
        .unwrap();
    assert!(!anonymous.status.success(), "the forge wants credentials");

    let out = git(&["clone", "--quiet", &remote.url, "clone"], true)
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(&password));
    let head = git(&["-C", "clone", "rev-parse", "HEAD"], false)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), main);
    let branch = git(&["-C", "clone", "symbolic-ref", "--short", "HEAD"], false)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&branch.stdout).trim(), "main");
    let config = std::fs::read_to_string(tmp.path().join("clone/.git/config")).unwrap();
    assert!(!config.contains(&password), "nothing stored in the clone");
}

// Resilience.

async fn server_error_is_retried(c: Contract) {
    let n = c.open_issue(MARA, "Flaky forge", "").await;
    let issue_path = c.issue_api_path(n);
    c.sim.fail_next(2, 502, Some(&issue_path));
    let issue = c.forge.issue(&c.path, n).await.unwrap();
    assert_eq!(issue.title, "Flaky forge");
    let waits = c.waits();
    assert_eq!(waits.len(), 2, "backed off before each retry: {waits:?}");
    assert!(
        waits
            .iter()
            .all(|w| *w <= RetrySettings::default().max_delay)
    );

    // A create is retried only when the failure proves nothing happened (a 503)...
    let comments_path = c.comments_api_path(n);
    c.sim.fail_next(1, 503, Some(&comments_path));
    c.forge
        .create_comment(&c.path, n, false, "once")
        .await
        .unwrap();
    assert_eq!(c.seen_comments(n).await.len(), 1);
    // ...and a 502 on a create fails the call rather than risk a duplicate.
    c.sim.fail_next(1, 502, Some(&comments_path));
    let err = c
        .forge
        .create_comment(&c.path, n, false, "maybe")
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Unavailable { .. }), "{err}");
    assert_eq!(c.seen_comments(n).await.len(), 1);

    // A forge that stays down: the call gives up, naming itself.
    c.sim.fail_next(50, 500, Some(&issue_path));
    let before = c.waits().len();
    let err = c.forge.issue(&c.path, n).await.unwrap_err();
    assert!(
        matches!(&err, ForgeError::Unavailable { call: "issue", repo, attempts: 5, .. } if repo == c.repo),
        "{err:?}"
    );
    assert_eq!(c.waits().len() - before, 4, "a backoff between attempts");
    c.sim.clear_faults();
}

async fn primary_rate_limit_is_waited_out(c: Contract) {
    let n = c.open_issue(MARA, "Busy forge", "").await;
    let reset_in = Duration::from_secs(90);
    c.sim.rate_limit_next(1, reset_in);
    let issue = c.forge.issue(&c.path, n).await.unwrap();
    assert_eq!(issue.number, n);
    let waits = c.waits();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_about(waits[0], reset_in);

    // A limit that resets in an hour is beyond the call's waiting budget: it fails now
    // and the worker's own retry schedule takes over.
    c.sim.rate_limit_next(1, Duration::from_secs(3600));
    let err = c.forge.issue(&c.path, n).await.unwrap_err();
    assert!(matches!(err, ForgeError::Unavailable { .. }), "{err:?}");
    assert_eq!(c.waits().len(), 1, "no hour-long sleep");
}

async fn secondary_rate_limit_is_waited_out(c: Contract) {
    let n = c.open_issue(MARA, "Busy forge", "").await;
    c.sim.secondary_limit_next(1, 403, Duration::from_secs(30));
    c.forge
        .create_comment(&c.path, n, false, "after a pause")
        .await
        .unwrap();
    c.sim.secondary_limit_next(1, 429, Duration::from_secs(45));
    c.forge.issue(&c.path, n).await.unwrap();

    let waits = c.waits();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert_about(waits[0], Duration::from_secs(30));
    assert_about(waits[1], Duration::from_secs(45));
    assert_eq!(c.seen_comments(n).await.len(), 1, "posted once");
}

async fn not_found_names_call_and_repo(c: Contract) {
    let err = c.forge.issue(&c.path, 9999).await.unwrap_err();
    match &err {
        ForgeError::NotFound { call, repo } => {
            assert_eq!(*call, "issue");
            assert_eq!(repo, c.repo);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("issue") && text.contains(c.repo), "{text}");

    let missing = RepoPath::new("octo/no-such-repo");
    let err = c.forge.pull_request(&missing, 1).await.unwrap_err();
    assert!(
        matches!(&err, ForgeError::NotFound { call: "pull_request", repo } if repo == "octo/no-such-repo"),
        "{err:?}"
    );
    // An issue is not a pull request.
    let issue = c.open_issue(MARA, "Only an issue", "").await;
    let err = c.forge.pull_request(&c.path, issue).await.unwrap_err();
    assert!(
        matches!(
            err,
            ForgeError::NotFound {
                call: "pull_request",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(c.waits().is_empty(), "a 404 is not retried");
}

async fn bad_credentials_are_forbidden(c: Contract) {
    let stale = c.client_with_token("ghp_revoked_long_ago").await;
    let err = stale.issue(&c.path, 1).await.unwrap_err();
    assert!(
        matches!(&err, ForgeError::Forbidden { call: "issue", repo, status: 401 } if repo == c.repo),
        "{err:?}"
    );
}

/// One `#[tokio::test]` per clause for a forge: `contract_tests!(github)` makes
/// `github::issue_read`, `github::create_issue`, ... each on a fresh simulator.
macro_rules! contract_tests {
    ($forge:ident) => {
        contract_tests!(@ $forge:
            issue_read, create_issue, set_issue_state, issues_with_label,
            comments, create_comment, edit_comment, comment_reactions,
            add_labels, remove_label, delete_branch, label_added_by, permission,
            pull_request_lifecycle, open_pull_requests, reviews, review_comments,
            merge_each_method, merge_guard, statuses_and_checks, check_runs_in_checks,
            required_checks,
            file_at_ref, large_file_at_ref, git_remote_clones,
            server_error_is_retried, primary_rate_limit_is_waited_out,
            secondary_rate_limit_is_waited_out, not_found_names_call_and_repo,
            bad_credentials_are_forbidden,
        );
    };
    (@ $forge:ident: $($clause:ident),* $(,)?) => {
        mod $forge {
            $(
                known_gap!($forge, $clause,
                    #[tokio::test]
                    async fn $clause() {
                        super::$clause(super::Contract::$forge().await).await;
                    }
                );
            )*
        }
    };
}

/// A clause a forge cannot keep yet: its test is generated `#[ignore]`d with the reason.
macro_rules! known_gap {
    (gitlab, reviews, $test:item) => {
        #[ignore = "GitLab has no review history: the simulator has no reviewer states \
                    (\"Request changes\"), GitLab keeps one state per reviewer instead of \
                    a review per round, and a reporter (triage) cannot approve"]
        $test
    };
    ($forge:ident, $clause:ident, $test:item) => {
        $test
    };
}

contract_tests!(github);
contract_tests!(gitlab);
