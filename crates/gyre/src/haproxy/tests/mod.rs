//! Tests of the PROXY protocol module, on test doubles and the test clock.
//!
//! * `examples.rs`: the headers of the spec's text (`proxy-protocol.txt`,
//!   sections 2.1 and 2.2), written out byte by byte from its layout, and
//!   what each says;
//! * `parse.rs`: the parser on every example at every prefix, and on each
//!   malformed form;
//! * `accept.rs`: the receiving wrapper (examples split at every byte,
//!   malformed headers closing the connection, the time bound);
//! * `send.rs`: encoding and the sending wrapper.
//!
//! Expected bytes and texts come from the spec, never from gyre's own
//! output.

mod accept;
mod examples;
mod parse;
mod send;
