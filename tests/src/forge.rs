//! The simulated forges the stories start from.

use forge_sim::{ForgeSim, Permission, SimHandle, SimOptions, UserHandle};

/// A simulated GitHub with `repo` (one commit on `main`), the bot's account (admin)
/// and mara, a maintainer with write access. Returns the bot's account.
pub async fn github_with_repo(repo: &str) -> (SimHandle, UserHandle) {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator");
    let bot = sim.add_user("gastown-bot").await.unwrap();
    sim.add_user("mara").await.unwrap();
    set_up_github_repo(&sim, repo, "# hello\n").await;
    (sim, bot)
}

/// One more repository in the same simulated GitHub, set up like the first: a second
/// rig for the same town.
pub async fn add_github_repo(sim: &SimHandle, repo: &str) {
    set_up_github_repo(sim, repo, "# other\n").await;
}

/// `repo` with the bot as admin, mara with write access, and a first commit on `main`.
async fn set_up_github_repo(sim: &SimHandle, repo: &str, readme: &str) {
    sim.create_repo(repo, "main").await.unwrap();
    sim.grant(repo, "gastown-bot", Permission::Admin)
        .await
        .unwrap();
    sim.grant(repo, "mara", Permission::Write).await.unwrap();
    sim.commit_file("mara", repo, "main", "README.md", readme, "Initial commit")
        .await
        .unwrap();
}

/// A simulated GitLab with the nested project `path` (one commit on `main`), the bot's
/// account (maintainer) and devi, a developer. Returns the bot's account.
pub async fn gitlab_with_project(path: &str) -> (SimHandle, UserHandle) {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator");
    sim.create_gitlab_project(path, "main").await.unwrap();
    let bot = sim.add_user("gastown-bot").await.unwrap();
    sim.add_member(path, "gastown-bot", 40).unwrap();
    sim.add_user("devi").await.unwrap();
    sim.add_member(path, "devi", 40).unwrap();
    sim.commit_file(
        "devi",
        path,
        "main",
        "README.md",
        "# hello\n",
        "Initial commit",
    )
    .await
    .unwrap();
    (sim, bot)
}

/// github.com as the fixtures' deliveries name it, simulated: each of `repos` exists
/// with the bot's account as admin and each of `writers` with write access. Give it to
/// a town with [`crate::TestTownBuilder::github_com`]: the bot then checks every
/// labeller's access there, as it must before anything slings.
pub async fn github_com(repos: &[&str], writers: &[&str]) -> (SimHandle, UserHandle) {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator");
    let bot = sim.add_user("gastown-bot").await.unwrap();
    for user in writers {
        sim.add_user(user).await.unwrap();
    }
    for repo in repos {
        sim.create_repo(repo, "main").await.unwrap();
        sim.grant(repo, "gastown-bot", Permission::Admin)
            .await
            .unwrap();
        for user in writers {
            sim.grant(repo, user, Permission::Write).await.unwrap();
        }
    }
    (sim, bot)
}
