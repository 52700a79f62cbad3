#!/usr/bin/env python3
"""The delay relay of gyre's fault tests (crates/gyre-cli/tests/faults.rs).

It runs inside the test's router namespace, between two TUN devices A and
B that the router's policy routing sends its forwarded traffic into (see
faults/netns.rs): every IPv4 packet the kernel routes into A is read here
and written into B after a fixed delay, and the reverse, so the kernel
receives it on the other device and routes it on by its destination. A
given share of the packets is dropped at random instead. The kernel cannot
do this itself on this machine: it has no netem.

Packets keep their order: each direction is a FIFO of (due time, packet),
and with one fixed delay the oldest packet is always the first one due.
Each FIFO holds at most --limit packets; a packet beyond that is dropped
and counted as overflowed.

Talking to the test, one line at a time:
  stdout `ready`              both devices are open and packets flow;
  stdin `counts`, stdout `counts A.forwarded=N A.dropped=N ...`
                              what each direction did so far (A: packets
                              read from A and meant for B);
  stdin closed                the test is over (or was killed): print the
                              counts and exit, so no relay outlives it.
Packets that are not IPv4 (the router's own IPv6 chatter) are not relayed;
they are counted as ignored.

Usage: delay_relay.py --delay-ms MS [--loss PERCENT] [--limit N] A B
"""

import argparse
import collections
import fcntl
import math
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int), from linux/if_tun.h
IFF_TUN = 0x0001  # IP packets, no Ethernet header
IFF_NO_PI = 0x1000  # no 4-byte packet-information prefix
BATCH = 64  # packets read from one device per wake-up, so neither starves
MAX_PACKET = 65535


def open_tun(name):
    """Attaches to TUN device `name` (made by `ip tuntap add`): a
    non-blocking descriptor whose reads and writes are whole IP packets."""
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    except FileNotFoundError:
        sys.exit("delay_relay: no /dev/net/tun (the kernel has CONFIG_TUN, "
                 "the node is missing): mknod /dev/net/tun c 10 200")
    ifreq = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifreq)
    return fd


class Lane:
    """One direction: packets read from `src`, written into `dst` when due."""

    def __init__(self, name, src, dst, delay, loss, limit):
        self.name, self.src, self.dst = name, src, dst
        self.delay, self.loss, self.limit = delay, loss, limit
        self.queue = collections.deque()  # (due, packet), oldest first
        self.forwarded = self.dropped = self.overflowed = self.ignored = 0

    def receive(self, now):
        """Takes up to BATCH waiting packets: drops, queues or ignores each."""
        for _ in range(BATCH):
            try:
                packet = os.read(self.src, MAX_PACKET)
            except BlockingIOError:
                return
            if not packet or packet[0] >> 4 != 4:
                self.ignored += 1
            elif random.random() < self.loss:
                self.dropped += 1
            elif len(self.queue) >= self.limit:
                self.overflowed += 1
            else:
                self.queue.append((now + self.delay, packet))

    def send_due(self, now):
        """Writes every packet whose time has come into the other device."""
        while self.queue and self.queue[0][0] <= now:
            _, packet = self.queue.popleft()
            os.write(self.dst, packet)
            self.forwarded += 1

    def next_due(self):
        return self.queue[0][0]

    def counts(self):
        return " ".join(
            f"{self.name}.{field}={getattr(self, field)}"
            for field in ("forwarded", "dropped", "overflowed", "ignored"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--loss", type=float, default=0.0, help="percent")
    parser.add_argument("--limit", type=int, default=10000)
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()

    fd_a, fd_b = open_tun(args.a), open_tun(args.b)
    delay, loss = args.delay_ms / 1000.0, args.loss / 100.0
    lanes = {
        fd_a: Lane(args.a, fd_a, fd_b, delay, loss, args.limit),
        fd_b: Lane(args.b, fd_b, fd_a, delay, loss, args.limit),
    }
    stdin = sys.stdin.fileno()
    poller = select.poll()
    for fd in (fd_a, fd_b, stdin):
        poller.register(fd, select.POLLIN)

    def report():
        line = " ".join(lane.counts() for lane in lanes.values())
        print(f"counts {line}", flush=True)

    print("ready", flush=True)
    pending = b""  # a partial command line from stdin
    while True:
        now = time.monotonic()
        for lane in lanes.values():
            lane.send_due(now)
        dues = [lane.next_due() for lane in lanes.values() if lane.queue]
        # Sleep until the next packet is due (rounded up: never early) or
        # something arrives; with nothing queued, until something arrives.
        timeout = None
        if dues:
            timeout = max(0, math.ceil((min(dues) - time.monotonic()) * 1000))
        for fd, _ in poller.poll(timeout):
            if fd in lanes:
                lanes[fd].receive(time.monotonic())
                continue
            data = os.read(stdin, 4096)
            if not data:
                report()
                return
            pending += data
            while b"\n" in pending:
                command, pending = pending.split(b"\n", 1)
                if command.strip() == b"counts":
                    report()
                else:
                    print(f"delay_relay: unknown command {command!r}",
                          file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
