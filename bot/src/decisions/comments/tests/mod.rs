//! Every text in `comments.rs` as the forge shows it, one inline snapshot each: a
//! change of wording shows up in review as a diff of what people will read. Texts
//! that carry words decided elsewhere (the refinery's verdicts, a review's waits) are
//! snapshotted through those decisions, so their words are covered too.

use super::*;
use crate::store::BeadType;

mod commands;
mod convoy;
mod deps;
mod issue;
mod molecule;
mod patrol;
mod pull_request;
mod refinery;

fn bead(status: BeadStatus) -> Bead {
    Bead {
        id: "gt-k3x9".into(),
        bead_type: BeadType::Task,
        status,
        close_reason: None,
        title: "Fix the flux".into(),
        body: String::new(),
        priority: 2,
        town_id: Some("default".into()),
        rig_id: Some("github:octo/hello".into()),
        parent_id: None,
        hook: None,
        forge_ref: Some("github:octo/hello#12".into()),
        created_by: "mara".into(),
        created_at: 0,
        updated_at: 0,
        closed_at: None,
        metadata: serde_json::json!({ "slung_by": "mara" }),
        branch: None,
        attempts: 0,
    }
}

fn marked(kind: &str) -> String {
    marker(kind, "gt-k3x9:1")
}
