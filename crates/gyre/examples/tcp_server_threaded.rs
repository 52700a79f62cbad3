//! Seed 003's TCP server with its slow work on the reactor's thread pool.
//!
//! Run: `cargo run --example tcp_server_threaded [PORT] [SECONDS]` (default
//! 9527 and 5, as in the seed), then talk to it with `nc 127.0.0.1 9527`.
//!
//! The seed calls `time.sleep(5)` inside `dataReceived`, which holds the
//! whole reactor (see `tcp_server_blocking`, which keeps it). Here the
//! slow work, the sleep standing for any blocking call (a database query,
//! a file read, a computation), runs with `defer_to_thread` on a worker
//! thread; its result comes back to the reactor thread as a Deferred,
//! which writes the reply. Every other client is served meanwhile.

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
    work: Duration,
}

impl Protocol for TcpServer {
    fn connection_made(&mut self, transport: &Transport) {
        let addr = transport.peer().socket_addr();
        println!("connected {addr}");
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
        let msg = String::from_utf8_lossy(data).into_owned();
        println!("Received msg {msg} from Tcp Client {addr}");
        let work = self.work;
        // The blocking part, on a worker thread: the reactor goes on.
        let reply = self.reactor.defer_to_thread(move || {
            std::thread::sleep(work);
            format!("来自服务器的响应 {}", unix_seconds())
        });
        let transport = transport.clone();
        reply.consume(move |result| match result {
            Ok(reply) => transport.write(reply.as_bytes()),
            Err(failure) => {
                println!("Comd Execute Error from {addr}: {failure}");
                transport.write(format!("服务器发生异常 {}", unix_seconds()).as_bytes());
            }
        });
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port = args.next().map_or(Ok(9527), |p| p.parse())?;
    let work = Duration::from_secs_f64(args.next().map_or(Ok(5.0), |s| s.parse())?);
    let reactor = Reactor::new()?;
    let clients: ClientMap = Rc::default();
    let r = reactor.clone();
    reactor.listen_tcp(
        port,
        for_protocol(move || TcpServer {
            clients: clients.clone(),
            reactor: r.clone(),
            addr: None,
            work,
        }),
    )?;
    println!("##### Starting TCP Server on {port} #####");
    reactor.run()?;
    Ok(())
}
