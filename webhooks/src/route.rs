//! The cheap look at a delivery that ingest does before storing it: which repository
//! it belongs to (the inbox drains in order per repository), its action, and for a
//! comment whose only possible effect is to address the bot, its text. Only these few
//! fields are deserialized; everything else is skipped by serde without being
//! materialized, in the one pass over the body that ingest makes.

use std::borrow::Cow;

use serde::Deserialize;

use crate::event::ForgeKind;

/// Routing fields of a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `owner/repo` or `group/sub/project`; `None` for deliveries about no single
    /// repository (installations, system hooks).
    pub repo_path: Option<String>,
    /// Host of the repository's web URL, when the payload has one.
    pub web_host: Option<String>,
    /// The payload's `action` (GitHub) or `object_attributes.action` (GitLab).
    pub action: Option<String>,
    /// The text of a comment that can do nothing but address the bot: a GitHub
    /// `issue_comment` (on an issue or a pull request's conversation) or a GitLab note
    /// on an issue. Such a delivery becomes only a [`crate::ForgeEvent::Comment`], so a
    /// text that addresses nobody settles it without the full parse. `None` for every
    /// other delivery, which the worker must read whole.
    pub comment: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("body is not a JSON object: {0}")]
    Json(String),
    #[error("form-encoded body has no `payload` field")]
    NoFormPayload,
}

#[derive(Deserialize)]
struct GithubRouting<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    repository: Option<GithubRepo<'a>>,
    #[serde(borrow, default)]
    comment: Option<GithubComment<'a>>,
}

#[derive(Deserialize)]
struct GithubComment<'a> {
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct GithubRepo<'a> {
    #[serde(borrow)]
    full_name: Cow<'a, str>,
    #[serde(borrow, default)]
    html_url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct GitlabRouting<'a> {
    #[serde(borrow, default)]
    project: Option<GitlabProject<'a>>,
    #[serde(borrow, default)]
    object_attributes: Option<GitlabAttributes<'a>>,
}

#[derive(Deserialize)]
struct GitlabProject<'a> {
    #[serde(borrow)]
    path_with_namespace: Cow<'a, str>,
    #[serde(borrow, default)]
    web_url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct GitlabAttributes<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    noteable_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    note: Option<Cow<'a, str>>,
}

/// Pick the routing fields out of the JSON body of an `event` delivery (the value of
/// `X-GitHub-Event` or `X-Gitlab-Event`).
pub fn route(forge: ForgeKind, event: &str, body: &[u8]) -> Result<Route, RouteError> {
    let err = |e: serde_json::Error| RouteError::Json(e.to_string());
    match forge {
        ForgeKind::GitHub => {
            let r: GithubRouting = serde_json::from_slice(body).map_err(err)?;
            // An issue_comment without its `comment` object does not parse: the
            // worker reads it whole and says why.
            let comment = match (event, r.comment) {
                ("issue_comment", Some(c)) => Some(c.body.map(Cow::into_owned).unwrap_or_default()),
                _ => None,
            };
            let (repo_path, web_host) = match r.repository {
                Some(repo) => (
                    Some(repo.full_name.into_owned()),
                    repo.html_url.as_deref().and_then(url_host),
                ),
                None => (None, None),
            };
            Ok(Route {
                repo_path,
                web_host,
                action: r.action.map(Cow::into_owned),
                comment,
            })
        }
        ForgeKind::GitLab => {
            let r: GitlabRouting = serde_json::from_slice(body).map_err(err)?;
            let attributes = r.object_attributes;
            // Notes on merge requests may be diff notes, which nudge the refinery:
            // only notes on issues are nothing but their text.
            let note_hook = matches!(event, "Note Hook" | "Confidential Note Hook");
            let comment = attributes.as_ref().and_then(|a| {
                let on_issue = a.noteable_type.as_deref() == Some("Issue");
                (note_hook && on_issue).then(|| a.note.as_deref().unwrap_or_default().to_owned())
            });
            let (repo_path, web_host) = match r.project {
                Some(p) => (
                    Some(p.path_with_namespace.into_owned()),
                    p.web_url.as_deref().and_then(url_host),
                ),
                None => (None, None),
            };
            Ok(Route {
                repo_path,
                web_host,
                action: attributes.and_then(|a| a.action).map(Cow::into_owned),
                comment,
            })
        }
    }
}

/// GitHub can be configured to send `application/x-www-form-urlencoded` bodies with the
/// JSON in a `payload` field. The signature covers the raw (encoded) body, so verify
/// first, then call this to get the JSON.
pub fn github_payload_bytes<'a>(
    content_type: Option<&str>,
    body: &'a [u8],
) -> Result<Cow<'a, [u8]>, RouteError> {
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Ok(Cow::Borrowed(body));
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| Cow::Owned(v.into_owned().into_bytes()))
        .ok_or(RouteError::NoFormPayload)
}

/// `https://github.example.com:8443/a/b` → `github.example.com:8443`.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_route_picks_repository_and_action() {
        let body = br#"{"action":"labeled","issue":{"title":"x \" y"},"repository":{"full_name":"o/r","html_url":"https://github.com/o/r"}}"#;
        let r = route(ForgeKind::GitHub, "issues", body).unwrap();
        assert_eq!(r.repo_path.as_deref(), Some("o/r"));
        assert_eq!(r.web_host.as_deref(), Some("github.com"));
        assert_eq!(r.action.as_deref(), Some("labeled"));
        assert_eq!(r.comment, None);
    }

    #[test]
    fn only_an_issue_comment_s_text_is_picked_out() {
        let body = br#"{"action":"created","comment":{"body":"hi \"@gt\""},"repository":{"full_name":"o/r"}}"#;
        let r = route(ForgeKind::GitHub, "issue_comment", body).unwrap();
        assert_eq!(r.comment.as_deref(), Some("hi \"@gt\""));
        // A review comment nudges the refinery whatever it says.
        let r = route(ForgeKind::GitHub, "pull_request_review_comment", body).unwrap();
        assert_eq!(r.comment, None);
        let no_comment = br#"{"action":"created","repository":{"full_name":"o/r"}}"#;
        let r = route(ForgeKind::GitHub, "issue_comment", no_comment).unwrap();
        assert_eq!(r.comment, None);
    }

    #[test]
    fn only_a_gitlab_note_on_an_issue_is_picked_out() {
        let note = |on: &str| {
            format!(
                r#"{{"object_kind":"note","object_attributes":{{"noteable_type":"{on}","note":"/gt stop"}}}}"#
            )
        };
        let r = route(ForgeKind::GitLab, "Note Hook", note("Issue").as_bytes()).unwrap();
        assert_eq!(r.comment.as_deref(), Some("/gt stop"));
        let r = route(
            ForgeKind::GitLab,
            "Note Hook",
            note("MergeRequest").as_bytes(),
        )
        .unwrap();
        assert_eq!(r.comment, None);
        let r = route(ForgeKind::GitLab, "Issue Hook", note("Issue").as_bytes()).unwrap();
        assert_eq!(r.comment, None);
    }

    #[test]
    fn gitlab_route_picks_project_path() {
        let body = br#"{"object_kind":"issue","project":{"path_with_namespace":"g/s/p","web_url":"https://gl.example.com/g/s/p"},"object_attributes":{"action":"update"}}"#;
        let r = route(ForgeKind::GitLab, "Issue Hook", body).unwrap();
        assert_eq!(r.repo_path.as_deref(), Some("g/s/p"));
        assert_eq!(r.web_host.as_deref(), Some("gl.example.com"));
        assert_eq!(r.action.as_deref(), Some("update"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(route(ForgeKind::GitHub, "issues", b"{\"action\":").is_err());
        assert!(route(ForgeKind::GitLab, "Issue Hook", b"[1,2]").is_err());
    }

    #[test]
    fn form_encoded_payload_is_unwrapped() {
        let body = b"payload=%7B%22zen%22%3A%22a+b%22%7D";
        let json = github_payload_bytes(Some("application/x-www-form-urlencoded"), body).unwrap();
        assert_eq!(&*json, br#"{"zen":"a b"}"#);
        assert_eq!(
            &*github_payload_bytes(Some("application/json"), b"{}").unwrap(),
            b"{}"
        );
    }

    #[test]
    fn url_host_handles_ports_and_userinfo() {
        assert_eq!(url_host("https://a.b:8443/x").as_deref(), Some("a.b:8443"));
        assert_eq!(url_host("http://u:p@H.com").as_deref(), Some("h.com"));
        assert_eq!(url_host("nope"), None);
    }
}
