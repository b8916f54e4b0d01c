#!/usr/bin/env python3
"""bench/slow_clients.py: hold N slow connections open against one HTTP port (loopback only) and report how long
each lived. Every connection sends the start of a request head and then one more header byte every --trickle
seconds, never ending the head (the "slowloris" attack). It stops after --seconds and prints one summary line:

  slow: opened=N refused=R closed_by_target=C still_open=O lifetime_max_s=X lifetime_p50_s=Y

closed_by_target counts connections the target closed or reset; lifetime is from connect to that close.
"""
import argparse
import resource
import selectors
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--trickle", type=float, default=2.0, help="seconds between two bytes on a connection")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the attack lasts")
    args = parser.parse_args()
    if not args.host.startswith("127."):
        sys.exit("slow_clients.py: only loopback targets (127.0.0.0/8)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 64
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    selector = selectors.DefaultSelector()
    opened_at = {}
    lifetimes = []
    refused = 0
    started = time.monotonic()
    for i in range(args.connections):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(5)
        try:
            s.connect((args.host, args.port))
            s.sendall(b"GET /api/hello HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        opened_at[s] = time.monotonic()
        selector.register(s, selectors.EVENT_READ)
    next_trickle = time.monotonic() + args.trickle
    deadline = started + args.seconds
    while time.monotonic() < deadline and opened_at:
        for key, _ in selector.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed or reset by the target; an answer (408...) is read and the close awaited
                lifetimes.append(time.monotonic() - opened_at.pop(s))
                selector.unregister(s)
                s.close()
        if time.monotonic() >= next_trickle:
            next_trickle += args.trickle
            for s in list(opened_at):
                try:
                    s.send(b"x")
                except OSError:
                    pass  # the read side sees the close
    still_open = len(opened_at)
    for s in list(opened_at):
        s.close()
    lifetimes.sort()
    p50 = lifetimes[len(lifetimes) // 2] if lifetimes else 0.0
    longest = lifetimes[-1] if lifetimes else 0.0
    print(f"slow: opened={args.connections - refused} refused={refused} closed_by_target={len(lifetimes)} "
          f"still_open={still_open} lifetime_max_s={longest:.2f} lifetime_p50_s={p50:.2f}")


if __name__ == "__main__":
    main()
