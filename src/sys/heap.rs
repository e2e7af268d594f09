//! The global allocator (rt.rs installs it), in place of musl's malloc.
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_long;

/// The heap: urunit's programs are single-threaded and handle signals through a
/// signalfd, so nothing runs concurrently with the allocator. Blocks of up to 2 KiB
/// come in eight power-of-two classes (16 .. 2048 bytes, aligned to their size),
/// carved from 64 KiB mmap chunks and recycled through one free list per class;
/// GlobalAlloc passes the Layout back on free, so blocks need no header. Bigger
/// blocks are their own mappings (mremap grows them). This replaces musl's malloc
/// (about 8 KB of code).
pub struct Heap(core::cell::UnsafeCell<State>);

struct State {
    free: [*mut u8; CLASSES],
    bump: usize,
    end: usize,
}

const CLASSES: usize = 8;
const SMALL_MAX: usize = 16 << (CLASSES - 1);
const CHUNK: usize = 64 << 10;
const PAGE: usize = 4096;

impl Heap {
    pub const fn new() -> Heap {
        Heap(core::cell::UnsafeCell::new(State { free: [core::ptr::null_mut(); CLASSES], bump: 0, end: 0 }))
    }
}

// SAFETY: urunit never starts a thread and allocates in no signal handler, so the
// state is only ever touched by one flow of control at a time.
unsafe impl Sync for Heap {}

/// The class of a small block (its size is 16 << class), or None for a big one.
fn class(l: &Layout) -> Option<usize> {
    let n = l.size().max(l.align()).max(16);
    if n > SMALL_MAX {
        return None;
    }
    Some((n.next_power_of_two().trailing_zeros() - 4) as usize)
}

fn pages(n: usize) -> usize {
    (n + PAGE - 1) & !(PAGE - 1)
}

/// A fresh anonymous mapping of n bytes, or null. (Raw system calls take every
/// argument as a long: a variadic int would leave the upper half undefined.)
fn map(n: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::syscall(
            libc::SYS_mmap,
            0 as c_long,
            n,
            (libc::PROT_READ | libc::PROT_WRITE) as c_long,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as c_long,
            -1 as c_long,
            0 as c_long,
        )
    };
    if p < 0 { core::ptr::null_mut() } else { p as *mut u8 }
}

// SAFETY: small blocks are distinct class-sized, class-aligned pieces of chunks that
// are never unmapped, handed out once until freed; big blocks are page-aligned
// mappings of their own. Alignments above a page are refused (null).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() > PAGE {
            return core::ptr::null_mut();
        }
        // SAFETY: single flow of control (see `impl Sync`), so this is the only reference.
        let h = unsafe { &mut *self.0.get() };
        let Some(c) = class(&l) else {
            return map(pages(l.size()));
        };
        let p = h.free[c];
        if !p.is_null() {
            // SAFETY: a free block holds the next free block of its class in its first word.
            h.free[c] = unsafe { *(p as *mut *mut u8) };
            return p;
        }
        let size = 16 << c;
        let mut at = (h.bump + size - 1) & !(size - 1);
        if at + size > h.end {
            let m = map(CHUNK);
            if m.is_null() {
                return m;
            }
            at = m as usize;
            h.end = at + CHUNK;
        }
        h.bump = at + size;
        at as *mut u8
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        match class(&l) {
            Some(c) => {
                // SAFETY: single flow of control; p is a freed block of class c, at
                // least 16 bytes and 16-aligned, so its first word can hold the link.
                unsafe {
                    let h = &mut *self.0.get();
                    *(p as *mut *mut u8) = h.free[c];
                    h.free[c] = p;
                }
            }
            // SAFETY: p is a mapping of pages(l.size()) bytes made by alloc or realloc.
            None => unsafe {
                libc::syscall(libc::SYS_munmap, p, pages(l.size()));
            },
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: new is non-zero and valid with l's alignment.
        let nl = unsafe { Layout::from_size_align_unchecked(new, l.align()) };
        match (class(&l), class(&nl)) {
            (Some(a), Some(b)) if a == b => p,
            (None, None) => {
                // SAFETY: p is a page-aligned mapping of pages(l.size()) bytes; the
                // moved mapping stays page-aligned.
                let r =
                    unsafe { libc::syscall(libc::SYS_mremap, p, pages(l.size()), pages(new), libc::MREMAP_MAYMOVE as c_long) };
                if r < 0 { core::ptr::null_mut() } else { r as *mut u8 }
            }
            // SAFETY: a new block of the new layout; both are valid for the smaller size.
            _ => unsafe {
                let n = self.alloc(nl);
                if !n.is_null() {
                    core::ptr::copy_nonoverlapping(p, n, l.size().min(new));
                    self.dealloc(p, l);
                }
                n
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random allocations, frees and reallocations of every size class and of big
    /// blocks: every block is aligned, keeps its contents and overlaps no other.
    #[test]
    fn stress() {
        let h = Heap::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        // SAFETY: p is a live block of at least n bytes.
        let check = |p: *mut u8, n: usize, tag: u8| (0..n).all(|k| unsafe { *p.add(k) } == tag);
        for it in 0..4_000usize {
            let op = rnd() % 4;
            if op < 2 || live.is_empty() {
                let size = match rnd() % 10 {
                    0 => rnd() % 200_000 + 1,
                    1..=3 => rnd() % 3000 + 1,
                    _ => rnd() % 300 + 1,
                };
                let align = [1, 2, 8, 16, 64, 4096][rnd() % 6];
                let l = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size.
                let p = unsafe { h.alloc(l) };
                assert!(!p.is_null() && p as usize % align == 0);
                let tag = it as u8;
                // SAFETY: p is a fresh block of size bytes.
                unsafe { core::ptr::write_bytes(p, tag, size) };
                live.push((p, l, tag));
            } else if op == 2 {
                let (p, l, tag) = live.swap_remove(rnd() % live.len());
                assert!(check(p, l.size(), tag), "a block changed under its owner");
                // SAFETY: p is live and was made with l.
                unsafe { h.dealloc(p, l) };
            } else {
                let i = rnd() % live.len();
                let (p, l, tag) = live[i];
                let new = match rnd() % 4 {
                    0 => rnd() % 300_000 + 1,
                    1 => l.size() * 2,
                    2 => (l.size() / 2).max(1),
                    _ => rnd() % 2500 + 1,
                };
                // SAFETY: p is live and was made with l; new is non-zero.
                let q = unsafe { h.realloc(p, l, new) };
                assert!(!q.is_null() && q as usize % l.align() == 0);
                assert!(check(q, l.size().min(new), tag), "realloc lost contents");
                let tag = tag.wrapping_add(1);
                // SAFETY: q is a block of new bytes.
                unsafe { core::ptr::write_bytes(q, tag, new) };
                live[i] = (q, Layout::from_size_align(new, l.align()).unwrap(), tag);
            }
        }
        for (p, l, tag) in live {
            assert!(check(p, l.size(), tag));
            // SAFETY: p is live and was made with l.
            unsafe { h.dealloc(p, l) };
        }
    }

    /// A freed block is reused for the next allocation of its class.
    #[test]
    fn reuse() {
        let h = Heap::new();
        let l = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a non-zero size; a is freed with its own layout.
        let (a, b) = unsafe {
            let a = h.alloc(l);
            h.dealloc(a, l);
            (a, h.alloc(Layout::from_size_align(128, 16).unwrap()))
        };
        assert_eq!(a, b);
    }
}
