//! What every framer shares: its flow control, and where a turn ends.
//!
//! The line framers ([`lines`](super::lines)) and the string framers
//! ([`strings`](super::strings)) hand their handler whole messages out of a
//! buffer, and both can be paused from a callback, from a timer, or by a
//! consumer they produce for. What pausing means is the same for all of
//! them, and written once here:
//!
//! * [`Flow`] owns the paused flag. Pausing sets it and pauses the
//!   transport's reading; resuming clears it and resumes reading (unless the
//!   connection is closing); stopping sets it for good and closes the
//!   connection (Twisted's `stopProducing`). A framer delivers only while
//!   [`may_deliver`](Flow::may_deliver): not paused, and the transport not
//!   closing. What each framer does with the flag (when buffered messages
//!   are delivered again) stays with the framer;
//! * [`turn_spent`] is the check between two messages that ends a turn
//!   whose budget is spent ([`Transport::should_yield`]): the framer keeps
//!   the rest and is called again on a later turn
//!   ([`Transport::yield_reading`]), so one read full of short messages does
//!   not hold the loop.
//!
//! This file names no framer; the framers name it. Tests: through every
//! framer, in `lines/tests/` and `strings/tests/` (pausing, resuming and
//! yielding in each).

use std::cell::Cell;

use crate::transport::{PushProducer, Transport};

/// A framer's paused flag, and what pausing, resuming and stopping do to
/// its transport.
///
/// Each method takes the transport if there is one: a framer steered
/// before its connection is made only records the flag.
#[derive(Debug, Default)]
pub(super) struct Flow {
    paused: Cell<bool>,
}

impl Flow {
    /// True while paused (or stopped).
    pub(super) fn is_paused(&self) -> bool {
        self.paused.get()
    }

    /// True while the framer may hand out another message: not paused, and
    /// the transport not closing.
    pub(super) fn may_deliver(&self, transport: &Transport) -> bool {
        !self.paused.get() && !transport.is_disconnecting()
    }

    /// Stops delivery, buffered messages included, and pauses the
    /// transport's reading.
    pub(super) fn pause(&self, transport: Option<&Transport>) {
        self.paused.set(true);
        if let Some(transport) = transport {
            transport.pause_reading();
        }
    }

    /// Allows delivery again and resumes the transport's reading, only while
    /// it is connected and not closing. Delivering what is buffered is left
    /// to the framer.
    pub(super) fn resume(&self, transport: Option<&Transport>) {
        self.paused.set(false);
        if let Some(transport) = transport {
            PushProducer::resume_producing(transport);
        }
    }

    /// Pauses for good and closes the connection.
    pub(super) fn stop(&self, transport: Option<&Transport>) {
        self.paused.set(true);
        if let Some(transport) = transport {
            PushProducer::stop_producing(transport);
        }
    }
}

/// True when the turn's budget is spent and `more` is left to deliver: the
/// framer must stop now, keep the rest, and hand it out when it is called
/// again (`data_received` with no bytes), which this asks the transport for.
pub(super) fn turn_spent(transport: &Transport, more: bool) -> bool {
    let spent = transport.should_yield() && more;
    if spent {
        transport.yield_reading();
    }
    spent
}
