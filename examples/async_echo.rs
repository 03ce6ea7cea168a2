//! A small TCP echo server on loopback whose socket readiness and file reads share one
//! AIO context, as Seastar's reactor does: the listening socket is watched with
//! `IOCB_CMD_POLL` ([`AsyncContext::readiness`]), each connection's greeting is read from
//! a file that is not in the page cache (a helper thread finishes that read), and the
//! connections' reads and writes are AIO requests too (a read with no data yet waits for
//! readiness on the same context). Everything runs on one thread: tokio's current-thread
//! runtime.
//!
//! Bounded: 8 clients (threads with blocking sockets) send 50 lines each and check every
//! echo; the whole run must finish within 30 seconds.
//!
//! Run: `cargo run --features tokio --example async_echo`

use rawaio::reactor::Tokio;
use rawaio::{AsyncContext, Op, PollFlags};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const CLIENTS: usize = 8;
const MESSAGES: usize = 50;
const LIMIT: Duration = Duration::from_secs(30);

/// One connection: the greeting from the file, then every byte received sent back.
async fn serve(
    ctx: AsyncContext<Tokio>,
    stream: TcpStream,
    greeting: Arc<std::fs::File>,
) -> Result<u64> {
    let stream = Arc::new(stream);
    let len = greeting.metadata()?.len() as usize;
    let read = ctx.submit(Op::read(greeting, vec![0u8; len], 0))?.await?;
    read.full()?;
    send(&ctx, &stream, read.into_buf().unwrap_or_default(), len).await?;
    let mut buf = vec![0u8; 4096];
    let mut echoed = 0;
    loop {
        // No data yet: the kernel refuses the RWF_NOWAIT read, and the context waits for
        // the socket's readiness with an IOCB_CMD_POLL before it reads again.
        let got = ctx.submit(Op::read(Arc::clone(&stream), buf, 0))?.await?;
        let n = got.result()? as usize;
        buf = got.into_buf().unwrap_or_default();
        if n == 0 {
            return Ok(echoed);
        }
        buf = send(&ctx, &stream, buf, n).await?;
        echoed += n as u64;
    }
}

/// Writes `buf[..len]` to the socket, however many writes it takes; gives `buf` back.
async fn send(
    ctx: &AsyncContext<Tokio>,
    stream: &Arc<TcpStream>,
    mut buf: Vec<u8>,
    len: usize,
) -> Result<Vec<u8>> {
    let mut sent = 0;
    while sent < len {
        let op = Op::write(Arc::clone(stream), buf, 0).range(sent..len);
        let done = ctx.submit(op)?.await?;
        sent += done.result()? as usize;
        buf = done.into_buf().unwrap_or_default();
    }
    Ok(buf)
}

/// A client: reads the greeting, sends its lines one by one, checks each echo.
fn client(addr: SocketAddr, id: usize, greeting: &str) -> Result<usize> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(LIMIT))?;
    let mut lines = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    lines.read_line(&mut line)?;
    assert_eq!(line, greeting, "client {id}: the greeting");
    let mut writer = stream;
    for m in 0..MESSAGES {
        let sent = format!("client {id} message {m} {}\n", "x".repeat(m * 7));
        writer.write_all(sent.as_bytes())?;
        line.clear();
        lines.read_line(&mut line)?;
        assert_eq!(line, sent, "client {id}: the echo of message {m}");
    }
    Ok(MESSAGES)
}

fn main() -> Result<()> {
    let start = Instant::now();
    // The greeting, written and synced, then dropped from the page cache.
    let path = std::env::temp_dir().join(format!("rawaio-echo-{}", std::process::id()));
    let greeting = "hello from rawaio's echo server\n";
    std::fs::write(&path, greeting)?;
    let file = std::fs::File::open(&path)?;
    file.sync_all()?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    std::fs::remove_file(&path)?;
    let file = Arc::new(file);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| std::thread::spawn(move || client(addr, id, greeting)))
        .collect();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (echoed, stats) = rt.block_on(async {
        let ctx = AsyncContext::<Tokio>::new(64)?;
        let serving = async {
            let mut accepting = ctx.readiness(&listener, PollFlags::IN);
            let mut connections = Vec::new();
            while connections.len() < CLIENTS {
                accepting.ready().await?;
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let task = serve(ctx.clone(), stream, Arc::clone(&file));
                            connections.push(tokio::spawn(task));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            let mut echoed = 0;
            for connection in connections {
                echoed += connection.await??;
            }
            Result::Ok(echoed)
        };
        let echoed = tokio::time::timeout(LIMIT, serving)
            .await
            .map_err(|_| "the server took too long")??;
        Result::Ok((echoed, ctx.stats()))
    })?;
    let mut messages = 0;
    for c in clients {
        messages += c.join().map_err(|_| "a client panicked")??;
    }
    assert_eq!(messages, CLIENTS * MESSAGES);
    println!(
        "{CLIENTS} clients, {messages} lines, {echoed} bytes echoed in {:?} on one thread and one AIO context",
        start.elapsed()
    );
    println!(
        "paths: {} reads/writes with RWF_NOWAIT, {} waited for readiness, {} on a helper thread",
        stats.nowait, stats.polled, stats.helper
    );
    assert!(stats.polled > 0, "the sockets' reads waited for readiness");
    Ok(())
}
