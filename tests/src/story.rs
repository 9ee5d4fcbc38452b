//! The common ground of the refinery stories: a simulated forge holding one repository
//! (with its `.gastown.yaml` when the story needs one), a town of local processes
//! listening to it, and what a person looks at on the forge.

use bot::store::{Bead, BeadStatus, BeadType};
use forge_sim::SimHandle;

use crate::TestTown;
use crate::town::{GITHUB_SECRET, GITLAB_TOKEN};

/// Simulated GitHub with `repo` (and `.gastown.yaml` on main, if given), and a town on
/// local processes whose webhooks it receives. `env` adds `GT_*` settings.
pub async fn github_town(
    repo: &str,
    gastown_yaml: Option<&str>,
    env: &[(&str, &str)],
) -> (SimHandle, TestTown) {
    let (sim, bot) = crate::forge::github_with_repo(repo).await;
    if let Some(yaml) = gastown_yaml {
        configure(&sim, "mara", repo, yaml).await;
    }
    let mut builder = TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .local_runner();
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    let town = builder.start().await;
    hook_github(&sim, repo, &town).await;
    (sim, town)
}

/// The same on a simulated GitLab with the nested project `project`.
pub async fn gitlab_town(project: &str, gastown_yaml: Option<&str>) -> (SimHandle, TestTown) {
    gitlab_town_with(project, gastown_yaml, &[]).await
}

/// [`gitlab_town`] with `GT_*` settings.
pub async fn gitlab_town_with(
    project: &str,
    gastown_yaml: Option<&str>,
    env: &[(&str, &str)],
) -> (SimHandle, TestTown) {
    let (sim, bot) = crate::forge::gitlab_with_project(project).await;
    if let Some(yaml) = gastown_yaml {
        configure(&sim, "devi", project, yaml).await;
    }
    let mut builder = TestTown::builder()
        .gitlab_forge(&sim.gitlab_api_url(), &sim.addr().to_string(), &bot.token)
        .local_runner();
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    let town = builder.start().await;
    sim.set_gitlab_hook(project, &town.url("/webhooks/gitlab"), GITLAB_TOKEN)
        .unwrap();
    (sim, town)
}

/// Commit `.gastown.yaml` to main, as a maintainer would.
pub async fn configure(sim: &SimHandle, who: &str, repo: &str, yaml: &str) {
    sim.commit_file(
        who,
        repo,
        "main",
        ".gastown.yaml",
        yaml,
        "Configure gastown",
    )
    .await
    .unwrap();
}

/// Point `repo`'s webhook at `town` (again, after a restart moved it).
pub async fn hook_github(sim: &SimHandle, repo: &str, town: &TestTown) {
    sim.set_hook(repo, &town.url("/webhooks/github"), GITHUB_SECRET)
        .await
        .unwrap();
}

/// mara opens an issue on `repo` and labels it `gt:sling`.
pub async fn sling(sim: &SimHandle, repo: &str, title: &str, body: &str) -> u64 {
    let n = sim.open_issue("mara", repo, title, body).await.unwrap();
    sim.add_label("mara", repo, n, "gt:sling").await.unwrap();
    n
}

/// devi opens an issue on the GitLab `project` and labels it `gt:sling`.
pub async fn gitlab_sling(sim: &SimHandle, project: &str, title: &str, body: &str) -> u64 {
    let iid = sim
        .gl_open_issue("devi", project, title, body)
        .await
        .unwrap();
    sim.gl_add_label("devi", project, iid, "gt:sling")
        .await
        .unwrap();
    iid
}

/// Sync point: what the forge has sent so far has arrived, been worked, and the bot's
/// answers are on the forge.
pub async fn settled(sim: &SimHandle, town: &TestTown) {
    sim.wait_for_all_deliveries(std::time::Duration::from_secs(30))
        .await
        .expect("the forge's deliveries to finish");
    town.settle().await;
}

/// The bot's status comment on issue `n`.
pub async fn status_comment(sim: &SimHandle, repo: &str, n: u64) -> String {
    sim.comments(repo, n)
        .await
        .into_iter()
        .find(|c| c.body.contains("<!-- gastown:status"))
        .expect("a status comment")
        .body
}

/// What the bot put on a comment: GitHub reactions' contents or GitLab award emoji
/// names (the simulator keeps both as reactions on the comment), by the bot's account.
pub async fn bots_reactions(sim: &SimHandle, repo: &str, comment: u64) -> Vec<String> {
    sim.reactions(repo, comment)
        .await
        .into_iter()
        .filter(|(who, _)| who == "gastown-bot")
        .map(|(_, what)| what)
        .collect()
}

/// How many merge requests wait in review on their PR.
pub fn in_review(beads: &[Bead]) -> usize {
    beads
        .iter()
        .filter(|m| m.bead_type == BeadType::MergeRequest && m.status == BeadStatus::Review)
        .count()
}
