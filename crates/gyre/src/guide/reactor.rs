//! Chapter 1: the reactor and time.
//!
//! A program has one [`Reactor`](crate::Reactor) per thread. It waits for
//! events (a socket became readable, a timer is due, a signal arrived) and
//! calls the code that asked for them. Nothing in gyre blocks: code runs,
//! returns to the reactor, and is called again when something happens.
//!
//! `run` returns when something calls `stop`. Here a timer stops it:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::Reactor;
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let said = Rc::new(RefCell::new(Vec::new()));
//!
//! let log = said.clone();
//! reactor.call_later(Duration::from_millis(20), move || log.borrow_mut().push("later"));
//!
//! let (log, r) = (said.clone(), reactor.clone());
//! reactor.call_later(Duration::from_millis(40), move || {
//!     log.borrow_mut().push("stopping");
//!     r.stop().expect("the reactor is running");
//! });
//!
//! let log = said.clone();
//! reactor.call_when_running(move || log.borrow_mut().push("running"));
//!
//! reactor.run()?;
//! assert_eq!(*said.borrow(), ["running", "later", "stopping"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Things to notice, each the same as in Twisted:
//!
//! * the reactor is a cheap handle: `clone` it into the closures that need
//!   it (Twisted's code reaches a global `reactor` instead);
//! * `call_later` returns a [`DelayedCall`](crate::DelayedCall) that can be
//!   cancelled, delayed or reset before it runs;
//! * calls due at the same moment run in the order they were scheduled;
//! * `stop` before `run`, or twice, is an error
//!   ([`ReactorError::NotRunning`](crate::ReactorError::NotRunning)).
//!
//! ## Cancelling
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::Reactor;
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let fired = Rc::new(Cell::new(false));
//! let f = fired.clone();
//! let alarm = reactor.call_later(Duration::from_millis(10), move || f.set(true));
//! alarm.cancel()?;
//! assert!(!alarm.is_active());
//!
//! let r = reactor.clone();
//! reactor.call_later(Duration::from_millis(30), move || r.stop().unwrap());
//! reactor.run()?;
//! assert!(!fired.get(), "a cancelled call never runs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Repeating: `LoopingCall`
//!
//! A [`LoopingCall`](crate::LoopingCall) calls a function every interval,
//! on a grid: if the program was busy and missed ticks, it skips them rather
//! than running late ones in a burst. `start` returns a
//! [`Completion`](crate::Completion) that fires when the loop is stopped.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::{LoopingCall, Reactor};
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let ticks = Rc::new(Cell::new(0));
//!
//! // The function stops its own loop on the third tick, so it needs the
//! // loop's handle: a cell filled right after the loop is made, held
//! // weakly so that the loop and its function do not keep each other alive.
//! let handle = Rc::new(std::cell::OnceCell::<LoopingCall>::new());
//! let (t, me) = (ticks.clone(), Rc::downgrade(&handle));
//! let beat = handle.get_or_init(|| {
//!     LoopingCall::new(&reactor, move || {
//!         t.set(t.get() + 1);
//!         if t.get() == 3 {
//!             if let Some(cell) = me.upgrade() {
//!                 cell.get().expect("filled before the first tick").stop().unwrap();
//!             }
//!         }
//!     })
//! });
//!
//! // `true`: the first call now, then one every 10 ms.
//! let done = beat.start(Duration::from_millis(10), true)?;
//! let r = reactor.clone();
//! done.on_complete(move || r.stop().unwrap());
//!
//! reactor.run()?;
//! assert_eq!(ticks.get(), 3);
//! assert!(done.is_complete() && done.failure().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same code runs on a [`VirtualClock`](crate::testing::VirtualClock)
//! in tests, where time moves only when the test says so; chapter
//! [7](super::testing) shows how.
//!
//! Next: [chapter 2, an echo server](super::echo_server).
