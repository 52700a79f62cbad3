//! The reference echo servers: `bench-server KIND --listen 127.0.0.1:PORT`.
//!
//! * `mio`: the ceiling. One thread, one reused 64 KiB read buffer,
//!   edge-triggered reads until `WouldBlock`, each chunk written straight
//!   back; a connection keeps only its socket and, when the kernel refused
//!   part of a write, the unwritten rest (reading stops until it drains).
//! * `tokio-ct` / `tokio-mt`: a task per connection doing `read` then
//!   `write_all` with a 16 KiB buffer, on the current-thread or the
//!   multi-thread runtime (`--threads N` workers; default: one per CPU).
//! * `tokio-tls`: the same task per connection over tokio-rustls (rustls
//!   0.23 with ring, as gyre), current-thread runtime, with the chain and
//!   key of `--cert` / `--key` (PEM): the TLS scenario's peer
//!   (`bench-tls`).
//!
//! Every server listens with a backlog of 1024 (`--backlog N`), gyre's
//! default, so the `burst` scenario compares how fast the servers accept,
//! not the sizes of their accept queues. mio's and tokio's own
//! `TcpListener::bind` ask for 128 (std's figure), which a burst of 3,000
//! connects overflows on this machine as it does Twisted's 50.
//!
//! Prints `LISTENING <port>` on stdout once it accepts connections.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use clap::{Parser, ValueEnum};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// Which echo server to run.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// A bare single-threaded mio loop.
    Mio,
    /// tokio, current-thread runtime.
    TokioCt,
    /// tokio, multi-thread runtime.
    TokioMt,
    /// tokio + tokio-rustls, current-thread runtime.
    TokioTls,
}

/// Reference echo servers for the gyre benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// The server to run.
    kind: Kind,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Worker threads for tokio-mt (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// The listen backlog (Linux caps it at net.core.somaxconn).
    #[arg(long, default_value_t = 1024)]
    backlog: i32,
    /// The certificate chain (PEM) for tokio-tls.
    #[arg(long)]
    cert: Option<std::path::PathBuf>,
    /// The private key (PEM) for tokio-tls.
    #[arg(long)]
    key: Option<std::path::PathBuf>,
}

/// A non-blocking listening socket on `addr`, set up as mio's
/// `TcpListener::bind` does (`SO_REUSEADDR`) but with `backlog`.
fn listen(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn announce(port: u16) {
    println!("LISTENING {port}");
    let _ = io::stdout().flush();
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    match args.kind {
        Kind::Mio => mio_echo(listen(args.listen, args.backlog)?),
        Kind::TokioTls => {
            let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
                return Err(io::Error::other("tokio-tls needs --cert and --key"));
            };
            let acceptor = tls_acceptor(cert, key)?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(tokio_tls_echo(listen(args.listen, args.backlog)?, acceptor))
        }
        Kind::TokioCt => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(tokio_echo(listen(args.listen, args.backlog)?)),
        Kind::TokioMt => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = args.threads {
                builder.worker_threads(n);
            }
            builder
                .enable_all()
                .build()?
                .block_on(tokio_echo(listen(args.listen, args.backlog)?))
        }
    }
}

async fn tokio_echo(listener: std::net::TcpListener) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::from_std(listener)?;
    announce(listener.local_addr()?.port());
    loop {
        let (mut socket, _) = match listener.accept().await {
            Ok(pair) => pair,
            // Out of descriptors or a connection reset before accept: keep going.
            Err(_) => continue,
        };
        let _ = socket.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A tokio-rustls acceptor for the chain and key in two PEM files.
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(io::Error::other)?;
    #[allow(deprecated)] // ring, as gyre: see gyre::tls
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

async fn tokio_tls_echo(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::from_std(listener)?;
    announce(listener.local_addr()?.port());
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(_) => continue,
        };
        let _ = socket.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // Flushed: tokio-rustls may keep records the socket did
                // not take until the next write, which an echo may never
                // make.
                if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
            }
            let _ = tls.shutdown().await;
        });
    }
}

const LISTENER: Token = Token(usize::MAX);

/// One connection of the mio server.
struct Conn {
    stream: TcpStream,
    /// Bytes the kernel refused; reading pauses while there are some.
    unwritten: Vec<u8>,
}

/// Writes `data` at once; returns what the kernel did not take.
fn write_now(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<usize> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(data.len())
}

/// Reads and echoes until the socket is drained or a write is refused.
/// Returns false when the connection is finished.
fn pump(conn: &mut Conn, buf: &mut [u8]) -> bool {
    if !conn.unwritten.is_empty() {
        match write_now(&mut conn.stream, &conn.unwritten) {
            Ok(0) => conn.unwritten.clear(),
            Ok(left) => {
                let done = conn.unwritten.len() - left;
                conn.unwritten.drain(..done);
                return true;
            }
            Err(_) => return false,
        }
    }
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => match write_now(&mut conn.stream, &buf[..n]) {
                Ok(0) => {}
                Ok(left) => {
                    conn.unwritten.extend_from_slice(&buf[n - left..n]);
                    return true;
                }
                Err(_) => return false,
            },
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn mio_echo(listener: std::net::TcpListener) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?.port());
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(1024);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            // A signal, or a tracer attaching (the syscalls scenario).
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut stream,
                                Token(slot),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let mut conn = Conn {
                                stream,
                                unwritten: Vec::new(),
                            };
                            if pump(&mut conn, &mut buf) {
                                conns[slot] = Some(conn);
                            } else {
                                free.push(slot);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // EMFILE and resets: drop this one and wait for the next event.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns[slot].as_mut() else {
                continue;
            };
            if !pump(conn, &mut buf) {
                conns[slot] = None;
                free.push(slot);
            }
        }
    }
}
