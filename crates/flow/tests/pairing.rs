//! Pairing decoded corpus flows into SMTP sessions.

mod common;

use std::collections::BTreeSet;

use op25b_core::{DEFAULT_SMTP_PORTS, Outcome};
use op25b_flow::{DecoderOptions, FlowDecoder, PairerOptions, SessionPairer};

#[test]
fn physicalinterfaces_smtp_records_become_sessions() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let pcap = corpus.join("netflow/akvorado/physicalinterfaces.pcap");
    let mut dec = FlowDecoder::new(DecoderOptions::default());
    let mut flows = Vec::new();
    common::decode_pcap(&pcap, &mut dec, &mut flows);
    // Reference: the TCP records tshark shows with an SMTP port.
    let reference = common::parse_tshark(&pcap.with_extension("tshark-cflow.txt"));
    let mut want = BTreeSet::new();
    for f in &reference.flows {
        let (Some(k), Some(6)) = (f.key(), f.protocol) else {
            continue;
        };
        if DEFAULT_SMTP_PORTS.contains(&k.dst_port) {
            want.insert((k.src, k.src_port, k.dst, k.dst_port, k.packets, k.bytes));
        } else if DEFAULT_SMTP_PORTS.contains(&k.src_port) {
            want.insert((k.dst, k.dst_port, k.src, k.src_port, 0, 0));
        }
    }
    assert_eq!(want.len(), 2, "MANIFEST: one record to port 25, one to 465");
    let mut pairer = SessionPairer::new(DEFAULT_SMTP_PORTS, PairerOptions::default());
    let mut sessions = Vec::new();
    for f in &flows {
        pairer.push(f, &mut |s| sessions.push(s));
    }
    pairer.finish(&mut |s| sessions.push(s));
    let got: BTreeSet<_> = sessions
        .iter()
        .map(|s| {
            (
                s.client,
                s.client_port,
                s.server,
                s.server_port,
                s.packets_c2s,
                s.bytes_c2s,
            )
        })
        .collect();
    assert_eq!(got, want);
    for s in &sessions {
        // Sampled 1:1000 (options record): absence of an answer proves nothing.
        assert_eq!(s.sampling, 1000);
        assert!(!s.outcome.is_failed());
        assert_eq!(s.packets_s2c, 0);
        assert_eq!(s.outcome, Outcome::Unknown, "{s:?}");
        assert_eq!((s.messages, s.rcpt_accepted, s.helo.as_str()), (0, 0, ""));
    }
    let st = pairer.stats();
    assert_eq!(st.sessions, 2);
    assert_eq!(st.flows, flows.len() as u64);
    assert_eq!(st.flows, st.non_tcp + st.not_smtp + 2);
}

#[test]
fn nfdump_scan_flows_pair_into_resets() {
    // slips-test1-malicious: a port scan answered by RST (e.g. line 2:
    // 147.32.82.62:902 -> 147.32.80.119:52324 "...A.R.."). Ports 902 etc.
    // are treated as SMTP ports here to exercise pairing on real flows.
    let Some(corpus) = common::corpus() else {
        return;
    };
    let path = corpus.join("netflow/nfcapd/slips-test1-malicious.nfdump.nfdump.csv");
    let mut pairer = SessionPairer::new(&[902], PairerOptions::default());
    let mut sessions = Vec::new();
    op25b_flow::read_nfdump_csv(&path, &mut |f| pairer.push(&f, &mut |s| sessions.push(s)))
        .unwrap();
    pairer.finish(&mut |s| sessions.push(s));
    let first = sessions
        .iter()
        .find(|s| s.client_port == 52324 && s.server_port == 902)
        .expect("the first scan probe");
    assert_eq!((first.packets_c2s, first.packets_s2c), (1, 1));
    assert_eq!((first.flags_c2s, first.flags_s2c), (0x02, 0x14));
    assert_eq!(first.outcome, Outcome::Reset);
    assert_eq!(pairer.stats().sessions as usize, sessions.len());
}
