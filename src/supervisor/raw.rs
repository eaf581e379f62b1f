//! Raw system calls, without the C library: for the two places where no libc code may run
//! between two calls. The vfork-style child (`launch.rs`) shares the supervisor's memory, so
//! the C library's `errno` it would write is the sleeping parent thread's; and the loop's
//! trim-then-sleep (`wake.rs`) must not touch code elsewhere in the binary between dropping
//! its code pages and sleeping. Owns nothing else; callers check their own arguments.

use std::ffi::c_int;

/// A raw system call's result: the value, or the errno (the C library's `errno` is not
/// touched).
///
/// # Safety
/// The arguments must be valid for `nr`.
#[inline(always)]
pub unsafe fn sys(
    nr: libc::c_long,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
) -> Result<usize, c_int> {
    let r = raw_syscall(nr, a, b, c, d);
    if (r as isize) < 0 && (r as isize) > -4096 {
        Err((r as isize).wrapping_neg() as c_int)
    } else {
        Ok(r)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn raw_syscall(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> usize {
    let ret: usize;
    std::arch::asm!(
        "syscall",
        inlateout("rax") nr as usize => ret,
        in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
        lateout("rcx") _, lateout("r11") _,
        options(nostack),
    );
    ret
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn raw_syscall(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> usize {
    let ret: usize;
    std::arch::asm!(
        "svc 0",
        in("x8") nr as usize,
        inlateout("x0") a => ret,
        in("x1") b, in("x2") c, in("x3") d,
        options(nostack),
    );
    ret
}
