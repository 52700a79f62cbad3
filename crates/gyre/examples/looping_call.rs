//! Seed 001's timer example: print the time every second with a
//! `LoopingCall`, stop the reactor after five seconds with `call_later`.
//!
//! Run: `cargo run --example looping_call`.
//!
//! Twisted:
//! ```python
//! lc = task.LoopingCall(printtime)
//! lc.start(1)
//! reactor.callLater(5, stopreactor)
//! print("Running the reactor...")
//! reactor.run()
//! print("Reactor stopped.")
//! ```
//! The `LoopingCall` takes its clock as an argument (here the reactor), so a
//! test can drive the same code with `gyre::testing::VirtualClock` instead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gyre::{LoopingCall, Reactor};

fn print_time() {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    println!(
        "Current time is {:02}:{:02}:{:02} (UTC)",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;
    let lc = LoopingCall::new(&reactor, print_time);
    lc.start(Duration::from_secs(1), true)?;
    let r = reactor.clone();
    reactor.call_later(Duration::from_secs(5), move || {
        println!("Stopping reactor");
        let _ = r.stop();
    });
    println!("Running the reactor...");
    reactor.run()?;
    println!("Reactor stopped.");
    Ok(())
}
