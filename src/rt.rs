//! Runtime glue for the no_std binary: C `main`, the panic handler, the global
//! allocator on musl's malloc, and the link to libc.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
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

struct Malloc;

// SAFETY: malloc/free/realloc honour the GlobalAlloc contract for alignments up
// to 16 (musl's malloc alignment); larger ones go through posix_memalign.
unsafe impl GlobalAlloc for Malloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() <= 16 {
            // SAFETY: plain malloc of a non-zero size (Layout guarantees size > 0 here).
            unsafe { libc::malloc(l.size()) as *mut u8 }
        } else {
            let mut p = core::ptr::null_mut();
            // SAFETY: align is a power of two and a multiple of sizeof(void*).
            if unsafe { libc::posix_memalign(&mut p, l.align(), l.size()) } != 0 {
                return core::ptr::null_mut();
            }
            p as *mut u8
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, _: Layout) {
        // SAFETY: p came from malloc or posix_memalign above.
        unsafe { libc::free(p as *mut libc::c_void) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if l.align() <= 16 {
            // SAFETY: p came from malloc; realloc keeps malloc's alignment.
            unsafe { libc::realloc(p as *mut libc::c_void, new) as *mut u8 }
        } else {
            // SAFETY: fall back to alloc + copy + free for over-aligned blocks.
            unsafe {
                let n = self.alloc(Layout::from_size_align_unchecked(new, l.align()));
                if !n.is_null() {
                    core::ptr::copy_nonoverlapping(p, n, l.size().min(new));
                    self.dealloc(p, l);
                }
                n
            }
        }
    }
}

#[global_allocator]
static ALLOC: Malloc = Malloc;

/// The C entry point that musl's crt1 calls.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *mut *mut c_char) -> c_int {
    crate::sys::proc::set_argv(argc, argv);
    let args = crate::sys::proc::args();
    crate::dispatch(args)
}
