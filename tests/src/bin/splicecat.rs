//! A test logger that can be SIGKILLed at any moment without losing or duplicating
//! a byte: it moves data from stdin (a pipe) to the file named by argv[1] with
//! splice(2), which consumes from the pipe and writes to the end of the file in one syscall.
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

fn main() {
    let path = std::env::args().nth(1).expect("usage: splicecat FILE");
    // Not O_APPEND: splice(2) refuses a target opened for appending (EINVAL). Start at the
    // end instead; splice then advances the file position.
    let mut f = OpenOptions::new().create(true).write(true).truncate(false).open(path).expect("open");
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).expect("seek");
    loop {
        // SAFETY: plain splice between two descriptors this process owns.
        let n = unsafe { libc::splice(0, std::ptr::null_mut(), f.as_raw_fd(), std::ptr::null_mut(), 1 << 16, 0) };
        if n == 0 {
            return;
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            panic!("splice: {e}");
        }
    }
}
