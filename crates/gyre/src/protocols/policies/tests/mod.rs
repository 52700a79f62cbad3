//! Tests of the policies, in virtual time through `StringTransport`: the
//! recording protocol and factory they share, and one file per policy.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::address::Address;
use crate::error::Reason;
use crate::factory::{Factory, Shared, for_protocol};
use crate::log::guarded;
use crate::protocol::Protocol;
use crate::testing::{StringTransport, VirtualClock};
use crate::transport::Transport;

mod idle;
mod limits;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What the wrapped protocol saw, in order.
#[derive(Clone, Default)]
struct Events(Rc<RefCell<Vec<String>>>);

impl Events {
    fn push(&self, e: impl Into<String>) {
        self.0.borrow_mut().push(e.into());
    }
    fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Records its events and keeps the transport it was given.
struct Recorder {
    events: Events,
    transport: Option<Transport>,
    timer: Option<IdleTimer>,
}

impl Recorder {
    fn new(events: &Events) -> Recorder {
        Recorder {
            events: events.clone(),
            transport: None,
            timer: None,
        }
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.events.push("made");
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let same = self
            .transport
            .as_ref()
            .is_some_and(|t| t.same_as(transport));
        self.events.push(format!(
            "data {} same={same}",
            String::from_utf8_lossy(data)
        ));
        match (data, &self.timer) {
            (b"off", Some(timer)) => timer.set_timeout(None),
            (b"on", Some(timer)) => timer.set_timeout(Some(secs(5))),
            _ => {}
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("lost {}", reason.is_clean()));
    }
    fn half_closeable(&self) -> bool {
        true
    }
    fn read_connection_lost(&mut self, transport: &Transport) {
        let same = self
            .transport
            .as_ref()
            .is_some_and(|t| t.same_as(transport));
        self.events.push(format!("read lost same={same}"));
    }
}

/// A factory whose protocols are `Recorder`s; records start/stop and can refuse.
struct Recorders {
    events: Events,
    refuse: bool,
}

impl Factory for Recorders {
    type Protocol = Recorder;
    fn build_protocol(&self, _: &Address) -> Option<Recorder> {
        (!self.refuse).then(|| Recorder::new(&self.events))
    }
    fn start_factory(&self) {
        self.events.push("start");
    }
    fn stop_factory(&self) {
        self.events.push("stop");
    }
}

fn addr(s: &str) -> Address {
    Address::tcp(s.parse().expect("socket address"))
}
