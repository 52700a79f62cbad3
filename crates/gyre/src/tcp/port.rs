//! A listening TCP socket.
//!
//! Owns the listener (until stopped), the factory it builds protocols with,
//! and the session counter (0, 1, 2, … per port) that appears in connection
//! log prefixes. On a readable edge it accepts until the kernel says
//! `WouldBlock`, at most `batch` connections per pass (starting at 100,
//! growing by 20 when a pass is full; a full pass continues on the next
//! iteration so other work is not starved). Running out of descriptors
//! (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) is logged and the port retries
//! as soon as any connection of this reactor closes, or after a second.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::Interest;
use mio::net::{TcpListener, TcpStream};
use rustix::io::Errno;

use crate::address::Address;
use crate::completion::Completion;
use crate::factory::ErasedFactory;
use crate::log::{LogContext, enter, guarded, log_panic};
use crate::reactor::{Inner, Reactor, Ready, Source};
use crate::stream::Connection;

use super::{PortImpl, TcpListenOptions};

const FIRST_BATCH: usize = 100;
const STARVED_RETRY: Duration = Duration::from_secs(1);

pub(crate) struct Port {
    reactor: Weak<Inner>,
    me: Weak<Port>,
    listener: RefCell<Option<TcpListener>>,
    token: Cell<usize>,
    factory: Rc<dyn ErasedFactory>,
    address: SocketAddr,
    next_session: Cell<u32>,
    batch: Cell<usize>,
    retry_armed: Cell<bool>,
}

/// Creates, binds and listens a non-blocking socket.
pub(super) fn bind(addr: SocketAddr, options: &TcpListenOptions) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let backlog = i32::try_from(options.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Port {
    /// Registers `listener`, logs `… starting on N` and starts the factory.
    pub(super) fn open(
        reactor: &Reactor,
        mut listener: TcpListener,
        factory: Rc<dyn ErasedFactory>,
    ) -> io::Result<Rc<Port>> {
        let address = listener.local_addr()?;
        let port = Rc::new_cyclic(|me| Port {
            reactor: reactor.downgrade(),
            me: me.clone(),
            listener: RefCell::new(None),
            token: Cell::new(usize::MAX),
            factory,
            address,
            next_session: Cell::new(0),
            batch: Cell::new(FIRST_BATCH),
            retry_armed: Cell::new(false),
        });
        let source: Rc<dyn Source> = port.clone();
        let token = reactor.register(&mut listener, Interest::READABLE, |_| source)?;
        port.token.set(token);
        *port.listener.borrow_mut() = Some(listener);
        log::info!(target: "gyre::tcp", "{} starting on {}", port.factory.log_prefix(), address.port());
        port.factory.do_start();
        Ok(port)
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn rc(&self) -> Option<Rc<Port>> {
        self.me.upgrade()
    }

    /// Accepts pending connections (a readable edge, or a retry).
    pub(crate) fn accept_ready(&self) {
        let (Some(reactor), Some(me)) = (self.reactor(), self.rc()) else {
            return;
        };
        let _ctx = enter(me.clone());
        let limit = self.batch.get();
        let mut accepted = 0;
        loop {
            if accepted >= limit {
                self.batch.set(limit + 20);
                reactor.call_soon(move || me.accept_ready());
                return;
            }
            let result = match &*self.listener.borrow() {
                Some(listener) => listener.accept(),
                None => return,
            };
            match result {
                Ok((stream, peer)) => {
                    accepted += 1;
                    self.accepted(&reactor, stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let errno = e.raw_os_error().map(Errno::from_raw_os_error);
                    match errno {
                        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                            log::error!(
                                target: "gyre::tcp",
                                "Could not accept new connection ({})",
                                errno_name(errno)
                            );
                            self.starved(&reactor);
                            return;
                        }
                        Some(Errno::CONNABORTED) => {
                            log::error!(target: "gyre::tcp", "Could not accept new connection (ECONNABORTED)");
                        }
                        Some(Errno::PERM) => {}
                        _ => {
                            log::error!(target: "gyre::tcp", "Unhandled Error\nwhile accepting: {e}");
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Out of descriptors: retry when one is freed, or after a second.
    fn starved(&self, reactor: &Reactor) {
        let weak = self.me.clone();
        reactor.when_descriptor_freed(move || {
            if let Some(port) = weak.upgrade() {
                port.accept_ready();
            }
        });
        if !self.retry_armed.replace(true) {
            let weak = self.me.clone();
            reactor.call_later(STARVED_RETRY, move || {
                if let Some(port) = weak.upgrade() {
                    port.retry_armed.set(false);
                    port.accept_ready();
                }
            });
        }
    }

    fn accepted(&self, reactor: &Reactor, stream: TcpStream, peer: SocketAddr) {
        let addr = Address::tcp(peer);
        let protocol = match guarded(|| self.factory.build(&addr)) {
            Ok(Some(p)) => p,
            Ok(None) => return, // refused: dropping the stream closes it
            Err(msg) => {
                log_panic("build_protocol", &msg);
                return;
            }
        };
        let session = self.next_session.get();
        self.next_session.set(session.wrapping_add(1));
        let limit = self.factory.write_limit();
        match Connection::<TcpStream>::accept(reactor, stream, peer, session, protocol, limit) {
            Ok(conn) => conn.made(),
            Err(e) => {
                log::error!(target: "gyre::tcp", "Unhandled Error\nwhile registering a connection: {e}")
            }
        }
    }

    /// Stops accepting and closes the socket now; returns whether it was open.
    fn close_socket(&self) -> bool {
        let listener = self.listener.borrow_mut().take();
        let Some(mut listener) = listener else {
            return false;
        };
        if let Some(reactor) = self.reactor() {
            reactor.deregister(&mut listener, self.token.get());
        }
        true
    }

    /// Logs `(TCP Port N Closed)` and stops the factory. Twisted logs the
    /// line under the port's system (the factory's name) when the reactor
    /// shuts its ports down, and under `-` after `stopListening`, whose
    /// close runs from a timed call: `in_context` says which.
    fn closed_log_and_stop_factory(&self, in_context: bool) {
        let context = match self.rc() {
            Some(me) if in_context => Some(enter(me)),
            _ => None,
        };
        log::info!(target: "gyre::tcp", "(TCP Port {} Closed)", self.address.port());
        drop(context);
        self.factory.do_stop();
    }

    /// Reactor shutdown: close, log and stop the factory right away.
    fn close_now(&self) {
        if self.close_socket() {
            self.closed_log_and_stop_factory(true);
        }
    }
}

impl Source for Port {
    fn ready(self: Rc<Self>, _token: usize, _ready: Ready) {
        self.accept_ready();
    }

    fn shutdown(self: Rc<Self>) {
        self.close_now();
    }

    fn shuts_down_last(&self) -> bool {
        true
    }
}

impl PortImpl for Port {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn stop_listening(&self) -> Completion {
        if !self.close_socket() {
            return Completion::completed();
        }
        let done = Completion::new();
        let (Some(reactor), Some(me)) = (self.reactor(), self.rc()) else {
            self.closed_log_and_stop_factory(false);
            done.complete();
            return done;
        };
        let signal = done.clone();
        reactor.call_soon(move || {
            me.closed_log_and_stop_factory(false);
            signal.complete();
        });
        done
    }

    fn is_listening(&self) -> bool {
        self.listener.borrow().is_some()
    }
}

impl LogContext for Port {
    fn system(&self) -> String {
        self.factory.qualified_name().into_owned()
    }
}

fn errno_name(errno: Option<Errno>) -> &'static str {
    match errno {
        Some(Errno::MFILE) => "EMFILE",
        Some(Errno::NFILE) => "ENFILE",
        Some(Errno::NOBUFS) => "ENOBUFS",
        Some(Errno::NOMEM) => "ENOMEM",
        _ => "unknown",
    }
}
