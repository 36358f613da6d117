//! Per-peer quotas: a token bucket per key on the agent's injected clock, so one peer's flood
//! cannot fill the disk, the owner's notifications or the task slots.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// At most `burst` at once, then one more per `every`.
#[derive(Debug)]
pub(crate) struct Quota {
    burst: u64,
    every_ms: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    /// When the last token was added (or the bucket was made), Unix ms.
    refilled_ms: u64,
    /// Takes refused since the last one allowed.
    skipped: u64,
}

/// Buckets kept before idle full ones are forgotten.
const MAX_KEYS: usize = 10_000;

impl Quota {
    pub(crate) fn new(burst: u64, every: Duration) -> Self {
        Self {
            burst: burst.max(1),
            every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one for `key` at `now_ms`: `Some(n)` when allowed, with the number refused since
    /// the last allowed one; `None` when over the quota.
    pub(crate) fn take(&self, key: &str, now_ms: u64) -> Option<u64> {
        let mut buckets = crate::agent::lock(&self.buckets);
        if buckets.len() >= MAX_KEYS {
            let (burst, every) = (self.burst, self.every_ms);
            buckets.retain(|_, b| {
                let refill = now_ms.saturating_sub(b.refilled_ms) / every;
                b.tokens.saturating_add(refill) < burst || b.skipped > 0
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled_ms: now_ms,
            skipped: 0,
        });
        let refill = now_ms.saturating_sub(bucket.refilled_ms) / self.every_ms;
        if refill > 0 {
            bucket.tokens = bucket.tokens.saturating_add(refill).min(self.burst);
            bucket.refilled_ms = bucket.refilled_ms.saturating_add(refill * self.every_ms);
        }
        if bucket.tokens == 0 {
            bucket.skipped = bucket.skipped.saturating_add(1);
            return None;
        }
        bucket.tokens -= 1;
        Some(std::mem::take(&mut bucket.skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_per_key() {
        let quota = Quota::new(2, Duration::from_secs(10));
        assert_eq!(quota.take("a", 0), Some(0));
        assert_eq!(quota.take("a", 0), Some(0));
        assert_eq!(quota.take("a", 1), None);
        assert_eq!(quota.take("a", 2), None);
        assert_eq!(quota.take("b", 2), Some(0), "keys are separate");
        assert_eq!(quota.take("a", 10_000), Some(2), "one token back, two were refused");
        assert_eq!(quota.take("a", 10_001), None);
        assert_eq!(quota.take("a", 100_000), Some(1));
        assert_eq!(quota.take("a", 100_000), Some(0), "refilled up to the burst only");
        assert_eq!(quota.take("a", 100_000), None);
    }
}
