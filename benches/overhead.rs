//! `cargo bench --bench overhead`: what copybench's own per-message work costs.
//!
//! For each case the same number of messages of the same size crosses a
//! loopback TCP connection twice, in the same process:
//!
//! * `bare`: the syscalls alone, on two threads over a `std::net` pair. Stream:
//!   the sender `sendmsg`s each message as header + field (one-copy's two
//!   iovecs), the receiver
//!   `recv`s into a 256 KiB buffer until every byte arrived. rr (TCP_NODELAY
//!   on both ends): one `sendmsg` and one `recv` of the message size per exchange
//!   on each side.
//! * `copybench`: an [`Experiment`] (one-copy, 1 field, 1 thread, defaults:
//!   sampled verification, perf counters on) running `Batch::Messages(n)`;
//!   so framing, verification, latency recording, counter reads and time
//!   keeping are all in.
//!
//! "Message size" is copybench's whole message, header included
//! (`Shape::message_bytes`: 32 + field), so both sides move the same bytes.
//! Overhead = (copybench - bare) / bare on criterion's per-message estimate;
//! `scripts/overhead.sh` runs this and prints it. Cases: `rr-64B` (64 B field,
//! 96 B on the wire each way) and `stream-4KiB` (4 KiB field, 4128 B).
//!
//! Both sides keep persistent threads between samples and are told how many
//! messages to move through a channel, as the Experiment's workers are, so
//! neither pays for thread start-up in the timed part.

use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use copybench::sys;
use copybench::{Batch, Config, Experiment, Shape, StrategyKind, TransportKind, WorkloadKind};

/// What the bare receiver reads into per `recv` (copybench's Reader asks for as much).
const RECV_BUF: usize = 256 << 10;

/// Sends one message the way copybench's one-copy strategy does: one
/// `sendmsg` gathering the header and the field, advancing over partial
/// writes. The bare loop thus makes the same syscalls with the same iovecs,
/// and what remains in the comparison is copybench's own work.
fn send_all(s: &TcpStream, buf: &[u8]) {
    let (header, field) = buf.split_at(copybench::message::HEADER_LEN);
    let mut slices = [io::IoSlice::new(header), io::IoSlice::new(field)];
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match sys::sendmsg(s.as_fd(), bufs, libc::MSG_NOSIGNAL) {
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("bare sendmsg: {e}"),
        }
    }
}

/// Reads exactly `buf.len()` bytes; false on EOF before the first byte.
fn recv_exact(s: &TcpStream, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        match sys::recv(s.as_fd(), &mut buf[got..], 0) {
            Ok(0) if got == 0 => return false,
            Ok(0) => panic!("bare recv: EOF mid-message"),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("bare recv: {e}"),
        }
    }
    true
}

fn tcp_pair(nodelay: bool) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let c = TcpStream::connect(l.local_addr().unwrap()).expect("connect loopback");
    let (s, _) = l.accept().expect("accept");
    c.set_nodelay(nodelay).unwrap();
    s.set_nodelay(nodelay).unwrap();
    (c, s)
}

/// The bare loop: a client thread and a server thread on one loopback connection.
struct Bare {
    cmds: Sender<u64>,
    done: Receiver<()>,
    threads: Vec<JoinHandle<()>>,
}

impl Bare {
    fn start(workload: WorkloadKind, msg: usize) -> Bare {
        let (client, server) = tcp_pair(workload == WorkloadKind::Rr);
        let (cmd_tx, cmd_rx) = mpsc::channel::<u64>();
        let (done_tx, done) = mpsc::channel();
        let mut threads = Vec::new();
        match workload {
            WorkloadKind::Stream => {
                // The receiver learns each batch's byte count through its own channel.
                let (rx_tx, rx_rx) = mpsc::channel::<u64>();
                threads.push(std::thread::spawn(move || {
                    let buf = vec![0x5au8; msg];
                    while let Ok(n) = cmd_rx.recv() {
                        let _ = rx_tx.send(n * msg as u64);
                        for _ in 0..n {
                            send_all(&client, &buf);
                        }
                    }
                    let _ = client.shutdown(Shutdown::Write);
                }));
                threads.push(std::thread::spawn(move || {
                    let mut buf = vec![0u8; RECV_BUF];
                    while let Ok(mut want) = rx_rx.recv() {
                        while want > 0 {
                            match sys::recv(server.as_fd(), &mut buf, 0) {
                                Ok(0) => panic!("bare recv: EOF mid-batch"),
                                Ok(n) => want -= n as u64,
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                Err(e) => panic!("bare recv: {e}"),
                            }
                        }
                        let _ = done_tx.send(());
                    }
                }));
            }
            WorkloadKind::Rr => {
                threads.push(std::thread::spawn(move || {
                    let req = vec![0x5au8; msg];
                    let mut reply = vec![0u8; msg];
                    while let Ok(n) = cmd_rx.recv() {
                        for _ in 0..n {
                            send_all(&client, &req);
                            assert!(recv_exact(&client, &mut reply), "bare rr: server closed");
                        }
                        let _ = done_tx.send(());
                    }
                    let _ = client.shutdown(Shutdown::Write);
                }));
                threads.push(std::thread::spawn(move || {
                    let mut req = vec![0u8; msg];
                    let reply = vec![0xa5u8; msg];
                    while recv_exact(&server, &mut req) {
                        send_all(&server, &reply);
                    }
                    let mut rest = Vec::new();
                    let _ = (&server).read_to_end(&mut rest);
                }));
            }
        }
        Bare {
            cmds: cmd_tx,
            done,
            threads,
        }
    }

    fn run(&self, messages: u64) -> Duration {
        let t0 = Instant::now();
        self.cmds.send(messages).expect("bare client thread alive");
        self.done.recv().expect("bare threads alive");
        t0.elapsed()
    }

    fn stop(self) {
        drop(self.cmds);
        for t in self.threads {
            t.join().expect("bare thread panicked");
        }
    }
}

fn copybench_config(workload: WorkloadKind, field_size: usize) -> Config {
    Config::new(
        StrategyKind::OneCopy,
        TransportKind::Loopback,
        workload,
        Shape {
            fields: 1,
            field_size,
        },
    )
}

fn case(c: &mut Criterion, name: &str, workload: WorkloadKind, field_size: usize) {
    let cfg = copybench_config(workload, field_size);
    let msg = cfg.shape.message_bytes();
    let mut g = c.benchmark_group(format!("overhead-{name}"));
    g.throughput(Throughput::Bytes(msg as u64));
    if workload == WorkloadKind::Rr {
        // ~50 us per exchange here: fewer, longer samples.
        g.sample_size(20).measurement_time(Duration::from_secs(8));
    } else {
        g.sample_size(30).measurement_time(Duration::from_secs(6));
    }
    g.warm_up_time(Duration::from_secs(2));

    let bare = Bare::start(workload, msg);
    g.bench_function("bare", |b| b.iter_custom(|n| bare.run(n)));
    bare.stop();

    let mut exp = Experiment::start(&cfg).expect("copybench experiment starts");
    g.bench_function("copybench", |b| {
        b.iter_custom(|n| {
            let t0 = Instant::now();
            let r = exp.run(Batch::Messages(n)).expect("copybench batch");
            let elapsed = t0.elapsed();
            assert_eq!(r.messages, n, "copybench moved every message");
            elapsed
        })
    });
    exp.stop().expect("copybench experiment stops");
    g.finish();
}

fn overhead(c: &mut Criterion) {
    case(c, "stream-4KiB", WorkloadKind::Stream, 4096);
    case(c, "rr-64B", WorkloadKind::Rr, 64);
}

criterion_group!(benches, overhead);
criterion_main!(benches);
