//! The host table's columns against CONTRACT.md, timestamps, the terminal
//! table and `[rank]` parsing.

use op25b_core::{IspConfig, Outcome, SessionRecord, Source};
use op25b_rank::{
    CSV_COLUMNS, HostAggregator, RankConfig, format_table, write_hosts_csv, write_json_lines,
};
use std::path::PathBuf;

fn contract_md() -> Option<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/CONTRACT.md");
    std::fs::read_to_string(root).ok()
}

/// The column names of CONTRACT.md's "Host table" section, in order: the
/// back-quoted words after "then any you add:" up to the end of the paragraph.
fn contract_host_columns(md: &str) -> Vec<String> {
    let section = md.split("## Host table").nth(1).unwrap_or("");
    let paragraph = section.split("\n\n").nth(1).unwrap_or("");
    let after = paragraph.split("then any you add:").nth(1).unwrap_or("");
    let mut cols = Vec::new();
    for (i, part) in after.split('`').enumerate() {
        // Odd parts are inside back quotes; verdict values sit in parentheses.
        if i % 2 == 1 {
            cols.push(part.to_string());
        }
    }
    let words = ["zombie", "suspect", "clean", "relay", "true", "false"];
    cols.retain(|c| {
        !words.contains(&c.as_str()) && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    });
    cols
}

fn ranking() -> op25b_rank::Ranking {
    let net = IspConfig::default_network();
    let mut agg = HostAggregator::new(&net.network);
    for i in 0..50u8 {
        let mut r = SessionRecord::new(
            Source::Pcap,
            "10.0.0.7".parse().unwrap(),
            40000,
            format!("203.0.{i}.1").parse().unwrap(),
            25,
        );
        r.start = 1_109_635_201_000_000 + i64::from(i) * 1_000_000;
        r.end = r.start + 500_000;
        r.outcome = if i % 2 == 0 {
            Outcome::NoAnswer
        } else {
            Outcome::Rejected
        };
        r.helo = "evil, \"quoted\"".into();
        agg.push(&r);
    }
    let mut r = SessionRecord::new(
        Source::Pcap,
        "10.0.0.8".parse().unwrap(),
        40000,
        "203.0.113.1".parse().unwrap(),
        587,
    );
    r.start = 1_109_635_300_000_000;
    r.end = r.start;
    r.outcome = Outcome::Delivered;
    r.messages = 1;
    agg.push(&r);
    agg.finish(&RankConfig::from_isp(&net).unwrap())
}

#[test]
fn csv_columns_follow_the_contract() {
    let Some(md) = contract_md() else {
        println!("skipped: CONTRACT.md not found");
        return;
    };
    let contract = contract_host_columns(&md);
    assert_eq!(contract.len(), 16, "{contract:?}");
    assert_eq!(&CSV_COLUMNS[..contract.len()], contract.as_slice());

    let ranking = ranking();
    assert!(ranking.defaults_used);
    let mut out = Vec::new();
    write_hosts_csv(&mut out, &ranking.hosts).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
    let first = lines.next().unwrap();
    assert!(first.starts_with("1,10.0.0.7,zombie,"), "{first}");
    // The reasons field holds ';' and the HELO field a comma and quotes.
    assert!(
        first.contains(";failed=0.50;") || first.contains(",fanout=50;"),
        "{first}"
    );
    assert!(first.contains(",\"evil, \"\"quoted\"\"\","), "{first}");
    assert!(
        first.contains(",2005-03-01T00:00:01.000000Z,2005-03-01T00:00:50.500000Z,"),
        "{first}"
    );
    assert_eq!(lines.count(), 1);
}

/// A HELO a spreadsheet would run as a formula is written as text.
#[test]
fn a_formula_helo_is_text_in_the_csv() {
    let net = IspConfig::default_network();
    let mut agg = HostAggregator::new(&net.network);
    for (i, helo) in [
        "=HYPERLINK(\"http://x\",\"y\")",
        "mail.example",
        "-1+2",
        "[10.0.0.9]",
    ]
    .iter()
    .enumerate()
    {
        for _ in 0..3 {
            let mut r = SessionRecord::new(
                Source::Pcap,
                format!("10.0.0.{}", 10 + i).parse().unwrap(),
                40000,
                "203.0.113.1".parse().unwrap(),
                25,
            );
            r.start = 1_109_635_201_000_000;
            r.end = r.start;
            r.helo = (*helo).into();
            agg.push(&r);
        }
    }
    let ranking = agg.finish(&RankConfig::from_isp(&net).unwrap());
    let mut out = Vec::new();
    write_hosts_csv(&mut out, &ranking.hosts).unwrap();
    let text = String::from_utf8(out).unwrap();
    let column = CSV_COLUMNS.iter().position(|c| *c == "helo_top").unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let mut tops: Vec<String> = rdr
        .records()
        .map(|r| r.unwrap().get(column).unwrap().to_string())
        .collect();
    tops.sort();
    assert_eq!(
        tops,
        [
            "'-1+2",
            "'=HYPERLINK(\"http://x\",\"y\")",
            "[10.0.0.9]",
            "mail.example"
        ]
    );
}

#[test]
fn timestamps_are_rfc3339_microseconds() {
    use op25b_rank::rfc3339_us;
    // Reference values from `date -u -d @SECONDS`.
    assert_eq!(
        rfc3339_us(1_109_635_201_000_000),
        "2005-03-01T00:00:01.000000Z"
    );
    assert_eq!(
        rfc3339_us(4_102_444_799_123_456),
        "2099-12-31T23:59:59.123456Z"
    );
    assert_eq!(
        rfc3339_us(951_782_400_000_001),
        "2000-02-29T00:00:00.000001Z"
    );
    assert_eq!(rfc3339_us(-1), "1969-12-31T23:59:59.999999Z");
    assert_eq!(rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
}

#[test]
fn json_lines_and_table() {
    let ranking = ranking();
    let mut out = Vec::new();
    write_json_lines(&mut out, &ranking.hosts).unwrap();
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["verdict"], "zombie");
    assert_eq!(rows[0]["features"]["host"], "10.0.0.7");
    assert_eq!(rows[0]["features"]["fanout"], 50);
    assert_eq!(rows[0]["first_seen_utc"], "2005-03-01T00:00:01.000000Z");
    assert!(rows[0]["reasons"].as_array().unwrap().len() >= 3);

    let table = format_table(&ranking.hosts, 1);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("rank  host"), "{table}");
    assert!(
        lines[1].contains("10.0.0.7") && lines[1].contains("zombie"),
        "{table}"
    );
    assert!(lines[1].contains("fanout=50"), "{table}");
    assert_eq!(format_table(&ranking.hosts, 10).lines().count(), 3);
}

#[test]
fn rank_section_parses_and_rejects_mistakes() {
    let base = "[network]\ninternal=[\"10.0.0.0/8\"]\n";
    let cfg = |extra: &str| {
        let isp = IspConfig::parse_str(&format!("{base}{extra}")).unwrap();
        RankConfig::from_isp(&isp)
    };
    let d = cfg("").unwrap();
    assert_eq!(d, RankConfig::default());
    assert!(!d.network_is_default);

    let c =
        cfg("[rank]\nzombie_score = 8.5\nw_fanout = 4\nbig_provider_domains = [\"example.org\"]\n")
            .unwrap();
    assert_eq!(c.zombie_score, 8.5);
    assert_eq!(c.w_fanout, 4.0);
    assert_eq!(c.big_provider_domains, vec!["example.org".to_string()]);
    assert_eq!(c.suspect_score, RankConfig::default().suspect_score);

    let e = cfg("[rank]\nzombie_scor = 8\n").unwrap_err();
    assert!(e.contains("zombie_scor") && e.contains("[rank]"), "{e}");
    let e = cfg("[rank]\nzombie_score = \"high\"\n").unwrap_err();
    assert!(e.contains("[rank]"), "{e}");
    let e = cfg("[rank]\nsuspect_score = 9\n").unwrap_err();
    assert!(e.contains("suspect_score"), "{e}");
    let e = cfg("[rank]\nflow_score_factor = -1\n").unwrap_err();
    assert!(e.contains("flow_score_factor"), "{e}");
    let e = cfg("[rank]\nfanout_low = 60\n").unwrap_err();
    assert!(e.contains("fanout_low"), "{e}");
    let isp = IspConfig::parse_str(&format!("rank = 5\n{base}")).unwrap();
    let e = RankConfig::from_isp(&isp).unwrap_err();
    assert!(e.contains("[rank]"), "{e}");
    let e = cfg("[rank]\nnetwork_is_default = true\n").unwrap_err();
    assert!(e.contains("network_is_default"), "{e}");
}
