//! Flow files as ISPs keep them: one nfdump CSV per router and five-minute
//! period. nfdump's own `nfpcapd` meters an hour of the simulated ISP's
//! traffic into rotated nfcapd files, nfdump prints each as CSV, and the
//! flows are handed out as two routers would have exported them. Whatever
//! the split, `op25b ingest` must give the sessions of the whole as one
//! stream. Skipped where nfdump's tools are not installed
//! (scripts/setup.sh installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str) -> bool {
    Command::new(name).arg("-V").output().is_ok()
}

/// nfdump's CSV of one nfcapd file (or, `-R`, a directory), times in UTC.
fn nfdump_csv(args: &[&str]) -> String {
    let o = Command::new("nfdump")
        .env("TZ", "UTC")
        .args(args)
        .args(["-o", "csv"])
        .output()
        .expect("nfdump runs");
    assert!(
        o.status.success(),
        "nfdump {args:?}: {}",
        common::stderr(&o)
    );
    String::from_utf8(o.stdout).expect("nfdump prints text")
}

/// The sessions of `inputs`, as sorted CSV lines.
fn sessions(dir: &Path, name: &str, inputs: &[&Path]) -> Vec<String> {
    let out = dir.join(format!("{name}.csv"));
    let o = common::op25b()
        .arg("ingest")
        .args(inputs)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{name}: {}", common::stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn routers_files_of_the_same_hour_pair_like_one_stream() {
    if !tool("nfpcapd") || !tool("nfdump") {
        println!("skipped: nfpcapd/nfdump not found (scripts/setup.sh installs them)");
        return;
    }
    let synth = common::synth("wakwak-2005", 7, 0.05, 1);
    let dir = synth.join("flow-files");
    let _ = std::fs::remove_dir_all(&dir);
    let nfcapd = dir.join("nfcapd");
    std::fs::create_dir_all(&nfcapd).unwrap();
    let o = Command::new("nfpcapd")
        .arg("-r")
        .arg(synth.join("before.pcap"))
        .arg("-w")
        .arg(&nfcapd)
        .args(["-t", "300"])
        .output()
        .unwrap();
    assert!(o.status.success(), "nfpcapd: {}", common::stderr(&o));
    let mut periods: Vec<PathBuf> = std::fs::read_dir(&nfcapd)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nfcapd.2"))
        })
        .collect();
    periods.sort();
    assert!(
        periods.len() >= 10,
        "an hour in five-minute files: {periods:?}"
    );

    let whole = dir.join("whole.csv");
    std::fs::write(&whole, nfdump_csv(&["-R", nfcapd.to_str().unwrap()])).unwrap();
    let reference = sessions(&dir, "whole-sessions", &[&whole]);
    assert!(reference.len() > 100, "{} sessions", reference.len());

    // Router A meters what goes to an SMTP port, router B the replies
    // (asymmetric routing); then both meter everything (an access router
    // and the border); then router A meters everything twice, on the way
    // in and on the way out (ingress and egress export, nfdump's `dir`).
    // Each router's files rotate every five minutes.
    let asymmetric = dir.join("asymmetric");
    let twice = dir.join("twice");
    let both_ways = dir.join("ingress-and-egress");
    for d in [&asymmetric, &twice, &both_ways] {
        std::fs::create_dir_all(d).unwrap();
    }
    for period in &periods {
        let text = nfdump_csv(&["-r", period.to_str().unwrap()]);
        let mut lines = text.lines();
        let header = lines.next().expect("a header line");
        let names: Vec<&str> = header.split(',').collect();
        let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
        let (dp, ra, flow_dir) = (at("dp"), at("ra"), at("dir"));
        let stamp = period.file_name().unwrap().to_string_lossy().into_owned();
        let mut in_and_out = format!("{header}\n");
        let mut files: [String; 4] = Default::default();
        for f in &mut files {
            *f = format!("{header}\n");
        }
        for line in lines {
            let mut fields: Vec<&str> = line.split(',').collect();
            if fields.len() != names.len() {
                continue; // nfdump's summary
            }
            let to_smtp = matches!(fields[dp].trim(), "25" | "465" | "587");
            for (i, router) in ["192.0.2.1", "192.0.2.2"].into_iter().enumerate() {
                fields[ra] = router;
                let row = fields.join(",") + "\n";
                if to_smtp == (i == 0) {
                    files[i].push_str(&row);
                }
                files[2 + i].push_str(&row);
            }
            fields[ra] = "192.0.2.1";
            for metered in ["0", "1"] {
                fields[flow_dir] = metered;
                in_and_out.push_str(&(fields.join(",") + "\n"));
            }
        }
        std::fs::write(both_ways.join(format!("router0-{stamp}.csv")), in_and_out).unwrap();
        for (i, text) in files.iter().enumerate() {
            let (d, router) = if i < 2 {
                (&asymmetric, i)
            } else {
                (&twice, i - 2)
            };
            std::fs::write(d.join(format!("router{router}-{stamp}.csv")), text).unwrap();
        }
    }
    assert_eq!(
        sessions(&dir, "asymmetric-sessions", &[&asymmetric]),
        reference,
        "each direction from another router's files"
    );
    assert_eq!(
        sessions(&dir, "twice-sessions", &[&twice]),
        reference,
        "every packet metered by both routers"
    );
    assert_eq!(
        sessions(&dir, "ingress-and-egress-sessions", &[&both_ways]),
        reference,
        "every packet metered on the way in and on the way out"
    );
}

#[test]
fn raw_datagram_files_read_one_after_another_say_where_they_overlap() {
    let synth = common::synth("wakwak-2005", 7, 0.05, 1);
    let dir = tempfile::tempdir().unwrap();
    let capture = synth.join("before-netflow5.pcap");
    let all = common::datagrams_of(&capture);
    assert!(all.len() > 20, "{} datagrams", all.len());
    let (first, second) = all.split_at(all.len() / 2);
    let rotated = dir.path().join("rotated");
    let swapped = dir.path().join("swapped");
    for (d, names) in [(&rotated, ["a", "b"]), (&swapped, ["b", "a"])] {
        std::fs::create_dir_all(d).unwrap();
        for (half, name) in [first, second].into_iter().zip(names) {
            std::fs::write(d.join(format!("{name}.dat")), half.concat()).unwrap();
        }
    }
    let reference = sessions(dir.path(), "capture", &[&capture]);
    // Rotated files, in time order: the sessions of the capture, no note.
    let o = common::run(&["ingest", rotated.to_str().unwrap(), "-o", "-", "-q"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        !common::stderr(&o).contains("cover the same time"),
        "{}",
        common::stderr(&o)
    );
    assert_eq!(sessions(dir.path(), "rotated", &[&rotated]), reference);
    // The later half named first: read in that order, the earlier half goes
    // back an hour. Said, with both names, also with -q.
    let o = common::run(&["ingest", swapped.to_str().unwrap(), "-o", "-", "-q"]);
    let err = common::stderr(&o);
    assert!(o.status.success(), "{err}");
    let note = err
        .lines()
        .find(|l| l.contains("cover the same time"))
        .unwrap_or_else(|| panic!("no note: {err}"));
    assert!(
        note.starts_with("op25b: warning: raw datagram files "),
        "{note}"
    );
    assert!(note.contains("a.dat") && note.contains("b.dat"), "{note}");
}
