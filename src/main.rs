//! The `copybench` command line.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// `print!` that never panics: a closed stdout (`copybench ... | head`)
/// just drops the rest of the output.
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `println!` that never panics on a closed stdout.
macro_rules! emitln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use copybench::size::parse_size;
use copybench::summary::{self, RunPlan};
use copybench::{
    Batch, Config, Error, Experiment, Shape, StrategyKind, TransportKind, Verify, WorkloadKind,
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
    #[arg(long, value_name = "BYTES", default_value = "4K", value_parser = parse_size)]
    field_size: usize,
    /// Fields per message, 1 to 1023, each separately allocated.
    #[arg(long, value_name = "N", default_value_t = 8)]
    fields: usize,
    /// Client threads, 1 to 1024, each with its own connection and server thread.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// Measured seconds (after the warm-up).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5.0,
        allow_negative_numbers = true
    )]
    duration: f64,
    /// Seconds run first and not counted.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    warmup: f64,
    /// Run exactly this many messages (rr: exchanges) in all instead of --duration.
    #[arg(long, value_name = "N")]
    messages: Option<u64>,
    /// Split the measured part into this many consecutive samples, 1 to 10000: each figure gets the median of the samples and its 95 % interval (6 or more for a full-coverage interval).
    #[arg(long, value_name = "N", default_value_t = 10)]
    samples: u64,
    /// SO_SNDBUF in bytes (kernel default if unset).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    sndbuf: Option<usize>,
    /// SO_RCVBUF in bytes (kernel default if unset).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    rcvbuf: Option<usize>,
    /// Messages in each sender's pool (default: about 4 MiB worth, 2 to 64).
    #[arg(long, value_name = "N")]
    pool: Option<usize>,
    /// Check every byte of every message instead of a sample.
    #[arg(long)]
    full_verify: bool,
    /// Timeout of every blocking socket call, in seconds.
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
    /// Without one, anyone who can reach the port can run cells here.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "COPYBENCH_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
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

/// Where the veth transport's threads go; defaults match netns-setup.sh.
#[derive(Args)]
struct VethArgs {
    /// veth: the network namespace of the server threads.
    #[arg(long, value_name = "NAME", default_value = copybench::netns::DEFAULT_SERVER_NS)]
    server_ns: String,
    /// veth: the network namespace of the client threads.
    #[arg(long, value_name = "NAME", default_value = copybench::netns::DEFAULT_CLIENT_NS)]
    client_ns: String,
    /// veth: the server's address, inside 198.18.0.0/15.
    #[arg(long, value_name = "IPV4", default_value_t = copybench::netns::DEFAULT_SERVER_ADDR)]
    server_addr: std::net::Ipv4Addr,
}

impl From<VethArgs> for copybench::Veth {
    fn from(a: VethArgs) -> copybench::Veth {
        copybench::Veth {
            server_ns: a.server_ns,
            client_ns: a.client_ns,
            server_addr: a.server_addr,
        }
    }
}

#[derive(Args)]
struct SweepArgs {
    /// Short cells (20 ms samples until within 5 %, at most 0.1 s, after 0.02 s warm-up), two repetitions: the default matrix in about a minute and a half (five strategies).
    #[arg(long)]
    quick: bool,
    /// Sample each cell until its main figure's 95 % interval is within this many percent of its median (default 2; 5 with --quick), up to --duration.
    #[arg(long, value_name = "PCT", allow_negative_numbers = true)]
    precision: Option<f64>,
    /// Seconds per sample (default 0.05; 0.02 with --quick).
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
    #[arg(long, value_name = "BYTES,..", value_delimiter = ',', value_parser = parse_size, default_value = "64,256,1K,4K,16K,64K")]
    sizes: Vec<usize>,
    /// Thread counts, comma-separated, each 1 to 1024.
    #[arg(
        long,
        value_name = "N,..",
        value_delimiter = ',',
        default_value = "1,2,4,8"
    )]
    threads: Vec<usize>,
    /// Fields per message, 1 to 1023.
    #[arg(long, value_name = "N", default_value_t = 8)]
    fields: usize,
    /// Seconds of warm-up per cell, not counted (default 0.2; 0.02 with --quick).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    warmup: Option<f64>,
    /// Most measured seconds per cell and repetition (default 1; 0.1 with --quick).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Repetitions of every cell, 1 to 100 (default 3; 2 with --quick); their samples are pooled.
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,
    /// Output directory (default reports/<UTC timestamp>; reports/latest points at the newest).
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    veth: VethArgs,
    #[command(flatten)]
    pin: PinArgs,
    /// Run the server ends on `copybench serve` at HOST[:PORT] (port 7202 by
    /// default); the transport is then `tcp`.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "transports")]
    connect: Option<String>,
    #[command(flatten)]
    token: TokenArg,
}

fn seconds(flag: &str, v: f64, allow_zero: bool) -> Result<Duration, Error> {
    let ok = v.is_finite() && if allow_zero { v >= 0.0 } else { v > 0.0 } && v <= 86_400.0;
    if !ok {
        let range = if allow_zero {
            "0 to 86400"
        } else {
            "more than 0, at most 86400"
        };
        return Err(Error::usage(format!("{flag} {v}: must be {range} seconds")));
    }
    Ok(Duration::from_secs_f64(v))
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let shape = Shape {
        fields: args.fields,
        field_size: args.field_size,
    };
    let transport = if args.connect.is_some() {
        TransportKind::Tcp
    } else {
        args.transport
    };
    let mut cfg = Config::new(args.strategy, transport, args.workload, shape);
    cfg.threads = args.threads;
    cfg.pool_slots = args.pool;
    cfg.counters = !args.no_counters;
    cfg.verify = if args.full_verify {
        Verify::Full
    } else {
        Verify::Sampled
    };
    cfg.transport.sndbuf = args.sndbuf;
    cfg.transport.rcvbuf = args.rcvbuf;
    cfg.transport.timeout = seconds("--timeout", args.timeout, false)?;
    cfg.transport.veth = args.veth.into();
    cfg.pin = args.pin.pin();
    let duration = seconds("--duration", args.duration, false)?;
    let warmup = seconds("--warmup", args.warmup, true)?;
    if args.messages == Some(0) {
        return Err(Error::usage("--messages 0: must be at least 1").into());
    }
    if !(1..=10_000).contains(&args.samples) {
        return Err(Error::usage(format!("--samples {}: must be 1 to 10000", args.samples)).into());
    }
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
        if n < args.threads as u64 {
            return Err(Error::usage(format!(
                "--messages {n}: with --connect, must be at least --threads ({})",
                args.threads
            ))
            .into());
        }
    }

    let remote = open_remote(&args.connect, &args.token, cfg.transport.timeout)?;
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
    let sample_all = |run: &mut dyn FnMut(Batch) -> copybench::Result<copybench::BatchReport>| {
        if !warmup.is_zero() {
            run(Batch::Duration(warmup))?;
        }
        let samples = batches
            .iter()
            .map(|&b| run(b))
            .collect::<copybench::Result<Vec<_>>>()?;
        Ok::<_, copybench::Error>(copybench::cell::CellRun::from_samples(
            samples,
            cfg.workload,
            true,
        ))
    };
    let plan = RunPlan {
        warmup_s: warmup.as_secs_f64(),
        duration_s: args.messages.is_none().then_some(duration.as_secs_f64()),
        messages: args.messages,
        samples: n,
    };
    match remote {
        None => {
            let mut exp = Experiment::start(&cfg)?;
            let run = sample_all(&mut |b| exp.run(b))?;
            exp.stop()?;
            print_run(&cfg, &plan, args.json, &run, None)
        }
        Some(mut remote) => {
            let mut exp = remote.start(&cfg)?;
            let run = sample_all(&mut |b| exp.run(b))?;
            exp.stop()?;
            let server = (remote.addr(), remote.server_host().clone());
            remote.close();
            print_run(&cfg, &plan, args.json, &run, Some(server))
        }
    }
}

/// Prints a run's figures; with a server, also its address and both hosts' facts.
fn print_run(
    cfg: &Config,
    plan: &RunPlan,
    json: bool,
    run: &copybench::cell::CellRun,
    server: Option<(std::net::SocketAddr, serde_json::Value)>,
) -> anyhow::Result<()> {
    if json {
        let mut v = summary::to_json(cfg, plan, run);
        if let (Some((addr, host)), serde_json::Value::Object(obj)) = (server, &mut v) {
            obj.insert("server".into(), addr.to_string().into());
            let client = serde_json::to_value(copybench::host::gather())?;
            obj.insert(
                "hosts".into(),
                serde_json::json!({ "client": client, "server": host }),
            );
        }
        emitln!("{v}");
    } else {
        emit!("{}", summary::to_table(cfg, plan, run));
        if let Some((addr, host)) = server {
            let s = |k: &str| {
                host.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("n/a")
                    .to_string()
            };
            emitln!(
                "server           {addr}: kernel {}, {}, {} cores",
                s("kernel"),
                s("cpu_model"),
                host.get("cores").map_or("n/a".into(), |v| v.to_string())
            );
        }
    }
    Ok(())
}

/// Exit code of a sweep stopped by SIGINT or SIGTERM (128 + SIGINT).
const INTERRUPTED: u8 = 130;

fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    use copybench::sweep::{self, Matrix};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    let base = if args.quick {
        Matrix::quick()
    } else {
        Matrix::full()
    };
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
        threads: args.threads,
        fields: args.fields,
        warmup: args
            .warmup
            .map_or(Ok(base.warmup), |v| seconds("--warmup", v, true))?,
        duration: args
            .duration
            .map_or(Ok(base.duration), |v| seconds("--duration", v, false))?,
        sample: args
            .sample
            .map_or(Ok(base.sample), |v| seconds("--sample", v, false))?,
        precision: args.precision.map_or(base.precision, |p| p / 100.0),
        repeat: args.repeat.unwrap_or(base.repeat),
        veth: args.veth.into(),
        pin: args.pin.pin(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let dir = args.out.unwrap_or_else(|| {
        std::path::Path::new("reports").join(sweep::timestamp_name(std::time::SystemTime::now()))
    });

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} cells, {eta} left  {msg}")
            .expect("static template"),
    );
    m.validate()?;
    let mut remote = open_remote(&args.connect, &args.token, Duration::from_secs(10))?;
    // One line per finished cell: above the bar on a terminal, plain lines
    // on stderr otherwise (the bar is hidden there), so logs show progress.
    let outcome = sweep::run_with(&m, &dir, args.resume, &stop, remote.as_mut(), |p| match p {
        sweep::Progress::Start { done, total, cfg } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!(
                "{} {} {} {} B x{} threads={}",
                cfg.strategy,
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
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(r) = remote {
        r.close();
    }

    let files = copybench::report::write_report(&dir, &outcome.rows, &outcome.env)?;
    if dir.parent().is_some_and(|p| p.ends_with("reports")) {
        sweep::point_latest(&dir)?;
    }
    let text = copybench::report::console(&copybench::report::analyze_dir(&dir, &outcome.rows));
    let failed = outcome.rows.iter().filter(|r| r.status != "ok").count();
    let tail = format!(
        "\n{} rows ({} failed) in {:.1} s: {}",
        outcome.rows.len(),
        failed,
        outcome.wall.as_secs_f64(),
        files.index.display()
    );
    if args.json {
        eprintln!("{text}{tail}");
        emitln!("{}", std::fs::read_to_string(&files.findings)?);
    } else {
        emitln!("{text}{tail}");
    }
    if outcome.interrupted {
        eprintln!(
            "copybench: interrupted; kept the {} rows measured so far",
            outcome.rows.len()
        );
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    let opts = copybench::remote::ServeOptions {
        listen: args.listen,
        token: checked_token(args.token)?,
        timeout: seconds("--timeout", args.timeout, false)?,
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

fn report(dir: &std::path::Path) -> anyhow::Result<()> {
    let analysis = copybench::report::rebuild(dir)?;
    emit!("{}", copybench::report::console(&analysis));
    emitln!("\nrebuilt {}", dir.join("index.html").display());
    Ok(())
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
        emitln!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        emit!("{}", compare::console(&c));
        emitln!("wrote {}", page.display());
    }
    Ok(())
}

fn doctor(json: bool) -> anyhow::Result<()> {
    let facts = copybench::host::gather();
    if json {
        emitln!("{}", serde_json::to_string_pretty(&facts)?);
    } else {
        emit!("{}", copybench::host::render_doctor(&facts));
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
            eprintln!("{}", line.join(" "));
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
            // A copybench error's message already names its cause (the
            // typed source underneath): print it alone, on one line.
            match e.downcast_ref::<Error>() {
                Some(err) => {
                    eprintln!("copybench: {err}");
                    ExitCode::from(err.exit_code())
                }
                None => {
                    eprintln!("copybench: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
