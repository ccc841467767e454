//! The live collector: datagrams replayed to it over 127.0.0.1 UDP, then a
//! stop; the sessions it wrote equal offline decoding of the same datagrams.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use op25b_core::SessionRecord;
use op25b_flow::{
    CollectOptions, DecoderOptions, FlowDecoder, PairerOptions, SessionPairer, SessionSink,
    collect_on,
};

struct VecSink {
    into: Arc<Mutex<Vec<SessionRecord>>>,
    finished: Arc<Mutex<u32>>,
}

impl SessionSink for VecSink {
    fn write(&mut self, rec: &SessionRecord) -> io::Result<()> {
        self.into.lock().unwrap().push(rec.clone());
        Ok(())
    }
    fn finish(self: Box<Self>) -> io::Result<()> {
        *self.finished.lock().unwrap() += 1;
        Ok(())
    }
}

/// IPFIX datagrams: a template, then SMTP connections (both directions in
/// one datagram), 10 connections per datagram, times around now.
fn datagrams(connections: u32) -> Vec<Vec<u8>> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let fields: [(u16, u16); 10] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (2, 4),
        (1, 4),
        (152, 8),
        (153, 8),
    ];
    let mut template = vec![0, 2, 0, 0, 1, 0, 0, 10];
    for (id, len) in fields {
        template.extend_from_slice(&id.to_be_bytes());
        template.extend_from_slice(&len.to_be_bytes());
    }
    let tl = template.len() as u16;
    template[2..4].copy_from_slice(&tl.to_be_bytes());
    let mut out = Vec::new();
    let mut i = 0;
    while i < connections {
        let mut data = vec![1, 0, 0, 0];
        for _ in 0..10.min(connections - i) {
            let client = [10, 1, (i >> 8) as u8, i as u8];
            let server = [192, 0, 2, 25];
            let port = 20000 + i as u16;
            let t = now_ms - 5000 + u64::from(i);
            for (src, dst, sp, dp, flags, pkts, bytes) in [
                (client, server, port, 25u16, 0x1bu8, 12u32, 4000u32),
                (server, client, 25, port, 0x1b, 10, 1200),
            ] {
                data.extend_from_slice(&src);
                data.extend_from_slice(&dst);
                data.extend_from_slice(&sp.to_be_bytes());
                data.extend_from_slice(&dp.to_be_bytes());
                data.extend_from_slice(&[6, flags]);
                data.extend_from_slice(&pkts.to_be_bytes());
                data.extend_from_slice(&bytes.to_be_bytes());
                data.extend_from_slice(&t.to_be_bytes());
                data.extend_from_slice(&(t + 800).to_be_bytes());
            }
            i += 1;
        }
        let dl = data.len() as u16;
        data[2..4].copy_from_slice(&dl.to_be_bytes());
        let mut sets = if out.is_empty() {
            template.clone()
        } else {
            Vec::new()
        };
        sets.extend_from_slice(&data);
        let mut d = vec![0, 10];
        d.extend_from_slice(&((sets.len() + 16) as u16).to_be_bytes());
        d.extend_from_slice(&((now_ms / 1000) as u32).to_be_bytes());
        d.extend_from_slice(&(out.len() as u32).to_be_bytes());
        d.extend_from_slice(&7u32.to_be_bytes());
        d.extend_from_slice(&sets);
        out.push(d);
    }
    out
}

fn key(s: &SessionRecord) -> (i64, std::net::IpAddr, u16) {
    (s.start, s.client, s.client_port)
}

#[test]
fn replayed_datagrams_are_all_collected() {
    let dgs = datagrams(500);
    // Offline reference.
    let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let mut dec = FlowDecoder::new(DecoderOptions::default());
    let mut pairer = SessionPairer::new(&[25, 465, 587], PairerOptions::default());
    let mut want = Vec::new();
    let mut flows = Vec::new();
    for d in &dgs {
        dec.decode(from, 0, d, &mut flows);
        for f in flows.drain(..) {
            pairer.push(&f, &mut |s| want.push(s));
        }
    }
    pairer.finish(&mut |s| want.push(s));
    assert_eq!(want.len(), 500);

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new(Mutex::new(Vec::new()));
    let finished = Arc::new(Mutex::new(0u32));
    let collector = {
        let (stop, got, finished) = (stop.clone(), got.clone(), finished.clone());
        std::thread::spawn(move || {
            let mut factory = |_dir: &Path, _hour: i64| -> io::Result<Box<dyn SessionSink>> {
                Ok(Box::new(VecSink {
                    into: got.clone(),
                    finished: finished.clone(),
                }))
            };
            let opts = CollectOptions {
                poll: Duration::from_millis(20),
                ..CollectOptions::default()
            };
            collect_on(socket, Path::new("/nonexistent"), stop, opts, &mut factory)
        })
    };
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, d) in dgs.iter().enumerate() {
        sender.send_to(d, addr).unwrap();
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Stop at once: what is still in the socket buffer must be drained.
    stop.store(true, Ordering::SeqCst);
    let stats = collector.join().unwrap().unwrap();
    assert_eq!(stats.datagrams, dgs.len() as u64);
    assert_eq!(stats.flow_records, 1000);
    let mut got = got.lock().unwrap().clone();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    assert_eq!(stats.sessions, 500);
    assert!(stats.files >= 1 && u64::from(*finished.lock().unwrap()) == stats.files);
}

#[test]
fn sigint_and_sigterm_set_the_stop_flag() {
    let stop = Arc::new(AtomicBool::new(false));
    op25b_flow::stop_on_signals(&stop).unwrap();
    // SAFETY of the process: the handlers are installed, so raising the
    // signals sets the flag instead of terminating the test binary.
    signal_hook_raise(signal_hook_consts::SIGTERM);
    assert!(stop.load(Ordering::SeqCst));
    stop.store(false, Ordering::SeqCst);
    signal_hook_raise(signal_hook_consts::SIGINT);
    assert!(stop.load(Ordering::SeqCst));
}

use signal_hook::consts as signal_hook_consts;
fn signal_hook_raise(sig: i32) {
    signal_hook::low_level::raise(sig).unwrap();
}
