//! The HTTP face of the gateway: `/git/<forge>/<host>/<path>.git/<service>`, agent
//! authentication, and the three smart-HTTP requests handed to `git http-backend`.
//!
//! Answers: no or a dead token → 401 (with the `WWW-Authenticate` git needs to retry
//! with credentials), a rig the bot does not serve → 404, another rig's token → 403.
//! Fetches stream; a push is answered once git and its hook are done (see
//! [`super::hook`]: the hook has already put accepted branches on the forge).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use git_http::CgiRequest;
use tracing::Instrument as _;

use super::{AgentGrant, GateError, GitGateway, PushedBranch, RigTarget, hook, mirror};

/// The gateway's routes, with the gateway as their state; merge into the bot's router.
pub fn router(gateway: Arc<GitGateway>) -> Router {
    Router::new()
        .route("/git/{*path}", get(handle).post(handle))
        .with_state(gateway)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Upload,
    Receive,
}

/// One parsed gateway URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    forge: String,
    host: String,
    repo: String,
    /// What follows `.git/`: `info/refs`, `git-upload-pack` or `git-receive-pack`.
    rest: &'static str,
    service: Service,
    /// `info/refs` (the ref advertisement) rather than the exchange itself.
    advertise: bool,
}

/// Why a URL is not a gateway request: the status and a line for the client.
type Refusal = (StatusCode, &'static str);

fn parse(path: &str, method: &Method, query: Option<&str>) -> Result<Target, Refusal> {
    let not_found = || (StatusCode::NOT_FOUND, "not a gateway repository\n");
    let (repo_part, rest) = path.rsplit_once(".git/").ok_or_else(not_found)?;
    let (rest, service, advertise, want) = match rest {
        "info/refs" => {
            let service = query
                .unwrap_or_default()
                .split('&')
                .find_map(|kv| kv.strip_prefix("service="));
            let service = match service {
                Some("git-upload-pack") => Service::Upload,
                Some("git-receive-pack") => Service::Receive,
                _ => {
                    return Err((
                        StatusCode::FORBIDDEN,
                        "only git's smart HTTP protocol is served\n",
                    ));
                }
            };
            ("info/refs", service, true, Method::GET)
        }
        "git-upload-pack" => ("git-upload-pack", Service::Upload, false, Method::POST),
        "git-receive-pack" => ("git-receive-pack", Service::Receive, false, Method::POST),
        _ => return Err(not_found()),
    };
    if *method != want {
        return Err((StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"));
    }
    let mut parts = repo_part.splitn(3, '/');
    let (Some(forge), Some(host), Some(repo)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(not_found());
    };
    if forge.is_empty() || host.is_empty() || repo.is_empty() {
        return Err(not_found());
    }
    Ok(Target {
        forge: forge.to_owned(),
        host: host.to_owned(),
        repo: repo.to_owned(),
        rest,
        service,
        advertise,
    })
}

/// The agent token: the password of HTTP Basic (any user name), or a bearer token.
fn token_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        password.to_owned()
    } else {
        return None;
    };
    (!token.is_empty()).then_some(token)
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "an agent token is required\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"gastown\""),
    );
    r
}

fn bad_gateway(e: &GateError) -> Response {
    tracing::error!(error = %e, "git gateway");
    (StatusCode::BAD_GATEWAY, format!("gastown: {e}\n")).into_response()
}

async fn handle(
    State(gw): State<Arc<GitGateway>>,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    let target = match parse(&path, req.method(), req.uri().query()) {
        Ok(t) => t,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(token) = token_of(req.headers()) else {
        return unauthorized();
    };
    let Some(grant) = gw.auth.agent_for_token(&token).await else {
        return unauthorized();
    };
    let Some(rig) = gw.rigs.rig(&target.forge, &target.host, &target.repo).await else {
        return (StatusCode::NOT_FOUND, "no such rig\n").into_response();
    };
    if grant.rig_id != rig.rig_id {
        tracing::warn!(agent = %grant.agent_id, agent_rig = %grant.rig_id, rig = %rig.rig_id,
            "agent token used on another rig");
        return (
            StatusCode::FORBIDDEN,
            format!(
                "agent {} belongs to another rig than {}\n",
                grant.agent_id, rig.rig_id
            ),
        )
            .into_response();
    }
    let span = tracing::info_span!(
        "git_gateway",
        rig = %rig.rig_id,
        agent = %grant.agent_id,
        bead = grant.bead_id.as_deref().unwrap_or(""),
        service = target.rest,
    );
    gw.serve(target, rig, grant, req).instrument(span).await
}

impl GitGateway {
    async fn serve(
        &self,
        target: Target,
        rig: RigTarget,
        grant: AgentGrant,
        req: Request,
    ) -> Response {
        let rel = match Self::relative_dir(&rig) {
            Ok(rel) => rel,
            Err(e) => return bad_gateway(&e),
        };
        let cgi = |env| CgiRequest {
            project_root: self.project_root(),
            path_info: format!("/{rel}/{}", target.rest),
            remote_user: grant.agent_id.clone(),
            env,
            max_body: self.config.max_push_bytes,
        };
        if target.service == Service::Receive && !target.advertise {
            return self.receive(&rig, &grant, cgi, req).await;
        }
        // A fetch sees the forge as of a moment ago; a push only needs the mirror to
        // exist (its hook pushes on to the forge whatever the mirror holds).
        let max_age = match target.service {
            Service::Upload => self.config.sync_interval,
            Service::Receive => std::time::Duration::MAX,
        };
        if let Err(e) = self.sync_if_older(&rig, max_age).await {
            return bad_gateway(&e);
        }
        git_http::serve(cgi(Vec::new()), req)
            .await
            .unwrap_or_else(|e| e.into_response())
    }

    /// A push: under the mirror's lock, run `git-receive-pack` (whose hook decides and
    /// forwards to the forge), then report every `gt/` branch that moved.
    async fn receive(
        &self,
        rig: &RigTarget,
        grant: &AgentGrant,
        cgi: impl FnOnce(Vec<(String, String)>) -> CgiRequest,
        req: Request,
    ) -> Response {
        let dir = match self.mirror_dir(rig) {
            Ok(d) => d,
            Err(e) => return bad_gateway(&e),
        };
        let lock = self.lock_of(&dir);
        let mut state = lock.lock().await;
        let ready = if dir.join("HEAD").is_file() {
            mirror::ensure(&rig.rig_id, &dir).await.map(|_| ())
        } else {
            self.sync_locked(rig, &dir, &mut state).await
        };
        if let Err(e) = ready {
            return bad_gateway(&e);
        }
        let scope = grant.branch_bead.as_deref().filter(|b| hook::valid_bead(b));
        let bead = grant.bead_id.as_deref().filter(|_| scope.is_some());
        if scope.is_none() && grant.branch_bead.is_some() {
            tracing::warn!("the agent's bead id cannot name a branch; refusing its pushes");
        }
        // Only an agent that may push gets the forge's credentials into its hook.
        let remote = match bead {
            Some(_) => match self.remote(rig).await {
                Ok(r) => Some(r),
                Err(e) => return bad_gateway(&e),
            },
            None => None,
        };
        let before = match mirror::branches(&rig.rig_id, &dir).await {
            Ok(b) => b,
            Err(e) => return bad_gateway(&e),
        };
        let mut env = hook::push_env(scope, remote.as_ref());
        env.extend(self.protected_rule(rig, &dir).await);
        let response = git_http::serve_to_end(cgi(env), req)
            .await
            .unwrap_or_else(|e| e.into_response());
        let after = match mirror::branches(&rig.rig_id, &dir).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "reading the mirror after a push");
                return response;
            }
        };
        // A branch that moved here is on the forge: the hook put it there first.
        let Some(bead) = bead else {
            return response;
        };
        for (name, sha) in after {
            let Some(branch) = name.strip_prefix("refs/heads/") else {
                continue;
            };
            if !branch.starts_with("gt/") || before.get(&name) == Some(&sha) {
                continue;
            }
            tracing::info!(branch, sha = %sha, "agent branch pushed to the forge");
            let pushed = PushedBranch {
                rig_id: rig.rig_id.clone(),
                agent_id: grant.agent_id.clone(),
                bead_id: bead.to_owned(),
                branch: branch.to_owned(),
                sha,
            };
            self.pushed.pushed(pushed).await;
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_paths() {
        let t = parse(
            "gitlab/gl.example:8080/g/sub/p.git/info/refs",
            &Method::GET,
            Some("service=git-receive-pack"),
        )
        .unwrap();
        assert_eq!(
            (t.forge.as_str(), t.host.as_str(), t.repo.as_str()),
            ("gitlab", "gl.example:8080", "g/sub/p")
        );
        assert_eq!((t.service, t.advertise), (Service::Receive, true));
        let t = parse("github/h/o/r.git/git-upload-pack", &Method::POST, None).unwrap();
        assert_eq!(
            (t.service, t.advertise, t.rest),
            (Service::Upload, false, "git-upload-pack")
        );
        let status = |p: &str, m: Method, q: Option<&str>| parse(p, &m, q).unwrap_err().0;
        assert_eq!(
            status("github/h/o/r.git/info/refs", Method::GET, None),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status("github/h/o/r.git/git-upload-pack", Method::GET, None),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            status(
                "github/h.git/info/refs",
                Method::GET,
                Some("service=git-upload-pack")
            ),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status("github/h/o/r.git/objects/ab", Method::GET, None),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn tokens_from_basic_or_bearer() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            m
        };
        let basic = base64::engine::general_purpose::STANDARD.encode("x:tok-1");
        assert_eq!(
            token_of(&h(&format!("Basic {basic}"))).as_deref(),
            Some("tok-1")
        );
        assert_eq!(token_of(&h("Bearer tok-2")).as_deref(), Some("tok-2"));
        let empty = base64::engine::general_purpose::STANDARD.encode("x:");
        assert_eq!(token_of(&h(&format!("Basic {empty}"))), None);
        assert_eq!(token_of(&h("Token abc")), None);
        assert_eq!(token_of(&HeaderMap::new()), None);
    }
}
