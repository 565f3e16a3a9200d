//! A raw HTTP/1.1 server on 127.0.0.1 for adversarial tests: it records every request as it
//! arrived on the wire and answers with whatever bytes the test scripts, including answers a
//! well-behaved framework would never send (huge announced lengths, endless chunked bodies,
//! redirects to another port).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target exactly as sent (path and query, still percent-encoded).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server sends back: the head, then body chunks (written one after another).
pub struct Answer {
    pub head: String,
    pub chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    /// End the connection with a reset (RST) instead of a clean close once everything is
    /// written: what a crashing server or a proxy dropping the connection looks like.
    pub reset: bool,
}

impl Answer {
    /// A complete answer with a JSON body and its length.
    pub fn json(status: u16, body: &str) -> Answer {
        Answer::with_headers(status, &[("content-type", "application/json")], body)
    }

    /// A complete answer with extra headers.
    pub fn with_headers(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("connection: close\r\n\r\n");
        Answer {
            head,
            chunks: Box::new(std::iter::once(body.as_bytes().to_vec())),
            reset: false,
        }
    }

    /// A complete answer with any body bytes and any header lines.
    pub fn bytes(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Answer {
        let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("connection: close\r\n\r\n");
        Answer {
            head,
            chunks: Box::new(std::iter::once(body)),
            reset: false,
        }
    }

    /// Only a head (the test writes whatever length it likes into it), no body.
    pub fn head_only(head: String) -> Answer {
        Answer {
            head,
            chunks: Box::new(std::iter::empty()),
            reset: false,
        }
    }

    /// A 200 whose head announces all of `body` but of which only the first half is sent
    /// before the connection is reset: an answer lost mid-body.
    pub fn reset_mid_body(body: &str) -> Answer {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let half = body.as_bytes()[..body.len() / 2].to_vec();
        Answer {
            head,
            chunks: Box::new(std::iter::once(half)),
            reset: true,
        }
    }

    /// A chunked 200 whose body is `chunks` of `chunk_size` bytes of JSON-string filler.
    pub fn chunked(chunk_size: usize, chunks: usize) -> Answer {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_string();
        let frame = |data: &[u8]| {
            let mut out = format!("{:x}\r\n", data.len()).into_bytes();
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
            out
        };
        let first = frame(b"[\"");
        let filler = frame(&vec![b'x'; chunk_size]);
        let body = std::iter::once(first)
            .chain(std::iter::repeat_n(filler, chunks))
            .chain(std::iter::once(frame(b"\"]")))
            .chain(std::iter::once(b"0\r\n\r\n".to_vec()));
        Answer {
            head,
            chunks: Box::new(body),
            reset: false,
        }
    }
}

type Script = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A running server: its address and everything it received.
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Bytes of body the server managed to write, over all answers.
    written: Arc<Mutex<u64>>,
}

impl Server {
    pub async fn start(script: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(Mutex::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (s, w) = (seen.clone(), written.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, w, script) = (s.clone(), w.clone(), script.clone());
                tokio::spawn(serve(stream, s, w, script));
            }
        });
        Server {
            addr,
            seen,
            written,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn body_bytes_written(&self) -> u64 {
        *self.written.lock().unwrap()
    }
}

async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    written: Arc<Mutex<u64>>,
    script: Arc<Script>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let request = Seen {
        method,
        target,
        headers,
        body,
    };
    seen.lock().unwrap().push(request.clone());
    let answer = script(&request);
    if stream.write_all(answer.head.as_bytes()).await.is_err() {
        return;
    }
    for piece in answer.chunks {
        if stream.write_all(&piece).await.is_err() {
            return;
        }
        *written.lock().unwrap() += piece.len() as u64;
    }
    if answer.reset {
        // A zero linger turns the close into a reset.
        let _ = stream.set_zero_linger();
        let _ = stream.flush().await;
        drop(stream);
        return;
    }
    let _ = stream.shutdown().await;
}

/// Counts outcomes per class of input, and prints them (`cargo test -- --nocapture`).
#[derive(Default)]
pub struct Tally {
    /// (class, inputs tried, outcomes with their counts)
    rows: Vec<TallyRow>,
}

type TallyRow = (String, usize, Vec<(String, usize)>);

impl Tally {
    pub fn record(&mut self, class: &str, outcome: &str) {
        let row = match self.rows.iter().position(|(c, _, _)| c == class) {
            Some(i) => &mut self.rows[i],
            None => {
                self.rows.push((class.to_string(), 0, Vec::new()));
                self.rows.last_mut().unwrap()
            }
        };
        row.1 += 1;
        match row.2.iter_mut().find(|(o, _)| o == outcome) {
            Some((_, n)) => *n += 1,
            None => row.2.push((outcome.to_string(), 1)),
        }
    }

    pub fn print(&self, title: &str) {
        println!("== {title}");
        for (class, tried, outcomes) in &self.rows {
            let outcomes: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o}: {n}")).collect();
            println!("  {class}: {tried} tried -> {}", outcomes.join(", "));
        }
    }
}
