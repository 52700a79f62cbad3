//! The handles a string framer gives out: [`StringConnection`] (what a
//! callback gets), [`StringSender`] (sends framed strings from anywhere on
//! the reactor thread) and [`StringProducer`] (pauses and resumes the
//! framer from outside its callbacks); and `Control` and `Core`, the part
//! of the framer they reach without borrowing the handler.
//!
//! What it owns: `Control` is the framing in use, the paused flag (a `Flow`,
//! from `protocols/flow.rs`, which says what pausing, resuming and stopping
//! do), and a weak reference to the framer itself (so a producer handle
//! outlives its protocol harmlessly). Tests: `tests/flow.rs` (pausing, resuming, the
//! producer handle) and `tests/sending.rs` beside this file.

use std::fmt;
use std::rc::Weak;

use super::encode::{Framing, StringTooLongError};
use crate::protocols::flow::Flow;
use crate::transport::{PushProducer, Transport};

/// Framer state reachable without the handler: what a [`StringConnection`]
/// and a [`StringProducer`] touch.
pub(super) struct Control {
    pub(super) framing: Framing,
    /// The paused flag (`flow.rs`, shared with the line framers).
    pub(super) flow: Flow,
    /// The framer itself, for [`StringConnection::producer`].
    pub(super) me: Weak<dyn Core>,
}

/// The framer, seen from a [`StringProducer`].
pub(super) trait Core {
    fn control(&self) -> &Control;
    /// Delivers what is buffered, unless a delivery is already running
    /// further up the stack (it will see the new state itself).
    fn run(&self, transport: &Transport);
}

/// What a [`StringReceiver`](super::StringReceiver) callback gets: the transport, a way to send
/// strings in the same framing, and flow control.
pub struct StringConnection<'a> {
    pub(super) transport: &'a Transport,
    pub(super) control: &'a Control,
}

impl StringConnection<'_> {
    /// The connection's transport.
    pub fn transport(&self) -> &Transport {
        self.transport
    }

    /// Sends `s` framed as this protocol frames strings, in one write.
    ///
    /// Fails, writing nothing, when `s` is too long for a length prefix
    /// (256 bytes or more with [`Int8StringProtocol`](super::Int8StringProtocol),
    /// 65 536 or more with [`Int16StringProtocol`](super::Int16StringProtocol),
    /// 2^32 or more with [`Int32StringProtocol`](super::Int32StringProtocol)).
    /// Netstrings never fail.
    pub fn send_string(&self, s: &[u8]) -> Result<(), StringTooLongError> {
        self.control.framing.send(self.transport, s)
    }

    /// A handle that sends strings in this framing on this connection from
    /// anywhere on the reactor thread (a timer, another connection).
    pub fn sender(&self) -> StringSender {
        StringSender {
            transport: self.transport.clone(),
            framing: self.control.framing,
        }
    }

    /// Stops delivering strings (even ones already buffered) and pauses
    /// reading from the transport, until resumed.
    pub fn pause_producing(&self) {
        self.control.flow.pause(Some(self.transport))
    }

    /// Undoes [`pause_producing`](Self::pause_producing): reading resumes,
    /// and buffered strings are delivered once the current callback returns.
    pub fn resume_producing(&self) {
        self.control.flow.resume(Some(self.transport))
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.control.flow.is_paused()
    }

    /// A handle to pause and resume this framer from outside its callbacks,
    /// or to register with another transport as its producer.
    pub fn producer(&self) -> StringProducer {
        StringProducer {
            framer: self.control.me.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl fmt::Debug for StringConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StringConnection")
            .field("transport", self.transport)
            .field("framing", &self.control.framing)
            .field("paused", &self.control.flow.is_paused())
            .finish()
    }
}

/// Sends framed strings on one connection; cheap to clone and keep (in a
/// timer, or in a map of connected peers).
#[derive(Debug, Clone)]
pub struct StringSender {
    pub(super) transport: Transport,
    pub(super) framing: Framing,
}

impl StringSender {
    /// Sends `s` framed as the connection's protocol frames strings, in one
    /// write (see [`StringConnection::send_string`]).
    pub fn send_string(&self, s: &[u8]) -> Result<(), StringTooLongError> {
        self.framing.send(&self.transport, s)
    }

    /// The connection's transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

/// A string framer as a push producer of the strings it delivers
/// (Twisted's receivers are producers in the same way).
///
/// Pausing stops delivery, buffered strings included, and pauses the
/// transport's reading; resuming resumes reading and delivers what is
/// buffered at once; stopping pauses and closes the connection. Once the
/// protocol is gone, only the transport is paused or resumed.
#[derive(Clone)]
pub struct StringProducer {
    framer: Weak<dyn Core>,
    transport: Transport,
}

impl PushProducer for StringProducer {
    fn pause_producing(&self) {
        match self.framer.upgrade() {
            Some(framer) => framer.control().flow.pause(Some(&self.transport)),
            None => self.transport.pause_reading(),
        }
    }

    fn resume_producing(&self) {
        match self.framer.upgrade() {
            Some(framer) => {
                framer.control().flow.resume(Some(&self.transport));
                framer.run(&self.transport);
            }
            None => PushProducer::resume_producing(&self.transport),
        }
    }

    fn stop_producing(&self) {
        match self.framer.upgrade() {
            Some(framer) => framer.control().flow.stop(Some(&self.transport)),
            None => PushProducer::stop_producing(&self.transport),
        }
    }
}

impl fmt::Debug for StringProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paused = self.framer.upgrade().map(|c| c.control().flow.is_paused());
        f.debug_struct("StringProducer")
            .field("transport", &self.transport)
            .field("paused", &paused)
            .finish()
    }
}
