//! The `copybench` command line.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Short cells (0.15 s after 0.04 s warm-up) and one repetition: the default matrix in about a minute.
    #[arg(long)]
    quick: bool,
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
    /// Seconds of warm-up per cell, not counted (default 0.5; 0.04 with --quick).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    warmup: Option<f64>,
    /// Measured seconds per cell (default 2; 0.15 with --quick).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Repetitions of every cell, 1 to 100 (default 3; 1 with --quick).
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,
    /// Output directory (default reports/<UTC timestamp>; reports/latest points at the newest).
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    veth: VethArgs,
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
    let duration = seconds("--duration", args.duration, false)?;
    let warmup = seconds("--warmup", args.warmup, true)?;
    if args.messages == Some(0) {
        return Err(Error::usage("--messages 0: must be at least 1").into());
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

    let batch = args
        .messages
        .map_or(Batch::Duration(duration), Batch::Messages);
    let remote = open_remote(&args.connect, &args.token, cfg.transport.timeout)?;
    cfg.transport.server = remote.as_ref().map(|r| r.addr());
    let report = match remote {
        None => {
            let mut exp = Experiment::start(&cfg)?;
            if !warmup.is_zero() {
                exp.run(Batch::Duration(warmup))?;
            }
            let report = exp.run(batch)?;
            exp.stop()?;
            report
        }
        Some(mut remote) => {
            let mut exp = remote.start(&cfg)?;
            if !warmup.is_zero() {
                exp.run(Batch::Duration(warmup))?;
            }
            let report = exp.run(batch)?;
            exp.stop()?;
            let server = (remote.addr(), remote.server_host().clone());
            remote.close();
            return print_run(
                &cfg,
                (args.json, args.messages),
                warmup,
                duration,
                &report,
                Some(server),
            );
        }
    };
    print_run(
        &cfg,
        (args.json, args.messages),
        warmup,
        duration,
        &report,
        None,
    )
}

/// Prints a run's figures; with a server, also its address and both hosts' facts.
fn print_run(
    cfg: &Config,
    (json, messages): (bool, Option<u64>),
    warmup: Duration,
    duration: Duration,
    report: &copybench::BatchReport,
    server: Option<(std::net::SocketAddr, serde_json::Value)>,
) -> anyhow::Result<()> {
    let plan = RunPlan {
        warmup_s: warmup.as_secs_f64(),
        duration_s: messages.is_none().then_some(duration.as_secs_f64()),
        messages,
    };
    if json {
        let mut v = summary::to_json(cfg, &plan, report);
        if let (Some((addr, host)), serde_json::Value::Object(obj)) = (server, &mut v) {
            obj.insert("server".into(), addr.to_string().into());
            let client = serde_json::to_value(copybench::host::gather())?;
            obj.insert(
                "hosts".into(),
                serde_json::json!({ "client": client, "server": host }),
            );
        }
        println!("{v}");
    } else {
        print!("{}", summary::to_table(cfg, &plan, report));
        if let Some((addr, host)) = server {
            let s = |k: &str| {
                host.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("n/a")
                    .to_string()
            };
            println!(
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
        repeat: args.repeat.unwrap_or(base.repeat),
        veth: args.veth.into(),
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
    let outcome = sweep::run_with(&m, &dir, &stop, remote.as_mut(), |done, total, cfg| {
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
    })?;
    bar.finish_and_clear();
    if let Some(r) = remote {
        r.close();
    }

    let files = copybench::report::write_report(&dir, &outcome.rows, &outcome.env)?;
    if dir.parent().is_some_and(|p| p.ends_with("reports")) {
        sweep::point_latest(&dir)?;
    }
    for line in copybench::report::analyze(&outcome.rows).lines() {
        println!("{line}");
    }
    let failed = outcome.rows.iter().filter(|r| r.status != "ok").count();
    println!(
        "\n{} rows ({} failed) in {:.1} s: {}",
        outcome.rows.len(),
        failed,
        outcome.wall.as_secs_f64(),
        files.index.display()
    );
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
    for line in analysis.lines() {
        println!("{line}");
    }
    println!("\nrebuilt {}", dir.join("index.html").display());
    Ok(())
}

fn doctor(json: bool) -> anyhow::Result<()> {
    let facts = copybench::host::gather();
    if json {
        println!("{}", serde_json::to_string_pretty(&facts)?);
    } else {
        print!("{}", copybench::host::render_doctor(&facts));
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
