#!/usr/bin/env python3
# A capture where every SMTP connection lost one early segment: each then
# holds its later segments out of order until the connection ends.
# usage: lossy_pcap.py CONNECTIONS OUT.pcap (240 KB of capture per connection)
import struct, sys
K = int(sys.argv[1]); out = sys.argv[2]
SEG = 60000; NSEG = 4
f = open(out, 'wb')
f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
def pkt(t, src, dst, sport, dport, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, 0, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    frame = b'\0' * 6 + b'\x02' + b'\0' * 5 + b'\x08\x00' + ip + tcp + payload
    sec, usec = divmod(t, 1_000_000)
    f.write(struct.pack('<IIII', sec, usec, len(frame), len(frame)))
    f.write(frame)
payload = b'x' * SEG
base = 1_131_411_600_000_000
for i in range(K):
    c = bytes([198, 18, (i >> 8) & 255, i & 255]); s = bytes([203, 0, 113, 25])
    sp = 10000 + (i % 50000); t = base + i * 10_000
    pkt(t, c, s, sp, 25, 1000, 0, 0x02)
    pkt(t + 1, s, c, 25, sp, 5000, 1001, 0x12)
    pkt(t + 2, c, s, sp, 25, 1001, 5001, 0x10)
    for j in range(NSEG):   # the segment at 1001 was lost
        pkt(t + 3 + j, c, s, sp, 25, 1001 + 1460 + j * SEG, 5001, 0x18, payload)
f.close()
