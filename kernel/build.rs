//! Links the kernel binary for Xtensa: the archive of assembled `.S` files
//! and the linker script, both produced by `cargo xtask build` (which owns the
//! toolchain). Host builds (unit tests) need neither and get nothing.

use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=SOTTO_KERNEL_LINK_DIR");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("xtensa") {
        return;
    }
    let Ok(dir) = env::var("SOTTO_KERNEL_LINK_DIR") else {
        panic!(
            "the Xtensa kernel is built by `cargo xtask build`, which sets SOTTO_KERNEL_LINK_DIR"
        );
    };
    println!("cargo:rerun-if-changed={dir}/libsotto_arch.a");
    println!("cargo:rerun-if-changed={dir}/kernel.ld");
    // Whole archive: the vectors and `_start` are reached by no Rust symbol.
    println!("cargo:rustc-link-arg-bins=--whole-archive");
    println!("cargo:rustc-link-arg-bins={dir}/libsotto_arch.a");
    println!("cargo:rustc-link-arg-bins=--no-whole-archive");
    println!("cargo:rustc-link-arg-bins=-T{dir}/kernel.ld");
    // Relocations kept in the ELF: `cargo xtask build` checks with them that
    // no resident code or data refers to boot code (unmapped after boot),
    // but for the exit gate's call of the exit code.
    println!("cargo:rustc-link-arg-bins=--emit-relocs");
}
