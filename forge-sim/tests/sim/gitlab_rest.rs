//! Stories against GitLab's REST face: projects by id and encoded path, pagination
//! over many notes, permissions from members' access levels, an MR approved and really
//! merged, GitLab's merge refusals, raw files, and faults answered GitLab's way.

use crate::common;
use crate::gitlab_common;

use std::time::Duration;

use forge_sim::git::CommitInfo;
use gitlab_common::{ENCODED, PROJECT, call, gl_world, json};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn a_project_is_found_by_encoded_path_and_by_id_and_strangers_are_refused() {
    let w = gl_world().await;
    let sim = &w.sim;
    let by_path = json(
        call(
            sim,
            "rita",
            Method::GET,
            &format!("/projects/{ENCODED}"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(by_path["path_with_namespace"], PROJECT);
    assert_eq!(by_path["default_branch"], "main");
    assert_eq!(by_path["only_allow_merge_if_pipeline_succeeds"], false);
    let id = by_path["id"].as_u64().unwrap();
    let by_id = json(call(sim, "rita", Method::GET, &format!("/projects/{id}"), &[]).await).await;
    assert_eq!(by_id["id"], id);

    let missing = call(sim, "rita", Method::GET, "/projects/town%2Fnope", &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(missing).await["message"], "404 Project Not Found");

    let bad = reqwest::Client::new()
        .get(format!("{}/projects/{id}", sim.gitlab_api_url()))
        .header("PRIVATE-TOKEN", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(bad).await["message"], "401 Unauthorized");
    let bearer = reqwest::Client::new()
        .get(format!("{}/projects/{id}", sim.gitlab_api_url()))
        .bearer_auth(sim.user("maria").await.unwrap().token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    assert!(bearer.headers().contains_key("ratelimit-remaining"));
}

#[tokio::test]
async fn notes_are_paged_with_gitlabs_headers() {
    let w = gl_world().await;
    let sim = &w.sim;
    let iid = sim
        .gl_open_issue("maria", PROJECT, "Chatty", "")
        .await
        .unwrap();
    for i in 0..105 {
        sim.gl_comment("rita", PROJECT, iid, false, &format!("note {i}"))
            .await
            .unwrap();
    }
    let route = format!("/projects/{ENCODED}/issues/{iid}/notes?sort=asc&per_page=100");
    let first = call(sim, "maria", Method::GET, &route, &[]).await;
    let h = first.headers().clone();
    let page: Vec<serde_json::Value> = first.json().await.unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0]["body"], "note 0");
    assert_eq!(h["x-total"], "105");
    assert_eq!(h["x-total-pages"], "2");
    assert_eq!(h["x-page"], "1");
    assert_eq!(h["x-per-page"], "100");
    assert_eq!(h["x-next-page"], "2");
    let link = h["link"].to_str().unwrap();
    assert!(
        link.contains("page=2") && link.contains("rel=\"next\""),
        "{link}"
    );

    let second = call(sim, "maria", Method::GET, &format!("{route}&page=2"), &[]).await;
    assert_eq!(second.headers()["x-next-page"], "");
    let page: Vec<serde_json::Value> = second.json().await.unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[4]["body"], "note 104");
}

#[tokio::test]
async fn members_access_levels_answer_permission_questions() {
    let w = gl_world().await;
    let sim = &w.sim;
    for (login, level) in [
        ("maria", Some(40)),
        ("devi", Some(30)),
        ("rita", Some(10)),
        ("olga", None),
    ] {
        let users = json(
            call(
                sim,
                "maria",
                Method::GET,
                &format!("/users?username={login}"),
                &[],
            )
            .await,
        )
        .await;
        assert_eq!(users[0]["username"], login);
        let id = users[0]["id"].as_u64().unwrap();
        let r = call(
            sim,
            "maria",
            Method::GET,
            &format!("/projects/{ENCODED}/members/all/{id}"),
            &[],
        )
        .await;
        match level {
            Some(level) => assert_eq!(json(r).await["access_level"], level, "{login}"),
            None => assert_eq!(r.status(), StatusCode::NOT_FOUND, "{login}"),
        }
    }
    let nobody = json(call(sim, "maria", Method::GET, "/users?username=ghosty", &[]).await).await;
    assert_eq!(nobody, serde_json::json!([]));
    // A guest may open issues but not label them through the API.
    let issue = json(
        call(
            sim,
            "rita",
            Method::POST,
            &format!("/projects/{ENCODED}/issues"),
            &[("title", "Hi")],
        )
        .await,
    )
    .await;
    let iid = issue["iid"].as_u64().unwrap();
    let r = call(
        sim,
        "rita",
        Method::PUT,
        &format!("/projects/{ENCODED}/issues/{iid}"),
        &[("add_labels", "x")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = call(
        sim,
        "maria",
        Method::PUT,
        &format!("/projects/{ENCODED}/issues/{iid}"),
        &[("add_labels", "x,y")],
    )
    .await;
    assert_eq!(json(r).await["labels"], serde_json::json!(["x", "y"]));
    let events = json(
        call(
            sim,
            "maria",
            Method::GET,
            &format!("/projects/{ENCODED}/issues/{iid}/resource_label_events"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(events[0]["action"], "add");
    assert_eq!(events[0]["user"]["username"], "maria");
    let notes = json(
        call(
            sim,
            "maria",
            Method::GET,
            &format!("/projects/{ENCODED}/issues/{iid}/notes"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(
        notes[0]["system"], true,
        "label changes leave a system note"
    );
    // Labels: one exists now, so creating it again is GitLab's 409.
    let r = call(
        sim,
        "maria",
        Method::POST,
        &format!("/projects/{ENCODED}/labels"),
        &[("name", "x"), ("color", "#ff0000")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = call(
        sim,
        "maria",
        Method::GET,
        &format!("/projects/{ENCODED}/labels/nope"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_mr_approved_then_merged_really_changes_the_repository() {
    let w = gl_world().await;
    let sim = &w.sim;
    let head = sim
        .commit_file(
            "devi",
            PROJECT,
            "greet",
            "hello.txt",
            "hello\n",
            "Add hello",
        )
        .await
        .unwrap();
    let base = format!("/projects/{ENCODED}/merge_requests");
    let mr = json(
        call(
            sim,
            "devi",
            Method::POST,
            &base,
            &[
                ("source_branch", "greet"),
                ("target_branch", "main"),
                ("title", "Greet"),
            ],
        )
        .await,
    )
    .await;
    let iid = mr["iid"].as_u64().unwrap();
    assert_eq!(mr["state"], "opened");
    assert_eq!(mr["sha"], head.as_str());

    let r = call(
        sim,
        "maria",
        Method::POST,
        &format!("{base}/{iid}/approve"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let approvals = json(
        call(
            sim,
            "devi",
            Method::GET,
            &format!("{base}/{iid}/approvals"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(approvals["approved_by"][0]["user"]["username"], "maria");
    let notes = json(
        call(
            sim,
            "devi",
            Method::GET,
            &format!("{base}/{iid}/notes"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(notes[0]["body"], "approved this merge request");
    assert_eq!(notes[0]["system"], true);

    // Refusals first: a guest (401), a stale sha (409), pipelines must succeed (405).
    let r = call(
        sim,
        "rita",
        Method::PUT,
        &format!("{base}/{iid}/merge"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = call(
        sim,
        "maria",
        Method::PUT,
        &format!("{base}/{iid}/merge"),
        &[("sha", &"0".repeat(40))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    sim.set_pipelines_must_succeed(PROJECT, true).unwrap();
    let r = call(
        sim,
        "maria",
        Method::PUT,
        &format!("{base}/{iid}/merge"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let p = sim.run_pipeline("devi", PROJECT, "greet").await.unwrap();
    sim.finish_pipeline(PROJECT, p, "success").await.unwrap();
    let pipes = json(
        call(
            sim,
            "maria",
            Method::GET,
            &format!("/projects/{ENCODED}/pipelines?ref=greet"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(pipes[0]["status"], "success");

    let r = call(
        sim,
        "maria",
        Method::PUT,
        &format!("{base}/{iid}/merge"),
        &[("sha", &head)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let merged = json(r).await;
    assert_eq!(merged["state"], "merged");
    let sha = merged["merge_commit_sha"].as_str().unwrap().to_owned();
    assert_eq!(
        sim.branch_sha(PROJECT, "main").await.unwrap().as_deref(),
        Some(sha.as_str())
    );
    let commit: CommitInfo = sim.commit(PROJECT, &sha).await.unwrap().unwrap();
    assert_eq!(commit.parents.len(), 2, "a merge commit");
    assert_eq!(
        sim.read_file(PROJECT, "main", "hello.txt")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"hello\n"[..])
    );
    let raw = call(
        sim,
        "rita",
        Method::GET,
        &format!("/projects/{ENCODED}/repository/files/hello.txt/raw?ref=main"),
        &[],
    )
    .await;
    assert_eq!(raw.text().await.unwrap(), "hello\n");
    let raw = call(
        sim,
        "rita",
        Method::GET,
        &format!("/projects/{ENCODED}/repository/files/nope.txt/raw?ref=main"),
        &[],
    )
    .await;
    assert_eq!(raw.status(), StatusCode::NOT_FOUND);
    // Merging again is refused: it is merged.
    let r = call(
        sim,
        "maria",
        Method::PUT,
        &format!("{base}/{iid}/merge"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_conflicting_mr_is_406() {
    let w = gl_world().await;
    let sim = &w.sim;
    sim.commit_file("devi", PROJECT, "a", "f.txt", "a\n", "a")
        .await
        .unwrap();
    sim.commit_file("devi", PROJECT, "main", "f.txt", "main\n", "m")
        .await
        .unwrap();
    let iid = sim
        .gl_open_mr("devi", PROJECT, "a", "main", "A", "")
        .await
        .unwrap();
    let r = call(
        sim,
        "maria",
        Method::PUT,
        &format!("/projects/{ENCODED}/merge_requests/{iid}/merge"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn commit_statuses_are_listed_for_a_branch() {
    let w = gl_world().await;
    let sim = &w.sim;
    let sha = sim.branch_sha(PROJECT, "main").await.unwrap().unwrap();
    let r = call(
        sim,
        "devi",
        Method::POST,
        &format!("/projects/{ENCODED}/statuses/{sha}"),
        &[("state", "running"), ("name", "gates")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    sim.gl_set_status("devi", PROJECT, &sha, "success", "gates")
        .await
        .unwrap();
    let list = json(
        call(
            sim,
            "devi",
            Method::GET,
            &format!("/projects/{ENCODED}/repository/commits/main/statuses"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let pipes = json(
        call(
            sim,
            "devi",
            Method::GET,
            &format!("/projects/{ENCODED}/pipelines?sha={sha}"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(
        pipes[0]["status"], "success",
        "the external pipeline follows its jobs"
    );
    let r = call(
        sim,
        "rita",
        Method::POST,
        &format!("/projects/{ENCODED}/statuses/{sha}"),
        &[("state", "success")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn faults_apply_to_the_gitlab_api_too() {
    let w = gl_world().await;
    let sim = &w.sim;
    let route = format!("/projects/{ENCODED}");
    sim.fail_next(1, 502, None);
    let r = call(sim, "maria", Method::GET, &route, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(json(r).await["message"], "502 Bad Gateway");
    sim.rate_limit_next(1, Duration::from_secs(30));
    let r = call(sim, "maria", Method::GET, &route, &[]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "30");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    let r = call(sim, "maria", Method::GET, &route, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("ratelimit-limit"));
}

#[tokio::test]
async fn a_gitlab_project_is_not_on_the_github_api() {
    let w = gl_world().await;
    let sim = &w.sim;
    sim.create_gitlab_project("town/flat", "main")
        .await
        .unwrap();
    let r = reqwest::get(format!("{}/repos/town/flat", sim.github_api_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        sim.set_hook("town/flat", "http://127.0.0.1:1/", "s")
            .await
            .is_err()
    );
    let r = call(sim, "maria", Method::GET, "/projects/town%2Fflat", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn labels_given_at_creation_are_label_events_once() {
    let w = gl_world().await;
    let sim = &w.sim;
    let issue = json(
        call(
            sim,
            "maria",
            Method::POST,
            &format!("/projects/{ENCODED}/issues"),
            &[("title", "Hi"), ("labels", "a,b")],
        )
        .await,
    )
    .await;
    assert_eq!(issue["labels"], serde_json::json!(["a", "b"]));
    let iid = issue["iid"].as_u64().unwrap();
    let events = json(
        call(
            sim,
            "maria",
            Method::GET,
            &format!("/projects/{ENCODED}/issues/{iid}/resource_label_events"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(events.as_array().unwrap().len(), 2, "{events}");
    sim.wait_for_deliveries(1, common::WAIT).await.unwrap();
    let open = &sim.deliveries()[0].payload;
    assert_eq!(open["changes"]["labels"]["current"][1]["title"], "b");
}

#[tokio::test]
async fn a_branch_is_deleted_by_its_encoded_name_and_the_default_branch_is_refused() {
    let w = gl_world().await;
    let sim = &w.sim;
    sim.commit_file(
        "devi",
        PROJECT,
        "gt/gt-k3x9-done",
        "done.md",
        "done\n",
        "Done",
    )
    .await
    .unwrap();
    let path = format!("/projects/{ENCODED}/repository/branches/gt%2Fgt-k3x9-done");
    let r = call(sim, "devi", Method::DELETE, &path, &[]).await;
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(
        sim.branch_sha(PROJECT, "gt/gt-k3x9-done").await.unwrap(),
        None
    );
    let again = call(sim, "devi", Method::DELETE, &path, &[]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(again).await["message"], "404 Branch Not Found");
    let main = format!("/projects/{ENCODED}/repository/branches/main");
    let refused = call(sim, "devi", Method::DELETE, &main, &[]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}
