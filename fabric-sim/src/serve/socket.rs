//! Linux socket options the configuration may ask for: TCP-MD5 signatures (RFC 2385,
//! `TCP_MD5SIG`) and the Generalized TTL Security Mechanism (RFC 5082: send with TTL 255,
//! `IP_MINTTL` 255 on receive). The crate's `unsafe` is here and in [`super::malloc`]: `setsockopt` on a
//! socket the caller owns, with values whose size is passed alongside.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// The hop limit GTSM peers send with and require (RFC 5082 section 3: a directly
/// connected peer's packets arrive with 255).
pub const GTSM_TTL: u8 = 255;

/// `struct tcp_md5sig` of `<linux/tcp.h>` (libc does not export it).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// Installs (or, with an empty `key`, removes) the TCP-MD5 key for connections with
/// `peer` on `socket`: on a listener it signs the handshakes of connections from `peer`,
/// on a socket about to connect it signs the connection.
///
/// # Errors
///
/// The kernel refused (no `CONFIG_TCP_MD5SIG`, a key over 80 bytes).
pub fn set_md5_key(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    let mut sig = TcpMd5Sig {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
        addr: unsafe { std::mem::zeroed() },
        flags: 0,
        prefixlen: 0,
        keylen: 0,
        ifindex: 0,
        key: [0; 80],
    };
    if key.len() > sig.key.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP-MD5 key longer than 80 bytes",
        ));
    }
    sig.key[..key.len()].copy_from_slice(key);
    sig.keylen = key.len() as u16;
    let storage = std::ptr::addr_of_mut!(sig.addr);
    match peer {
        IpAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { storage.cast::<libc::sockaddr_in>().write(sin) };
        }
        IpAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { storage.cast::<libc::sockaddr_in6>().write(sin6) };
        }
    }
    setsockopt(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// GTSM on a socket of family `family`: outgoing packets carry TTL (hop limit) 255 and,
/// when `require` is set, incoming packets with a lower TTL are dropped by the kernel.
///
/// # Errors
///
/// The kernel refused the option.
pub fn set_gtsm(socket: &impl AsRawFd, family: SocketAddr, require: bool) -> io::Result<()> {
    let ttl = libc::c_int::from(GTSM_TTL);
    if family.is_ipv4() {
        setsockopt(socket, libc::IPPROTO_IP, libc::IP_TTL, &ttl)?;
        if require {
            setsockopt(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &ttl)?;
        }
    } else {
        setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)?;
        if require {
            setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &ttl)?;
        }
    }
    Ok(())
}

/// Reads an integer socket option (for tests and diagnostics).
///
/// # Errors
///
/// The kernel refused.
pub fn int_option(socket: &impl AsRawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::addr_of_mut!(value).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn setsockopt<T>(socket: &impl AsRawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised T and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn gtsm_sets_ttl_and_minttl() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = l.local_addr().unwrap();
        set_gtsm(&l, addr, true).expect("setsockopt");
        assert_eq!(int_option(&l, libc::IPPROTO_IP, libc::IP_TTL).unwrap(), 255);
        assert_eq!(
            int_option(&l, libc::IPPROTO_IP, libc::IP_MINTTL).unwrap(),
            255
        );
    }

    #[test]
    fn md5_key_is_accepted_by_the_kernel_and_long_keys_are_not() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        set_md5_key(&l, "127.0.0.2".parse().unwrap(), b"secret").expect("TCP_MD5SIG");
        let e = set_md5_key(&l, "127.0.0.2".parse().unwrap(), &[b'k'; 81]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
