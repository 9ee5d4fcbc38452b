//! GitLab issues and notes: open, edit (title, description, `state_event`, labels) and
//! comment. A label change also writes GitLab's system note ("added ~12 label"), which
//! the notes API lists with `system: true` and which no hook announces.

use serde_json::{Map, Value, json};

use super::{project_mut, project_of};
use crate::Sim;
use crate::error::SimError;
use crate::gitlab::events::{self, Noteable};
use crate::gitlab::render::{hook_labels, hook_time};
use crate::ops::{IssuePatch, now};
use crate::world::{Comment, IssueState};

/// An issue edit as `PUT /projects/:id/issues/:iid` takes it.
#[derive(Debug, Default, Clone)]
pub struct GlIssueEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `close` or `reopen`.
    pub state: Option<IssueState>,
    /// Replace all labels.
    pub labels: Option<Vec<String>>,
    pub add_labels: Vec<String>,
    pub remove_labels: Vec<String>,
}

impl Sim {
    /// Open an issue; returns its iid. Labels need reporter access (dropped otherwise).
    pub fn gl_open_issue(
        &self,
        actor: u64,
        path: &str,
        title: &str,
        description: Option<&str>,
        labels: &[String],
    ) -> Result<u64, SimError> {
        project_of(&self.world(), path)?;
        let number = self.open_issue(actor, path, title, description, labels)?;
        let mut world = self.world();
        let gl = project_mut(&mut world, path)?;
        let iid = gl.issues.keys().next_back().copied().unwrap_or(0) + 1;
        gl.issues.insert(iid, number);
        let Some(at) = self.at_gitlab(&world, path) else {
            return Ok(iid);
        };
        let issue = &at.repo.issues[&number];
        let changes = json!({
            "labels": {"previous": [], "current": hook_labels(at.repo, &issue.labels)},
            "author_id": {"previous": null, "current": actor},
            "created_at": {"previous": null, "current": hook_time(issue.created_at)},
            "description": {"previous": null, "current": issue.body},
            "id": {"previous": null, "current": issue.id},
            "iid": {"previous": null, "current": iid},
            "project_id": {"previous": null, "current": at.repo.id},
            "title": {"previous": null, "current": issue.title},
            "updated_at": {"previous": null, "current": hook_time(issue.updated_at)},
        });
        let payload = events::issue(at, iid, issue, "open", actor, changes);
        self.emit_gitlab(&world, path, "Issue Hook", payload);
        Ok(iid)
    }

    /// Edit an issue; sends one `Issue Hook` (`close`, `reopen` or `update`) listing
    /// every change, or none when nothing changed.
    pub fn gl_edit_issue(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        edit: GlIssueEdit,
    ) -> Result<(), SimError> {
        let number = self.gitlab_number(path, iid, false)?;
        let before = self
            .world()
            .repo(path)
            .and_then(|r| r.issues.get(&number).cloned())
            .ok_or(SimError::NoIssue(iid))?;
        self.edit_issue(
            actor,
            path,
            number,
            IssuePatch {
                title: edit.title,
                body: edit.description,
                state: edit.state,
                labels: None,
            },
        )?;
        let mut wanted = edit.labels.unwrap_or_else(|| before.labels.clone());
        wanted.extend(edit.add_labels);
        wanted.retain(|l| !edit.remove_labels.iter().any(|r| r.eq_ignore_ascii_case(l)));
        let current = self.labels_on(path, number)?;
        for gone in current
            .iter()
            .filter(|c| !wanted.iter().any(|w| w.eq_ignore_ascii_case(c)))
        {
            self.remove_label(actor, path, number, gone)?;
        }
        let added: Vec<String> = wanted
            .iter()
            .filter(|w| !current.iter().any(|c| c.eq_ignore_ascii_case(w)))
            .cloned()
            .collect();
        if !added.is_empty() {
            self.add_labels(actor, path, number, &added)?;
        }
        self.gl_issue_changed(actor, path, iid, number, &before);
        Ok(())
    }

    /// Write the system notes and send the hook for what changed since `before`.
    fn gl_issue_changed(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        number: u64,
        before: &crate::world::Issue,
    ) {
        let mut world = self.world();
        let Some(after) = world
            .repo(path)
            .and_then(|r| r.issues.get(&number).cloned())
        else {
            return;
        };
        let mut changes = Map::new();
        if after.labels != before.labels {
            self.label_notes(
                &mut world,
                path,
                number,
                actor,
                &before.labels,
                &after.labels,
            );
            let r = world.repo(path).expect("checked above");
            changes.insert(
                "labels".into(),
                json!({"previous": hook_labels(r, &before.labels), "current": hook_labels(r, &after.labels)}),
            );
        }
        if after.title != before.title {
            changes.insert(
                "title".into(),
                json!({"previous": before.title, "current": after.title}),
            );
        }
        if after.body != before.body {
            changes.insert(
                "description".into(),
                json!({"previous": before.body, "current": after.body}),
            );
        }
        let action = match (before.state, after.state) {
            (IssueState::Open, IssueState::Closed) => "close",
            (IssueState::Closed, IssueState::Open) => "reopen",
            _ if changes.is_empty() => return,
            _ => "update",
        };
        if action != "update" {
            let id = |s: IssueState| if s == IssueState::Open { 1 } else { 2 };
            changes.insert(
                "state_id".into(),
                json!({"previous": id(before.state), "current": id(after.state)}),
            );
            changes.insert(
                "closed_at".into(),
                json!({"previous": before.closed_at.map(hook_time), "current": after.closed_at.map(hook_time)}),
            );
        }
        changes.insert(
            "updated_at".into(),
            json!({"previous": hook_time(before.updated_at), "current": hook_time(after.updated_at)}),
        );
        changes.insert(
            "updated_by_id".into(),
            json!({"previous": null, "current": actor}),
        );
        let Some(at) = self.at_gitlab(&world, path) else {
            return;
        };
        let payload = events::issue(at, iid, &after, action, actor, Value::Object(changes));
        self.emit_gitlab(&world, path, "Issue Hook", payload);
    }

    /// Write a system note (GitLab's own record of an act) on world number `number`.
    pub(crate) fn system_note(&self, path: &str, number: u64, actor: u64, body: &str) {
        let mut world = self.world();
        let id = world.next_id();
        let t = now();
        if let Ok(gl) = project_mut(&mut world, path) {
            gl.system_notes.entry(number).or_default().push(Comment {
                id,
                author: actor,
                body: body.to_owned(),
                created_at: t,
                updated_at: t,
            });
        }
    }

    /// GitLab's "added ~1 ~2 labels and removed ~3 label" system note.
    pub(crate) fn label_notes(
        &self,
        world: &mut crate::world::World,
        path: &str,
        number: u64,
        actor: u64,
        before: &[String],
        after: &[String],
    ) {
        let Some(r) = world.repo(path) else { return };
        let refs = |names: Vec<&String>| -> Vec<String> {
            names
                .into_iter()
                .map(|n| {
                    r.label(n)
                        .map_or(format!("~\"{n}\""), |l| format!("~{}", l.id))
                })
                .collect()
        };
        let added = refs(after.iter().filter(|a| !before.contains(a)).collect());
        let removed = refs(before.iter().filter(|b| !after.contains(b)).collect());
        let part = |verb: &str, l: &[String]| {
            let noun = if l.len() == 1 { "label" } else { "labels" };
            format!("{verb} {} {noun}", l.join(" "))
        };
        let body = match (added.is_empty(), removed.is_empty()) {
            (false, true) => part("added", &added),
            (true, false) => part("removed", &removed),
            (false, false) => format!(
                "{} and {}",
                part("added", &added),
                part("removed", &removed)
            ),
            (true, true) => return,
        };
        let id = world.next_id();
        let t = now();
        if let Ok(gl) = project_mut(world, path) {
            gl.system_notes.entry(number).or_default().push(Comment {
                id,
                author: actor,
                body,
                created_at: t,
                updated_at: t,
            });
        }
    }

    /// Comment on issue (or, when `mr`, merge request) `iid`; returns the note id.
    pub fn gl_note(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        mr: bool,
        body: &str,
    ) -> Result<u64, SimError> {
        let number = self.gitlab_number(path, iid, mr)?;
        let id = self.comment(actor, path, number, body)?;
        self.gl_note_event(path, iid, mr, number, id, "create");
        Ok(id)
    }

    /// Edit a note (its author, or someone with reporter access).
    pub fn gl_edit_note(
        &self,
        actor: u64,
        path: &str,
        iid: u64,
        mr: bool,
        note: u64,
        body: &str,
    ) -> Result<(), SimError> {
        let number = self.gitlab_number(path, iid, mr)?;
        let on = self
            .world()
            .repo(path)
            .and_then(|r| r.issues.get(&number))
            .is_some_and(|i| i.comments.iter().any(|c| c.id == note));
        if !on {
            return Err(SimError::NotFound(format!("note {note}")));
        }
        self.edit_comment(actor, path, note, body)?;
        self.gl_note_event(path, iid, mr, number, note, "update");
        Ok(())
    }

    fn gl_note_event(&self, path: &str, iid: u64, mr: bool, number: u64, id: u64, action: &str) {
        let world = self.world();
        let Some(at) = self.at_gitlab(&world, path) else {
            return;
        };
        let Some(issue) = at.repo.issues.get(&number) else {
            return;
        };
        let Some(c) = issue.comments.iter().find(|c| c.id == id) else {
            return;
        };
        let on = match at.repo.pulls.get(&number) {
            Some(pr) if mr => Noteable::MergeRequest(iid, issue, pr, None),
            _ => Noteable::Issue(iid, issue),
        };
        let payload = events::note(at, on, c, None, action);
        self.emit_gitlab(&world, path, "Note Hook", payload);
    }
}
