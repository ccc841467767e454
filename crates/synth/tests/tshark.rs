//! The captures as Wireshark and tcpdump see them: no malformed packets or
//! expert errors (checksums verified), SMTP commands and reply codes as
//! truth.json counts them, and NetFlow/IPFIX exports that decode to the
//! stated record counts. Skipped when tshark is not installed.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Sample, generate, have, tshark, u};

const DECODE: &[&str] = &[
    "-d",
    "tcp.port==587,smtp",
    "-d",
    "udp.port==2055,cflow",
    "-d",
    "udp.port==4739,cflow",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = DECODE.to_vec();
    v.extend_from_slice(extra);
    v
}

/// Expert severity "error" and above (Wireshark's PI_ERROR).
const PI_ERROR: u64 = 0x0080_0000;

/// One pass over a file: the requested fields, then checks that no packet
/// is malformed or carries an expert error. Returns the field columns.
fn fields_checked(s: &Sample, file: &str, fields: &[&str]) -> String {
    let mut extra: Vec<&str> = vec!["-T", "fields"];
    for f in fields
        .iter()
        .chain(["_ws.malformed", "_ws.expert.severity"].iter())
    {
        extra.push("-e");
        extra.push(f);
    }
    let out = tshark(&s.path(file), &args(&extra));
    let n = fields.len();
    for (i, line) in out.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        let malformed = cols.get(n).copied().unwrap_or("");
        assert!(
            malformed.is_empty(),
            "{file}: packet {} is malformed",
            i + 1
        );
        for sev in cols
            .get(n + 1)
            .copied()
            .unwrap_or("")
            .split(',')
            .filter(|v| !v.is_empty())
        {
            let v = match sev.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => sev.parse(),
            }
            .unwrap_or_else(|_| panic!("{file}: unreadable severity {sev}"));
            assert!(
                v < PI_ERROR,
                "{file}: packet {} has an expert error ({sev})",
                i + 1
            );
        }
    }
    out
}

fn count_fields(text: &str, column: usize) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some(col) = line.split('\t').nth(column) else {
            continue;
        };
        for v in col.split(',').filter(|v| !v.is_empty()) {
            // tshark 4.0 shows STARTTLS as its first four letters.
            let v = if v.eq_ignore_ascii_case("STAR") {
                "STARTTLS".to_string()
            } else {
                v.to_ascii_uppercase()
            };
            *m.entry(v).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn captures_dissect_cleanly_and_smtp_matches_truth() {
    if !have("tshark") {
        println!("skipped: tshark not installed");
        return;
    }
    let s = generate("wakwak-2005", 31, 0.05, 1);
    for phase in ["before", "after"] {
        let file = format!("{phase}.pcap");
        let p = &s.truth["phases"][phase];
        let out = fields_checked(
            &s,
            &file,
            &[
                "smtp.req.command",
                "smtp.response.code",
                "smtp.rsp.parameter",
            ],
        );
        let commands = count_fields(&out, 0);
        let codes = count_fields(&out, 1);
        let truth_commands: BTreeMap<String, u64> = p["visible_commands"]
            .as_object()
            .expect("visible_commands")
            .iter()
            .filter(|(_, v)| u(v) > 0)
            .map(|(k, v)| (k.clone(), u(v)))
            .collect();
        assert_eq!(commands, truth_commands, "{phase}: SMTP commands");
        let truth_codes: BTreeMap<String, u64> = p["visible_reply_codes"]
            .as_object()
            .expect("visible_reply_codes")
            .iter()
            .map(|(k, v)| (k.clone(), u(v)))
            .collect();
        assert_eq!(codes, truth_codes, "{phase}: SMTP reply codes");
        assert_eq!(
            commands.get("MAIL").copied().unwrap_or(0),
            u(&p["transactions"])
        );
        assert_eq!(
            commands.get("RCPT").copied().unwrap_or(0),
            u(&p["rcpt_accepted"]) + u(&p["rcpt_rejected"])
        );
        let queued = out.matches("queued as").count() as u64;
        assert_eq!(queued, u(&p["messages"]), "{phase}: accepted messages");
        if have("tcpdump") {
            let out = Command::new("tcpdump")
                .args(["-nn", "--count", "-r"])
                .arg(s.path(&file))
                .output()
                .expect("tcpdump runs");
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            let n: u64 = text
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .expect("count");
            assert_eq!(n, u(&p["packets"]), "{phase}: tcpdump packet count");
        }
    }
}

fn flow_records(s: &Sample, file: &str) -> (u64, String) {
    let out = fields_checked(
        s,
        file,
        &[
            "cflow.srcaddr",
            "cflow.srcaddrv6",
            "cflow.sampling_interval",
            "cflow.samplerate",
        ],
    );
    let mut n = 0;
    for line in out.lines() {
        for col in line.split('\t').take(2) {
            n += col.split(',').filter(|v| !v.is_empty()).count() as u64;
        }
    }
    (n, out)
}

#[test]
fn flow_exports_decode_with_the_stated_record_counts() {
    if !have("tshark") {
        println!("skipped: tshark not installed");
        return;
    }
    for (sampling, phases) in [(1u32, &["before", "after"][..]), (10, &["before"][..])] {
        let s = generate("wakwak-2005", 32, 0.05, sampling);
        for &phase in phases {
            let e = &s.truth["phases"][phase]["flow_exports"];
            for kind in ["netflow5", "netflow9", "ipfix"] {
                let file = format!("{phase}-{kind}.pcap");
                let (records, text) = flow_records(&s, &file);
                assert_eq!(
                    records,
                    u(&e[kind]["records"]),
                    "{file} (sampling {sampling})"
                );
                assert!(records > 0);
                let says_sampled = text
                    .lines()
                    .any(|l| l.split('\t').skip(2).take(2).any(|c| c == "10"));
                assert_eq!(says_sampled, sampling == 10, "{file}: sampling interval");
            }
            let flows = u(&s.truth["phases"][phase]["flows"]);
            assert_eq!(u(&e["netflow9"]["records"]), flows);
            assert_eq!(
                u(&e["netflow5"]["records"]) + u(&e["netflow5"]["not_exportable_ipv6_flows"]),
                flows
            );
        }
    }
}
