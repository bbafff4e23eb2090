//! The light system-call path: what the trap entry may do without saving
//! a full frame, decided here in plain Rust (the assembly only follows the
//! answer).
//!
//! The entry runs [`Kernel::light_syscall`] with PS.EXCM still set, on the
//! kernel stack, with the caller's a2..a8 as arguments and its a12..a15
//! and special registers untouched (Rust preserves a12..a15 under call0
//! and never touches the others). So a light call may touch only kernel
//! memory (pinned): no user buffer, no page table. What it cannot do
//! that way it hands to the full path ([`Light::Slow`]) *before* changing
//! anything, with the arguments stored in the caller's frame, so the full
//! path sees the call exactly as if it had taken it from the start.
//!
//! Two seL4-style IPC fast paths live here: `Call` to a server already
//! waiting in `Recv`/`ReplyRecv`, and `ReplyRecv` whose reply finds its
//! caller and whose receive finds no caller queued — both registers-only
//! (no payload, no capability), both a direct switch to the other thread
//! when the scheduler would pick it anyway. Their results equal the full
//! path's, register for register (tested below against it).
//!
//! The entry's express `Call` also carries a capability when the info
//! word holds nothing else and the slot's fast word has the GRANT bit
//! (GRANT, and a copy that changes no summary), and its express
//! `CapDelete` takes a slot with the DROP bit (a removal that changes no
//! summary) nothing was derived from: both move the capability in
//! assembly, over the slot layout `cap::layout` reads from the compiler.
//! [`Kernel::express`] is their decision; the tests model their steps
//! and compare them with the full path, for every kind and right.

use sotto_abi::Syscall;
use sotto_abi::cap::{ObjectKind, Rights};
use sotto_abi::syscall::MsgInfo;

use sotto_abi::manifest::MAX_SERVICES;

use crate::cap::{CapRef, CapSpaces};
use crate::kernel::{Hardware, Kernel, Object, Outcome, ThreadNo, Wait};
use crate::sched::ThreadId;
use crate::trap::kind;

/// What the light entry does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Light {
    /// Return to the caller: a2 = status, a3 = value, a4..a11 and SAR zero.
    Return(u32, u32),
    /// Run this thread from its frame (the caller's own results, if it is
    /// the one, are in its frame).
    Resume(ThreadId),
    /// An IPC fast path hands the CPU to this thread, the caller blocked:
    /// as `Resume`, but the caller's caller-saved state (SAR, the loop
    /// registers, SCOMPARE1, MAC16) is not kept — a message call is a
    /// function call to the caller, and those registers do not survive one
    /// (`sotto_abi::syscall` documents it). Whoever runs next finds them
    /// zero, never another thread's.
    Handoff(ThreadId),
    /// Nothing is ready: save the caller and idle until something is.
    Idle,
    /// Not a light call: the arguments are in the caller's frame and
    /// nothing changed; take the full path.
    Slow,
}

/// What the system-call entry may do through a capability slot on its
/// own (its fast paths, in assembly), as bits of [`FastSlot::ops`]:
/// exactly what the full handlers allow through that slot. The assembly
/// checks the dynamic conditions (nobody waits, a receiver is parked, the
/// scheduler would pick it) itself; [`Kernel::fast_slot`] is the rule.
pub mod fast_op {
    /// `SemGive` (a semaphore, SEND).
    pub const GIVE: u32 = 1;
    /// `NotifySignal` (a notification, SEND).
    pub const SIGNAL: u32 = 2;
    /// `Call` (an endpoint, SEND).
    pub const CALL: u32 = 4;
    /// The receive of `ReplyRecv` (an endpoint, RECEIVE).
    pub const RECEIVE: u32 = 8;
    /// Sending it in a `Call` (GRANT, as `check_message` asks), where
    /// its copy changes no summary but its slot's fast word (not a clock
    /// with READ, not an endpoint with RECEIVE): the express `Call` copies
    /// it itself.
    pub const GRANT: u32 = 16;
    /// `CapDelete` where its removal changes no summary but its slot's
    /// fast word (not a memory region, a clock or an endpoint): the
    /// express `CapDelete` empties the slot itself.
    pub const DROP: u32 = 32;
}

/// One capability slot as the entry sees it (`Kernel::fast_caps`).
/// `repr(C)`, four words: the entry indexes a row by `slot << 4`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FastSlot {
    /// [`fast_op`] bits; 0: nothing (the light path decides).
    pub ops: u32,
    /// The object's address in kernel memory (pinned, static); on the host
    /// only compared, never followed.
    pub object: u32,
    /// The capability's badge.
    pub badge: u32,
    /// `Wait::Receiver` of the object, as the word the entry stores into
    /// a thread's `wait` (tag, a zero padding byte, the object's number:
    /// [`wait_word`]); its number is [`FastSlot::id`].
    pub receiver_wait: u32,
}

impl FastSlot {
    /// Nothing through this slot.
    pub const ZERO: FastSlot = FastSlot {
        ops: 0,
        object: 0,
        badge: 0,
        receiver_wait: 0,
    };

    /// The object's number.
    pub fn id(&self) -> u32 {
        self.receiver_wait >> 16
    }
}

/// The word an express path stores into a thread's `wait` (aligned, see
/// [`thread::WAIT`]) for a wait with tag `tag` and 16-bit payload
/// `payload` (an object or a thread number): little-endian, the tag in
/// the first byte and the payload at [`crate::kernel::wait::PAYLOAD`],
/// as `Wait` (`repr(C, u8)`) lays them out (tested).
pub const fn wait_word(tag: u32, payload: u32) -> u32 {
    tag | payload << (8 * crate::kernel::wait::PAYLOAD)
}

/// Offsets into [`FastSlot`] for the assembly.
pub mod slot {
    use core::mem::offset_of;

    use super::FastSlot;

    /// `ops`.
    pub const OPS: u32 = offset_of!(FastSlot, ops) as u32;
    /// `object`.
    pub const OBJECT: u32 = offset_of!(FastSlot, object) as u32;
    /// `badge`.
    pub const BADGE: u32 = offset_of!(FastSlot, badge) as u32;
    /// `receiver_wait`.
    pub const RECEIVER_WAIT: u32 = offset_of!(FastSlot, receiver_wait) as u32;
    /// log2 of its size.
    pub const SHIFT: u32 = 4;
    const _: () = assert!(size_of::<FastSlot>() == 1 << SHIFT);
}

/// One thread as the entry's IPC fast paths see it (the kernel binary
/// keeps a table of them, `FastWords::threads`). `repr(C)`, sixteen words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ThreadEntry {
    /// Address of its [`crate::kernel::Thread`] (whose frame comes first);
    /// 0: no such thread.
    pub thread: u32,
    /// Its address space: see [`SpaceWords`].
    pub space: SpaceWords,
    /// The ready-mask bits of the threads at least as urgent as this one,
    /// `(2 << priority) - 1` ([`crate::sched::URGENT_MASKS`]): whether it
    /// would run next is one load and one `and` for the express paths.
    /// Kept in step with its priority in the scheduler (fixed today; a
    /// priority change must write both).
    pub urgent: u32,
    /// `Wait::Reply` of this thread, as the word the express `Call`
    /// stores into its caller's `wait` ([`wait_word`]).
    pub reply_wait: u32,
    /// 1 while its service has this one thread (the express `CapDelete`
    /// takes no other: `Kernel::deletes_express`); 0 once a further
    /// thread is added.
    pub alone: u32,
    /// To sixteen words (the entry indexes by a shift).
    pub reserved: [u32; 12 - SPACE_WORDS],
}

/// Words of an address space as a switch writes them to the MMU.
pub const SPACE_WORDS: usize = 2;

/// An address space as a switch writes it: PTEVADDR and RASID. No wired
/// entry: the kernel's code and data megabytes have wired 1 MiB entries
/// (way 4) in every space; the service's TLB entries and those of its PTE
/// pages (ASID-tagged, at its own window) survive switches, and when
/// evicted the hardware or the TLB-miss vector refills them (no path with
/// PS.EXCM set touches user memory); and the first refill that needs the
/// space's L1, which the switch leaves unpinned, takes a double exception
/// that pins it (`arch::xtensa::register_l1`, `vectors.S`).
pub type SpaceWords = [u32; SPACE_WORDS];

impl ThreadEntry {
    /// No thread.
    pub const NONE: ThreadEntry = ThreadEntry {
        thread: 0,
        space: [0; SPACE_WORDS],
        urgent: 0,
        reply_wait: 0,
        alone: 0,
        reserved: [0; 12 - SPACE_WORDS],
    };

    /// The entry of thread `number`, of priority `priority`, at `thread`
    /// (its [`crate::kernel::Thread`]), in address space `space`.
    /// A priority the scheduler has no queue for gets every bit: such a
    /// thread never runs, and the express paths never pick it.
    pub fn new(number: ThreadNo, thread: u32, space: SpaceWords, priority: u8) -> ThreadEntry {
        ThreadEntry {
            thread,
            space,
            urgent: crate::sched::URGENT_MASKS
                .get(usize::from(priority))
                .copied()
                .unwrap_or(u32::MAX),
            reply_wait: wait_word(crate::kernel::wait::REPLY, u32::from(number)),
            alone: 1,
            reserved: [0; 12 - SPACE_WORDS],
        }
    }

    /// Its thread's priority changed (`ThreadPriority`): `urgent` follows.
    pub fn set_priority(&mut self, priority: u8) {
        self.urgent = crate::sched::URGENT_MASKS
            .get(usize::from(priority))
            .copied()
            .unwrap_or(u32::MAX);
    }
}

/// Offsets into [`ThreadEntry`] and [`crate::kernel::Thread`] for the
/// assembly.
pub mod thread {
    use core::mem::offset_of;

    use super::ThreadEntry;
    use crate::kernel::Thread;

    /// `thread`.
    pub const FRAME: u32 = offset_of!(ThreadEntry, thread) as u32;
    /// `space[0]`.
    pub const SPACE: u32 = offset_of!(ThreadEntry, space) as u32;
    /// `urgent`.
    pub const URGENT: u32 = offset_of!(ThreadEntry, urgent) as u32;
    /// `reply_wait`.
    pub const REPLY_WAIT: u32 = offset_of!(ThreadEntry, reply_wait) as u32;
    /// `alone`.
    pub const ALONE: u32 = offset_of!(ThreadEntry, alone) as u32;
    /// log2 of its size.
    pub const SHIFT: u32 = 6;
    const _: () = assert!(size_of::<ThreadEntry>() == 1 << SHIFT);
    /// `Thread::frame` (the assembly takes a thread's address as its
    /// frame's).
    const _: () = assert!(offset_of!(Thread, frame) == 0);
    /// `Thread::wait`, word-aligned: an express path stores a whole
    /// [`super::wait_word`] into it.
    pub const WAIT: u32 = offset_of!(Thread, wait) as u32;
    const _: () = assert!(WAIT.is_multiple_of(4));
    /// `Thread::reply`.
    pub const REPLY: u32 = offset_of!(Thread, reply) as u32;
    /// `Thread::fast_row`.
    pub const THREAD_FAST_ROW: u32 = offset_of!(Thread, fast_row) as u32;
}

/// `MsgInfo` of a plain message: no payload, no capability, no receive
/// slot (the encoding of `MsgInfo::new(0)`).
pub const PLAIN: u32 = MsgInfo::new(0).encode();
/// `ReplyRecv`'s "tell me if my reply is dropped" flag.
pub const REPLY_DROPPED: u32 = MsgInfo {
    reply_dropped: true,
    ..MsgInfo::new(0)
}
.encode();
/// The bits the entry's express `ReplyRecv` allows in its info word: the
/// "reply dropped" flag and a receive window of slot 0..=30 (the field
/// holds slot + 1 below 32): a window the full path accepts, and nothing
/// its reply would carry.
pub const EXPRESS_REPLY_INFO: u32 = REPLY_DROPPED | (0x1F << 24);

/// The words the entry's fast paths read on every express call, in one
/// block (the kernel's `sotto_fast`), so that one base address in a
/// register reaches them all. `repr(C)`: the assembly reads them at the
/// `FAST_*` offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FastWords {
    /// The frame the user vector saves into: the running thread's (its
    /// `Service`, whose `fast_row` leads to its slots). Which space is
    /// in the MMU, RASID itself tells (every space has its own ASID).
    pub current_frame: u32,
    /// `Kernel::clock_holders` (one bit per thread), copied by
    /// `Hardware::clock_holders` whenever it changes.
    pub clock_holders: u32,
    /// Where the scheduler is (set at boot).
    pub sched: u32,
    /// Where `Kernel::ticks` (a u64) is, for the express `CallTimeout`,
    /// which turns its deadline into a tick from it (set at boot).
    pub ticks: u32,
    /// Each thread as the entry's IPC fast paths see it (its thread, its
    /// row of [`Kernel::fast_caps`], its address space; `thread` 0: no
    /// thread). Thread `t`'s entry is `t << THREAD_SHIFT` bytes past
    /// this field: the base plus that, with this field's offset added to
    /// every field's.
    pub threads: [ThreadEntry; MAX_SERVICES],
}
const _: () = assert!(
    MsgInfo {
        recv_slot: 30,
        reply_dropped: true,
        ..MsgInfo::new(0)
    }
    .encode()
        | EXPRESS_REPLY_INFO
        == EXPRESS_REPLY_INFO
);
const _: () = assert!(sotto_abi::cap::CAP_SLOTS > 30);
/// The receive-slot field of an info word.
pub const RECV_SLOT_FIELD: u32 = 0xFF00_0000;
/// The two slot fields of an info word (capability to send, window).
const SLOT_FIELDS: u32 = 0xFFFF_0000;
const _: () = assert!(
    MsgInfo {
        send_cap: 0xFE,
        recv_slot: 0xFE,
        ..MsgInfo::new(0)
    }
    .encode()
        == SLOT_FIELDS
);
/// The send-capability field of an info word, and its shift.
pub const SEND_CAP_FIELD: u32 = 0x00FF_0000;
const SEND_CAP_SHIFT: u32 = SEND_CAP_FIELD.trailing_zeros();
const _: () = assert!(
    MsgInfo {
        send_cap: 0xFE,
        ..MsgInfo::new(0)
    }
    .encode()
        == SEND_CAP_FIELD
);
/// The "a capability arrived" flag of an info word.
pub const CAP_RECEIVED: u32 = MsgInfo {
    cap_received: true,
    ..MsgInfo::new(0)
}
.encode();

impl<H: Hardware> Kernel<H> {
    /// What the entry may do through slot `at` on its own: exactly what
    /// the full handlers allow (`SemGive` and `NotifySignal` need SEND on
    /// an object of the right kind, `Call` SEND on an endpoint, a receive
    /// RECEIVE on one).
    pub fn fast_slot(&self, at: CapRef) -> FastSlot {
        let Ok(cap) = self.caps.get(at) else {
            return FastSlot::default();
        };
        let send = cap.rights.contains(Rights::SEND);
        let (ops, object) = match (cap.kind, self.objects.get(cap.object as usize)) {
            (ObjectKind::Semaphore, Some(Object::Semaphore(semaphore))) if send => {
                (fast_op::GIVE, core::ptr::from_ref(semaphore) as usize)
            }
            (ObjectKind::Notification, Some(Object::Notification(notification))) if send => {
                (fast_op::SIGNAL, core::ptr::from_ref(notification) as usize)
            }
            (ObjectKind::Endpoint, Some(Object::Endpoint(endpoint))) => {
                let mut ops = 0;
                if send {
                    ops |= fast_op::CALL;
                }
                if cap.rights.contains(Rights::RECEIVE) {
                    ops |= fast_op::RECEIVE;
                }
                (ops, core::ptr::from_ref(endpoint) as usize)
            }
            _ => (0, 0),
        };
        // Kinds whose removal changes a summary (a mapping, the clock
        // holders, an endpoint's receivers): never DROP. Per kind, the
        // rights whose copy changes one: never GRANT with them.
        const REMOVAL_SUMMARISED: u32 = 1 << ObjectKind::Memory as u32
            | 1 << ObjectKind::Clock as u32
            | 1 << ObjectKind::Endpoint as u32;
        const COPY_SUMMARISED: [Rights; ObjectKind::ALL.len()] = {
            let mut rights = [Rights::empty(); ObjectKind::ALL.len()];
            rights[ObjectKind::Clock as usize] = Rights::READ;
            rights[ObjectKind::Endpoint as usize] = Rights::RECEIVE;
            rights
        };
        let kind = cap.kind as usize;
        let mut ops = ops;
        // (A service of several threads is `deletes_express`'s to refuse:
        // the bit follows the capability when the entry copies it to
        // another service.)
        if REMOVAL_SUMMARISED & (1 << kind) == 0 {
            ops |= fast_op::DROP;
        }
        if cap.rights.contains(Rights::GRANT)
            && !cap
                .rights
                .intersects(COPY_SUMMARISED[kind % COPY_SUMMARISED.len()])
        {
            ops |= fast_op::GRANT;
        }
        if ops == 0 {
            return FastSlot::default();
        }
        FastSlot {
            ops,
            object: object as u32,
            badge: cap.badge,
            receiver_wait: wait_word(crate::kernel::wait::RECEIVER, u32::from(cap.object)),
        }
    }

    /// Recompute the entry's view of slot `at` (after it changed).
    pub(crate) fn refresh_fast(&mut self, at: CapRef) {
        let fast = self.fast_slot(at);
        if let Some(row) = self.fast_caps.get_mut(usize::from(at.space)) {
            row[usize::from(at.slot)] = fast;
        }
    }

    /// Run system call `number` (a3..a8 = `args`) of the current thread on
    /// the light path, or say it needs the full one.
    #[inline]
    pub fn light_syscall(&mut self, number: u32, args: [u32; 6]) -> Light {
        if number == Syscall::Null as u32 {
            return Light::Return(0, 0);
        }
        self.light_call(number, args)
    }

    /// Every light call but the null one.
    #[inline]
    fn light_call(&mut self, number: u32, args: [u32; 6]) -> Light {
        let Some(thread) = self.sched.current() else {
            return Light::Slow;
        };
        let outcome = match Syscall::from_raw(number) {
            Some(Syscall::SemGive) => self.sem_give(thread, args[0]),
            Some(Syscall::NotifySignal) => self.notify_signal(thread, args[0], args[1]),
            Some(Syscall::NotifyWait) => self.notify_wait(thread, args[0], true),
            Some(Syscall::NotifyPoll) => self.notify_wait(thread, args[0], false),
            Some(Syscall::Cycles) => self.cycles(thread),
            Some(Syscall::Yield) => {
                return match self.sched.rotate() {
                    None => Light::Return(0, 0),
                    Some(next) => {
                        self.set_result(thread, Ok([0; 5]));
                        Light::Resume(next)
                    }
                };
            }
            Some(Syscall::CallTimeout) => {
                // a8 (`args[5]`): the deadline, as the full handler reads it.
                let until = self.deadline_at(args[5]);
                match self.fast_call(thread, args, Some(until)) {
                    Some(light) => return light,
                    None => return self.hand_to_full_path(thread, number, args),
                }
            }
            Some(Syscall::CapDelete) => match self.light_cap_delete(thread, args[0]) {
                Some(outcome) => outcome,
                None => return self.hand_to_full_path(thread, number, args),
            },
            Some(Syscall::Call) => {
                // A capability message goes as a plain one, its capability
                // moved after (`carried`, `carries`).
                let info = match args[1] {
                    PLAIN => PLAIN,
                    raw => self.carried(thread, raw, PLAIN),
                };
                let plain = [args[0], info, args[2], args[3], args[4], args[5]];
                match self.fast_call(thread, plain, None) {
                    Some(light) => {
                        if info != args[1] {
                            self.carries(thread, None, args[1]);
                        }
                        return light;
                    }
                    None => return self.hand_to_full_path(thread, number, args),
                }
            }
            Some(Syscall::ReplyRecv) => {
                let (info, caller) = match args[1] & !REPLY_DROPPED {
                    0 => (args[1], None),
                    _ => (
                        self.carried(thread, args[1], args[1] & REPLY_DROPPED),
                        self.threads[thread].reply_to(),
                    ),
                };
                let plain = [args[0], info, args[2], args[3], args[4], args[5]];
                match self.fast_reply_recv(thread, plain) {
                    Some(light) => {
                        if info != args[1] {
                            self.carries(thread, caller, args[1]);
                        }
                        return light;
                    }
                    None => return self.hand_to_full_path(thread, number, args),
                }
            }
            _ => return self.hand_to_full_path(thread, number, args),
        };
        self.finish(thread, outcome)
    }

    /// Hand the call to the full path: its registers go into the frame as
    /// the full entry would have saved them (a9..a11 are not preserved by
    /// a system call: zero). Out of line: every light call's fallback
    /// shares one copy.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn hand_to_full_path(&mut self, thread: ThreadId, number: u32, args: [u32; 6]) -> Light {
        let frame = &mut self.threads[thread].frame;
        frame.a[2] = number;
        frame.a[3..9].copy_from_slice(&args);
        frame.a[9..12].fill(0);
        Light::Slow
    }

    /// After a light handler: return directly when the caller keeps the
    /// CPU, else leave its results in its frame and pick the next thread.
    fn finish(&mut self, thread: ThreadId, outcome: Outcome) -> Light {
        match outcome {
            Outcome::Return(result) => {
                if !self.sched.preempts_current() {
                    match result {
                        Ok([value, 0, 0, 0, 0]) => return Light::Return(0, value),
                        Err(error) => return Light::Return(error as u32, 0),
                        Ok(_) => {}
                    }
                }
                self.set_result(thread, result);
            }
            Outcome::Yield => {
                self.set_result(thread, Ok([0; 5]));
                self.sched.yield_current();
            }
            Outcome::Blocked | Outcome::Ended => {}
        }
        match self.sched.schedule() {
            Some(next) => Light::Resume(next),
            None => Light::Idle,
        }
    }

    /// Whether the entry's express paths (trap.S: `Call` 20, `ReplyRecv`
    /// 30, `Yield` 40, `CapDelete` 16) take system call `number` (a3..a8
    /// = `args`) of the current thread themselves: their decision, in
    /// Rust, over the same words. Where it holds, the light path's fast
    /// path (or, for a yield, its switch; for a delete, its direct return)
    /// holds too (tested), and the assembly repeats that path's effects.
    pub fn express(&self, number: u32, args: [u32; 6]) -> bool {
        let Some(thread) = self.sched.current() else {
            return false;
        };
        let fast = |ops: u32| {
            let slot = self.fast_row(thread).get(args[0] as usize)?;
            if slot.ops & ops == 0 {
                return None;
            }
            match self.objects.get(slot.id() as usize) {
                Some(Object::Endpoint(endpoint)) => Some(endpoint),
                _ => None,
            }
        };
        // The alarm is never stale here: every way back to a thread sets
        // it (`timer_after_schedule`, `prepare_idle`), and no express
        // path makes it so (the differential test compares it).
        let runs_next = |other: ThreadId| {
            self.sched.would_run_next(self.sched.priority(other))
                && self.threads[other].frame.kind == kind::IPC
        };
        if number == Syscall::CapDelete as u32 {
            return self.deletes_express(thread, args[0]);
        }
        if number == Syscall::Call as u32 || number == Syscall::CallTimeout as u32 {
            // `Call` may carry a capability (the entry copies it).
            let message = args[1] == PLAIN
                || (number == Syscall::Call as u32 && self.carries_express(thread, args[1]));
            let Some(endpoint) = fast(fast_op::CALL).filter(|_| message) else {
                return false;
            };
            // The only receiver: the entry does not move the others up.
            let Some(&server) = endpoint
                .receivers
                .front()
                .filter(|_| endpoint.receivers.len() == 1)
            else {
                return false;
            };
            let server = usize::from(server);
            // The receiver holds RECEIVE (one that loses it is woken
            // with `Revoked`; the fuzzer checks both that and `holders`).
            self.sched.priority(thread) >= endpoint.least_urgent
                && runs_next(server)
                && matches!(self.threads[server].wait, Wait::Receiver(_))
                // A deadline the entry queues itself (`express_timeout`).
                && (number != Syscall::CallTimeout as u32
                    || self.sched.timeout_express(self.deadline_at(args[5])))
        } else if number == Syscall::Yield as u32 {
            // `rotate` switches; the slice alarm stays as it is.
            self.sched.alarm_slice_only() && !self.sched.would_run_next(self.sched.priority(thread))
        } else if number == Syscall::ReplyRecv as u32 {
            let Some(endpoint) = fast(fast_op::RECEIVE)
                .filter(|_| args[1] | EXPRESS_REPLY_INFO == EXPRESS_REPLY_INFO)
            else {
                return false;
            };
            let Some(caller) = self.threads[thread].reply_to() else {
                return false;
            };
            endpoint.callers.is_empty()
                && endpoint.receivers.is_empty()
                && self.threads[caller].wait == Wait::Reply(thread as ThreadNo)
                && runs_next(caller)
                && self.sched.forget_express(caller)
        } else {
            false
        }
    }

    /// The rest of the entry's express `CallTimeout`: the caller (blocked,
    /// its reply owed by the server now running) waits at most until
    /// deadline `until` (a8), as the light path's `fast_call` would have
    /// it wait. Where [`Kernel::express`] takes the call, this is
    /// [`Scheduler::timeout_express`]'s case, which the assembly repeats
    /// (trap.S, 22): the caller's kind and tick, its slot alone in the
    /// timeout queue, the head-changed flag taken, the alarm left as it is.
    ///
    /// [`Scheduler::timeout_express`]: crate::sched::Scheduler::timeout_express
    pub fn express_timeout(&mut self, caller: ThreadId, until: u32) {
        let until = self.deadline_at(until);
        self.sched.block_until(caller, until);
    }

    /// `Call` to a server waiting in receive, registers only: the message
    /// goes straight into the server's frame and the server runs — if the
    /// scheduler would run it next anyway. `None`: the full path decides
    /// (errors included), nothing changed.
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn fast_call(&mut self, thread: ThreadId, args: [u32; 6], until: Option<u64>) -> Option<Light> {
        if args[1] != PLAIN {
            return None;
        }
        let cap = self
            .cap_cold(thread, args[0], ObjectKind::Endpoint, Rights::SEND)
            .ok()?;
        let Some(Object::Endpoint(endpoint)) = self.objects.get(cap.object as usize) else {
            return None;
        };
        let server = usize::from(*endpoint.receivers.front()?);
        let answerable = u32::from(endpoint.holders) & !(1 << thread) != 0;
        if !answerable
            || endpoint.least_urgent > self.sched.priority(thread)
            || !matches!(self.threads[server].wait, Wait::Receiver(object) if object == cap.object)
            || !self.sched.would_run_next(self.sched.priority(server))
            || self.sched.is_suspended(server)
        {
            return None;
        }
        if let Some(Object::Endpoint(endpoint)) = self.objects.get_mut(cap.object as usize) {
            endpoint.receivers.pop_front();
        }
        // The caller's registers, as the full entry would have saved them
        // (a reply reads its receive slot from a4).
        self.threads[thread].frame.a[3..8].copy_from_slice(&args[..5]);
        self.threads[thread].wait = Wait::Reply(server as ThreadNo);
        // Saved as the entry saves a caller it hands off (`SAVE_IPC_CALLER`).
        self.threads[thread].frame.kind = kind::IPC;
        let receiver = &mut self.threads[server];
        let delivered = receiver.frame.a[4] & RECV_SLOT_FIELD;
        receiver.frame.a[2..8]
            .copy_from_slice(&[0, cap.badge, delivered, args[2], args[3], args[4]]);
        receiver.set_reply_to(Some(thread));
        receiver.wait = Wait::None;
        self.sched.hand_over(server, until);
        Some(Light::Handoff(server))
    }

    /// `ReplyRecv` whose reply finds its caller waiting and whose receive
    /// finds no caller queued, registers only: the reply goes into the
    /// caller's frame, this thread waits on the endpoint, the caller runs
    /// — if the scheduler would run it next anyway.
    fn fast_reply_recv(&mut self, thread: ThreadId, args: [u32; 6]) -> Option<Light> {
        // Only a main thread parks as a receiver here: one whose frame is
        // an IPC one is a receiver the entry's express `Call` may deliver
        // a capability to, by the thread's number (`Kernel::fast_row`).
        if args[1] & !REPLY_DROPPED != 0 || self.space(thread) != thread {
            return None;
        }
        let caller = self.threads[thread].reply_to()?;
        if !matches!(self.threads[caller].wait, Wait::Reply(server) if usize::from(server) == thread)
            || !self.sched.would_run_next(self.sched.priority(caller))
            || self.sched.is_suspended(caller)
        {
            return None;
        }
        let cap = self
            .cap(thread, args[0], ObjectKind::Endpoint, Rights::RECEIVE)
            .ok()?;
        match self.objects.get_mut(cap.object as usize) {
            Some(Object::Endpoint(endpoint)) if endpoint.callers.is_empty() => {
                endpoint.receivers.push_back(thread as u8).ok()?;
            }
            _ => return None,
        }
        let server = &mut self.threads[thread];
        server.set_reply_to(None);
        server.frame.a[4] = args[1];
        server.wait = Wait::Receiver(cap.object);
        server.frame.kind = kind::IPC;
        let cycles = self.cycles_for(caller);
        let client = &mut self.threads[caller];
        let delivered = client.frame.a[4] & RECV_SLOT_FIELD;
        client.frame.a[2..8].copy_from_slice(&[0, delivered, cycles, args[2], args[3], args[4]]);
        client.wait = Wait::None;
        self.sched.hand_over(caller, None);
        Some(Light::Handoff(caller))
    }
}

/// Whether `raw` is an info word with no payload and nothing set but a
/// capability to send, a receive window and, where `dropped_flag`
/// allows it, `ReplyRecv`'s "reply dropped" flag: the messages the
/// capability fast paths take. Its decoding, then.
fn cap_message(raw: u32, dropped_flag: bool) -> Option<MsgInfo> {
    let allowed = SLOT_FIELDS | if dropped_flag { REPLY_DROPPED } else { 0 };
    (raw & !allowed == 0).then(|| MsgInfo::decode(raw))
}

/// The capability fast paths: a `Call` or `ReplyRecv` whose message
/// carries a capability (or opens a receive window), no payload, and the
/// `CapDelete` a server makes of what it received. The message is checked
/// as the full path checks it (the sender's slot holds a capability with
/// GRANT, the windows are slots), takes the registers-only fast path as a
/// plain one (which decides the rest), and its capability then moves as
/// `transfer` moves it (only into a free window); anything else, and
/// every error, goes to the full path untouched.
impl<H: Hardware> Kernel<H> {
    /// The info word the registers-only paths get for `thread`'s message
    /// with info `raw`: `plain` if the capability fast paths take it and
    /// it passes the full path's checks, else `raw` (which they decline).
    #[inline(never)]
    fn carried(&self, thread: ThreadId, raw: u32, plain: u32) -> u32 {
        match cap_message(raw, plain != PLAIN) {
            Some(info) if self.check_message(thread, info).is_ok() => plain,
            _ => raw,
        }
    }

    /// After the registers-only path delivered `thread`'s capability
    /// message (info `raw`) to `caller` (a reply) or to the server it
    /// now waits for (a call): `thread`'s info as the full path keeps it
    /// (a reply, a call, reads the window there), and the capability into
    /// the peer's window, which the info it was given names (a3 for a
    /// caller, a4 for a server).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    fn carries(&mut self, thread: ThreadId, caller: Option<ThreadId>, raw: u32) {
        self.threads[thread].frame.a[4] = raw;
        let (peer, info_at) = match (caller, self.threads[thread].wait) {
            (Some(caller), _) => (caller, 3),
            (None, Wait::Reply(server)) => (usize::from(server), 4),
            _ => return,
        };
        let window = MsgInfo::decode(self.threads[peer].frame.a[info_at]).recv_slot;
        let send_cap = MsgInfo::decode(raw).send_cap;
        if self.pass_cap(thread, send_cap, peer, window) {
            self.threads[peer].frame.a[info_at] |= CAP_RECEIVED;
        }
    }

    /// Whether the entry's express `Call` takes `thread`'s message with
    /// info `raw` as a capability message: nothing in it but a capability
    /// to send, from a slot whose fast word says GRANT (so
    /// `check_message` passes it). The rest is a plain call's decision.
    pub fn carries_express(&self, thread: ThreadId, raw: u32) -> bool {
        let send = (raw >> SEND_CAP_SHIFT).wrapping_sub(1);
        raw & !SEND_CAP_FIELD == 0
            && self
                .fast_row(thread)
                .get(send as usize)
                .is_some_and(|slot| slot.ops & fast_op::GRANT != 0)
    }

    /// Whether the entry's express `CapDelete` (trap.S, 16) takes
    /// `thread`'s delete of `slot`: a capability whose removal changes
    /// nothing but its slot, its fast word and its parent's count (the
    /// DROP bit, and nothing was derived from it, so nothing is handed
    /// on; the caller runs, so it waits for nothing: fuzz-checked), while
    /// nothing more urgent is ready: the light path would return 0 at
    /// once.
    fn deletes_express(&self, thread: ThreadId, slot: u32) -> bool {
        let Ok(at) = CapSpaces::<MAX_SERVICES>::slot_ref(self.space(thread) as u8, slot) else {
            return false;
        };
        self.fast_row(thread)[usize::from(at.slot)].ops & fast_op::DROP != 0
            // Not in a service of several threads: the caller runs, but
            // another thread of its may wait through the capability (its
            // removal ends that wait). (`ThreadEntry::alone`.)
            && self.services[self.space(thread)].threads <= 1
            && self.caps.children(at) == 0
            && !self.sched.preempts_current()
    }

    /// `CapDelete` on the light path, but for a memory capability (its
    /// mapping may have to shrink: page tables). `None`: the full path.
    #[inline(never)]
    fn light_cap_delete(&mut self, thread: ThreadId, slot: u32) -> Option<Outcome> {
        if let Ok(at) = CapSpaces::<MAX_SERVICES>::slot_ref(self.space(thread) as u8, slot)
            && self
                .caps
                .get(at)
                .is_ok_and(|cap| cap.kind == ObjectKind::Memory)
        {
            return None;
        }
        Some(self.cap_delete(thread, slot))
    }
}

#[cfg(test)]
mod tests;
