//! A listening stream socket of any kind: the mechanism behind a
//! [`ListeningPort`](crate::port::ListeningPort) for TCP and UNIX ports.
//!
//! Owns the listener (until stopped), the factory it builds protocols with,
//! and the session counter (0, 1, 2, … per port) that appears in connection
//! log prefixes. On a readable edge it accepts until the kernel says
//! `WouldBlock`, at most `batch` connections per pass (starting at 100,
//! growing by 20 when a pass is full; a full pass continues on the next
//! iteration so other work is not starved). Running out of descriptors
//! (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) is logged and the port retries
//! as soon as any connection of this reactor closes, or after a second.
//!
//! What differs between kinds is the [`Listener`]: how it accepts, how its
//! log lines name it (`EchoFactory starting on 8000`, `(TCP Port 8000
//! Closed)`; `starting on '/run/echo.sock'`, `(UNIX Port /run/echo.sock
//! Closed)`), and what closing it leaves to clean up (a UNIX socket file, a
//! PID lock).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::Interest;
use rustix::io::Errno;

use crate::address::Address;
use crate::completion::Completion;
use crate::factory::ErasedFactory;
use crate::log::{LogContext, enter, guarded, log_panic};
use crate::port::PortImpl;
use crate::reactor::{Inner, Reactor, Ready, Source};

use super::{Connection, StreamSocket};

const FIRST_BATCH: usize = 100;
const STARVED_RETRY: Duration = Duration::from_secs(1);

/// A listening socket a [`Port`] accepts connections from.
pub(crate) trait Listener: mio::event::Source + 'static {
    /// The connected sockets it accepts.
    type Socket: StreamSocket;

    /// The log target of the port's lines (`gyre::tcp`, `gyre::unix`).
    const TARGET: &'static str;

    /// Accepts one pending connection.
    fn accept(&self) -> io::Result<(Self::Socket, <Self::Socket as StreamSocket>::Peer)>;

    /// The bound address.
    fn host(&self) -> io::Result<Address>;

    /// How `<Factory> starting on …` names the port: `8000`, `'/run/echo.sock'`.
    fn shown(host: &Address) -> String;

    /// The line logged once the port has closed: `(TCP Port 8000 Closed)`.
    fn closed_line(host: &Address) -> String;

    /// Closes the socket and cleans up after it (a UNIX port removes its
    /// socket file and releases its lock). By default, dropping it.
    fn close(self)
    where
        Self: Sized,
    {
    }
}

/// A listening port over a [`Listener`] (see the module docs).
pub(crate) struct Port<L: Listener> {
    reactor: Weak<Inner>,
    me: Weak<Port<L>>,
    listener: RefCell<Option<L>>,
    token: Cell<usize>,
    factory: Rc<dyn ErasedFactory>,
    host: Address,
    next_session: Cell<u32>,
    batch: Cell<usize>,
    retry_armed: Cell<bool>,
}

impl<L: Listener> Port<L> {
    /// Registers `listener`, logs `… starting on …` and starts the factory.
    pub(crate) fn open(
        reactor: &Reactor,
        mut listener: L,
        factory: Rc<dyn ErasedFactory>,
    ) -> io::Result<Rc<Port<L>>> {
        let host = listener.host()?;
        let port = Rc::new_cyclic(|me| Port {
            reactor: reactor.downgrade(),
            me: me.clone(),
            listener: RefCell::new(None),
            token: Cell::new(usize::MAX),
            factory,
            host,
            next_session: Cell::new(0),
            batch: Cell::new(FIRST_BATCH),
            retry_armed: Cell::new(false),
        });
        let source: Rc<dyn Source> = port.clone();
        let token = reactor.register(&mut listener, Interest::READABLE, |_| source)?;
        port.token.set(token);
        *port.listener.borrow_mut() = Some(listener);
        log::info!(
            target: L::TARGET,
            "{} starting on {}",
            port.factory.log_prefix(),
            L::shown(&port.host)
        );
        port.factory.do_start();
        Ok(port)
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn rc(&self) -> Option<Rc<Port<L>>> {
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
                                target: L::TARGET,
                                "Could not accept new connection ({})",
                                errno_name(errno)
                            );
                            self.starved(&reactor);
                            return;
                        }
                        Some(Errno::CONNABORTED) => {
                            log::error!(target: L::TARGET, "Could not accept new connection (ECONNABORTED)");
                        }
                        Some(Errno::PERM) => {}
                        _ => {
                            log::error!(target: L::TARGET, "Unhandled Error\nwhile accepting: {e}");
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

    fn accepted(
        &self,
        reactor: &Reactor,
        stream: L::Socket,
        peer: <L::Socket as StreamSocket>::Peer,
    ) {
        let addr = L::Socket::peer_address(&peer);
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
        match Connection::accept(reactor, stream, peer, session, protocol, limit) {
            Ok(conn) => conn.made(),
            Err(e) => {
                log::error!(target: L::TARGET, "Unhandled Error\nwhile registering a connection: {e}")
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
        listener.close();
        true
    }

    /// Logs the close line (`(TCP Port N Closed)`) and stops the factory.
    /// Twisted logs the line under the port's system (the factory's name)
    /// when the reactor shuts its ports down, and under `-` after
    /// `stopListening`, whose close runs from a timed call: `in_context`
    /// says which.
    fn closed_log_and_stop_factory(&self, in_context: bool) {
        let context = match self.rc() {
            Some(me) if in_context => Some(enter(me)),
            _ => None,
        };
        log::info!(target: L::TARGET, "{}", L::closed_line(&self.host));
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

impl<L: Listener> Source for Port<L> {
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

impl<L: Listener> PortImpl for Port<L> {
    fn address(&self) -> SocketAddr {
        self.host.socket_addr()
    }

    fn host(&self) -> Address {
        self.host.clone()
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

impl<L: Listener> LogContext for Port<L> {
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
