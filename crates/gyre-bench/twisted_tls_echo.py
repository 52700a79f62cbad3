"""The Twisted peer of the TLS benchmark (bench-tls): the canonical Echo
protocol over Twisted's TLS (pyOpenSSL), SSL4ServerEndpoint on the epoll
reactor.

    .venv/bin/python crates/gyre-bench/twisted_tls_echo.py CERT KEY

Prints ``LISTENING <port>`` on stdout once it accepts connections.
"""

import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import endpoints, protocol, reactor, ssl  # noqa: E402


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def main(argv):
    with open(argv[1], "rb") as c, open(argv[2], "rb") as k:
        options = ssl.PrivateCertificate.loadPEM(k.read() + c.read()).options()
    endpoint = endpoints.SSL4ServerEndpoint(reactor, 0, options, backlog=1024, interface="127.0.0.1")
    d = endpoint.listen(protocol.Factory.forProtocol(Echo))
    d.addCallback(lambda port: print("LISTENING", port.getHost().port, flush=True))
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
