//! Payload material: pre-generated pools of mail text, base64 and random
//! bytes (copied from at random offsets, so bodies cost a memcpy), TLS
//! records, HTTP and DNS messages, and the names used in dialogues.

use crate::rng::Rng;

const WORDS: &[&str] = &[
    "the",
    "meeting",
    "schedule",
    "project",
    "report",
    "please",
    "find",
    "attached",
    "thank",
    "you",
    "for",
    "your",
    "order",
    "shipping",
    "tomorrow",
    "office",
    "regards",
    "best",
    "price",
    "offer",
    "limited",
    "time",
    "free",
    "click",
    "here",
    "now",
    "account",
    "update",
    "invoice",
    "payment",
    "confirm",
    "details",
    "weekend",
    "family",
    "photos",
    "party",
    "lunch",
    "review",
    "draft",
    "budget",
    "quarter",
    "sales",
    "team",
    "customer",
    "support",
    "ticket",
    "service",
    "new",
    "product",
    "release",
    "notes",
    "version",
    "winner",
    "prize",
    "pharmacy",
    "cheap",
    "watches",
    "replica",
    "loan",
    "mortgage",
    "rate",
    "stock",
    "alert",
    "investor",
    "million",
    "dollars",
    "transfer",
    "bank",
    "urgent",
    "reply",
    "hello",
    "friend",
    "dear",
    "sir",
    "madam",
    "newsletter",
    "issue",
    "subscribe",
    "unsubscribe",
    "link",
    "below",
    "information",
    "about",
    "our",
    "company",
    "with",
    "from",
    "to",
    "and",
    "of",
    "in",
    "on",
    "is",
    "are",
    "will",
    "be",
];

const SYLLABLES: &[&str] = &[
    "ka", "ki", "ku", "ke", "ko", "sa", "shi", "su", "se", "so", "ta", "chi", "tsu", "te", "to",
    "na", "ni", "nu", "ne", "no", "ha", "hi", "fu", "he", "ho", "ma", "mi", "mu", "me", "mo", "ya",
    "yu", "yo", "ra", "ri", "ru", "re", "ro", "wa", "n", "ga", "go", "za", "da", "ba", "bo",
];

/// Shared byte pools, built once per run from a fixed seed.
pub struct Pools {
    text: Vec<u8>,
    base64: Vec<u8>,
    random: Vec<u8>,
}

const TEXT_POOL: usize = 256 * 1024;
const B64_POOL: usize = 256 * 1024;
const RANDOM_POOL: usize = 1024 * 1024;

impl Pools {
    pub fn new() -> Self {
        let mut rng = Rng::new(0x006f_7032_3562_u64);
        let mut text = Vec::with_capacity(TEXT_POOL + 128);
        while text.len() < TEXT_POOL {
            let target = rng.range(20, 76) as usize;
            let start = text.len();
            while text.len() - start < target {
                if text.len() > start {
                    text.push(b' ');
                }
                text.extend_from_slice(rng.pick_str(WORDS).as_bytes());
            }
            if rng.chance(0.1) {
                text.push(b'.');
            }
            text.extend_from_slice(b"\r\n");
        }
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut base64 = Vec::with_capacity(B64_POOL + 80);
        while base64.len() < B64_POOL {
            for _ in 0..76 {
                base64.push(B64[rng.below(64) as usize]);
            }
            base64.extend_from_slice(b"\r\n");
        }
        let mut random = vec![0u8; RANDOM_POOL];
        rng.fill(&mut random);
        Pools {
            text,
            base64,
            random,
        }
    }

    /// Whole lines of text, about `len` bytes, each ending in CRLF; no line
    /// starts with '.', so no dot-stuffing is needed.
    pub fn text_lines(&self, rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
        copy_lines(&self.text, rng, len, out);
    }

    pub fn base64_lines(&self, rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
        copy_lines(&self.base64, rng, len, out);
    }

    pub fn random(&self, rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
        let mut left = len;
        while left > 0 {
            let n = left.min(self.random.len() / 2);
            let at = rng.below((self.random.len() - n) as u64) as usize;
            out.extend_from_slice(&self.random[at..at + n]);
            left -= n;
        }
    }
}

impl Default for Pools {
    fn default() -> Self {
        Self::new()
    }
}

fn copy_lines(pool: &[u8], rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let mut left = len;
    while left > 0 {
        let n = left.min(pool.len() / 2);
        let mut at = rng.below((pool.len() - n) as u64) as usize;
        // Start after a line end.
        while at < pool.len() && at > 0 && pool[at - 1] != b'\n' {
            at += 1;
        }
        let mut end = (at + n).min(pool.len());
        while end > at && pool[end - 1] != b'\n' {
            end -= 1;
        }
        if end <= at {
            out.extend_from_slice(b"\r\n");
            left = left.saturating_sub(2);
            continue;
        }
        out.extend_from_slice(&pool[at..end]);
        left = left
            .saturating_sub(end - at)
            .saturating_sub(if end - at < 8 { 8 } else { 0 });
    }
}

/// A pronounceable lowercase name of 2..=4 syllables.
pub fn name(rng: &mut Rng) -> String {
    let n = rng.range(2, 4);
    let mut s = String::with_capacity(12);
    for _ in 0..n {
        s.push_str(rng.pick_str(SYLLABLES));
    }
    s
}

/// A name derived from an index (same index, same name).
pub fn name_of(index: u64, salt: u64) -> String {
    let mut r = Rng::new(index ^ salt.rotate_left(17));
    name(&mut r)
}

pub fn random_token(rng: &mut Rng, len: usize) -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char)
        .collect()
}

pub fn hex_token(rng: &mut Rng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789ABCDEF";
    (0..len)
        .map(|_| HEX[rng.below(16) as usize] as char)
        .collect()
}

/// Standard base64 of `data`.
pub fn base64(data: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// TLS pieces: a resumed TLS 1.2 handshake and application-data records
/// (random bytes standing in for ciphertext).
pub mod tls {
    use super::Pools;
    use crate::rng::Rng;

    /// Bytes of TLS framing per application record (header, nonce, tag).
    pub const RECORD_OVERHEAD: usize = 5 + 8 + 16;
    const MAX_PLAIN: usize = 16384;

    pub fn client_hello(rng: &mut Rng, out: &mut Vec<u8>) {
        let mut hs = Vec::with_capacity(96);
        hs.extend_from_slice(&[0x03, 0x03]);
        let mut random = [0u8; 32];
        rng.fill(&mut random);
        hs.extend_from_slice(&random);
        hs.push(32);
        let mut sid = [0u8; 32];
        rng.fill(&mut sid);
        hs.extend_from_slice(&sid);
        let suites: [u16; 6] = [0xc02f, 0xc030, 0xc013, 0xc014, 0x009c, 0x002f];
        hs.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
        for s in suites {
            hs.extend_from_slice(&s.to_be_bytes());
        }
        hs.extend_from_slice(&[1, 0]); // compression: null
        handshake_record(0x01, &hs, 0x0301, out);
    }

    /// ServerHello resuming the session, ChangeCipherSpec, Finished.
    pub fn server_resume(rng: &mut Rng, pools: &Pools, out: &mut Vec<u8>) {
        let mut hs = Vec::with_capacity(80);
        hs.extend_from_slice(&[0x03, 0x03]);
        let mut random = [0u8; 32];
        rng.fill(&mut random);
        hs.extend_from_slice(&random);
        hs.push(32);
        let mut sid = [0u8; 32];
        rng.fill(&mut sid);
        hs.extend_from_slice(&sid);
        hs.extend_from_slice(&0xc02fu16.to_be_bytes());
        hs.push(0);
        handshake_record(0x02, &hs, 0x0303, out);
        change_cipher_finished(rng, pools, out);
    }

    pub fn change_cipher_finished(rng: &mut Rng, pools: &Pools, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
        out.extend_from_slice(&[0x16, 0x03, 0x03, 0x00, 0x28]);
        pools.random(rng, 0x28, out);
    }

    fn handshake_record(kind: u8, body: &[u8], version: u16, out: &mut Vec<u8>) {
        out.push(0x16);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        out.push(kind);
        let n = body.len() as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..]);
        out.extend_from_slice(body);
    }

    /// Application data carrying `plain` bytes of plaintext.
    pub fn app_data(rng: &mut Rng, pools: &Pools, plain: usize, out: &mut Vec<u8>) {
        let mut left = plain.max(1);
        while left > 0 {
            let n = left.min(MAX_PLAIN);
            out.extend_from_slice(&[0x17, 0x03, 0x03]);
            out.extend_from_slice(&((n + 24) as u16).to_be_bytes());
            pools.random(rng, n + 24, out);
            left -= n;
        }
    }

    /// Wire size of `app_data(plain)`.
    pub fn app_data_len(plain: usize) -> usize {
        let plain = plain.max(1);
        plain + plain.div_ceil(MAX_PLAIN) * RECORD_OVERHEAD
    }

    pub fn close_notify(rng: &mut Rng, pools: &Pools, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x15, 0x03, 0x03, 0x00, 0x1a]);
        pools.random(rng, 0x1a, out);
    }
}

/// DNS query and response messages.
pub mod dns {
    pub const TYPE_A: u16 = 1;
    pub const TYPE_MX: u16 = 15;
    pub const TYPE_AAAA: u16 = 28;

    fn qname(name: &str, out: &mut Vec<u8>) {
        for label in name.split('.').filter(|l| !l.is_empty()) {
            let l = &label.as_bytes()[..label.len().min(63)];
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
    }

    pub fn query(id: u16, name: &str, qtype: u16, out: &mut Vec<u8>) {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        qname(name, out);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
    }

    /// A response with one answer; `rdata` is the address for A/AAAA or the
    /// exchange name for MX.
    pub fn response(id: u16, name: &str, qtype: u16, addr: &[u8], mx: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&0x8180u16.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
        qname(name, out);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&0xc00cu16.to_be_bytes());
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&300u32.to_be_bytes());
        match qtype {
            TYPE_MX => {
                let mut rdata = vec![0, 10];
                qname(mx, &mut rdata);
                out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                out.extend_from_slice(&rdata);
            }
            _ => {
                out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
                out.extend_from_slice(addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn text_lines_are_whole_lines_without_leading_dots() {
        let pools = Pools::new();
        let mut rng = Rng::new(3);
        for len in [10usize, 100, 5000, 200_000] {
            let mut out = Vec::new();
            pools.text_lines(&mut rng, len, &mut out);
            assert!(out.ends_with(b"\r\n"));
            for line in out.split(|&b| b == b'\n') {
                assert!(!line.starts_with(b"."));
            }
            assert!(out.len() + 200 >= len, "{} for {}", out.len(), len);
        }
    }

    #[test]
    fn tls_app_data_len_matches_written_bytes() {
        let pools = Pools::new();
        let mut rng = Rng::new(5);
        for plain in [1usize, 100, 16384, 16385, 50_000] {
            let mut out = Vec::new();
            tls::app_data(&mut rng, &pools, plain, &mut out);
            assert_eq!(out.len(), tls::app_data_len(plain));
        }
    }
}
