//! Each rig's `.gastown.yaml`, read from its base branch and kept for a minute: the
//! refinery lands by it, the dispatcher caps a rig's polecats by it, and the worker
//! and catch-up know the rig's sling label from it. A copy is kept per rig and branch,
//! each branch's own file; a push to a branch forgets that branch's copy, so a change
//! is seen at once.
//!
//! One reader for all of them, so they never disagree about the file: a broken file
//! is the refinery's to report (nothing lands); everyone else uses the town's
//! defaults meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::config::repo::{self, RepoConfig};
use crate::forge::{Forge, ForgeError, RepoPath};

/// How long a read copy is used before the file is read again.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// The file as last read: its settings, or what is wrong with it.
pub type Read = Result<Arc<RepoConfig>, String>;

/// rig → branch → the file there as last read, and when.
type Cache = HashMap<String, HashMap<String, (Read, Instant)>>;

#[derive(Clone, Default)]
pub struct RepoSettings {
    cache: Arc<Mutex<Cache>>,
}

impl RepoSettings {
    /// The rig's `.gastown.yaml` at `branch`: defaults when there is none. `Err` only
    /// when the forge could not be asked.
    pub async fn read(
        &self,
        rig_id: &str,
        forge: &dyn Forge,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Read, ForgeError> {
        if let Some((read, at)) = self
            .cache
            .lock()
            .expect("settings lock")
            .get(rig_id)
            .and_then(|branches| branches.get(branch))
            && at.elapsed() < FRESH_FOR
        {
            return Ok(read.clone());
        }
        let read: Read = match forge.file(repo, repo::FILE, branch).await? {
            None => Ok(Arc::new(RepoConfig::default())),
            Some(bytes) => {
                let at = format!("{}@{branch}", repo::FILE);
                repo::parse(&String::from_utf8_lossy(&bytes), &at)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            }
        };
        self.cache
            .lock()
            .expect("settings lock")
            .entry(rig_id.to_string())
            .or_default()
            .insert(branch.to_string(), (read.clone(), Instant::now()));
        Ok(read)
    }

    /// The settings to act by outside the refinery: the file's when it reads, else
    /// the defaults (the refinery says what is wrong); the defaults too when the forge
    /// cannot be asked.
    pub async fn or_defaults(
        &self,
        rig_id: &str,
        forge: &dyn Forge,
        repo: &RepoPath,
        branch: &str,
    ) -> Arc<RepoConfig> {
        match self.read(rig_id, forge, repo, branch).await {
            Ok(Ok(c)) => c,
            Ok(Err(_)) => Arc::new(RepoConfig::default()),
            Err(e) => {
                tracing::warn!(rig = rig_id, error = %e, "cannot read .gastown.yaml; using the town's settings");
                Arc::new(RepoConfig::default())
            }
        }
    }

    /// The label that slings work in a rig: the one its `.gastown.yaml` on the base
    /// branch names, else the server's `labels.sling` (also when there is no `forge`
    /// to read the file from).
    pub async fn sling_label(
        &self,
        config: &Config,
        rig_id: &str,
        forge: Option<&dyn Forge>,
        repo: &RepoPath,
    ) -> String {
        let own = match forge {
            Some(forge) => {
                let base = &config.polecats.base_branch;
                let file = self.or_defaults(rig_id, forge, repo, base).await;
                file.labels.sling.clone()
            }
            None => None,
        };
        own.unwrap_or_else(|| config.labels.sling.clone())
    }

    /// A push to `branch` may have changed the file there: read it again next time.
    /// The copies of the rig's other branches stay.
    pub fn forget(&self, rig_id: &str, branch: &str) {
        let mut cache = self.cache.lock().expect("settings lock");
        if let Some(branches) = cache.get_mut(rig_id) {
            branches.remove(branch);
            if branches.is_empty() {
                cache.remove(rig_id);
            }
        }
    }
}
