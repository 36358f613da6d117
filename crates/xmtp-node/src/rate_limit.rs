//! A token bucket per client connection.
//!
//! XMTP v3 has no client authentication, so the node cannot tell clients apart beyond their
//! connection; each HTTP/2 connection (remote address and port) gets its own bucket. Requests
//! over the limit are answered `ResourceExhausted` and do nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tonic::{Request, Status};

/// Buckets idle this long are forgotten (their connection is most likely gone).
const IDLE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Shared by every service; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<SocketAddr, Bucket>>>,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at once.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A tonic interceptor: lets `request` through or rejects it.
    pub(crate) fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(peer) = request.remote_addr() else { return Ok(request) };
        if self.take(peer, Instant::now()) {
            Ok(request)
        } else {
            Err(Status::resource_exhausted(format!(
                "rate limit exceeded: at most {} requests per second per connection",
                self.rate
            )))
        }
    }

    fn take(&self, peer: SocketAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > 4_096 {
            buckets.retain(|_, b| now.duration_since(b.updated) < IDLE);
        }
        let bucket = buckets.entry(peer).or_insert(Bucket { tokens: self.burst, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(10, 3);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.take(peer, t0)));
        assert!(!limiter.take(peer, t0), "the burst is spent");
        assert!(limiter.take(peer, t0 + Duration::from_millis(100)), "one token per 100 ms");
        assert!(!limiter.take(peer, t0 + Duration::from_millis(100)));
    }

    #[test]
    fn connections_have_separate_buckets() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        assert!(limiter.take(a, t0));
        assert!(!limiter.take(a, t0));
        assert!(limiter.take(b, t0));
    }
}
