//! The closed-loop load generator: `bench-client SCENARIO --connect ADDR`.
//!
//! Prints one `RESULT key=value ...` line (see `gyre_bench::report`) and
//! exits non-zero when any echoed byte was wrong, missing or in excess, or
//! a connection failed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use gyre_bench::load::{self, Config, Scenario};

/// The load shapes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shape {
    /// `--conns` connections, one message of `--size` bytes in flight each.
    PingPong,
    /// `--conns` connections, `--depth` messages in flight each.
    Pipelined,
    /// One connection, `--size` byte chunks (default 1 MiB), one in flight.
    Bulk,
    /// `--conns` connections opened, each checked with one echo, held open.
    Idle,
    /// `--conns` connections (default 3,000) opened with 32 handshakes in
    /// flight, each checked with one echo, then closed: the set-up rate.
    Burst,
    /// Connect, echo `--size` bytes, close; `--conns` at a time.
    ConnRate,
}

/// Closed-loop echo load generator that checks every byte.
#[derive(Debug, Parser)]
struct Args {
    /// The load shape.
    scenario: Shape,
    /// The echo server's address.
    #[arg(long)]
    connect: SocketAddr,
    /// Connections (in flight at once for conn-rate).
    #[arg(long)]
    conns: Option<usize>,
    /// Messages in flight per connection (pipelined).
    #[arg(long, default_value_t = 16)]
    depth: usize,
    /// Bytes per message.
    #[arg(long)]
    size: Option<usize>,
    /// Seconds to keep sending.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's process id, for its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    gyre_bench::procfs::raise_nofile_limit();
    let scenario = match args.scenario {
        Shape::PingPong => Scenario::Stream {
            conns: args.conns.unwrap_or(1),
            depth: 1,
            size: args.size.unwrap_or(64),
        },
        Shape::Pipelined => Scenario::Stream {
            conns: args.conns.unwrap_or(50),
            depth: args.depth,
            size: args.size.unwrap_or(64),
        },
        Shape::Bulk => Scenario::Stream {
            conns: args.conns.unwrap_or(1),
            depth: 1,
            size: args.size.unwrap_or(1024 * 1024),
        },
        Shape::Idle => Scenario::Idle {
            conns: args.conns.unwrap_or(10_000),
        },
        Shape::Burst => Scenario::Burst {
            conns: args.conns.unwrap_or(3_000),
        },
        Shape::ConnRate => Scenario::ConnRate {
            concurrency: args.conns.unwrap_or(16),
            size: args.size.unwrap_or(64),
        },
    };
    let config = Config {
        scenario,
        addr: args.connect,
        duration: Duration::from_secs_f64(args.duration),
        threads: args.threads,
        server_pid: args.server_pid,
    };
    match load::run(&config) {
        Ok(m) => {
            println!("{m}");
            if m.is_clean() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "bench-client: FAILED: {} mismatched, {} missing, {} excess bytes, {} failed connections",
                    m.mismatched, m.missing, m.excess, m.errors
                );
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench-client: {e}");
            ExitCode::FAILURE
        }
    }
}
