//! Fuzz target: arbitrary bytes as a stream of export datagrams, from two
//! exporters, through the decoder (so that fuzzed templates meet fuzzed
//! data) and the session pairer. Input layout: repeated
//! [exporter byte][u16 big-endian length][datagram bytes].
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use op25b_flow::{DecoderOptions, FlowDecoder, PairerOptions, SessionPairer, datagram_len};

fuzz_target!(|data: &[u8]| {
    let exporters: [SocketAddr; 2] =
        ["192.0.2.1:2055".parse().unwrap(), "[2001:db8::1]:4739".parse().unwrap()];
    let mut dec = FlowDecoder::new(DecoderOptions {
        max_buffered: 8,
        max_templates: 32,
        ..DecoderOptions::default()
    });
    let mut pairer = SessionPairer::new(&[25, 465, 587], PairerOptions::default());
    let mut out = Vec::new();
    let mut rest = data;
    let mut t = 0i64;
    while rest.len() >= 3 {
        let from = exporters[usize::from(rest[0] & 1)];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let datagram = &rest[3..3 + len];
        let _ = datagram_len(datagram);
        dec.decode(from, t, datagram, &mut out);
        for f in out.drain(..) {
            pairer.push(&f, &mut |_| {});
        }
        rest = &rest[3 + len..];
        t += 1_000_000;
    }
    dec.finish(&mut out);
    pairer.finish(&mut |_| {});
});
