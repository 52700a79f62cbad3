"""The seed's IRC log bot on Twisted, for `irc-flood` to measure beside
`gyre logbot` (crates/gyre-bench/src/bin/irc-flood.rs).

It behaves as reference section 10.7 describes the seed's ircLogBot.py
(log line format, flush after every line, replies, reconnect at once),
with the server's host and port on the command line instead of a fixed
network:

    python twisted_logbot.py HOST PORT CHANNEL LOGFILE NICK
"""
import sys
import time

from twisted.internet import protocol, reactor
from twisted.words.protocols import irc


class Journal:
    def __init__(self, path):
        self.out = open(path, "a")

    def write(self, text):
        stamp = time.strftime("[%H:%M:%S]", time.localtime(time.time()))
        self.out.write(f"{stamp} {text}\n")
        self.out.flush()

    def close(self):
        self.out.close()


class Bot(irc.IRCClient):
    def connectionMade(self):
        self.nickname = self.factory.nick
        super().connectionMade()
        self.journal = Journal(self.factory.path)
        self.journal.write(f"[connected at {time.asctime(time.localtime(time.time()))}]")

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.journal.write(f"[disconnected at {time.asctime(time.localtime(time.time()))}]")
        self.journal.close()

    def signedOn(self):
        self.join(self.factory.channel)

    def joined(self, channel):
        self.journal.write(f"[I have joined {channel}]")

    def privmsg(self, user, channel, msg):
        who = user.split("!", 1)[0]
        self.journal.write(f"<{who}> {msg}")
        if channel == self.nickname:
            self.msg(who, "It isn't nice to whisper!  Play nice with the group.")
        elif msg.startswith(self.nickname + ":"):
            answer = f"{who}: I am a log bot"
            self.msg(channel, answer)
            self.journal.write(f"<{self.nickname}> {answer}")

    def action(self, user, channel, msg):
        self.journal.write(f"* {user.split('!', 1)[0]} {msg}")

    def irc_NICK(self, prefix, params):
        self.journal.write(f"{prefix.split('!')[0]} is now known as {params[0]}")

    def alterCollidedNick(self, nickname):
        return nickname + "^"


class BotFactory(protocol.ClientFactory):
    protocol = Bot

    def __init__(self, channel, path, nick):
        self.channel = "#" + channel
        self.path = path
        self.nick = nick

    def clientConnectionLost(self, connector, reason):
        connector.connect()

    def clientConnectionFailed(self, connector, reason):
        print("connection failed:", reason)
        reactor.stop()


if __name__ == "__main__":
    host, port, channel, path, nick = sys.argv[1:6]
    reactor.connectTCP(host, int(port), BotFactory(channel, path, nick))
    reactor.run()
