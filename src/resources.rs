//! The harness watching itself: resident memory, open descriptors and threads, sampled every
//! 10 s over a run (and at its start and end), so that a long soak shows whether anything leaks.
//! The samples go into `results.json` (`stats.harness_samples`) and the report plots them.

use faultline_checkers::outcome::HarnessSample;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the harness samples itself.
const EVERY: Duration = Duration::from_secs(10);

/// Samples taken so far; the sampling task runs until `finish`.
#[derive(Clone)]
pub struct Sampler {
    samples: Arc<Mutex<Vec<HarnessSample>>>,
    start: Instant,
    stop: CancellationToken,
}

impl Sampler {
    /// Sample now, then every 10 s until `finish`.
    pub fn start(start: Instant) -> Sampler {
        let sampler = Sampler { samples: Arc::default(), start, stop: CancellationToken::new() };
        sampler.sample();
        let task = sampler.clone();
        let stop = sampler.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(EVERY) => task.sample(),
                    _ = stop.cancelled() => return,
                }
            }
        });
        sampler
    }

    /// Take one sample now.
    pub fn sample(&self) {
        if let Some(s) = self_sample(self.start.elapsed().as_secs_f64()) {
            self.samples.lock().unwrap().push(s);
        }
    }

    /// Every sample, with a last one taken now; sampling stops.
    pub fn finish(&self) -> Vec<HarnessSample> {
        self.stop.cancel();
        self.sample();
        self.samples.lock().unwrap().clone()
    }
}

/// This process's resident memory and threads (`/proc/self/status`) and descriptors
/// (`/proc/self/fd`); `None` where /proc cannot say.
fn self_sample(t_s: f64) -> Option<HarnessSample> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(HarnessSample { t_s, rss_mb: field("VmRSS:")? as f64 / 1024.0, fds, threads: field("Threads:")? })
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_this_process() {
        let s = super::self_sample(1.0).expect("a sample");
        assert!(s.rss_mb > 1.0 && s.fds >= 3 && s.threads >= 1, "{s:?}");
    }
}
