//! Helpers the GitLab stories share: a simulator with a nested GitLab project and its
//! members, a hook to a receiver, and a small `PRIVATE-TOKEN` REST client.

#![allow(dead_code)]

use forge_sim::{ForgeSim, SimHandle, SimOptions};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::common::Receiver;

pub const PROJECT: &str = "town/tools/hello";
/// The project path as GitLab's API addresses it.
pub const ENCODED: &str = "town%2Ftools%2Fhello";
pub const TOKEN: &str = "gitlab-hook-token";

/// `maria` maintains the project (40), `devi` develops (30), `rita` is a guest (10),
/// `olga` is no member; the hook goes to a fresh receiver.
pub struct GlWorld {
    pub sim: SimHandle,
    pub receiver: Receiver,
}

pub async fn gl_world() -> GlWorld {
    let sim = ForgeSim::start(SimOptions::default())
        .await
        .expect("simulator starts");
    sim.create_gitlab_project(PROJECT, "main")
        .await
        .expect("project is created");
    for (login, level) in [("maria", 40), ("devi", 30), ("rita", 10), ("olga", 0)] {
        sim.add_user(login).await.unwrap();
        sim.add_member(PROJECT, login, level).unwrap();
    }
    let (receiver, url) = Receiver::start().await;
    sim.set_gitlab_hook(PROJECT, &url, TOKEN).unwrap();
    GlWorld { sim, receiver }
}

/// Call the GitLab API as `login` with a form body, as the gitlab crate does.
pub async fn call(
    sim: &SimHandle,
    login: &str,
    method: Method,
    route: &str,
    form: &[(&str, &str)],
) -> Response {
    let token = sim.user(login).await.unwrap().token;
    let url = format!("{}{route}", sim.gitlab_api_url());
    let mut req = reqwest::Client::new()
        .request(method.clone(), url)
        .header("PRIVATE-TOKEN", token);
    if method != Method::GET {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
    }
    req.send().await.unwrap()
}

pub async fn json(r: Response) -> Value {
    r.json().await.unwrap()
}
