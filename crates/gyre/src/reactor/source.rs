//! What the reactor dispatches to: readiness sources it knows only by trait.
//!
//! Every socket the reactor polls (a listening port, a connection, a socket
//! still connecting, and later UNIX sockets, UDP ports and process pipes)
//! registers itself as an `Rc<dyn Source>` in the reactor's slab, under the
//! token mio reports it by. The reactor never names a transport type: it
//! tells a source that it is ready, and, at shutdown, to shut down. The
//! transports live above it and import it, never the other way round.
//!
//! The contract a source keeps:
//! * `ready` and `shutdown` run in reactor context, with no reactor state
//!   borrowed, so a source may call any reactor method and call out to user
//!   code (catching its panics).
//! * A source that closes its descriptor forgets its token
//!   ([`Reactor::forget`](super::Reactor::forget)); a late event for a
//!   forgotten token is dropped by the reactor.
//! * `shutdown` ends the source for good: a connection delivers
//!   `connection_lost(Reason::Shutdown)`, a port stops listening.

use std::rc::Rc;

/// One readiness event for a source, as mio reported it.
///
/// An error condition counts as readable, writable and read-closed at once,
/// so whoever reads or writes next finds the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Bytes (or a connection, for a listening socket) may be waiting.
    pub(crate) readable: bool,
    /// The socket can take bytes (or a connect finished).
    pub(crate) writable: bool,
    /// The peer's end of input (or an error) came with this event.
    pub(crate) read_closed: bool,
}

impl Ready {
    /// The readiness mio reported for one event.
    pub(crate) fn from_event(ev: &mio::event::Event) -> Ready {
        let error = ev.is_error();
        Ready {
            readable: ev.is_readable() || ev.is_read_closed() || error,
            writable: ev.is_writable() || ev.is_write_closed() || error,
            read_closed: ev.is_read_closed() || error,
        }
    }
}

/// Something registered with the reactor's poller (see the module docs).
pub(crate) trait Source {
    /// The poller reported readiness for this source's `token`.
    fn ready(self: Rc<Self>, token: usize, ready: Ready);

    /// The reactor is shutting down: end now.
    fn shutdown(self: Rc<Self>);

    /// The source's log system (`Echo,0,127.0.0.1`), for a line logged
    /// while its token is the log context (`log::enter_source`).
    fn log_system(&self) -> Option<String> {
        None
    }

    /// Output this source queued during the turn (see
    /// [`Reactor::queue_flush`](super::Reactor::queue_flush)) goes out now.
    fn flush(self: Rc<Self>) {}

    /// True for sources that must be shut down after every other one
    /// (listening ports: a factory is never stopped while its protocols
    /// still run).
    fn shuts_down_last(&self) -> bool {
        false
    }
}
