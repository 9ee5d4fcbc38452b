//! Issues, their labels and comments. On a pull request's issue the same acts send
//! `pull_request` events, as GitHub does (comments stay `issue_comment`).

use serde_json::{Value, json};

use super::{now, repo_of, require};
use crate::Sim;
use crate::error::SimError;
use crate::github::events;
use crate::world::{Comment, Issue, IssueState, Label, Permission, World};

/// Fields a PATCH of an issue may change.
#[derive(Debug, Default, Clone)]
pub struct IssuePatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<IssueState>,
    pub labels: Option<Vec<String>>,
}

/// A label by name, created with GitHub's default color when it does not exist yet
/// (adding an unknown label to an issue creates it on GitHub too).
fn ensure_label(world: &mut World, repo: &str, name: &str) -> Label {
    if let Some(l) = world.repo(repo).and_then(|r| r.label(name)) {
        return l.clone();
    }
    let id = world.next_id();
    let label = Label {
        id,
        name: name.to_owned(),
        color: "ededed".into(),
        description: None,
    };
    world
        .repo_mut(repo)
        .expect("caller checked the repo")
        .labels
        .push(label.clone());
    label
}

impl Sim {
    // The event's context is its arguments; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn issue_event(
        &self,
        world: &World,
        repo: &str,
        number: u64,
        action: &str,
        actor: u64,
        label: Option<&Label>,
        changes: Option<Value>,
    ) {
        let Some(r) = world.repo(repo) else { return };
        let Some(issue) = r.issues.get(&number) else {
            return;
        };
        let at = self.at(world, r);
        if let Some(pr) = r.pulls.get(&number) {
            let mut extra = json!({});
            if let Some(l) = label {
                extra["label"] = self.urls.label(r, l);
            }
            if let Some(c) = changes {
                extra["changes"] = c;
            }
            self.emit(
                r,
                "pull_request",
                events::pull_request(at, issue, pr, action, actor, extra),
            );
        } else {
            self.emit(
                r,
                "issues",
                events::issues(at, issue, action, actor, label, changes),
            );
        }
    }

    /// Open an issue (anyone who can read may) with initial labels; returns its number.
    pub fn open_issue(
        &self,
        actor: u64,
        repo: &str,
        title: &str,
        body: Option<&str>,
        labels: &[String],
    ) -> Result<u64, SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        // Every simulated repository is public: anyone may open an issue.
        // Only people who can triage may set labels at creation; GitHub drops them silently.
        let may_label = world.permission(r, actor) >= Permission::Triage;
        if title.trim().is_empty() {
            return Err(SimError::Invalid("title is missing".into()));
        }
        let id = world.next_id();
        let labels: Vec<Label> = if may_label {
            labels
                .iter()
                .map(|l| ensure_label(&mut world, repo, l))
                .collect()
        } else {
            Vec::new()
        };
        let r = world.repo_mut(repo).expect("checked above");
        let number = r.next_number;
        r.next_number += 1;
        let t = now();
        r.issues.insert(
            number,
            Issue {
                id,
                number,
                title: title.to_owned(),
                body: body.map(str::to_owned),
                state: IssueState::Open,
                author: actor,
                labels: labels.iter().map(|l| l.name.clone()).collect(),
                comments: Vec::new(),
                created_at: t,
                updated_at: t,
                closed_at: None,
                closed_by: None,
                is_pull: false,
                timeline: Vec::new(),
            },
        );
        // Labels given at creation are in the issue's event history too.
        for label in &labels {
            record(
                &mut world,
                repo,
                number,
                "labeled",
                actor,
                Some(&label.name),
            );
        }
        self.issue_event(&world, repo, number, "opened", actor, None, None);
        for l in &labels {
            self.issue_event(&world, repo, number, "labeled", actor, Some(l), None);
        }
        Ok(number)
    }

    /// Change an issue's title, body, state or labels. Authors may edit their own
    /// issues; anyone else needs triage.
    pub fn edit_issue(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        patch: IssuePatch,
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        let issue = r.issues.get(&number).ok_or(SimError::NoIssue(number))?;
        if issue.author != actor {
            require(&world, r, actor, Permission::Triage)?;
        }
        let t = now();
        let issue = world
            .repo_mut(repo)
            .and_then(|r| r.issues.get_mut(&number))
            .expect("checked above");
        let mut changes = serde_json::Map::new();
        if let Some(title) = patch.title.filter(|t| *t != issue.title) {
            changes.insert("title".into(), json!({"from": issue.title}));
            issue.title = title;
        }
        if let Some(body) = patch.body.filter(|b| Some(b) != issue.body.as_ref()) {
            changes.insert(
                "body".into(),
                json!({"from": issue.body.clone().unwrap_or_default()}),
            );
            issue.body = Some(body);
        }
        let state_change = patch.state.filter(|s| *s != issue.state);
        if let Some(state) = state_change {
            issue.state = state;
            issue.closed_at = (state == IssueState::Closed).then_some(t);
            issue.closed_by = (state == IssueState::Closed).then_some(actor);
        }
        issue.updated_at = t;
        // A pull request is an issue in the REST model, but GitHub reports its edits,
        // closing and reopening as `pull_request` events.
        let is_pull = world
            .repo(repo)
            .is_some_and(|r| r.pulls.contains_key(&number));
        if !changes.is_empty() {
            if is_pull {
                self.pull_event(
                    &world,
                    repo,
                    number,
                    "edited",
                    actor,
                    json!({ "changes": Value::Object(changes) }),
                );
            } else {
                self.issue_event(
                    &world,
                    repo,
                    number,
                    "edited",
                    actor,
                    None,
                    Some(Value::Object(changes)),
                );
            }
        }
        if let Some(state) = state_change {
            let action = if state == IssueState::Closed {
                "closed"
            } else {
                "reopened"
            };
            if is_pull {
                self.pull_event(&world, repo, number, action, actor, json!({}));
            } else {
                self.issue_event(&world, repo, number, action, actor, None, None);
            }
        }
        drop(world);
        if let Some(labels) = patch.labels {
            let current = self.labels_on(repo, number)?;
            for l in current
                .iter()
                .filter(|c| !labels.iter().any(|n| n.eq_ignore_ascii_case(c)))
            {
                self.remove_label(actor, repo, number, l)?;
            }
            self.add_labels(actor, repo, number, &labels)?;
        }
        Ok(())
    }

    /// Names of the labels on an issue.
    pub fn labels_on(&self, repo: &str, number: u64) -> Result<Vec<String>, SimError> {
        let world = self.world();
        let r = repo_of(&world, repo)?;
        Ok(r.issues
            .get(&number)
            .ok_or(SimError::NoIssue(number))?
            .labels
            .clone())
    }

    /// Add labels (needs triage); one `labeled` event per label not already there.
    pub fn add_labels(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        names: &[String],
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        r.issues.get(&number).ok_or(SimError::NoIssue(number))?;
        require(&world, r, actor, Permission::Triage)?;
        for name in names {
            let label = ensure_label(&mut world, repo, name);
            let issue = world
                .repo_mut(repo)
                .and_then(|r| r.issues.get_mut(&number))
                .expect("checked above");
            if issue
                .labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&label.name))
            {
                continue;
            }
            issue.labels.push(label.name.clone());
            issue.updated_at = now();
            record(
                &mut world,
                repo,
                number,
                "labeled",
                actor,
                Some(&label.name),
            );
            self.issue_event(&world, repo, number, "labeled", actor, Some(&label), None);
        }
        Ok(())
    }

    /// Remove a label (needs triage); removing one that is not there is a 404 on GitHub.
    pub fn remove_label(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        name: &str,
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        r.issues.get(&number).ok_or(SimError::NoIssue(number))?;
        require(&world, r, actor, Permission::Triage)?;
        let label = r
            .label(name)
            .cloned()
            .ok_or_else(|| SimError::NotFound(format!("label {name}")))?;
        let issue = world
            .repo_mut(repo)
            .and_then(|r| r.issues.get_mut(&number))
            .expect("checked above");
        let before = issue.labels.len();
        issue.labels.retain(|l| !l.eq_ignore_ascii_case(name));
        if issue.labels.len() == before {
            return Err(SimError::NotFound(format!("label {name} on #{number}")));
        }
        issue.updated_at = now();
        record(
            &mut world,
            repo,
            number,
            "unlabeled",
            actor,
            Some(&label.name),
        );
        self.issue_event(&world, repo, number, "unlabeled", actor, Some(&label), None);
        Ok(())
    }

    /// Comment on an issue or pull request; returns the comment id.
    pub fn comment(
        &self,
        actor: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        r.issues.get(&number).ok_or(SimError::NoIssue(number))?;
        // Every simulated repository is public: anyone may comment.
        if body.is_empty() {
            return Err(SimError::Invalid("body is missing".into()));
        }
        let id = world.next_id();
        let t = now();
        let issue = world
            .repo_mut(repo)
            .and_then(|r| r.issues.get_mut(&number))
            .expect("checked above");
        issue.comments.push(Comment {
            id,
            author: actor,
            body: body.to_owned(),
            created_at: t,
            updated_at: t,
        });
        issue.updated_at = t;
        self.comment_event(&world, repo, number, id, "created", actor, None);
        Ok(id)
    }

    /// Edit a comment (its author, or someone with triage).
    pub fn edit_comment(
        &self,
        actor: u64,
        repo: &str,
        id: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        let may_moderate = world.permission(r, actor) >= Permission::Triage;
        let login = world.login(actor).to_owned();
        let r = world.repo_mut(repo).expect("checked above");
        let (number, comment) = r
            .comment_mut(id)
            .ok_or_else(|| SimError::NotFound(format!("comment {id}")))?;
        if comment.author != actor && !may_moderate {
            return Err(SimError::Forbidden {
                login,
                repo: repo.to_owned(),
                needed: "triage",
            });
        }
        let from = std::mem::replace(&mut comment.body, body.to_owned());
        comment.updated_at = now();
        self.comment_event(
            &world,
            repo,
            number,
            id,
            "edited",
            actor,
            Some(json!({"body": {"from": from}})),
        );
        Ok(number)
    }

    /// Delete a comment (its author, or someone with triage).
    pub fn delete_comment(&self, actor: u64, repo: &str, id: u64) -> Result<(), SimError> {
        let mut world = self.world();
        let r = repo_of(&world, repo)?;
        let may_moderate = world.permission(r, actor) >= Permission::Triage;
        let login = world.login(actor).to_owned();
        let r = world.repo_mut(repo).expect("checked above");
        let (number, comment) = r
            .comment_mut(id)
            .ok_or_else(|| SimError::NotFound(format!("comment {id}")))?;
        if comment.author != actor && !may_moderate {
            return Err(SimError::Forbidden {
                login,
                repo: repo.to_owned(),
                needed: "triage",
            });
        }
        let comment = comment.clone();
        let issue = r
            .issues
            .get_mut(&number)
            .expect("comment_mut found it here");
        issue.comments.retain(|c| c.id != id);
        // Its reactions go with it.
        r.reactions.remove(&id);
        let (r, issue) = {
            let r = world.repo(repo).expect("checked above");
            (r, r.issues.get(&number).expect("still there"))
        };
        self.emit(
            r,
            "issue_comment",
            events::issue_comment(self.at(&world, r), issue, &comment, "deleted", actor, None),
        );
        Ok(())
    }

    // The event's context is its arguments; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn comment_event(
        &self,
        world: &World,
        repo: &str,
        number: u64,
        id: u64,
        action: &str,
        actor: u64,
        changes: Option<Value>,
    ) {
        let Some(r) = world.repo(repo) else { return };
        let Some(issue) = r.issues.get(&number) else {
            return;
        };
        let Some(c) = issue.comments.iter().find(|c| c.id == id) else {
            return;
        };
        self.emit(
            r,
            "issue_comment",
            events::issue_comment(self.at(world, r), issue, c, action, actor, changes),
        );
    }
}

/// Append to an issue's event history.
fn record(
    world: &mut crate::world::World,
    repo: &str,
    number: u64,
    event: &'static str,
    actor: u64,
    label: Option<&str>,
) {
    let id = world.next_id();
    if let Some(issue) = world.repo_mut(repo).and_then(|r| r.issues.get_mut(&number)) {
        issue.timeline.push(crate::world::TimelineEvent {
            id,
            event,
            actor,
            label: label.map(str::to_owned),
            created_at: now(),
        });
    }
}
