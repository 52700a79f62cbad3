//! An IRC client for gyre: Twisted's `IRCClient` (reference §10), built
//! only on gyre's public API, with IRCv3 additions that are off unless
//! asked for.
//!
//! * [`message`]: parsing and serialising messages (prefix, command,
//!   parameters, trailing parameter, IRCv3 tags), without I/O;
//! * [`quote`]: low-level and CTCP quoting, CTCP extraction;
//! * [`client`]: the protocol ([`IrcClient`], a `LineReceiver`), the
//!   events you handle ([`IrcHandler`]) and the commands ([`Irc`]);
//! * [`isupport`], [`modes`], [`split`]: server features, mode strings,
//!   Twisted's message splitting.
//!
//! A bot that joins a channel once signed on and answers whispers:
//!
//! ```
//! use gyre_irc::{Irc, IrcClient, IrcConfig, IrcHandler};
//! use gyre::testing::{StringTransport, VirtualClock};
//! use gyre::Protocol;
//!
//! struct Bot;
//! impl IrcHandler for Bot {
//!     fn signed_on(&mut self, irc: &mut Irc) {
//!         irc.join("test", None);
//!     }
//!     fn privmsg(&mut self, irc: &mut Irc, user: &str, channel: &str, _msg: &str) {
//!         if channel == irc.nickname() {
//!             let nick = user.split('!').next().unwrap_or(user);
//!             irc.msg(nick, "hello", None).expect("the default length fits");
//!         }
//!     }
//! }
//!
//! let wire = StringTransport::new();
//! let mut bot = IrcClient::protocol(IrcConfig::with_nickname("bot"), Bot, VirtualClock::new());
//! wire.make_connection(&mut bot);
//! assert_eq!(wire.value(), b"NICK bot\r\nUSER bot foo bar :None\r\n");
//! wire.clear();
//! bot.data_received(&wire.transport(), b":srv 001 bot :Welcome\r\n:a!u@h PRIVMSG bot :hi\r\n");
//! assert_eq!(wire.value(), b"JOIN #test\r\nPRIVMSG a :hello\r\n");
//! ```
//!
//! Where it differs from Twisted, on purpose:
//! * a line that does not parse (`:prefix` alone, only spaces) is handed
//!   to [`IrcHandler::bad_message`] (which logs it) and the connection
//!   stays; Twisted lets the `ValueError`/`IndexError` escape, which drops
//!   the connection. Messages with too few parameters for their command
//!   are logged and ignored (Twisted logs the handler's exception);
//! * a line starting with `@` is read as IRCv3 tags (Twisted would take
//!   `@…` for the command). Servers send tags only after `CAP REQ`;
//! * `KICK` compares nicks with the server's `CASEMAPPING` once
//!   advertised (Twisted: Python's `lower()`, which is what is used until
//!   then);
//! * the flood-protection queue and the keepalive run on the clock the
//!   client is given (Twisted: the global reactor), and the queue is
//!   dropped when the connection ends;
//! * CTCP `CLIENTINFO <tag>` answers `CLIENTINFO` alone (Twisted sends
//!   the Python method's docstring); of DCC only the dispatch exists
//!   (offers reach [`IrcHandler`]'s `dcc_query`; no transfers);
//! * message splitting does not break between the parts of a hyphenated
//!   word ([`split::split`]).
//!
//! IRCv3 (none of it happens unless configured, so by default the client
//! is byte-for-byte Twisted's): [`IrcConfig::capabilities`] sends
//! `CAP LS 302` before registering, `CAP REQ` for the offered ones among
//! those asked, and `CAP END`; [`IrcConfig::sasl`] adds `sasl` and
//! authenticates with PLAIN first; tags and `server-time` of the message
//! being handled are read with [`Irc::tags`] and [`Irc::server_time`].
//! `CAP LS 302` turns on `cap-notify`: capabilities the server offers
//! later (`CAP NEW`) are requested when asked for, withdrawn ones
//! (`CAP DEL`) are disabled, and the handler hears of both. With
//! `echo-message` enabled, the server's copies of the client's own
//! messages go to [`IrcHandler::message_echoed`], never to `privmsg` or
//! the CTCP handlers (so a CTCP query the client sends is not answered by
//! itself).

pub mod client;
pub mod isupport;
pub mod logbot;
pub mod message;
pub mod modes;
pub mod quote;
pub mod split;
mod swar;

pub use client::{Dispatch, Irc, IrcClient, IrcConfig, IrcHandler, IrcProtocol, LengthError};
pub use message::{Message, Params, ParseError};
