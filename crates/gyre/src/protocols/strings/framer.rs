//! The four string protocols ([`Int8StringProtocol`],
//! [`Int16StringProtocol`], [`Int32StringProtocol`], [`NetstringProtocol`])
//! and the machinery behind them: `Framer`, generic over the decoder, runs
//! a [`StringReceiver`] and delivers the decoder's strings to it.
//!
//! What it owns: `Shared`, behind an `Rc` so that a
//! [`StringProducer`](super::StringProducer) can reach it, holds the `Control` (in `connection.rs`) and, in a
//! `RefCell`, the decoder and the handler. The handler is borrowed only
//! while the framer delivers; a producer that resumes delivery from inside
//! a callback finds it borrowed and leaves the running delivery to see the
//! new state. Delivery stops when no string is complete, the framer is
//! paused, the transport is closing, the input turns out bad, or the turn's
//! budget is spent. Tests: `tests/` beside this file, through every
//! framing.

use std::borrow::Cow;
use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::rc::{Rc, Weak};

use super::StringReceiver;
use super::connection::{Control, Core, StringConnection};
use super::decode::{Decode, DecodeError, Decoded, NetstringDecoder, PrefixedDecoder};
use super::encode::{Framing, PrefixWidth};
use crate::error::Reason;
use crate::protocol::Protocol;
use crate::protocols::flow::{Flow, turn_spent};
use crate::transport::Transport;

/// The decoder and the user's handler.
struct State<D, H> {
    decoder: D,
    handler: H,
}

struct Shared<D, H> {
    control: Control,
    state: RefCell<State<D, H>>,
}

impl<D: Decode, H: StringReceiver> Shared<D, H> {
    /// Delivers buffered strings until none is complete, the framer is
    /// paused, the transport is closing, or the input turns out bad.
    fn deliver(&self, state: &mut State<D, H>, transport: &Transport) {
        if state.decoder.is_broken() {
            return;
        }
        let conn = StringConnection {
            transport,
            control: &self.control,
        };
        while self.control.flow.may_deliver(transport) {
            let max_length = state.handler.max_length();
            match state.decoder.next_string(max_length) {
                Decoded::String(s) => {
                    state.handler.string_received(&conn, s);
                    // Whether a whole string is left is the decoder's to
                    // find out: a spent turn always ends here.
                    if turn_spent(transport, true) {
                        // The turn's work is done: the rest is delivered on
                        // a later turn (`data_received` with no bytes).
                        break;
                    }
                }
                Decoded::NeedMore => break,
                Decoded::Error(DecodeError::LengthLimitExceeded { length, .. }) => {
                    state.handler.length_limit_exceeded(&conn, length);
                    break;
                }
                Decoded::Error(_) => {
                    transport.lose_connection();
                    break;
                }
            }
        }
    }
}

impl<D: Decode, H: StringReceiver> Core for Shared<D, H> {
    fn control(&self) -> &Control {
        &self.control
    }

    fn run(&self, transport: &Transport) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            self.deliver(&mut state, transport);
        }
    }
}

/// The protocol behind each of the public framer types.
struct Framer<D, H> {
    shared: Rc<Shared<D, H>>,
}

impl<D: Decode, H: StringReceiver> Framer<D, H> {
    fn new(handler: H, decoder: D, framing: Framing) -> Framer<D, H> {
        let shared = Rc::new_cyclic(|me: &Weak<Shared<D, H>>| {
            let me: Weak<dyn Core> = me.clone();
            Shared {
                control: Control {
                    framing,
                    flow: Flow::default(),
                    me,
                },
                state: RefCell::new(State { decoder, handler }),
            }
        });
        Framer { shared }
    }

    fn handler(&self) -> Ref<'_, H> {
        Ref::map(self.shared.state.borrow(), |s| &s.handler)
    }

    fn handler_mut(&mut self) -> RefMut<'_, H> {
        RefMut::map(self.shared.state.borrow_mut(), |s| &mut s.handler)
    }

    fn connection_made(&mut self, transport: &Transport) {
        let conn = StringConnection {
            transport,
            control: &self.shared.control,
        };
        self.shared
            .state
            .borrow_mut()
            .handler
            .connection_made(&conn);
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let mut state = self.shared.state.borrow_mut();
        if state.decoder.is_broken() || transport.is_disconnecting() {
            // Nothing will ever be delivered: do not even buffer it.
            return;
        }
        state.decoder.feed(data);
        self.shared.deliver(&mut state, transport);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.shared
            .state
            .borrow_mut()
            .handler
            .connection_lost(reason);
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct(name);
        s.field("framing", &self.shared.control.framing)
            .field("paused", &self.shared.control.flow.is_paused());
        if let Ok(state) = self.shared.state.try_borrow() {
            s.field("buffered", &state.decoder.buffered())
                .field("broken", &state.decoder.is_broken());
        }
        s.finish_non_exhaustive()
    }
}

macro_rules! string_protocol {
    (
        $(#[$doc:meta])*
        $name:ident, $decoder:ty, $make:expr, $framing:expr
    ) => {
        $(#[$doc])*
        pub struct $name<H: StringReceiver> {
            framer: Framer<$decoder, H>,
        }

        impl<H: StringReceiver> $name<H> {
            /// A protocol that hands each received string to `handler`.
            pub fn new(handler: H) -> $name<H> {
                $name {
                    framer: Framer::new(handler, $make, $framing),
                }
            }

            /// The handler (borrowed: do not hold it across a call into the
            /// protocol).
            pub fn handler(&self) -> Ref<'_, H> {
                self.framer.handler()
            }

            /// The handler, mutably.
            pub fn handler_mut(&mut self) -> RefMut<'_, H> {
                self.framer.handler_mut()
            }
        }

        impl<H: StringReceiver> Protocol for $name<H> {
            fn connection_made(&mut self, transport: &Transport) {
                self.framer.connection_made(transport)
            }

            fn data_received(&mut self, transport: &Transport, data: &[u8]) {
                self.framer.data_received(transport, data)
            }

            fn connection_lost(&mut self, reason: Reason) {
                self.framer.connection_lost(reason)
            }

            /// The handler's type name, as Twisted names a connection after
            /// the user's receiver class.
            fn log_prefix(&self) -> Cow<'static, str> {
                crate::log::short_type_name::<H>()
            }
        }

        impl<H: StringReceiver> fmt::Debug for $name<H> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.framer.debug(stringify!($name), f)
            }
        }
    };
}

string_protocol! {
    /// Strings with a 1-byte length prefix (Twisted's `Int8StringReceiver`):
    /// at most 255 bytes each way.
    Int8StringProtocol, PrefixedDecoder, PrefixedDecoder::new(PrefixWidth::U8),
    Framing::Prefixed(PrefixWidth::U8)
}

string_protocol! {
    /// Strings with a 2-byte big-endian length prefix (Twisted's
    /// `Int16StringReceiver`): at most 65 535 bytes sent.
    Int16StringProtocol, PrefixedDecoder, PrefixedDecoder::new(PrefixWidth::U16),
    Framing::Prefixed(PrefixWidth::U16)
}

string_protocol! {
    /// Strings with a 4-byte big-endian length prefix (Twisted's
    /// `Int32StringReceiver`), the usual choice: `hello` is sent as
    /// `\0\0\0\x05hello`.
    Int32StringProtocol, PrefixedDecoder, PrefixedDecoder::new(PrefixWidth::U32),
    Framing::Prefixed(PrefixWidth::U32)
}

string_protocol! {
    /// Netstrings (Twisted's `NetstringReceiver`): `hello` is sent as
    /// `5:hello,`, the empty string as `0:,`. Any malformed input closes the
    /// connection and everything after it is ignored.
    NetstringProtocol, NetstringDecoder, NetstringDecoder::new(), Framing::Netstring
}
