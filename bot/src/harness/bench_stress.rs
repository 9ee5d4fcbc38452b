//! `gt bench stress`: many polecats at once in one town (Cloud Gastown's own target is
//! 30 across 5 rigs). A forge simulator holds `rigs` repositories landing `direct`;
//! `per_rig` issues are slung on each; `gt serve` runs as a child process (so its
//! memory is its own) with scripted agents; the bench waits until every issue is
//! closed with its file on main, then reports the wall time, the bot's peak RSS, the
//! database's size and what was lost (nothing, or the bench fails).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forge_sim::{ForgeSim, Permission, SimOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::demo::DemoRunner;

pub struct StressFigures {
    pub polecats: usize,
    pub rigs: usize,
    pub runner: &'static str,
    pub wall_s: f64,
    pub merged: usize,
    pub lost: usize,
    pub bot_peak_rss_mb: f64,
    pub database_mb: f64,
}

pub async fn run(
    choice: DemoRunner,
    rigs: usize,
    per_rig: usize,
    timeout: Duration,
) -> anyhow::Result<StressFigures> {
    let dir = tempfile::tempdir()?;
    let sim = ForgeSim::start(SimOptions {
        data_dir: Some(dir.path().join("forge")),
        ..SimOptions::default()
    })
    .await
    .context("cannot start the forge simulator")?;
    let bot = sim.add_user("gastown-bot").await?;
    sim.add_user("mara").await?;
    let repos: Vec<String> = (0..rigs).map(|r| format!("stress/r{r}")).collect();
    for repo in &repos {
        sim.create_repo(repo, "main").await?;
        sim.grant(repo, "gastown-bot", Permission::Admin).await?;
        sim.grant(repo, "mara", Permission::Write).await?;
        sim.commit_file("mara", repo, "main", "README.md", "# r\n", "Initial commit")
            .await?;
        sim.commit_file(
            "mara",
            repo,
            "main",
            ".gastown.yaml",
            "merge_strategy: direct\nquality_gates:\n  - { name: files, run: test -d work }\n",
            "Configure the refinery",
        )
        .await?;
    }

    let (runner, image) = match choice {
        DemoRunner::Local => ("local", None),
        DemoRunner::Kubernetes => {
            anyhow::bail!("gt bench stress runs local or docker; see gt bench kubernetes")
        }
        _ => {
            let mut quiet = |_: &str| {};
            let image = runner::image::build_town_image(
                &runner::image::ImageOptions::default(),
                &mut quiet,
            )
            .await?;
            ("docker", Some(image))
        }
    };
    let secret = crate::ids::random_bead_id(8);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let town = format!("stress-{}", std::process::id());
    let db = dir.path().join("gastown.db");
    let mut serve = tokio::process::Command::new(std::env::current_exe()?);
    serve
        .arg("serve")
        .env_remove("GT_CONFIG")
        .env("GT_DATABASE", &db)
        .env("GT_DATA_DIR", dir.path().join("data"))
        .env("GT_LISTEN", format!("127.0.0.1:{port}"))
        .env("GT_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("GT_TOWN", &town)
        .env("GT_GITHUB_HOST", sim.addr().to_string())
        .env("GT_GITHUB_API_URL", sim.github_api_url())
        .env("GT_GITHUB_WEBHOOK_SECRET", &secret)
        .env("GT_GITHUB_TOKEN", &bot.token)
        .env("GT_POLECATS_CAP", per_rig.to_string())
        .env("GT_POLECATS_TOWN_CAP", (rigs * per_rig + rigs).to_string())
        .env("GT_RUNNER", runner)
        .env("GT_RUNNER_IMAGE", image.as_deref().unwrap_or("unused"))
        .env("GT_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = serve.spawn().context("cannot start gt serve")?;
    let pid = child.id().context("gt serve has no pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("listening on ") {
                return Ok(());
            }
        }
        bail!("gt serve ended before it listened")
    })
    .await
    .context("gt serve did not listen within 30 s")??;
    for repo in &repos {
        sim.set_hook(
            repo,
            &format!("http://127.0.0.1:{port}/webhooks/github"),
            &secret,
        )
        .await?;
    }

    let started = Instant::now();
    let mut issues = Vec::new();
    for repo in &repos {
        for i in 0..per_rig {
            let path = format!("work/{i}.md");
            let body = format!(
                "Stress {i}.\n\n```gastown-plan\nfiles:\n  - path: {path}\n    content: |\n      \
                 work {i}\ncommit: Add {path}\n```\n"
            );
            let n = sim
                .open_issue("mara", repo, &format!("Stress {i}"), &body)
                .await?;
            sim.add_label("mara", repo, n, "gt:sling").await?;
            issues.push((repo.clone(), n, path));
        }
    }
    let mut peak = 0.0f64;
    loop {
        peak = peak.max(peak_rss_mb(pid));
        let mut open = 0;
        for (repo, n, _) in &issues {
            if sim
                .issue(repo, *n)
                .await
                .and_then(|i| i.closed_at)
                .is_none()
            {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        if started.elapsed() > timeout {
            bail!(
                "{open} of {} issues still open after {timeout:?}",
                issues.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let wall_s = started.elapsed().as_secs_f64();
    peak = peak.max(peak_rss_mb(pid));
    let mut merged = 0;
    for (repo, _, path) in &issues {
        if sim.read_file(repo, "main", path).await?.is_some() {
            merged += 1;
        }
    }
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let database_mb = (size(&db) + size(&dir.path().join("gastown.db-wal"))) as f64 / 1e6;
    let _ = child.kill().await;
    if let Ok(docker) = runner::DockerRunner::connect().await
        && runner == "docker"
    {
        let _ = docker.remove_town(&runner::TownId(town)).await;
    }
    Ok(StressFigures {
        polecats: issues.len(),
        rigs,
        runner,
        wall_s,
        merged,
        lost: issues.len() - merged,
        bot_peak_rss_mb: peak,
        database_mb,
    })
}

/// The process's peak resident set (`VmHWM`), in MB; 0 when it cannot be read.
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
