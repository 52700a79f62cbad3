//! Side-by-side benchmarks for gyre.
//!
//! Three binaries share this library:
//!
//! * `bench-server KIND`: the reference echo servers (`mio`, `tokio-ct`,
//!   `tokio-mt`). gyre itself is measured through the real `gyre echo`
//!   binary and Twisted through `twisted_echo.py`.
//! * `bench-client SCENARIO`: a closed-loop load generator on mio that checks
//!   every echoed byte and reads the server's CPU time from `/proc`.
//! * `bench`: the matrix runner; a fresh server process per measurement,
//!   servers interleaved round by round, medians and ranges, ratios.
//! * `soak`: 10,000 connections churning for a long time against `gyre
//!   echo`, `gyre chat` and `gyre portforward` (client in [`soak`]), with
//!   the servers' descriptors, memory and CPU sampled as it goes.
//!
//! `strace` counts a server's system calls for the `syscalls` scenario;
//! `haproxy` puts HAProxy in front of `gyre echo` for the `haproxy-*`
//! servers. [`chat`] is the chat fan-out benchmark (`gyre chat` beside
//! Twisted's tutorial chat server, `twisted_chat.py`), which `bench` runs
//! in-process.
//!
//! See `BENCHMARKS.md` at the repository root for the command and results.

pub mod chat;
pub mod haproxy;
pub mod load;
pub mod pattern;
pub mod procfs;
pub mod report;
pub mod soak;
pub mod strace;
