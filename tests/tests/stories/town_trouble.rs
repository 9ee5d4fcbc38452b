//! A town that cannot start (Docker down, no image) says so on each queued issue, in
//! words a maintainer can act on, instead of "waiting for a free polecat"; once the
//! town starts, the issue moves on as usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bot::store::BeadStatus;
use gastown_tests::TestTown;
use gastown_tests::story::{hook_github, sling, status_comment};
use runner::{
    AgentId, AgentSpec, AgentState, CheckResult, Runner, RunnerError, TownId, TownSpec, TownStatus,
};

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(20);

/// A runner whose town cannot be set up while `broken` holds; after that it accepts
/// every agent and reports none, so a started bead stays hooked.
#[derive(Default)]
struct FlakyTown {
    broken: AtomicBool,
}

#[async_trait::async_trait]
impl Runner for FlakyTown {
    fn kind(&self) -> &'static str {
        "docker"
    }
    async fn ensure_town(&self, _: &TownSpec) -> Result<TownStatus, RunnerError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(RunnerError::Image {
                step: "pull gastown-town:missing".into(),
                detail: "/var/lib/docker/image/overlay2: token ghp_secret denied".into(),
            });
        }
        Ok(TownStatus {
            container_id: None,
            reused: false,
        })
    }
    async fn start_agent(&self, _: &AgentSpec) -> Result<(), RunnerError> {
        Ok(())
    }
    async fn stop_agent(&self, _: &TownId, _: &AgentId) -> Result<(), RunnerError> {
        Ok(())
    }
    async fn agents(&self, _: &TownId) -> Result<Vec<AgentState>, RunnerError> {
        Ok(Vec::new())
    }
    async fn output(
        &self,
        _: &TownId,
        _: &AgentId,
        from: u64,
    ) -> Result<(Vec<u8>, u64), RunnerError> {
        Ok((Vec::new(), from))
    }
    async fn output_tail(&self, _: &TownId, _: &AgentId, _: usize) -> Result<Vec<u8>, RunnerError> {
        Ok(Vec::new())
    }
    async fn checks(&self, _: &TownId, _: &AgentId) -> Result<Vec<CheckResult>, RunnerError> {
        Ok(Vec::new())
    }
    async fn forget_agent(&self, _: &TownId, _: &AgentId) -> Result<(), RunnerError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_town_that_cannot_start_says_why_on_the_issue_until_it_starts() {
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    let runner = Arc::new(FlakyTown::default());
    runner.broken.store(true, Ordering::SeqCst);
    let town = TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .docker_runner(runner.clone(), "gastown-town:missing")
        .start()
        .await;
    hook_github(&sim, REPO, &town).await;
    let n = sling(&sim, REPO, "Fix the flux", "It is broken").await;
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    town.settle().await;
    assert!(
        status_comment(&sim, REPO, n)
            .await
            .contains("waiting for a free polecat")
    );

    // The round cannot start the town: the issue says why, not that it waits its turn.
    assert_eq!(town.polecats().await, 0);
    town.act().await;
    let comment = status_comment(&sim, REPO, n).await;
    assert!(
        comment.contains("is **queued**: the town could not start: the town image is missing"),
        "{comment}"
    );
    assert!(comment.contains("`GT_RUNNER_IMAGE`"), "{comment}");
    assert!(!comment.contains("waiting for a free polecat"), "{comment}");
    assert!(!comment.contains("/var/lib"), "no host paths: {comment}");
    assert!(!comment.contains("ghp_"), "no secrets: {comment}");

    // Another round says nothing new.
    town.polecats().await;
    assert_eq!(town.act().await, 0, "the same reason is shown once");

    // The town can start now; the dispatcher tries again once its wait is over, and
    // the bead is hooked and the issue says so.
    runner.broken.store(false, Ordering::SeqCst);
    assert_eq!(town.polecats().await, 0, "not before the retry interval");
    town.clock
        .advance(bot::loops::sessions::TOWN_RETRY.as_millis() as i64);
    assert_eq!(town.polecats().await, 1);
    town.act().await;
    let comment = status_comment(&sim, REPO, n).await;
    assert!(comment.contains("is **hooked**"), "{comment}");
    assert!(!comment.contains("could not start"), "{comment}");
    let beads = town.beads().await;
    let task = beads
        .iter()
        .find(|b| b.bead_type == bot::store::BeadType::Task)
        .expect("the task");
    assert_eq!(task.status, BeadStatus::Hooked);
    assert!(task.metadata.get("town_error").is_none(), "{beads:#?}");
}
