//! Seed 003's TCP server: keeps a map of connected clients and answers each
//! message with a timestamped reply.
//!
//! Run: `cargo run --example tcp_server [PORT]` (default 9527, as in the
//! seed), then talk to it with `nc 127.0.0.1 9527`.
//!
//! The seed calls `time.sleep(5)` inside `dataReceived` before replying.
//! That blocks the whole reactor: for five seconds no other client is read,
//! written or accepted. Here the reply is scheduled with `call_later`
//! instead, so the five seconds pass for this client only and everyone else
//! is served meanwhile.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gyre::{Protocol, Reactor, Reason, Transport, for_protocol};

/// The seed's class attribute `CLIENT_MAP`: every connected client by address.
type ClientMap = Rc<RefCell<HashMap<SocketAddr, Transport>>>;

struct TcpServer {
    clients: ClientMap,
    reactor: Reactor,
    addr: Option<SocketAddr>,
}

impl Protocol for TcpServer {
    fn connection_made(&mut self, transport: &Transport) {
        let addr = transport.peer().socket_addr();
        println!(
            "connected {addr} (local {})",
            transport.host().socket_addr()
        );
        self.clients.borrow_mut().insert(addr, transport.clone());
        self.addr = Some(addr);
    }

    fn connection_lost(&mut self, reason: Reason) {
        if let Some(addr) = self.addr.take()
            && self.clients.borrow_mut().remove(&addr).is_some()
        {
            println!("{addr} Lost Connection from Tcp Server Reason: {reason}");
        }
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let addr = transport.peer().socket_addr();
        let now = timestamp();
        let reply = match std::str::from_utf8(data) {
            Ok(msg) => {
                println!("Received msg {msg} from Tcp Client {addr}");
                format!("来自服务器的响应 {now}")
            }
            Err(_) => {
                println!("Comd Execute Error from {addr} data: {data:?}");
                format!("服务器发生异常 {now}")
            }
        };
        let transport = transport.clone();
        self.reactor.call_later(Duration::from_secs(5), move || {
            transport.write(reply.as_bytes())
        });
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(9527), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let clients: ClientMap = Rc::default();
    let r = reactor.clone();
    reactor.listen_tcp(
        port,
        for_protocol(move || TcpServer {
            clients: clients.clone(),
            reactor: r.clone(),
            addr: None,
        }),
    )?;
    println!("##### Starting TCP Server on {port} #####");
    reactor.run()?;
    Ok(())
}
