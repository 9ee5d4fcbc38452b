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
    // Nice 19 rather than SCHED_IDLE: it yields to everything else but is never
    // starved outright on a busy machine. On Linux `setpriority` with who = 0 applies
    // to the calling thread only.
    // SAFETY: a plain syscall on the calling thread with valid arguments.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
