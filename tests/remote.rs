//! Two hosts, as a user meets them: `copybench serve` and `run`/`sweep
//! --connect` as separate processes, over loopback (no privileges) and over a
//! veth pair between two network namespaces (root), plus a server that is
//! sent garbage, wrong tokens and versions, oversized messages, and clients
//! that vanish or go silent, and must keep serving.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use copybench::remote::proto::{
    self, BatchSpec, CellSpec, Challenge, Channel, Hello, Reply, Request, MAX_CLIENT_FRAME,
    MAX_SERVER_FRAME,
};
use serde_json::Value;

use common::netns::NetnsPair;

const BIN: &str = env!("CARGO_BIN_EXE_copybench");

/// A running `copybench serve`, its address and its log. Dropping it kills it.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `serve` (optionally inside a namespace) on `listen_ip`, an
    /// ephemeral port, and waits for its "listening on" line.
    fn start(netns: Option<&str>, listen_ip: &str, extra: &[&str]) -> Server {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(["serve", "--listen", &format!("{listen_ip}:0")])
            .args(extra)
            .env_remove("COPYBENCH_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start copybench serve");
        let stderr = child.stderr.take().expect("piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("serve did not say where it listens");
        Server {
            child,
            addr: addr.parse().expect("a socket address"),
            log,
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `what`.
    fn wait_log(&self, what: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.log().into_iter().find(|l| l.contains(what)) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {what:?} within {within:?}: {:#?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copybench(netns: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(args)
        .env_remove("COPYBENCH_TOKEN")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cannot run copybench")
}

fn json_of(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what}: exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `run --connect` with a counted batch, and what a local run's JSON must hold.
fn connect_run(netns: Option<&str>, server: &Server, extra: &[&str]) -> Value {
    let target = server.addr.to_string();
    let mut args = vec![
        "run",
        "--connect",
        &target,
        "--json",
        "--messages",
        "400",
        "--warmup",
        "0.05",
        "--threads",
        "2",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    let what = args.join(" ");
    let v = json_of(&copybench(netns, &args), &what);
    assert_eq!(v["transport"], "tcp", "{what}");
    assert_eq!(v["server"], target, "{what}");
    assert_eq!(v["messages"], 400, "{what}");
    let per_message = v["message_bytes"].as_u64().unwrap();
    let factor = if v["workload"] == "rr" { 2 } else { 1 };
    assert_eq!(v["bytes"], 400 * per_message * factor, "{what}");
    for role in ["client", "server"] {
        assert!(
            v["cpu"][role]["total_ns"].as_u64().unwrap() > 0,
            "{what}: {role} cpu {}",
            v["cpu"]
        );
        assert!(
            v["counters"][role]["context_switches"].is_number(),
            "{what}: {role} counters {}",
            v["counters"][role]
        );
        let host = &v["hosts"][role];
        for fact in [
            "kernel",
            "cpu_model",
            "cores",
            "optmem_max",
            "io_uring",
            "counters",
        ] {
            assert!(
                !host[fact].is_null(),
                "{what}: {role} host has no {fact}: {host}"
            );
        }
    }
    if v["workload"] == "rr" {
        assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0, "{what}");
    } else {
        assert!(v["latency_us"].is_null(), "{what}");
    }
    let completing = v["strategy"]
        .as_str()
        .and_then(copybench::StrategyKind::from_name)
        .is_some_and(copybench::StrategyKind::has_completions);
    if completing {
        let z = &v["zerocopy"];
        assert!(z["sends"].as_u64().unwrap() > 0, "{what}: {z}");
        assert_eq!(z["sends"], z["completions"], "{what}: {z}");
    } else {
        assert!(v["zerocopy"].is_null(), "{what}");
    }
    v
}

#[test]
fn serve_once_and_run_connect_as_two_processes() {
    let mut server = Server::start(
        None,
        "127.0.0.1",
        &["--once", "--token", "t0ken", "--timeout", "5"],
    );
    let v = connect_run(
        None,
        &server,
        &[
            "--strategy",
            "zero-copy",
            "--workload",
            "stream",
            "--token",
            "t0ken",
        ],
    );
    // Both hosts are this one here: the kernel copies every zero-copy send.
    assert_eq!(v["zerocopy"]["copied_share"], 1.0, "{}", v["zerocopy"]);
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{:#?}",
        server.log()
    );
    let line = server.wait_log("session from 127.0.0.1", Duration::from_secs(1));
    assert!(line.ends_with("1 cell(s), ok"), "{line}");
}

#[test]
fn a_mapping_receiver_runs_on_serve_for_connect() {
    // --receive zerocopy and its MSS travel to the server, whose ends map
    // (stream: the server alone receives; rr: both ends do), and its mapped
    // and copied bytes come back with its results.
    if let Err(why) = copybench::recv_map_support() {
        eprintln!("this host cannot map received pages: {why}; not run");
        return;
    }
    let server = Server::start(None, "127.0.0.1", &["--token", "t0ken", "--timeout", "5"]);
    for workload in ["stream", "rr"] {
        let v = connect_run(
            None,
            &server,
            &[
                "--receive",
                "zerocopy",
                "--strategy",
                "zero-copy",
                "--workload",
                workload,
                "--fields",
                "1",
                "--field-size",
                "64K",
                "--token",
                "t0ken",
            ],
        );
        let (o, f) = (&v["options"], &v["figures"]);
        assert_eq!(o["receive"], "zerocopy", "{o}");
        assert_eq!(o["maxseg"], copybench::recv_map_mss(), "{o}");
        let mapped = f["rx_mapped_bytes"].as_u64().unwrap();
        let copied = f["rx_copied_bytes"].as_u64().unwrap();
        assert_eq!(
            mapped + copied,
            f["bytes"].as_u64().unwrap(),
            "{workload}: {f}"
        );
        // Behind MSG_ZEROCOPY over loopback most pages map (measured 0.96).
        assert!(
            f["rx_mapped_share"].as_f64().unwrap() > 0.5,
            "{workload}: {f}"
        );
    }
    // Dropping the server stops it.
}

#[test]
fn every_strategy_and_workload_runs_against_serve_and_sigterm_stops_it() {
    let mut server = Server::start(None, "127.0.0.1", &["--timeout", "5"]);
    for strategy in common::strategy_names() {
        for workload in ["rr", "stream"] {
            let cell = [
                "--strategy",
                strategy,
                "--workload",
                workload,
                "--field-size",
                "1K",
            ];
            let remote = connect_run(None, &server, &cell);
            // The same figures as a local run of the same cell: every key,
            // and a counter unavailable in one is unavailable in the other.
            let local_args = [
                &["run", "--json", "--messages", "400", "--warmup", "0.05"][..],
                &["--threads", "2", "--timeout", "5"],
                &cell,
            ]
            .concat();
            let local = json_of(&copybench(None, &local_args), "local run");
            // Except the server's receive buffer, which lives on the other
            // host, and the default mark it decides: not read back there,
            // so null (never a guess).
            assert!(remote["options"]["rcvbuf_effective"].is_null());
            assert!(remote["options"]["rcvlowat_default"].is_null());
            let not_rcvbuf = |k: &String| {
                !k.starts_with("options.rcvbuf_effective=")
                    && !k.starts_with("options.rcvlowat_default=")
            };
            let (mut r, mut l) = (shape(&remote, &["server", "hosts"]), shape(&local, &[]));
            r.retain(not_rcvbuf);
            l.retain(not_rcvbuf);
            assert_eq!(r, l, "{strategy} {workload}");
        }
    }
    let ok = server
        .log()
        .iter()
        .filter(|l| l.ends_with("1 cell(s), ok"))
        .count();
    assert_eq!(
        ok,
        common::strategy_names().len() * 2,
        "{:#?}",
        server.log()
    );
    // SIGTERM in the middle of a client's 60 s batch: the server resets the
    // data connections, logs the session and exits 0 at once.
    let mut client = long_client(&server);
    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    server.wait_log("0 cell(s), stopped by signal", Duration::from_secs(1));
    server.wait_log("stopped", Duration::from_secs(1));
    let status = client.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "the client fails, naming the connection"
    );
}

/// A hand-made client: reads the challenge, then sends what the test says.
struct RawClient {
    sock: TcpStream,
    challenge: Challenge,
}

impl RawClient {
    fn connect(addr: SocketAddr) -> RawClient {
        let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        let challenge = proto::read_frame(&mut sock, MAX_SERVER_FRAME, soon()).unwrap();
        RawClient { sock, challenge }
    }

    fn hello(&mut self, version: u32, token: Option<&str>, cookie: [u8; 16], channel: Channel) {
        let hello = Hello {
            protocol: proto::PROTOCOL.into(),
            version,
            cookie,
            channel,
            proof: token.map(|t| proto::prove(t, &self.challenge.nonce, &cookie, channel)),
        };
        proto::write_frame(&mut self.sock, &hello).unwrap();
    }

    fn reply(&mut self) -> Reply {
        proto::read_frame(&mut self.sock, MAX_SERVER_FRAME, soon()).unwrap()
    }

    /// The server's last word, then the connection closed.
    fn refused(mut self) -> String {
        let text = match self.reply() {
            Reply::Refused { reason } => reason,
            Reply::Error { message } => message,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let mut rest = [0u8; 16];
        assert_eq!(
            self.sock.read(&mut rest).unwrap(),
            0,
            "the connection stays open"
        );
        text
    }
}

/// A cell as a client sends it: one-copy, 8 fields of 64 B, sampled checks.
fn cell(workload: copybench::WorkloadKind, threads: u64, timeout_ms: u64) -> CellSpec {
    CellSpec {
        strategy: copybench::StrategyKind::OneCopy,
        workload,
        field_size: 64,
        fields: 8,
        threads,
        verify: "sampled".into(),
        counters: true,
        timeout_ms,
        ..Default::default()
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn the_server_survives_garbage_bad_hellos_and_a_busy_session() {
    let server = Server::start(None, "127.0.0.1", &["--token", "right", "--timeout", "2"]);
    let addr = server.addr;
    let mut cases = Vec::new();

    // Bytes that are no frame at all: "GET " read as a length is over 1 GB.
    let mut c = RawClient::connect(addr);
    assert!(c.challenge.token_required);
    std::io::Write::write_all(&mut c.sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    cases.push(("http request", c.refused()));

    // A frame whose body is not JSON.
    let mut c = RawClient::connect(addr);
    std::io::Write::write_all(&mut c.sock, b"\0\0\0\x05\xff\xfe{{[").unwrap();
    cases.push(("garbage frame", c.refused()));

    // An oversized frame: the length alone is refused.
    let mut c = RawClient::connect(addr);
    std::io::Write::write_all(&mut c.sock, &((MAX_CLIENT_FRAME as u32) + 1).to_be_bytes()).unwrap();
    cases.push(("oversized", c.refused()));

    // A truncated frame: ten bytes of a hundred, then the client half-closes.
    let mut c = RawClient::connect(addr);
    std::io::Write::write_all(&mut c.sock, b"\0\0\0\x64{\"protocol").unwrap();
    c.sock.shutdown(std::net::Shutdown::Write).unwrap();
    cases.push(("truncated", c.refused()));

    let cookie = [42u8; 16];
    let mut c = RawClient::connect(addr);
    c.hello(proto::VERSION + 1, Some("right"), cookie, Channel::Control);
    cases.push(("wrong version", c.refused()));

    let mut c = RawClient::connect(addr);
    c.hello(proto::VERSION, Some("wrong"), cookie, Channel::Control);
    cases.push(("wrong token", c.refused()));

    let mut c = RawClient::connect(addr);
    c.hello(proto::VERSION, None, cookie, Channel::Control);
    cases.push(("no token", c.refused()));

    let mut c = RawClient::connect(addr);
    c.hello(
        proto::VERSION,
        Some("right"),
        cookie,
        Channel::Data { index: 0 },
    );
    cases.push(("data without a session", c.refused()));

    // Silence: nothing after the challenge, for longer than --timeout.
    let c = RawClient::connect(addr);
    let t0 = Instant::now();
    cases.push(("silent", c.refused()));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    let unspoken = format!("protocol version {} is not spoken here", proto::VERSION + 1);
    let expect: [(&str, &str); 9] = [
        ("http request", "over the bound"),
        ("garbage frame", "malformed hello"),
        ("oversized", "over the bound"),
        ("truncated", "in the middle of a message"),
        ("wrong version", &unspoken),
        ("wrong token", "wrong token"),
        ("no token", "needs a token"),
        ("data without a session", "no session with this cookie"),
        ("silent", "timed out"),
    ];
    for ((case, got), (want_case, want)) in cases.iter().zip(expect) {
        assert_eq!(*case, want_case);
        assert!(got.contains(want), "{case}: {got:?} should say {want:?}");
    }

    // A real session holds the server; a second control hello is told "busy",
    // and a data connection with the wrong cookie is refused.
    let mut first = RawClient::connect(addr);
    first.hello(proto::VERSION, Some("right"), cookie, Channel::Control);
    match first.reply() {
        Reply::Welcome { host } => assert!(host.kernel.is_some(), "{host:?}"),
        other => panic!("expected welcome, got {other:?}"),
    }
    let mut second = RawClient::connect(addr);
    second.hello(proto::VERSION, Some("right"), [7; 16], Channel::Control);
    assert_eq!(second.reply(), Reply::Busy);
    let mut stray = RawClient::connect(addr);
    stray.hello(
        proto::VERSION,
        Some("right"),
        [7; 16],
        Channel::Data { index: 0 },
    );
    assert!(stray.refused().contains("no session with this cookie"));
    // A cell over the limits is refused, and the session goes on.
    proto::write_frame(
        &mut first.sock,
        &Request::Cell(cell(copybench::WorkloadKind::Stream, 5000, 1000)),
    )
    .unwrap();
    match first.reply() {
        Reply::Error { message } => assert!(message.contains("--threads 5000"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
    // So is a block whose arms do not start with the cell's strategy: the
    // data headers name arms by their index in this list.
    proto::write_frame(
        &mut first.sock,
        &Request::Cell(CellSpec {
            arms: vec![
                copybench::StrategyKind::TwoCopy,
                copybench::StrategyKind::OneCopy,
            ],
            ..cell(copybench::WorkloadKind::Rr, 1, 1000)
        }),
    )
    .unwrap();
    match first.reply() {
        Reply::Error { message } => assert!(message.contains("first arm"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
    proto::write_frame(&mut first.sock, &Request::Batch(BatchSpec::Messages(1))).unwrap();
    assert!(matches!(first.reply(), Reply::Error { .. }));
    proto::write_frame(&mut first.sock, &Request::Bye).unwrap();
    server.wait_log("0 cell(s), ok", Duration::from_secs(5));

    // And a correct client is served.
    connect_run(
        None,
        &server,
        &[
            "--strategy",
            "one-copy",
            "--workload",
            "rr",
            "--token",
            "right",
        ],
    );
    let refused = server
        .log()
        .iter()
        .filter(|l| l.contains("refused"))
        .count();
    assert!(
        refused >= 10,
        "every refusal is logged: {:#?}",
        server.log()
    );
}

/// Retries `run --connect` while the server is busy; returns how long until it was served.
fn served_within(server: &Server, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let target = server.addr.to_string();
    loop {
        let out = copybench(
            None,
            &[
                "run",
                "--connect",
                &target,
                "--messages",
                "100",
                "--warmup",
                "0",
                "--timeout",
                "5",
            ],
        );
        if out.status.success() {
            return t0.elapsed();
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("busy"),
            "only busy may delay a correct client: {err}"
        );
        assert!(
            t0.elapsed() < limit,
            "still busy after {limit:?}: {:#?}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn long_client(server: &Server) -> Child {
    Command::new(BIN)
        .args([
            "run",
            "--connect",
            &server.addr.to_string(),
            "--workload",
            "stream",
            "--duration",
            "60",
            "--warmup",
            "0",
            "--timeout",
            "30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_client_that_vanishes_or_goes_silent_mid_cell_frees_the_server() {
    let server = Server::start(None, "127.0.0.1", &["--timeout", "2"]);

    // Killed mid-batch: its kernel closes the connections.
    let mut client = long_client(&server);
    std::thread::sleep(Duration::from_millis(2500));
    client.kill().unwrap();
    client.wait().unwrap();
    let waited = served_within(&server, Duration::from_secs(8));
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // Stopped mid-batch: its connections stay open but nothing more comes.
    let mut client = long_client(&server);
    std::thread::sleep(Duration::from_millis(2500));
    let pid = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let waited = served_within(&server, Duration::from_secs(10));
    // --timeout 2: the silent cell fails within it, the session soon after.
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    client.kill().unwrap();
    client.wait().unwrap();
    let failed: Vec<_> = server
        .log()
        .into_iter()
        .filter(|l| l.contains("failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{:#?}", server.log());
    // Each session's line says why its cell failed.
    assert!(
        failed[0].contains("after its cell failed: connection 0 (server)"),
        "{}",
        failed[0]
    );
    assert!(failed[1].contains("receive timeout"), "{}", failed[1]);

    // A cell whose data connections never come.
    let mut c = RawClient::connect(server.addr);
    c.hello(proto::VERSION, None, [9; 16], Channel::Control);
    assert!(matches!(c.reply(), Reply::Welcome { .. }));
    proto::write_frame(
        &mut c.sock,
        &Request::Cell(cell(copybench::WorkloadKind::Rr, 1, 60_000)),
    )
    .unwrap();
    assert_eq!(c.reply(), Reply::CellAccepted);
    let t0 = Instant::now();
    match c.reply() {
        Reply::Error { message } => assert!(message.contains("0 of 1 arrived"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}

/// `serve` without a token listens on loopback only, unless `--no-token` says
/// so: anywhere else it refuses with exit 2 and one line saying what to do.
/// (It refuses before binding; `--no-token` binds 0.0.0.0 on an ephemeral
/// port and is stopped at once.)
#[test]
fn serve_without_a_token_refuses_any_address_but_loopback() {
    for listen in ["0.0.0.0:7202", "[::]:7202", "192.0.2.1:7202"] {
        let out = copybench(None, &["serve", "--listen", listen]);
        assert_eq!(out.status.code(), Some(2), "{listen}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for says in [
            listen,
            "no token",
            "COPYBENCH_TOKEN",
            "--token",
            "--no-token",
        ] {
            assert!(err.contains(says), "{listen}: {says:?} in {err}");
        }
    }
    // The default --listen is 0.0.0.0:7202: the same refusal.
    let out = copybench(None, &["serve"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // --no-token and a token contradict each other.
    let out = copybench(None, &["serve", "--no-token", "--token", "t"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-token, but a token is given"));
    // With --no-token, or a token, or on loopback, it serves.
    let second = Duration::from_secs(1);
    let open = Server::start(None, "0.0.0.0", &["--no-token"]);
    open.wait_log("no token: anyone who can reach this port", second);
    drop(open);
    let guarded = Server::start(None, "0.0.0.0", &["--token", "t"]);
    guarded.wait_log("clients must prove the token", second);
    drop(guarded);
    for lo in ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"] {
        let local = Server::start(None, lo, &[]);
        local.wait_log("no token", second);
    }
}

/// A bare TCP connect, as a kubelet's `tcpSocket` readiness probe makes
/// (connect, close; sometimes after the challenge arrived, so a reset), never
/// holds the one session and is not a log line each: the first is logged,
/// the rest counted in the line at exit.
#[test]
fn bare_connects_are_quiet_probes_that_never_take_the_session() {
    let mut server = Server::start(None, "127.0.0.1", &["--token", "t", "--timeout", "5"]);
    let addr = server.addr;
    let probe = move |n: usize| {
        for i in 0..n {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
            if i % 2 == 1 {
                // After the challenge is in: closing with unread data sends a reset.
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(s);
        }
    };
    probe(10);
    // Probes while a session runs.
    let prober = std::thread::spawn(move || {
        for _ in 0..10 {
            probe(1);
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    connect_run(None, &server, &["--workload", "rr", "--token", "t"]);
    prober.join().unwrap();
    // The probes took no session: a client right after them is served.
    connect_run(None, &server, &["--workload", "stream", "--token", "t"]);
    // Each probe's thread is done within microseconds; give it ample time, then stop.
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{:#?}",
        server.log()
    );
    server.wait_log("stopped", Duration::from_secs(1));
    let log = server.log();
    let quiet: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("closed without a word"))
        .collect();
    assert_eq!(quiet.len(), 2, "the first, and the count at exit: {log:#?}");
    assert!(quiet[0].contains("readiness probe"), "{}", quiet[0]);
    let stopped = log.last().unwrap();
    assert!(
        stopped.contains("stopped; 20 connection(s) closed without a word"),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("refused")), "{log:#?}");
    let sessions = log.iter().filter(|l| l.ends_with("1 cell(s), ok")).count();
    assert_eq!(sessions, 2, "{log:#?}");
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn serve_in_one_namespace_run_and_sweep_connect_from_the_other() {
    let Some(pair) = NetnsPair::up("remote") else {
        return;
    };
    let (srv, cli) = (pair.server_ns.as_str(), pair.client_ns.as_str());
    let ip = pair.server_addr.to_string();
    let server = Server::start(Some(srv), &ip, &["--timeout", "5", "--token", "veth"]);
    assert_eq!(server.addr.ip().to_string(), ip);
    for strategy in common::strategy_names() {
        for workload in ["rr", "stream"] {
            connect_run(
                Some(cli),
                &server,
                &[
                    "--strategy",
                    strategy,
                    "--workload",
                    workload,
                    "--token",
                    "veth",
                ],
            );
        }
    }
    let dir = tempdir("remote-sweep");
    let out = copybench(
        Some(cli),
        &[
            "sweep",
            "--quick",
            "--connect",
            &server.addr.to_string(),
            "--token",
            "veth",
            "--sizes",
            "64,16K",
            "--threads",
            "1,2",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "sweep --connect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(rows.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
    // Every strategy x 2 workloads x 2 sizes x 2 thread counts, x --quick's repetitions.
    assert_eq!(
        records.len(),
        common::strategy_names().len()
            * 2
            * 2
            * 2
            * copybench::sweep::Matrix::quick().repeat as usize,
        "{rows}"
    );
    for r in &records {
        assert_eq!(&r[col("status")], "ok", "{r:?}");
        assert_eq!(&r[col("transport")], "tcp", "{r:?}");
        assert_eq!(&r[col("server")], server.addr.to_string(), "{r:?}");
        assert!(!r[col("server_cpu_ns_per_byte")].is_empty(), "{r:?}");
    }
    let env: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("env.json")).unwrap()).unwrap();
    // A remote block's arms take turns on one set of connections, as a
    // local block's do (the data headers name the arm; the rr server
    // answers by it), so the sweep is paired: sample i of every arm of a
    // block is round i.
    assert_eq!(env["run"]["sampling"], "paired", "{env}");
    let mut rounds =
        std::collections::BTreeMap::<(String, String, String), Vec<Vec<String>>>::new();
    let mut samples = csv::Reader::from_path(dir.join("samples.csv")).unwrap();
    let sh = samples.headers().unwrap().clone();
    let scol = |name: &str| sh.iter().position(|h| h == name).unwrap();
    let mut by_arm =
        std::collections::BTreeMap::<(String, String, String, String), Vec<String>>::new();
    for r in samples.records() {
        let r = r.unwrap();
        let block = (
            r[scol("workload")].to_string(),
            r[scol("field_size_bytes")].to_string(),
            r[scol("threads")].to_string(),
        );
        let arm = (
            block.0.clone(),
            block.1.clone(),
            block.2.clone(),
            r[scol("strategy")].to_string(),
        );
        by_arm
            .entry(arm)
            .or_default()
            .push(r[scol("sample")].to_string());
    }
    for ((w, f, t, _), numbers) in by_arm {
        rounds.entry((w, f, t)).or_default().push(numbers);
    }
    assert_eq!(rounds.len(), 8);
    for (block, arms) in &rounds {
        assert_eq!(arms.len(), common::strategy_names().len(), "{block:?}");
        assert!(arms.windows(2).all(|w| w[0] == w[1]), "{block:?}: {arms:?}");
    }
    assert_eq!(env["server_addr"], server.addr.to_string());
    assert!(env["server_host"]["kernel"].is_string(), "{env}");
    assert!(env["kernel"].is_string(), "{env}");
    // The same file through the type the report reads it with.
    let typed = copybench::report::read_env(&env.to_string()).unwrap();
    assert_eq!(typed.server_addr, Some(server.addr.to_string()));
    assert!(typed.server_host.unwrap().kernel.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every key path of a JSON value, with whether its value is null (for
/// leaves) or its kind, leaving out the top-level keys in `skip`.
fn shape(v: &Value, skip: &[&str]) -> Vec<String> {
    fn walk(v: &Value, path: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    walk(x, format!("{path}.{k}"), out);
                }
            }
            Value::Null => out.push(format!("{path}=null")),
            Value::Bool(_) | Value::Number(_) => out.push(format!("{path}=number")),
            Value::String(_) => out.push(format!("{path}=string")),
            Value::Array(_) => out.push(format!("{path}=array")),
        }
    }
    let mut out = Vec::new();
    if let Value::Object(m) = v {
        for (k, x) in m.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
            walk(x, k.clone(), &mut out);
        }
    }
    out.sort();
    out
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("copybench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
