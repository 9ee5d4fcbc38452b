//! How long a failed delivery or forge write waits before its next try.

use crate::config::Config;

/// `retry_base_ms × 2^(attempts-1)`, capped at `retry_max_ms`.
pub fn backoff_ms(config: &Config, attempts: u32) -> u64 {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    config
        .worker
        .retry_base_ms
        .saturating_mul(factor)
        .min(config.worker.retry_max_ms)
}
