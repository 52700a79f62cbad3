//! Seed 003's TCP client: connects to the seed's server (`tcp_server`
//! example, port 9527), greets it with the time, answers every message five
//! seconds later, and reconnects 30 seconds after losing the connection or
//! failing to connect.
//!
//! The seed blocks with `time.sleep(5)` and `time.sleep(30)`, which freezes
//! the whole reactor; here both waits are timed calls (`call_later`), so the
//! client keeps serving while it waits.
//!
//! Run `cargo run --example tcp_server` first, then
//! `cargo run --example tcp_client [HOST [PORT]]` (default 127.0.0.1 9527).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gyre::{
    Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason, Transport,
};

/// Seconds since the epoch, as the seed prints a timestamp.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct TcpClient {
    reactor: Reactor,
}

impl Protocol for TcpClient {
    fn connection_made(&mut self, transport: &Transport) {
        println!("connected {}", transport.peer());
        let greeting = format!("你好服务器,我是客户端 {}", now());
        transport.write(greeting.as_bytes());
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let peer = transport.peer();
        match std::str::from_utf8(data) {
            Ok(msg) => {
                println!("Received msg {msg} from Tcp Server {peer}");
                let t = transport.clone();
                self.reactor.call_later(Duration::from_secs(5), move || {
                    t.write(format!("来自客户端的响应 {}", now()).as_bytes());
                });
            }
            Err(_) => {
                println!("Comd Execute Error from {peer} data: {data:?}");
                transport.write(format!("客户端发生异常 {}", now()).as_bytes());
            }
        }
    }
}

struct TcpClientFactory {
    reactor: Reactor,
}

impl TcpClientFactory {
    fn reconnect_later(&self, connector: &Connector) {
        let c = connector.clone();
        self.reactor.call_later(Duration::from_secs(30), move || {
            let _ = c.connect();
        });
    }
}

impl Factory for TcpClientFactory {
    type Protocol = TcpClient;

    fn build_protocol(&self, addr: &Address) -> Option<TcpClient> {
        println!("Connected To Tcp Server {addr}");
        Some(TcpClient {
            reactor: self.reactor.clone(),
        })
    }
}

impl ClientFactory for TcpClientFactory {
    fn started_connecting(&self, connector: &Connector) {
        let d = connector.destination();
        println!(
            "Starting Connecting To Tcp Server ('{}', {})",
            d.host, d.port
        );
    }

    fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        let d = connector.destination();
        println!(
            "Lost Connection from Tcp Server ('{}', {}) Reason: {reason}",
            d.host, d.port
        );
        self.reconnect_later(connector);
    }

    fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        let d = connector.destination();
        println!(
            "Failed To Connect To Tcp Server ('{}', {}) Reason: {reason}",
            d.host, d.port
        );
        self.reconnect_later(connector);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port = args.next().map_or(Ok(9527), |p| p.parse())?;
    let reactor = Reactor::new()?;
    reactor.connect_tcp(
        &host,
        port,
        TcpClientFactory {
            reactor: reactor.clone(),
        },
    );
    reactor.run()?;
    Ok(())
}
