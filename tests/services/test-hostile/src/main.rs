//! Test service: a hostile neighbour. It makes random raw system calls
//! from a seeded PRNG — every number (valid, unknown, never Exit or
//! Panic), slots in and out of range, empty and of the wrong kind, pointers
//! (null, kernel, unmapped, straddling a mapping's end, wrapping), lengths,
//! rights, badges, message infos with capability transfers, timer arms,
//! derive / move / delete / revoke of its own capabilities, map / unmap —
//! and counts the answers. At the end it prints a histogram of return codes
//! per call and per code, one console write per line.
//!
//! `arg`: bits 0..7 seed, bit 7 role, bits 8.. calls in thousands. Two
//! instances run at the lowest priority (tests/hostile.toml). Neither may
//! end up blocked for good: every wait it can enter has a time limit, or
//! is on a notification a boot-armed heartbeat timer signals every tick.
//! Only the *blocker* role also makes calls without a limit (plain `Call`,
//! `Recv`, `ReplyRecv`); the other role never does, and once done it keeps
//! calling, receiving and replying on the shared endpoint, so the blocker
//! is always released.
//!
//! Some answers are known whatever state the fuzzing reached (an unknown
//! number, a slot past the table, a pointer into the kernel): a different
//! answer is an oracle mismatch, printed and counted.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt::Write as _;

use sotto_abi::cap::CAP_SLOTS;
use sotto_abi::layout::{IPC_BUFFER_VA, PAGE_SIZE, USER_STACK_TOP};
use sotto_abi::syscall::{CONSOLE_WRITE_MAX, MsgInfo, NO_SLOT};
use sotto_rt::console::Buffer;
use sotto_rt::sys::{self, Syscall};
use sotto_rt::{Error, Rights, println};

sotto_rt::entry!(main);

/// Slots, as tests/hostile.toml grants them.
const CONSOLE: u32 = 0;
const ENDPOINT: u32 = 1;
const BITS: u32 = 2;
const SEMAPHORE: u32 = 3;
const TIMER: u32 = 4;
const MEMORY: u32 = 5;
const SHARED: u32 = 6;
const CLOCK: u32 = 7;
const PEER_BITS: u32 = 8;
const GRANTED: [u32; 9] = [
    CONSOLE, ENDPOINT, BITS, SEMAPHORE, TIMER, MEMORY, SHARED, CLOCK, PEER_BITS,
];
/// Never deleted or moved away: the console for the report, the endpoint
/// the other instance calls, the notification the heartbeat signals.
const PROTECTED: [u32; 3] = [CONSOLE, ENDPOINT, BITS];

/// Kernel text, and a kernel data address past the user window.
const KERNEL_TEXT: u32 = 0x0010_0000;
const KERNEL_HIGH: u32 = 0xD000_0000;
/// Nothing is mapped here.
const UNMAPPED: u32 = 0x3000_0000;

/// One call in this many that may wait really may (a wait lasts up to a
/// few ticks; the rest of the calls answer at once).
const WAIT_ONE_IN: u32 = 48;

/// Buckets of the histogram: call numbers 0..=28, then "unknown".
const CALLS: usize = Syscall::ALL.len() + 1;
/// Status buckets: 0 (ok), every error code, then "other".
const STATUSES: usize = Error::ALL.len() + 2;

/// Complete lines only: a console write the kernel accepts never leaves a
/// line open for other services' output to continue.
static LINE: &[u8] = b"hostile: console write accepted\n";

/// xorshift64*, seeded through splitmix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// 0..n.
    fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next()) * u64::from(n)) >> 32) as u32
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.below(one_in) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u32) as usize]
    }
}

/// What the kernel must answer, whatever state the fuzzing reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Anything,
    Success,
    Fails(Error),
}

/// One call to make.
struct Plan {
    number: u32,
    args: [u32; 6],
    expect: Expect,
    /// Take the heartbeat's pending bits first (a `NotifyPoll`, counted
    /// too), so that a `RecvOrWait` can receive a call rather than return
    /// the bits at once.
    poll_first: bool,
}

struct Fuzzer {
    rng: Rng,
    /// May make calls without a time limit.
    blocker: bool,
    /// Slots it believes hold a capability (bit n: slot n), learnt from the
    /// answers; the other instance may revoke what it derived, so this is
    /// a guess that EmptySlot answers correct. Aiming at filled slots
    /// reaches deeper states than random slots, which are mostly empty.
    filled: u32,
    /// Slots holding its original (granted) capabilities, wherever moves
    /// took them: deleted only rarely, since what is gone stays gone.
    originals: u32,
}

impl Fuzzer {
    /// A slot it believes filled, among `mask`.
    fn filled_slot(&mut self, mask: u32) -> Option<u32> {
        let candidates = self.filled & mask;
        let count = candidates.count_ones();
        if count == 0 {
            return None;
        }
        let mut skip = self.rng.below(count);
        (0..CAP_SLOTS as u32).find(|slot| {
            candidates & (1 << slot) != 0 && {
                let hit = skip == 0;
                skip = skip.wrapping_sub(1);
                hit
            }
        })
    }

    /// A slot: mostly filled ones, some free, some past the table.
    fn slot(&mut self) -> u32 {
        match self.rng.below(10) {
            0..=5 => match self.filled_slot(u32::MAX) {
                Some(slot) => slot,
                None => self.rng.pick(&GRANTED),
            },
            6..=8 => self.scratch_slot(),
            _ => self
                .rng
                .pick(&[CAP_SLOTS as u32, 255, 256, 0xFFFF, u32::MAX]),
        }
    }

    /// A slot past the granted ones, mostly one believed free (a target).
    fn scratch_slot(&mut self) -> u32 {
        let free = !self.filled & !((1 << GRANTED.len()) - 1);
        if free != 0 && !self.rng.chance(4) {
            let saved = self.filled;
            self.filled = free;
            let slot = self.filled_slot(u32::MAX);
            self.filled = saved;
            if let Some(slot) = slot {
                return slot;
            }
        }
        GRANTED.len() as u32 + self.rng.below(CAP_SLOTS as u32 - GRANTED.len() as u32)
    }

    /// A slot to move from: never a protected one.
    fn movable_slot(&mut self) -> u32 {
        let protected: u32 = PROTECTED.iter().map(|slot| 1 << slot).sum();
        self.filled_slot(!protected)
            .unwrap_or_else(|| self.scratch_slot())
    }

    /// A slot to delete: never a protected one, an original only rarely,
    /// mostly a filled one holding a derived or received capability.
    fn expendable_slot(&mut self) -> u32 {
        let protected: u32 = PROTECTED.iter().map(|slot| 1 << slot).sum();
        if self.rng.chance(8192) {
            return self
                .filled_slot(!protected)
                .unwrap_or_else(|| self.scratch_slot());
        }
        let slot = self
            .filled_slot(!protected & !self.originals)
            .unwrap_or_else(|| self.scratch_slot());
        if self.originals & (1 << slot) != 0 {
            // A scratch slot an original was moved to: leave it.
            self.rng.pick(&[CAP_SLOTS as u32, 255])
        } else {
            slot
        }
    }

    /// Learn from an answer which slots are filled.
    fn learn(&mut self, plan: &Plan, status: u32, results: [u32; 5]) {
        let Some(call) = Syscall::from_raw(plan.number) else {
            return;
        };
        let mut set = |slot: u32, filled: bool| {
            if slot < CAP_SLOTS as u32 {
                if filled {
                    self.filled |= 1 << slot;
                } else {
                    self.filled &= !(1 << slot);
                }
            }
        };
        let first = plan.args[0];
        let takes_slot = !matches!(
            call,
            Syscall::Null
                | Syscall::ConsoleWrite
                | Syscall::Exit
                | Syscall::Yield
                | Syscall::Sleep
                | Syscall::Panic
                | Syscall::Cycles
                | Syscall::Ticks
                | Syscall::Reply
        );
        if takes_slot {
            if status == Error::EmptySlot as u32 && call != Syscall::CapDerive {
                set(first, false);
            } else if status == 0
                || status == Error::WrongKind as u32
                || status == Error::MissingRight as u32
            {
                set(first, true);
            }
        }
        match call {
            Syscall::CapDerive if status == 0 || status == Error::SlotInUse as u32 => {
                set(plan.args[1], true)
            }
            Syscall::CapMove if status == 0 => {
                set(first, first == plan.args[1]);
                set(plan.args[1], true);
                if self.originals & (1 << first) != 0 && first != plan.args[1] {
                    self.originals = (self.originals & !(1 << first)) | (1 << plan.args[1]);
                }
            }
            Syscall::CapMove if status == Error::SlotInUse as u32 => set(plan.args[1], true),
            Syscall::CapDelete if status == 0 => {
                set(first, false);
                self.originals &= !(1 << first);
            }
            // A capability received, in a call or in a reply.
            Syscall::Recv | Syscall::ReplyRecv | Syscall::RecvOrWait if status == 0 => {
                let info = MsgInfo::decode(results[1]);
                if info.cap_received {
                    set(u32::from(info.recv_slot), true);
                }
            }
            Syscall::Call | Syscall::CallTimeout if status == 0 => {
                let info = MsgInfo::decode(results[0]);
                if info.cap_received {
                    set(u32::from(info.recv_slot), true);
                }
            }
            _ => {}
        }
    }

    fn out_of_range_slot(&mut self) -> u32 {
        self.rng
            .pick(&[CAP_SLOTS as u32, 33, 255, 256, 0x1_0000, u32::MAX])
    }

    fn rights(&mut self) -> u32 {
        let useful = [
            Rights::READ,
            Rights::READ | Rights::WRITE,
            Rights::READ | Rights::WRITE | Rights::GRANT,
            Rights::SEND,
            Rights::SEND | Rights::GRANT,
            Rights::RECEIVE,
            Rights::SEND | Rights::RECEIVE | Rights::GRANT,
            Rights::CONTROL | Rights::GRANT,
        ];
        match self.rng.below(6) {
            0..=3 => self.rng.pick(&useful).bits(),
            4 => self.rng.below(0x40),
            _ => self.rng.next(),
        }
    }

    fn badge(&mut self) -> u32 {
        match self.rng.below(4) {
            0 | 1 => 0,
            2 => 1 + self.rng.below(8),
            _ => self.rng.next(),
        }
    }

    fn info(&mut self) -> u32 {
        let len = match self.rng.below(8) {
            0..=4 => self.rng.below(64) as u16,
            5 => 4096,
            6 => 4097 + self.rng.below(4000) as u16,
            _ => 0,
        };
        let send_cap = if self.rng.chance(3) {
            self.slot().min(255) as u8
        } else {
            NO_SLOT
        };
        let recv_slot = if self.rng.chance(2) {
            self.slot().min(255) as u8
        } else {
            NO_SLOT
        };
        MsgInfo {
            len,
            send_cap,
            recv_slot,
            cap_received: self.rng.chance(8),
            signalled: self.rng.chance(8),
            reply_dropped: self.rng.chance(8),
        }
        .encode()
    }

    /// A page address in and around the region window.
    fn map_address(&mut self) -> u32 {
        match self.rng.below(8) {
            0..=3 => 0x5000_0000 + self.rng.below(8) * PAGE_SIZE,
            4 => 0x5040_0000 + self.rng.below(4) * PAGE_SIZE,
            5 => self
                .rng
                .pick(&[0x5EFF_F000, 0x5F00_0000, 0x4FFF_F000, 0x5000_0800]),
            6 => self.rng.pick(&[
                0,
                KERNEL_TEXT,
                KERNEL_HIGH,
                IPC_BUFFER_VA,
                USER_STACK_TOP - PAGE_SIZE,
                0xFFFF_F000,
            ]),
            _ => self.rng.next(),
        }
    }

    /// Microseconds that always end a wait soon.
    fn short_wait(&mut self) -> u32 {
        match self.rng.below(4) {
            0 => 0,
            1 => 1,
            _ => 1 + self.rng.below(1500),
        }
    }

    /// A `CallTimeout` deadline near the kernel's tick count: passed (it
    /// ends the wait at the next tick), or one or two ticks ahead.
    fn near_deadline(&mut self) -> u32 {
        let now = sys::ticks();
        match self.rng.below(4) {
            0 => now.wrapping_sub(self.rng.below(3)),
            _ => now.wrapping_add(1 + self.rng.below(2)),
        }
    }

    fn console_write(&mut self) -> Plan {
        let text = LINE.as_ptr() as u32;
        let (va, len, expect) = match self.rng.below(10) {
            0 => (0, 4, Expect::Fails(Error::BadAddress)),
            1 => (KERNEL_TEXT, 4, Expect::Fails(Error::BadAddress)),
            2 => (KERNEL_HIGH, 16, Expect::Fails(Error::BadAddress)),
            3 => (UNMAPPED, 1, Expect::Fails(Error::BadAddress)),
            // Straddling the end of a mapping: the IPC buffer is one page
            // and the page after it is unmapped; so is the stack's top.
            4 => (
                IPC_BUFFER_VA + PAGE_SIZE - 2,
                4,
                Expect::Fails(Error::BadAddress),
            ),
            5 => (USER_STACK_TOP - 2, 4, Expect::Fails(Error::BadAddress)),
            6 => (0xFFFF_FFF0, 0x20, Expect::Fails(Error::BadLength)),
            7 => (
                text,
                CONSOLE_WRITE_MAX + 1 + self.rng.below(0x1_0000),
                Expect::Fails(Error::BadLength),
            ),
            8 => (self.rng.next(), 0, Expect::Success),
            // Whole lines only, and rarely: they show on the console.
            _ if self.rng.chance(8) => (text, LINE.len() as u32, Expect::Success),
            _ => (text, 0, Expect::Success),
        };
        Plan {
            number: Syscall::ConsoleWrite as u32,
            args: [va, len, 0, 0, 0, 0],
            expect,
            poll_first: false,
        }
    }

    /// The next call: a number, its registers, the known answer if any.
    fn plan(&mut self) -> Plan {
        let mut junk = [0u32; 6];
        for word in &mut junk {
            *word = self.rng.next();
        }
        let call = match self.rng.below(60) {
            0 => None,
            n => Syscall::from_raw(n % Syscall::ALL.len() as u32),
        };
        let Some(call) = call else {
            let number = self.rng.pick(&[
                Syscall::ALL.len() as u32,
                Syscall::ALL.len() as u32 + 1,
                255,
                4242,
                0x8000_0000,
                u32::MAX,
            ]);
            return Plan {
                number,
                args: junk,
                expect: Expect::Fails(Error::UnknownSyscall),
                poll_first: false,
            };
        };
        // A single-slot call with a slot past the table: BadSlot, always.
        let bad_slot = self.rng.chance(10);
        let slot = if bad_slot {
            self.out_of_range_slot()
        } else {
            self.slot()
        };
        let slot_expect = if bad_slot {
            Expect::Fails(Error::BadSlot)
        } else {
            Expect::Anything
        };
        // Calls that may wait: one in WAIT_ONE_IN really may; the others
        // get arguments that answer at once (no time limit to wait, or the
        // console's slot where an endpoint or a notification belongs).
        let wait = self.rng.chance(WAIT_ONE_IN);
        let quick_slot = if bad_slot { slot } else { CONSOLE };
        let quick_expect = if bad_slot {
            slot_expect
        } else {
            Expect::Fails(Error::WrongKind)
        };
        let plan = |args: [u32; 6], expect| Plan {
            number: call as u32,
            args,
            expect,
            poll_first: false,
        };
        match call {
            // Never ended on purpose: the fuzzing must go on.
            Syscall::Exit | Syscall::Panic => plan([0; 6], Expect::Success).with(Syscall::Null),
            Syscall::Null | Syscall::Yield | Syscall::Ticks => plan(junk, Expect::Success),
            Syscall::Cycles => plan(junk, Expect::Anything),
            Syscall::Sleep => {
                let micros = if wait { self.short_wait() } else { 0 };
                plan([micros, 0, 0, 0, 0, 0], Expect::Success)
            }
            Syscall::ConsoleWrite => self.console_write(),
            Syscall::CapDerive => plan(
                [slot, self.scratch_slot(), self.rights(), self.badge(), 0, 0],
                if bad_slot {
                    slot_expect
                } else {
                    Expect::Anything
                },
            ),
            Syscall::CapMove => {
                let from = if bad_slot { slot } else { self.movable_slot() };
                plan([from, self.scratch_slot(), 0, 0, 0, 0], slot_expect)
            }
            Syscall::CapDelete => {
                let target = if bad_slot {
                    slot
                } else {
                    self.expendable_slot()
                };
                plan([target, 0, 0, 0, 0, 0], slot_expect)
            }
            // It holds no thread capability: these fail on the slot.
            Syscall::ThreadPriority
            | Syscall::ThreadDeadline
            | Syscall::ThreadSuspend
            | Syscall::ThreadResume
            | Syscall::ThreadCpuTime => plan([slot, junk[1], junk[2], 0, 0, 0], slot_expect),
            // It holds no service capability either; it supervises nobody,
            // so no fault is ever pending for it.
            Syscall::ServiceRestart | Syscall::ServiceStop | Syscall::ServiceQuery => {
                plan([slot, junk[1], junk[2], 0, 0, 0], slot_expect)
            }
            Syscall::FaultTake => plan(junk, Expect::Fails(Error::WouldBlock)),
            // Any thread may trace a service code (recorded, or not with
            // tracing off); every other code is refused.
            Syscall::Trace => {
                let code = if self.rng.chance(2) {
                    junk[0]
                } else {
                    u32::from(sotto_abi::trace::code::LL_TICK)
                };
                let expect = if sotto_abi::trace::code::is_service(code) {
                    Expect::Success
                } else {
                    Expect::Fails(Error::BadArgument)
                };
                plan([code, junk[1], junk[2], 0, 0, 0], expect)
            }
            Syscall::CapRevoke
            | Syscall::CapInfo
            | Syscall::NotifyPoll
            | Syscall::SemGive
            | Syscall::TimerCancel
            | Syscall::MemUnmap
            | Syscall::MemInfo => plan([slot, junk[1], 0, 0, 0, 0], slot_expect),
            // Every notification it can reach is signalled every tick.
            Syscall::NotifyWait if wait => plan([slot, 0, 0, 0, 0, 0], slot_expect),
            Syscall::NotifyWait => plan([quick_slot, 0, 0, 0, 0, 0], quick_expect),
            Syscall::NotifySignal => {
                let bits = if self.rng.chance(2) {
                    1 << self.rng.below(32)
                } else {
                    self.rng.next()
                };
                plan([slot, bits, 0, 0, 0, 0], slot_expect)
            }
            Syscall::SemTake => {
                let micros = if wait { self.short_wait() } else { 0 };
                plan([slot, micros, 0, 0, 0, 0], slot_expect)
            }
            Syscall::TimerArm => {
                let delay = if self.rng.chance(4) {
                    self.rng.next()
                } else {
                    self.rng.below(20)
                };
                let period = match self.rng.below(4) {
                    0 => 0,
                    1 => self.rng.next(),
                    _ => 1 + self.rng.below(20),
                };
                let unit = self.rng.pick(&[0, 0, 1, 2, u32::MAX]);
                plan([slot, delay, period, unit, 0, 0], Expect::Anything)
            }
            Syscall::MemMap => {
                let rights = if self.rng.chance(3) {
                    self.rights()
                } else {
                    self.rng
                        .pick(&[Rights::READ, Rights::READ | Rights::WRITE])
                        .bits()
                };
                plan(
                    [slot, self.map_address(), rights, 0, 0, 0],
                    Expect::Anything,
                )
            }
            Syscall::CallTimeout if wait => {
                // Any word is a deadline (at most 2^31 ticks ahead: as
                // good as none, the blocker's only); else one near now,
                // passed or a tick or two ahead.
                let limit = if self.blocker && self.rng.chance(16) {
                    junk[5]
                } else {
                    self.near_deadline()
                };
                let slot = if self.rng.chance(2) { ENDPOINT } else { slot };
                plan(
                    [slot, self.info(), junk[2], junk[3], junk[4], limit],
                    Expect::Anything,
                )
            }
            Syscall::CallTimeout => plan(
                [quick_slot, self.info(), junk[2], junk[3], junk[4], junk[5]],
                quick_expect,
            ),
            // Only the heartbeat ends this wait for sure: the notification
            // is BITS, or a slot where it fails at once.
            Syscall::RecvOrWait if wait => {
                let endpoint = if self.rng.chance(2) { ENDPOINT } else { slot };
                let bits = if self.rng.chance(4) {
                    self.rng.pick(&[PEER_BITS, SEMAPHORE, CAP_SLOTS as u32])
                } else {
                    BITS
                };
                Plan {
                    poll_first: true,
                    ..plan([endpoint, self.info(), bits, 0, 0, 0], Expect::Anything)
                }
            }
            Syscall::RecvOrWait => plan(
                [quick_slot, self.info(), self.slot(), 0, 0, 0],
                quick_expect,
            ),
            Syscall::Reply => plan(
                [junk[0], self.info(), junk[2], junk[3], junk[4], 0],
                Expect::Anything,
            ),
            // Calls without a time limit: the blocker makes them when it
            // may wait; otherwise they go where they fail at once. The
            // reply part of ReplyRecv comes first and may fail on its own.
            Syscall::Call | Syscall::Recv | Syscall::ReplyRecv => {
                let (slot, expect) = if wait && self.blocker {
                    let slot = if self.rng.chance(2) { ENDPOINT } else { slot };
                    (slot, Expect::Anything)
                } else if call == Syscall::ReplyRecv {
                    (quick_slot, Expect::Anything)
                } else {
                    (quick_slot, quick_expect)
                };
                plan([slot, self.info(), junk[2], junk[3], junk[4], 0], expect)
            }
        }
    }
}

impl Plan {
    /// The same plan for another call (Exit and Panic become Null).
    fn with(self, call: Syscall) -> Plan {
        Plan {
            number: call as u32,
            ..self
        }
    }
}

fn status_bucket(status: u32) -> usize {
    if status == 0 {
        return 0;
    }
    match Error::check(status) {
        Err(Some(error)) => error as usize,
        _ => STATUSES - 1,
    }
}

fn status_name(bucket: usize) -> &'static str {
    match bucket {
        0 => "ok",
        b if b == STATUSES - 1 => "other",
        b => Error::ALL
            .iter()
            .find(|error| **error as usize == b)
            .map_or("?", |error| error_name(*error)),
    }
}

fn error_name(error: Error) -> &'static str {
    match error {
        Error::UnknownSyscall => "UnknownSyscall",
        Error::BadAddress => "BadAddress",
        Error::BadLength => "BadLength",
        Error::BadArgument => "BadArgument",
        Error::BadSlot => "BadSlot",
        Error::EmptySlot => "EmptySlot",
        Error::SlotInUse => "SlotInUse",
        Error::WrongKind => "WrongKind",
        Error::MissingRight => "MissingRight",
        Error::WidenRights => "WidenRights",
        Error::AlreadyBadged => "AlreadyBadged",
        Error::WouldBlock => "WouldBlock",
        Error::TimedOut => "TimedOut",
        Error::Overflow => "Overflow",
        Error::PeerGone => "PeerGone",
        Error::Revoked => "Revoked",
        Error::PriorityInversion => "PriorityInversion",
        Error::OutOfTables => "OutOfTables",
        Error::AboveCeiling => "AboveCeiling",
        Error::AlreadySuspended => "AlreadySuspended",
        Error::NotSuspended => "NotSuspended",
        Error::ThreadEnded => "ThreadEnded",
        Error::PeerRestarted => "PeerRestarted",
        Error::BadState => "BadState",
    }
}

/// One console write per line, so no other service's output lands inside.
fn emit(line: &Buffer<320>) {
    let _ = sys::console_write(line.as_bytes());
}

struct Histogram {
    counts: [[u32; STATUSES]; CALLS],
    mismatches: u32,
}

impl Histogram {
    fn record(&mut self, plan: &Plan, status: u32) {
        let call = (plan.number as usize).min(CALLS - 1);
        let bucket = status_bucket(status);
        self.counts[call][bucket] += 1;
        let wrong = match plan.expect {
            Expect::Anything => false,
            Expect::Success => status != 0,
            Expect::Fails(error) => status != error as u32,
        };
        if wrong {
            self.mismatches += 1;
            if self.mismatches <= 5 {
                let mut line = Buffer::<320>::new();
                let _ = writeln!(
                    line,
                    "ORACLE MISMATCH: call {} args {:x?} answered {status} ({})",
                    plan.number,
                    plan.args,
                    status_name(bucket)
                );
                emit(&line);
            }
        }
    }

    fn print(&self, total: u32, arg: u32) {
        let mut line = Buffer::<320>::new();
        let _ = writeln!(
            line,
            "histogram: {total} calls, {} oracle mismatches (arg {arg:#x})",
            self.mismatches
        );
        emit(&line);
        for (call, row) in self.counts.iter().enumerate() {
            if row.iter().all(|count| *count == 0) {
                continue;
            }
            let mut line = Buffer::<320>::new();
            match Syscall::from_raw(call as u32) {
                Some(known) => {
                    let _ = write!(line, "  {known:?}:");
                }
                None => {
                    let _ = write!(line, "  unknown numbers:");
                }
            }
            for (bucket, count) in row.iter().enumerate() {
                if *count > 0 {
                    let _ = write!(line, " {} {count}", status_name(bucket));
                }
            }
            let _ = writeln!(line);
            emit(&line);
        }
        let mut line = Buffer::<320>::new();
        let _ = write!(line, "  by status:");
        for bucket in 0..STATUSES {
            let count: u32 = self.counts.iter().map(|row| row[bucket]).sum();
            if count > 0 {
                let _ = write!(line, " {} {count}", status_name(bucket));
            }
        }
        let _ = writeln!(line);
        emit(&line);
    }
}

/// After the run: keep the shared endpoint alive (call it, receive on it,
/// reply), so the blocker instance is never left waiting for good.
fn keep_the_blocker_going() -> ! {
    loop {
        let _ = sys::raw_syscall_regs(Syscall::Reply as u32, [0; 6]);
        // Pending bits would end the receive at once: take them first.
        let _ = sys::raw_syscall_regs(Syscall::NotifyPoll as u32, [BITS, 0, 0, 0, 0, 0]);
        let _ = sys::raw_syscall_regs(Syscall::RecvOrWait as u32, [ENDPOINT, 0, BITS, 0, 0, 0]);
        let _ = sys::raw_syscall_regs(Syscall::Reply as u32, [0; 6]);
        let until = sys::ticks().wrapping_add(2);
        let _ = sys::raw_syscall_regs(Syscall::CallTimeout as u32, [ENDPOINT, 0, 0, 0, 0, until]);
    }
}

fn main(arg: u32) {
    let seed = arg & 0x7F;
    let blocker = arg & 0x80 != 0;
    let total = (arg >> 8).saturating_mul(1000);
    let mut fuzzer = Fuzzer {
        rng: Rng::new(u64::from(seed)),
        blocker,
        filled: (1 << GRANTED.len()) - 1,
        originals: (1 << GRANTED.len()) - 1,
    };
    println!(
        "hostile: seed {seed}, {total} calls, {}",
        if blocker {
            "may block (plain call and receive)"
        } else {
            "never blocks for good"
        }
    );
    let mut histogram = Histogram {
        counts: [[0; STATUSES]; CALLS],
        mismatches: 0,
    };
    let poll = Plan {
        number: Syscall::NotifyPoll as u32,
        args: [BITS, 0, 0, 0, 0, 0],
        expect: Expect::Success,
        poll_first: false,
    };
    let mut made = 0;
    while made < total {
        let plan = fuzzer.plan();
        if plan.poll_first {
            let (status, _) = sys::raw_syscall_regs(poll.number, poll.args);
            // Not learnt from: BITS is protected, always filled.
            histogram.record(&poll, status);
            made += 1;
        }
        let (status, results) = sys::raw_syscall_regs(plan.number, plan.args);
        histogram.record(&plan, status);
        fuzzer.learn(&plan, status, results);
        made += 1;
    }
    histogram.print(made, arg);
    if blocker {
        println!("hostile: done");
    } else {
        println!("hostile: done; keeping the shared endpoint alive");
        keep_the_blocker_going();
    }
}
