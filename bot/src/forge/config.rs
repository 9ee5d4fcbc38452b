//! How a server turns its forge settings into a [`Forge`]. The server configuration
//! (owned by `bot/src/config/`) fills a [`ForgeConfig`] and calls [`build_forge`];
//! secrets are read from the environment variables the configuration names, never from
//! the file itself.

use std::sync::Arc;
use std::time::Duration;

use webhooks::ForgeKind;

use super::github::{GithubAuth, GithubForge};
use super::gitlab::GitlabForge;
use super::resilience::{Policy, RetrySettings, Secret};
use super::{Forge, ForgeError};

/// One forge the server talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeConfig {
    pub kind: ForgeKind,
    /// Web host rigs are named by: `github.com`, `gitlab.example.com`.
    pub host: String,
    /// REST base URL. `None` means the public default: `https://api.github.com` for
    /// github.com, `https://{host}/api/v3` for GitHub Enterprise, `https://{host}/api/v4`
    /// for GitLab. Tests and `gt demo` point it at the simulator.
    pub api_base: Option<String>,
    /// Variable holding a token (GitHub PAT / fine-grained token; GitLab personal,
    /// project or group access token).
    pub token_env: Option<String>,
    /// GitHub App: variable holding the numeric app id. Used when set and
    /// `private_key_file_env` is set too; wins over the token.
    pub app_id_env: Option<String>,
    /// GitHub App: variable holding the path of the app's private key (PEM).
    pub private_key_file_env: Option<String>,
    /// Retry and rate-limit budget; `None` uses [`RetrySettings::default`].
    pub retry: Option<RetrySettings>,
}

impl ForgeConfig {
    /// A config with defaults for `kind` on `host`, reading the token from `token_env`.
    pub fn new(kind: ForgeKind, host: impl Into<String>, token_env: impl Into<String>) -> Self {
        Self {
            kind,
            host: host.into(),
            api_base: None,
            token_env: Some(token_env.into()),
            app_id_env: None,
            private_key_file_env: None,
            retry: None,
        }
    }

    /// The REST base URL, defaulted as documented on [`ForgeConfig::api_base`].
    pub fn api_base_url(&self) -> String {
        match &self.api_base {
            Some(b) => b.clone(),
            None => default_api_url(self.kind, &self.host),
        }
    }
}

pub use crate::config::default_api_url;

/// Build the forge client `cfg` describes, looking variables up with `env` (pass
/// `|k| std::env::var(k).ok()` in production). Call it inside the tokio runtime:
/// octocrab spawns its request buffer task when the client is built.
pub fn build_forge(
    cfg: &ForgeConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Forge>, ForgeError> {
    build_forge_with_policy(cfg, env, Policy::new(cfg.retry.clone().unwrap_or_default()))
}

/// [`build_forge`] with an explicit [`Policy`] (tests inject time through it).
pub fn build_forge_with_policy(
    cfg: &ForgeConfig,
    env: &dyn Fn(&str) -> Option<String>,
    policy: Policy,
) -> Result<Arc<dyn Forge>, ForgeError> {
    let kind = cfg.kind.as_str();
    let var = |name: &Option<String>, what: &str| -> Result<Option<String>, ForgeError> {
        match name {
            None => Ok(None),
            Some(n) => env(n)
                .filter(|v| !v.trim().is_empty())
                .map(|v| Some(v.trim().to_owned()))
                .ok_or_else(|| {
                    ForgeError::Config(format!(
                        "{kind} {}: {what} variable `{n}` is not set",
                        cfg.host
                    ))
                }),
        }
    };
    let api_base = cfg.api_base_url();
    match cfg.kind {
        ForgeKind::GitHub => {
            let auth = match (&cfg.app_id_env, &cfg.private_key_file_env) {
                (Some(_), Some(_)) => {
                    let id = var(&cfg.app_id_env, "GitHub App id")?.unwrap_or_default();
                    let app_id: u64 = id.parse().map_err(|_| {
                        ForgeError::Config(format!(
                            "github {}: app id `{id}` is not a number",
                            cfg.host
                        ))
                    })?;
                    let path = var(&cfg.private_key_file_env, "GitHub App private key file")?
                        .unwrap_or_default();
                    let pem = std::fs::read_to_string(&path).map_err(|e| {
                        ForgeError::Config(format!(
                            "github {}: reading the app private key {path}: {e}",
                            cfg.host
                        ))
                    })?;
                    GithubAuth::App {
                        app_id,
                        private_key_pem: Secret::new(pem),
                    }
                }
                (None, None) => GithubAuth::Token(Secret::new(
                    var(&cfg.token_env, "token")?.ok_or_else(|| {
                        ForgeError::Config(format!(
                            "github {}: set a token or a GitHub App",
                            cfg.host
                        ))
                    })?,
                )),
                _ => {
                    return Err(ForgeError::Config(format!(
                        "github {}: a GitHub App needs both the app id and the private key file",
                        cfg.host
                    )));
                }
            };
            Ok(Arc::new(GithubForge::new(
                &api_base,
                cfg.host.clone(),
                auth,
                policy,
            )?))
        }
        ForgeKind::GitLab => {
            let token = var(&cfg.token_env, "token")?.ok_or_else(|| {
                ForgeError::Config(format!("gitlab {}: a token variable is required", cfg.host))
            })?;
            Ok(Arc::new(GitlabForge::new(
                &api_base,
                cfg.host.clone(),
                Secret::new(token),
                policy,
            )?))
        }
    }
}

/// Settings from the two numbers a server configuration exposes (attempts, and the
/// longest a call may wait in seconds); the rest keep their defaults.
pub fn retry_settings(max_attempts: u32, max_wait_secs: u64) -> RetrySettings {
    RetrySettings {
        max_attempts,
        max_wait: Duration::from_secs(max_wait_secs),
        ..RetrySettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn defaults_and_errors() {
        let mut c = ForgeConfig::new(ForgeKind::GitHub, "github.com", "GT_GH_TOKEN");
        assert_eq!(c.api_base_url(), "https://api.github.com");
        c.host = "ghe.example.com".into();
        assert_eq!(c.api_base_url(), "https://ghe.example.com/api/v3");
        let none = |_: &str| None;
        let err = build_forge(&c, &none).err().expect("missing token");
        assert!(err.to_string().contains("GT_GH_TOKEN"), "{err}");
        let ok = build_forge(&c, &|_| Some("tok".into())).expect("token");
        assert_eq!(ok.host(), "ghe.example.com");
        let gl = ForgeConfig::new(ForgeKind::GitLab, "gitlab.example.com", "GT_GL_TOKEN");
        assert_eq!(gl.api_base_url(), "https://gitlab.example.com/api/v4");
        assert_eq!(
            build_forge(&gl, &|_| Some("t".into())).unwrap().kind(),
            ForgeKind::GitLab
        );
        c.app_id_env = Some("APP".into());
        assert!(build_forge(&c, &|_| Some("1".into())).is_err());
    }
}
