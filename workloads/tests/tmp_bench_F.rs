use faultline_workloads::*;
use std::sync::Arc;
#[test]
fn bench() {
    for kind in WorkloadKind::ALL {
        let g = Arc::new(new_generator(kind, GeneratorOptions { concurrency: 32, ..Default::default() }));
        let t = std::time::Instant::now();
        let hs: Vec<_> = (0..32).map(|w| { let g = g.clone(); std::thread::spawn(move || { let mut n = 0; for _ in 0..50_000 { n += g.next(w).unwrap().f.len(); } n }) }).collect();
        for h in hs { h.join().unwrap(); }
        let e = t.elapsed();
        println!("{kind}: {:.0} ops/s", 32.0 * 50_000.0 / e.as_secs_f64());
    }
}
