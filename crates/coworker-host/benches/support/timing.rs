//! Percentiles of measured durations, shared by the host's benches.

use std::time::Duration;

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sorts `times`, prints p50/p90/p99 after `what`, returns the p50.
pub(crate) fn report(what: &str, times: &mut [Duration]) -> Duration {
    times.sort();
    let p50 = percentile(times, 0.5);
    println!(
        "{what:<44} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms",
        ms(p50),
        ms(percentile(times, 0.9)),
        ms(percentile(times, 0.99))
    );
    p50
}
