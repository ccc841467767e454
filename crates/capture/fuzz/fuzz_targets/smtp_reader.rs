//! The SMTP reader alone: the input is cut into client and server pieces
//! (and gaps) by control bytes; the reader must never panic and its counts
//! must stay consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use op25b_capture::smtp::SmtpReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = SmtpReader::new();
    let mut rest = data;
    while let Some((&control, tail)) = rest.split_first() {
        let len = usize::from(control & 0x3f).min(tail.len());
        let (piece, next) = tail.split_at(len);
        match control >> 6 {
            0 | 1 => reader.feed_client(piece),
            2 => reader.feed_server(piece),
            _ => {
                if control & 1 == 0 {
                    reader.gap_client(len as u64);
                } else {
                    reader.gap_server(len as u64);
                }
            }
        }
        rest = next;
    }
    let s = reader.finish();
    assert!(s.helo.len() <= op25b_capture::smtp::MAX_HELO * 3);
    assert!(s.rcpt_accepted + s.rcpt_rejected <= s.commands);
});
