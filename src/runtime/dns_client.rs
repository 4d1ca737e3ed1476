//! The DNS client of the IO shell: asks the nameserver the questions a [`Locator`] poses
//! (concurrently, each over its own UDP socket), and hands the answers back.
//!
//! Each query gets a random id and a fresh socket on a port the OS picks at random, connected
//! to the nameserver so only its datagrams arrive; an answer must echo the id and the
//! question (RFC 5452 §9.1) or it is ignored, which is what keeps an off-path forger guessing
//! both. A query unanswered after [`QUERY_TIMEOUT`] is sent once more; a truncated answer is
//! asked again over TCP (RFC 7766). A name the DNS does not know is asked of the system
//! resolver last (`/etc/hosts`: `localhost`, lab names), as the switch did before it spoke
//! DNS itself.

use crate::config::{GatewayAddress, Profile};
use crate::dns::{Located, Locator, LocatorOutput, Message, Question, Via};
use crate::sip::transport::Transport;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one query waits for its answer before it is sent again (once).
pub(super) const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Sends of one query: the first and one retry.
const TRIES: u32 = 2;
/// How long the system resolver may take for one name.
const SYSTEM_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an address from the system resolver is kept: it says no TTL.
pub(super) const SYSTEM_TTL: Duration = Duration::from_secs(300);
/// The DNS port (RFC 1035 §4.2).
const DNS_PORT: u16 = 53;

/// Asks one nameserver.
#[derive(Debug, Clone)]
pub(super) struct DnsClient {
    /// `None`: none configured or found; only the system resolver is asked.
    nameserver: Option<SocketAddr>,
}

impl DnsClient {
    /// The profile's `[dialing] nameserver`, else the first of `/etc/resolv.conf`.
    pub(super) fn for_profile(profile: &Profile) -> DnsClient {
        let nameserver = profile.dialing.nameserver.map(|n| n.0).or_else(|| {
            let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            first_nameserver(&text)
        });
        match nameserver {
            Some(ns) => {
                tracing::info!(nameserver = %ns, "gateway names are looked up by DNS (SRV, A/AAAA)")
            }
            None => tracing::warn!(
                "no nameserver configured or in /etc/resolv.conf: gateway names go to the system resolver, without SRV"
            ),
        }
        DnsClient { nameserver }
    }

    /// Where `gateway`, reached over `transport`, is (see `dns::locate`); `seed` orders SRV
    /// targets of one priority.
    pub(super) async fn locate(
        &self,
        gateway: &GatewayAddress,
        transport: Transport,
        seed: u64,
    ) -> Located {
        let mut locator = Locator::for_transport(&gateway.host, gateway.port, transport, seed);
        loop {
            let mut questions = Vec::new();
            while let Some(output) = locator.poll_output() {
                match output {
                    LocatorOutput::Query(question) => questions.push(question),
                    LocatorOutput::Located(located) => {
                        return self.or_system(gateway, transport, located).await;
                    }
                }
            }
            // The locator always asks or ends; an answer lost to a failed task ends it here.
            if questions.is_empty() {
                let nothing = Located {
                    addrs: Vec::new(),
                    ttl: None,
                    via: Via::Address,
                };
                return self.or_system(gateway, transport, nothing).await;
            }
            let mut asks = tokio::task::JoinSet::new();
            for question in questions {
                let nameserver = self.nameserver;
                asks.spawn(async move {
                    let answer = match nameserver {
                        Some(ns) => ask(ns, &question).await,
                        None => None,
                    };
                    (question, answer)
                });
            }
            while let Some(joined) = asks.join_next().await {
                if let Ok((question, answer)) = joined {
                    locator.handle_answer(&question, answer.as_ref());
                }
            }
        }
    }

    /// `located`, or when the DNS knew no address for the name itself, what the system
    /// resolver knows (kept [`SYSTEM_TTL`]).
    async fn or_system(
        &self,
        gateway: &GatewayAddress,
        transport: Transport,
        located: Located,
    ) -> Located {
        if !located.addrs.is_empty() || located.via != Via::Address {
            return located;
        }
        let default_port = crate::dns::locate::service_of(transport).1;
        let target = (gateway.host.as_str(), gateway.port.unwrap_or(default_port));
        let lookup = tokio::time::timeout(SYSTEM_LOOKUP_TIMEOUT, tokio::net::lookup_host(target));
        let addrs: Vec<SocketAddr> = match lookup.await {
            Ok(Ok(addrs)) => addrs.collect(),
            _ => Vec::new(),
        };
        let ttl = (!addrs.is_empty()).then_some(SYSTEM_TTL);
        Located {
            addrs,
            ttl,
            via: Via::Address,
        }
    }
}

/// The first `nameserver` line's address of a resolv.conf (resolv.conf(5)); a link-local
/// IPv6 one with a `%zone` is skipped, as the address alone would not reach it.
pub(super) fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        let ip: std::net::IpAddr = words.next()?.parse().ok()?;
        Some(SocketAddr::new(ip, DNS_PORT))
    })
}

/// `question`'s answer from `nameserver`: UDP, sent twice at most, then TCP if it came back
/// truncated (the truncated one kept if TCP fails). `None` when nothing usable came.
async fn ask(nameserver: SocketAddr, question: &Question) -> Option<Message> {
    for attempt in 1..=TRIES {
        let answer = tokio::time::timeout(QUERY_TIMEOUT, ask_udp(nameserver, question)).await;
        match answer {
            Ok(Ok(answer)) if answer.truncated() => {
                let tcp = tokio::time::timeout(QUERY_TIMEOUT, ask_tcp(nameserver, question));
                return Some(match tcp.await {
                    Ok(Ok(whole)) => whole,
                    _ => answer,
                });
            }
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(error)) => {
                tracing::debug!(%nameserver, question = %question.name, attempt, %error, "DNS query failed");
            }
            Err(_) => {
                tracing::debug!(%nameserver, question = %question.name, attempt, "DNS query timed out");
            }
        }
    }
    None
}

/// A query with a random id.
fn query(question: &Question) -> std::io::Result<(Message, Vec<u8>)> {
    let mut id = [0u8; 2];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut id)
        .map_err(std::io::Error::other)?;
    let query = Message::query(u16::from_be_bytes(id), question.clone());
    let bytes = query
        .to_bytes()
        .ok_or_else(|| std::io::Error::other("query too large"))?;
    Ok((query, bytes))
}

async fn ask_udp(nameserver: SocketAddr, question: &Question) -> std::io::Result<Message> {
    let (query, bytes) = query(question)?;
    let any: std::net::IpAddr = if nameserver.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    socket.connect(nameserver).await?;
    socket.send(&bytes).await?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let len = socket.recv(&mut buf).await?;
        match Message::parse(&buf[..len]) {
            Ok(answer) if answer.answers(&query) => return Ok(answer),
            Ok(_) => tracing::debug!(%nameserver, "DNS answer to another query ignored"),
            Err(error) => tracing::debug!(%nameserver, %error, "malformed DNS answer ignored"),
        }
    }
}

async fn ask_tcp(nameserver: SocketAddr, question: &Question) -> std::io::Result<Message> {
    let (query, bytes) = query(question)?;
    let mut stream = TcpStream::connect(nameserver).await?;
    let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend(bytes);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    match Message::parse(&buf) {
        Ok(answer) if answer.answers(&query) => Ok(answer),
        Ok(_) => Err(std::io::Error::other("DNS answer to another query")),
        Err(error) => Err(std::io::Error::other(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_usable_nameserver_line_is_taken() {
        let conf = "# generated\nsearch lab.example\nnameserver fe80::1%eth0\n\
                    nameserver 10.255.255.53\nnameserver 192.0.2.53\noptions edns0\n";
        assert_eq!(
            first_nameserver(conf),
            Some("10.255.255.53:53".parse().unwrap())
        );
        assert_eq!(first_nameserver("search x\n"), None);
    }
}
