//! Runtime glue for the no_std binary: C `main`, the panic handler, the global
//! allocator (sys::heap), and the link to libc.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_int};

// The libc crate does not link libc outside std.
#[link(name = "c")]
unsafe extern "C" {}

/// The prebuilt `alloc` names this symbol; with panic = abort nothing calls it.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// Panics only abort: printing the PanicInfo would bring back all of core::fmt.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort() takes no arguments and never returns.
    unsafe { libc::abort() }
}

#[global_allocator]
static ALLOC: crate::sys::heap::Heap = crate::sys::heap::Heap::new();

/// The C entry point that musl's crt1 calls.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *mut *mut c_char) -> c_int {
    crate::sys::proc::set_argv(argc, argv);
    let args = crate::sys::proc::args();
    crate::applet::dispatch(args)
}
