//! Times loading and checking history files inside one process, five rounds (the first cold), to
//! see where a whole-process `faultline check` spends its time, on one thread; then the quick
//! path for EDN register histories (`linearizable::quick`), which reads the text and checks it
//! without building ops (files it declines count under "declined", at the quick path's cost):
//!
//!     cargo run --release -p faultline-checkers --example load_bench -- [--init 0] FILE...
use faultline_checkers::formats::{read_history, Format};
use faultline_checkers::linearizable::{check, quick, ModelKind, Options};
use std::time::Instant;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut init = serde_json::Value::Null;
    if args.first().map(String::as_str) == Some("--init") {
        init = serde_json::from_str(&args[1]).unwrap();
        args.drain(..2);
    }
    let general_rounds = if std::env::var_os("QUICK_ONLY").is_some() { 0 } else { 5 };
    for round in 0..general_rounds {
        let (mut load, mut chk) = (0.0, 0.0);
        for f in &args {
            let t = Instant::now();
            let h = read_history(f, Format::Auto).unwrap();
            let t1 = t.elapsed().as_secs_f64();
            let model = ModelKind::detect(&h.ops).unwrap();
            let mut o = Options::new(model);
            o.nil_read_is_unknown = h.nil_read_is_unknown;
            o.init = if h.format == Format::Porcupine { serde_json::json!("") } else { init.clone() };
            o.threads = 1;
            let _ = check(&h.ops, &o).unwrap();
            let t2 = t.elapsed().as_secs_f64();
            load += t1;
            chk += t2 - t1;
        }
        println!("round {round}: load {:.2} ms, check {:.2} ms", load * 1e3, chk * 1e3);
    }
    for round in 0..if general_rounds == 0 { 50 } else { 5 } {
        let (t, mut declined) = (Instant::now(), 0);
        for f in &args {
            let text = std::fs::read_to_string(f).unwrap();
            let mut o = Options::new(ModelKind::Register);
            o.init = init.clone();
            o.threads = 1;
            declined += usize::from(quick::check_register_edn(&text, &o, true).is_none());
        }
        println!("quick round {round}: read and check {:.2} ms, declined {declined}", t.elapsed().as_secs_f64() * 1e3);
    }
}
