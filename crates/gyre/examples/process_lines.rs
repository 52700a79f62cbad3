//! Talking to a child process line by line over its stdin and stdout.
//!
//! Run: `cargo run --example process_lines`
//!
//! Starts `bc` (the calculator; `sh` answering each line where `bc` is
//! missing), sends it one question, waits for the answer line, sends the
//! next, and so on; then closes its stdin, and the child exits. Each
//! answer is matched with its question, as a client of a line protocol
//! would do.

use std::collections::VecDeque;

use gyre::Reactor;
use gyre::process::{Env, ExitReason, ProcessProtocol, ProcessTransport};

struct Calculator {
    reactor: Reactor,
    questions: VecDeque<&'static str>,
    asked: Option<&'static str>,
    partial: Vec<u8>,
}

impl Calculator {
    /// Sends the next question, or closes the child's stdin when there
    /// is none left.
    fn ask_next(&mut self, t: &ProcessTransport) {
        match self.questions.pop_front() {
            Some(q) => {
                t.write_sequence(&[q.as_bytes(), b"\n"]);
                self.asked = Some(q);
            }
            None => {
                self.asked = None;
                t.close_stdin();
            }
        }
    }
}

impl ProcessProtocol for Calculator {
    fn connection_made(&mut self, t: &ProcessTransport) {
        println!("started process {}", t.pid().unwrap_or(0));
        self.ask_next(t);
    }

    fn out_received(&mut self, t: &ProcessTransport, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let answer = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            println!("{} = {answer}", self.asked.unwrap_or("?"));
            self.ask_next(t);
        }
    }

    fn err_received(&mut self, _: &ProcessTransport, data: &[u8]) {
        eprint!("child: {}", String::from_utf8_lossy(data));
    }

    fn process_ended(&mut self, reason: ExitReason) {
        println!("{reason}");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;
    let calculator = Calculator {
        reactor: reactor.clone(),
        questions: ["2 + 2", "6 * 7", "2 ^ 10", "100 / 7"].into(),
        asked: None,
        partial: Vec::new(),
    };
    let has_bc = std::process::Command::new("sh")
        .args(["-c", "command -v bc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_bc {
        reactor.spawn_process(calculator, "bc", ["bc"], Env::Inherit, None)?;
    } else {
        // sh's arithmetic knows no `^`: it answers with its error text.
        let script = r#"while read -r q; do echo "$(( $(echo "$q" | sed 's/\^/**/') ))"; done"#;
        reactor.spawn_process(calculator, "sh", ["sh", "-c", script], Env::Inherit, None)?;
    }
    reactor.run()?;
    Ok(())
}
