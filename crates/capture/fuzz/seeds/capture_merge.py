#!/usr/bin/env python3
"""Seed inputs for the capture_merge fuzz target: whole SMTP dialogues (and a
lost segment, a refused and an unanswered connection) in the target's entry
format [link, dt, control, len, payload], dealt to links at random, so the
fuzzer starts from sessions that reach the SMTP reader.

    python3 seeds/capture_merge.py corpus/capture_merge
"""
import os
import random
import sys

SYN, SYNACK, PSH, FIN, RST, ACK, HOLE = 0, 1, 2, 4, 5, 6, 7


def entry(link, dt, conn, server, kind, payload=b"", retransmit=False):
    control = conn | (4 if server else 0) | (kind << 3) | (0x40 if retransmit else 0)
    return bytes([link, dt, control, len(payload)]) + payload


def dialogue(conn, rng, links, lose=False):
    c, s = False, True
    steps = [
        (c, SYN, b""), (s, SYNACK, b""), (c, ACK, b""),
        (s, PSH, b"220 mx.example ESMTP\r\n"),
        (c, PSH, b"EHLO pc-%d.dyn.example\r\n" % conn),
        (s, PSH, b"250-mx.example\r\n250 PIPELINING\r\n"),
        (c, PSH, b"MAIL FROM:<a@example.net>\r\n"),
        (s, PSH, b"250 2.1.0 Ok\r\n"),
        (c, PSH, b"RCPT TO:<b@example.org>\r\n"),
        (s, PSH, b"250 2.1.5 Ok\r\n" if conn % 2 else b"550 5.1.1 unknown\r\n"),
        (c, PSH, b"DATA\r\n"),
        (s, PSH, b"354 go ahead\r\n"),
        (c, HOLE if lose else PSH, b"Subject: hi\r\n\r\nbuy now\r\n.\r\n"),
        (s, PSH, b"250 2.0.0 queued\r\n"),
        (c, PSH, b"QUIT\r\n"),
        (s, PSH, b"221 bye\r\n"),
        (c, FIN, b""), (s, FIN, b""),
    ]
    return [entry(rng.randrange(links), rng.choice([0, 1, 2, 5]), conn, srv, kind, p)
            for srv, kind, p in steps]


def refused(conn, rng, links):
    return [entry(rng.randrange(links), 1, conn, False, SYN),
            entry(rng.randrange(links), 1, conn, True, RST)]


def unanswered(conn, rng, links):
    return [entry(rng.randrange(links), dt, conn, False, SYN) for dt in (0, 0xf0, 0xf2)]


def interleave(rng, streams):
    out = []
    while any(streams):
        s = rng.choice([s for s in streams if s])
        out.append(s.pop(0))
    return b"".join(out)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for n in range(12):
        rng = random.Random(n)
        mode = n % 4  # links 2 or 3, threads 1 or 2; never damaged
        links = 2 + (mode & 1)
        streams = [dialogue(0, rng, links), dialogue(1, rng, links, lose=n % 3 == 0),
                   refused(2, rng, links), unanswered(3, rng, links)]
        with open(os.path.join(out, "seed-%02d" % n), "wb") as f:
            f.write(bytes([mode]) + interleave(rng, streams))


if __name__ == "__main__":
    main()
