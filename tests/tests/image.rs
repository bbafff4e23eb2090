//! The image's layout against the budgets `cargo xtask build` checks
//! before linking.

use sotto_abi::layout::{
    IMAGE_PAYLOAD_BUDGET, KERNEL_BASE, KERNEL_DATA_BASE, KERNEL_OWN_RESERVE, TRAMPOLINE_BASE,
};
use sotto_tests::{image, test_image};

/// Address of `name` in the image `bytes`.
fn symbol(bytes: &[u8], name: &str) -> u32 {
    let address = sotto_image::symbol_address(bytes, name)
        .expect("parsing the image")
        .unwrap_or_else(|| panic!("the image has no symbol `{name}`"));
    u32::try_from(address).expect("32-bit address")
}

#[test]
fn the_kernel_itself_stays_within_its_reserve_of_the_first_megabyte() {
    for path in [image(), test_image()] {
        let bytes = std::fs::read(&path).expect("reading the image");
        let start = symbol(&bytes, "_kernel_start");
        let end = symbol(&bytes, "_kernel_code_end");
        let payload =
            symbol(&bytes, "_sotto_services_end") - symbol(&bytes, "_sotto_services_start");
        let own = end - start - payload;
        assert_eq!(start, KERNEL_BASE);
        assert!(end <= TRAMPOLINE_BASE, "{}", path.display());
        // Stacks, data and bss: in their own wired megabyte.
        assert_eq!(symbol(&bytes, "_boot_stack_bottom"), KERNEL_DATA_BASE);
        assert!(symbol(&bytes, "_kernel_end") <= KERNEL_DATA_BASE + (1 << 20));
        assert!(
            own <= KERNEL_OWN_RESERVE,
            "{}: the kernel itself takes {own} bytes, more than the {KERNEL_OWN_RESERVE} bytes \
             `cargo xtask build` keeps for it (raise KERNEL_OWN_RESERVE in abi/src/layout.rs)",
            path.display()
        );
        assert!(payload <= IMAGE_PAYLOAD_BUDGET, "{}", path.display());
    }
}
