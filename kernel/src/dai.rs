//! The DAI's DMA engine, as the kernel plays it (`sotto_abi::dai`): per
//! DAI, the kernel's own position, xrun and period counts and the host
//! file; every DMA period, [`Dai::period`] reads the two registers the
//! driver writes ([`reg::CONTROL`], [`reg::APPL`]: service memory,
//! hostile), decides with [`dai::step`], moves one period between the
//! ring and the file through [`Hardware::dai_io`], writes the registers
//! the kernel owns back and signals the DAI's notification through
//! [`Kernel::signal`] (the path timers take).
//!
//! The kernel's own position and counts are the truth: a service that
//! scribbles on the header can at worst make its own DAI xrun. The ring
//! is checked against its memory object once, when the DAI is attached
//! ([`Dai::attach`]); every move is checked against the ring again, so
//! no value read from the header reaches an address outside it.

use heapless::String;
use sotto_abi::dai::{self, DaiParams, Direction, HEADER_BYTES, MAX_DAIS, RUN, Step, reg, status};
use sotto_abi::manifest::MAX_NAME;

use crate::kernel::{Hardware, Kernel, Object};

/// What [`Hardware::dai_io`] does with a DAI's host file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// Append the bytes at the address to the file (playback).
    Write,
    /// Append zeros (a playback xrun: the file keeps the run's time).
    WriteZeros,
    /// Read the file's next bytes to the address (capture); fewer at
    /// its end.
    Read,
    /// Skip the file's next bytes (a capture xrun: they are lost).
    Skip,
}

/// Why a DAI is not run (said at boot; it stays inert).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its ring is no memory object.
    RingNotMemory,
    /// Its ring's memory object is smaller than registers and ring.
    RingTooSmall,
    /// Its period is no whole number of ticks at the kernel's rate.
    NoWholeTicks,
}

impl Refusal {
    /// In words, for the boot line.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.dai_refusal_text")
    )]
    pub fn text(self) -> &'static str {
        match self {
            Refusal::RingNotMemory => "its ring is not a memory object",
            Refusal::RingTooSmall => "its ring is smaller than its registers and periods",
            Refusal::NoWholeTicks => "its period is no whole number of kernel ticks",
        }
    }
}

/// The registers the kernel writes, from [`reg::HW`] on, in order.
const KERNEL_REGS: usize = reg::DIRECTION - reg::HW + 1;

// (`Dai::regs` is laid out so.)
const _: () = assert!(
    reg::XRUNS == reg::HW + 1
        && reg::PERIODS == reg::HW + 2
        && reg::STATUS == reg::HW + 3
        && reg::RATE == reg::HW + 4
        && KERNEL_REGS == 10
);

/// One DAI: its format, where its ring is, its host file and the
/// hardware's own registers.
#[derive(Clone, Debug)]
pub struct Dai {
    /// Its object's name (the file is this with `dai::FILE_SUFFIX`).
    pub name: String<MAX_NAME>,
    /// The format, the ring's object and the notification.
    pub params: DaiParams,
    /// Physical address of the ring's memory object (0: not attached).
    ring_pa: u32,
    /// The host file's handle, if it opened.
    file: Option<u32>,
    /// Kernel ticks per DMA period.
    period_ticks: u32,
    /// Bytes of a period.
    period_bytes: u32,
    /// Where the ring ends (bytes from the start of its memory object).
    ring_end: u32,
    /// The boundary its positions count modulo (`dai::wrap_at`).
    wrap: u32,
    /// The tick of its next DMA period (`u64::MAX`: never: not attached).
    next: u64,
    /// The kernel's registers as it publishes them (from [`reg::HW`]):
    /// the position (frames moved, modulo `wrap`), xruns, periods run,
    /// status, then the format. The kernel's own copy: the truth.
    regs: [u32; KERNEL_REGS],
    /// A started capture DAI without a file was said so (once).
    told_no_file: bool,
}

/// Index in [`Dai::regs`] of register `index`.
const fn at(index: usize) -> usize {
    index - reg::HW
}

impl Dai {
    /// The DAI declared as `name` with `params`, not attached yet (inert).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.dai_new")
    )]
    pub fn new(name: &str, params: DaiParams) -> Dai {
        Dai {
            name: String::try_from(name).unwrap_or_default(),
            params,
            ring_pa: 0,
            file: None,
            period_ticks: 0,
            period_bytes: 0,
            ring_end: 0,
            wrap: 0,
            next: u64::MAX,
            regs: [0; KERNEL_REGS],
            told_no_file: false,
        }
    }

    /// Attach it to its ring in `kernel`'s objects at `tick_hz`, with its
    /// host file (if one opened): its first period is one period after
    /// tick 0, its registers are published. Refused (and left inert) if
    /// the ring is not a memory object large enough or the period is no
    /// whole number of ticks.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.dai_attach")
    )]
    pub fn attach<H: Hardware>(
        &mut self,
        kernel: &mut Kernel<H>,
        tick_hz: u32,
        file: Option<u32>,
    ) -> Result<(), Refusal> {
        let Some(Object::Memory { pa, size, .. }) = kernel.objects.get(self.params.ring as usize)
        else {
            return Err(Refusal::RingNotMemory);
        };
        let params = &self.params;
        // (32-bit arithmetic: 64-bit multiplication and division would
        // link their helpers into the resident kernel. The build computed
        // the same in 64 bits: a format where they differ is refused.)
        let frame_bytes = u32::from(params.channels) * dai::container_bytes(params.bits);
        let period_bytes = u32::from(params.period_frames) * frame_bytes;
        // (Bounded by divisions: a checked multiplication is a 64-bit
        // one on this core.) At most 2^21 bytes a period.
        let periods = u32::from(params.ring_periods);
        if period_bytes == 0
            || *size < HEADER_BYTES
            || periods > (*size - HEADER_BYTES) / period_bytes
        {
            return Err(Refusal::RingTooSmall);
        }
        let ring_end = HEADER_BYTES + periods * period_bytes;
        let ring_pa = *pa;
        let frames = u32::from(params.period_frames);
        // (`black_box`: LLVM would turn this bound into a checked
        // multiplication, a 64-bit one here.)
        if params.rate == 0 || tick_hz == 0 || frames > core::hint::black_box(u32::MAX) / tick_hz {
            return Err(Refusal::NoWholeTicks);
        }
        let scaled = frames * tick_hz;
        if scaled == 0 || !scaled.is_multiple_of(params.rate) {
            return Err(Refusal::NoWholeTicks);
        }
        self.regs = [
            0,
            0,
            0,
            if file.is_none() { status::NO_FILE } else { 0 },
            params.rate,
            u32::from(params.channels),
            u32::from(params.bits),
            frames,
            frames * periods,
            u32::from(params.direction == Direction::Capture),
        ];
        self.period_ticks = scaled / params.rate;
        self.ring_pa = ring_pa;
        self.file = file;
        self.period_bytes = period_bytes;
        self.ring_end = ring_end;
        self.wrap = dai::wrap_at(frames * periods);
        self.next = u64::from(self.period_ticks);
        self.publish(kernel);
        Ok(())
    }

    /// The tick of its next DMA period (`u64::MAX`: it is inert).
    pub fn next_due(&self) -> u64 {
        self.next
    }

    /// Frames moved, xruns and periods: the hardware's counts.
    pub fn counts(&self) -> (u32, u32, u32) {
        (
            self.regs[at(reg::HW)],
            self.regs[at(reg::XRUNS)],
            self.regs[at(reg::PERIODS)],
        )
    }

    /// Put its position at `hw` (published), as if the DMA had run that
    /// long: for tests across the position's boundary.
    #[cfg(test)]
    pub fn set_position<H: Hardware>(&mut self, kernel: &mut Kernel<H>, hw: u32) {
        self.regs[at(reg::HW)] = hw;
        self.publish(kernel);
    }

    /// Whether its host file opened.
    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// The [`reg::STATUS`] word.
    pub fn status(&self) -> u32 {
        self.regs[at(reg::STATUS)]
    }

    /// One DMA period: with CONTROL = RUN, move a period (or count an
    /// xrun), count the period, publish the registers, signal the
    /// notification; stopped, only publish. Returns whether it is a
    /// capture DAI started now without a file (the caller says so, once:
    /// a playback DAI without one was said so at boot).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn period<H: Hardware>(&mut self, kernel: &mut Kernel<H>) -> bool {
        let header = words(kernel, self.ring_pa, 2);
        let (control, appl) = match *header {
            [control, appl] => (u32::from_le(control), u32::from_le(appl)),
            _ => (0, 0),
        };
        let status = &mut self.regs[at(reg::STATUS)];
        let was_running = *status & status::RUNNING != 0;
        if control != RUN {
            *status &= !status::RUNNING;
            self.publish(kernel);
            return false;
        }
        *status |= status::RUNNING;
        let hw = self.regs[at(reg::HW)];
        let len = self.period_bytes;
        let capture = self.params.direction == Direction::Capture;
        let pa = match dai::step(&self.params, hw, appl, self.wrap) {
            // (Bounds again: `step` keeps the kernel's `hw` below the
            // boundary, on the period grid, but the ring is checked
            // against its memory object here too.)
            Step::Move { offset } if offset <= self.ring_end - len => Some(self.ring_pa + offset),
            _ => None,
        };
        let io = match (capture, pa) {
            (false, Some(_)) => Io::Write,
            (true, Some(_)) => Io::Read,
            (false, None) => Io::WriteZeros,
            (true, None) => Io::Skip,
        };
        let moved = match self.file {
            Some(file) => kernel.hw.dai_io(file, io, pa.unwrap_or(0), len),
            None => 0,
        };
        match pa {
            Some(pa) => {
                if capture && moved < len {
                    // Past the end of the file (or without one): silence.
                    let moved = moved.min(len);
                    kernel.hw.phys(pa + moved, len - moved).fill(0);
                    self.regs[at(reg::STATUS)] |= status::END_OF_INPUT;
                }
                self.regs[at(reg::HW)] =
                    dai::advance(hw, u32::from(self.params.period_frames), self.wrap);
            }
            None => {
                let xruns = &mut self.regs[at(reg::XRUNS)];
                *xruns = xruns.wrapping_add(1);
            }
        }
        let periods = &mut self.regs[at(reg::PERIODS)];
        *periods = periods.wrapping_add(1);
        self.publish(kernel);
        if let Some((object, bits)) = self.params.notify {
            kernel.signal(object, bits);
        }
        let tell = !was_running && self.file.is_none() && capture && !self.told_no_file;
        self.told_no_file |= tell;
        tell
    }

    /// Write the registers the kernel owns into its ring's header.
    #[inline(never)]
    fn publish<H: Hardware>(&self, kernel: &mut Kernel<H>) {
        let words = words(
            kernel,
            self.ring_pa + 4 * reg::HW as u32,
            KERNEL_REGS as u32,
        );
        if let Some(words) = words.get_mut(..KERNEL_REGS) {
            for (word, value) in words.iter_mut().zip(&self.regs) {
                *word = value.to_le();
            }
        }
    }
}

/// The `count` words at physical address `pa` (little-endian values; all
/// of them where `pa` is word aligned, as a memory object's start is).
#[inline(always)]
fn words<H: Hardware>(kernel: &mut Kernel<H>, pa: u32, count: u32) -> &mut [u32] {
    let bytes = kernel.hw.phys(pa, 4 * count);
    // SAFETY: every bit pattern is a valid `u32`; `align_to_mut` hands out
    // only the aligned middle of the bytes, which it borrows.
    let (_, words, _) = unsafe { bytes.align_to_mut::<u32>() };
    words
}

/// Every DAI of the system.
#[derive(Debug, Default)]
pub struct Dais {
    list: heapless::Vec<Dai, MAX_DAIS>,
}

impl Dais {
    /// None.
    pub const fn new() -> Dais {
        Dais {
            list: heapless::Vec::new(),
        }
    }

    /// Add `dai`; false if there are [`MAX_DAIS`] already (the build
    /// allows no more: a further one stays inert).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.dais_add")
    )]
    pub fn add(&mut self, dai: Dai) -> bool {
        self.list.push(dai).is_ok()
    }

    /// The DAIs.
    pub fn list(&self) -> &[Dai] {
        &self.list
    }

    /// The DAIs, to attach them.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.dais_list_mut")
    )]
    pub fn list_mut(&mut self) -> &mut [Dai] {
        &mut self.list
    }

    /// The tick of the next DMA period of any DAI (`None`: none is
    /// attached).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.dais_next_due")
    )]
    pub fn next_due(&self) -> Option<u64> {
        let next = self.list.iter().map(Dai::next_due).min()?;
        (next != u64::MAX).then_some(next)
    }

    /// Run every DMA period due at or before tick `now` (all of them, if
    /// the interrupt came late: each period of time is one in the file);
    /// `told` hears of each capture DAI started without a file (once).
    /// Returns the tick of the next DMA period (`u64::MAX`: none, as
    /// `ClockPlan::set_dma_at` takes it).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn run<H: Hardware>(
        &mut self,
        kernel: &mut Kernel<H>,
        now: u64,
        mut told: impl FnMut(&mut Kernel<H>, &Dai),
    ) -> u64 {
        let mut next = u64::MAX;
        for dai in &mut self.list {
            while dai.next <= now {
                if dai.period(kernel) {
                    told(kernel, dai);
                }
                dai.next += u64::from(dai.period_ticks);
            }
            next = next.min(dai.next);
        }
        next
    }
}

#[cfg(test)]
mod tests;
