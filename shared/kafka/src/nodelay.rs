//! TCP_NODELAY on the broker connections rskafka opened.
//!
//! rskafka (0.6) connects without TCP_NODELAY and writes each request in two writes: its length,
//! then its body. With Nagle's algorithm the body then waits for the broker to acknowledge the
//! four length bytes, and the broker delays that acknowledgement (40 ms on Linux) while it waits
//! for the body: a batched produce of tens of KB took ~40 ms on loopback instead of ~1 ms.
//! rskafka offers no hook for its sockets, so after connecting we set the option on this
//! process's TCP sockets whose peer is one of the brokers.
use std::net::SocketAddr;

/// The brokers' socket addresses (`host:port` resolved); names that do not resolve are skipped
/// (rskafka could not have connected to them either).
pub async fn resolve(brokers: &[String]) -> Vec<SocketAddr> {
    let mut addresses = Vec::new();
    for broker in brokers {
        if let Ok(resolved) = tokio::net::lookup_host(broker.as_str()).await {
            addresses.extend(resolved);
        }
    }
    addresses
}

/// Sets TCP_NODELAY on every open socket of this process connected to one of `brokers`;
/// returns how many. Elsewhere than Linux it does nothing (Lambda and local runs are Linux).
#[cfg(target_os = "linux")]
pub fn disable_nagle_to(brokers: &[SocketAddr]) -> usize {
    use std::os::fd::{BorrowedFd, RawFd};

    let Ok(descriptors) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut set = 0;
    for entry in descriptors.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is only passed to getpeername/getsockopt/setsockopt and not
        // kept. If another thread closes it meanwhile, those calls fail (EBADF); if the number
        // is reused, the peer check below decides as for any other socket. Non-sockets fail
        // getpeername (ENOTSOCK) and are skipped.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_broker = socket
            .peer_addr()
            .ok()
            .and_then(|peer| peer.as_socket())
            .is_some_and(|peer| brokers.contains(&peer));
        if to_broker && socket.set_tcp_nodelay(true).is_ok() {
            set += 1;
        }
    }
    set
}

#[cfg(not(target_os = "linux"))]
pub fn disable_nagle_to(_brokers: &[SocketAddr]) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_sockets_to_the_brokers_get_nodelay() {
        let broker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to_broker = tokio::net::TcpStream::connect(broker.local_addr().unwrap())
            .await
            .unwrap();
        let to_other = tokio::net::TcpStream::connect(other.local_addr().unwrap())
            .await
            .unwrap();
        assert!(!to_broker.nodelay().unwrap());

        let brokers = resolve(&[broker.local_addr().unwrap().to_string()]).await;
        assert!(disable_nagle_to(&brokers) >= 1);

        assert!(to_broker.nodelay().unwrap(), "the broker connection");
        assert!(!to_other.nodelay().unwrap(), "nothing else");
    }
}
