//! `vigie serve` against slow and silent clients, on raw sockets: each limit closes what
//! it must (the others set far out of reach, so the test proves that one limit).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Serve, chat_hook, patience};

/// A server with every limit far out of reach except those in `limits`.
fn serve(dir: &tempfile::TempDir, limits: &[&str]) -> Serve {
    let far = [
        "--header-read-timeout",
        "--body-read-timeout",
        "--idle-timeout",
    ];
    let mut args: Vec<&str> = Vec::new();
    for flag in far {
        let value = limits
            .iter()
            .position(|a| *a == flag)
            .map_or("3600", |i| limits[i + 1]);
        args.extend([flag, value]);
    }
    Serve::start(&dir.path().join("vigie.db"), &chat_hook(), &args)
}

fn connect(server: &Serve) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    // Only so a server that never closes fails the test instead of hanging it.
    s.set_read_timeout(Some(patience())).unwrap();
    s
}

/// Everything the server sends until it closes the connection; panics if it keeps the
/// connection open past `patience()`.
fn until_closed(mut s: TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn healthy(server: &Serve) -> bool {
    let mut s = connect(server);
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    until_closed(s).starts_with("HTTP/1.1 200")
}

const HALF_HEAD: &[u8] =
    b"POST /webhooks/facebook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-hub-sig";

#[test]
fn sockets_that_send_half_the_headers_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, &["--header-read-timeout", "1"]);
    let sockets: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(HALF_HEAD).unwrap();
            s
        })
        .collect();
    for s in sockets {
        assert!(!until_closed(s).contains(" 200 "));
    }
    // An idle keep-alive connection is closed the same way, after its answer.
    let mut s = connect(&server);
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert!(until_closed(s).starts_with("HTTP/1.1 200"));
    assert!(healthy(&server));
}

fn head(length: usize) -> Vec<u8> {
    format!(
        "POST /webhooks/facebook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         x-hub-signature-256: sha256=00\r\ncontent-length: {length}\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn sockets_that_send_half_the_body_get_408_and_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, &["--body-read-timeout", "1"]);
    let sockets: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(&head(200)).unwrap();
            s.write_all(&[b' '; 100]).unwrap();
            s
        })
        .collect();
    for s in sockets {
        let answer = until_closed(s);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains(r#""error":"body_timeout""#), "{answer}");
    }
    assert!(healthy(&server));
}

#[test]
fn a_body_trickled_a_byte_at_a_time_meets_one_deadline_for_the_whole_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, &["--body-read-timeout", "1"]);
    let mut s = connect(&server);
    s.write_all(&head(100_000)).unwrap();
    let mut writer = s.try_clone().unwrap();
    // A byte every 50 ms would take well over an hour to finish; a per-chunk timeout
    // would never fire. The writer stops when the server closes the connection.
    std::thread::spawn(move || {
        while writer.write_all(b" ").is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let answer = until_closed(s);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn an_announced_oversize_body_is_refused_with_413_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    // No body-read limit in reach: only the announced length can end this request.
    let server = serve(&dir, &[]);
    let mut s = connect(&server);
    s.write_all(&head(50 * 1024 * 1024)).unwrap();
    let answer = until_closed(s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""error":"body_too_large""#), "{answer}");
    assert!(healthy(&server));
}

#[test]
fn silent_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, &["--idle-timeout", "1"]);
    let silent: Vec<TcpStream> = (0..20).map(|_| connect(&server)).collect();
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(HALF_HEAD).unwrap();
            s
        })
        .collect();
    for s in silent.into_iter().chain(stalled) {
        assert_eq!(until_closed(s), "");
    }
    assert!(healthy(&server));
}
