//! IPv4 UDP datagrams (svlogd's `u`/`U` targets): one socket per line, as runit does.
use super::{Result, cvt, fd::Fd};

/// socket(AF_INET, SOCK_DGRAM), non-blocking and close-on-exec.
pub fn udp_socket() -> Result<Fd> {
    let flags = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2) call with constant arguments (the raw system call: musl's
    // socket adds a fallback for kernels without SOCK_CLOEXEC).
    let fd = cvt(|| unsafe {
        libc::syscall(libc::SYS_socket, libc::AF_INET as libc::c_long, flags as libc::c_long, 0 as libc::c_long) as isize
    })?;
    Ok(Fd::from_raw(fd as super::c_int))
}

/// sendto(2) of one datagram to a.b.c.d:port; returns the number of bytes sent.
pub fn udp_sendto(s: &Fd, ip: [u8; 4], port: u16, data: &[u8]) -> Result<usize> {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(ip) },
        sin_zero: [0; 8],
    };
    // SAFETY: data and addr are valid for the lengths given.
    cvt(|| unsafe {
        libc::sendto(
            s.raw(),
            data.as_ptr() as *const libc::c_void,
            data.len(),
            0,
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
}
