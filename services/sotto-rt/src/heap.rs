//! A global allocator (`linked_list_allocator`) over a heap region the
//! service was granted, so services can use `alloc` (feature `heap`).

use linked_list_allocator::LockedHeap;

use crate::Error;
use crate::cap::Slot;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Give the allocator the region in `slot` (mapped writable, e.g. with
/// `at` in `system.toml`). Call once, before allocating.
pub fn init(slot: Slot) -> Result<usize, Error> {
    let (address, size) = crate::mem::info(slot)?;
    let address = address.ok_or(Error::BadArgument)?;
    let mut heap = HEAP.lock();
    if heap.size() != 0 {
        return Err(Error::SlotInUse);
    }
    // SAFETY: the kernel mapped `size` bytes at `address` for this service
    // (zeroed, not used by anything else), and this runs once: the heap
    // owns the region from here on.
    unsafe { heap.init(address as *mut u8, size as usize) };
    Ok(size as usize)
}

/// Bytes free in the heap.
pub fn free() -> usize {
    HEAP.lock().free()
}
