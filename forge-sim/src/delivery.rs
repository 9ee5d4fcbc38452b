//! Webhook delivery as GitHub's Hookshot does it: signed POSTs, one at a time and in
//! order, each attempt recorded in a log that tests read and can redeliver from.
//!
//! One worker sends every repository's deliveries, which keeps them in order per
//! repository (and globally). Tests wait on [`Deliveries::wait_done`] instead of
//! sleeping: it returns once that many deliveries have finished (sent, failed or
//! dropped by a fault).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, info_span, warn};

/// What happened to one attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// The receiver's HTTP status, or `None` when it could not be reached.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub redelivery: bool,
    /// When it was sent (unix seconds) and how long the receiver took.
    pub at: i64,
    pub duration_ms: u64,
}

/// Where a delivery goes: the repository's hook.
#[derive(Debug, Clone)]
pub struct Target {
    pub repo: String,
    pub repo_id: u64,
    pub hook_id: u64,
    pub url: String,
    pub secret: String,
}

/// One delivery in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The numeric id the hooks API shows (1, 2, ...).
    pub id: u64,
    /// The `X-GitHub-Delivery` GUID; a redelivery reuses it, as GitHub does.
    pub guid: String,
    pub repo: String,
    pub repo_id: u64,
    pub hook_id: u64,
    pub event: String,
    pub action: Option<String>,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub payload: Value,
    pub attempts: Vec<Attempt>,
    /// Set when a fault dropped it: the receiver never saw it.
    pub dropped: bool,
    /// Set (to the instance URL, for `X-Gitlab-Instance`) when sent as GitLab sends
    /// hooks: `X-Gitlab-*` headers and the secret as a plain token.
    pub gitlab: Option<String>,
}

/// Deliveries that faults should drop or duplicate next.
#[derive(Debug, Default)]
struct DeliveryFaults {
    drop_next: u32,
    duplicate_next: u32,
}

#[derive(Debug)]
struct Job {
    index: usize,
    redelivery: bool,
}

/// The delivery log and its worker.
#[derive(Debug)]
pub struct Deliveries {
    log: Mutex<Vec<Delivery>>,
    faults: Mutex<DeliveryFaults>,
    queue: mpsc::UnboundedSender<Job>,
    done_tx: watch::Sender<usize>,
    done_rx: watch::Receiver<usize>,
}

impl Deliveries {
    /// Start the worker; it ends when the returned value is dropped.
    pub fn start(client: reqwest::Client) -> Arc<Self> {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Job>();
        let (done_tx, done_rx) = watch::channel(0usize);
        let me = Arc::new(Self {
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(DeliveryFaults::default()),
            queue,
            done_tx,
            done_rx,
        });
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                let Some(me) = weak.upgrade() else { break };
                me.send(&client, job).await;
            }
        });
        me
    }

    /// Queue a signed delivery of `payload` as event `event`.
    pub fn enqueue(&self, target: Target, event: &str, payload: Value) {
        self.push(target, event, payload, None);
    }

    /// Queue a GitLab hook delivery: `event` is the `X-Gitlab-Event` value (`Issue
    /// Hook`, ...); the log's `action` is `object_attributes.action` when there is one.
    pub fn enqueue_gitlab(&self, target: Target, event: &str, payload: Value, instance: &str) {
        self.push(target, event, payload, Some(instance.to_owned()));
    }

    fn push(&self, target: Target, event: &str, payload: Value, gitlab: Option<String>) {
        let action = payload
            .get("action")
            .or_else(|| payload.pointer("/object_attributes/action"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut delivery = Delivery {
            id: 0,
            guid: guid(),
            repo: target.repo,
            repo_id: target.repo_id,
            hook_id: target.hook_id,
            event: event.to_owned(),
            action,
            url: target.url,
            secret: target.secret,
            payload,
            attempts: Vec::new(),
            dropped: false,
            gitlab,
        };
        let index = {
            let mut log = self.log.lock().expect("delivery log lock");
            delivery.id = log.len() as u64 + 1;
            log.push(delivery);
            log.len() - 1
        };
        let _ = self.queue.send(Job {
            index,
            redelivery: false,
        });
    }

    /// Send a logged delivery again with the same GUID, as "Redeliver" does on GitHub.
    /// Returns false when there is no such delivery.
    pub fn redeliver(&self, guid: &str) -> bool {
        let index = self
            .log
            .lock()
            .expect("delivery log lock")
            .iter()
            .position(|d| d.guid == guid);
        match index {
            Some(index) => self
                .queue
                .send(Job {
                    index,
                    redelivery: true,
                })
                .is_ok(),
            None => false,
        }
    }

    /// Drop the next `n` deliveries (they are logged as dropped, never sent).
    pub fn drop_next(&self, n: u32) {
        self.faults.lock().expect("faults lock").drop_next += n;
    }

    /// Send each of the next `n` deliveries twice, as a flaky Hookshot might.
    pub fn duplicate_next(&self, n: u32) {
        self.faults.lock().expect("faults lock").duplicate_next += n;
    }

    pub fn log(&self) -> Vec<Delivery> {
        self.log.lock().expect("delivery log lock").clone()
    }

    /// How many deliveries (and redeliveries) have finished.
    pub fn done(&self) -> usize {
        *self.done_rx.borrow()
    }

    /// Wait until at least `n` deliveries have finished, or `timeout` passes.
    pub async fn wait_done(&self, n: usize, timeout: Duration) -> Result<(), crate::SimError> {
        let mut rx = self.done_rx.clone();
        tokio::time::timeout(timeout, rx.wait_for(|done| *done >= n))
            .await
            .map_err(|_| {
                crate::SimError::Timeout(format!("{n} deliveries (done: {})", self.done()))
            })?
            .map_err(|_| crate::SimError::Timeout("delivery worker stopped".into()))?;
        Ok(())
    }

    async fn send(&self, client: &reqwest::Client, job: Job) {
        let Some(d) = self
            .log
            .lock()
            .expect("delivery log lock")
            .get(job.index)
            .cloned()
        else {
            return;
        };
        let (drop_it, twice) = {
            let mut f = self.faults.lock().expect("faults lock");
            if !job.redelivery && f.drop_next > 0 {
                f.drop_next -= 1;
                (true, false)
            } else if !job.redelivery && f.duplicate_next > 0 {
                f.duplicate_next -= 1;
                (false, true)
            } else {
                (false, false)
            }
        };
        if drop_it {
            self.update(job.index, |d| d.dropped = true);
            self.done_tx.send_modify(|n| *n += 1);
            return;
        }
        let span = info_span!("delivery", guid = %d.guid, event = %d.event, repo = %d.repo);
        let body = serde_json::to_vec(&d.payload).expect("a JSON value serializes");
        let signature = webhooks::sign_github(d.secret.as_bytes(), &body);
        for _ in 0..if twice { 2 } else { 1 } {
            let at = chrono::Utc::now().timestamp();
            let started = std::time::Instant::now();
            let attempt = async {
                let request = if let Some(instance) = &d.gitlab {
                    gitlab_request(client, &d, instance)
                } else {
                    client
                        .post(&d.url)
                        .header("X-GitHub-Event", &d.event)
                        .header("X-GitHub-Delivery", &d.guid)
                        .header("X-GitHub-Hook-ID", d.hook_id.to_string())
                        .header("X-GitHub-Hook-Installation-Target-Type", "repository")
                        .header(
                            "X-GitHub-Hook-Installation-Target-ID",
                            d.repo_id.to_string(),
                        )
                        .header("X-Hub-Signature-256", &signature)
                        .header("User-Agent", "GitHub-Hookshot/forge-sim")
                };
                let sent = request
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(r) => Attempt {
                        status: Some(r.status().as_u16()),
                        error: None,
                        redelivery: job.redelivery,
                        at,
                        duration_ms: started.elapsed().as_millis() as u64,
                    },
                    Err(e) => {
                        warn!(error = %e, "delivery failed");
                        Attempt {
                            status: None,
                            error: Some(e.to_string()),
                            redelivery: job.redelivery,
                            at,
                            duration_ms: started.elapsed().as_millis() as u64,
                        }
                    }
                }
            }
            .instrument(span.clone())
            .await;
            self.update(job.index, |d| d.attempts.push(attempt));
        }
        self.done_tx.send_modify(|n| *n += 1);
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Delivery)) {
        if let Some(d) = self.log.lock().expect("delivery log lock").get_mut(index) {
            f(d);
        }
    }
}

/// A GitLab hook request: the token verbatim (GitLab does not sign), the event name,
/// and an `Idempotency-Key` that stays the same when the delivery is retried.
fn gitlab_request(
    client: &reqwest::Client,
    d: &Delivery,
    instance: &str,
) -> reqwest::RequestBuilder {
    client
        .post(&d.url)
        .header("X-Gitlab-Event", &d.event)
        .header("X-Gitlab-Token", &d.secret)
        .header("X-Gitlab-Event-UUID", &d.guid)
        .header("X-Gitlab-Webhook-UUID", format!("hook-{}", d.hook_id))
        .header("X-Gitlab-Instance", instance)
        .header("Idempotency-Key", &d.guid)
        .header("User-Agent", "GitLab/17.6.0-sim")
}

/// A random version-4 GUID, the form of `X-GitHub-Delivery`.
pub fn guid() -> String {
    let b: u128 = (rand::random::<u128>() & !(0xF000 << 64) | (0x4000 << 64)) & !(0xC000 << 48)
        | (0x8000 << 48);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
