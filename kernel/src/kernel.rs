//! The kernel's state and every system call, in portable Rust: threads
//! (registers, waits, replies), services (an address space and a
//! capability table their threads share; service `n`'s main thread is
//! thread `n`, further threads follow all main threads), the kernel
//! objects, the scheduler. The hardware is reached only through [`Hardware`], so the
//! whole of it runs in host unit tests as it runs on the DSP.
//!
//! Each system call has the same shape: the caller's registers in (a2 =
//! number, a3..a7 = arguments), one handler, and an [`Outcome`] applied in
//! one place ([`Kernel::syscall`]): registers out, or the caller blocks
//! and someone later writes its registers and wakes it.

use heapless::{String, Vec};
use sotto_abi::cap::{CAP_SLOTS, ObjectKind, Rights};
use sotto_abi::layout::{IPC_BUFFER_VA, PAGE_SIZE, REGION_WINDOW, USER_RING};
use sotto_abi::manifest::{
    Cache, CapGrant, MAX_NAME, MAX_OBJECTS, MAX_SERVICES, ObjectParams, TimerTarget,
};
use sotto_abi::supervise::FaultKind;
use sotto_abi::syscall::{CONSOLE_WRITE_MAX, IPC_PAYLOAD_MAX, MsgInfo, NO_SLOT};
use sotto_abi::{Error, Syscall};

use crate::addrspace::check_user;
use crate::cap::{Cap, CapRef, CapSpaces, ObjectId, Revoked};
use crate::console::{Piece, Text};
use crate::fastpath::FastSlot;
use crate::objects::{Endpoint, Notification, Semaphore, Timer};
use crate::pagetable::{Access, CacheMode, MapError, Mapping, PageTables, Pte};
use crate::sched::{MAX_THREADS, Scheduler, ThreadId};
use crate::supervise::{Action, Supervised};
use crate::text;
use crate::timer::{DeadlineQueue, earliest};
use crate::trap::TrapFrame;

/// What the kernel needs from the machine.
pub trait Hardware {
    /// Write console bytes of service `service` (named `name`): the
    /// system's one [`crate::console::Console`] prefixes, separates and
    /// escapes them.
    fn console(&mut self, service: ThreadId, name: &str, bytes: &[u8]);
    /// Write one kernel line on the same console.
    fn console_line(&mut self, line: &Text<'_>);
    /// The cycle counter.
    fn cycles(&self) -> u32;
    /// Kernel access to physical memory the kernel handed out (service
    /// frames, IPC buffers, regions): `len` bytes at `pa`.
    fn phys(&mut self, pa: u32, len: u32) -> &mut [u8];
    /// Drop cached translations after a mapping was removed.
    fn flush_tlb(&mut self);
    /// The tick now, read from the clock, if the machine keeps one (the
    /// DSP: no periodic interrupt updates [`Kernel::ticks`]). `None`: the
    /// last tick [`Kernel::tick`] was given is the time (host tests).
    fn ticks(&mut self) -> Option<u64> {
        None
    }
    /// Thread `thread`'s priority is now `priority`: the kernel binary
    /// keeps the entry's copy (`ThreadEntry::urgent`) in step.
    fn priority_changed(&mut self, _thread: ThreadId, _priority: u8) {}
    /// [`Kernel::clock_holders_word`] changed to `holders`: the target
    /// keeps a copy beside the other words the entry's fast paths read
    /// (one load where a pointer would take two).
    fn clock_holders(&mut self, holders: u32);
    /// The DMA of a DAI ([`crate::dai`]): `io` between its host file
    /// `file` and the `len` bytes at physical address `pa` (in a ring the
    /// kernel checked); returns the bytes moved (a read: fewer at the end
    /// of the file). A machine without files moves nothing.
    fn dai_io(&mut self, _file: u32, _io: crate::dai::Io, _pa: u32, _len: u32) -> u32 {
        0
    }
}

/// How a service ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called exit with this status.
    Exited(u32),
    /// It panicked.
    Panicked,
    /// The kernel stopped it after a fault.
    Faulted,
}

/// A thread's number where it is stored for the assembly (fixed width).
pub type ThreadNo = u16;

/// No thread, in a [`ThreadNo`] field.
pub const NO_THREAD: ThreadNo = ThreadNo::MAX;

/// What a blocked thread waits for. `repr(C, u8)` with fixed-width
/// payloads: the entry's IPC fast paths read and write it (tags and
/// offsets in [`wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, u8)]
pub enum Wait {
    /// Nothing.
    None,
    /// Bits of a notification.
    Notification(ObjectId),
    /// A semaphore.
    Semaphore(ObjectId),
    /// A receiver on an endpoint (blocked in `call`).
    Caller(ObjectId),
    /// A caller on an endpoint (blocked in `receive`).
    Receiver(ObjectId),
    /// A caller on `endpoint` or bits of `notification`, whichever first.
    ReceiverOrSignal {
        /// The endpoint.
        endpoint: ObjectId,
        /// The notification.
        notification: ObjectId,
    },
    /// The reply of this server thread.
    Reply(ThreadNo),
}

impl Wait {
    /// The server whose reply this waits for, if that is what it waits for.
    pub fn reply_of(self) -> Option<ThreadId> {
        match self {
            Wait::Reply(server) => Some(usize::from(server)),
            _ => None,
        }
    }
}

/// Tags and payload offsets of [`Wait`] for the assembly.
pub mod wait {
    use super::Wait;

    /// `Wait::None`.
    pub const NONE: u32 = 0;
    /// `Wait::Receiver`.
    pub const RECEIVER: u32 = 4;
    /// `Wait::Reply`.
    pub const REPLY: u32 = 6;
    /// The payload (an object or a thread number, 16 bits).
    pub const PAYLOAD: u32 = 2;

    /// The tag byte of `wait` (its first, `Wait` being `repr(C, u8)`).
    const fn tag(wait: &Wait) -> u32 {
        // SAFETY: a `repr(C, u8)` enum starts with its `u8` tag.
        (unsafe { *core::ptr::from_ref(wait).cast::<u8>() }) as u32
    }

    const _: () = {
        assert!(tag(&Wait::None) == NONE);
        assert!(tag(&Wait::Receiver(0)) == RECEIVER);
        assert!(tag(&Wait::Reply(0)) == REPLY);
        assert!(core::mem::size_of::<Wait>() == 6);
    };
}

/// A memory region mapped into a service. (16 bytes on the target, a
/// power of two, as [`Service`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionMapping {
    /// The memory object.
    pub object: ObjectId,
    /// Where.
    pub va: u32,
    /// Bytes.
    pub len: u32,
    /// Mapped writable (else read-only).
    pub writable: bool,
    /// To 16 bytes on the target (a power of two: indexing is a shift),
    /// by size, not by alignment (see [`Service`]).
    #[cfg(target_arch = "xtensa")]
    pub pad: u32,
}

#[cfg(target_arch = "xtensa")]
const _: () = assert!(core::mem::size_of::<RegionMapping>() == 16);

/// One thread: its registers, what it waits for, whom it owes a reply,
/// its service. `repr(C)` with the hot fields first: the trap paths reach
/// them with short load offsets, and the assembly takes a thread's
/// address as its frame's. On the target a power-of-two size (padded to
/// 256 bytes by `pad`): `threads[thread]` is a shift, not a multiply by a
/// constant loaded first.
#[repr(C)]
pub struct Thread {
    /// Saved registers.
    pub frame: TrapFrame,
    /// What it is blocked on.
    pub wait: Wait,
    /// The caller it received from and owes a reply ([`NO_THREAD`]: none;
    /// see [`Thread::reply_to`]).
    pub reply: ThreadNo,
    /// Address of its service's row of `Kernel::fast_caps` (set when the
    /// kernel adds it; 0: none): the entry's fast paths reach the running
    /// thread's slots through its frame, so a switch writes no row pointer.
    pub fast_row: u32,
    /// Its service (whose address space and capabilities it uses).
    pub service: u16,
    /// Its number within its service (0: the service's main thread).
    pub index: u16,
    /// The unmapped page under its stack.
    pub stack_guard: u32,
    /// Name (empty for a service's main thread: reports use the
    /// service's; else `service/name`).
    pub name: String<MAX_NAME>,
    /// To 256 bytes on the target, by size rather than by alignment (see
    /// [`Service`]).
    #[cfg(target_arch = "xtensa")]
    pub pad: [u8; THREAD_PAD],
}

/// Bytes that pad a [`Thread`] to 256 on the target.
#[cfg(target_arch = "xtensa")]
pub const THREAD_PAD: usize = 256 - 180;
#[cfg(target_arch = "xtensa")]
const _: () = assert!(core::mem::size_of::<Thread>() == 256);

/// One service: its address space, regions, IPC buffer and how it ended;
/// its threads are in [`Threads`] (its main thread's number is its own:
/// [`Kernel::add_service`]). On the target a power-of-two size (padded to
/// 256 bytes by `pad`): `services[n]` is a shift.
#[repr(C)]
pub struct Service {
    /// Name (console prefix, reports).
    pub name: String<MAX_NAME>,
    /// Its page tables (`None` only in an empty slot of [`Services`]).
    pub tables: Option<PageTables<'static>>,
    /// Physical address of its IPC buffer (mapped at [`IPC_BUFFER_VA`]).
    pub ipc_buffer: u32,
    /// Set once it ended.
    pub ending: Option<Ending>,
    /// Its threads, a bit per thread number (its main thread's included).
    pub thread_mask: u16,
    /// How many threads it has.
    pub threads: u16,
    /// Regions mapped into it.
    pub regions: Vec<RegionMapping, 8>,
    /// To 256 bytes on the target, by size rather than by alignment: an
    /// over-aligned value passed by value between functions is not safe
    /// with this target's compiler (a boot with a 512-byte-aligned
    /// `Service` passed to an out-of-line function started a zeroed frame).
    #[cfg(target_arch = "xtensa")]
    pub pad: [u8; SERVICE_PAD],
}

/// Bytes that pad a [`Service`] to 256 on the target.
#[cfg(target_arch = "xtensa")]
pub const SERVICE_PAD: usize = 256 - 196;
#[cfg(target_arch = "xtensa")]
const _: () = assert!(core::mem::size_of::<Service>() == 256);

/// A value that fills the unused slots of a [`Table`].
pub trait Placeholder {
    /// The filler: no state, nothing names it.
    const PLACEHOLDER: Self;
}

/// A fixed table of `N` slots (a power of two), the first `len` in use,
/// the rest [`Placeholder::PLACEHOLDER`]. Indexing by a number the kernel
/// holds masks it into the array instead of checking it against `len`,
/// so there is no abort path at each of the places that index it: such
/// numbers are the kernel's own (the scheduler's thread numbers, a reply
/// link, a wait; object numbers from capabilities, waits, timers and
/// plans), never a service's word. [`Table::checked`] is for a number
/// from outside the kernel. As a slice ([`Deref`](core::ops::Deref)) it
/// is the slots in use.
pub struct Table<T, const N: usize> {
    slots: [T; N],
    len: usize,
}

/// The services (service `n`'s main thread is thread `n`); an empty slot
/// is [`Service::EMPTY`].
pub type Services = Table<Service, MAX_SERVICES>;
/// The threads (the services' main threads first, then the others); an
/// empty slot is [`Thread::EMPTY`].
pub type Threads = Table<Thread, MAX_THREADS>;
/// The kernel objects; an empty slot is [`Object::Clock`] (no state, and
/// no capability names it).
pub type Objects = Table<Object, MAX_OBJECTS>;

impl<T: Placeholder, const N: usize> Table<T, N> {
    /// None.
    pub const fn new() -> Self {
        const { assert!(N.is_power_of_two()) };
        Table {
            slots: [const { T::PLACEHOLDER }; N],
            len: 0,
        }
    }
}

impl<T, const N: usize> Table<T, N> {
    /// Slots in use.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add one (`Err`, with it, when full). Inlined: a value is copied
    /// once, straight into its slot.
    #[inline(always)]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = value;
                self.len += 1;
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Slot `index`, a number the kernel holds: masked into the array,
    /// never `None` (an `Option` for the callers' `let Some(..) = ..`
    /// matches).
    #[inline(always)]
    pub fn get(&self, index: usize) -> Option<&T> {
        Some(&self.slots[index % N])
    }

    /// [`Table::get`], mutable.
    #[inline(always)]
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        Some(&mut self.slots[index % N])
    }

    /// Slot `index` if it is in use (a number from outside the kernel).
    pub fn checked(&self, index: usize) -> Option<&T> {
        self.slots.get(..self.len)?.get(index)
    }
}

impl<T: Placeholder, const N: usize> Default for Table<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> core::ops::Deref for Table<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.slots.get(..self.len).unwrap_or_default()
    }
}

impl<T, const N: usize> core::ops::DerefMut for Table<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.slots.get_mut(..self.len).unwrap_or_default()
    }
}

impl<T, const N: usize> core::ops::Index<usize> for Table<T, N> {
    type Output = T;

    #[inline(always)]
    fn index(&self, index: usize) -> &T {
        &self.slots[index % N]
    }
}

impl<T, const N: usize> core::ops::IndexMut<usize> for Table<T, N> {
    #[inline(always)]
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.slots[index % N]
    }
}

impl Placeholder for Service {
    const PLACEHOLDER: Service = Service::EMPTY;
}

impl Placeholder for Thread {
    const PLACEHOLDER: Thread = Thread::EMPTY;
}

impl Placeholder for Object {
    const PLACEHOLDER: Object = Object::Clock;
}

impl Service {
    /// An empty slot of [`Services`]: no tables, no name, no thread.
    pub const EMPTY: Service = Service {
        name: String::new(),
        tables: None,
        ipc_buffer: 0,
        ending: None,
        thread_mask: 0,
        threads: 0,
        regions: Vec::new(),
        #[cfg(target_arch = "xtensa")]
        pad: [0; SERVICE_PAD],
    };

    /// The page-table entry mapping `va` in its space (`None`: unmapped,
    /// or an empty slot with no tables). (Inlined: a call of its own costs
    /// the kernel text more than the check it wraps.)
    #[inline(always)]
    pub fn translate(&self, va: u32) -> Option<Pte> {
        self.tables.as_ref()?.translate(va)
    }
}

impl Thread {
    /// An empty slot of [`Threads`].
    pub const EMPTY: Thread = Thread {
        frame: TrapFrame::ZERO,
        wait: Wait::None,
        reply: NO_THREAD,
        fast_row: 0,
        service: 0,
        index: 0,
        stack_guard: 0,
        name: String::new(),
        #[cfg(target_arch = "xtensa")]
        pad: [0; THREAD_PAD],
    };

    /// A thread of service `service` (its `index`th, 0 the main one)
    /// entering with `frame`, its stack's guard page at `stack_guard`.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.kernel_thread_new")
    )]
    pub fn new(
        frame: TrapFrame,
        service: usize,
        index: usize,
        stack_guard: u32,
        name: &str,
    ) -> Thread {
        let mut thread = Thread::EMPTY;
        thread.frame = frame;
        thread.service = service as u16;
        thread.index = index as u16;
        thread.stack_guard = stack_guard;
        let _ = thread.name.push_str(name);
        thread
    }

    /// The caller it owes a reply, if any.
    #[inline]
    pub fn reply_to(&self) -> Option<ThreadId> {
        // (Masked, as `Scheduler::current`: no bounds check where it is used.)
        (self.reply != NO_THREAD).then_some(usize::from(self.reply) % MAX_THREADS)
    }

    /// Owe a reply to `caller` (or to nobody).
    #[inline]
    pub fn set_reply_to(&mut self, caller: Option<ThreadId>) {
        self.reply = caller.map_or(NO_THREAD, |caller| caller as ThreadNo);
    }

    /// The caller it owed a reply, now owed none.
    pub fn take_reply_to(&mut self) -> Option<ThreadId> {
        let caller = self.reply_to();
        self.reply = NO_THREAD;
        caller
    }
}

/// A kernel object (48 bytes on the target). Not over-aligned to a power
/// of two, as [`Service`] is not: an over-aligned value passed by value
/// is not safe with this target's compiler, and objects are passed by
/// value at boot.
pub enum Object {
    /// Synchronous IPC.
    Endpoint(Endpoint),
    /// Signal bits.
    Notification(Notification),
    /// Counting semaphore.
    Semaphore(Semaphore),
    /// Timer on the tick.
    Timer(Timer),
    /// Heap or shared buffer: frames at `pa`.
    Memory {
        /// Physical address.
        pa: u32,
        /// Bytes.
        size: u32,
        /// Cache attribute.
        cache: Cache,
        /// Whether several services may map it writable (else one at a
        /// time: the build checks the boot grants, the kernel every map).
        shared: bool,
    },
    /// The console.
    Console,
    /// The cycle counter.
    Clock,
    /// A thread ([`crate::thread_ctl`]).
    Thread(ThreadId),
    /// A service (its index): its supervisor's handle
    /// ([`crate::supervise`]).
    Service(u16),
    /// A DAI (`sotto_abi::dai`): never granted (the build refuses it);
    /// the DMA model keeps its state.
    Dai,
}

impl Object {
    /// Its kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Object::Endpoint(_) => ObjectKind::Endpoint,
            Object::Notification(_) => ObjectKind::Notification,
            Object::Semaphore(_) => ObjectKind::Semaphore,
            Object::Timer(_) => ObjectKind::Timer,
            Object::Memory { .. } => ObjectKind::Memory,
            Object::Console => ObjectKind::Console,
            Object::Clock => ObjectKind::Clock,
            Object::Thread(_) => ObjectKind::Thread,
            Object::Service(_) => ObjectKind::Service,
            Object::Dai => ObjectKind::Dai,
        }
    }

    /// A fresh object from its declaration; memory needs its frames.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.kernel_new")
    )]
    pub fn new(params: &ObjectParams, memory_pa: u32, now: u64) -> Object {
        match *params {
            ObjectParams::Endpoint => Object::Endpoint(Endpoint::default()),
            ObjectParams::Notification => Object::Notification(Notification::default()),
            ObjectParams::Semaphore { initial, max } => {
                Object::Semaphore(Semaphore::new(initial, max))
            }
            ObjectParams::Timer { target, start } => {
                let mut timer = Timer::new(target);
                if let Some((phase, period)) = start {
                    timer.arm(now, u64::from(phase), u64::from(period));
                }
                Object::Timer(timer)
            }
            ObjectParams::Memory {
                size,
                cache,
                shared,
                ..
            } => Object::Memory {
                pa: memory_pa,
                size,
                cache,
                shared,
            },
            ObjectParams::Console => Object::Console,
            ObjectParams::Clock => Object::Clock,
            // The build numbers the thread as the kernel does
            // (`sotto_abi::manifest::thread_id`).
            ObjectParams::Thread { id, .. } => Object::Thread(usize::from(id)),
            ObjectParams::Service { service } => Object::Service(service),
            ObjectParams::Dai(_) => Object::Dai,
        }
    }
}

/// The whole kernel state. `repr(C)` with what the trap paths touch
/// first, so their loads and stores reach it with short offsets; the
/// revoke list (10 KiB, touched only by a revoke) last, where it pushes
/// no other field to a long offset.
#[repr(C)]
pub struct Kernel<H: Hardware> {
    /// The machine.
    pub hw: H,
    /// Run queues.
    pub sched: Scheduler,
    /// What the idle timer interrupt may do on its own at the alarm
    /// (followed by the idle loop's express tick).
    plan: TickPlan,
    /// Threads (service `n`'s main thread is thread `n`).
    pub threads: Threads,
    /// Services.
    pub services: Services,
    /// Kernel objects.
    pub objects: Objects,
    /// Ticks since boot, as of the last look at the clock
    /// ([`Kernel::now`]) or the last [`Kernel::tick`].
    pub ticks: u64,
    /// Tick rate.
    pub tick_hz: u32,
    /// Bit `n`: service `n` holds a clock capability with READ (it may read
    /// the cycle counter: `Cycles`, and CCOUNT in IPC results, see
    /// [`sotto_abi::syscall::Syscall::Call`]). Kept up to date wherever a
    /// capability enters or leaves a space ([`Kernel::refresh_clock`]), so
    /// the hot paths test one bit instead of scanning a table.
    clock_holders: u32,
    /// Capability tables (space `n` is service `n`).
    pub caps: CapSpaces<MAX_SERVICES>,
    /// Per capability slot, what the system-call entry may do through it
    /// on its own ([`FastSlot`]: the operations of
    /// [`crate::fastpath::fast_op`], the object's address, the badge, the
    /// object's number). Kept by `refresh_fast` whenever a slot changes;
    /// [`Kernel::fast_slot`] is the rule.
    pub fast_caps: [[FastSlot; CAP_SLOTS]; MAX_SERVICES],
    /// Armed timers (slot = object index), earliest expiry first.
    pub(crate) timers: DeadlineQueue<MAX_OBJECTS>,
    /// What the running revoke removed (kept here, in the kernel's static
    /// state, not on the stack of every trap).
    revoked: Revoked,
    /// The fast row of a thread that is not its service's main one: no
    /// fast word (the entry's express paths index capabilities by the
    /// thread's number, which only a main thread shares with its service),
    /// so its calls take the light path, which maps it to its service.
    pub fast_none: [FastSlot; CAP_SLOTS],
    /// Each service's supervision ([`crate::supervise`]).
    pub supervision: [Supervised; MAX_SERVICES],
    /// What the kernel binary has to do before a thread runs again
    /// ([`Kernel::take_action`]).
    pub(crate) action: Action,
}

/// An express tick made ready ([`Kernel::prepare_express`]): every check
/// done, what [`Kernel::commit_express`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpressWake {
    /// The thread that runs.
    pub waiter: ThreadId,
    /// Ticks from `tick` to the next alarm (the timer's period).
    pub ahead: u32,
    /// The tick it is for (the alarm's).
    pub tick: u64,
    /// The next alarm's tick, the timer's next expiry.
    pub next: u64,
    /// The bits the waiter gets.
    delivered: u32,
    /// The endpoint the waiter also receives on (`ReceiverOrSignal`), if
    /// it does.
    endpoint: Option<ObjectId>,
}

/// The express tick the idle CPU's timer interrupt takes
/// (`_idle_interrupt`, trap.S): made and committed by the idle loop
/// before it waits (`prepare_idle`, kernel/src/main.rs). The entry reads
/// it by the offsets of [`idle_wake`] (fixed-width fields only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IdleWake {
    /// Non-zero: committed, not yet taken.
    pub armed: u32,
    /// CCOMPARE0 for the next alarm.
    pub next_compare: u32,
    /// The thread that runs.
    pub thread: u32,
    /// Where the cycle counter goes as it runs (a clock holder's
    /// signalled receive), or 0.
    pub cycles_at: u32,
}

/// Offsets into [`IdleWake`] for the assembly.
pub mod idle_wake {
    use core::mem::offset_of;

    use super::IdleWake;

    /// `armed`.
    pub const ARMED: u32 = offset_of!(IdleWake, armed) as u32;
    /// `next_compare`.
    pub const NEXT_COMPARE: u32 = offset_of!(IdleWake, next_compare) as u32;
    /// `thread`.
    pub const THREAD: u32 = offset_of!(IdleWake, thread) as u32;
    /// `cycles_at`.
    pub const CYCLES_AT: u32 = offset_of!(IdleWake, cycles_at) as u32;
}

/// What the idle timer interrupt may do without the full tick
/// ([`Kernel::planned`]): at `tick`, the periodic
/// timer `timer` fires into `notification` (bits `bits`) and stays the
/// earliest deadline (`headroom` ticks to another timer or the kernel's
/// own deadline, more than its `period`; no sleep or wait timeout is
/// queued), so the next alarm is `period` ticks later. It holds while
/// both deadline queues keep the versions it was made for; what it does
/// not fix (who waits, who is ready) [`Kernel::express_tick`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickPlan {
    /// The alarm's tick (`u64::MAX`: no plan).
    pub tick: u64,
    timer: u16,
    notification: ObjectId,
    bits: u32,
    /// The timer's period, in ticks.
    pub period: u32,
    headroom: u32,
    timers_version: u32,
    timeouts_version: u32,
}

impl TickPlan {
    /// No plan.
    pub const NONE: TickPlan = TickPlan {
        tick: u64::MAX,
        timer: 0,
        notification: 0,
        bits: 0,
        period: 0,
        headroom: 0,
        timers_version: 0,
        timeouts_version: 0,
    };
}

// One bit per thread in `clock_holders`; the manifest's limit is the
// scheduler's.
const _: () = assert!(MAX_THREADS <= 32);
const _: () = assert!(MAX_THREADS == sotto_abi::manifest::MAX_THREADS);

/// Registers a call returns: a2 = status, a3..a7 = values.
pub type Regs = [u32; 5];

/// What a handler decided for its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Resume with these registers.
    Return(Result<Regs, Error>),
    /// The caller is blocked (its registers are written when it wakes).
    Blocked,
    /// The caller yields (status 0).
    Yield,
    /// The caller ended.
    Ended,
}

fn ok(value: u32) -> Outcome {
    Outcome::Return(Ok([value, 0, 0, 0, 0]))
}

fn err(error: Error) -> Outcome {
    Outcome::Return(Err(error))
}

impl<H: Hardware> Kernel<H> {
    /// An empty kernel.
    pub const fn new(hw: H, tick_hz: u32) -> Self {
        Kernel {
            hw,
            sched: Scheduler::new(),
            caps: CapSpaces::new(),
            objects: Objects::new(),
            threads: Threads::new(),
            services: Services::new(),
            ticks: 0,
            tick_hz,
            revoked: Revoked::new(),
            fast_caps: [[FastSlot::ZERO; CAP_SLOTS]; MAX_SERVICES],
            timers: DeadlineQueue::new(),
            clock_holders: 0,
            plan: TickPlan::NONE,
            fast_none: [FastSlot::ZERO; CAP_SLOTS],
            supervision: [Supervised::NEW; MAX_SERVICES],
            action: Action::None,
        }
    }

    /// Add a service whose memory is in place, with its main thread
    /// `main` (ready to enter, `tables` mapping it), and give it the
    /// capabilities `grants` (regions with an address are mapped there).
    /// Every service comes before any thread added by
    /// [`Self::add_thread`]: a service's main thread has its number.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.kernel_add_service")
    )]
    pub fn add_service(
        &mut self,
        service: Service,
        main: Thread,
        priority: u8,
        grants: &[CapGrant],
    ) -> Result<ThreadId, Error> {
        if self.threads.len() != self.services.len() {
            return Err(Error::BadArgument);
        }
        let thread = self.sched.add(priority).ok_or(Error::BadArgument)?;
        if self.services.push(service).is_err()
            || thread != self.services.len() - 1
            || self.threads.push(main).is_err()
        {
            return Err(Error::BadArgument);
        }
        self.threads[thread].service = thread as u16;
        self.threads[thread].index = 0;
        self.threads[thread].fast_row = self.fast_row(thread).as_ptr() as u32;
        let service = &mut self.services[thread];
        service.thread_mask = 1 << thread;
        service.threads = 1;
        self.install_grants(thread, grants)?;
        self.refresh_clock(thread);
        Ok(thread)
    }

    /// Add a further thread (ready to enter) to service `thread.service`
    /// (added already), at `priority`, its ceiling `ceiling` (the most
    /// urgent priority a holder of its thread capability may give it:
    /// `max_priority` in `system.toml`; one less urgent than `priority`
    /// becomes `priority`, as a main thread's ceiling is its priority).
    /// The scheduler keeps it (`Scheduler::ceiling`).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.kernel_add_thread")
    )]
    pub fn add_thread(
        &mut self,
        thread: Thread,
        priority: u8,
        ceiling: u8,
    ) -> Result<ThreadId, Error> {
        let space = usize::from(thread.service);
        if space >= self.services.len() {
            return Err(Error::BadArgument);
        }
        let id = self.sched.add(priority).ok_or(Error::BadArgument)?;
        if self.threads.push(thread).is_err() || id != self.threads.len() - 1 {
            return Err(Error::BadArgument);
        }
        self.threads[id].index = self.services[space].threads;
        self.threads[id].fast_row = self.fast_row(id).as_ptr() as u32;
        self.sched.set_ceiling(id, ceiling.min(priority));
        let service = &mut self.services[space];
        service.thread_mask |= 1 << id;
        service.threads += 1;
        // The summaries that follow a service's threads: its clock bit, the
        // receivers of the endpoints it receives on, its fast words (no
        // express delete: `Kernel::fast_slot`).
        self.refresh_clock(space);
        for object in self.objects.iter_mut() {
            if let Object::Endpoint(queue) = object
                && queue.holders & (1 << space) != 0
            {
                queue.holders |= 1 << id;
            }
        }
        for slot in 0..CAP_SLOTS as u8 {
            self.refresh_fast(CapRef {
                space: space as u8,
                slot,
            });
        }
        Ok(id)
    }

    /// Tracing is on (boot): the entry's express paths decline, so every
    /// thread switch passes the Rust code that records it
    /// (`crate::trace::switch`). Every thread's row of fast words becomes
    /// the empty one ([`Kernel::fast_none`]: the express `Call`,
    /// `ReplyRecv`, give, signal and delete find no bit and hand the
    /// call to the light path, which decides as before), and the
    /// scheduler's express yield declines
    /// ([`crate::sched::Scheduler::express_yield_off`]). Nothing changes
    /// but which path takes a call: the results are the same (the
    /// differential tests hold each express path to the light one).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.kernel_trace_express_off")
    )]
    pub fn trace_express_off(&mut self) {
        let none = self.fast_none.as_ptr() as u32;
        for thread in self.threads.iter_mut() {
            thread.fast_row = none;
        }
        self.sched.express_yield_off();
    }

    /// The service of `thread` (whose address space and capability space
    /// it uses).
    #[inline(always)]
    pub fn space(&self, thread: ThreadId) -> usize {
        usize::from(self.threads[thread].service) % MAX_SERVICES
    }

    /// The threads of service `space`, as a bit per thread.
    #[inline]
    pub fn threads_of(&self, space: usize) -> u32 {
        u32::from(self.services[space].thread_mask)
    }

    /// The row of fast words the entry uses for `thread`: its service's
    /// for a main thread, else none ([`Kernel::fast_none`]).
    #[inline]
    pub fn fast_row(&self, thread: ThreadId) -> &[FastSlot; CAP_SLOTS] {
        if self.space(thread) == thread {
            &self.fast_caps[thread % MAX_SERVICES]
        } else {
            &self.fast_none
        }
    }

    /// Add an object (a timer armed by its declaration is queued).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.kernel_add_object")
    )]
    pub fn add_object(&mut self, object: Object) -> Result<ObjectId, Object> {
        let index = self.objects.len();
        let deadline = match &object {
            Object::Timer(timer) => timer.deadline(),
            _ => None,
        };
        self.objects.push(object)?;
        if let Some(deadline) = deadline {
            self.timers.insert(index, deadline);
            self.note_timers_changed();
        }
        Ok(index as ObjectId)
    }

    /// The tick now (the clock's reading where there is a clock, else the
    /// last tick given to [`Kernel::tick`]). Out of line: five system
    /// calls read it, none of them on a fast path.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn now(&mut self) -> u64 {
        // (As a branch: LLVM's branch-free `max` of 64 bits costs more.)
        if let Some(now) = self.hw.ticks()
            && now > self.ticks
        {
            self.ticks = now;
        }
        self.ticks
    }

    /// Recompute whether service `space` holds a clock capability with READ
    /// (a scan of its table: only where capabilities come or go).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn refresh_clock(&mut self, space: usize) {
        if space >= MAX_SERVICES {
            return;
        }
        let holds = self
            .caps
            .iter_space(space as u8)
            .any(|(_, cap)| cap.kind == ObjectKind::Clock && cap.rights.contains(Rights::READ));
        let bits = self.threads_of(space);
        if holds {
            self.set_clock_holders(self.clock_holders | bits);
        } else {
            self.set_clock_holders(self.clock_holders & !bits);
        }
    }

    /// The one place `clock_holders` changes: the machine's copy follows.
    fn set_clock_holders(&mut self, holders: u32) {
        self.clock_holders = holders;
        self.hw.clock_holders(holders);
    }

    /// The cycle counter for `thread`'s results: CCOUNT now if it holds a
    /// clock capability (READ), else 0.
    #[inline]
    /// Where [`Self::cycles_for`] looks (one bit per thread), for the
    /// entry's IPC fast paths.
    pub fn clock_holders_word(&self) -> &u32 {
        &self.clock_holders
    }

    /// The cycle counter for `thread`: 0 unless it holds a clock
    /// capability. (Out of line: every wake with a signal shares it.)
    #[inline(never)]
    pub(crate) fn cycles_for(&self, thread: ThreadId) -> u32 {
        if self.clock_holders & (1 << thread) != 0 {
            self.hw.cycles()
        } else {
            0
        }
    }

    /// `micros` microseconds in ticks, rounded up. (Out of line: no fast
    /// path sleeps or arms a timer, and the sum is long.)
    #[inline(never)]
    pub(crate) fn ticks_for_us(&self, micros: u32) -> u64 {
        ticks_for_us(micros, self.tick_hz)
    }

    /// The tick a `CallTimeout` with deadline `until` (the low 32 bits of
    /// a tick, as `Ticks` and `RecvOrWait` give them) ends at: the tick
    /// with those low bits at most 2^31 ticks after the kernel's count,
    /// or the next tick if it is not after it (a deadline passed, or
    /// junk). No clock read and no division: the caller did the sums (in
    /// the tick it already has), and a count behind the clock only makes
    /// a passed deadline due at the next tick handled, which comes at
    /// once (the alarm is set for it). (Out of line: the light and the
    /// full path share it; the entry's express path has its own, trap.S
    /// `DEADLINE`.)
    #[inline(never)]
    pub(crate) fn deadline_at(&self, until: u32) -> u64 {
        let ahead = until.wrapping_sub(self.ticks as u32) as i32;
        self.ticks + ahead.max(1) as u64
    }

    /// The tick a wait of `micros` microseconds ends at (`u32::MAX`: no
    /// limit), at least one tick from now (`SemTake`'s limit).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn deadline_after_us(&mut self, micros: u32) -> Option<u64> {
        match micros {
            u32::MAX => None,
            micros => Some(self.now() + self.ticks_for_us(micros).max(1)),
        }
    }

    /// Write results into a thread's frame.
    /// (Out of line: one copy for every path that answers a call.)
    #[inline(never)]
    pub(crate) fn set_result(&mut self, thread: ThreadId, result: Result<Regs, Error>) {
        let frame = &mut self.threads[thread].frame;
        match result {
            Ok(values) => {
                frame.a[2] = 0;
                frame.a[3..8].copy_from_slice(&values);
            }
            Err(error) => {
                frame.a[2] = error as u32;
                frame.a[3..8].fill(0);
            }
        }
    }

    /// Wake a blocked thread with a result.
    pub(crate) fn wake_with(&mut self, thread: ThreadId, result: Result<Regs, Error>) {
        self.set_result(thread, result);
        self.threads[thread].wait = Wait::None;
        self.sched.wake(thread);
    }

    /// [`Self::cap`] out of line, for the calls no fast path makes (one
    /// copy instead of one per caller).
    #[inline(never)]
    pub(crate) fn cap_cold(
        &self,
        thread: ThreadId,
        slot: u32,
        kind: ObjectKind,
        rights: Rights,
    ) -> Result<Cap, Error> {
        self.cap(thread, slot, kind, rights)
    }

    pub(crate) fn cap(
        &self,
        thread: ThreadId,
        slot: u32,
        kind: ObjectKind,
        rights: Rights,
    ) -> Result<Cap, Error> {
        let at = CapSpaces::<MAX_SERVICES>::slot_ref(self.space(thread) as u8, slot)?;
        self.caps.lookup(at, kind, rights).copied()
    }

    /// Whether `thread` holds any capability of `kind` with `rights` (the
    /// console and the clock are used without naming a slot).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn holds(&self, thread: ThreadId, kind: ObjectKind, rights: Rights) -> bool {
        self.caps
            .iter_space(self.space(thread) as u8)
            .any(|(_, cap)| cap.kind == kind && cap.rights.contains(rights))
    }

    /// Copy a checked user buffer of `thread` into `out` (through the
    /// physical pages its tables map).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn read_user(&mut self, thread: ThreadId, va: u32, out: &mut [u8]) -> Result<(), Error> {
        let space = self.space(thread);
        let Some(tables) = &self.services[space].tables else {
            return Err(Error::BadAddress);
        };
        check_user(tables, va, out.len() as u32, false, u32::MAX)?;
        let mut done = 0;
        while done < out.len() {
            let at = va + done as u32;
            let pte = self.services[space]
                .translate(at)
                .ok_or(Error::BadAddress)?;
            let offset = at % PAGE_SIZE;
            let take = (PAGE_SIZE - offset).min((out.len() - done) as u32);
            let bytes = self.hw.phys(pte.pa() + offset, take);
            out[done..done + take as usize].copy_from_slice(bytes);
            done += take as usize;
        }
        Ok(())
    }

    /// Handle the system call `thread` just made (its registers are in its
    /// frame, PC already past the `syscall`).
    pub fn syscall(&mut self, thread: ThreadId) {
        let registers = &self.threads[thread].frame.a;
        let args = [
            registers[3],
            registers[4],
            registers[5],
            registers[6],
            registers[7],
        ];
        let outcome = match Syscall::from_raw(registers[2]) {
            Some(call) => self.dispatch(thread, call, args),
            None => err(Error::UnknownSyscall),
        };
        match outcome {
            Outcome::Return(result) => self.set_result(thread, result),
            Outcome::Yield => {
                self.set_result(thread, Ok([0; 5]));
                self.sched.yield_current();
            }
            Outcome::Blocked | Outcome::Ended => {}
        }
    }

    pub(crate) fn dispatch(&mut self, thread: ThreadId, call: Syscall, args: [u32; 5]) -> Outcome {
        match call {
            Syscall::Null => ok(0),
            Syscall::Exit
            | Syscall::Panic
            | Syscall::CapDerive
            | Syscall::CapMove
            | Syscall::CapRevoke
            | Syscall::CapInfo
            | Syscall::MemUnmap
            | Syscall::MemInfo
            | Syscall::ConsoleWrite
            | Syscall::Sleep
            | Syscall::SemTake
            | Syscall::TimerArm
            | Syscall::TimerCancel
            | Syscall::MemMap
            // The light path answers these whole (the full path sees them
            // only from a thread with a loop armed or LITBASE set); both
            // share one out-of-line copy (the entry's express paths answer
            // the measured give and signal).
            | Syscall::Cycles
            | Syscall::NotifySignal
            | Syscall::NotifyWait
            | Syscall::NotifyPoll
            | Syscall::SemGive
            | Syscall::ThreadPriority
            | Syscall::ThreadDeadline
            | Syscall::ThreadSuspend
            | Syscall::ThreadResume
            | Syscall::ThreadCpuTime
            | Syscall::ServiceRestart
            | Syscall::ServiceStop
            | Syscall::ServiceQuery
            | Syscall::FaultTake
            | Syscall::Trace => self.dispatch_cold(thread, call, args),
            Syscall::Yield => Outcome::Yield,
            Syscall::Ticks => Outcome::Return(Ok([self.now() as u32, self.tick_hz, 0, 0, 0])),
            Syscall::CapDelete => self.cap_delete(thread, args[0]),
            Syscall::Call => self.ipc_call(thread, args, None),
            Syscall::CallTimeout => {
                let until = self.deadline_at(self.threads[thread].frame.a[8]);
                self.ipc_call(thread, args, Some(until))
            }
            Syscall::Recv => self.ipc_recv(thread, args[0], args[1], None),
            Syscall::RecvOrWait => self.ipc_recv(thread, args[0], args[1], Some(args[2])),
            Syscall::Reply => match self.ipc_reply(thread, args) {
                Ok(delivered) => ok(u32::from(delivered)),
                Err(error) => err(error),
            },
            Syscall::ReplyRecv => {
                if self.threads[thread].reply_to().is_some() {
                    match self.ipc_reply(thread, args) {
                        Err(error) => return err(error),
                        Ok(false) if MsgInfo::decode(args[1]).reply_dropped => {
                            let dropped = MsgInfo {
                                reply_dropped: true,
                                ..MsgInfo::new(0)
                            };
                            return ok_regs([0, dropped.encode(), 0, 0, 0]);
                        }
                        Ok(_) => {}
                    }
                }
                self.ipc_recv(thread, args[0], args[1], None)
            }
        }
    }

    /// The calls no fast or frequent path makes (ending, capability
    /// management, regions, printing, sleeping, semaphore takes, timer
    /// control; and the full path's rare copies of the light path's own
    /// calls): out of line and compiled for size.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn dispatch_cold(&mut self, thread: ThreadId, call: Syscall, args: [u32; 5]) -> Outcome {
        match call {
            // The name borrowed, not copied: the console is a field of its
            // own.
            Syscall::Exit => {
                self.say(thread, &text![" exited with status ", args[0]]);
                self.end_service(thread, Ending::Exited(args[0]));
                self.note_exit(self.space(thread));
                Outcome::Ended
            }
            Syscall::Panic => {
                let mut text = [0u8; 256];
                let len = (args[1] as usize).min(text.len());
                match self.read_user(thread, args[0], &mut text[..len]) {
                    Ok(()) => self.say(thread, &text![" panicked: ", Piece::Bytes(&text[..len])]),
                    Err(error) => self.say(
                        thread,
                        &text![" panicked (message unreadable: ", error.describe(), ")"],
                    ),
                }
                let pc = self.threads[thread].frame.pc;
                self.note_fault(thread, FaultKind::Panic, 0, pc, 0);
                Outcome::Ended
            }
            Syscall::CapDerive => self.cap_derive(thread, args),
            Syscall::CapMove => {
                Outcome::Return(self.cap_move(thread, args[0], args[1]).map(|()| [0; 5]))
            }
            Syscall::CapRevoke => self.cap_revoke(thread, args[0]),
            Syscall::CapInfo => {
                let at =
                    match CapSpaces::<MAX_SERVICES>::slot_ref(self.space(thread) as u8, args[0]) {
                        Ok(at) => at,
                        Err(error) => return err(error),
                    };
                Outcome::Return(self.caps.get(at).map(|cap| {
                    [
                        cap.kind as u32,
                        cap.rights.bits(),
                        cap.badge,
                        u32::from(cap.object),
                        0,
                    ]
                }))
            }
            Syscall::MemUnmap => Outcome::Return(self.mem_unmap(thread, args[0]).map(|()| [0; 5])),
            Syscall::MemInfo => self.mem_info(thread, args[0]),
            Syscall::ConsoleWrite => self.console_write(thread, args[0], args[1]),
            Syscall::Sleep => match self.ticks_for_us(args[0]) {
                0 => Outcome::Yield,
                ticks => {
                    self.set_result(thread, Ok([0; 5]));
                    let until = self.now() + ticks;
                    self.sched.sleep_current(until);
                    Outcome::Blocked
                }
            },
            Syscall::SemTake => self.sem_take(thread, args[0], args[1]),
            Syscall::TimerArm => self.timer_arm(thread, args),
            Syscall::TimerCancel => self.timer_cancel(thread, args[0]),
            Syscall::MemMap => Outcome::Return(
                self.mem_map(thread, args[0], args[1], args[2])
                    .map(|()| [0; 5]),
            ),
            Syscall::Cycles => self.cycles(thread),
            Syscall::NotifySignal => self.notify_signal(thread, args[0], args[1]),
            Syscall::NotifyWait | Syscall::NotifyPoll => {
                self.notify_wait(thread, args[0], call == Syscall::NotifyWait)
            }
            Syscall::SemGive => self.sem_give(thread, args[0]),
            Syscall::ThreadPriority
            | Syscall::ThreadDeadline
            | Syscall::ThreadSuspend
            | Syscall::ThreadResume
            | Syscall::ThreadCpuTime => self.thread_control(thread, call, args),
            Syscall::ServiceRestart
            | Syscall::ServiceStop
            | Syscall::ServiceQuery
            | Syscall::FaultTake => self.supervision_call(thread),
            // Any thread may trace a service event; other codes are
            // refused, tracing on or off.
            Syscall::Trace => match crate::trace::service(thread, args[0], args[1], args[2]) {
                Ok(recorded) => ok(u32::from(recorded)),
                Err(error) => err(error),
            },
            _ => err(Error::UnknownSyscall),
        }
    }

    /// Print a kernel line about a service.
    pub fn report(&mut self, line: &Text<'_>) {
        self.hw.console_line(line);
    }

    /// A kernel line about `thread`: `service NAME` (`NAME/THREAD` for a
    /// further thread), then `rest`. (Out of line: every report shares it.)
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn say(&mut self, thread: ThreadId, rest: &Text<'_>) {
        let own = self.threads[thread].name.as_str();
        let service = &self.services[self.space(thread)].name;
        let slash = if own.is_empty() { "" } else { "/" };
        self.hw
            .console_line(&text!["service ", service, slash, own, rest]);
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn console_write(&mut self, thread: ThreadId, va: u32, len: u32) -> Outcome {
        if !self.holds(thread, ObjectKind::Console, Rights::SEND) {
            return err(Error::MissingRight);
        }
        let space = self.space(thread);
        let Some(tables) = &self.services[space].tables else {
            return err(Error::BadAddress);
        };
        if let Err(error) = check_user(tables, va, len, false, CONSOLE_WRITE_MAX) {
            return err(error);
        }
        let mut chunk = [0u8; 128];
        let mut done = 0;
        while done < len {
            let take = (len - done).min(chunk.len() as u32) as usize;
            if let Err(error) = self.read_user(thread, va + done, &mut chunk[..take]) {
                return err(error);
            }
            let Kernel { services, hw, .. } = self;
            hw.console(thread, &services[space].name, &chunk[..take]);
            done += take as u32;
        }
        ok(len)
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn cap_derive(&mut self, thread: ThreadId, args: [u32; 5]) -> Outcome {
        let space = self.space(thread) as u8;
        let refs = CapSpaces::<MAX_SERVICES>::slot_ref(space, args[0])
            .and_then(|from| Ok((from, CapSpaces::<MAX_SERVICES>::slot_ref(space, args[1])?)));
        let (from, to) = match refs {
            Ok(refs) => refs,
            Err(error) => return err(error),
        };
        let Some(rights) = Rights::from_bits(args[2]) else {
            return err(Error::BadArgument);
        };
        let badge = (args[3] != 0).then_some(args[3]);
        let result = self.caps.derive(from, to, rights, badge);
        if result.is_ok() {
            self.after_install(to);
        }
        Outcome::Return(result.map(|_| [0; 5]))
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn cap_move(&mut self, thread: ThreadId, from: u32, to: u32) -> Result<(), Error> {
        let space = self.space(thread) as u8;
        let from = CapSpaces::<MAX_SERVICES>::slot_ref(space, from)?;
        let to = CapSpaces::<MAX_SERVICES>::slot_ref(space, to)?;
        self.caps.move_cap(from, to)?;
        self.refresh_fast(from);
        self.after_install(to);
        // Another thread of the service may have a call queued through the
        // slot it left (the caller runs: not its own).
        self.recheck_waits(usize::from(space), 1 << thread);
        Ok(())
    }

    /// Out of line: the light path runs it too.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn cap_delete(&mut self, thread: ThreadId, slot: u32) -> Outcome {
        let at = match CapSpaces::<MAX_SERVICES>::slot_ref(self.space(thread) as u8, slot) {
            Ok(at) => at,
            Err(error) => return err(error),
        };
        match self.caps.delete(at) {
            Ok(cap) => {
                self.after_removal(at, &cap);
                ok(0)
            }
            Err(error) => err(error),
        }
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn cap_revoke(&mut self, thread: ThreadId, slot: u32) -> Outcome {
        let at = match CapSpaces::<MAX_SERVICES>::slot_ref(self.space(thread) as u8, slot) {
            Ok(at) => at,
            Err(error) => return err(error),
        };
        if let Err(error) = self.caps.revoke_into(at, &mut self.revoked) {
            return err(error);
        }
        // By index: `after_removal` needs the whole kernel, and the list
        // stays where it is (no 10 KiB copy onto the stack).
        for index in 0..self.revoked.len() {
            let (place, cap) = self.revoked[index];
            self.after_removal(place, &cap);
        }
        let count = self.revoked.len() as u32;
        self.revoked.clear();
        ok(count)
    }

    /// A capability left `place`. What its service can still name decides
    /// what stays: a region mapping keeps only the rights some remaining
    /// capability gives (read-only or unmapped, TLB flushed); a wait or a
    /// queued call that needed the capability ends with `Revoked`; callers
    /// on an endpoint nobody can receive from any more fail with
    /// `PeerGone`.
    fn after_removal(&mut self, place: CapRef, cap: &Cap) {
        // The slot is empty: the entry can do nothing through it.
        if let Some(row) = self.fast_caps.get_mut(usize::from(place.space)) {
            row[usize::from(place.slot)] = FastSlot::ZERO;
        }
        // Nothing else to do for a capability no summary or mapping
        // follows, of a service waiting for nothing (a server dropping
        // what it received, typically).
        let space = usize::from(place.space);
        let waits = self
            .services
            .get(space)
            .is_some_and(|service| service.threads > 1)
            || self
                .threads
                .get(space)
                .is_some_and(|main| main.wait != Wait::None);
        if waits
            || matches!(
                cap.kind,
                ObjectKind::Clock | ObjectKind::Memory | ObjectKind::Endpoint
            )
        {
            self.after_removal_rest(place, cap);
        }
    }

    /// The rest of [`Self::after_removal`].
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn after_removal_rest(&mut self, place: CapRef, cap: &Cap) {
        let space = place.space as usize;
        if cap.kind == ObjectKind::Clock {
            self.refresh_clock(space);
        }
        if space < self.services.len() && self.services[space].ending.is_none() {
            if cap.kind == ObjectKind::Memory {
                self.narrow_mapping(space, cap.object);
            }
            self.recheck_waits(space, 0);
        }
        if cap.kind == ObjectKind::Endpoint {
            self.refresh_receiver(cap.object, space);
            self.fail_orphaned_callers(cap.object);
        }
    }

    /// Whether one capability of `space` on `object` holds all of `rights`
    /// (what `MemMap` asks of the capability it maps through).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn one_cap_holds(&self, space: usize, object: ObjectId, rights: Rights) -> bool {
        self.caps
            .iter_space(space as u8)
            .any(|(_, cap)| cap.object == object && cap.rights.contains(rights))
    }

    /// Make `thread`'s mapping of region `object` match the capabilities it
    /// still holds, as `MemMap` would: unmapped unless one of them has
    /// READ, read-only unless one of them has READ and WRITE (a read-only
    /// and a write-only copy together do not keep a mapping writable).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn narrow_mapping(&mut self, space: usize, object: ObjectId) {
        let thread = space;
        let readable = self.one_cap_holds(thread, object, Rights::READ);
        let writable = self.one_cap_holds(thread, object, Rights::READ | Rights::WRITE);
        let Some(index) = self.services[thread]
            .regions
            .iter()
            .position(|region| region.object == object)
        else {
            return;
        };
        let region = self.services[thread].regions[index];
        if !readable {
            let _ = self.unmap_region(thread, object);
            return;
        }
        if !region.writable || writable {
            return;
        }
        let Some(Object::Memory { pa, cache, .. }) = self.objects.get(object as usize) else {
            return;
        };
        let (pa, cache) = (*pa, *cache);
        let service = &mut self.services[thread];
        let Some(tables) = &mut service.tables else {
            return;
        };
        let _ = tables.unmap(region.va, region.len);
        // The same pages, the same tables (the unmap only freed what the
        // map takes again), read-only: this cannot fail.
        let remapped = tables.map(Mapping {
            va: region.va,
            pa,
            len: region.len,
            ring: USER_RING,
            access: Access::Read,
            cache: cache_mode(cache),
        });
        service.regions[index].writable = false;
        if remapped.is_err() {
            let _ = self.unmap_region(thread, object);
        }
        self.hw.flush_tlb();
    }

    /// [`Self::recheck_wait`] for every thread of service `space` but those
    /// of `except` (a bit per thread).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn recheck_waits(&mut self, space: usize, except: u32) {
        let mut threads = self.threads_of(space) & !except;
        while threads != 0 {
            self.recheck_wait(threads.trailing_zeros() as usize);
            threads &= threads - 1;
        }
    }

    /// End `thread`'s wait with `Revoked` if it no longer holds the right
    /// the wait needs: RECEIVE on what it receives or waits on, the SEND
    /// capability a queued call went through. A call already delivered
    /// (waiting for its reply) is not undone.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    #[inline(never)]
    fn recheck_wait(&mut self, thread: ThreadId) {
        let space = self.space(thread);
        let can = |kernel: &Self, object: ObjectId, right: Rights| {
            kernel.one_cap_holds(space, object, right)
        };
        let lost = match self.threads[thread].wait {
            Wait::Receiver(object) | Wait::Notification(object) | Wait::Semaphore(object) => {
                !can(self, object, Rights::RECEIVE)
            }
            Wait::ReceiverOrSignal {
                endpoint,
                notification,
            } => !can(self, endpoint, Rights::RECEIVE) || !can(self, notification, Rights::RECEIVE),
            Wait::Caller(object) => {
                let slot = self.threads[thread].frame.a[3];
                !self
                    .cap_cold(thread, slot, ObjectKind::Endpoint, Rights::SEND)
                    .is_ok_and(|cap| cap.object == object)
            }
            Wait::Reply(_) | Wait::None => false,
        };
        if lost {
            self.leave_wait(thread);
            self.wake_with(thread, Err(Error::Revoked));
        }
    }

    /// The cycle counter, for holders of a clock capability. (Out of line,
    /// as the notification and semaphore calls: the light and the full
    /// path share one copy.)
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn cycles(&mut self, thread: ThreadId) -> Outcome {
        if self.clock_holders & (1 << thread) != 0 {
            ok(self.hw.cycles())
        } else {
            err(Error::MissingRight)
        }
    }

    #[inline(never)]
    pub(crate) fn notify_signal(&mut self, thread: ThreadId, slot: u32, bits: u32) -> Outcome {
        let object = match self.cap_cold(thread, slot, ObjectKind::Notification, Rights::SEND) {
            Ok(cap) => cap.object,
            Err(error) => return err(error),
        };
        self.signal(object, bits);
        ok(0)
    }

    /// Set bits in notification `object`, waking a waiter.
    pub fn signal(&mut self, object: ObjectId, bits: u32) {
        if let Some(Object::Notification(notification)) = self.objects.get_mut(object as usize)
            && let Some((waiter, delivered)) = notification.signal(bits)
        {
            let result = self.signal_result(waiter, delivered);
            self.wake_with(waiter, Ok(result));
        }
    }

    /// What a signal delivering `delivered` returns to `waiter`, which
    /// waited for it (a receive that also waits for a signal leaves the
    /// endpoint's queue).
    #[inline]
    fn signal_result(&mut self, waiter: ThreadId, delivered: u32) -> Regs {
        match self.threads[waiter].wait {
            Wait::ReceiverOrSignal { endpoint, .. } => {
                if let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize) {
                    queue.forget(waiter);
                }
                self.signalled_regs(waiter, delivered)
            }
            _ => [delivered, 0, 0, 0, 0],
        }
    }

    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn notify_wait(&mut self, thread: ThreadId, slot: u32, may_wait: bool) -> Outcome {
        let object = match self.cap_cold(thread, slot, ObjectKind::Notification, Rights::RECEIVE) {
            Ok(cap) => cap.object,
            Err(error) => return err(error),
        };
        let Some(Object::Notification(notification)) = self.objects.get_mut(object as usize) else {
            return err(Error::WrongKind);
        };
        if !may_wait {
            return ok(notification.poll());
        }
        match notification.wait(thread) {
            Some(bits) => ok(bits),
            None => {
                self.threads[thread].wait = Wait::Notification(object);
                self.sched.block_current(None);
                Outcome::Blocked
            }
        }
    }

    #[inline(never)]
    pub(crate) fn sem_give(&mut self, thread: ThreadId, slot: u32) -> Outcome {
        let object = match self.cap_cold(thread, slot, ObjectKind::Semaphore, Rights::SEND) {
            Ok(cap) => cap.object,
            Err(error) => return err(error),
        };
        match self.give(object) {
            Ok(()) => ok(0),
            Err(error) => err(error),
        }
    }

    /// Give semaphore `object`, waking a waiter. (Out of line: a timer's
    /// give is rare, the tick's loop stays small.)
    #[inline(never)]
    pub fn give(&mut self, object: ObjectId) -> Result<(), Error> {
        let Some(Object::Semaphore(semaphore)) = self.objects.get_mut(object as usize) else {
            return Err(Error::WrongKind);
        };
        if let Some(waiter) = semaphore.give()? {
            self.wake_with(waiter, Ok([0; 5]));
        }
        Ok(())
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn sem_take(&mut self, thread: ThreadId, slot: u32, timeout_us: u32) -> Outcome {
        let object = match self.cap_cold(thread, slot, ObjectKind::Semaphore, Rights::RECEIVE) {
            Ok(cap) => cap.object,
            Err(error) => return err(error),
        };
        let until = self.deadline_after_us(timeout_us);
        let Some(Object::Semaphore(semaphore)) = self.objects.get_mut(object as usize) else {
            return err(Error::WrongKind);
        };
        match semaphore.take(thread, timeout_us != 0) {
            Ok(true) => ok(0),
            Ok(false) => {
                self.threads[thread].wait = Wait::Semaphore(object);
                self.sched.block_current(until);
                Outcome::Blocked
            }
            Err(error) => err(error),
        }
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn timer(&mut self, thread: ThreadId, slot: u32) -> Result<(ObjectId, &mut Timer), Error> {
        let object = self
            .cap_cold(thread, slot, ObjectKind::Timer, Rights::CONTROL)?
            .object;
        match self.objects.get_mut(object as usize) {
            Some(Object::Timer(timer)) => Ok((object, timer)),
            _ => Err(Error::WrongKind),
        }
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn timer_arm(&mut self, thread: ThreadId, args: [u32; 5]) -> Outcome {
        let (delay, period) = match args[3] {
            0 => (u64::from(args[1]), u64::from(args[2])),
            1 => (self.ticks_for_us(args[1]), self.ticks_for_us(args[2])),
            _ => return err(Error::BadArgument),
        };
        let now = self.now();
        match self.timer(thread, args[0]) {
            Ok((object, timer)) => {
                timer.arm(now, delay, period);
                if let Some(deadline) = timer.deadline() {
                    self.timers.insert(object as usize, deadline);
                    self.note_timers_changed();
                }
                ok(0)
            }
            Err(error) => err(error),
        }
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn timer_cancel(&mut self, thread: ThreadId, slot: u32) -> Outcome {
        match self.timer(thread, slot) {
            Ok((object, timer)) => {
                timer.cancel();
                self.timers.remove(object as usize);
                self.note_timers_changed();
                ok(0)
            }
            Err(error) => err(error),
        }
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn region(
        &self,
        thread: ThreadId,
        slot: u32,
        rights: Rights,
    ) -> Result<(ObjectId, u32, u32, Cache), Error> {
        let cap = self.cap_cold(thread, slot, ObjectKind::Memory, rights)?;
        match self.objects.get(cap.object as usize) {
            Some(Object::Memory {
                pa, size, cache, ..
            }) => Ok((cap.object, *pa, *size, *cache)),
            _ => Err(Error::WrongKind),
        }
    }

    /// Map region `slot` of `thread` at `va` with `rights` (READ, maybe WRITE).
    /// A region not declared shared is writable in one live service at a
    /// time: a second writable map is refused with `MissingRight`.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn mem_map(
        &mut self,
        thread: ThreadId,
        slot: u32,
        va: u32,
        rights: u32,
    ) -> Result<(), Error> {
        let rights = Rights::from_bits(rights)
            .filter(|r| r.contains(Rights::READ))
            .ok_or(Error::BadArgument)?;
        let (object, pa, size, cache) = self.region(thread, slot, rights)?;
        let thread = self.space(thread);
        let end = va.checked_add(size).ok_or(Error::BadAddress)?;
        if !va.is_multiple_of(PAGE_SIZE) || va < REGION_WINDOW.0 || end > REGION_WINDOW.1 {
            return Err(Error::BadAddress);
        }
        let service = &mut self.services[thread];
        if service.regions.iter().any(|region| region.object == object) {
            return Err(Error::SlotInUse);
        }
        if service.regions.is_full() {
            return Err(Error::BadArgument);
        }
        if rights.contains(Rights::WRITE) && self.mapped_writable_elsewhere(thread, object) {
            return Err(Error::MissingRight);
        }
        let service = &mut self.services[thread];
        let access = if rights.contains(Rights::WRITE) {
            Access::ReadWrite
        } else {
            Access::Read
        };
        let cache = cache_mode(cache);
        service
            .tables
            .as_mut()
            .ok_or(Error::BadAddress)?
            .map(Mapping {
                va,
                pa,
                len: size,
                ring: USER_RING,
                access,
                cache,
            })
            .map_err(|error| match error {
                MapError::OutOfTables => Error::OutOfTables,
                _ => Error::BadAddress,
            })?;
        let _ = service.regions.push(RegionMapping {
            object,
            va,
            len: size,
            writable: access == Access::ReadWrite,
            #[cfg(target_arch = "xtensa")]
            pad: 0,
        });
        Ok(())
    }

    /// Whether a private (not shared) region is mapped writable by a live
    /// service other than `thread` (a service's number): a capability with
    /// WRITE, copied to another service, still does not make two writers.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn mapped_writable_elsewhere(&self, thread: ThreadId, object: ObjectId) -> bool {
        if let Some(Object::Memory { shared: true, .. }) = self.objects.get(object as usize) {
            return false;
        }
        self.services.iter().enumerate().any(|(other, service)| {
            other != thread
                && service.ending.is_none()
                && service
                    .regions
                    .iter()
                    .any(|region| region.object == object && region.writable)
        })
    }

    /// Unmap region `object` from service `space`.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn unmap_region(&mut self, space: usize, object: ObjectId) -> Result<(), Error> {
        let service = &mut self.services[space];
        let index = service
            .regions
            .iter()
            .position(|region| region.object == object)
            .ok_or(Error::BadArgument)?;
        let region = service.regions.swap_remove(index);
        if let Some(tables) = &mut service.tables {
            let _ = tables.unmap(region.va, region.len);
        }
        self.hw.flush_tlb();
        Ok(())
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn mem_unmap(&mut self, thread: ThreadId, slot: u32) -> Result<(), Error> {
        let (object, ..) = self.region(thread, slot, Rights::empty())?;
        self.unmap_region(self.space(thread), object)
    }

    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn mem_info(&mut self, thread: ThreadId, slot: u32) -> Outcome {
        match self.region(thread, slot, Rights::empty()) {
            Ok((object, _, size, _)) => {
                let va = self.services[self.space(thread)]
                    .regions
                    .iter()
                    .find(|r| r.object == object)
                    .map_or(0, |r| r.va);
                Outcome::Return(Ok([va, size, 0, 0, 0]))
            }
            Err(error) => err(error),
        }
    }

    /// For a call by `caller` on `endpoint`: whether a thread of a live
    /// service other than the caller can receive on it (a thread blocked in
    /// its own call can never answer it; another thread of its service
    /// can), and the least urgent priority
    /// (highest number) among the live services that can (0 when none). A
    /// call runs only where every possible server is at least as urgent as
    /// the caller: the build checks this for `system.toml`'s grants, this
    /// for capabilities handed over at run time. Read from the summary
    /// [`Self::after_install`] and [`Self::refresh_receiver`] keep, not from the tables.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn receivers(&self, endpoint: ObjectId, caller: ThreadId) -> (bool, u8) {
        match self.objects.get(endpoint as usize) {
            Some(Object::Endpoint(queue)) => (
                u32::from(queue.holders) & !(1 << caller) != 0,
                queue.least_urgent,
            ),
            _ => (false, 0),
        }
    }

    /// The priority a service serves at: its own (its main thread's).
    /// Its further threads may receive too; those less urgent than the
    /// service are the service's own choice, as its clients are checked
    /// against the service's priority (the build does the same).
    #[inline]
    fn least_urgent_of(&self, space: usize) -> u8 {
        self.sched.priority(space)
    }

    /// Recompute whether service `space` can receive on `endpoint` (a pass
    /// over its own table), after a capability of its on it went or it
    /// ended; the least urgent priority follows from the holders.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn refresh_receiver(&mut self, endpoint: ObjectId, space: usize) {
        if space >= MAX_SERVICES {
            return;
        }
        let holds = self
            .services
            .get(space)
            .is_some_and(|service| service.ending.is_none())
            && self.one_cap_holds(space, endpoint, Rights::RECEIVE);
        let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize) else {
            return;
        };
        let bits = self.services[space].thread_mask;
        queue.holders = if holds {
            queue.holders | bits
        } else {
            queue.holders & !bits
        };
        let holders = queue.holders;
        let mut least_urgent = 0;
        let mut rest = holders;
        while rest != 0 {
            let holder = rest.trailing_zeros() as usize;
            least_urgent = least_urgent.max(self.least_urgent_of(self.space(holder)));
            rest &= rest - 1;
        }
        if let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize) {
            queue.least_urgent = least_urgent;
        }
    }

    /// A capability was installed at `at`: it can only add to what its
    /// service may do, so the summaries grow by it (no rescan) — the
    /// entry's word for the slot, the clock holders, an endpoint's
    /// receivers.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn after_install(&mut self, at: CapRef) {
        self.refresh_fast(at);
        let Ok(cap) = self.caps.get(at).copied() else {
            return;
        };
        let space = usize::from(at.space);
        if cap.kind == ObjectKind::Clock
            && cap.rights.contains(Rights::READ)
            && space < MAX_SERVICES
        {
            self.set_clock_holders(self.clock_holders | self.threads_of(space));
        }
        let (least, bits) = (
            self.least_urgent_of(space),
            self.services[space].thread_mask,
        );
        if cap.kind == ObjectKind::Endpoint
            && cap.rights.contains(Rights::RECEIVE)
            && self
                .services
                .get(space)
                .is_some_and(|service| service.ending.is_none())
            && let Some(Object::Endpoint(queue)) = self.objects.get_mut(cap.object as usize)
        {
            queue.holders |= bits;
            queue.least_urgent = queue.least_urgent.max(least);
        }
    }

    /// Fail the callers queued on `endpoint` that nobody else can answer.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn fail_orphaned_callers(&mut self, endpoint: ObjectId) {
        let Some(Object::Endpoint(queue)) = self.objects.get(endpoint as usize) else {
            return;
        };
        // As many as the queue holds (pushes cannot fail); not `collect`,
        // whose overflow panic would link `core::fmt` into the kernel.
        let mut callers: Vec<ThreadId, MAX_THREADS> = Vec::new();
        for caller in queue.callers.iter() {
            let _ = callers.push(usize::from(*caller));
        }
        for caller in callers {
            if !self.receivers(endpoint, caller).0 {
                if let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize) {
                    queue.forget(caller);
                }
                self.wake_with(caller, Err(Error::PeerGone));
            }
        }
    }

    /// Move a message from `from` (registers a5..a7, its IPC buffer, maybe
    /// a capability) to `to`. `info` is the sender's; `recv_slot` where `to`
    /// takes a capability. Returns the info `to` sees.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn transfer(&mut self, from: ThreadId, to: ThreadId, info: MsgInfo, recv_slot: u8) -> MsgInfo {
        let words = [
            self.threads[from].frame.a[5],
            self.threads[from].frame.a[6],
            self.threads[from].frame.a[7],
        ];
        self.threads[to].frame.a[5..8].copy_from_slice(&words);
        let len = info.len.min(IPC_PAYLOAD_MAX);
        if len > 0 {
            let mut payload = [0u8; 256];
            let (source, target) = (
                self.services[self.space(from)].ipc_buffer,
                self.services[self.space(to)].ipc_buffer,
            );
            let mut done = 0;
            while done < u32::from(len) {
                let take = (u32::from(len) - done).min(payload.len() as u32);
                payload[..take as usize].copy_from_slice(self.hw.phys(source + done, take));
                self.hw
                    .phys(target + done, take)
                    .copy_from_slice(&payload[..take as usize]);
                done += take;
            }
        }
        let mut received = MsgInfo {
            recv_slot,
            ..MsgInfo::new(len)
        };
        received.cap_received = self.pass_cap(from, info.send_cap, to, recv_slot);
        received
    }

    /// The capability part of a message: a copy of `from`'s slot
    /// `send_cap` (same rights and badge) into `to`'s slot `recv_slot`,
    /// when both name a slot and the copy is allowed; whether it arrived.
    pub(crate) fn pass_cap(
        &mut self,
        from: ThreadId,
        send_cap: u8,
        to: ThreadId,
        recv_slot: u8,
    ) -> bool {
        if send_cap == NO_SLOT || recv_slot == NO_SLOT {
            return false;
        }
        let source = CapRef {
            space: self.space(from) as u8,
            slot: send_cap,
        };
        let target = CapRef {
            space: self.space(to) as u8,
            slot: recv_slot,
        };
        let Ok(cap) = self.caps.get(source).copied() else {
            return false;
        };
        let arrived = self.caps.derive(source, target, cap.rights, None).is_ok();
        if arrived {
            self.after_install(target);
        }
        arrived
    }

    /// Check a message's own fields before anything is queued.
    #[inline(never)]
    pub(crate) fn check_message(&self, thread: ThreadId, info: MsgInfo) -> Result<(), Error> {
        if info.len > IPC_PAYLOAD_MAX {
            return Err(Error::BadLength);
        }
        if info.send_cap != NO_SLOT {
            let cap = self.caps.get(CapRef {
                space: self.space(thread) as u8,
                slot: info.send_cap,
            })?;
            if !cap.rights.contains(Rights::GRANT) {
                return Err(Error::MissingRight);
            }
        }
        if info.recv_slot != NO_SLOT {
            CapSpaces::<MAX_SERVICES>::slot_ref(
                self.space(thread) as u8,
                u32::from(info.recv_slot),
            )?;
        }
        Ok(())
    }

    /// (Compiled for size: the entry's and the light path's fast IPC
    /// take the frequent cases; these take the rest.)
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn ipc_call(&mut self, thread: ThreadId, args: [u32; 5], until: Option<u64>) -> Outcome {
        let cap = match self.cap_cold(thread, args[0], ObjectKind::Endpoint, Rights::SEND) {
            Ok(cap) => cap,
            Err(error) => return err(error),
        };
        let info = MsgInfo::decode(args[1]);
        if let Err(error) = self.check_message(thread, info) {
            return err(error);
        }
        let (answerable, least_urgent) = self.receivers(cap.object, thread);
        if !answerable {
            return err(Error::PeerGone);
        }
        if least_urgent > self.sched.priority(thread) {
            return err(Error::PriorityInversion);
        }
        let Some(Object::Endpoint(endpoint)) = self.objects.get_mut(cap.object as usize) else {
            return err(Error::WrongKind);
        };
        match endpoint.next_receiver() {
            Some(server) => {
                if let Wait::ReceiverOrSignal { notification, .. } = self.threads[server].wait
                    && let Some(Object::Notification(waiters)) =
                        self.objects.get_mut(notification as usize)
                {
                    waiters.forget(server);
                }
                let recv_slot = MsgInfo::decode(self.threads[server].frame.a[4]).recv_slot;
                let delivered = self.transfer(thread, server, info, recv_slot);
                self.threads[server].set_reply_to(Some(thread));
                let words = self.threads[server].frame.a;
                self.wake_with(
                    server,
                    Ok([cap.badge, delivered.encode(), words[5], words[6], words[7]]),
                );
                self.threads[thread].wait = Wait::Reply(server as ThreadNo);
            }
            None => {
                let _ = endpoint.callers.push_back(thread as u8);
                self.threads[thread].wait = Wait::Caller(cap.object);
            }
        }
        self.sched.block_current(until);
        Outcome::Blocked
    }

    /// (Compiled for size: the entry's and the light path's fast IPC
    /// take the frequent cases; these take the rest.)
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn ipc_recv(
        &mut self,
        thread: ThreadId,
        slot: u32,
        raw_info: u32,
        signal_slot: Option<u32>,
    ) -> Outcome {
        let cap = match self.cap_cold(thread, slot, ObjectKind::Endpoint, Rights::RECEIVE) {
            Ok(cap) => cap,
            Err(error) => return err(error),
        };
        let notification = match signal_slot
            .map(|slot| self.cap_cold(thread, slot, ObjectKind::Notification, Rights::RECEIVE))
        {
            Some(Ok(cap)) => Some(cap.object),
            Some(Err(error)) => return err(error),
            None => None,
        };
        // Pending bits first: signals (ticks) are the time-critical input.
        if let Some(object) = notification
            && let Some(Object::Notification(bits)) = self.objects.get_mut(object as usize)
        {
            let pending = bits.poll();
            if pending != 0 {
                return ok_regs(self.signalled_regs(thread, pending));
            }
        }
        let info = MsgInfo::decode(raw_info);
        if let Err(error) = self.check_message(
            thread,
            MsgInfo {
                send_cap: NO_SLOT,
                len: 0,
                ..info
            },
        ) {
            return err(error);
        }
        if self.threads[thread].reply_to().is_some() {
            return err(Error::BadArgument);
        }
        let mut next = self.next_caller(cap.object);
        // A receiver less urgent than a queued caller (it got RECEIVE after
        // the call was queued) may not serve it.
        while let Some(caller) = next
            && self.sched.priority(caller) < self.sched.priority(thread)
        {
            self.wake_with(caller, Err(Error::PriorityInversion));
            next = self.next_caller(cap.object);
        }
        match next {
            Some(caller) => {
                let caller_info = MsgInfo::decode(self.threads[caller].frame.a[4]);
                let badge = self.caller_badge(caller, self.threads[caller].frame.a[3]);
                let delivered = self.transfer(caller, thread, caller_info, info.recv_slot);
                self.threads[thread].set_reply_to(Some(caller));
                self.threads[caller].wait = Wait::Reply(thread as ThreadNo);
                let words = self.threads[thread].frame.a;
                ok_regs([badge, delivered.encode(), words[5], words[6], words[7]])
            }
            None => {
                let Some(Object::Endpoint(endpoint)) = self.objects.get_mut(cap.object as usize)
                else {
                    return err(Error::WrongKind);
                };
                if core::mem::take(&mut endpoint.notice) != 0 {
                    return err(Error::PeerRestarted);
                }
                let _ = endpoint.receivers.push_back(thread as u8);
                self.threads[thread].frame.a[4] = raw_info;
                self.threads[thread].wait = match notification {
                    Some(object) => {
                        if let Some(Object::Notification(waiters)) =
                            self.objects.get_mut(object as usize)
                        {
                            let _ = waiters.wait(thread);
                        }
                        Wait::ReceiverOrSignal {
                            endpoint: cap.object,
                            notification: object,
                        }
                    }
                    None => Wait::Receiver(cap.object),
                };
                self.sched.block_current(None);
                Outcome::Blocked
            }
        }
    }

    /// The results of a `RecvOrWait` that took notification bits `bits`:
    /// a3 = 0, a4 = info (`signalled`), a5 = the bits, a6 = CCOUNT now (0
    /// unless `thread` holds a clock capability), a7 = the tick count (low
    /// 32 bits): what a tick-driven server reads first, without a syscall.
    #[inline(never)]
    fn signalled_regs(&self, thread: ThreadId, bits: u32) -> Regs {
        let info = MsgInfo {
            signalled: true,
            ..MsgInfo::new(0)
        };
        [
            0,
            info.encode(),
            bits,
            self.cycles_for(thread),
            self.ticks as u32,
        ]
    }

    /// Take the next caller queued on `endpoint`, if any.
    fn next_caller(&mut self, endpoint: ObjectId) -> Option<ThreadId> {
        match self.objects.get_mut(endpoint as usize) {
            Some(Object::Endpoint(queue)) => queue.next_caller(),
            _ => None,
        }
    }

    /// The badge of the endpoint capability `caller` called through.
    fn caller_badge(&self, caller: ThreadId, slot: u32) -> u32 {
        CapSpaces::<MAX_SERVICES>::slot_ref(self.space(caller) as u8, slot)
            .and_then(|at| self.caps.get(at).map(|cap| cap.badge))
            .unwrap_or(0)
    }

    /// Reply to the caller `thread` received from; whether it got the
    /// reply (`false`: it no longer waits for it, the reply is dropped).
    /// (Compiled for size: the entry's and the light path's fast IPC
    /// take the frequent cases; these take the rest.)
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn ipc_reply(&mut self, thread: ThreadId, args: [u32; 5]) -> Result<bool, Error> {
        let caller = self.threads[thread].reply_to().ok_or(Error::BadArgument)?;
        let info = MsgInfo::decode(args[1]);
        self.check_message(
            thread,
            MsgInfo {
                recv_slot: NO_SLOT,
                ..info
            },
        )?;
        self.threads[thread].set_reply_to(None);
        if self.threads[caller].wait != Wait::Reply(thread as ThreadNo) {
            return Ok(false); // the caller timed out or ended meanwhile
        }
        let recv_slot = MsgInfo::decode(self.threads[caller].frame.a[4]).recv_slot;
        let delivered = self.transfer(thread, caller, info, recv_slot);
        let words = self.threads[caller].frame.a;
        // a4: CCOUNT as the reply is delivered, for a caller that may read
        // it (`Syscall::Call`): it times the call without a `Cycles` call.
        let cycles = self.cycles_for(caller);
        self.wake_with(
            caller,
            Ok([delivered.encode(), cycles, words[5], words[6], words[7]]),
        );
        Ok(true)
    }

    /// Tick `now` has come (one or more ticks since the last call): wake
    /// sleepers and time out waits that are due, time-slice, fire the
    /// timers that are due (a periodic one as many times as it expired).
    /// Only what is due is looked at: the cost does not grow with the
    /// number of objects or threads.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn tick(&mut self, now: u64) {
        if now > self.ticks {
            self.ticks = now;
        }
        // One compare against the head of the timeout queue when nothing
        // is due (the common case: a timer fired).
        if self.sched.timeout_due(now) {
            while let Some((thread, timed_out)) = self.sched.wake_expired(now) {
                if timed_out {
                    self.time_out(thread);
                }
            }
        }
        self.sched.slice();
        while let Some((index, deadline)) = self.timers.peek() {
            if deadline > now {
                break;
            }
            let Some(Object::Timer(timer)) = self.objects.get_mut(index) else {
                self.timers.remove(index);
                continue;
            };
            let expired = timer.expire(now);
            let target = timer.target;
            // A periodic timer stays queued: its entry moves, mostly in
            // place (it stays first).
            match timer.deadline() {
                Some(next) => self.timers.advance_head(next),
                None => {
                    self.timers.remove(index);
                }
            }
            for _ in 0..expired {
                match target {
                    TimerTarget::Notify { object, bits } => self.signal(object, bits),
                    TimerTarget::Give { object } => {
                        let _ = self.give(object);
                    }
                }
            }
        }
    }

    /// `thread`'s wait timed out (rare: out of the tick's loop).
    #[cold]
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn time_out(&mut self, thread: ThreadId) {
        self.leave_wait(thread);
        self.set_result(thread, Err(Error::TimedOut));
    }

    /// The plan for the alarm set for tick `alarm` (see [`TickPlan`]),
    /// with the kernel's own next deadline at `own` and alarms at most
    /// `most_ahead` ticks ahead; [`TickPlan::NONE`] where it does not
    /// apply. Reads only (stale timeouts count: a bound is enough).
    pub fn planned(&self, alarm: u64, own: u64, most_ahead: u32) -> TickPlan {
        // Only where nothing times out (the test first: it is the cheap
        // way out for systems with timeouts, such as the LL scheduler's).
        if self.sched.has_timeouts() {
            return TickPlan::NONE;
        }
        let Some((index, deadline)) = self.timers.peek() else {
            return TickPlan::NONE;
        };
        let Some(Object::Timer(timer)) = self.objects.get(index) else {
            return TickPlan::NONE;
        };
        let TimerTarget::Notify { object, bits } = timer.target else {
            return TickPlan::NONE;
        };
        let period = timer.period();
        if deadline != alarm || bits == 0 || period == 0 || period > u64::from(most_ahead) {
            return TickPlan::NONE;
        }
        let others = self.timers.second().map_or(own, |second| second.min(own));
        let headroom = crate::timer::ticks_ahead(alarm, others);
        if u64::from(headroom) <= period {
            return TickPlan::NONE;
        }
        TickPlan {
            tick: alarm,
            timer: index as u16,
            notification: object,
            bits,
            period: period as u32,
            headroom,
            timers_version: self.timers.version(),
            timeouts_version: self.sched.timeouts_version(),
        }
    }

    /// Make the plan for an alarm at tick `alarm` ([`Kernel::planned`]).
    /// Out of line: made once, followed for many ticks.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn plan_tick(&mut self, alarm: u64, own: u64, most_ahead: u32) {
        self.plan = self.planned(alarm, own, most_ahead);
    }

    /// The plan the idle interrupt follows ([`Kernel::express_tick`]).
    pub fn plan(&self) -> TickPlan {
        self.plan
    }

    /// [`Kernel::tick`] at `now` (the tick the alarm is set for; `own` the
    /// kernel's own next deadline, alarms at most `most_ahead` ticks
    /// ahead) followed by [`Scheduler::schedule`], when
    /// [`Kernel::prepare_express`] finds they come to its
    /// [`ExpressWake`]: [`Kernel::commit_express`] of it. Returns the thread
    /// that runs and the ticks to the next alarm (the plan moves on to
    /// it), or `None` with nothing changed (the full path decides). The
    /// differential test in `fastpath/tests.rs` holds it to the full one.
    #[inline]
    pub fn express_tick(&mut self, now: u64, own: u64, most_ahead: u32) -> Option<(ThreadId, u32)> {
        let wake = self.prepare_express(now, own, most_ahead)?;
        self.commit_express(&wake);
        Some((wake.waiter, wake.ahead))
    }

    /// Whether the express tick applies at `now` (see
    /// [`Kernel::express_tick`]), and what it then writes: the plan for it
    /// ([`Kernel::planned`], kept from the last tick while the deadline
    /// queues are unchanged, else made anew) holds, the CPU is idle with
    /// nothing ready, the plan's periodic timer is due now and the earliest
    /// deadline after it re-arms (by `period` ticks), its notification's
    /// oldest waiter waits for it ([`Wait::Notification`] or
    /// [`Wait::ReceiverOrSignal`], no time limit). Changes nothing but the
    /// plan (a cache). The idle loop prepares and commits it before it
    /// waits (nothing else runs until the interrupt, which only takes it:
    /// `prepare_idle`, kernel/src/main.rs).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn prepare_express(&mut self, now: u64, own: u64, most_ahead: u32) -> Option<ExpressWake> {
        if !self.sched.idle_and_nothing_ready() {
            return None;
        }
        if self.plan.tick != now
            || self.plan.timers_version != self.timers.version()
            || self.plan.timeouts_version != self.sched.timeouts_version()
        {
            self.plan_tick(now, own, most_ahead);
            if self.plan.tick != now {
                return None;
            }
        }
        let plan = self.plan;
        let object = plan.notification;
        let Some(Object::Notification(notification)) = self.objects.get(usize::from(object)) else {
            return None;
        };
        let waiter = notification.first_waiter()?;
        let delivered = notification.pending() | plan.bits;
        let endpoint = match self.threads.get(waiter)?.wait {
            Wait::Notification(on) if on == object => None,
            Wait::ReceiverOrSignal {
                endpoint,
                notification: on,
            } if on == object => Some(endpoint),
            _ => return None,
        };
        // (No timeout is queued: the plan was made with none, and the
        // queue's version is the same.)
        if !self.sched.blocked_untimed(waiter) {
            return None;
        }
        Some(ExpressWake {
            waiter,
            ahead: plan.period,
            tick: now,
            next: now + u64::from(plan.period),
            delivered,
            endpoint,
        })
    }

    /// The express tick `wake` ([`Kernel::prepare_express`], made since
    /// nothing changed): what [`Kernel::tick`] and [`Scheduler::schedule`]
    /// would do. (The idle loop commits it before the interrupt comes:
    /// nothing else runs until then.)
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn commit_express(&mut self, wake: &ExpressWake) {
        let plan = self.plan;
        let waiter = wake.waiter;
        if wake.tick > self.ticks {
            self.ticks = wake.tick;
        }
        if let Some(Object::Timer(timer)) = self.objects.get_mut(usize::from(plan.timer)) {
            timer.fire_once(wake.next);
        }
        self.timers.advance_head_in_place(wake.next);
        // The same plan for the next expiry (nothing else moved), while
        // the timer stays ahead of every other deadline after it.
        let headroom = plan.headroom - plan.period;
        self.plan.tick = if headroom > plan.period {
            wake.next
        } else {
            TickPlan::NONE.tick
        };
        self.plan.headroom = headroom;
        self.plan.timers_version = self.timers.version();
        if let Some(Object::Notification(notification)) =
            self.objects.get_mut(usize::from(plan.notification))
        {
            notification.hand_to_first();
        }
        match wake.endpoint {
            None => {
                // `set_result` of a plain wait's bits, in place.
                if let Some(thread) = self.threads.get_mut(waiter) {
                    thread.frame.a[2..8].copy_from_slice(&[0, wake.delivered, 0, 0, 0, 0]);
                }
            }
            Some(endpoint) => {
                if let Some(Object::Endpoint(queue)) = self.objects.get_mut(usize::from(endpoint)) {
                    queue.forget(waiter);
                }
                let result = self.signalled_regs(waiter, wake.delivered);
                self.set_result(waiter, Ok(result));
            }
        }
        if let Some(thread) = self.threads.get_mut(waiter) {
            thread.wait = Wait::None;
        }
        self.sched.run_woken(waiter);
    }

    /// The word of `wake`'s waiter's results that gets the cycle counter
    /// when it runs (a clock holder's signalled receive: the count as the
    /// interrupt reads it, not as the idle loop did), if any.
    pub fn express_cycles_slot(&mut self, wake: &ExpressWake) -> Option<&mut u32> {
        if wake.endpoint.is_none() || self.clock_holders & (1 << wake.waiter) == 0 {
            return None;
        }
        // `signalled_regs`: a3..a7 = [0, info, bits, cycles, ticks].
        self.threads
            .get_mut(wake.waiter)
            .map(|thread| &mut thread.frame.a[6])
    }

    /// The earliest tick anything waits for: a timer expiry, a sleep's
    /// end, a wait's timeout. (Time slices are the caller's: see
    /// [`Scheduler::slice_wanted`].)
    pub fn next_due(&mut self) -> Option<u64> {
        // (The timeouts first: their out-of-line part is then called from
        // one place, not once per case of the timers' head.)
        let timeout = self.sched.next_timeout();
        earliest(self.timers.earliest(), timeout)
    }

    /// Tell the scheduler (which decides when the alarm is set again) if
    /// the earliest timer changed.
    pub(crate) fn note_timers_changed(&mut self) {
        if self.timers.take_changed() {
            self.sched.deadlines_changed();
        }
    }

    /// Where the timer `object` is queued (checks).
    pub fn queued_timer(&self, object: ObjectId) -> Option<u64> {
        self.timers.deadline(object as usize)
    }

    /// Take `thread` out of whatever queue it waits in (it ended, timed
    /// out, or lost the capability it waited through); its wait is `None`
    /// afterwards. A caller waiting for a reply leaves the server's
    /// `reply_to` in place: the reply finds no one and is dropped.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn leave_wait(&mut self, thread: ThreadId) {
        match self.threads[thread].wait {
            Wait::Notification(object) => {
                if let Some(Object::Notification(notification)) =
                    self.objects.get_mut(object as usize)
                {
                    notification.forget(thread);
                }
            }
            Wait::Semaphore(object) => {
                if let Some(Object::Semaphore(semaphore)) = self.objects.get_mut(object as usize) {
                    semaphore.forget(thread);
                }
            }
            Wait::Caller(object) | Wait::Receiver(object) => {
                if let Some(Object::Endpoint(endpoint)) = self.objects.get_mut(object as usize) {
                    endpoint.forget(thread);
                }
            }
            Wait::ReceiverOrSignal {
                endpoint,
                notification,
            } => {
                if let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize) {
                    queue.forget(thread);
                }
                if let Some(Object::Notification(waiters)) =
                    self.objects.get_mut(notification as usize)
                {
                    waiters.forget(thread);
                }
            }
            Wait::Reply(_) | Wait::None => {}
        }
        self.threads[thread].wait = Wait::None;
    }

    /// Stop a service (`thread`'s; every thread of it): they leave every
    /// queue, threads waiting on them learn they are gone, and its
    /// capabilities go (what others derived from them stays).
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn end_service(&mut self, thread: ThreadId, ending: Ending) {
        let space = self.space(thread);
        self.services[space].ending = Some(ending);
        let mut threads = self.threads_of(space);
        while threads != 0 {
            let thread = threads.trailing_zeros() as usize;
            threads &= threads - 1;
            self.sched.end(thread);
            self.leave_wait(thread);
            // (`matches!`, not `==`: the derived comparison is an
            // out-of-line function only this would call.)
            if let Some(caller) = self.threads[thread].take_reply_to()
                && matches!(self.threads[caller].wait, Wait::Reply(server) if usize::from(server) == thread)
            {
                self.wake_with(caller, Err(Error::PeerGone));
            }
        }
        // One per slot at most (pushes cannot fail; see above).
        let mut endpoints: Vec<ObjectId, CAP_SLOTS> = Vec::new();
        for (_, cap) in self.caps.iter_space(space as u8) {
            if cap.kind == ObjectKind::Endpoint {
                let _ = endpoints.push(cap.object);
            }
        }
        self.caps.clear_space(space as u8);
        if let Some(row) = self.fast_caps.get_mut(space) {
            row.fill(FastSlot::ZERO);
        }
        self.refresh_clock(space);
        for endpoint in endpoints {
            self.refresh_receiver(endpoint, space);
            self.fail_orphaned_callers(endpoint);
        }
    }
}

/// How reports name `thread`: its service's name, then `/` and its own if
/// it is not the main thread (three pieces of a line: `pipeline`, `/`,
/// `fir`). (Exit code: `report_running`.)
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.kernel_names")
)]
pub fn names<'k>(
    threads: &'k Threads,
    services: &'k Services,
    thread: ThreadId,
) -> (&'k str, &'k str, &'k str) {
    let own = threads[thread].name.as_str();
    let service = services[usize::from(threads[thread].service)].name.as_str();
    (service, if own.is_empty() { "" } else { "/" }, own)
}

/// The page attribute of a region's cache setting.
fn cache_mode(cache: Cache) -> CacheMode {
    match cache {
        Cache::Cached => CacheMode::WriteBack,
        Cache::Uncached => CacheMode::Bypass,
    }
}

fn ok_regs(values: Regs) -> Outcome {
    Outcome::Return(Ok(values))
}

/// Where a new service's IPC buffer goes (for loaders).
pub const fn ipc_buffer_va() -> u32 {
    IPC_BUFFER_VA
}

/// `micros * hz / 10^6`, rounded up, with 32-bit divisions only: a 64-bit
/// one is a 1 KiB library routine on this core. Whole seconds apart, the
/// rest of the product is split in base-1000 digits so no part overflows.
#[inline(always)]
fn ticks_for_us(micros: u32, hz: u32) -> u64 {
    const MILLION: u32 = 1_000_000;
    // A tick of whole microseconds (any rate dividing 1 MHz, 1 kHz among
    // them): one division, no 64-bit multiply (a library call here, on the
    // path of every timed call).
    if MILLION.is_multiple_of(hz) {
        return u64::from(micros.div_ceil(MILLION / hz));
    }
    ticks_for_us_any_rate(micros, hz)
}

/// `a * b` in full, from four 32-bit products of 16-bit halves: a 64-bit
/// `*` is a library call on the target (`__muldi3`, 110 bytes of resident
/// code), and nothing that multiplies here is on a fast path.
pub fn wide_mul(a: u32, b: u32) -> u64 {
    let (a_high, a_low) = (a >> 16, a & 0xFFFF);
    let (b_high, b_low) = (b >> 16, b & 0xFFFF);
    let middle = u64::from(a_high * b_low) + u64::from(a_low * b_high);
    (u64::from(a_high * b_high) << 32) + (middle << 16) + u64::from(a_low * b_low)
}

/// [`ticks_for_us`] at a rate that does not divide 1 MHz (out of line:
/// its registers would weigh on every timed call's prologue).
#[cold]
#[inline(never)]
fn ticks_for_us_any_rate(micros: u32, hz: u32) -> u64 {
    const MILLION: u32 = 1_000_000;
    let (secs, rest) = (micros / MILLION, micros % MILLION);
    let (hz_whole, hz_rest) = (hz / MILLION, hz % MILLION);
    // micros * hz = secs * hz * 10^6 + rest * hz_whole * 10^6 + rest * hz_rest.
    let whole = wide_mul(secs, hz) + wide_mul(rest, hz_whole);
    // rest * hz_rest = (high * 1000 + low) * hz_rest, each product < 10^9.
    let (high, low) = (rest / 1000, rest % 1000);
    let (a, b) = (high * hz_rest, low * hz_rest);
    // a * 1000 + b = (a / 1000) * 10^6 + ((a % 1000) * 1000 + b), the
    // last part < 10^6 + 10^9.
    let part = (a % 1000) * 1000 + b;
    whole + u64::from(a / 1000) + u64::from(part.div_ceil(MILLION))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_for_us_matches_64_bit_division() {
        let exact = |micros: u32, hz: u32| (u64::from(micros) * u64::from(hz)).div_ceil(1_000_000);
        let values = [
            0,
            1,
            7,
            999,
            1000,
            999_999,
            1_000_000,
            1_000_001,
            48_000,
            4_000_000,
            u32::MAX - 1,
            u32::MAX,
        ];
        for micros in values {
            for hz in values {
                assert_eq!(
                    super::ticks_for_us(micros, hz),
                    exact(micros, hz),
                    "{micros} us at {hz} Hz"
                );
            }
        }
        // Every rate with a whole number of microseconds per tick (its
        // own shortcut).
        for hz in (1..=1_000_000u32).filter(|hz| 1_000_000u32.is_multiple_of(*hz)) {
            for micros in values {
                assert_eq!(super::ticks_for_us(micros, hz), exact(micros, hz));
            }
        }
        proptest::proptest!(|(micros: u32, hz: u32)| {
            proptest::prop_assert_eq!(super::ticks_for_us(micros, hz), exact(micros, hz));
        });
    }

    #[test]
    fn wide_mul_is_the_64_bit_product() {
        for (a, b) in [
            (0, 0),
            (u32::MAX, u32::MAX),
            (u32::MAX, 1),
            (0x1_0000, 0xFFFF),
        ] {
            assert_eq!(super::wide_mul(a, b), u64::from(a) * u64::from(b));
        }
        proptest::proptest!(|(a: u32, b: u32)| {
            proptest::prop_assert_eq!(super::wide_mul(a, b), u64::from(a) * u64::from(b));
        });
    }

    use super::{Ending, Hardware, Kernel, Object, Wait};
    use crate::pagetable::{Access, CacheMode};
    use crate::sched::ThreadState;
    use crate::testkit::{
        REGION_PA, TestHw, add, add_thread, blocked, call, data_pa, grant, ipc_pa, kernel, status,
    };
    use sotto_abi::cap::{ObjectKind, Rights};
    use sotto_abi::layout::{PAGE_SIZE, USER_TEXT_BASE};
    use sotto_abi::manifest::{Cache, CapGrant, ObjectParams, TimerTarget};
    use sotto_abi::syscall::{MsgInfo, NO_SLOT};
    use sotto_abi::{Error, Syscall};

    #[test]
    fn no_service_can_start_a_line_under_another_name() {
        let mut k = kernel(&[ObjectParams::Console]);
        let a = add(&mut k, "a", 3, &[grant(0, 0, Rights::SEND)]);
        let b = add(&mut k, "b", 3, &[grant(0, 0, Rights::SEND)]);
        let write = |k: &mut Kernel<TestHw>, thread: usize, text: &[u8]| {
            k.hw.phys(data_pa(thread), text.len() as u32)
                .copy_from_slice(text);
            let len = text.len() as u32;
            assert_eq!(
                call(
                    k,
                    thread,
                    Syscall::ConsoleWrite,
                    [USER_TEXT_BASE, len, 0, 0, 0]
                ),
                (0, [len, 0, 0, 0, 0])
            );
        };
        write(&mut k, a, b"x");
        write(&mut k, b, b"done\n");
        write(&mut k, a, b"[kernel] forged\x1b[1A\n");
        write(&mut k, a, b"half");
        let message = b"oops\n[b] pcm AAAA";
        k.hw.phys(data_pa(b), message.len() as u32)
            .copy_from_slice(message);
        call(
            &mut k,
            b,
            Syscall::Panic,
            [USER_TEXT_BASE, message.len() as u32, 0, 0, 0],
        );
        assert_eq!(
            String::from_utf8(k.hw.console.clone()).unwrap(),
            "[a] x\n[b] done\n[a] [kernel] forged\\x1b[1A\n[a] half\n\
             [kernel] service b panicked: oops\\x0a[b] pcm AAAA\n"
        );
    }

    #[test]
    fn printing_needs_a_console_capability() {
        let mut k = kernel(&[ObjectParams::Console]);
        let speaker = add(&mut k, "speaker", 3, &[grant(0, 0, Rights::SEND)]);
        let mute = add(&mut k, "mute", 3, &[]);
        k.hw.phys(data_pa(speaker), 3).copy_from_slice(b"hi\n");
        assert_eq!(
            call(
                &mut k,
                speaker,
                Syscall::ConsoleWrite,
                [USER_TEXT_BASE, 3, 0, 0, 0]
            )
            .0,
            0
        );
        assert_eq!(k.hw.console, b"[speaker] hi\n");
        assert_eq!(
            call(
                &mut k,
                mute,
                Syscall::ConsoleWrite,
                [USER_TEXT_BASE, 3, 0, 0, 0]
            )
            .0,
            status(Error::MissingRight)
        );
        assert_eq!(
            call(
                &mut k,
                speaker,
                Syscall::ConsoleWrite,
                [0x0010_0000, 3, 0, 0, 0]
            )
            .0,
            status(Error::BadAddress)
        );
        assert_eq!(
            call(
                &mut k,
                speaker,
                Syscall::ConsoleWrite,
                [USER_TEXT_BASE, 5000, 0, 0, 0]
            )
            .0,
            status(Error::BadLength)
        );
    }

    #[test]
    fn capability_calls_and_their_errors() {
        let mut k = kernel(&[
            ObjectParams::Endpoint,
            ObjectParams::Semaphore { initial: 0, max: 1 },
        ]);
        let a = add(
            &mut k,
            "a",
            3,
            &[
                grant(0, 0, Rights::SEND | Rights::RECEIVE | Rights::GRANT),
                grant(1, 1, Rights::SEND),
            ],
        );
        let send = Rights::SEND.bits();
        assert_eq!(call(&mut k, a, Syscall::CapDerive, [0, 5, send, 9, 0]).0, 0);
        assert_eq!(
            call(&mut k, a, Syscall::CapInfo, [5, 0, 0, 0, 0]),
            (0, [ObjectKind::Endpoint as u32, send, 9, 0, 0])
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapDerive, [5, 6, send, 0, 0]).0,
            status(Error::MissingRight),
            "no GRANT"
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapDerive, [1, 6, send, 0, 0]).0,
            status(Error::MissingRight)
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapDerive, [0, 5, send, 0, 0]).0,
            status(Error::SlotInUse)
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapDerive, [0, 40, send, 0, 0]).0,
            status(Error::BadSlot)
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapDerive, [0, 7, 1 << 30, 0, 0]).0,
            status(Error::BadArgument)
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapDerive, [9, 7, send, 0, 0]).0,
            status(Error::EmptySlot)
        );
        assert_eq!(call(&mut k, a, Syscall::CapMove, [5, 8, 0, 0, 0]).0, 0);
        assert_eq!(
            call(&mut k, a, Syscall::CapRevoke, [0, 0, 0, 0, 0]),
            (0, [1, 0, 0, 0, 0])
        );
        assert_eq!(
            call(&mut k, a, Syscall::CapInfo, [8, 0, 0, 0, 0]).0,
            status(Error::EmptySlot)
        );
        assert_eq!(
            call(&mut k, a, Syscall::SemGive, [0, 0, 0, 0, 0]).0,
            status(Error::WrongKind)
        );
        assert_eq!(
            call(&mut k, a, Syscall::SemTake, [1, 0, 0, 0, 0]).0,
            status(Error::MissingRight)
        );
        assert_eq!(call(&mut k, a, Syscall::CapDelete, [1, 0, 0, 0, 0]).0, 0);
        assert_eq!(
            call(&mut k, a, Syscall::SemGive, [1, 0, 0, 0, 0]).0,
            status(Error::EmptySlot)
        );
        assert_eq!(
            call(&mut k, a, Syscall::Call, [8, 0, 0, 0, 0]).0,
            status(Error::EmptySlot)
        );
        assert_eq!(
            call(&mut k, a, Syscall::Call, [32, 0, 0, 0, 0]).0,
            status(Error::BadSlot)
        );
        assert_eq!(
            call(&mut k, a, 99_u32, [0; 5]).0,
            status(Error::UnknownSyscall)
        );
    }

    #[test]
    fn notification_wait_blocks_until_signalled() {
        let mut k = kernel(&[ObjectParams::Notification]);
        let waiter = add(&mut k, "waiter", 3, &[grant(0, 0, Rights::RECEIVE)]);
        let signaller = add(&mut k, "signaller", 3, &[grant(0, 0, Rights::SEND)]);
        assert_eq!(
            call(&mut k, waiter, Syscall::NotifyPoll, [0; 5]),
            (0, [0; 5])
        );
        call(&mut k, waiter, Syscall::NotifyWait, [0; 5]);
        assert!(blocked(&k, waiter));
        assert_eq!(
            call(
                &mut k,
                signaller,
                Syscall::NotifySignal,
                [0, 0b1010, 0, 0, 0]
            )
            .0,
            0
        );
        assert!(!blocked(&k, waiter));
        assert_eq!(&k.threads[waiter].frame.a[2..4], &[0, 0b1010]);
        assert_eq!(
            call(&mut k, signaller, Syscall::NotifyWait, [0; 5]).0,
            status(Error::MissingRight)
        );
    }

    /// Threads of one service share its capabilities and address space:
    /// one receives on an endpoint another calls (no other service can
    /// answer), and a secondary thread's calls go through the service's
    /// table; each thread has its own registers and wait.
    #[test]
    fn threads_of_a_service_share_its_capabilities() {
        let mut k = kernel(&[
            ObjectParams::Endpoint,
            ObjectParams::Notification,
            ObjectParams::Clock,
        ]);
        let other = add(&mut k, "other", 3, &[]);
        let service = add(
            &mut k,
            "pipeline",
            3,
            &[
                grant(0, 0, Rights::SEND | Rights::RECEIVE),
                grant(1, 1, Rights::SEND | Rights::RECEIVE),
                grant(2, 2, Rights::READ),
            ],
        );
        let fir = add_thread(&mut k, service, "fir", 3);
        assert_eq!((other, service, fir), (0, 1, 2));
        // Ceilings: the main thread's is its priority, as is a further
        // thread's given none.
        assert_eq!((k.sched.ceiling(service), k.sched.ceiling(fir)), (3, 3));
        assert_eq!(k.space(fir), service);
        assert_eq!(k.threads[fir].index, 1);
        assert_eq!(k.threads_of(service), 0b110);
        // The secondary thread reads the clock through its service's
        // capability; the other service holds none.
        assert_eq!(call(&mut k, fir, Syscall::Cycles, [0; 5]).0, 0);
        assert_eq!(
            call(&mut k, other, Syscall::Cycles, [0; 5]).0,
            status(Error::MissingRight)
        );
        // The main thread receives, the secondary one calls: answerable.
        call(&mut k, service, Syscall::Recv, [0, 0, 0, 0, 0]);
        assert!(blocked(&k, service));
        call(&mut k, fir, Syscall::Call, [0, 0, 10, 20, 30]);
        assert!(blocked(&k, fir));
        assert_eq!(&k.threads[service].frame.a[5..8], &[10, 20, 30]);
        assert_eq!(k.threads[service].reply_to(), Some(fir));
        assert_eq!(call(&mut k, service, Syscall::Reply, [0, 0, 7, 8, 9]).0, 0);
        assert!(!blocked(&k, fir));
        assert_eq!(&k.threads[fir].frame.a[5..8], &[7, 8, 9]);
        // And the other way round: the secondary thread waits on the
        // notification, the main one signals it.
        call(&mut k, fir, Syscall::NotifyWait, [1, 0, 0, 0, 0]);
        assert!(blocked(&k, fir));
        assert_eq!(k.threads[fir].wait, Wait::Notification(1));
        assert_eq!(
            call(&mut k, service, Syscall::NotifySignal, [1, 0b10, 0, 0, 0]).0,
            0
        );
        assert_eq!(&k.threads[fir].frame.a[2..4], &[0, 0b10]);
        // Services come before further threads (their main threads' numbers
        // are theirs).
        let main = crate::kernel::Thread::new(Default::default(), 3, 0, 0, "");
        assert_eq!(
            k.add_service(crate::kernel::Service::EMPTY, main, 3, &[]),
            Err(Error::BadArgument)
        );
    }

    /// A fault (or an exit) in any thread stops the whole service: every
    /// thread of it ends, leaves its queues, and a caller waiting for one
    /// of them learns the peer is gone; other services run on.
    #[test]
    fn ending_a_thread_ends_its_whole_service() {
        let mut k = kernel(&[ObjectParams::Endpoint, ObjectParams::Notification]);
        let client = add(&mut k, "client", 3, &[grant(0, 0, Rights::SEND)]);
        let service = add(
            &mut k,
            "pipeline",
            3,
            &[grant(0, 0, Rights::RECEIVE), grant(1, 1, Rights::RECEIVE)],
        );
        let echo = add_thread(&mut k, service, "echo", 3);
        let worker = add_thread(&mut k, service, "worker", 3);
        // Numbered as the build numbers them for thread capabilities.
        let further = [0, 2];
        assert_eq!(
            [echo, worker].map(Some),
            [1, 2].map(|thread| sotto_abi::manifest::thread_id(&further, service, thread))
        );
        // The echo thread serves the client (a payload arrives in its
        // service's IPC buffer); the worker waits.
        call(&mut k, echo, Syscall::Recv, [0, 0, 0, 0, 0]);
        k.hw.phys(ipc_pa(client), 4).copy_from_slice(b"ping");
        let info = MsgInfo::new(4).encode();
        call(&mut k, client, Syscall::Call, [0, info, 1, 2, 3]);
        assert_eq!(k.threads[echo].reply_to(), Some(client));
        assert_eq!(k.hw.phys(ipc_pa(service), 4), b"ping");
        call(&mut k, worker, Syscall::NotifyWait, [1, 0, 0, 0, 0]);
        assert!(blocked(&k, worker));
        // The main thread panics (a fault ends it the same way).
        k.end_service(service, Ending::Faulted);
        for thread in [service, echo, worker] {
            assert_eq!(k.sched.state(thread), ThreadState::Ended, "{thread}");
            assert_eq!(k.threads[thread].wait, Wait::None, "{thread}");
        }
        assert_eq!(k.services[service].ending, Some(Ending::Faulted));
        assert_eq!(k.threads[client].frame.a[2], status(Error::PeerGone));
        assert!(!blocked(&k, client));
        // Nobody receives on the endpoint any more.
        assert_eq!(
            call(&mut k, client, Syscall::Call, [0, 0, 0, 0, 0]).0,
            status(Error::PeerGone)
        );
        if let Object::Notification(notification) = &k.objects[1] {
            assert!(notification.waiters().next().is_none());
        }
        // A report names a further thread after its service.
        k.say(worker, &crate::text![" stopped"]);
        k.say(service, &crate::text![" stopped"]);
        let console = String::from_utf8_lossy(&k.hw.console).into_owned();
        assert!(
            console.contains("service pipeline/worker stopped"),
            "{console}"
        );
        assert!(console.contains("service pipeline stopped"), "{console}");
    }

    /// The entry's express paths index capabilities by thread number: a
    /// further thread has no fast words (its calls take the light path,
    /// which maps it to its service), and never parks as a receiver with
    /// an IPC frame the express `Call` could deliver a capability to.
    #[test]
    fn further_threads_take_no_express_path() {
        let mut k = kernel(&[
            ObjectParams::Endpoint,
            ObjectParams::Semaphore { initial: 0, max: 9 },
        ]);
        let service = add(
            &mut k,
            "pipeline",
            3,
            &[
                grant(0, 0, Rights::SEND | Rights::RECEIVE | Rights::GRANT),
                grant(1, 1, Rights::SEND | Rights::GRANT),
            ],
        );
        let fir = add_thread(&mut k, service, "fir", 3);
        assert_ne!(k.fast_row(service)[1].ops, 0);
        assert!(k.fast_row(fir).iter().all(|slot| slot.ops == 0));
        // Its give still works (the light path).
        assert_eq!(call(&mut k, fir, Syscall::SemGive, [1, 0, 0, 0, 0]).0, 0);
        assert!(k.sched.switch_to(fir));
        assert!(!k.express(Syscall::SemGive as u32, [1, 0, 0, 0, 0, 0]));
        assert!(!k.express(Syscall::CapDelete as u32, [1, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn semaphore_take_times_out_or_is_given() {
        let mut k = kernel(&[ObjectParams::Semaphore { initial: 1, max: 1 }]);
        let taker = add(&mut k, "taker", 3, &[grant(0, 0, Rights::RECEIVE)]);
        let giver = add(&mut k, "giver", 3, &[grant(0, 0, Rights::SEND)]);
        assert_eq!(call(&mut k, taker, Syscall::SemTake, [0, 0, 0, 0, 0]).0, 0);
        assert_eq!(
            call(&mut k, taker, Syscall::SemTake, [0, 0, 0, 0, 0]).0,
            status(Error::WouldBlock)
        );
        // Wait 3 ms at 1 kHz: times out at tick 3.
        call(&mut k, taker, Syscall::SemTake, [0, 3000, 0, 0, 0]);
        assert!(blocked(&k, taker));
        k.tick(2);
        assert!(blocked(&k, taker));
        k.tick(3);
        assert_eq!(k.threads[taker].frame.a[2], status(Error::TimedOut));
        // The timed-out waiter left the queue: a give now counts up.
        assert_eq!(call(&mut k, giver, Syscall::SemGive, [0; 5]).0, 0);
        assert_eq!(
            call(&mut k, giver, Syscall::SemGive, [0; 5]).0,
            status(Error::Overflow)
        );
        assert_eq!(
            call(&mut k, taker, Syscall::SemTake, [0, u32::MAX, 0, 0, 0]).0,
            0
        );
        // Forever: only a give ends the wait.
        call(&mut k, taker, Syscall::SemTake, [0, u32::MAX, 0, 0, 0]);
        k.tick(1000);
        assert!(blocked(&k, taker));
        assert_eq!(call(&mut k, giver, Syscall::SemGive, [0; 5]).0, 0);
        assert_eq!(k.threads[taker].frame.a[2], 0);
        assert!(!blocked(&k, taker));
    }

    #[test]
    fn periodic_timer_signals_on_its_exact_ticks() {
        let mut k = kernel(&[
            ObjectParams::Notification,
            ObjectParams::Timer {
                target: TimerTarget::Notify {
                    object: 0,
                    bits: 0b100,
                },
                start: None,
            },
        ]);
        let owner = add(
            &mut k,
            "owner",
            3,
            &[grant(0, 0, Rights::RECEIVE), grant(1, 1, Rights::CONTROL)],
        );
        // Phase 2 ticks, period 5 ticks.
        assert_eq!(call(&mut k, owner, Syscall::TimerArm, [1, 2, 5, 0, 0]).0, 0);
        let mut fired_at = Vec::new();
        for now in 1..=20 {
            k.tick(now);
            if let Object::Notification(notification) = &mut k.objects[0]
                && notification.poll() != 0
            {
                fired_at.push(now);
            }
        }
        assert_eq!(fired_at, vec![2, 7, 12, 17]);
        assert_eq!(
            call(&mut k, owner, Syscall::TimerCancel, [1, 0, 0, 0, 0]).0,
            0
        );
        k.tick(22);
        assert_eq!(
            call(&mut k, owner, Syscall::NotifyPoll, [0; 5]),
            (0, [0; 5])
        );
        assert_eq!(
            call(&mut k, owner, Syscall::TimerArm, [1, 1, 0, 7, 0]).0,
            status(Error::BadArgument),
            "unit"
        );
        assert_eq!(
            call(&mut k, owner, Syscall::TimerArm, [0, 1, 0, 0, 0]).0,
            status(Error::WrongKind)
        );
        // Microseconds: 3000 µs at 1 kHz is 3 ticks.
        assert_eq!(
            call(&mut k, owner, Syscall::TimerArm, [1, 3000, 0, 1, 0]).0,
            0
        );
        k.tick(24);
        call(&mut k, owner, Syscall::NotifyWait, [0; 5]);
        assert!(blocked(&k, owner));
        k.tick(25);
        assert_eq!(&k.threads[owner].frame.a[2..4], &[0, 0b100]);
    }

    #[test]
    fn shared_memory_maps_for_both_and_revoke_unmaps() {
        let mut k = kernel(&[ObjectParams::Memory {
            size: 2 * PAGE_SIZE,
            cache: Cache::Uncached,
            shared: true,
            init: None,
            keep: false,
        }]);
        let rw = Rights::READ | Rights::WRITE | Rights::GRANT;
        let writer = add(
            &mut k,
            "writer",
            3,
            &[CapGrant {
                slot: 0,
                object: 0,
                rights: rw,
                badge: 0,
                map_at: Some(0x5000_0000),
            }],
        );
        let reader = add(&mut k, "reader", 3, &[]);
        let pte = k.services[writer].translate(0x5000_1000).unwrap();
        assert_eq!(
            (pte.pa(), pte.access(), pte.cache()),
            (
                REGION_PA + PAGE_SIZE,
                Some(Access::ReadWrite),
                Some(CacheMode::Bypass)
            )
        );
        // Hand a read-only copy to the reader, which maps it elsewhere.
        k.caps
            .derive(
                crate::cap::CapRef { space: 0, slot: 0 },
                crate::cap::CapRef { space: 1, slot: 3 },
                Rights::READ,
                None,
            )
            .unwrap();
        assert_eq!(
            map_region(
                &mut k,
                reader,
                3,
                0x5100_0000,
                (Rights::READ | Rights::WRITE).bits()
            ),
            status(Error::MissingRight)
        );
        assert_eq!(
            map_region(&mut k, reader, 3, 0x5100_0800, Rights::READ.bits()),
            status(Error::BadAddress)
        );
        assert_eq!(
            map_region(&mut k, reader, 3, 0x1000_0000, Rights::READ.bits()),
            status(Error::BadAddress)
        );
        assert_eq!(
            map_region(&mut k, reader, 3, 0x5100_0000, Rights::READ.bits()),
            0
        );
        assert_eq!(
            map_region(&mut k, reader, 3, 0x5200_0000, Rights::READ.bits()),
            status(Error::SlotInUse)
        );
        assert_eq!(
            call(&mut k, reader, Syscall::MemInfo, [3, 0, 0, 0, 0]),
            (0, [0x5100_0000, 2 * PAGE_SIZE, 0, 0, 0])
        );
        let pte = k.services[reader].translate(0x5100_0000).unwrap();
        assert_eq!((pte.pa(), pte.access()), (REGION_PA, Some(Access::Read)));
        // Revoking the writer's capability removes the reader's copy and
        // with it the mapping.
        let flushes = k.hw.flushes;
        assert_eq!(
            call(&mut k, writer, Syscall::CapRevoke, [0; 5]),
            (0, [1, 0, 0, 0, 0])
        );
        assert_eq!(k.services[reader].translate(0x5100_0000), None);
        assert!(k.hw.flushes > flushes);
        assert!(
            k.services[writer].translate(0x5000_0000).is_some(),
            "the writer keeps its own"
        );
        assert_eq!(call(&mut k, writer, Syscall::MemUnmap, [0; 5]).0, 0);
        assert_eq!(k.services[writer].translate(0x5000_0000), None);
        assert_eq!(
            call(&mut k, writer, Syscall::MemInfo, [0; 5]),
            (0, [0, 2 * PAGE_SIZE, 0, 0, 0])
        );
    }

    fn endpoint_system() -> (Kernel<TestHw>, usize, usize) {
        let mut k = kernel(&[
            ObjectParams::Endpoint,
            ObjectParams::Semaphore { initial: 0, max: 5 },
        ]);
        let server = add(&mut k, "server", 2, &[grant(0, 0, Rights::RECEIVE)]);
        let client = add(
            &mut k,
            "client",
            4,
            &[
                CapGrant {
                    slot: 0,
                    object: 0,
                    rights: Rights::SEND,
                    badge: 77,
                    map_at: None,
                },
                grant(1, 1, Rights::SEND | Rights::RECEIVE | Rights::GRANT),
            ],
        );
        (k, server, client)
    }

    #[test]
    fn call_and_reply_carry_words_payload_badge_and_a_capability() {
        let (mut k, server, client) = endpoint_system();
        // The server waits first, ready to take a capability into slot 9.
        let recv_info = MsgInfo {
            recv_slot: 9,
            ..MsgInfo::new(0)
        }
        .encode();
        call(&mut k, server, Syscall::Recv, [0, recv_info, 0, 0, 0]);
        assert!(blocked(&k, server));
        k.hw.phys(ipc_pa(client), 5).copy_from_slice(b"audio");
        let info = MsgInfo {
            send_cap: 1,
            ..MsgInfo::new(5)
        }
        .encode();
        call(&mut k, client, Syscall::Call, [0, info, 10, 20, 30]);
        assert!(blocked(&k, client));
        assert!(!blocked(&k, server));
        let got = k.threads[server].frame.a;
        assert_eq!(got[2], 0);
        assert_eq!(got[3], 77, "the client's badge");
        let got_info = MsgInfo::decode(got[4]);
        assert_eq!(
            (got_info.len, got_info.cap_received, got_info.recv_slot),
            (5, true, 9)
        );
        assert_eq!(&got[5..8], &[10, 20, 30]);
        assert_eq!(k.hw.phys(ipc_pa(server), 5), b"audio");
        let transferred = k
            .caps
            .get(crate::cap::CapRef {
                space: server as u8,
                slot: 9,
            })
            .unwrap();
        assert_eq!(
            (transferred.kind, transferred.object),
            (ObjectKind::Semaphore, 1)
        );
        // The reply goes back to the client.
        k.hw.phys(ipc_pa(server), 2).copy_from_slice(b"ok");
        assert_eq!(
            call(
                &mut k,
                server,
                Syscall::Reply,
                [0, MsgInfo::new(2).encode(), 7, 8, 9]
            )
            .0,
            0
        );
        assert!(!blocked(&k, client));
        let back = k.threads[client].frame.a;
        assert_eq!((back[2], MsgInfo::decode(back[3]).len), (0, 2));
        assert_eq!(&back[5..8], &[7, 8, 9]);
        assert_eq!(k.hw.phys(ipc_pa(client), 2), b"ok");
        // No second reply.
        assert_eq!(
            call(&mut k, server, Syscall::Reply, [0; 5]).0,
            status(Error::BadArgument)
        );
    }

    #[test]
    fn queued_callers_are_served_in_order_by_reply_recv() {
        let mut k = kernel(&[ObjectParams::Endpoint]);
        let server = add(&mut k, "server", 2, &[grant(0, 0, Rights::RECEIVE)]);
        let first = add(
            &mut k,
            "first",
            4,
            &[CapGrant {
                slot: 0,
                object: 0,
                rights: Rights::SEND,
                badge: 1,
                map_at: None,
            }],
        );
        let second = add(
            &mut k,
            "second",
            4,
            &[CapGrant {
                slot: 0,
                object: 0,
                rights: Rights::SEND,
                badge: 2,
                map_at: None,
            }],
        );
        call(&mut k, first, Syscall::Call, [0, 0, 100, 0, 0]);
        call(&mut k, second, Syscall::Call, [0, 0, 200, 0, 0]);
        let (status_, got) = call(
            &mut k,
            server,
            Syscall::Recv,
            [0, MsgInfo::new(0).encode(), 0, 0, 0],
        );
        assert_eq!((status_, got[0], got[2]), (0, 1, 100));
        assert_eq!(
            call(&mut k, server, Syscall::Recv, [0; 5]).0,
            status(Error::BadArgument),
            "reply first"
        );
        let (status_, got) = call(&mut k, server, Syscall::ReplyRecv, [0, 0, 101, 0, 0]);
        assert_eq!((status_, got[0], got[2]), (0, 2, 200));
        assert_eq!(k.threads[first].frame.a[5], 101);
        assert!(!blocked(&k, first));
        assert!(blocked(&k, second));
    }

    #[test]
    fn a_dead_server_fails_its_callers_instead_of_hanging_them() {
        let (mut k, server, client) = endpoint_system();
        // Called and received, then the server dies before replying.
        call(&mut k, client, Syscall::Call, [0, 0, 1, 2, 3]);
        call(
            &mut k,
            server,
            Syscall::Recv,
            [0, MsgInfo::new(0).encode(), 0, 0, 0],
        );
        k.end_service(server, Ending::Faulted);
        assert!(!blocked(&k, client));
        assert_eq!(k.threads[client].frame.a[2], status(Error::PeerGone));
        // And new calls fail at once: nobody can receive any more.
        assert_eq!(
            call(&mut k, client, Syscall::Call, [0; 5]).0,
            status(Error::PeerGone)
        );
    }

    #[test]
    fn a_caller_queued_on_an_endpoint_fails_when_its_last_receiver_ends() {
        let (mut k, server, client) = endpoint_system();
        call(&mut k, client, Syscall::Call, [0; 5]);
        assert!(blocked(&k, client));
        k.end_service(server, Ending::Exited(0));
        assert_eq!(k.threads[client].frame.a[2], status(Error::PeerGone));
        assert!(!blocked(&k, client));
    }

    #[test]
    fn message_misuse_gets_error_codes() {
        let (mut k, server, client) = endpoint_system();
        let too_long = MsgInfo::new(5000).encode();
        assert_eq!(
            call(&mut k, client, Syscall::Call, [0, too_long, 0, 0, 0]).0,
            status(Error::BadLength)
        );
        let no_grant = MsgInfo {
            send_cap: 0,
            ..MsgInfo::new(0)
        }
        .encode();
        assert_eq!(
            call(&mut k, client, Syscall::Call, [0, no_grant, 0, 0, 0]).0,
            status(Error::MissingRight)
        );
        let empty = MsgInfo {
            send_cap: 20,
            ..MsgInfo::new(0)
        }
        .encode();
        assert_eq!(
            call(&mut k, client, Syscall::Call, [0, empty, 0, 0, 0]).0,
            status(Error::EmptySlot)
        );
        assert_eq!(
            call(&mut k, client, Syscall::Recv, [0; 5]).0,
            status(Error::MissingRight)
        );
        assert_eq!(
            call(&mut k, server, Syscall::Call, [0; 5]).0,
            status(Error::MissingRight)
        );
        assert_eq!(
            call(&mut k, client, Syscall::Call, [1, 0, 0, 0, 0]).0,
            status(Error::WrongKind)
        );
        assert_eq!(
            call(&mut k, server, Syscall::Reply, [0; 5]).0,
            status(Error::BadArgument)
        );
        assert_eq!(k.threads[server].wait, Wait::None);
    }

    #[test]
    fn receive_or_wait_returns_whichever_comes_first() {
        let mut k = kernel(&[ObjectParams::Endpoint, ObjectParams::Notification]);
        let server = add(
            &mut k,
            "server",
            2,
            &[grant(0, 0, Rights::RECEIVE), grant(1, 1, Rights::RECEIVE)],
        );
        let client = add(
            &mut k,
            "client",
            2,
            &[grant(0, 0, Rights::SEND), grant(1, 1, Rights::SEND)],
        );
        // A signal while waiting: the endpoint forgets the server.
        call(&mut k, server, Syscall::RecvOrWait, [0, 0, 1, 0, 0]);
        assert!(blocked(&k, server));
        call(&mut k, client, Syscall::NotifySignal, [1, 0b110, 0, 0, 0]);
        let got = k.threads[server].frame.a;
        assert_eq!((got[2], got[3], got[5]), (0, 0, 0b110));
        assert!(MsgInfo::decode(got[4]).signalled);
        if let Object::Endpoint(queue) = &k.objects[0] {
            assert!(queue.receivers.is_empty());
        }
        // A call while waiting: the notification forgets the server.
        call(&mut k, server, Syscall::RecvOrWait, [0, 0, 1, 0, 0]);
        call(&mut k, client, Syscall::Call, [0, 0, 9, 0, 0]);
        let got = k.threads[server].frame.a;
        assert!(!MsgInfo::decode(got[4]).signalled);
        assert_eq!(got[5], 9);
        assert_eq!(call(&mut k, server, Syscall::Reply, [0; 5]).0, 0);
        call(&mut k, client, Syscall::NotifySignal, [1, 1, 0, 0, 0]);
        assert_eq!(
            call(&mut k, server, Syscall::NotifyPoll, [1, 0, 0, 0, 0]),
            (0, [1, 0, 0, 0, 0]),
            "nobody took it"
        );
        // Pending bits are returned at once.
        call(&mut k, client, Syscall::NotifySignal, [1, 8, 0, 0, 0]);
        let (status, got) = call(&mut k, server, Syscall::RecvOrWait, [0, 0, 1, 0, 0]);
        assert_eq!((status, got[2]), (0, 8));
        assert_eq!(
            call(&mut k, server, Syscall::RecvOrWait, [0, 0, 0, 0, 0]).0,
            status_of(Error::WrongKind)
        );
    }

    fn status_of(error: Error) -> u32 {
        error as u32
    }

    #[test]
    fn the_cycle_counter_needs_a_clock_capability() {
        let mut k = kernel(&[ObjectParams::Clock]);
        let timed = add(&mut k, "timed", 3, &[grant(0, 0, Rights::READ)]);
        let blind = add(&mut k, "blind", 3, &[]);
        assert_eq!(
            call(&mut k, timed, Syscall::Cycles, [0; 5]),
            (0, [4242, 0, 0, 0, 0])
        );
        assert_eq!(
            call(&mut k, blind, Syscall::Cycles, [0; 5]).0,
            status_of(Error::MissingRight)
        );
    }

    /// A reply carries CCOUNT in a4 to a caller holding a clock capability
    /// (READ), 0 to one without; the kernel's cached flag follows the
    /// capability as it is derived, deleted, revoked and transferred.
    #[test]
    fn a_reply_carries_the_cycle_counter_only_to_a_caller_with_a_clock() {
        let mut k = kernel(&[
            ObjectParams::Endpoint,
            ObjectParams::Clock,
            ObjectParams::Notification,
        ]);
        let server = add(
            &mut k,
            "server",
            2,
            &[
                grant(0, 0, Rights::RECEIVE),
                grant(1, 1, Rights::READ | Rights::GRANT),
                grant(2, 2, Rights::RECEIVE),
            ],
        );
        let timed = add(
            &mut k,
            "timed",
            2,
            &[
                grant(0, 0, Rights::SEND),
                grant(1, 1, Rights::READ | Rights::GRANT),
            ],
        );
        let blind = add(
            &mut k,
            "blind",
            2,
            &[grant(0, 0, Rights::SEND), grant(2, 2, Rights::SEND)],
        );
        // One round trip of `caller` (a `CallTimeout` if `limit` is set);
        // the server replies with words 7, 8, 9 and may send slot `cap`.
        let round_trip = |k: &mut Kernel<TestHw>, caller: usize, limit: Option<u32>, cap: u32| {
            call(k, server, Syscall::Recv, [0; 5]);
            assert!(blocked(k, server));
            let number = match limit {
                Some(until) => {
                    k.threads[caller].frame.a[8] = until;
                    Syscall::CallTimeout
                }
                None => Syscall::Call,
            };
            let receive_into = MsgInfo {
                recv_slot: 5,
                ..MsgInfo::new(0)
            };
            call(k, caller, number, [0, receive_into.encode(), 1, 2, 3]);
            let info = MsgInfo {
                send_cap: if cap == u32::MAX { NO_SLOT } else { cap as u8 },
                ..MsgInfo::new(0)
            };
            assert_eq!(
                call(k, server, Syscall::Reply, [0, info.encode(), 7, 8, 9]),
                (0, [1, 0, 0, 0, 0])
            );
            let a = k.threads[caller].frame.a;
            (a[2], a[4], [a[5], a[6], a[7]])
        };
        assert_eq!(
            round_trip(&mut k, timed, None, u32::MAX),
            (0, 4242, [7, 8, 9])
        );
        assert_eq!(round_trip(&mut k, timed, Some(5_000), u32::MAX).1, 4242);
        assert_eq!(round_trip(&mut k, blind, None, u32::MAX), (0, 0, [7, 8, 9]));
        assert_eq!(round_trip(&mut k, blind, Some(u32::MAX), u32::MAX).1, 0);
        // A copy keeps the right when the original goes; the last one
        // going takes it.
        assert_eq!(
            call(&mut k, timed, Syscall::CapDerive, [1, 3, 1, 0, 0]).0,
            0
        );
        assert_eq!(
            call(&mut k, timed, Syscall::CapDelete, [1, 0, 0, 0, 0]).0,
            0
        );
        assert_eq!(call(&mut k, timed, Syscall::Cycles, [0; 5]).0, 0);
        assert_eq!(round_trip(&mut k, timed, None, u32::MAX).1, 4242);
        assert_eq!(call(&mut k, timed, Syscall::CapMove, [3, 4, 0, 0, 0]).0, 0);
        assert_eq!(round_trip(&mut k, timed, None, u32::MAX).1, 4242);
        assert_eq!(
            call(&mut k, timed, Syscall::CapDelete, [4, 0, 0, 0, 0]).0,
            0
        );
        assert_eq!(
            call(&mut k, timed, Syscall::Cycles, [0; 5]).0,
            status_of(Error::MissingRight)
        );
        assert_eq!(round_trip(&mut k, timed, None, u32::MAX).1, 0);
        // A clock that arrives with a reply counts from that reply on.
        assert_eq!(round_trip(&mut k, blind, None, 1).1, 4242);
        assert_eq!(
            call(&mut k, blind, Syscall::Cycles, [0; 5]),
            (0, [4242, 0, 0, 0, 0])
        );
        assert_eq!(round_trip(&mut k, blind, None, u32::MAX).1, 4242);
        // Revoking what was derived from the server's clock takes it again.
        assert_eq!(
            call(&mut k, server, Syscall::CapRevoke, [1, 0, 0, 0, 0]),
            (0, [1, 0, 0, 0, 0])
        );
        assert_eq!(round_trip(&mut k, blind, None, u32::MAX).1, 0);
        // A signalled `RecvOrWait`: a6 = CCOUNT (with a clock), a7 = ticks,
        // whether the bits wake the server or were pending already.
        k.tick(77);
        call(&mut k, server, Syscall::RecvOrWait, [0, 0, 2, 0, 0]);
        assert!(blocked(&k, server));
        call(&mut k, blind, Syscall::NotifySignal, [2, 4, 0, 0, 0]);
        let a = k.threads[server].frame.a;
        assert_eq!((a[2], a[3], a[5], a[6], a[7]), (0, 0, 4, 4242, 77));
        assert!(MsgInfo::decode(a[4]).signalled);
        call(&mut k, blind, Syscall::NotifySignal, [2, 1, 0, 0, 0]);
        let (status, got) = call(&mut k, server, Syscall::RecvOrWait, [0, 0, 2, 0, 0]);
        assert_eq!((status, got[2], got[3], got[4]), (0, 1, 4242, 77));
        // Without a clock: no CCOUNT, the tick count still.
        assert_eq!(
            call(&mut k, server, Syscall::CapDelete, [1, 0, 0, 0, 0]).0,
            0
        );
        call(&mut k, blind, Syscall::NotifySignal, [2, 1, 0, 0, 0]);
        let (status, got) = call(&mut k, server, Syscall::RecvOrWait, [0, 0, 2, 0, 0]);
        assert_eq!((status, got[2], got[3], got[4]), (0, 1, 0, 77));
    }

    #[test]
    fn calling_an_endpoint_only_the_caller_could_answer_fails() {
        let mut k = kernel(&[ObjectParams::Endpoint]);
        let lonely = add(
            &mut k,
            "lonely",
            3,
            &[grant(0, 0, Rights::SEND | Rights::RECEIVE)],
        );
        assert_eq!(
            call(&mut k, lonely, Syscall::Call, [0; 5]).0,
            status_of(Error::PeerGone)
        );
        assert!(!blocked(&k, lonely));
    }

    /// The holder of a derived capability, `holder`, and the service that
    /// derived it to them, `owner`: (kernel, owner, holder). Object 0 is an
    /// endpoint, 1 a notification, 2 a semaphore, 3 a two-page region; the
    /// owner holds every right on each in slots 0..=3.
    fn revoke_system() -> (Kernel<TestHw>, usize, usize) {
        let mut k = kernel(&[
            ObjectParams::Endpoint,
            ObjectParams::Notification,
            ObjectParams::Semaphore { initial: 0, max: 5 },
            ObjectParams::Memory {
                size: 2 * PAGE_SIZE,
                cache: Cache::Cached,
                shared: true,
                init: None,
                keep: false,
            },
        ]);
        let all = Rights::SEND | Rights::RECEIVE | Rights::GRANT;
        let memory = Rights::READ | Rights::WRITE | Rights::GRANT;
        let owner = add(
            &mut k,
            "owner",
            3,
            &[
                grant(0, 0, all),
                grant(1, 1, all),
                grant(2, 2, all),
                grant(3, 3, memory),
            ],
        );
        let holder = add(&mut k, "holder", 3, &[]);
        (k, owner, holder)
    }

    /// `thread` maps region `slot` at `va` with `rights` (bits): the status.
    fn map_region(k: &mut Kernel<TestHw>, thread: usize, slot: u32, va: u32, rights: u32) -> u32 {
        call(k, thread, Syscall::MemMap, [slot, va, rights, 0, 0]).0
    }

    fn derive_to(k: &mut Kernel<TestHw>, from: (usize, u8), to: (usize, u8), rights: Rights) {
        k.caps
            .derive(
                crate::cap::CapRef {
                    space: from.0 as u8,
                    slot: from.1,
                },
                crate::cap::CapRef {
                    space: to.0 as u8,
                    slot: to.1,
                },
                rights,
                None,
            )
            .unwrap();
    }

    #[test]
    fn a_receiver_whose_receive_capability_is_revoked_is_woken_and_gets_nothing() {
        let (mut k, owner, holder) = revoke_system();
        derive_to(&mut k, (owner, 0), (holder, 5), Rights::RECEIVE);
        let client = add(
            &mut k,
            "client",
            3,
            &[CapGrant {
                slot: 0,
                object: 0,
                rights: Rights::SEND,
                badge: 5,
                map_at: None,
            }],
        );
        call(&mut k, holder, Syscall::Recv, [5, 0, 0, 0, 0]);
        assert!(blocked(&k, holder));
        assert_eq!(call(&mut k, owner, Syscall::CapRevoke, [0; 5]).0, 0);
        assert!(!blocked(&k, holder), "woken by the revoke");
        assert_eq!(k.threads[holder].frame.a[2], status(Error::Revoked));
        assert_eq!(k.threads[holder].wait, Wait::None);
        // The next call queues for the owner (still a receiver), and is
        // never delivered to the revoked holder.
        k.hw.phys(ipc_pa(client), 6).copy_from_slice(b"secret");
        call(
            &mut k,
            client,
            Syscall::Call,
            [0, MsgInfo::new(6).encode(), 1, 2, 3],
        );
        assert!(blocked(&k, client));
        assert_eq!(k.hw.phys(ipc_pa(holder), 6), &[0; 6]);
        assert_eq!(k.threads[holder].reply_to(), None);
        assert_eq!(
            call(&mut k, holder, Syscall::Recv, [5, 0, 0, 0, 0]).0,
            status(Error::EmptySlot)
        );
    }

    #[test]
    fn waits_on_notifications_and_semaphores_end_when_their_capability_goes() {
        let (mut k, owner, holder) = revoke_system();
        derive_to(&mut k, (owner, 1), (holder, 6), Rights::RECEIVE);
        call(&mut k, holder, Syscall::NotifyWait, [6, 0, 0, 0, 0]);
        assert!(blocked(&k, holder));
        assert_eq!(
            call(&mut k, owner, Syscall::CapRevoke, [1, 0, 0, 0, 0]).0,
            0
        );
        assert_eq!(k.threads[holder].frame.a[2], status(Error::Revoked));
        // The signal that follows is not taken by the gone waiter.
        call(&mut k, owner, Syscall::NotifySignal, [1, 4, 0, 0, 0]);
        assert_eq!(
            call(&mut k, owner, Syscall::NotifyPoll, [1, 0, 0, 0, 0]).1[0],
            4
        );

        derive_to(&mut k, (owner, 2), (holder, 7), Rights::RECEIVE);
        call(&mut k, holder, Syscall::SemTake, [7, u32::MAX, 0, 0, 0]);
        assert!(blocked(&k, holder));
        // Deleting the holder's own copy is the same as revoking it.
        k.caps
            .delete(crate::cap::CapRef {
                space: holder as u8,
                slot: 7,
            })
            .unwrap();
        let cap = crate::cap::Cap::original(2, ObjectKind::Semaphore, Rights::RECEIVE, 0);
        k.after_removal(
            crate::cap::CapRef {
                space: holder as u8,
                slot: 7,
            },
            &cap,
        );
        assert_eq!(k.threads[holder].frame.a[2], status(Error::Revoked));
        assert_eq!(call(&mut k, owner, Syscall::SemGive, [2, 0, 0, 0, 0]).0, 0);
        assert_eq!(
            call(&mut k, owner, Syscall::SemTake, [2, 0, 0, 0, 0]).0,
            0,
            "the give was counted, not handed to the gone waiter"
        );
    }

    #[test]
    fn a_call_queued_through_a_revoked_send_capability_fails_back_and_is_never_delivered() {
        let (mut k, owner, holder) = revoke_system();
        // The owner hands out a badged SEND copy: the caller is known by it.
        assert_eq!(
            call(
                &mut k,
                owner,
                Syscall::CapDerive,
                [0, 9, (Rights::SEND | Rights::GRANT).bits(), 42, 0]
            )
            .0,
            0
        );
        derive_to(&mut k, (owner, 9), (holder, 4), Rights::SEND);
        k.hw.phys(ipc_pa(holder), 4).copy_from_slice(b"mine");
        call(
            &mut k,
            holder,
            Syscall::Call,
            [4, MsgInfo::new(4).encode(), 7, 8, 9],
        );
        assert!(blocked(&k, holder), "queued: nobody receives yet");
        assert_eq!(
            call(&mut k, owner, Syscall::CapRevoke, [9, 0, 0, 0, 0]),
            (0, [1, 0, 0, 0, 0])
        );
        assert!(!blocked(&k, holder));
        assert_eq!(k.threads[holder].frame.a[2], status(Error::Revoked));
        // The owner's receive finds no call: it waits.
        call(&mut k, owner, Syscall::Recv, [0, 0, 0, 0, 0]);
        assert!(blocked(&k, owner), "the revoked call was withdrawn");
        assert_eq!(k.hw.phys(ipc_pa(owner), 4), &[0; 4]);
    }

    #[test]
    fn revoking_a_writable_copy_leaves_the_mapping_read_only_or_gone() {
        let (mut k, owner, holder) = revoke_system();
        let rw = Rights::READ | Rights::WRITE | Rights::GRANT;
        // The holder gets a writable copy (slot 10) and a read-only copy
        // of it (slot 11), and maps the region writable.
        derive_to(&mut k, (owner, 3), (holder, 10), rw);
        derive_to(&mut k, (holder, 10), (holder, 11), Rights::READ);
        // A second, independent read-only copy from the owner (slot 12).
        derive_to(&mut k, (owner, 3), (holder, 12), Rights::READ);
        assert_eq!(
            map_region(
                &mut k,
                holder,
                10,
                0x5000_0000,
                (Rights::READ | Rights::WRITE).bits()
            ),
            0
        );
        let access = |k: &Kernel<TestHw>| {
            k.services[holder]
                .translate(0x5000_1000)
                .map(|pte| pte.access())
        };
        assert_eq!(access(&k), Some(Some(Access::ReadWrite)));
        // Revoking the writable copy's children takes slot 11 only: the
        // mapping stays writable, slot 10 still grants WRITE.
        assert_eq!(
            call(&mut k, holder, Syscall::CapRevoke, [10, 0, 0, 0, 0]).1[0],
            1
        );
        assert_eq!(access(&k), Some(Some(Access::ReadWrite)));
        // The owner revokes everything it gave except... slot 12 is a
        // child of the owner too: revoke the writable path by deleting it.
        let flushes = k.hw.flushes;
        assert_eq!(
            call(&mut k, holder, Syscall::CapDelete, [10, 0, 0, 0, 0]).0,
            0
        );
        assert_eq!(
            access(&k),
            Some(Some(Access::Read)),
            "downgraded, not left writable"
        );
        assert!(k.hw.flushes > flushes, "the TLB was flushed");
        assert!(!k.services[holder].regions[0].writable);
        // The owner revokes what it derived: nothing is left to read with.
        assert_eq!(
            call(&mut k, owner, Syscall::CapRevoke, [3, 0, 0, 0, 0]).0,
            0
        );
        assert_eq!(access(&k), None, "unmapped");
        assert!(k.services[holder].regions.is_empty());
        // The owner's own writable mapping is untouched.
        assert_eq!(
            map_region(
                &mut k,
                owner,
                3,
                0x5000_0000,
                (Rights::READ | Rights::WRITE).bits()
            ),
            0
        );
    }

    #[test]
    fn a_mapping_keeps_write_only_while_one_capability_allows_a_writable_map() {
        // The holder maps the region writable through a read+write copy
        // (slot 10). It also holds a read-only copy (slot 11) and a
        // write-only copy (slot 12), both straight from the owner: with
        // those two alone `MemMap` refuses a writable mapping (one
        // capability must allow READ and WRITE), so when the read+write
        // copy is revoked the mapping must become read-only, not stay
        // writable on the union of the rights left.
        let (mut k, owner, holder) = revoke_system();
        let rw = Rights::READ | Rights::WRITE | Rights::GRANT;
        derive_to(&mut k, (owner, 3), (owner, 8), rw);
        derive_to(
            &mut k,
            (owner, 8),
            (holder, 10),
            Rights::READ | Rights::WRITE,
        );
        derive_to(&mut k, (owner, 3), (holder, 11), Rights::READ);
        derive_to(&mut k, (owner, 3), (holder, 12), Rights::WRITE);
        let rw_bits = (Rights::READ | Rights::WRITE).bits();
        for slot in [11, 12] {
            assert_ne!(
                map_region(&mut k, holder, slot, 0x5000_0000, rw_bits),
                0,
                "slot {slot} alone does not map writable"
            );
        }
        assert_eq!(map_region(&mut k, holder, 10, 0x5000_0000, rw_bits), 0);
        assert_eq!(
            call(&mut k, owner, Syscall::CapRevoke, [8, 0, 0, 0, 0]).1[0],
            1
        );
        let pte = k.services[holder].translate(0x5000_0000).unwrap();
        assert_eq!(
            pte.access(),
            Some(Access::Read),
            "no remaining capability allows a writable mapping"
        );
        assert!(!k.services[holder].regions[0].writable);
        // Mapping again from what is left: read-only works, writable not.
        assert_eq!(
            call(&mut k, holder, Syscall::MemUnmap, [11, 0, 0, 0, 0]).0,
            0
        );
        assert_ne!(map_region(&mut k, holder, 12, 0x5000_0000, rw_bits), 0);
    }

    #[test]
    fn an_owner_revoking_a_writable_grant_downgrades_a_mapping_made_through_it() {
        let (mut k, owner, holder) = revoke_system();
        let rw = Rights::READ | Rights::WRITE | Rights::GRANT;
        // Owner slot 3 -> owner slot 8 (RW) -> holder slot 10 (RW); and an
        // independent read-only copy to the holder's slot 12.
        derive_to(&mut k, (owner, 3), (owner, 8), rw);
        derive_to(&mut k, (owner, 8), (holder, 10), rw);
        derive_to(&mut k, (owner, 3), (holder, 12), Rights::READ);
        assert_eq!(
            map_region(
                &mut k,
                holder,
                10,
                0x5000_0000,
                (Rights::READ | Rights::WRITE).bits()
            ),
            0
        );
        assert_eq!(
            call(&mut k, owner, Syscall::CapRevoke, [8, 0, 0, 0, 0]).1[0],
            1
        );
        let pte = k.services[holder].translate(0x5000_0000).unwrap();
        assert_eq!(pte.access(), Some(Access::Read));
        assert_eq!(pte.pa(), REGION_PA);
    }

    #[test]
    fn a_call_never_runs_uphill_even_through_capabilities_handed_over_at_run_time() {
        let mut k = kernel(&[ObjectParams::Endpoint]);
        let slow = add(
            &mut k,
            "slow",
            7,
            &[grant(0, 0, Rights::SEND | Rights::RECEIVE | Rights::GRANT)],
        );
        let urgent = add(&mut k, "urgent", 1, &[]);
        derive_to(&mut k, (slow, 0), (urgent, 2), Rights::SEND);
        assert_eq!(
            call(&mut k, urgent, Syscall::Call, [2, 0, 0, 0, 0]).0,
            status(Error::PriorityInversion)
        );
        assert!(!blocked(&k, urgent));
        // An equally or less urgent caller may call.
        let peer = add(&mut k, "peer", 7, &[]);
        derive_to(&mut k, (slow, 0), (peer, 2), Rights::SEND);
        call(&mut k, peer, Syscall::Call, [2, 0, 0, 0, 0]);
        assert!(blocked(&k, peer));
    }

    #[test]
    fn a_queued_caller_is_not_served_by_a_less_urgent_receiver_that_came_later() {
        let mut k = kernel(&[ObjectParams::Endpoint]);
        let server = add(
            &mut k,
            "server",
            2,
            &[grant(0, 0, Rights::SEND | Rights::RECEIVE | Rights::GRANT)],
        );
        let caller = add(&mut k, "caller", 2, &[]);
        derive_to(&mut k, (server, 0), (caller, 0), Rights::SEND);
        call(&mut k, caller, Syscall::Call, [0, 0, 5, 0, 0]);
        assert!(blocked(&k, caller));
        let late = add(&mut k, "late", 6, &[]);
        derive_to(&mut k, (server, 0), (late, 0), Rights::RECEIVE);
        call(&mut k, late, Syscall::Recv, [0, 0, 0, 0, 0]);
        assert!(blocked(&k, late), "nothing it may serve");
        assert_eq!(
            k.threads[caller].frame.a[2],
            status(Error::PriorityInversion)
        );
        assert!(!blocked(&k, caller));
    }

    #[test]
    fn a_call_with_a_time_limit_is_withdrawn_or_its_late_reply_dropped() {
        let (mut k, server, client) = endpoint_system();
        // Queued, nobody receives: withdrawn at its deadline, tick 1.
        k.threads[client].frame.a[8] = 1;
        call(&mut k, client, Syscall::CallTimeout, [0, 0, 1, 0, 0]);
        assert!(blocked(&k, client));
        k.tick(1);
        assert!(!blocked(&k, client));
        assert_eq!(k.threads[client].frame.a[2], status(Error::TimedOut));
        let (status_, _) = call(&mut k, server, Syscall::Recv, [0, 0, 0, 0, 0]);
        assert!(
            blocked(&k, server),
            "the withdrawn call is gone ({status_})"
        );
        // Delivered, but the reply is late: the client times out, the late
        // reply is dropped, and its next call is answered properly.
        k.threads[client].frame.a[8] = 2;
        call(&mut k, client, Syscall::CallTimeout, [0, 0, 2, 0, 0]);
        assert_eq!(k.threads[server].frame.a[5], 2, "delivered");
        k.tick(2);
        assert_eq!(k.threads[client].frame.a[2], status(Error::TimedOut));
        assert_eq!(
            call(&mut k, server, Syscall::Reply, [0, 0, 99, 0, 0]),
            (0, [0, 0, 0, 0, 0]),
            "status 0, value 0: the reply found no caller"
        );
        assert_eq!(
            k.threads[client].frame.a[5], 0,
            "the late reply (99) was dropped"
        );
        assert_eq!(k.threads[client].frame.a[2], status(Error::TimedOut));
        // A deadline far ahead (2^31 - 1 ticks: the furthest).
        k.threads[client].frame.a[8] = (1 << 31) + 1;
        call(&mut k, client, Syscall::CallTimeout, [0, 0, 3, 0, 0]);
        assert_eq!(
            k.sched.state(client),
            ThreadState::Blocked {
                until: Some((1 << 31) + 1)
            }
        );
        call(&mut k, server, Syscall::Recv, [0, 0, 0, 0, 0]);
        assert_eq!(k.threads[server].frame.a[5], 3);
        assert_eq!(
            call(&mut k, server, Syscall::Reply, [0, 0, 30, 0, 0]).1[0],
            1,
            "delivered"
        );
        assert_eq!(k.threads[client].frame.a[5], 30);
        assert_eq!(k.threads[client].frame.a[2], 0);
        // ReplyRecv asked to stop when its reply is dropped returns at once,
        // receiving nothing, so the server can say it listens again.
        k.threads[client].frame.a[8] = 3;
        call(&mut k, client, Syscall::CallTimeout, [0, 0, 4, 0, 0]);
        call(&mut k, server, Syscall::Recv, [0, 0, 0, 0, 0]);
        k.tick(3);
        assert_eq!(k.threads[client].frame.a[2], status(Error::TimedOut));
        let stop = MsgInfo {
            reply_dropped: true,
            ..MsgInfo::new(0)
        }
        .encode();
        let (status_, got) = call(&mut k, server, Syscall::ReplyRecv, [0, stop, 40, 0, 0]);
        assert_eq!(status_, 0);
        assert!(MsgInfo::decode(got[1]).reply_dropped, "told, not receiving");
        assert!(!blocked(&k, server));
        // Without the flag, a dropped reply goes on to receive.
        k.threads[client].frame.a[8] = 4;
        call(&mut k, client, Syscall::CallTimeout, [0, 0, 5, 0, 0]);
        call(&mut k, server, Syscall::Recv, [0, 0, 0, 0, 0]);
        k.tick(4);
        call(&mut k, server, Syscall::ReplyRecv, [0, 0, 50, 0, 0]);
        assert!(blocked(&k, server), "receiving");
        // A deadline not ahead of the tick count (passed, now, or any word
        // over 2^31 ticks ahead) ends the wait at the next tick.
        for (now, ahead) in (4u32..).zip([-4i32, -1, 0, i32::MIN]) {
            let until = now.wrapping_add_signed(ahead);
            k.threads[client].frame.a[8] = until;
            call(&mut k, client, Syscall::CallTimeout, [0, 0, 6, 0, 0]);
            assert_eq!(
                k.sched.state(client),
                ThreadState::Blocked {
                    until: Some(u64::from(now) + 1)
                },
                "{until}"
            );
            k.tick(u64::from(now));
            assert!(blocked(&k, client), "not before the next tick");
            k.tick(u64::from(now) + 1);
            assert_eq!(k.threads[client].frame.a[2], status(Error::TimedOut));
            call(&mut k, server, Syscall::ReplyRecv, [0, 0, 60, 0, 0]);
            assert!(blocked(&k, server), "its reply dropped, receiving");
        }
    }

    #[test]
    fn running_out_of_page_tables_is_its_own_error_and_unmapping_gives_them_back() {
        let span = sotto_abi::layout::L2_SPAN;
        let region = ObjectParams::Memory {
            size: span,
            cache: Cache::Cached,
            shared: false,
            init: None,
            keep: false,
        };
        let mut k = kernel(&[region, region, region, region, region]);
        let rw = Rights::READ | Rights::WRITE;
        let grants: Vec<CapGrant> = (0..5).map(|n| grant(n as u8, n, rw)).collect();
        let user = add(&mut k, "user", 3, &grants);
        // Slot n at the n-th 4 MiB span of the region window.
        let map = |k: &mut Kernel<TestHw>, slot: u32| {
            map_region(k, user, slot, 0x5000_0000 + slot * span, rw.bits())
        };
        let mut mapped = 0;
        while map(&mut k, mapped) == 0 {
            mapped += 1;
        }
        assert!(mapped >= 1, "at least one 4 MiB span fits");
        assert_eq!(map(&mut k, mapped), status(Error::OutOfTables));
        assert_eq!(call(&mut k, user, Syscall::MemUnmap, [0, 0, 0, 0, 0]).0, 0);
        assert_eq!(
            map(&mut k, mapped),
            0,
            "the freed table serves the next span"
        );
        assert_eq!(
            call(&mut k, user, Syscall::MemUnmap, [mapped, 0, 0, 0, 0]).0,
            0
        );
        assert_eq!(map(&mut k, 0), 0);
    }
}
