"""The Twisted side of tests/logging.rs: log.startLogging(sys.stdout), a
port opened and closed, two multi-line messages, then the reactor stops.
The Rust test runs the same program on gyre and compares the lines."""
import sys
from twisted.internet import reactor, protocol
from twisted.python import log

class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)

class EchoFactory(protocol.Factory):
    protocol = Echo

log.startLogging(sys.stdout)
port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
log.msg("two\nlines")
log.msg("ends with a newline\n")

def done():
    d = port.stopListening()
    d.addCallback(lambda _: reactor.stop())

reactor.callWhenRunning(done)
reactor.run()
