//! What the fault tests share: clocks that are wrong on purpose.

use std::time::Duration;

use xmtp_client::{Clock, SystemClock};

/// This machine's clock, off by `skew` (ahead when positive): a peer whose clock is wrong.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    /// Nanoseconds added to the system clock (negative: behind).
    pub skew_ns: i128,
}

impl SkewedClock {
    /// Ahead of the node by `by`.
    pub fn ahead(by: Duration) -> Self {
        Self { skew_ns: i128::try_from(by.as_nanos()).unwrap_or(i128::MAX) }
    }

    /// Behind the node by `by`.
    pub fn behind(by: Duration) -> Self {
        Self { skew_ns: -i128::try_from(by.as_nanos()).unwrap_or(i128::MAX) }
    }
}

impl Clock for SkewedClock {
    fn now_ns(&self) -> u64 {
        let now = i128::from(SystemClock.now_ns()) + self.skew_ns;
        u64::try_from(now.max(0)).unwrap_or(u64::MAX)
    }
}
