//! A command's output piped into a connection: each client that connects
//! gets the output of a fresh run of the command, then the connection
//! closes (a tiny `finger`-style server).
//!
//! Run: `cargo run --example process_to_connection [PORT] [COMMAND ARGS...]`
//! (default 8123 and `uptime`), then `nc 127.0.0.1 8123`.
//!
//! The child's output is written to the connection as it comes; the
//! process is registered as the producer of the connection, so a client
//! that does not read pauses the reading of the child's output (and the
//! child blocks on its full pipe) instead of filling gyre's memory. The
//! child's end (its exit and its pipes closed) closes the connection
//! once everything is sent.

use gyre::process::{Env, ExitReason, ProcessProtocol, ProcessTransport};
use gyre::{Protocol, Reactor, Reason, Transport, for_protocol};

/// The command's side: its output goes to the client.
struct Pipe {
    client: Transport,
}

impl ProcessProtocol for Pipe {
    fn out_received(&mut self, _: &ProcessTransport, data: &[u8]) {
        self.client.write(data);
    }

    fn err_received(&mut self, _: &ProcessTransport, data: &[u8]) {
        eprint!("{}", String::from_utf8_lossy(data));
    }

    fn process_ended(&mut self, reason: ExitReason) {
        println!("command ended: {reason}");
        self.client.lose_connection();
    }
}

/// The client's side: starts the command when it connects.
struct Client {
    reactor: Reactor,
    command: Vec<String>,
    process: Option<ProcessTransport>,
}

impl Protocol for Client {
    fn connection_made(&mut self, transport: &Transport) {
        println!("client {} connected", transport.peer().socket_addr());
        let pipe = Pipe {
            client: transport.clone(),
        };
        match self
            .reactor
            .spawn_process(pipe, &self.command[0], &self.command, Env::Inherit, None)
        {
            Ok(process) => {
                process.close_stdin();
                let _ = transport.register_producer(process.as_producer());
                self.process = Some(process);
            }
            Err(e) => {
                transport.write(format!("{e}\n").as_bytes());
                transport.lose_connection();
            }
        }
    }

    fn connection_lost(&mut self, _reason: Reason) {
        // A client that leaves early: stop the command.
        if let Some(p) = self.process.take()
            && p.pid().is_some()
        {
            let _ = p.signal_process("TERM");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port = args.next().map_or(Ok(8123), |p| p.parse())?;
    let mut command: Vec<String> = args.collect();
    if command.is_empty() {
        command.push("uptime".into());
    }
    let reactor = Reactor::new()?;
    let r = reactor.clone();
    reactor.listen_tcp(
        port,
        for_protocol(move || Client {
            reactor: r.clone(),
            command: command.clone(),
            process: None,
        }),
    )?;
    println!("##### Serving the output of a command on {port} #####");
    reactor.run()?;
    Ok(())
}
