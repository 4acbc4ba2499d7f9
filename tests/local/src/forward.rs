//! A loopback-only TCP forwarder: `cargo lambda invoke` sends to `[::1]:9000`
//! by default while `cargo lambda watch` serves `127.0.0.1:9000`, so the dev
//! runner forwards the IPv6 loopback port to the IPv4 one and the README's
//! `cargo lambda invoke …` works as written. Never listens beyond loopback.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

/// Forwards every connection to `from` (a loopback address) to `to`, until
/// the process ends. Binding happens before this returns, so an address
/// already taken is reported to the caller.
pub async fn forward(from: SocketAddr, to: SocketAddr) -> Result<()> {
    if !from.ip().is_loopback() || !to.ip().is_loopback() {
        bail!("forwarding is for loopback addresses only ({from} → {to})");
    }
    let listener = TcpListener::bind(from)
        .await
        .with_context(|| format!("listening on {from}"))?;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_both_ways() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = server.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&[buf[3], buf[2], buf[1], buf[0]])
                .await
                .unwrap();
        });
        // A free loopback port to forward from.
        let from = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        forward(from, to).await.unwrap();
        let mut c = TcpStream::connect(from).await.unwrap();
        c.write_all(b"abcd").await.unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"dcba");
    }

    #[tokio::test]
    async fn refuses_anything_but_loopback() {
        let err = forward("0.0.0.0:9".parse().unwrap(), "127.0.0.1:9".parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
