//! A thread for work that can wait: it runs at the lowest CPU priority (nice 19), so while
//! webhooks arrive faster than the machine can answer them, acknowledging them (a
//! delivery is durable once acknowledged) comes before working them off.
//!
//! The inbox worker owns it (built once with the bot); the thread ends when the last
//! handle goes.

use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to one idle-priority thread. Cheap to clone.
#[derive(Clone)]
pub struct Idle {
    jobs: mpsc::Sender<Job>,
}

impl Idle {
    /// Start the thread.
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("gt-idle".into())
            .spawn(move || {
                lower_priority();
                for job in rx {
                    // A job that panics fails its caller, not the thread the others share.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        Ok(Self { jobs: tx })
    }

    /// Run `f` on the idle thread and wait for its result; `None` if it panicked.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SCHED_IDLE, not only nice 19: a thread with idle policy is preempted the moment a
    // normal thread wakes on its core, where a nice-19 thread may finish its slice first
    // and hold up an answer by milliseconds. It is still given a little CPU time on a
    // machine that is never idle, so the inbox drains even under a flood. Linux applies
    // both calls to the calling thread only (pid 0).
    // SAFETY: plain syscalls on the calling thread with valid arguments.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
