//! A thread for work that can wait: it runs at the lowest CPU priority (nice 19), so while
//! webhooks arrive faster than the machine can answer them, acknowledging them (a
//! delivery is durable once acknowledged) comes before working them off.

use std::sync::LazyLock;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

static IDLE: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("gt-idle".into())
        .spawn(move || {
            lower_priority();
            for job in rx {
                // A job that panics fails its caller, not the thread the others share.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })
        .expect("cannot start the idle thread");
    tx
});

/// Run `f` on the idle thread and wait for its result.
pub async fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    IDLE.send(job).expect("the idle thread is gone");
    rx.await.expect("a job on the idle thread panicked")
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
