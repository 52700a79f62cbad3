//! Seed 003's TCP server as the seed wrote it, `time.sleep(5)` inside
//! `data_received` and all: the reactor notices and says so.
//!
//! Run: `cargo run --example tcp_server_blocking [PORT] [SECONDS]` (default
//! 9527 and 5), then send it a line with `nc 127.0.0.1 9527`. While the
//! callback sleeps no other client is read, written or accepted; when it
//! returns, gyre logs (at warning level) which callback held the loop:
//!
//! ```text
//! WARN The reactor was blocked for 5000 ms by data_received of TcpServer,0,127.0.0.1
//! ```
//!
//! `tcp_server_threaded` is the fix: the slow work on the thread pool.

use std::time::Duration;

use gyre::{Protocol, Reactor, Transport, for_protocol};

struct TcpServer {
    work: Duration,
}

impl Protocol for TcpServer {
    fn connection_made(&mut self, transport: &Transport) {
        println!("connected {}", transport.peer().socket_addr());
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        println!("Received msg {}", String::from_utf8_lossy(data));
        // The seed's mistake, kept on purpose: this holds the whole reactor.
        std::thread::sleep(self.work);
        transport.write("来自服务器的响应".as_bytes());
    }
}

/// Prints gyre's log lines on standard error (gyre installs no logger).
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::set_logger(&Stderr).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Info);
    let mut args = std::env::args().skip(1);
    let port = args.next().map_or(Ok(9527), |p| p.parse())?;
    let work = Duration::from_secs_f64(args.next().map_or(Ok(5.0), |s| s.parse())?);
    let reactor = Reactor::new()?;
    reactor.listen_tcp(port, for_protocol(move || TcpServer { work }))?;
    println!("##### Starting TCP Server on {port} #####");
    reactor.run()?;
    Ok(())
}
