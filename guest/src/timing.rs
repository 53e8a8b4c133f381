//! Start-up timing marks for the host's benchmark: one `out` of the
//! stage's byte to `proto::timing::TIMING_PORT`, which the VMM timestamps
//! when it records marks and ignores otherwise.

use std::sync::atomic::{AtomicBool, Ordering};

use proto::timing::{GuestStage, TIMING_PORT};

/// Whether this process may write the port (ioperm is per process).
static PERMITTED: AtomicBool = AtomicBool::new(false);

/// Gives up the port in a process forked from one that marked: the I/O
/// permission bitmap survives fork and exec, and a container process has
/// no business with the VMM's ports. Async-signal-safe (one system call).
pub fn drop_inherited_permission() {
    // SAFETY: ioperm only changes this process's I/O permission bitmap;
    // turning a port off cannot fail in a way that matters here.
    unsafe { libc::ioperm(libc::c_ulong::from(TIMING_PORT), 1, 0) };
}

/// Tells the host this process reached `stage`.
pub fn mark(stage: GuestStage) {
    if !PERMITTED.load(Ordering::Relaxed) {
        // SAFETY: ioperm only changes this process's I/O permission
        // bitmap; it touches no memory of ours.
        if unsafe { libc::ioperm(libc::c_ulong::from(TIMING_PORT), 1, 1) } != 0 {
            return;
        }
        PERMITTED.store(true, Ordering::Relaxed);
    }
    // SAFETY: the VMM only timestamps a byte written to the timing port
    // (see proto::timing); the instruction reads and writes no memory.
    unsafe {
        std::arch::asm!(
            "out dx, al",
            in("dx") TIMING_PORT,
            in("al") stage as u8,
            options(nomem, nostack, preserves_flags)
        );
    }
}
