//! `cargo run --release --example pingpong`: does it matter whether the two
//! ends of a round trip are threads of one process (as in copybench) or two
//! processes (as with sockperf's client and server)?
//!
//! The same bare loop runs both ways on loopback TCP: the client `write`s a
//! 96-byte request (copybench's 64 B field plus its 32-byte header) and reads
//! the 96-byte reply; the server echoes. No framing, no verification, no
//! counters, TCP_NODELAY on, kernel defaults otherwise. Each run lasts
//! `DURATION` seconds (default 3; the first 0.4 s are warm-up), the two ways alternate
//! for `PAIRS` pairs (default 7), and each pair prints both p50 round trips
//! and their ratio. docs/comparison.md ("How copybench compares") cites the result.
//!
//! For the processes way the example runs itself again as the server, with
//! `PINGPONG_SERVE=ADDR` in the child's environment.
//!
//! It is also the floor of `scripts/compare-peers.sh`'s rr case: a loop that
//! makes the same syscalls as copybench's rr and does nothing else, run as a
//! third arm beside copybench and sockperf. There one process serves one
//! connection (`PINGPONG_SERVE=ADDR`, which prints the address it listens on)
//! and another is the client (`PINGPONG_CONNECT=ADDR`, which runs for
//! `DURATION` seconds and prints its p50 round trip in µs).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

const MESSAGE: usize = 96;
const WARMUP: Duration = Duration::from_millis(400);
/// Every blocking call gives up after this long, so a dead peer ends the run.
const TIMEOUT: Duration = Duration::from_secs(5);

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .unwrap_or_else(|| panic!("{name}={v}: must be a whole number >= 1")),
    }
}

fn prepare(s: &TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))
}

/// Echoes requests until the client closes.
fn serve(listener: TcpListener) -> io::Result<()> {
    let (mut s, _) = listener.accept()?;
    prepare(&s)?;
    let mut buf = [0u8; MESSAGE];
    loop {
        match s.read_exact(&mut buf) {
            Ok(()) => s.write_all(&buf)?,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Round trips for `run_for`; the p50 in µs, warm-up excluded.
fn client(addr: SocketAddr, run_for: Duration) -> io::Result<f64> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    prepare(&s)?;
    // ns, up to the timeout: a longer round trip fails the run instead.
    let mut rtt = Histogram::<u64>::new_with_bounds(1, TIMEOUT.as_nanos() as u64, 3)
        .expect("static histogram bounds are valid");
    let mut buf = [0x5au8; MESSAGE];
    let start = Instant::now();
    while start.elapsed() < run_for {
        let t0 = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        if t0 - start >= WARMUP {
            rtt.saturating_record(t0.elapsed().as_nanos() as u64);
        }
    }
    Ok(rtt.value_at_quantile(0.5) as f64 / 1000.0)
}

fn in_threads(run_for: Duration) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || serve(listener));
    let p50 = client(addr, run_for)?;
    server.join().expect("server thread panicked")?;
    Ok(p50)
}

/// Starts this example again as the server; returns it with its address.
fn server_process() -> io::Result<(Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .env("PINGPONG_SERVE", "127.0.0.1:0")
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
    let p50 = client(addr, run_for);
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "server process ended with {status}"
        )));
    }
    p50
}

fn main() -> io::Result<()> {
    if let Ok(addr) = std::env::var("PINGPONG_SERVE") {
        let listener = TcpListener::bind(addr.as_str())?;
        println!("{}", listener.local_addr()?);
        io::stdout().flush()?;
        return serve(listener);
    }
    if let Ok(addr) = std::env::var("PINGPONG_CONNECT") {
        let addr: SocketAddr = addr.parse().map_err(|_| {
            io::Error::other(format!("PINGPONG_CONNECT={addr}: not an IP:port address"))
        })?;
        let p50 = client(addr, Duration::from_secs(env_number("DURATION", 3)))?;
        println!("{p50:.3}");
        return Ok(());
    }
    let pairs = env_number("PAIRS", 7);
    let run_for = Duration::from_secs(env_number("DURATION", 3));
    println!("p50 round trip of a bare 96-byte ping-pong on loopback TCP, µs");
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
