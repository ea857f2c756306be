//! `cargo run --release --example floor -- ...`: the bare loops that
//! `scripts/compare-peers.sh` runs as its third arm, the floor, beside
//! copybench and the peer (iperf3, sockperf). A floor makes the syscalls
//! copybench's one-copy strategy makes for a message, over plain blocking
//! TCP sockets, and nothing else: no framing, no checks, no counters, no
//! clock but the figure's. Its ratio to the peer says whether a target is in
//! reach of *any* program of those syscalls on the host; copybench / floor
//! is what copybench's own work costs.
//!
//! ```text
//! floor serve rr|stream BYTES ADDR            listen on ADDR (port 0: any free one), print
//!                                             the address, serve one connection, exit
//! floor connect rr|stream BYTES ADDR SECONDS  print rr's p50 round trip in µs, or the
//!                                             stream's Gbit/s
//! floor study [PAIRS] [SECONDS]               rr of 96 B on loopback: two threads of one
//!                                             process (as copybench) against two processes
//!                                             (as sockperf), alternating
//! ```
//!
//! - **rr**: the client writes BYTES (TCP_NODELAY) and reads BYTES back; the
//!   server echoes. The p50 of the round trips after a 0.4 s warm-up.
//! - **stream**: the client writes BYTES a call (Nagle on, as copybench's
//!   stream and iperf3 leave it), the server reads up to 256 KiB a call, as
//!   copybench's copying reader does (without its `SO_RCVLOWAT` mark). The
//!   figure counts the bytes written after the warm-up over the time from
//!   the warm-up's end until the server has read the last byte and closed,
//!   so every counted byte was received.
//!
//! Every blocking call gives up after 5 s, so a dead peer ends the run.
//! Bad arguments: one line, exit 2; a failed run: exit 1.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

const WARMUP: Duration = Duration::from_millis(400);
const TIMEOUT: Duration = Duration::from_secs(5);
/// copybench's copying reader's buffer (engine::recv, `READ_AHEAD`).
const READ_SIZE: usize = 256 * 1024;
/// The study's message: copybench's rr of one 64 B field and its 32-byte header.
const STUDY_BYTES: usize = 96;

#[derive(Clone, Copy)]
enum Workload {
    Rr,
    Stream,
}

fn prepare(s: &TcpStream, w: Workload) -> io::Result<()> {
    s.set_nodelay(matches!(w, Workload::Rr))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))
}

/// Serves one connection: echoes (rr) or reads (stream) until the client closes.
fn serve(listener: TcpListener, w: Workload, bytes: usize) -> io::Result<()> {
    let (mut s, _) = listener.accept()?;
    prepare(&s, w)?;
    let mut buf = vec![
        0u8;
        if matches!(w, Workload::Rr) {
            bytes
        } else {
            READ_SIZE
        }
    ];
    loop {
        match w {
            Workload::Rr => match s.read_exact(&mut buf) {
                Ok(()) => s.write_all(&buf)?,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            },
            Workload::Stream => match s.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            },
        }
    }
}

/// Runs for `run_for`; rr's p50 round trip in µs, or the stream's Gbit/s.
fn client(addr: SocketAddr, w: Workload, bytes: usize, run_for: Duration) -> io::Result<f64> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    prepare(&s, w)?;
    let mut buf = vec![0x5au8; bytes];
    let start = Instant::now();
    match w {
        Workload::Rr => {
            // ns, up to the timeout: a longer round trip fails the run instead.
            let mut rtt = Histogram::<u64>::new_with_bounds(1, TIMEOUT.as_nanos() as u64, 3)
                .expect("static histogram bounds are valid");
            while start.elapsed() < run_for {
                let t0 = Instant::now();
                s.write_all(&buf)?;
                s.read_exact(&mut buf)?;
                if t0 - start >= WARMUP {
                    rtt.saturating_record(t0.elapsed().as_nanos() as u64);
                }
            }
            if rtt.is_empty() {
                return Err(io::Error::other("no round trip after the warm-up"));
            }
            Ok(rtt.value_at_quantile(0.5) as f64 / 1000.0)
        }
        Workload::Stream => {
            let mut counted: Option<(Instant, u64)> = None;
            let mut written = 0u64;
            loop {
                let now = Instant::now();
                if now - start >= run_for {
                    break;
                }
                if counted.is_none() && now - start >= WARMUP {
                    counted = Some((now, written));
                }
                s.write_all(&buf)?;
                written += bytes as u64;
            }
            let (from, before) =
                counted.ok_or_else(|| io::Error::other("SECONDS within the warm-up"))?;
            // The server closes once it has read everything.
            s.shutdown(Shutdown::Write)?;
            let mut rest = [0u8; 64];
            while s.read(&mut rest)? > 0 {}
            let secs = from.elapsed().as_secs_f64();
            Ok((written - before) as f64 * 8.0 / secs / 1e9)
        }
    }
}

fn in_threads(run_for: Duration) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || serve(listener, Workload::Rr, STUDY_BYTES));
    let p50 = client(addr, Workload::Rr, STUDY_BYTES, run_for)?;
    server.join().expect("server thread panicked")?;
    Ok(p50)
}

/// Starts this example again as the server; returns it with its address.
fn server_process() -> io::Result<(Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "rr", &STUDY_BYTES.to_string(), "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("server process said {line:?}, not its address")))?;
    Ok((child, addr))
}

fn in_processes(run_for: Duration) -> io::Result<f64> {
    let (mut child, addr) = server_process()?;
    let p50 = client(addr, Workload::Rr, STUDY_BYTES, run_for);
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "server process ended with {status}"
        )));
    }
    p50
}

fn study(pairs: u64, run_for: Duration) -> io::Result<()> {
    println!("p50 round trip of a bare {STUDY_BYTES}-byte ping-pong on loopback TCP, µs");
    println!(
        "{:<5} {:>9} {:>10} {:>8}",
        "pair", "threads", "processes", "ratio"
    );
    let mut ratios = Vec::new();
    for pair in 1..=pairs {
        // Alternate which way goes first, so drift falls on both.
        let (threads, processes) = if pair % 2 == 1 {
            let t = in_threads(run_for)?;
            (t, in_processes(run_for)?)
        } else {
            let p = in_processes(run_for)?;
            (in_threads(run_for)?, p)
        };
        let ratio = threads / processes;
        ratios.push((ratio * 1e6) as u64);
        println!("{pair:<5} {threads:>9.3} {processes:>10.3} {ratio:>8.3}");
    }
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for r in ratios {
        h.record(r).expect("ratio in range");
    }
    let median = h.value_at_quantile(0.5) as f64 / 1e6;
    println!("median ratio threads / processes: {median:.3}");
    Ok(())
}

/// What the command line asks for.
enum Run {
    Serve(Workload, usize, SocketAddr),
    Connect(Workload, usize, SocketAddr, Duration),
    Study(u64, Duration),
}

const USAGE: &str = "usage: floor serve rr|stream BYTES ADDR | floor connect rr|stream BYTES ADDR SECONDS | floor study [PAIRS] [SECONDS]";

fn parse(args: &[String]) -> Result<Run, String> {
    let number = |name: &str, v: Option<&String>, default: Option<u64>| -> Result<u64, String> {
        match (v, default) {
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("{name} is missing ({USAGE})")),
            (Some(v), _) => v
                .parse()
                .ok()
                .filter(|n| (1..=1 << 30).contains(n))
                .ok_or_else(|| format!("{name}={v}: must be a whole number in 1..=1073741824")),
        }
    };
    let workload = |v: Option<&String>| match v.map(String::as_str) {
        Some("rr") => Ok(Workload::Rr),
        Some("stream") => Ok(Workload::Stream),
        other => Err(format!(
            "workload {other:?}: must be rr or stream ({USAGE})"
        )),
    };
    let addr = |v: Option<&String>| -> Result<SocketAddr, String> {
        let v = v.ok_or_else(|| format!("ADDR is missing ({USAGE})"))?;
        v.parse()
            .map_err(|_| format!("ADDR={v}: must be an IP:port address"))
    };
    let secs = |n| Duration::from_secs(n);
    match args.first().map(String::as_str) {
        Some("serve") if args.len() == 4 => Ok(Run::Serve(
            workload(args.get(1))?,
            number("BYTES", args.get(2), None)? as usize,
            addr(args.get(3))?,
        )),
        Some("connect") if args.len() == 5 => Ok(Run::Connect(
            workload(args.get(1))?,
            number("BYTES", args.get(2), None)? as usize,
            addr(args.get(3))?,
            secs(number("SECONDS", args.get(4), None)?),
        )),
        Some("study") if args.len() <= 3 => Ok(Run::Study(
            number("PAIRS", args.get(1), Some(7))?,
            secs(number("SECONDS", args.get(2), Some(3))?),
        )),
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = match parse(&args) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::from(2);
        }
    };
    let done = match run {
        Run::Serve(w, bytes, addr) => TcpListener::bind(addr).and_then(|listener| {
            println!("{}", listener.local_addr()?);
            io::stdout().flush()?;
            serve(listener, w, bytes)
        }),
        Run::Connect(w, bytes, addr, run_for) => {
            client(addr, w, bytes, run_for).and_then(|v| writeln!(io::stdout(), "{v:.4}"))
        }
        Run::Study(pairs, run_for) => study(pairs, run_for),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_script_s_commands_parse() {
        assert!(matches!(
            parse(&args("serve rr 96 198.18.0.1:15203")),
            Ok(Run::Serve(Workload::Rr, 96, a)) if a.port() == 15203
        ));
        assert!(matches!(
            parse(&args("connect stream 4128 127.0.0.1:15203 3")),
            Ok(Run::Connect(Workload::Stream, 4128, _, d)) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            parse(&args("study")),
            Ok(Run::Study(7, d)) if d == Duration::from_secs(3)
        ));
    }

    #[test]
    fn a_bad_argument_is_named_with_its_range() {
        let err = |line: &str| match parse(&args(line)) {
            Err(e) => e,
            Ok(_) => panic!("{line:?} parsed"),
        };
        assert!(err("connect rr 0 127.0.0.1:1 3")
            .starts_with("BYTES=0: must be a whole number in 1..="));
        assert!(err("connect rr 96 127.0.0.1:1 0").starts_with("SECONDS=0:"));
        assert!(err("serve rr 96 localhost").starts_with("ADDR=localhost: must be an IP:port"));
        assert!(err("serve udp 96 127.0.0.1:0")
            .starts_with("workload Some(\"udp\"): must be rr or stream"));
        assert!(err("study 0").starts_with("PAIRS=0:"));
        assert_eq!(err(""), USAGE);
        assert_eq!(err("connect rr 96 127.0.0.1:1"), USAGE);
    }
}
