//! The local backend, told as the bot experiences it: real processes, a real git
//! server, a bot that restarts.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TOKEN, agent, env, files_containing, git, log, make_remote, serve_git, wait_exit};
use runner::{
    AgentSpec, AgentStatus, Limits, LocalRunner, Runner, RunnerError, TownId, TownSpec, Workspace,
};

fn town_spec(root: &Path, id: &str) -> TownSpec {
    TownSpec {
        id: TownId::new(id).unwrap(),
        root: root.to_path_buf(),
        image: String::new(),
        gt_binary: root.join("bin/gt"),
        limits: Limits::default(),
    }
}

fn spec(town: &TownSpec, id: &str, command: &[&str]) -> AgentSpec {
    AgentSpec {
        town: town.id.clone(),
        agent: agent(id),
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        env: env(&[]),
        workspace: None,
        env_files: Vec::new(),
        checks: Vec::new(),
    }
}

#[tokio::test]
async fn an_agent_sees_only_the_env_it_was_given_and_its_exit_code_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let town = town_spec(&dir.path().join("town"), "env-town");
    let runner = LocalRunner::new();
    assert!(!runner.ensure_town(&town).await.unwrap().reused);

    let mut printenv = spec(
        &town,
        "polecat-env",
        &["sh", "-c", "env; echo to-stderr >&2; exit 3"],
    );
    printenv.env = env(&[("FOO", "bar baz"), ("GT_TOKEN", TOKEN)]);
    runner.start_agent(&printenv).await.unwrap();

    let state = wait_exit(&runner, &town.id, &printenv.agent, Duration::from_secs(10)).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 3 });

    let out = log(&runner, &town.id, &printenv.agent).await;
    assert!(out.contains("FOO=bar baz"), "{out}");
    assert!(
        out.contains("to-stderr"),
        "stderr is in the combined log: {out}"
    );
    let names: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let allowed: BTreeSet<&str> = [
        "FOO",
        "GT_TOKEN",
        "PATH",
        "HOME",
        "GT_TOWN_ROOT",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
    ]
    .into();
    assert!(
        names.is_subset(&allowed),
        "leaked variables: {:?}",
        names.difference(&allowed)
    );
    let run_dir = std::fs::canonicalize(&town.root)
        .unwrap()
        .join("run/polecat-env");
    assert!(
        out.contains(&format!("HOME={}", run_dir.display())),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with("CARGO")), "{out}");
    assert!(
        files_containing(&town.root, TOKEN)
            .iter()
            .all(|p| p.ends_with("log")),
        "the token is only in the log the agent itself printed"
    );

    // Tailing: two reads from successive offsets give the whole log once.
    let (head, next) = runner.output(&town.id, &printenv.agent, 0).await.unwrap();
    let (rest, end) = runner.output(&town.id, &printenv.agent, 5).await.unwrap();
    assert_eq!(next, head.len() as u64);
    assert_eq!(&head[5..], &rest[..]);
    assert_eq!(end, next);
    assert!(
        runner
            .output(&town.id, &printenv.agent, end)
            .await
            .unwrap()
            .0
            .is_empty()
    );

    // Starting the same agent again is refused until the bot forgets the exit.
    let again = runner.start_agent(&printenv).await.unwrap_err();
    assert!(matches!(again, RunnerError::AgentExists { .. }), "{again}");
    runner
        .forget_agent(&town.id, &printenv.agent)
        .await
        .unwrap();
    assert!(runner.agents(&town.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_polecat_clones_its_rig_over_http_works_on_its_branch_and_pushes_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = dir.path().join("remotes");
    let bare = make_remote(&remotes);
    let addr = serve_git(&remotes).await;
    let town = town_spec(&dir.path().join("town"), "git-town");
    let runner = LocalRunner::new();
    runner.ensure_town(&town).await.unwrap();

    let workspace = |worktree: &str| Workspace {
        remote_url: format!("http://{addr}/git/octo/hello.git"),
        rig_dir: "rigs/github-octo-hello".to_owned(),
        worktree_dir: format!("polecats/github-octo-hello/{worktree}"),
        base_branch: "main".to_owned(),
        branch: "gt/gt-k3x9-fix-typo".to_owned(),
    };
    let mut nux = spec(
        &town,
        "polecat-nux-gt-k3x9",
        &[
            "sh",
            "-c",
            "git rev-parse --abbrev-ref HEAD && cat README && pwd && echo fixed > typo.txt \
             && git add typo.txt && git commit -qm 'fix typo' && git push -q 2>&1",
        ],
    );
    nux.env = env(&[("GT_TOKEN", TOKEN)]);
    nux.workspace = Some(workspace("nux"));
    runner.start_agent(&nux).await.unwrap();
    let state = wait_exit(&runner, &town.id, &nux.agent, Duration::from_secs(30)).await;
    let out = log(&runner, &town.id, &nux.agent).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 0 }, "{out}");
    assert!(
        out.contains("gt/gt-k3x9-fix-typo\nhello from octo"),
        "{out}"
    );
    assert!(out.contains("polecats/github-octo-hello/nux"), "{out}");
    assert_eq!(
        git(
            &bare,
            &["log", "-1", "--format=%s %an", "gt/gt-k3x9-fix-typo"]
        ),
        "fix typo gastown polecat",
        "the push reached the remote under the polecat identity"
    );
    assert!(
        files_containing(&town.root, TOKEN).is_empty(),
        "the token was written to disk"
    );

    // The bot handles nux's exit and removes its worktree; a second polecat picks up
    // the now pushed branch and starts from origin/<branch>, not from main.
    runner.forget_agent(&town.id, &nux.agent).await.unwrap();
    git(
        &town.root.join("rigs/github-octo-hello"),
        &[
            "worktree",
            "remove",
            "--force",
            "../../polecats/github-octo-hello/nux",
        ],
    );
    let mut furiosa = spec(&town, "polecat-furiosa-gt-k3x9", &["cat", "typo.txt"]);
    furiosa.env = env(&[("GT_TOKEN", TOKEN)]);
    furiosa.workspace = Some(workspace("furiosa"));
    runner.start_agent(&furiosa).await.unwrap();
    let state = wait_exit(&runner, &town.id, &furiosa.agent, Duration::from_secs(30)).await;
    let out = log(&runner, &town.id, &furiosa.agent).await;
    assert_eq!(state.status, AgentStatus::Exited { code: 0 }, "{out}");
    assert!(out.contains("fixed"), "{out}");
}

#[tokio::test]
async fn a_clone_the_server_refuses_fails_the_agent_with_gits_message() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = dir.path().join("remotes");
    make_remote(&remotes);
    let addr = serve_git(&remotes).await;
    let town = town_spec(&dir.path().join("town"), "denied-town");
    let runner = LocalRunner::new();
    runner.ensure_town(&town).await.unwrap();

    let mut denied = spec(&town, "polecat-denied", &["echo", "must not run"]);
    denied.env = env(&[("GT_TOKEN", "wrong-token")]);
    denied.workspace = Some(Workspace {
        remote_url: format!("http://{addr}/git/octo/hello.git"),
        rig_dir: "rigs/octo-hello".to_owned(),
        worktree_dir: "polecats/octo-hello/denied".to_owned(),
        base_branch: "main".to_owned(),
        branch: "gt/denied".to_owned(),
    });
    runner.start_agent(&denied).await.unwrap();
    let state = wait_exit(&runner, &town.id, &denied.agent, Duration::from_secs(30)).await;
    let out = log(&runner, &town.id, &denied.agent).await;
    assert!(
        matches!(state.status, AgentStatus::Exited { code } if code != 0),
        "{state:?}"
    );
    assert!(
        out.contains("Authentication failed"),
        "git's own message is in the log: {out}"
    );
    assert!(!out.contains("must not run"), "{out}");
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only probes for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

#[tokio::test]
async fn stopping_an_agent_ends_its_whole_process_group_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let town = town_spec(&dir.path().join("town"), "stop-town");
    let runner = LocalRunner::new();
    runner.ensure_town(&town).await.unwrap();

    let sleeper = spec(
        &town,
        "polecat-sleeper",
        &["sh", "-c", "sleep 600 & sleep 600; wait"],
    );
    runner.start_agent(&sleeper).await.unwrap();
    let pid: i32 = std::fs::read_to_string(town.root.join("run/polecat-sleeper/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        runner.agents(&town.id).await.unwrap()[0].status,
        AgentStatus::Running
    );
    let refused = runner
        .forget_agent(&town.id, &sleeper.agent)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, RunnerError::AgentRunning { .. }),
        "{refused}"
    );

    let started = Instant::now();
    runner.stop_agent(&town.id, &sleeper.agent).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!group_alive(pid), "the background sleep survived");
    let status = runner.agents(&town.id).await.unwrap()[0].status;
    assert!(
        matches!(status, AgentStatus::Exited { .. } | AgentStatus::Lost),
        "{status:?}"
    );
    // Idempotent.
    runner.stop_agent(&town.id, &sleeper.agent).await.unwrap();
    runner.forget_agent(&town.id, &sleeper.agent).await.unwrap();
}

#[tokio::test]
async fn a_restarted_bot_still_sees_and_controls_the_agents_of_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let town = town_spec(&dir.path().join("town"), "restart-town");
    let before = LocalRunner::new();
    before.ensure_town(&town).await.unwrap();
    let sleeper = spec(&town, "polecat-longrun", &["sleep", "600"]);
    before.start_agent(&sleeper).await.unwrap();
    drop(before);

    let after = LocalRunner::new().with_stop_grace(Duration::from_secs(4));
    assert!(after.ensure_town(&town).await.unwrap().reused);
    let states = after.agents(&town.id).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].agent, sleeper.agent);
    assert_eq!(states[0].status, AgentStatus::Running);
    assert!(states[0].started_at_ms > 0);

    after.stop_agent(&town.id, &sleeper.agent).await.unwrap();
    let state = wait_exit(&after, &town.id, &sleeper.agent, Duration::from_secs(5)).await;
    assert_eq!(
        state.status,
        AgentStatus::Exited { code: 143 },
        "the wrapper records SIGTERM"
    );
}

#[tokio::test]
async fn unknown_towns_and_unsafe_ids_are_refused_with_actionable_errors() {
    let runner = LocalRunner::new();
    let err = runner.agents(&TownId("nowhere".into())).await.unwrap_err();
    assert!(err.to_string().contains("call ensure_town"), "{err}");
    let err = runner::AgentId::new("../etc").unwrap_err();
    assert!(err.to_string().contains("[a-z0-9-_.]"), "{err}");
}

/// What the town writes is hostile: an agent that swaps its log for a link to the bot's
/// secrets, a FIFO where a record should be, a link to an endless device. The bot reads
/// none of them through, and is not held up by any.
#[tokio::test]
async fn links_fifos_and_devices_in_the_town_are_never_read_through() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("bot-environ");
    std::fs::write(&secret, "GT_GITHUB_TOKEN=ghp_botsecret\n").unwrap();
    let town = town_spec(&dir.path().join("town"), "hostile-town");
    let runner = LocalRunner::new();
    runner.ensure_town(&town).await.unwrap();

    let script = format!(
        "ln -sf {} \"$GT_TOWN_ROOT/run/polecat-thief/log\"; \
         mkdir -p \"$GT_TOWN_ROOT/run/polecat-fifo\" && mkfifo \"$GT_TOWN_ROOT/run/polecat-fifo/spec.json\"; \
         ln -sf /dev/zero \"$GT_TOWN_ROOT/run/polecat-thief/log.1\"; exit 3",
        secret.display()
    );
    let thief = spec(&town, "polecat-thief", &["sh", "-c", &script]);
    runner.start_agent(&thief).await.unwrap();
    // A FIFO read the old way would block this call forever: fail instead of hanging.
    let listed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let states = runner.agents(&town.id).await.unwrap();
            if states
                .iter()
                .any(|s| s.status == AgentStatus::Exited { code: 3 })
            {
                return states;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("listing the town's agents never waits on a FIFO");
    assert_eq!(listed.len(), 1, "the FIFO's directory is not an agent");

    let chunk = runner.output(&town.id, &thief.agent, 0).await;
    assert!(chunk.is_err(), "read through a link: {chunk:?}");
    let tail = runner.output_tail(&town.id, &thief.agent, 4096).await;
    assert!(tail.is_err(), "read through a link: {tail:?}");
    let message = tail.unwrap_err().to_string();
    assert!(!message.contains("ghp_botsecret"), "{message}");
}
