//! The binaries' global allocator: mimalloc, asked the way its fast path wants.
//!
//! The `mimalloc` crate hands every allocation to `mi_malloc_aligned`, whatever its
//! alignment. mimalloc (v3, as v2) serves that from its fast path only while the size's
//! page has a free block at hand; otherwise it takes its generic aligned path, which, for
//! a size whose block is not a power of two, over-allocates (size + alignment − 1: a
//! 48-byte request takes a 64-byte block) and marks the page as holding interior
//! pointers. callgrind counted that path at ~6 k of web's ~365 k instructions a request
//! untraced, more with tracing on (README, "The allocator's aligned path"); upstream:
//! purpleprotocol/mimalloc_rust#170.
//!
//! None of it is needed when the size is a multiple of an alignment of at most 16:
//! mimalloc's size classes are multiples of 8 bytes (of 16 above 64 bytes), the first
//! block of a page is 16-byte aligned, so such a block is aligned already. Those
//! allocations (nearly all of Rust's: a type's size is a multiple of its alignment) take
//! `mi_malloc`, `mi_zalloc`, `mi_realloc`; the rest keep the aligned calls. The test
//! below checks the premise on the library as built.

use std::{
    alloc::{GlobalAlloc, Layout},
    ffi::c_void,
};

use libmimalloc_sys as ffi;

/// mimalloc's `MI_MAX_ALIGN_SIZE`: what its plain allocations are aligned to, at most.
const PLAIN_ALIGN: usize = 16;

/// See the crate's documentation. A zero-sized handle, no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

/// A block of `size` bytes from mimalloc's plain path is aligned to `align`.
#[inline]
fn plain(size: usize, align: usize) -> bool {
    align <= PLAIN_ALIGN && size.is_multiple_of(align)
}

/// A block for `layout` from mimalloc's `plain_fn` (size) or `aligned_fn` (size,
/// alignment), as [`plain`] decides.
///
/// # Safety
/// The two must be one of mimalloc's pairs: `mi_malloc`/`mi_malloc_aligned` or
/// `mi_zalloc`/`mi_zalloc_aligned`.
#[inline(always)]
unsafe fn allocate(
    layout: Layout,
    plain_fn: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned_fn: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    if plain(layout.size(), layout.align()) {
        // SAFETY: any size may be asked for; NULL reports failure, as `alloc` must; the
        // block is aligned as `plain` says.
        unsafe { plain_fn(layout.size()).cast() }
    } else {
        // SAFETY: `Layout` guarantees a power-of-two alignment.
        unsafe { aligned_fn(layout.size(), layout.align()).cast() }
    }
}

// SAFETY: every method hands mimalloc what its C API documents (a size, a power-of-two
// alignment, a pointer mimalloc returned), and returns memory aligned as the layout asks:
// by `mi_*_aligned`, or by a plain call only where `plain` holds (crate documentation).
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocating pair.
        unsafe { allocate(layout, ffi::mi_malloc, ffi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's zeroing pair.
        unsafe { allocate(layout, ffi::mi_zalloc, ffi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract), so from
        // mimalloc; `mi_free` takes plain and aligned blocks alike.
        unsafe { ffi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        if plain(layout.size(), align) && plain(new_size, align) {
            // SAFETY: `ptr` is a plain block of ours; a moved block is a plain one of
            // `new_size`, aligned by `plain`. NULL leaves `ptr` as it was.
            unsafe { ffi::mi_realloc(ptr.cast::<c_void>(), new_size).cast() }
        } else {
            // SAFETY: `ptr` is ours; `align` is a power of two.
            unsafe { ffi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, align).cast() }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc as _, Layout};

    use super::MiMalloc;

    /// Many blocks of every size up to 4 KiB (and some large ones), for each alignment up
    /// to 16 the size is a multiple of, then each grown threefold by `realloc`: every
    /// address is aligned as asked. Live at once, so they come from many places in their pages.
    #[test]
    fn plain_blocks_are_aligned_as_asked() {
        let sizes = (1_usize..=4096).chain([5_000, 12_288, 65_536, 100_000, 1 << 20, 3 << 20]);
        for size in sizes {
            for align in [1_usize, 2, 4, 8, 16]
                .into_iter()
                .filter(|a| size.is_multiple_of(*a))
            {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                let mut blocks = Vec::new();
                for i in 0..8 {
                    // SAFETY: a non-zero size; each block is freed below with its layout.
                    let p = unsafe {
                        if i % 2 == 0 {
                            MiMalloc.alloc(layout)
                        } else {
                            MiMalloc.alloc_zeroed(layout)
                        }
                    };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size}, align {align}");
                    blocks.push(p);
                }
                for p in blocks {
                    let grown = size * 3;
                    // SAFETY: `p` is a live block of `layout`; `grown` is non-zero.
                    let q = unsafe { MiMalloc.realloc(p, layout, grown) };
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "grown {grown}, align {align}");
                    let grown_layout = Layout::from_size_align(grown, align).expect("valid");
                    // SAFETY: `q` is live with `grown_layout`; the block is freed at once.
                    unsafe { MiMalloc.dealloc(q, grown_layout) };
                }
            }
        }
    }

    /// What keeps the aligned calls: alignments above 16, sizes not a multiple of theirs.
    #[test]
    fn other_layouts_are_aligned_as_asked() {
        for (size, align) in [
            (24, 16),
            (8, 32),
            (100, 64),
            (4096, 4096),
            (10, 8),
            (64, 128),
        ] {
            let layout = Layout::from_size_align(size, align).expect("a valid layout");
            // SAFETY: a non-zero size; freed below.
            let p = unsafe { MiMalloc.alloc(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "size {size}, align {align}");
            // SAFETY: `p` is live with `layout`.
            let q = unsafe { MiMalloc.realloc(p, layout, size * 5) };
            assert_eq!(q as usize % align, 0, "grown {size}, align {align}");
            let grown = Layout::from_size_align(size * 5, align).expect("valid");
            // SAFETY: `q` is live with `grown`.
            unsafe { MiMalloc.dealloc(q, grown) };
        }
    }
}
