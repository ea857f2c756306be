//! The `copybench` command line.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use copybench::cell::{self, Plan, Samples};
use copybench::config::{self, MAX_POOL, MIN_DURATION, MIN_TIMEOUT};
use copybench::limits::{self, count_in, MAX_FIELDS, MAX_THREADS};
use copybench::model::size::parse_size;
use copybench::output::{self, RunPlan};
use copybench::Congestion;
use copybench::Session;
use copybench::{
    Batch, Config, Error, Experiment, Layout, ReceiveKind, Shape, StrategyKind, TransportKind,
    Verify, WorkloadKind,
};

#[derive(Parser)]
#[command(
    name = "copybench",
    version,
    about = "What it costs to hand a message to a Linux TCP socket: two-copy, one-copy, zero-copy (MSG_ZEROCOPY), uring, uring-zc (io_uring SENDMSG_ZC)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one experiment (one cell) and print what it measured.
    Run(RunArgs),
    /// Run a matrix of cells into reports/NAME/: results.csv, env.json, plots, index.html.
    Sweep(SweepArgs),
    /// Rebuild the plots and index.html of a sweep from its results.csv.
    Report {
        /// The sweep's directory, e.g. reports/latest.
        dir: std::path::PathBuf,
    },
    /// Compare two sweeps cell by cell: NEW/OLD of each figure with its interval and a verdict (better, worse, ≈); writes NEW/compare.html.
    Compare {
        /// The earlier sweep's directory.
        old: std::path::PathBuf,
        /// The later sweep's directory (compare.html is written there).
        new: std::path::PathBuf,
        /// Print the comparison as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Serve the server ends of cells to `run --connect` / `sweep --connect` on another host.
    Serve(ServeArgs),
    /// Show this host's facts and capabilities, and how to fix what is missing.
    Doctor {
        /// Print the facts as JSON (the sweep's env.json) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RunArgs {
    /// How the sender hands a message to the socket.
    #[arg(long, value_enum, default_value = "one-copy")]
    strategy: StrategyKind,
    /// Where the bytes go.
    #[arg(long, value_enum, default_value = "loopback")]
    transport: TransportKind,
    /// rr: request/response with round-trip latency; stream: one-way throughput.
    #[arg(long, value_enum, default_value = "stream")]
    workload: WorkloadKind,
    /// Bytes per field, 1 B to 64 MiB; binary suffixes (64, 4K, 64KiB, 1M).
    #[arg(long, value_name = "BYTES", default_value = "4K", value_parser = limits::field_size, allow_negative_numbers = true)]
    field_size: usize,
    /// Where each message's buffers lie: heap (each field its own allocation,
    /// wherever the allocator puts it) or page (fields page-aligned, the
    /// header at the end of the page before them: the fewest pages a
    /// zero-copy send must pin).
    #[arg(long, value_enum, default_value = "heap")]
    layout: Layout,
    /// Fields per message, 1 to 1023, each separately allocated.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = count_in("--fields", 1, MAX_FIELDS), allow_negative_numbers = true)]
    fields: u64,
    /// Client threads, 1 to 1024, each with its own connection and server thread.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count_in("--threads", 1, MAX_THREADS), allow_negative_numbers = true)]
    threads: u64,
    /// Measured seconds (after the warm-up), 0.001 to 86400.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5.0,
        allow_negative_numbers = true
    )]
    duration: f64,
    /// Seconds run first and not counted, 0 to 86400.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    warmup: f64,
    /// Run exactly this many messages (rr: exchanges) in all instead of --duration.
    #[arg(long, value_name = "N", value_parser = count_in("--messages", 1, u64::MAX), allow_negative_numbers = true, conflicts_with = "duration")]
    messages: Option<u64>,
    /// Split the measured part into this many consecutive samples, 1 to 10000: each figure gets the median of the samples and its 95 % interval (6 or more for a full-coverage interval).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = count_in("--samples", 1, 10_000), allow_negative_numbers = true)]
    samples: u64,
    /// SO_SNDBUF in bytes, at most net.core.wmem_max (kernel default if unset).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    sndbuf: Option<usize>,
    /// TCP congestion control of every TCP socket, one this host lists in
    /// net.ipv4.tcp_available_congestion_control (default: the host's,
    /// net.ipv4.tcp_congestion_control). One that paces, such as bbr, holds
    /// a loopback or veth sender to its estimate of the path; the effective
    /// one is echoed as congestion_effective.
    #[arg(long, value_name = "NAME", value_parser = Congestion::parse)]
    congestion: Option<Congestion>,
    /// SO_RCVBUF in bytes, at most net.core.rmem_max (kernel default if unset).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    rcvbuf: Option<usize>,
    /// Messages in each sender's pool, 1 to 65536 (default: about 4 MiB worth, 2 to 64).
    #[arg(long, value_name = "N", value_parser = count_in("--pool", 1, MAX_POOL as u64), allow_negative_numbers = true)]
    pool: Option<u64>,
    /// Check every byte of every message instead of a sample.
    #[arg(long)]
    full_verify: bool,
    /// How receivers take messages off the socket: copy (recv into a buffer)
    /// or zerocopy (TCP_ZEROCOPY_RECEIVE maps whole received pages; what it
    /// cannot map is recv'd and counted as copied). zerocopy sets TCP_MAXSEG
    /// to a page + 12 (one page of payload per segment) unless --maxseg says otherwise.
    #[arg(long, value_enum, default_value = "copy")]
    receive: ReceiveKind,
    /// TCP_MAXSEG on every TCP socket before its handshake, 88 to 65535, for
    /// either receiver (default: the kernel's for copy, a page + 12 for
    /// zerocopy); `--maxseg 4108` puts a copying receiver at the mapping
    /// one's MSS. The effective MSS is echoed as mss_effective.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    maxseg: Option<usize>,
    /// SO_RCVLOWAT of every receiving socket: a receiver waits until this
    /// many bytes are queued, never more than its sender has promised (the
    /// rest of a counted batch, or up to its next deadline check). Default:
    /// a 16 KiB mark for the copying receiver on loopback TCP while a
    /// copying sender has promised that much, else none; 1 = no mark.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    rcvlowat: Option<usize>,
    /// Timeout of every blocking socket call, in seconds, 0.1 to 86400.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        allow_negative_numbers = true
    )]
    timeout: f64,
    #[command(flatten)]
    veth: VethArgs,
    #[command(flatten)]
    pin: PinArgs,
    /// Count nothing but CPU time in the worker threads: no hardware perf
    /// events (their scheduler hooks cost CPU at every context switch) and no
    /// software counters.
    #[arg(long)]
    no_counters: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Run the server ends on `copybench serve` at HOST[:PORT] (port 7202 by
    /// default); the transport is then `tcp`.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "transport")]
    connect: Option<String>,
    #[command(flatten)]
    token: TokenArg,
}

/// The token for `--connect`.
#[derive(Args)]
struct TokenArg {
    /// The token the server was started with (read from COPYBENCH_TOKEN when
    /// unset); proven, never sent.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "COPYBENCH_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

/// Opens a session with the server, when `--connect` was given.
fn open_remote(
    connect: &Option<String>,
    token: &TokenArg,
    timeout: Duration,
) -> anyhow::Result<Option<copybench::remote::Remote>> {
    let Some(target) = connect else {
        return Ok(None);
    };
    let addr = copybench::remote::resolve(target)?;
    let token = checked_token(token.token.clone())?;
    Ok(Some(copybench::remote::Remote::connect(
        addr, token, timeout,
    )?))
}

fn checked_token(token: Option<String>) -> Result<Option<String>, Error> {
    match token {
        Some(t) if t.is_empty() => Err(Error::usage(
            "--token: must not be empty (unset COPYBENCH_TOKEN for no token)",
        )),
        t => Ok(t),
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address and port to listen on, for control and data alike.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:7202")]
    listen: std::net::SocketAddr,
    /// Clients must prove this token (read from COPYBENCH_TOKEN when unset).
    /// Needed unless --listen is a loopback address or --no-token is given.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "COPYBENCH_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Serve without a token on a non-loopback address: anyone who can reach
    /// the port can run cells here.
    #[arg(long)]
    no_token: bool,
    /// Deadline of every read, and how long a silent or vanished client may
    /// hold the server, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        allow_negative_numbers = true
    )]
    timeout: f64,
    /// Serve one session, then exit.
    #[arg(long)]
    once: bool,
}

/// Pinning worker threads to CPUs.
#[derive(Args)]
struct PinArgs {
    /// Pin each connection's client and server threads to CPUs of their own, alternating over the CPUs this process may use (client 0, server 1, ...).
    #[arg(long, conflicts_with_all = ["client_cpus", "server_cpus"])]
    pin: bool,
    /// Pin client threads to these CPUs, comma-separated (connection i on the (i mod n)th); needs --server-cpus.
    #[arg(
        long,
        value_name = "CPU,..",
        value_delimiter = ',',
        requires = "server_cpus"
    )]
    client_cpus: Vec<usize>,
    /// Pin server threads to these CPUs, comma-separated; needs --client-cpus.
    #[arg(
        long,
        value_name = "CPU,..",
        value_delimiter = ',',
        requires = "client_cpus"
    )]
    server_cpus: Vec<usize>,
}

impl PinArgs {
    fn pin(self) -> Option<copybench::Pin> {
        if self.pin {
            Some(copybench::Pin::spread(&copybench::config::allowed_cpus()))
        } else if !self.client_cpus.is_empty() {
            Some(copybench::Pin {
                client: self.client_cpus,
                server: self.server_cpus,
            })
        } else {
            None
        }
    }
}

/// A sweep's threads are pinned unless `--no-pin`: client and server of a
/// connection on CPUs of their own (`--pin`), so every cell runs in the
/// same placement and a call between strategies survives a rerun. Measured
/// on this project's 2-core VM: three default `sweep --quick` runs back to
/// back gave 8 contradicting calls of 336 unpinned, 0 pinned. With fewer
/// than two CPUs there is nothing to separate, and the threads stay unpinned.
fn default_sweep_pin() -> Option<copybench::Pin> {
    let cpus = copybench::config::allowed_cpus();
    (cpus.len() >= 2).then(|| copybench::Pin::spread(&cpus))
}

/// Where the veth transport's threads go; defaults match netns-setup.sh.
#[derive(Args)]
struct VethArgs {
    /// veth: the network namespace of the server threads [default: copybench-srv].
    #[arg(long, value_name = "NAME")]
    server_ns: Option<String>,
    /// veth: the network namespace of the client threads [default: copybench-cli].
    #[arg(long, value_name = "NAME")]
    client_ns: Option<String>,
    /// veth: the server's address, inside 198.18.0.0/15 [default: 198.18.0.1].
    #[arg(long, value_name = "IPV4")]
    server_addr: Option<std::net::Ipv4Addr>,
}

impl VethArgs {
    /// The veth settings; a veth flag given without veth among the
    /// transports would be silently ignored, so it is refused.
    fn resolve(self, veth_runs: bool) -> Result<copybench::Veth, Error> {
        if !veth_runs {
            let given = [
                ("--server-ns", self.server_ns.is_some()),
                ("--client-ns", self.client_ns.is_some()),
                ("--server-addr", self.server_addr.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
                return Err(Error::usage(format!(
                    "{flag} applies only to the veth transport: add --transport veth, or leave {flag} out"
                )));
            }
        }
        let d = copybench::Veth::default();
        Ok(copybench::Veth {
            server_ns: self.server_ns.unwrap_or(d.server_ns),
            client_ns: self.client_ns.unwrap_or(d.client_ns),
            server_addr: self.server_addr.unwrap_or(d.server_addr),
        })
    }
}

#[derive(Args)]
struct SweepArgs {
    /// Short blocks (a cell's strategies side by side in rounds of 5 ms samples until every pair is decided, at most 0.1 s per strategy, after 0.05 s warm-up), one repetition: the default matrix in under a minute (five strategies).
    #[arg(long)]
    quick: bool,
    /// A block of one strategy: sample it until its main figure's 95 % interval is within this many percent of its median (default 2; 5 with --quick), up to --duration. (Blocks of several stop when every pair is decided.)
    #[arg(long, value_name = "PCT", allow_negative_numbers = true)]
    precision: Option<f64>,
    /// Seconds per sample, one per strategy and round (default 0.02; 0.005 with --quick).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    sample: Option<f64>,
    /// Continue the stopped sweep in --out DIR: keep its rows and skip the runs they cover.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Print findings.json to stdout at the end (progress and the findings table go to stderr).
    #[arg(long)]
    json: bool,
    /// Strategies, comma-separated (default: every strategy this host can
    /// run; `doctor` says whether the io_uring ones can).
    #[arg(long, value_enum, value_delimiter = ',')]
    strategies: Vec<StrategyKind>,
    /// Transports, comma-separated (zero-copy and uring-zc over unix are left out).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "loopback")]
    transports: Vec<TransportKind>,
    /// Workloads, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "rr,stream")]
    workloads: Vec<WorkloadKind>,
    /// Field sizes, comma-separated, each 1 B to 64 MiB.
    #[arg(long, value_name = "BYTES,..", value_delimiter = ',', value_parser = limits::field_size, allow_negative_numbers = true, default_value = "64,256,1K,4K,16K,64K")]
    sizes: Vec<usize>,
    /// Thread counts, comma-separated, each 1 to 1024.
    #[arg(
        long,
        value_name = "N,..",
        value_delimiter = ',',
        value_parser = count_in("--threads", 1, MAX_THREADS),
        allow_negative_numbers = true,
        default_value = "1,2,4,8"
    )]
    threads: Vec<u64>,
    /// Fields per message, 1 to 1023.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = count_in("--fields", 1, MAX_FIELDS), allow_negative_numbers = true)]
    fields: u64,
    /// Message layouts, comma-separated: heap, page (see `run --layout`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "heap")]
    layouts: Vec<Layout>,
    /// Receive strategies, comma-separated: copy, zerocopy (see `run
    /// --receive`); the arms of a block are its strategies x receives.
    /// zerocopy over unix is left out; a sweep with zerocopy runs every TCP
    /// cell at TCP_MAXSEG a page + 12, so that its arms share the MSS.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "copy")]
    receives: Vec<ReceiveKind>,
    /// SO_RCVLOWAT values, comma-separated (see `run --rcvlowat`); 0 leaves
    /// it to the default (run --rcvlowat's). Each value's cells are blocks of their own,
    /// like a field size's; results.csv says it in rcvlowat_bytes.
    #[arg(long, value_name = "BYTES,..", value_delimiter = ',', value_parser = limits::rcvlowat_or_unset, allow_negative_numbers = true, default_value = "0")]
    rcvlowats: Vec<Option<usize>>,
    /// Seconds of warm-up per cell, not counted (default 0.1; 0.05 with --quick).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    warmup: Option<f64>,
    /// Most measured seconds per cell and repetition (default 0.4; 0.1 with --quick), passed to reach six rounds.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Repetitions of every block, 1 to 100 (default 3; 1 with --quick), each a fresh block a pass apart.
    #[arg(long, value_name = "N", value_parser = count_in("--repeat", 1, 100), allow_negative_numbers = true)]
    repeat: Option<u64>,
    /// Longest a cell may take, start to teardown, before it is stopped and
    /// recorded as failed (default: warm-up + 6 x duration + 5 s, as an arm
    /// may run past --duration to reach six rounds); a block gets this for each strategy.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    cell_limit: Option<f64>,
    /// TCP congestion control of every TCP cell's sockets (see `run
    /// --congestion`; default: the host's, recorded in env.json).
    #[arg(long, value_name = "NAME", value_parser = Congestion::parse)]
    congestion: Option<Congestion>,
    /// Output directory, new or empty (default reports/<UTC timestamp>; reports/latest points at the newest).
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    veth: VethArgs,
    #[command(flatten)]
    pin: PinArgs,
    /// Let the scheduler place the worker threads. A sweep otherwise pins them as --pin does: unpinned, an rr cell on a small
    /// host lands in one of two states (both ends on one CPU, or on two) that differ several-fold, and which one a cell gets
    /// changes from cell to cell, so calls between strategies would not survive a rerun.
    #[arg(long, conflicts_with_all = ["pin", "client_cpus", "server_cpus"])]
    no_pin: bool,
    /// Run the server ends on `copybench serve` at HOST[:PORT] (port 7202 by
    /// default); the transport is then `tcp`.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "transports")]
    connect: Option<String>,
    #[command(flatten)]
    token: TokenArg,
}

/// Standard output as a command's result goes there. A reader that went away
/// (`| head`, `| true`) is not an error: it has what it wanted, so the rest
/// is dropped quietly and the command ends as it would have. Any other write
/// error (a full disk) is one line and exit 1.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::io("writing to standard output", e).into()),
    }
}

/// One line on standard error; if even that cannot be written there is no
/// one left to tell, and no reason to panic.
fn warn(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let shape = Shape {
        fields: args.fields as usize,
        field_size: args.field_size,
    };
    let transport = if args.connect.is_some() {
        TransportKind::Tcp
    } else {
        args.transport
    };
    let mut cfg = Config::new(args.strategy, transport, args.workload, shape);
    cfg.threads = args.threads as usize;
    cfg.layout = args.layout;
    cfg.receive = args.receive;
    cfg.rcvlowat = args.rcvlowat;
    if let Some(m) = args.maxseg {
        // Its range is checked with the rest of the cell (Config::validate).
        let Ok(m) = u32::try_from(m) else {
            return Err(Error::usage(format!(
                "--maxseg {m}: must be {} to {} bytes (TCP_MAXSEG's range)",
                config::MIN_MAXSEG,
                config::MAX_MAXSEG
            ))
            .into());
        };
        if transport == TransportKind::Unix {
            return Err(Error::usage("--maxseg: a unix socket has no segments (TCP only)").into());
        }
        cfg.transport.maxseg = Some(m);
    } else if args.receive == ReceiveKind::Zerocopy {
        cfg.transport.maxseg = Some(copybench::recv_map_mss());
    }
    cfg.pool_slots = args.pool.map(|n| n as usize);
    cfg.counters = !args.no_counters;
    cfg.verify = if args.full_verify {
        Verify::Full
    } else {
        Verify::Sampled
    };
    cfg.transport.sndbuf = args.sndbuf;
    cfg.transport.rcvbuf = args.rcvbuf;
    cfg.transport.congestion = args.congestion;
    cfg.transport.timeout = config::seconds("--timeout", args.timeout, MIN_TIMEOUT)?;
    cfg.transport.veth = args.veth.resolve(args.transport == TransportKind::Veth)?;
    cfg.pin = args.pin.pin();
    let duration = config::seconds("--duration", args.duration, MIN_DURATION)?;
    let warmup = config::seconds("--warmup", args.warmup, 0.0)?;
    if let Some(m) = args.messages {
        if m < args.samples {
            return Err(Error::usage(format!(
                "--messages {m}: must be at least --samples ({})",
                args.samples
            ))
            .into());
        }
    }
    cfg.validate()?;
    if let (Some(_), Some(n)) = (&args.connect, args.messages) {
        if n < args.threads {
            return Err(Error::usage(format!(
                "--messages {n}: with --connect, must be at least --threads ({})",
                args.threads
            ))
            .into());
        }
    }

    let mut remote = open_remote(&args.connect, &args.token, cfg.transport.timeout)?;
    cfg.transport.server = remote.as_ref().map(|r| r.addr());
    // The measured part as `--samples` consecutive batches of equal shares
    // (the last takes what a division leaves over).
    let n = args.samples;
    let batches: Vec<Batch> = (0..n)
        .map(|i| match args.messages {
            Some(total) => Batch::Messages(if i + 1 == n {
                total - (n - 1) * (total / n)
            } else {
                total / n
            }),
            None => Batch::Duration(duration / n as u32),
        })
        .collect();
    let plan = RunPlan {
        warmup_s: warmup.as_secs_f64(),
        duration_s: args.messages.is_none().then_some(duration.as_secs_f64()),
        messages: args.messages,
        samples: n,
        buffers: copybench::SocketBuffers {
            sndbuf: None,
            rcvbuf: None,
            mss: None,
            default_rcvlowat: None,
            congestion: None,
        },
    };
    // This host's facts, once, before anything is measured: the cell's
    // result carries them (its unavailable counters, `--connect`'s hosts).
    let host = std::sync::Arc::new(copybench::probe::gather());
    let measured = Plan {
        warmup,
        samples: Samples::Fixed(batches),
    };
    let session: Box<dyn Session + '_> = match remote.as_mut() {
        None => Box::new(Experiment::start(&cfg)?),
        Some(remote) => Box::new(remote.start(&cfg)?),
    };
    let (cell, buffers) = cell::run(session, &measured, &host)?;
    if let Some(remote) = remote {
        remote.close();
    }
    let plan = RunPlan { buffers, ..plan };
    if args.json {
        emit(&format!("{}\n", output::to_json(&cell, &plan)))
    } else {
        emit(&output::to_table(&cell, &plan))
    }
}

/// Exit code of a sweep stopped by SIGINT or SIGTERM (128 + SIGINT).
const INTERRUPTED: u8 = 130;

fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    use copybench::sweep::{self, Matrix, Stop};
    use std::sync::atomic::Ordering;

    let base = if args.quick {
        Matrix::quick()
    } else {
        Matrix::full()
    };
    let veth_runs = args.transports.contains(&TransportKind::Veth);
    let transports = if args.connect.is_some() {
        vec![TransportKind::Tcp]
    } else {
        args.transports
    };
    let m = Matrix {
        strategies: if args.strategies.is_empty() {
            // Say what the default leaves out, and why, rather than silently.
            for s in StrategyKind::ALL {
                if let Err(why) = s.host_support() {
                    eprintln!("copybench: leaving out {s}: {why}");
                }
            }
            base.strategies.clone()
        } else {
            args.strategies
        },
        transports,
        workloads: args.workloads,
        field_sizes: args.sizes,
        layouts: args.layouts,
        receives: {
            let mut r = args.receives;
            if r.contains(&ReceiveKind::Zerocopy) {
                if let Err(why) = copybench::recv_map_support() {
                    eprintln!("copybench: leaving out --receives zerocopy: {why}");
                    r.retain(|&k| k != ReceiveKind::Zerocopy);
                }
            }
            r
        },
        rcvlowats: args.rcvlowats,
        threads: args.threads.into_iter().map(|n| n as usize).collect(),
        fields: args.fields as usize,
        warmup: args
            .warmup
            .map_or(Ok(base.warmup), |v| config::seconds("--warmup", v, 0.0))?,
        duration: args.duration.map_or(Ok(base.duration), |v| {
            config::seconds("--duration", v, MIN_DURATION)
        })?,
        sample: args.sample.map_or(Ok(base.sample), |v| {
            config::seconds("--sample", v, MIN_DURATION)
        })?,
        precision: args.precision.map_or(base.precision, |p| p / 100.0),
        repeat: args.repeat.map_or(base.repeat, |n| n as u32),
        cell_limit: args
            .cell_limit
            .map(|v| config::seconds("--cell-limit", v, MIN_TIMEOUT))
            .transpose()?,
        veth: args.veth.resolve(veth_runs)?,
        congestion: args.congestion,
        pin: if args.no_pin {
            None
        } else {
            args.pin.pin().or_else(default_sweep_pin)
        },
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    m.validate()?;
    let dir = args.out.unwrap_or_else(|| {
        std::path::Path::new("reports").join(sweep::timestamp_name(std::time::SystemTime::now()))
    });
    limits::check_out_dir(&dir, args.resume)?;

    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} cells, {eta} left  {msg}")
            .expect("static template"),
    );
    // The first SIGINT/SIGTERM ends the sweep after the current block; a
    // second one stops that block at once (none of it is recorded). Either
    // way every finished row is kept.
    let stop = Stop::default();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    let signal_handle = signals.handle();
    let watcher = {
        let (stop, bar) = (stop.clone(), bar.clone());
        std::thread::spawn(move || {
            for (n, _) in signals.forever().enumerate() {
                let (flag, line) = if n == 0 {
                    (
                        &stop.after_cell,
                        "copybench: stopping after this block (again to stop now)",
                    )
                } else {
                    (&stop.now, "copybench: stopping now")
                };
                flag.store(true, Ordering::SeqCst);
                if bar.is_hidden() {
                    warn(line);
                } else {
                    bar.println(line);
                }
            }
        })
    };
    let mut remote = open_remote(&args.connect, &args.token, Duration::from_secs(10))?;
    // One line per finished cell: above the bar on a terminal, plain lines
    // on stderr otherwise (the bar is hidden there), so logs show progress.
    let outcome = sweep::run_with(&m, &dir, args.resume, &stop, remote.as_mut(), |p| match p {
        sweep::Progress::Start { done, total, cfg } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!(
                "{} {} {} B x{} threads={}",
                cfg.transport.kind,
                cfg.workload,
                cfg.shape.field_size,
                cfg.shape.fields,
                cfg.threads
            ));
        }
        sweep::Progress::Done { done, total, row } => {
            let line = copybench::report::progress_line(done, total, row);
            if bar.is_hidden() {
                warn(&line);
            } else {
                bar.println(line);
            }
        }
    });
    signal_handle.close();
    let _ = watcher.join();
    let outcome = outcome?;
    bar.finish_and_clear();
    if let Some(r) = remote {
        r.close();
    }

    let files = copybench::report::write_report(&dir, &outcome.rows, Some(&outcome.env))?;
    if dir.parent().is_some_and(|p| p.ends_with("reports")) {
        sweep::point_latest(&dir)?;
    }
    let text = copybench::report::console(&files.analysis);
    let failed = outcome
        .rows
        .iter()
        .filter(|r| r.status != copybench::Status::Ok)
        .count();
    let tail = format!(
        "\n{} rows ({} failed) in {:.1} s: {}",
        outcome.rows.len(),
        failed,
        outcome.wall.as_secs_f64(),
        files.index.display()
    );
    if args.json {
        warn(&format!("{text}{tail}"));
        emit(&format!("{}\n", std::fs::read_to_string(&files.findings)?))?;
    } else {
        emit(&format!("{text}{tail}\n"))?;
    }
    if outcome.interrupted {
        warn(&format!(
            "copybench: interrupted; kept the {} rows measured so far",
            outcome.rows.len()
        ));
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    let token = checked_token(args.token)?;
    check_serve_token(args.listen, token.is_some(), args.no_token)?;
    let opts = copybench::remote::ServeOptions {
        listen: args.listen,
        token,
        timeout: config::seconds("--timeout", args.timeout, MIN_TIMEOUT)?,
        once: args.once,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let listener = copybench::remote::server::bind(opts.listen)?;
    copybench::remote::server::serve(listener, opts, stop)?;
    Ok(())
}

/// `serve` without a token takes strangers' cells only when asked to:
/// on a loopback address (this host's users) it needs nothing, anywhere
/// else a token or `--no-token`.
fn check_serve_token(
    listen: std::net::SocketAddr,
    token: bool,
    no_token: bool,
) -> Result<(), Error> {
    if token && no_token {
        return Err(Error::usage(
            "serve: --no-token, but a token is given (--token or COPYBENCH_TOKEN): drop one of them",
        ));
    }
    if token || no_token || listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "serve --listen {listen}: no token, and this address takes connections from other hosts: set COPYBENCH_TOKEN (or --token TOKEN; clients need the same one), or pass --no-token to serve anyone who can reach the port"
    )))
}

fn report(dir: &std::path::Path) -> anyhow::Result<()> {
    let analysis = copybench::report::rebuild(dir)?;
    emit(&format!(
        "{}\nrebuilt {}\n",
        copybench::report::console(&analysis),
        dir.join("index.html").display()
    ))
}

fn compare(old: &std::path::Path, new: &std::path::Path, json: bool) -> anyhow::Result<()> {
    for (what, dir) in [("OLD", old), ("NEW", new)] {
        if !dir.join("results.csv").is_file() {
            return Err(Error::usage(format!(
                "{what} {}: no results.csv there; give the directory a sweep wrote (e.g. reports/latest)",
                dir.display()
            ))
            .into());
        }
    }
    use copybench::report::compare;
    let c = compare::compare_dirs(old, new)?;
    let page = new.join("compare.html");
    std::fs::write(&page, compare::html(&c))
        .map_err(|e| Error::io(format!("writing {}", page.display()), e))?;
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&c)?))
    } else {
        emit(&format!(
            "{}wrote {}\n",
            compare::console(&c),
            page.display()
        ))
    }
}

fn doctor(json: bool) -> anyhow::Result<()> {
    let facts = copybench::probe::gather();
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&facts)?))?;
    } else {
        emit(&copybench::probe::render_doctor(&facts))?;
    }
    if !facts.gaps.is_empty() {
        anyhow::bail!("could not look at: {}", facts.gaps.join("; "));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line naming the flag and what it accepts; no usage dump.
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("For more information")
                        && !l.starts_with("Usage:")
                })
                .collect();
            warn(&line.join(" "));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(args).map(|()| ExitCode::SUCCESS),
        Command::Sweep(args) => sweep(args),
        Command::Report { dir } => report(&dir).map(|()| ExitCode::SUCCESS),
        Command::Compare { old, new, json } => {
            compare(&old, &new, json).map(|()| ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Doctor { json } => doctor(json).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Printed once, on one line: most errors already quote the cause
            // underneath, which the chain would repeat (see one_line).
            let code = e
                .downcast_ref::<Error>()
                .map(Error::exit_code)
                .or_else(|| {
                    e.downcast_ref::<copybench::report::ReportError>()
                        .map(copybench::report::ReportError::exit_code)
                })
                .unwrap_or(1);
            warn(&format!("copybench: {}", one_line(&e)));
            ExitCode::from(code)
        }
    }
}

/// The error and its causes on one line, each cause once: most of our
/// errors already quote their source, which the chain would repeat.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line += ": ";
            line += &text;
        }
    }
    line
}
