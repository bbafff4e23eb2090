//! Test kit for host tests of [`Kernel`]: a [`Hardware`] model with RAM in
//! a vector, a kernel with given objects, services with a data page and an
//! IPC buffer, and a helper that runs one system call as a given thread.
//! Shared by the kernel's unit tests and the state-machine fuzzer.

use crate::console::Console;
use crate::kernel::{Hardware, Kernel, Object, Service, Thread};
use crate::pagetable::{Access, CacheMode, ENTRIES, Mapping, PageTables, Table};
use crate::trap::TrapFrame;
use sotto_abi::Error;
use sotto_abi::cap::Rights;
use sotto_abi::layout::{IPC_BUFFER_VA, PAGE_SIZE, USER_TEXT_BASE, pte_window};
use sotto_abi::manifest::{CapGrant, ObjectParams};

/// RAM the test kernel hands out, from this physical address.
pub const RAM_BASE: u32 = 0x0040_0000;

/// The machine of host tests: RAM in a vector, console in a vector, a
/// counted TLB flush and a fixed cycle counter (4242).
pub struct TestHw {
    /// Physical memory from RAM_BASE.
    pub ram: Vec<u8>,
    /// Console output.
    pub console: Vec<u8>,
    /// The console's line state.
    pub lines: Console,
    /// TLB flushes so far.
    pub flushes: u32,
    /// The machine's copy of the clock holders (`Hardware::clock_holders`).
    pub clock_holders: u32,
    /// The DAIs' host files, by handle: (bytes, read position). A
    /// handle past the end is a file that fails every call.
    pub files: Vec<(Vec<u8>, usize)>,
}

impl Hardware for TestHw {
    fn clock_holders(&mut self, holders: u32) {
        self.clock_holders = holders;
    }

    fn console(&mut self, service: usize, name: &str, bytes: &[u8]) {
        let out = &mut self.console;
        self.lines
            .write(service, name, bytes, |chunk| out.extend_from_slice(chunk));
    }
    fn console_line(&mut self, line: &crate::console::Text<'_>) {
        let out = &mut self.console;
        self.lines
            .kernel_line(line, |chunk| out.extend_from_slice(chunk));
    }
    fn cycles(&self) -> u32 {
        4242
    }
    fn phys(&mut self, pa: u32, len: u32) -> &mut [u8] {
        let start = (pa - RAM_BASE) as usize;
        &mut self.ram[start..start + len as usize]
    }
    fn flush_tlb(&mut self) {
        self.flushes += 1;
    }
    fn dai_io(&mut self, file: u32, io: crate::dai::Io, pa: u32, len: u32) -> u32 {
        use crate::dai::Io;
        let start = (pa.wrapping_sub(RAM_BASE)) as usize;
        let Some((bytes, at)) = self.files.get_mut(file as usize) else {
            return 0;
        };
        let len = len as usize;
        match io {
            Io::Write => bytes.extend_from_slice(&self.ram[start..start + len]),
            Io::WriteZeros => bytes.resize(bytes.len() + len, 0),
            Io::Read => {
                let got = len.min(bytes.len().saturating_sub(*at));
                self.ram[start..start + got].copy_from_slice(&bytes[*at..*at + got]);
                *at += got;
                return got as u32;
            }
            Io::Skip => *at += len,
        }
        len as u32
    }
}

/// Physical page of service `n`'s data page (its IPC buffer follows).
pub fn data_pa(n: usize) -> u32 {
    RAM_BASE + (2 * n as u32) * PAGE_SIZE
}
/// Physical page of service `n`'s IPC buffer.
pub fn ipc_pa(n: usize) -> u32 {
    data_pa(n) + PAGE_SIZE
}
/// Region objects get frames from here.
pub const REGION_PA: u32 = RAM_BASE + 0x10_0000;

/// A kernel at 1 kHz with `objects`; memory objects get consecutive
/// frames from [`REGION_PA`].
pub fn kernel(objects: &[ObjectParams]) -> Kernel<TestHw> {
    let mut k = Kernel::new(
        TestHw {
            ram: vec![0; 0x20_0000],
            console: Vec::new(),
            lines: Console::new(),
            flushes: 0,
            clock_holders: 0,
            files: Vec::new(),
        },
        1000,
    );
    let mut region_pa = REGION_PA;
    for params in objects {
        let pa = region_pa;
        if let ObjectParams::Memory { size, .. } = params {
            region_pa += size;
        }
        assert!(k.add_object(Object::new(params, pa, 0)).is_ok());
    }
    k
}

/// A service with one data page at USER_TEXT_BASE and its IPC buffer.
pub fn add(k: &mut Kernel<TestHw>, name: &str, priority: u8, grants: &[CapGrant]) -> usize {
    let n = k.services.len();
    let l1: &'static mut Table = Box::leak(Box::new([0; ENTRIES]));
    let l2: &'static mut [Table] = Box::leak(vec![[0; ENTRIES]; 4].into_boxed_slice());
    let mut tables =
        PageTables::new(l1, 0x10_0000, l2, 0x10_1000, pte_window(n as u32 + 1)).unwrap();
    for (va, pa) in [(USER_TEXT_BASE, data_pa(n)), (IPC_BUFFER_VA, ipc_pa(n))] {
        let mapping = Mapping {
            va,
            pa,
            len: PAGE_SIZE,
            ring: 1,
            access: Access::ReadWrite,
            cache: CacheMode::WriteBack,
        };
        tables.map(mapping).unwrap();
    }
    let service = Service {
        name: heapless::String::try_from(name).unwrap(),
        tables: Some(tables),
        ipc_buffer: ipc_pa(n),
        ending: None,
        thread_mask: 0,
        threads: 0,
        regions: heapless::Vec::new(),
    };
    let main = Thread::new(TrapFrame::default(), n, 0, 0, "");
    k.add_service(service, main, priority, grants).unwrap()
}

/// A further thread named `name` of service `service`, at `priority`
/// (its ceiling: none given, so its priority).
pub fn add_thread(k: &mut Kernel<TestHw>, service: usize, name: &str, priority: u8) -> usize {
    let thread = Thread::new(TrapFrame::default(), service, 0, 0, name);
    k.add_thread(thread, priority, u8::MAX).unwrap()
}

/// An unbadged, unmapped grant of `object` into `slot`.
pub fn grant(slot: u8, object: u16, rights: Rights) -> CapGrant {
    CapGrant {
        slot,
        object,
        rights,
        badge: 0,
        map_at: None,
    }
}

/// Make `thread` current and run a system call; return (status, a3..a7).
pub fn call(
    k: &mut Kernel<TestHw>,
    thread: usize,
    syscall: impl Into<u32>,
    args: [u32; 5],
) -> (u32, [u32; 5]) {
    assert!(k.sched.switch_to(thread), "{thread} is not ready");
    let frame = &mut k.threads[thread].frame;
    frame.a[2] = syscall.into();
    frame.a[3..8].copy_from_slice(&args);
    k.syscall(thread);
    let a = k.threads[thread].frame.a;
    (a[2], [a[3], a[4], a[5], a[6], a[7]])
}

/// The status register value of `error`.
pub fn status(error: Error) -> u32 {
    error as u32
}

/// Whether `thread` is blocked on an object.
pub fn blocked(k: &Kernel<TestHw>, thread: usize) -> bool {
    matches!(
        k.sched.state(thread),
        crate::sched::ThreadState::Blocked { .. }
    )
}
