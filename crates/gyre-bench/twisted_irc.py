"""Feeds a file of IRC lines to Twisted's IRCClient (over a
StringTransport, in 64 KiB chunks, as a socket would deliver them) and
prints how many PRIVMSGs reached `privmsg`, their characters, and the
CPU seconds taken. irc-bench runs it once per round.
Used by `irc-bench` (crates/gyre-bench/src/bin/irc-bench.rs)."""
import sys
import time

from twisted.internet.testing import StringTransport
from twisted.words.protocols import irc


class Counter(irc.IRCClient):
    nickname = "bench"
    count = 0
    chars = 0

    def privmsg(self, user, channel, message):
        self.count += 1
        self.chars += len(message)


data = open(sys.argv[1], "rb").read()
client = Counter()
client.makeConnection(StringTransport())
start = time.process_time()
for i in range(0, len(data), 65536):
    client.dataReceived(data[i : i + 65536])
elapsed = time.process_time() - start
print(client.count, client.chars, elapsed)
