//! The core loop in a real town container: the polecat runs inside Docker, reaches
//! the bot over loopback, and the container never holds a forge credential. A bot
//! restart re-attaches to the running container instead of starting a second one.

use std::sync::Arc;
use std::time::Duration;

use bot::store::{BeadStatus, BeadType};
use forge_sim::{SimHandle, UserHandle};
use gastown_tests::TestTown;
use gastown_tests::docker::{RemoveTown, docker};
use gastown_tests::town::GITHUB_SECRET;
use runner::{DockerRunner, TownId};

const REPO: &str = "octo/hello";
const WAIT: Duration = Duration::from_secs(120);

async fn town_image() -> String {
    let mut quiet = |_: &str| {};
    runner::image::build_town_image(&runner::image::ImageOptions::default(), &mut quiet)
        .await
        .expect("town image")
}

async fn world(
    docker: Arc<DockerRunner>,
    town_name: &str,
    env: &[(&str, &str)],
) -> (SimHandle, UserHandle, TestTown) {
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    let image = town_image().await;
    let mut builder = TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .env("GT_TOWN", town_name)
        .docker_runner(docker, &image);
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    let town = builder.start().await;
    sim.set_hook(REPO, &town.url("/webhooks/github"), GITHUB_SECRET)
        .await
        .unwrap();
    (sim, bot, town)
}

fn containers_of(town: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=gastown.town={town}"),
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Every file under `dir`, read as bytes (the town's bind-mounted root).
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test]
async fn a_polecat_in_the_town_container_lands_its_branch_without_forge_credentials() {
    let Some(docker) = docker().await else { return };
    let town_name = format!("t{}", std::process::id());
    let _cleanup = RemoveTown(docker.clone(), TownId(town_name.clone()));
    let (sim, bot, town) = world(docker, &town_name, &[]).await;
    let body = "Add a note.\n\n```gastown-plan\nfiles:\n  - path: NOTE.md\n    content: |\n      made in a container\ncommands:\n  - grep -q container NOTE.md\ncommit: Add a note\n```\n";
    let n = sim
        .open_issue("mara", REPO, "Add a note", body)
        .await
        .unwrap();
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();

    let beads = town
        .run_until(WAIT, "the bead to reach review", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::Review)
        })
        .await;
    let task = beads
        .iter()
        .find(|b| b.bead_type == BeadType::Task)
        .unwrap();
    let file = sim
        .read_file(REPO, task.branch.as_deref().unwrap(), "NOTE.md")
        .await
        .unwrap()
        .expect("the file is on the forge");
    assert_eq!(String::from_utf8(file).unwrap(), "made in a container\n");

    // One container, and the forge token is nowhere in it: not in its environment,
    // not in any file of the town.
    let ids = containers_of(&town_name);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let inspect = std::process::Command::new("docker")
        .args(["inspect", &ids[0]])
        .output()
        .unwrap();
    let inspect = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        !inspect.contains(&bot.token),
        "the container config holds the forge token"
    );
    let root = town
        .app
        .sessions
        .as_ref()
        .unwrap()
        .town_spec(&town_name)
        .root;
    assert_eq!(files_containing(&root, &bot.token), Vec::<String>::new());
}

#[tokio::test]
async fn a_restarted_bot_reattaches_to_the_town_and_never_starts_a_second_polecat() {
    let Some(docker) = docker().await else { return };
    let town_name = format!("r{}", std::process::id());
    let _cleanup = RemoveTown(docker.clone(), TownId(town_name.clone()));
    // An agent that primes and then works for a long time.
    let slow = r#"{"slow":{"command":["sh","-c","gt agent prime >/dev/null && exec sleep 600"]}}"#;
    let env = [("GT_RUNTIMES", slow), ("GT_POLECATS_RUNTIME", "slow")];
    let (sim, _bot, town) = world(docker, &town_name, &env).await;
    let n = sim
        .open_issue("mara", REPO, "Long work", "takes a while")
        .await
        .unwrap();
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    town.run_until(WAIT, "the polecat to be working", |b| {
        b.iter().any(|t| t.status == BeadStatus::InProgress)
    })
    .await;
    let before = containers_of(&town_name);
    assert_eq!(before.len(), 1);

    // The bot dies and comes back as a new process would: a new runner instance.
    let town = town
        .restart_with_runner(Arc::new(DockerRunner::connect().await.unwrap()))
        .await;
    for _ in 0..3 {
        town.drain().await;
        town.polecats().await;
    }
    assert_eq!(
        containers_of(&town_name),
        before,
        "the same container, re-attached"
    );
    let sessions = town
        .app
        .store
        .read(bot::store::live_sessions)
        .await
        .unwrap();
    assert_eq!(
        sessions.len(),
        1,
        "still one polecat on the bead: {sessions:#?}"
    );
    let agents = town
        .app
        .sessions
        .as_ref()
        .unwrap()
        .runner()
        .agents(&TownId(town_name.clone()))
        .await
        .unwrap();
    let running: Vec<_> = agents
        .iter()
        .filter(|a| a.status == runner::AgentStatus::Running)
        .collect();
    assert_eq!(running.len(), 1, "{agents:#?}");
    assert_eq!(running[0].agent.0, sessions[0].id);
}

/// Without its image the town cannot start: the bead waits, queued, instead of being
/// hooked and failed, and the runner's error tells the operator what to run.
#[tokio::test]
async fn without_the_town_image_beads_wait_and_the_error_says_how_to_build_it() {
    let Some(docker) = docker().await else { return };
    let town_name = format!("m{}", std::process::id());
    let _cleanup = RemoveTown(docker.clone(), TownId(town_name.clone()));
    let (sim, bot) = gastown_tests::forge::github_with_repo(REPO).await;
    let town = gastown_tests::TestTown::builder()
        .github_forge(&sim.github_api_url(), &sim.addr().to_string(), &bot.token)
        .env("GT_TOWN", &town_name)
        .docker_runner(docker.clone(), "gastown-town:no-such-image")
        .start()
        .await;
    sim.set_hook(REPO, &town.url("/webhooks/github"), GITHUB_SECRET)
        .await
        .unwrap();
    let n = sim
        .open_issue("mara", REPO, "Wait", "for the image")
        .await
        .unwrap();
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    for _ in 0..3 {
        town.drain().await;
        town.polecats().await;
    }
    let beads = town.tasks().await;
    assert_eq!(beads.len(), 1);
    assert_eq!(beads[0].status, BeadStatus::Open, "{beads:#?}");
    assert_eq!(
        beads[0].attempts, 0,
        "no attempt is spent on a town that cannot start"
    );

    let spec = town.app.sessions.as_ref().unwrap().town_spec(&town_name);
    let err = runner::Runner::ensure_town(&*docker, &spec)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gt town-image build"), "{err}");
}

/// The town container is killed while its polecat works, after it pushed a commit:
/// the lost agent costs one attempt, the town is recreated, and the retry starts from
/// the pushed branch, so the work lands with nothing of it lost.
#[tokio::test]
async fn a_killed_town_container_is_recreated_and_the_retry_keeps_the_pushed_work() {
    let Some(docker) = docker().await else { return };
    let town_name = format!("k{}", std::process::id());
    let _cleanup = RemoveTown(docker.clone(), TownId(town_name.clone()));
    let (sim, _bot, town) = world(docker, &town_name, &[("GT_PATROL_BACKOFF_SECS", "[0]")]).await;
    let body = "Slow work.\n\n```gastown-plan\nfiles:\n  - path: NOTE.md\n    content: |\n      done\ncommands:\n  - \"test -f wip.md || { echo wip > wip.md && git add wip.md && git -c user.name=p -c user.email=p@example.com commit -qm 'Work in progress' && git push -q origin HEAD:$GT_BRANCH && sleep 600; }\"\ncommit: Finish\n```\n";
    let n = sim.open_issue("mara", REPO, "Slow", body).await.unwrap();
    sim.add_label("mara", REPO, n, "gt:sling").await.unwrap();
    let beads = town
        .run_until(WAIT, "the work in progress to be pushed", |b| {
            b.iter()
                .any(|t| t.bead_type == BeadType::Task && t.status == BeadStatus::InProgress)
        })
        .await;
    let task = beads
        .iter()
        .find(|b| b.bead_type == BeadType::Task)
        .unwrap()
        .clone();
    let branch = task.branch.clone().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while sim
        .read_file(REPO, &branch, "wip.md")
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "wip.md was never pushed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = containers_of(&town_name);
    assert_eq!(before.len(), 1);
    gastown_tests::docker::cli(&["kill", &before[0]]);

    let beads = town
        .run_until(WAIT, "the retry to reach review", |b| {
            b.iter()
                .any(|t| t.id == task.id && t.status == BeadStatus::Review)
        })
        .await;
    let done = beads.iter().find(|b| b.id == task.id).unwrap();
    assert_eq!(done.attempts, 2, "the lost agent cost one attempt");
    for file in ["wip.md", "NOTE.md"] {
        assert!(
            sim.read_file(REPO, &branch, file).await.unwrap().is_some(),
            "{file} on {branch}"
        );
    }
    assert_eq!(
        containers_of(&town_name).len(),
        1,
        "one town container again"
    );
}
