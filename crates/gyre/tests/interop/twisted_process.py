"""The process scenarios of tests/process.rs, run on Twisted itself.

Prints one record a line: each ProcessProtocol callback as it happens
(data as repr of the bytes, reasons as the text of their value), so the
Rust side can compare its own sequence with Twisted's.

Modes:
  order   sh -c 'cat; echo E >&2; exit 3', "hello" written, stdin closed at once
  signal  sh -c 'kill -TERM $$'  (the child kills itself)
  early   sh -c 'exit 0'
  pty     sh -c 'read l; echo "got $l"; exit 2' on a pseudo-terminal, "abc\n" written
"""
import signal
import sys

from twisted.internet import protocol, reactor

signal.alarm(20)
MODE = sys.argv[1]


class Record(protocol.ProcessProtocol):
    def connectionMade(self):
        print("connection_made")
        if MODE == "order":
            self.transport.write(b"hello")
            self.transport.closeStdin()
        if MODE == "pty":
            self.transport.write(b"abc\n")

    def outReceived(self, data):
        print("out_received %r" % (data,))

    def errReceived(self, data):
        print("err_received %r" % (data,))

    def inConnectionLost(self):
        print("in_connection_lost")

    def outConnectionLost(self):
        print("out_connection_lost")

    def errConnectionLost(self):
        print("err_connection_lost")

    def processExited(self, reason):
        print("process_exited %s" % (reason.value,))

    def processEnded(self, reason):
        print("process_ended %s" % (reason.value,))
        reactor.stop()


SCRIPTS = {
    "order": "cat; echo E >&2; exit 3",
    "signal": "kill -TERM $$",
    "early": "exit 0",
    "pty": 'read l; echo "got $l"; exit 2',
}
reactor.callWhenRunning(
    reactor.spawnProcess,
    Record(),
    "/bin/sh",
    ["sh", "-c", SCRIPTS[MODE]],
    env=None,
    usePTY=(MODE == "pty"),
)
reactor.run()
