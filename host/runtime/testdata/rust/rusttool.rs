//! rusttool is an Airlock tool written in Rust against the Extism ABI, with
//! no crate and no std: tool authors in Rust import the kernel's functions
//! from "extism:host/env" and export one function per tool. It backs
//! TestRustToolRunsInFreshState; rusttool.wasm next to it is this file built
//! by `make testdata-rust` (rustc 1.63, --target wasm32-unknown-unknown).
//!
//! echo: returns its input unchanged.
//! count: a static counter, incremented by every call, and the byte the
//!   previous call left at the end of a static buffer (0xAB = 171), as
//!   {"calls":N,"scratch":M}. In fresh state every call sees N == 1, M == 0.
#![no_std]

#[link(wasm_import_module = "extism:host/env")]
extern "C" {
    fn input_length() -> u64;
    fn input_load_u8(offset: u64) -> u8;
    fn alloc(n: u64) -> u64;
    fn store_u8(offset: u64, b: u8);
    fn output_set(offset: u64, n: u64);
}

static mut CALLS: u32 = 0;
static mut SCRATCH: [u8; 4096] = [0; 4096];

fn output(s: &[u8]) {
    unsafe {
        let off = alloc(s.len() as u64);
        for (i, b) in s.iter().enumerate() {
            store_u8(off + i as u64, *b);
        }
        output_set(off, s.len() as u64);
    }
}

// decimal writes v at buf[n..] and returns the new length.
fn decimal(buf: &mut [u8], mut n: usize, mut v: u32) -> usize {
    let mut tmp = [0u8; 10];
    let mut k = 0;
    loop {
        tmp[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while k > 0 {
        k -= 1;
        buf[n] = tmp[k];
        n += 1;
    }
    n
}

#[no_mangle]
pub extern "C" fn echo() -> i32 {
    unsafe {
        let n = input_length();
        let off = alloc(n);
        for i in 0..n {
            store_u8(off + i, input_load_u8(i));
        }
        output_set(off, n);
    }
    0
}

#[no_mangle]
pub extern "C" fn count() -> i32 {
    let mut buf = [0u8; 64];
    let mut n = 0;
    let (calls, left) = unsafe {
        CALLS += 1;
        let last = SCRATCH.len() - 1;
        let left = SCRATCH[last];
        SCRATCH[last] = 0xAB;
        (CALLS, left)
    };
    for b in b"{\"calls\":" {
        buf[n] = *b;
        n += 1;
    }
    n = decimal(&mut buf, n, calls);
    for b in b",\"scratch\":" {
        buf[n] = *b;
        n += 1;
    }
    n = decimal(&mut buf, n, left as u32);
    buf[n] = b'}';
    n += 1;
    output(&buf[..n]);
    0
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
