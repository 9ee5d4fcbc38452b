//! Story: a person drives a GitLab project of a running simulator over `/_sim/gitlab`
//! with curl-like JSON calls, and the project's hook hears about it.

use crate::common;

use common::{Receiver, WAIT};
use forge_sim::{ForgeSim, SimOptions};
use serde_json::{Value, json};

#[tokio::test]
async fn a_person_drives_a_gitlab_project_over_http() {
    let sim = ForgeSim::start(SimOptions::default()).await.unwrap();
    let (receiver, url) = Receiver::start().await;
    let http = reqwest::Client::new();
    let base = format!("{}/gitlab", sim.control_url());
    let post = |route: &str, body: Value| {
        http.post(format!("{base}{route}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let r = post("/projects", json!({"project": "town/hello"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    sim.add_user("maria").await.unwrap();
    let p = "/projects/town%2Fhello";
    let r = post(
        &format!("{p}/members"),
        json!({"login": "maria", "access_level": 40}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    post(&format!("{p}/hook"), json!({"url": url, "token": "t"}))
        .await
        .unwrap();
    let r = post(
        &format!("{p}/issues"),
        json!({"as": "maria", "title": "Hi"}),
    )
    .await
    .unwrap();
    let iid = r.json::<Value>().await.unwrap()["iid"].as_u64().unwrap();
    let r = post(
        &format!("{p}/issues/{iid}/labels"),
        json!({"as": "maria", "label": "gt:sling"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    sim.wait_for_deliveries(2, WAIT).await.unwrap();
    let got = receiver.received();
    assert_eq!(got[1].header("x-gitlab-event"), "Issue Hook");
    assert_eq!(
        got[1].json()["changes"]["labels"]["current"][0]["title"],
        "gt:sling"
    );
    // The GitHub control routes are still there.
    let r = http
        .post(format!("{}/users", sim.control_url()))
        .header("content-type", "application/json")
        .body(json!({"login": "alice"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}
