#!/usr/bin/env python3
# Copies a classic pcap without some of its server-to-client TCP data
# segments (source port an SMTP port, payload > 0), as a capture that lost
# them would be: each such segment is dropped with probability RATE, decided
# by a random draw per segment from SEED, so a lower rate drops a subset of
# what a higher rate drops with the same seed. Retransmissions are segments
# of their own (a dropped one may come back in its retransmission).
#
# usage: drop_server_segments.py IN.pcap OUT.pcap RATE [SEED] [PORTS] [--neutral N.pcap]
#   RATE   0..1 (0.01 = 1 %), SEED default 1, PORTS default 25,587,465
#   --neutral also writes N.pcap: the capture with every segment kept, the
#          ones OUT.pcap drops carrying their replies with the code replaced
#          by 399 (same length): a reply known to have come, nothing known
#          of what it said. Its session records are the best any reader can
#          make of OUT.pcap (gap_compare.py --best). Kept as they are: 354
#          and 334 (what follows shows they came: a body, SASL lines) and
#          220 after the first server segment (STARTTLS, which the TLS bytes
#          after it show).
# Prints "segments=N dropped=M" on stdout. Standard library only.
# Reads classic pcap (either byte order, micro- or nanosecond) with link types
# Ethernet (any 802.1Q/802.1ad tags), BSD loopback, raw IP, Linux SLL;
# frames it cannot decode are copied unchanged.
import ipaddress
import random
import re
import struct
import sys

ETHERTYPE_IP4, ETHERTYPE_IP6 = 0x0800, 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)


def ip_offset(linktype, frame):
    """Offset of the IP header in the frame, or None."""
    if linktype == 1:  # Ethernet
        at = 14
        if len(frame) < 14:
            return None
        etype = struct.unpack_from('!H', frame, 12)[0]
        while etype in VLAN_TYPES and len(frame) >= at + 4:
            etype = struct.unpack_from('!H', frame, at + 2)[0]
            at += 4
        return at if etype in (ETHERTYPE_IP4, ETHERTYPE_IP6) else None
    if linktype in (0, 108):  # BSD loopback: 4-byte family, either order
        return 4 if len(frame) > 4 else None
    if linktype in (101, 12, 14, 228, 229):  # raw IP
        return 0
    if linktype == 113:  # Linux SLL
        return 16 if len(frame) > 16 else None
    if linktype == 276:  # Linux SLL2
        return 20 if len(frame) > 20 else None
    return None


def server_payload(linktype, frame, ports):
    """A TCP segment with payload sent from one of `ports`: (server, server
    port, client, client port, where its captured payload starts and ends in
    the frame), else None."""
    at = ip_offset(linktype, frame)
    if at is None or len(frame) < at + 20:
        return None
    version = frame[at] >> 4
    if version == 4:
        ihl = (frame[at] & 15) * 4
        total = struct.unpack_from('!H', frame, at + 2)[0]
        proto = frame[at + 9]
        frag = struct.unpack_from('!H', frame, at + 6)[0] & 0x1FFF
        if proto != 6 or frag != 0:
            return None
        tcp = at + ihl
        end = at + total
        src = ipaddress.IPv4Address(frame[at + 12:at + 16])
        dst = ipaddress.IPv4Address(frame[at + 16:at + 20])
    elif version == 6:
        if len(frame) < at + 40 or frame[at + 6] != 6:
            return None  # extension headers: left alone
        tcp = at + 40
        end = tcp + struct.unpack_from('!H', frame, at + 4)[0]
        src = ipaddress.IPv6Address(frame[at + 8:at + 24])
        dst = ipaddress.IPv6Address(frame[at + 24:at + 40])
    else:
        return None
    if len(frame) < tcp + 14:
        return None
    sport, dport = struct.unpack_from('!HH', frame, tcp)
    data_off = (frame[tcp + 12] >> 4) * 4
    if sport not in ports or end - tcp - data_off <= 0:
        return None
    return src, sport, dst, dport, tcp + data_off, min(end, len(frame))


REPLY = re.compile(rb'(^|\n)([2-5][0-9][0-9])(?=[ \r\n-]|$)')


def neutral(payload, first):
    """The payload with its reply codes replaced by 399 (see the header)."""
    def sub(m):
        code = m.group(2)
        if code in (b'354', b'334') or (code == b'220' and not first):
            return m.group(0)
        return m.group(1) + b'399'
    return REPLY.sub(sub, payload)


def main():
    args = sys.argv[1:]
    neutral_path = None
    if '--neutral' in args:
        i = args.index('--neutral')
        neutral_path = args[i + 1]
        del args[i:i + 2]
    src, dst, rate = args[0], args[1], float(args[2])
    seed = int(args[3]) if len(args) > 3 else 1
    ports = {int(p) for p in (args[4] if len(args) > 4 else '25,587,465').split(',')}
    seen = set()
    rng = random.Random(seed)
    with open(src, 'rb') as f:
        data = f.read()
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        endian = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        endian = '>'
    else:
        sys.exit(f'{src}: not a classic pcap')
    linktype = struct.unpack_from(endian + 'I', data, 20)[0] & 0x0FFFFFFF
    out = [data[:24]]
    kept = [data[:24]]
    at, segments, dropped = 24, 0, 0
    while at + 16 <= len(data):
        incl = struct.unpack_from(endian + 'I', data, at + 8)[0]
        rec = data[at:at + 16 + incl]
        at += 16 + incl
        seg = server_payload(linktype, rec[16:], ports)
        if seg is not None:
            segments += 1
            conn = seg[:4]
            first = conn not in seen
            seen.add(conn)
            if rng.random() < rate:
                dropped += 1
                lo, hi = 16 + seg[4], 16 + seg[5]
                kept.append(rec[:lo] + neutral(rec[lo:hi], first) + rec[hi:])
                continue
        out.append(rec)
        kept.append(rec)
    with open(dst, 'wb') as f:
        f.write(b''.join(out))
    if neutral_path:
        with open(neutral_path, 'wb') as f:
            f.write(b''.join(kept))
    print(f'segments={segments} dropped={dropped}')


if __name__ == '__main__':
    main()
