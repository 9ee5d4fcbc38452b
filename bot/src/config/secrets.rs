//! The bot's own secret values, as the redactor must know them: everything the
//! configuration points at.

use crate::redact::{Redactor, secret_name};

/// Every secret value the configuration points at, read with `env` (the process
/// environment in `gt serve`): the forge tokens, the webhook secrets, the review
/// model's key, the GitHub App's private key (the file the variable names), and
/// the values of agent-runtime variables whose names say they are secrets.
pub fn redactor(config: &super::Config, env: &dyn Fn(&str) -> Option<String>) -> Redactor {
    let s = &config.secrets;
    let mut values: Vec<String> = Vec::new();
    values.extend(s.github_webhook.iter().cloned());
    values.extend(s.gitlab_webhook.iter().cloned());
    values.extend(s.llm_api_key.iter().cloned());
    for var in [&config.github.token_env, &config.gitlab.token_env] {
        values.extend(env(var));
    }
    if let Some(path) = env(&config.github.app_private_key_file_env)
        && let Ok(pem) = std::fs::read_to_string(path.trim())
    {
        values.push(pem);
    }
    for runtime in config.runtimes.values() {
        values.extend(
            runtime
                .env
                .iter()
                .filter(|(k, _)| secret_name(k))
                .map(|(_, v)| v.clone()),
        );
    }
    Redactor::new(values)
}
