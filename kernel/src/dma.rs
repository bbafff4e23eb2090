//! The DAIs on the hardware: the board layer that plays their DMA engine
//! (`sotto_kernel::dai` decides what each period does). At boot each
//! DAI's host file `<name>.pcm` is opened in QEMU's working directory
//! over semihosting (playback: created or truncated; capture: read
//! only); every DMA period, in the timer interrupt before any thread
//! runs, [`run`] services the DAIs that are due (one of the kernel's own
//! deadlines: `ClockPlan::set_dma_at`, so the idle loop's express tick
//! never takes a DMA tick); at shutdown [`report`] prints one line per
//! DAI. A system without DAIs has no DMA deadline and pays nothing.

use sotto_abi::dai::{DaiParams, Direction, FILE_SUFFIX};
use sotto_abi::manifest::MAX_NAME;
use sotto_kernel::arch::xtensa::{self as arch, HostFile, host_flags};
use sotto_kernel::dai::{Dai, Dais, Io};
use sotto_kernel::kernel::Kernel;
use sotto_kernel::kprintln;

use crate::Global;
use crate::services::{KERNEL, Machine};

/// The DAIs.
static DAIS: Global<Dais> = Global::new(Dais::new());

/// Zeros for a playback xrun's period (written in pieces this large).
static ZEROS: [u8; 512] = [0; 512];

/// Mode of a created playback file (`rw-r--r--`).
const FILE_MODE: u32 = 0o644;

/// Note DAI object `name` with `params` (the loader, for each DAI in the
/// manifest; attached by [`open_all`] once every object exists).
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_boot.dma_declare")]
pub fn declare(name: &str, params: &DaiParams) {
    DAIS.with(|dais| {
        // (The build allows `MAX_DAIS`; a further one stays inert.)
        dais.add(Dai::new(name, *params));
    });
}

/// Open every DAI's file and attach it to its ring at `tick_hz`; say why
/// one is not run, or that a playback DAI's file could not be created (a
/// capture DAI without a file is said so only when it is started).
/// Returns the tick of the first DMA period, if any.
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_boot.dma_open_all")]
pub fn open_all(tick_hz: u32) -> Option<u64> {
    DAIS.with(|dais| {
        for dai in dais.list_mut() {
            let file = open(dai);
            match KERNEL.with(|kernel| dai.attach(kernel, tick_hz, file)) {
                Err(refusal) => kprintln!("dai ", &dai.name, ": not run: ", refusal.text()),
                Ok(()) if file.is_none() && dai.params.direction == Direction::Playback => {
                    kprintln!(
                        "dai ",
                        &dai.name,
                        ": cannot create ",
                        &dai.name,
                        FILE_SUFFIX,
                        ": its output is dropped"
                    )
                }
                Ok(()) => {}
            }
        }
        dais.next_due()
    })
}

/// Open `dai`'s host file.
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_boot.dma_open")]
fn open(dai: &Dai) -> Option<u32> {
    // `<name>.pcm` and a NUL.
    let mut path = [0u8; MAX_NAME + FILE_SUFFIX.len() + 1];
    let name = dai.name.as_bytes();
    let end = name.len() + FILE_SUFFIX.len();
    path.get_mut(..name.len())?.copy_from_slice(name);
    path.get_mut(name.len()..end)?
        .copy_from_slice(FILE_SUFFIX.as_bytes());
    let flags = match dai.params.direction {
        Direction::Playback => host_flags::WRITE | host_flags::CREATE_TRUNCATE,
        Direction::Capture => host_flags::READ,
    };
    arch::host_open(path.get(..=end)?, flags, FILE_MODE)
}

/// The DMA periods due at tick `now` (the timer interrupt, before any
/// thread runs): returns the tick of the next (`u64::MAX`: none). (Named
/// for `cargo xtask bench`, which counts its instructions.)
#[inline(never)]
#[optimize(size)]
#[unsafe(export_name = "sotto_dma_run")]
pub fn run(now: u64) -> u64 {
    DAIS.with(|dais| KERNEL.with(|kernel| dais.run(kernel, now, no_file)))
}

/// Tracing (the kernel's deadlines call it after [`run`]): each DAI's
/// counts after its DMA period, one record each (the host makes a period
/// of each new period count and an xrun of each new xrun count).
#[cold]
#[inline(never)]
#[optimize(size)]
pub fn trace_periods() {
    DAIS.with(|dais| {
        for dai in dais.list() {
            let (_, xruns, periods) = dai.counts();
            let [tag, a, b] = sotto_kernel::trace::Event::DaiPeriod {
                dai: dai.params.ring,
                periods,
                xruns,
            }
            .words();
            sotto_kernel::trace::put(tag, a, b);
        }
    });
}

/// A capture DAI without a file was started (once).
#[cold]
#[inline(never)]
#[optimize(size)]
fn no_file(_: &mut Kernel<Machine>, dai: &Dai) {
    kprintln!(
        "dai ",
        &dai.name,
        ": started, but ",
        &dai.name,
        FILE_SUFFIX,
        " could not be opened: it captures silence"
    );
}

/// [`sotto_kernel::kernel::Hardware::dai_io`] on this machine: the host
/// file over semihosting, the ring at its physical address (the service
/// pool is mapped ring 0, identity, in every address space).
#[optimize(size)]
pub fn io(file: u32, io: Io, pa: u32, len: u32) -> u32 {
    let (call, address) = match io {
        Io::Write => (HostFile::Write, pa),
        Io::Read => (HostFile::Read, pa),
        Io::Skip => (HostFile::Skip, 0),
        Io::WriteZeros => return write_zeros(file, len),
    };
    // SAFETY: `pa..pa + len` is in a ring the kernel checked, in the pool
    // (mapped for the kernel); nothing else runs meanwhile.
    unsafe { arch::host_file(call, file, address, len) }
}

/// Append `len` zeros to host file `file` (a playback xrun).
#[cold]
#[inline(never)]
#[optimize(size)]
fn write_zeros(file: u32, len: u32) -> u32 {
    let mut left = len;
    while left > 0 {
        let piece = left.min(ZEROS.len() as u32);
        // SAFETY: `ZEROS` is kernel data, mapped, at least `piece` bytes.
        let done = unsafe { arch::host_file(HostFile::Write, file, ZEROS.as_ptr() as u32, piece) };
        if done == 0 {
            break;
        }
        left -= done.min(left);
    }
    len - left
}

/// The shutdown report: one line per DAI (cold code: the exit gate maps
/// it).
#[inline(never)]
#[optimize(size)]
#[unsafe(link_section = ".text.sotto_exit.dma_report")]
pub fn report() {
    DAIS.with(|dais| {
        for dai in dais.list() {
            let (_, xruns, periods) = dai.counts();
            let direction = match dai.params.direction {
                Direction::Playback => "playback",
                Direction::Capture => "capture",
            };
            kprintln!(
                "dai ",
                &dai.name,
                ": ",
                direction,
                ", ",
                periods,
                " periods, ",
                xruns,
                " xruns"
            );
        }
    });
}
