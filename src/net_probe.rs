//! `faultline net-probe`: the measurements that verify the packet faults, run on the nodes
//! (hidden; the nemesis calls them through SSH). `rtt` times TCP connects; `send` and `sink` pass
//! a burst of numbered UDP datagrams with a known payload and count, at the receiver, duplicates,
//! datagrams overtaken by later ones, altered payloads and the receive rate. Each prints one JSON
//! line (`faultline_nemeses::agent::{RttReport, SinkReport}`).

use anyhow::{Context, Result};
use faultline_nemeses::agent::{probe_byte, RttReport, SinkReport};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct NetProbeArgs {
    #[command(subcommand)]
    pub probe: Probe,
}

#[derive(clap::Subcommand, Debug)]
pub enum Probe {
    /// Median TCP connect time to --to:--port over --count connects (made at once).
    Rtt {
        #[arg(long)]
        to: IpAddr,
        #[arg(long, default_value_t = 22)]
        port: u16,
        #[arg(long, default_value_t = 5)]
        count: u32,
    },
    /// Receive numbered datagrams on --port until --count distinct ones arrived (and stragglers
    /// had 300 ms more), nothing arrived for a second after the first, or --wait-ms passed.
    Sink {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 5000)]
        wait_ms: u64,
    },
    /// Send --count numbered datagrams of --size bytes to --to:--port, after --after-ms.
    Send {
        #[arg(long)]
        to: IpAddr,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 200)]
        size: usize,
        #[arg(long, default_value_t = 0)]
        after_ms: u64,
        /// Pause 1 ms after every N datagrams (0: never; the benchmark sends flat out).
        #[arg(long, default_value_t = 50)]
        pause_every: u32,
    },
    /// Answer --count UDP datagrams on --port by sending each back (for `ping`; benchmarks).
    Echo {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        count: u32,
    },
    /// Round-trip times of --count UDP datagrams sent one at a time to an `echo` (benchmarks).
    Ping {
        #[arg(long)]
        to: IpAddr,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 1000)]
        count: u32,
    },
}

pub fn run(args: NetProbeArgs) -> Result<()> {
    let json = match args.probe {
        Probe::Rtt { to, port, count } => serde_json::to_string(&rtt(to, port, count))?,
        Probe::Sink { port, count, wait_ms } => serde_json::to_string(&sink(port, count, wait_ms)?)?,
        Probe::Send { to, port, count, size, after_ms, pause_every } => {
            std::thread::sleep(Duration::from_millis(after_ms));
            let t = Instant::now();
            send(to, port, count, size, pause_every)?;
            format!("{{\"sent\":{count},\"secs\":{}}}", t.elapsed().as_secs_f64())
        }
        Probe::Echo { port, count } => {
            let s = UdpSocket::bind(("0.0.0.0", port)).with_context(|| format!("binding UDP port {port}"))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut buf = [0u8; 2048];
            for _ in 0..count {
                let (n, from) = s.recv_from(&mut buf).context("waiting for a ping")?;
                s.send_to(&buf[..n], from)?;
            }
            format!("{{\"echoed\":{count}}}")
        }
        Probe::Ping { to, port, count } => {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.connect(SocketAddr::new(to, port))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut rtts = Vec::new();
            let mut buf = [0u8; 64];
            for i in 0..count {
                let t = Instant::now();
                s.send(&i.to_be_bytes())?;
                s.recv(&mut buf).context("waiting for the echo")?;
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
            }
            rtts.sort_by(f64::total_cmp);
            let q = |p: f64| rtts[((rtts.len() - 1) as f64 * p) as usize];
            format!("{{\"count\":{count},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1}}}", q(0.5), q(0.9), q(0.99))
        }
    };
    println!("{json}");
    Ok(())
}

fn rtt(to: IpAddr, port: u16, count: u32) -> RttReport {
    let addr = SocketAddr::new(to, port);
    // The connects run side by side, so a measurement takes one round trip however slow the link.
    let handles: Vec<_> = (0..count.max(1))
        .map(|_| {
            std::thread::spawn(move || {
                let t = Instant::now();
                // A refused connect is a full round trip too (SYN out, RST back).
                match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
                    Ok(_) => Some(t.elapsed().as_secs_f64() * 1000.0),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        Some(t.elapsed().as_secs_f64() * 1000.0)
                    }
                    Err(_) => None,
                }
            })
        })
        .collect();
    let (mut samples, mut errors) = (Vec::new(), 0);
    for h in handles {
        match h.join().ok().flatten() {
            Some(ms) => samples.push(ms),
            None => errors += 1,
        }
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median_ms = sorted.get(sorted.len() / 2).copied().unwrap_or(-1.0);
    RttReport { samples_ms: samples, median_ms, errors }
}

/// The datagram `seq` of `size` bytes (at least the 4-byte sequence number).
pub fn datagram(seq: u32, size: usize) -> Vec<u8> {
    let mut d = seq.to_be_bytes().to_vec();
    d.extend((0..size.saturating_sub(4)).map(|i| probe_byte(seq, i)));
    d
}

fn send(to: IpAddr, port: u16, count: u32, size: usize, pause_every: u32) -> Result<()> {
    let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
    let s = UdpSocket::bind(bind)?;
    s.connect(SocketAddr::new(to, port))?;
    for seq in 0..count {
        let d = datagram(seq, size);
        // A full socket buffer (ENOBUFS) is retried after a breath, not counted as sent.
        loop {
            match s.send(&d) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                Err(e) => return Err(e).context("sending a probe datagram"),
            }
        }
        // A short pause every 50 datagrams keeps the burst from overflowing the receiver.
        if pause_every > 0 && seq % pause_every == pause_every - 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// Count what arrived, given every datagram received.
pub fn tally(received: &[(Vec<u8>, Instant)]) -> SinkReport {
    let mut r = SinkReport::default();
    let mut seen = HashSet::new();
    let mut highest: Option<u32> = None;
    for (d, _) in received {
        r.received += 1;
        r.bytes += d.len() as u64;
        let Some(seq) = d.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))) else {
            r.corrupted += 1;
            continue;
        };
        let intact = d[4..].iter().enumerate().all(|(i, b)| *b == probe_byte(seq, i));
        if !intact {
            // A corrupted sequence number cannot be trusted for the other counts.
            r.corrupted += 1;
            continue;
        }
        if !seen.insert(seq) {
            r.duplicates += 1;
            continue;
        }
        if highest.is_some_and(|h| seq < h) {
            r.reordered += 1;
        }
        highest = Some(highest.map_or(seq, |h| h.max(seq)));
    }
    r.unique = seen.len() as u32;
    if let (Some((_, first)), Some((_, last))) = (received.first(), received.last()) {
        r.span_ms = last.duration_since(*first).as_secs_f64() * 1000.0;
    }
    r
}

fn sink(port: u16, count: u32, wait_ms: u64) -> Result<SinkReport> {
    let s = UdpSocket::bind(("0.0.0.0", port)).with_context(|| format!("binding UDP port {port}"))?;
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let mut received: Vec<(Vec<u8>, Instant)> = Vec::new();
    let mut unique = HashSet::new();
    let mut complete_at: Option<Instant> = None;
    let mut buf = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        let mut until = deadline;
        if let Some(c) = complete_at {
            until = until.min(c + Duration::from_millis(300));
        }
        if let Some((_, last)) = received.last() {
            until = until.min(*last + Duration::from_secs(1));
        }
        if now >= until {
            break;
        }
        s.set_read_timeout(Some(until - now))?;
        match s.recv(&mut buf) {
            Ok(n) => {
                let t = Instant::now();
                if n >= 4 {
                    unique.insert(u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")));
                }
                received.push((buf[..n].to_vec(), t));
                if complete_at.is_none() && unique.len() as u32 >= count {
                    complete_at = Some(t);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e).context("receiving probe datagrams"),
        }
    }
    Ok(tally(&received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_duplicates_reordering_and_corruption() {
        let t = Instant::now();
        let mut bad = datagram(5, 50);
        bad[20] ^= 4;
        let got: Vec<(Vec<u8>, Instant)> = [datagram(0, 50), datagram(2, 50), datagram(1, 50), datagram(2, 50), bad]
            .into_iter()
            .map(|d| (d, t))
            .collect();
        let r = tally(&got);
        assert_eq!((r.received, r.unique, r.duplicates, r.reordered, r.corrupted), (5, 3, 1, 1, 1));
    }

    #[test]
    fn sink_and_send_over_loopback() {
        let port = 47_999;
        let h = std::thread::spawn(move || sink(port, 100, 3000).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        send("127.0.0.1".parse().unwrap(), port, 100, 64, 50).unwrap();
        let r = h.join().unwrap();
        assert_eq!((r.unique, r.duplicates, r.corrupted), (100, 0, 0), "{r:?}");
        let rtt = rtt("127.0.0.1".parse().unwrap(), 1, 3);
        assert_eq!(rtt.samples_ms.len(), 3, "refused connects are round trips: {rtt:?}");
    }
}
