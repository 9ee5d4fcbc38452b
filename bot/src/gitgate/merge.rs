//! The bot merges a molecule's branches: convoy legs, each worked by a polecat of its
//! own on `gt/<task>-<leg>`, are merged into the molecule's branch before its own
//! polecat goes on. The merge is computed in the mirror with plumbing (`merge-tree
//! --write-tree`, `commit-tree`: no work tree, nothing checked out) and put on the
//! forge like a landing, fast-forward only.

use super::{GateError, GitGateway, Landed, RigTarget, is_sha, mirror};

/// What became of a merge of branches into another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The branch now holds every source, at this commit.
    Pushed(String),
    /// This source does not merge cleanly onto what came before it.
    Conflict(String),
    /// The branch moved on the forge meanwhile: try again.
    Moved,
}

impl GitGateway {
    /// Merge each of `sources` (branch names, in order) into `into`, which starts from
    /// `base` when it does not exist yet.
    pub async fn merge_into(
        &self,
        rig: &RigTarget,
        into: &str,
        base: &str,
        sources: &[String],
    ) -> Result<Merged, GateError> {
        let mut names: Vec<&str> = vec![into, base];
        names.extend(sources.iter().map(String::as_str));
        let heads = self.branch_heads(rig, &names).await?;
        let Some(mut at) = heads[0].clone().or_else(|| heads[1].clone()) else {
            return Err(GateError::Git {
                rig: rig.rig_id.clone(),
                op: "merge",
                message: format!("neither {into} nor {base} is on the forge"),
            });
        };
        let dir = self.mirror_dir(rig)?;
        let id = &rig.rig_id;
        let identity = [
            ("GIT_AUTHOR_NAME", "Gastown"),
            ("GIT_AUTHOR_EMAIL", "gastown@localhost"),
            ("GIT_COMMITTER_NAME", "Gastown"),
            ("GIT_COMMITTER_EMAIL", "gastown@localhost"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        for (source, head) in sources.iter().zip(&heads[2..]) {
            let Some(head) = head.as_deref().filter(|h| is_sha(h)) else {
                return Ok(Merged::Conflict(source.clone()));
            };
            if self.is_ancestor(rig, head, &at).await? {
                continue;
            }
            let args = ["merge-tree", "--write-tree", "--no-messages", &at, head];
            let tree = match mirror::git(id, "merge-tree", &dir, &args, &[]).await {
                Ok(out) => out.lines().next().unwrap_or_default().trim().to_string(),
                Err(_) => return Ok(Merged::Conflict(source.clone())),
            };
            let message = format!("Merge {source} into {into}");
            let args = ["commit-tree", &tree, "-p", &at, "-p", head, "-m", &message];
            at = mirror::git(id, "commit-tree", &dir, &args, &identity)
                .await?
                .trim()
                .to_string();
        }
        Ok(match self.land(rig, &at, into).await? {
            Landed::Pushed => Merged::Pushed(at),
            Landed::TargetMoved => Merged::Moved,
        })
    }
}
