//! A heartbeat per connection: each client is sent `beat N` every second
//! for as long as it stays connected. The `LoopingCall` starts in
//! `connection_made` and stops in `connection_lost`, so a client that
//! leaves stops its own timer and nothing keeps running for it.
//!
//! It runs as a service (`Reactor::run_service`): the port opens before
//! the loop starts, and Ctrl-C or SIGTERM closes it before the reactor
//! closes the connections. The log goes to standard output in Twisted's
//! format, as `log.startLogging(sys.stdout)` does.
//!
//! Run: `cargo run --example heartbeat [PORT]` (default 8125), then
//! `nc localhost 8125`.

use std::time::Duration;

use gyre::application::StreamServerEndpointService;
use gyre::endpoint::TcpServerEndpoint;
use gyre::{Address, Factory, LoopingCall, Protocol, Reactor, Reason, Transport};

const EVERY: Duration = Duration::from_secs(1);

struct Heartbeat {
    reactor: Reactor,
    beat: Option<LoopingCall>,
}

impl Protocol for Heartbeat {
    fn connection_made(&mut self, transport: &Transport) {
        let t = transport.clone();
        let mut n = 0;
        let beat = LoopingCall::new(&self.reactor, move || {
            n += 1;
            t.write(format!("beat {n}\n").as_bytes());
        });
        // `false`: the first beat after one interval, not at once.
        if let Err(e) = beat.start(EVERY, false) {
            log::error!("cannot start the heartbeat: {e}");
        }
        self.beat = Some(beat);
    }

    fn connection_lost(&mut self, reason: Reason) {
        if let Some(beat) = self.beat.take() {
            let _ = beat.stop(); // an error only if it had stopped already
        }
        log::info!("client gone: {reason}");
    }
}

struct HeartbeatFactory {
    reactor: Reactor,
}

impl Factory for HeartbeatFactory {
    type Protocol = Heartbeat;

    fn build_protocol(&self, _addr: &Address) -> Option<Heartbeat> {
        Some(Heartbeat {
            reactor: self.reactor.clone(),
            beat: None,
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(8125), |p| p.parse())?;
    gyre::log::start_logging(std::io::stdout())?;
    let reactor = Reactor::new()?;
    let factory = HeartbeatFactory {
        reactor: reactor.clone(),
    };
    let service = StreamServerEndpointService::new(TcpServerEndpoint::new(&reactor, port), factory);
    reactor.run_service(service)?;
    Ok(())
}
