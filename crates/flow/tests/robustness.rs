//! Broken input never panics: every corpus datagram cut at every length and
//! with bytes flipped, fed to one decoder (so that broken templates meet
//! later data), plus hand-made pathological datagrams.

mod common;

use std::net::SocketAddr;

use op25b_flow::{DecoderOptions, FlowDecoder, datagram_len};

fn corpus_datagrams() -> Vec<Vec<u8>> {
    let Some(corpus) = common::corpus() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![corpus.join("netflow")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "pcap") {
                out.extend(common::pcap_datagrams(&p).into_iter().map(|d| d.payload));
            } else if p.extension().is_some_and(|e| e == "dat" || e == "bin") {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn truncated_and_mutated_corpus_datagrams_are_counted_not_fatal() {
    let datagrams = corpus_datagrams();
    if datagrams.is_empty() {
        return;
    }
    assert!(datagrams.len() > 200);
    let from: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let mut dec = FlowDecoder::new(DecoderOptions {
        max_buffered: 64,
        ..DecoderOptions::default()
    });
    let mut out = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (i, d) in datagrams.iter().enumerate() {
        // Every prefix, so every length check is crossed.
        for cut in 0..d.len() {
            dec.decode(from, i as i64, &d[..cut], &mut out);
            let _ = datagram_len(&d[..cut]);
            out.clear();
        }
        for _ in 0..200 {
            let mut m = d.clone();
            for _ in 0..1 + rng.next() % 4 {
                if m.is_empty() {
                    break;
                }
                let at = (rng.next() % m.len() as u64) as usize;
                m[at] = match rng.next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.next() as u8,
                };
            }
            dec.decode(from, i as i64, &m, &mut out);
            let _ = datagram_len(&m);
            out.clear();
        }
    }
    dec.finish(&mut out);
    let st = dec.stats();
    assert!(st.malformed.total() > 1000, "{st:?}");
    assert!(st.unknown_version > 0);
}

fn ipfix(sets: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 10];
    d.extend_from_slice(&((sets.len() + 16) as u16).to_be_bytes());
    d.extend_from_slice(&[0; 12]);
    d.extend_from_slice(sets);
    d
}

#[test]
fn pathological_templates() {
    let from: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let mut dec = FlowDecoder::new(DecoderOptions::default());
    let mut out = Vec::new();
    // A template announcing 65535 fields in a 12-byte set.
    dec.decode(
        from,
        0,
        &ipfix(&[0, 2, 0, 12, 1, 0, 0xff, 0xff, 0, 8, 0, 4]),
        &mut out,
    );
    // A template of one zero-length field: records would be 0 bytes long.
    dec.decode(
        from,
        0,
        &ipfix(&[0, 2, 0, 12, 1, 1, 0, 1, 0, 8, 0, 0]),
        &mut out,
    );
    // Data for it must not loop forever.
    dec.decode(from, 0, &ipfix(&[1, 1, 0, 8, 0, 0, 0, 0]), &mut out);
    // v9: a template with 0 fields; an options template with odd lengths.
    let mut v9 = vec![0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    v9.extend_from_slice(&[0, 0, 0, 8, 1, 0, 0, 0, 0, 1, 0, 10, 1, 0, 0, 3, 0, 1]);
    dec.decode(from, 0, &v9, &mut out);
    // A set length of 2 and one of 65535.
    dec.decode(from, 0, &ipfix(&[1, 0, 0, 2]), &mut out);
    dec.decode(from, 0, &ipfix(&[1, 0, 0xff, 0xff]), &mut out);
    // Variable-length field whose length points past the end.
    dec.decode(
        from,
        0,
        &ipfix(&[0, 2, 0, 12, 1, 2, 0, 1, 0, 82, 0xff, 0xff]),
        &mut out,
    );
    dec.decode(from, 0, &ipfix(&[1, 2, 0, 8, 255, 0xff, 0xff, 1]), &mut out);
    dec.finish(&mut out);
    assert!(out.is_empty());
    let m = &dec.stats().malformed;
    assert!(m.bad_template >= 4, "{m:?}");
    assert_eq!(m.bad_set_length, 2, "{m:?}");
    assert_eq!(m.record_overrun, 1, "{m:?}");
    assert_eq!(dec.stats().sets_unresolved_at_finish, 1);
}

#[test]
fn a_fixed_length_record_cut_short_is_counted_and_padding_is_not() {
    let from: SocketAddr = "192.0.2.1:4739".parse().unwrap();
    let mut dec = FlowDecoder::new(DecoderOptions::default());
    let mut out = Vec::new();
    // Template 256: sourceIPv4Address, destinationIPv4Address (8 bytes a record).
    let template = [0, 2, 0, 16, 1, 0, 0, 2, 0, 8, 0, 4, 0, 12, 0, 4];
    let record = [10, 0, 0, 1, 192, 0, 2, 9];
    for tail in [[0u8; 4], [10, 0, 0, 2]] {
        let mut sets = template.to_vec();
        sets.extend_from_slice(&[1, 0, 0, 16]);
        sets.extend_from_slice(&record);
        sets.extend_from_slice(&tail);
        dec.decode(from, 0, &ipfix(&sets), &mut out);
    }
    assert_eq!(out.len(), 2);
    assert_eq!(dec.stats().malformed.record_overrun, 1, "{:?}", dec.stats());
}

/// Raw v5 datagrams one after another, one with its record count damaged
/// (2 read as 255): the walk is thrown 12 KB ahead into the middle of a
/// record and stops there, and the message says where the datagram that
/// threw it began.
#[test]
fn a_damaged_count_in_a_raw_file_is_pointed_at() {
    let datagram = |count: u16| {
        let mut d = vec![0u8, 5];
        d.extend_from_slice(&count.to_be_bytes());
        d.extend_from_slice(&[0u8; 20]);
        for i in 0..2u8 {
            let mut rec = [0u8; 48];
            rec[0..4].copy_from_slice(&[10, 0, 0, i + 1]);
            rec[4..8].copy_from_slice(&[192, 0, 2, 9]);
            rec[32..34].copy_from_slice(&4000u16.to_be_bytes());
            rec[34..36].copy_from_slice(&25u16.to_be_bytes());
            rec[38] = 6;
            d.extend_from_slice(&rec);
        }
        d
    };
    let mut bytes = Vec::new();
    for i in 0..300 {
        let mut d = datagram(2);
        if i == 1 {
            d[2..4].copy_from_slice(&255u16.to_be_bytes());
        }
        bytes.extend(d);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v5.raw");
    std::fs::write(&path, &bytes).unwrap();
    let mut decoder = op25b_flow::FlowDecoder::new(op25b_flow::DecoderOptions::default());
    let err = op25b_flow::read_raw_datagrams(&path, &mut decoder, &mut |_| {}).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("v5.raw"), "{message}");
    assert!(
        message.contains("the datagram before it starts at byte offset 120"),
        "{message}"
    );
    assert!(message.contains("12264 bytes"), "{message}");
}
