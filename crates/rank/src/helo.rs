//! HELO/EHLO name checks: IP literals, random-looking names, names that are
//! not fully qualified, and names that claim a large mail provider.
//!
//! Every check reads the name only (no DNS): the point is a reason a human
//! can verify by looking at the name.

use std::net::IpAddr;

/// What a HELO name looks like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeloClass {
    /// `[1.2.3.4]`, `[IPv6:...]` or a bare address.
    pub ip_literal: bool,
    /// An address literal no honest client sends: unspecified (`[0.0.0.0]`),
    /// loopback, broadcast or multicast, or a public address other than the
    /// client's own. (A private literal is what a PC behind a home router
    /// sends; it is only an ordinary `ip_literal`.) Set by [`classify_for`].
    pub bogus_literal: bool,
    /// Looks machine-generated (see [`looks_random`]).
    pub random: bool,
    /// Not a fully qualified domain name (no dot, numeric or bad TLD,
    /// localhost, a private suffix such as `.local`).
    pub not_fqdn: bool,
}

/// Classifies one HELO argument (already trimmed by the ingest).
pub fn classify(name: &str) -> HeloClass {
    let name = name.trim().trim_end_matches('.');
    if is_ip_literal(name) {
        return HeloClass {
            ip_literal: true,
            bogus_literal: false,
            random: false,
            not_fqdn: true,
        };
    }
    HeloClass {
        ip_literal: false,
        bogus_literal: false,
        random: looks_random(name),
        not_fqdn: !is_fqdn(name),
    }
}

/// [`classify`], plus whether an address literal is bogus for this client.
pub fn classify_for(name: &str, client: &IpAddr) -> HeloClass {
    let mut class = classify(name);
    if class.ip_literal {
        class.bogus_literal = literal_address(name.trim()).is_some_and(|a| is_bogus(&a, client));
    }
    class
}

/// The address inside a literal (`[1.2.3.4]`, `[IPv6:..]`, bare).
pub fn literal_address(name: &str) -> Option<IpAddr> {
    let inner = name
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(name);
    let inner = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
        .unwrap_or(inner);
    inner.parse().ok()
}

fn is_bogus(a: &IpAddr, client: &IpAddr) -> bool {
    if a == client {
        return false;
    }
    match a {
        IpAddr::V4(v4) => {
            if v4.is_unspecified() || v4.is_loopback() || v4.is_broadcast() || v4.is_multicast() {
                return true;
            }
            // Private, shared (CGNAT 100.64/10) and link-local: a PC behind NAT.
            let shared = v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64;
            !(v4.is_private() || shared || v4.is_link_local())
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() {
                return true;
            }
            let first = v6.segments()[0];
            let ula = (first & 0xFE00) == 0xFC00;
            let link_local = (first & 0xFFC0) == 0xFE80;
            !(ula || link_local)
        }
    }
}

/// `[1.2.3.4]`, `[IPv6:2001:db8::1]`, or an address without brackets.
pub fn is_ip_literal(name: &str) -> bool {
    literal_address(name).is_some()
}

/// A fully qualified name: at least two labels, each 1..=63 of
/// letters/digits/hyphens, an alphabetic TLD of 2..=63, and not one of the
/// suffixes home networks use.
pub fn is_fqdn(name: &str) -> bool {
    const PRIVATE_SUFFIXES: &[&str] = &[
        "local",
        "localdomain",
        "lan",
        "home",
        "internal",
        "intranet",
        "localhost",
        "workgroup",
        "domain",
        "corp",
    ];
    if name.len() > 253 || !name.contains('.') {
        return false;
    }
    let mut labels = name.split('.');
    let Some(tld) = name.rsplit('.').next() else {
        return false;
    };
    if !(2..=63).contains(&tld.len()) || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    if PRIVATE_SUFFIXES.iter().any(|s| tld.eq_ignore_ascii_case(s)) {
        return false;
    }
    labels.all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    })
}

/// Whether a name looks machine-generated. Looks at every label but the
/// top-level domain, split further at hyphens, and calls the name random when
/// one such part:
/// - has a run of 6 or more consonants (`xkqzvbn`; English tops out at five,
///   as in "stren*gths*"), or
/// - is 6+ letters long without a vowel, or
/// - is 6+ characters with at least 3 switches between letters and digits
///   (`a8f3k2x9`), or
/// - is 12+ characters with a character entropy of at least 3.4 bits.
///
/// Names of one label (`DESKTOP-7F3K2LQ`) are checked whole. Vowels include
/// `y`; common ISP PTR names (`p1234-ipbf01`) have at most two switches per part.
pub fn looks_random(name: &str) -> bool {
    // All labels but the top-level domain (the whole name if it has no dot).
    let host_part = name.rsplit_once('.').map_or(name, |(head, _)| head);
    host_part.split(['.', '-', '_']).any(part_looks_random)
}

fn part_looks_random(part: &str) -> bool {
    let bytes = part.as_bytes();
    let is_vowel = |b: u8| {
        matches!(
            b.to_ascii_lowercase(),
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
        )
    };
    let mut run = 0usize;
    let mut max_run = 0usize;
    let mut letters = 0usize;
    let mut vowels = 0usize;
    let mut switches = 0usize;
    let mut prev_digit: Option<bool> = None;
    for &b in bytes {
        if b.is_ascii_alphabetic() {
            letters += 1;
            if is_vowel(b) {
                vowels += 1;
                run = 0;
            } else {
                run += 1;
                max_run = max_run.max(run);
            }
        } else {
            run = 0;
        }
        if b.is_ascii_alphanumeric() {
            let digit = b.is_ascii_digit();
            if prev_digit.is_some_and(|p| p != digit) {
                switches += 1;
            }
            prev_digit = Some(digit);
        }
    }
    if max_run >= 6 {
        return true;
    }
    if letters == bytes.len() && letters >= 6 && vowels == 0 {
        return true;
    }
    if bytes.len() >= 6 && switches >= 3 {
        return true;
    }
    bytes.len() >= 12 && entropy_bits(bytes) >= 3.4
}

/// Shannon entropy of the (case-folded) bytes, bits per character.
fn entropy_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b.to_ascii_lowercase())] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The provider domain a name claims (`mx.gmail.com` claims `gmail.com`), if any.
pub fn claimed_provider<'a>(name: &str, providers: &'a [String]) -> Option<&'a str> {
    let name = name.trim().trim_end_matches('.');
    providers
        .iter()
        .find(|p| {
            name.eq_ignore_ascii_case(p)
                || (name.len() > p.len()
                    && name.is_char_boundary(name.len() - p.len() - 1)
                    && name[name.len() - p.len() - 1..].starts_with('.')
                    && name[name.len() - p.len()..].eq_ignore_ascii_case(p))
        })
        .map(|p| p.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals() {
        for n in ["[1.2.3.4]", "[0.0.0.0]", "[IPv6:2001:db8::1]", "10.0.0.1"] {
            assert!(classify(n).ip_literal, "{n}");
            assert!(classify(n).not_fqdn, "{n}");
        }
        for n in ["mail.example.com", "[mail]", "1.2.3.4.example.com"] {
            assert!(!classify(n).ip_literal, "{n}");
        }
    }

    #[test]
    fn bogus_literals() {
        let me: IpAddr = "198.18.1.2".parse().unwrap();
        for n in [
            "[0.0.0.0]",
            "[127.0.0.1]",
            "[8.8.8.8]",
            "[255.255.255.255]",
            "[IPv6:::1]",
        ] {
            assert!(classify_for(n, &me).bogus_literal, "{n}");
        }
        for n in [
            "[198.18.1.2]",
            "[192.168.1.5]",
            "[10.0.0.7]",
            "[100.64.3.3]",
            "mail.example.com",
        ] {
            assert!(!classify_for(n, &me).bogus_literal, "{n}");
        }
    }

    #[test]
    fn fqdn() {
        for n in ["mail.example.com", "mx-1.example.co.jp", "a.b.org."] {
            assert!(!classify(n).not_fqdn, "{n}");
        }
        for n in [
            "localhost",
            "DESKTOP-7F3K2LQ",
            "anna-pc.local",
            "host.localdomain",
            "example.123",
            "bad_label.example.com",
            "",
            "a..com",
        ] {
            assert!(classify(n).not_fqdn, "{n}");
        }
    }

    #[test]
    fn random_names() {
        for n in [
            "xkqzvbn.com",
            "qwrtzpl",
            "a8f3k2x9",
            "mail.bcdfghjklm.net",
            "DESKTOP-7F3K2LQ",
            "x7hk2q9zlm3w.example.net",
        ] {
            assert!(classify(n).random, "{n}");
        }
        for n in [
            "mail.example.com",
            "smtp-out.newsletter.example.co.jp",
            "p1234-ipbf01.tokyo.ocn.ne.jp",
            "mx1.strengths.com",
            "anna-pc",
            "outbound.mailer.example.org",
            "mta5.mail.yahoo.com",
        ] {
            assert!(!classify(n).random, "{n}");
        }
    }

    #[test]
    fn provider_claims() {
        let p: Vec<String> = ["gmail.com", "yahoo.co.jp"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(claimed_provider("gmail.com", &p), Some("gmail.com"));
        assert_eq!(claimed_provider("MX.Gmail.com", &p), Some("gmail.com"));
        assert_eq!(
            claimed_provider("smtp.yahoo.co.jp.", &p),
            Some("yahoo.co.jp")
        );
        assert_eq!(claimed_provider("notgmail.com", &p), None);
        assert_eq!(claimed_provider("gmail.com.evil.net", &p), None);
        assert_eq!(claimed_provider("", &p), None);
    }
}
