//! Stories about reactions: GitHub's on issue and review comments (201 new, 200 for the
//! caller's existing one, 422 for a content GitHub does not offer, delete by id) and
//! GitLab's award emoji on notes (a second award of a name is GitLab's 404, only the
//! giver may take one back). Neither sends a webhook.

use crate::common;
use crate::gitlab_common;

use common::{REPO, world};
use gitlab_common::{ENCODED, PROJECT, call, gl_world, json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Call the GitHub API as `login` with a JSON body.
async fn gh(
    sim: &forge_sim::SimHandle,
    login: Option<&str>,
    method: Method,
    route: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let url = format!("{}{route}", sim.github_api_url());
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(login) = login {
        req = req.bearer_auth(sim.user(login).await.unwrap().token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn github_reactions_are_one_per_person_and_content_and_only_githubs_eight() {
    let w = world().await;
    let sim = &w.sim;
    let n = sim.open_issue("maria", REPO, "React", "").await.unwrap();
    let c = sim.comment("maria", REPO, n, "/gt sling").await.unwrap();
    let deliveries = sim.deliveries().len();
    let route = format!("/repos/{REPO}/issues/comments/{c}/reactions");
    let eyes = || Some(json!({"content": "eyes"}));

    let made = gh(sim, Some("rita"), Method::POST, &route, eyes()).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made = json(made).await;
    assert_eq!(made["content"], "eyes");
    assert_eq!(made["user"]["login"], "rita");
    assert!(made["id"].is_u64() && made["node_id"].is_string());
    assert!(made["created_at"].is_string());

    // The same again is the one already there, answered 200.
    let again = gh(sim, Some("rita"), Method::POST, &route, eyes()).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(again).await["id"], made["id"]);
    // Someone else's is their own.
    let maria = gh(sim, Some("maria"), Method::POST, &route, eyes()).await;
    assert_eq!(maria.status(), StatusCode::CREATED);
    let maria = json(maria).await;

    // GitHub offers eight contents; anything else is a 422, and so is none.
    for body in [json!({"content": "white_check_mark"}), json!({})] {
        let bad = gh(sim, Some("rita"), Method::POST, &route, Some(body)).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(json(bad).await["message"].is_string());
    }
    let missing = format!("/repos/{REPO}/issues/comments/999999/reactions");
    let gone = gh(sim, Some("rita"), Method::POST, &missing, eyes()).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let anonymous = gh(sim, None, Method::POST, &route, eyes()).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        sim.reactions(REPO, c).await,
        vec![
            ("rita".to_owned(), "eyes".to_owned()),
            ("maria".to_owned(), "eyes".to_owned())
        ]
    );
    let listed = json(gh(sim, Some("rita"), Method::GET, &route, None).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let comment = json(
        gh(
            sim,
            None,
            Method::GET,
            &format!("/repos/{REPO}/issues/comments/{c}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(comment["reactions"]["eyes"], 2);
    assert_eq!(comment["reactions"]["total_count"], 2);

    // A reaction is deleted by its id, by the person who gave it.
    let theirs = format!("{route}/{}", maria["id"]);
    let refused = gh(sim, Some("rita"), Method::DELETE, &theirs, None).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let deleted = gh(sim, Some("maria"), Method::DELETE, &theirs, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let twice = gh(sim, Some("maria"), Method::DELETE, &theirs, None).await;
    assert_eq!(twice.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sim.reactions(REPO, c).await,
        vec![("rita".to_owned(), "eyes".to_owned())]
    );

    assert_eq!(
        sim.deliveries().len(),
        deliveries,
        "reactions send no webhooks"
    );
}

#[tokio::test]
async fn github_review_comments_have_reactions_of_their_own() {
    let w = world().await;
    let sim = &w.sim;
    sim.commit_file("maria", REPO, "feature", "f.txt", "f\n", "Add f")
        .await
        .unwrap();
    let pr = sim
        .open_pull("maria", REPO, "feature", "main", "Add f", "")
        .await
        .unwrap();
    let line = sim
        .review_comment("maria", REPO, pr, "f.txt", 1, "/gt retry")
        .await
        .unwrap();
    let route = format!("/repos/{REPO}/pulls/comments/{line}/reactions");
    let made = gh(
        sim,
        Some("rita"),
        Method::POST,
        &route,
        Some(json!({"content": "rocket"})),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    // A review comment is not an issue comment.
    let wrong = format!("/repos/{REPO}/issues/comments/{line}/reactions");
    let wrong = gh(
        sim,
        Some("rita"),
        Method::POST,
        &wrong,
        Some(json!({"content": "rocket"})),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sim.reactions(REPO, line).await,
        vec![("rita".to_owned(), "rocket".to_owned())]
    );
    let comments = json(
        gh(
            sim,
            None,
            Method::GET,
            &format!("/repos/{REPO}/pulls/{pr}/comments"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(comments[0]["reactions"]["rocket"], 1);
}

#[tokio::test]
async fn gitlab_refuses_a_second_award_of_a_name_with_a_404() {
    let w = gl_world().await;
    let sim = &w.sim;
    let iid = sim
        .gl_open_issue("maria", PROJECT, "React", "")
        .await
        .unwrap();
    let note = sim
        .gl_comment("rita", PROJECT, iid, false, "/gt sling")
        .await
        .unwrap();
    let deliveries = sim.deliveries().len();
    let route = format!("/projects/{ENCODED}/issues/{iid}/notes/{note}/award_emoji");

    let made = call(sim, "devi", Method::POST, &route, &[("name", "eyes")]).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made = json(made).await;
    assert_eq!(made["name"], "eyes");
    assert_eq!(made["user"]["username"], "devi");
    assert_eq!(made["awardable_id"], note);
    assert_eq!(made["awardable_type"], "Note");
    assert!(made["created_at"].is_string() && made["updated_at"].is_string());

    let again = call(sim, "devi", Method::POST, &route, &[("name", "eyes")]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json(again).await["message"],
        "404 Award Emoji Name has already been taken Not Found"
    );
    // Another person's award of the same name is theirs; a missing name is a 400.
    let other = call(sim, "maria", Method::POST, &route, &[("name", "eyes")]).await;
    assert_eq!(other.status(), StatusCode::CREATED);
    let other = json(other).await;
    let nameless = call(sim, "devi", Method::POST, &route, &[]).await;
    assert_eq!(nameless.status(), StatusCode::BAD_REQUEST);
    let missing = format!("/projects/{ENCODED}/issues/{iid}/notes/999999/award_emoji");
    let gone = call(sim, "devi", Method::POST, &missing, &[("name", "eyes")]).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    let listed = json(call(sim, "olga", Method::GET, &route, &[]).await).await;
    let names: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user"]["username"].as_str().unwrap(),
                a["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, vec![("devi", "eyes"), ("maria", "eyes")]);

    // Only the giver takes an award back.
    let theirs = format!("{route}/{}", other["id"]);
    let refused = call(sim, "devi", Method::DELETE, &theirs, &[]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let deleted = call(sim, "maria", Method::DELETE, &theirs, &[]).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let twice = call(sim, "maria", Method::DELETE, &theirs, &[]).await;
    assert_eq!(twice.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sim.gl_awards(PROJECT, note).await,
        vec![("devi".to_owned(), "eyes".to_owned())]
    );

    // The client tells its own awards apart by `GET /user`.
    let me = json(call(sim, "devi", Method::GET, "/user", &[]).await).await;
    assert_eq!(me["username"], "devi");
    let anonymous = reqwest::Client::new()
        .get(format!("{}/user", sim.gitlab_api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(sim.deliveries().len(), deliveries, "awards send no hooks");
}

#[tokio::test]
async fn gitlab_awards_on_merge_request_notes_diff_notes_but_not_system_notes() {
    let w = gl_world().await;
    let sim = &w.sim;
    sim.commit_file("maria", PROJECT, "feature", "f.txt", "f\n", "Add f")
        .await
        .unwrap();
    let mr = sim
        .gl_open_mr("maria", PROJECT, "feature", "main", "Add f", "")
        .await
        .unwrap();
    let note = sim
        .gl_comment("maria", PROJECT, mr, true, "/gt merge")
        .await
        .unwrap();
    let diff = sim
        .gl_diff_note("maria", PROJECT, mr, "f.txt", 1, "/gt retry")
        .await
        .unwrap();
    for id in [note, diff] {
        let route = format!("/projects/{ENCODED}/merge_requests/{mr}/notes/{id}/award_emoji");
        let made = call(sim, "devi", Method::POST, &route, &[("name", "x")]).await;
        assert_eq!(made.status(), StatusCode::CREATED);
        // The merge request's note is not the issue's.
        let wrong = format!("/projects/{ENCODED}/issues/{mr}/notes/{id}/award_emoji");
        let wrong = call(sim, "devi", Method::POST, &wrong, &[("name", "x")]).await;
        assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            sim.gl_awards(PROJECT, id).await,
            vec![("devi".to_owned(), "x".to_owned())]
        );
    }

    // A label change leaves a system note, which takes no awards.
    let iid = sim
        .gl_open_issue("maria", PROJECT, "Labelled", "")
        .await
        .unwrap();
    sim.gl_add_label("maria", PROJECT, iid, "bug")
        .await
        .unwrap();
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
    let system = notes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["system"] == true)
        .expect("a system note")["id"]
        .as_u64()
        .unwrap();
    let route = format!("/projects/{ENCODED}/issues/{iid}/notes/{system}/award_emoji");
    let refused = call(sim, "devi", Method::POST, &route, &[("name", "eyes")]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json(refused).await["message"],
        "404 Award Emoji Awardable cannot be awarded emoji Not Found"
    );
}
