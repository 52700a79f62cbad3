"""Twisted's TLS, the peer of crates/gyre/tests/interop_tls.rs.

    twisted_tls_peer.py serve CERT KEY      SSL4ServerEndpoint on 127.0.0.1,
                                            port 0; prints "PORT n"; answers
                                            each line reversed; closes after
                                            "quit"
    twisted_tls_peer.py connect PORT CA     connectSSL to 127.0.0.1:PORT,
                                            verifying "localhost" against CA;
                                            sends a line, prints the answer

Prints "GOT <line>" for each line received and "LOST <reason type>" when the
connection ends, then exits 0; exits 2 if nothing ended within 20 s.
"""

import sys

from twisted.internet import endpoints, protocol, reactor, ssl
from twisted.protocols import basic


def say(*words):
    print(*words, flush=True)


class Reverser(basic.LineReceiver):
    def lineReceived(self, line):
        say("GOT", line.decode())
        if line == b"quit":
            self.transport.loseConnection()
        else:
            self.sendLine(line[::-1])

    def connectionLost(self, reason):
        say("LOST", reason.type.__name__)
        reactor.callLater(0, reactor.stop)


class Asker(basic.LineReceiver):
    def connectionMade(self):
        self.sendLine(b"hello from twisted")

    def lineReceived(self, line):
        say("GOT", line.decode())
        self.transport.loseConnection()

    def connectionLost(self, reason):
        say("LOST", reason.type.__name__)
        reactor.callLater(0, reactor.stop)


class AskerFactory(protocol.ClientFactory):
    protocol = Asker

    def clientConnectionFailed(self, connector, reason):
        say("FAILED", reason.type.__name__)
        reactor.callLater(0, reactor.stop)


def main(argv):
    timed_out = []

    def guard():
        timed_out.append(True)
        reactor.stop()

    reactor.callLater(20, guard)
    if argv[1] == "serve":
        with open(argv[2], "rb") as c, open(argv[3], "rb") as k:
            options = ssl.PrivateCertificate.loadPEM(k.read() + c.read()).options()
        endpoint = endpoints.SSL4ServerEndpoint(reactor, 0, options, interface="127.0.0.1")
        d = endpoint.listen(protocol.Factory.forProtocol(Reverser))
        d.addCallback(lambda port: say("PORT", port.getHost().port))
    else:
        with open(argv[3], "rb") as f:
            ca = ssl.Certificate.loadPEM(f.read())
        options = ssl.optionsForClientTLS("localhost", trustRoot=ca)
        reactor.connectSSL("127.0.0.1", int(argv[2]), AskerFactory(), options)
    reactor.run()
    return 2 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
