//! Links the runtime's assembly (entry point and system-call stub) and lets
//! cargo relink services when it changes. `cargo xtask build` assembles it
//! and says where through SOTTO_RT_LINK_DIR.

use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=SOTTO_RT_LINK_DIR");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("xtensa") {
        return;
    }
    let Ok(dir) = env::var("SOTTO_RT_LINK_DIR") else {
        panic!("services are built by `cargo xtask build`, which sets SOTTO_RT_LINK_DIR");
    };
    println!("cargo:rerun-if-changed={dir}/libsotto_rt_asm.a");
    println!("cargo:rerun-if-changed={dir}/service.ld");
    println!("cargo:rustc-link-search=native={dir}");
    // Not bundled into the rlib: the xtask rustc wrapper replaces the
    // rlib's objects with re-assembled ones and would drop these.
    println!("cargo:rustc-link-lib=static:-bundle=sotto_rt_asm");
}
