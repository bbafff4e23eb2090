//! State-machine fuzzing of [`Kernel`] on the host: proptest generates
//! sequences of raw system calls (valid and invalid numbers, slots,
//! pointers, lengths, rights, badges, message infos with capability
//! transfers, timeouts) made by four services, interleaved with ticks and
//! the odd service fault, and checks the kernel's invariants after every
//! step:
//!
//! - no panic;
//! - capability derivation: a derived capability's parent exists, names
//!   the same object, and holds every right (and the badge) of the child;
//! - badges: a server receives the badge of a capability its caller holds
//!   for the endpoint;
//! - revoke: after a successful `CapRevoke` no slot holds anything derived
//!   from the revoked capability; nothing waits through, or maps, a
//!   capability its service no longer holds;
//! - memory: every region a live service maps is backed by a capability it
//!   holds, its page tables map exactly the region's frames, and no frame is
//!   writable in two live address spaces unless its object is shared;
//! - waits: a blocked thread waits on exactly one thing (its [`Wait`]
//!   matches its queue memberships exactly); a ready, running, sleeping or
//!   ended thread is in no wait queue; no wake-up is lost (no waiter on a
//!   semaphore with a count, a notification with bits, an endpoint with
//!   both callers and receivers).
//!
//! Steps: `SOTTO_FUZZ_STEPS` (default 10,240, `cargo xtask soak` runs 10^6),
//! in sequences of up to [`STEPS_PER_CASE`]; `SOTTO_FUZZ_SEED` (a number) changes
//! the otherwise fixed seed. Every invariant is checked (see
//! [`Strictness`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use proptest::collection::vec;
use proptest::prelude::{BoxedStrategy, Just, Strategy, any, prop_oneof};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use sotto_abi::cap::{CAP_SLOTS, ObjectKind, Rights};
use sotto_abi::layout::{IPC_BUFFER_VA, PAGE_SIZE, USER_STACK_TOP, USER_TEXT_BASE};
use sotto_abi::manifest::{
    Cache, CapGrant, MAX_SERVICES, ObjectParams, Service as ServiceDesc, TimerTarget,
};
use sotto_abi::supervise::{FaultKind, Supervision};
use sotto_abi::syscall::MsgInfo;
use sotto_abi::{Error, Syscall};

use crate::cap::CapRef;
use crate::kernel::{Hardware, Kernel, Object, RegionMapping, Wait};
use crate::pagetable::{Access, CacheMode, Mapping};
use crate::sched::ThreadState;
use crate::supervise::Action;
use crate::testkit::{REGION_PA, TestHw, add, add_thread, kernel};

/// Steps in one generated sequence (one proptest case).
const STEPS_PER_CASE: usize = 1024;
/// Steps a plain `cargo test` runs.
const CI_STEPS: usize = 10_240;
/// Services in the fuzzed system.
const SERVICES: usize = 4;
const _: () = assert!(SERVICES <= MAX_SERVICES);
/// Threads in it: the services' main threads, then a further thread of
/// `s0` and one of `s2`.
const THREADS: usize = SERVICES + 2;

/// One step of a sequence.
#[derive(Clone, Debug)]
enum Op {
    /// Thread `who` (or, if it cannot run, the next one that can) makes
    /// system call `number` with a3..a7 = `args` and a8 = `a8`. `aim` bit
    /// 0 turns a3 into a slot the caller fills, bit 1 turns the second
    /// slot-like argument into a filled or empty slot as the call wants
    /// (a derive's target, a message's capability and receive slot) —
    /// random slots are mostly empty, aimed ones reach deeper states.
    Syscall {
        who: usize,
        number: u32,
        args: [u32; 5],
        a8: u32,
        aim: u8,
    },
    /// `ticks` ticks pass.
    Tick { ticks: u64 },
    /// Thread `who` faults (the kernel stops its service).
    Fault { who: usize },
}

/// Which invariants fail the run: all of them, always. The fields let a
/// test switch one off to show the checker itself can fail (see
/// `the_fuzzed_system_starts_consistent_and_the_checks_can_fail`).
#[derive(Clone, Copy, Debug)]
struct Strictness {
    /// A thread waiting on an endpoint (receiving, or queued as a caller)
    /// through a capability it lost is woken with `Revoked`.
    pending_revoke: bool,
    /// A mapping never has more access than the capabilities its service
    /// still holds (a writable mapping needs a capability with WRITE).
    pending_mapping: bool,
    /// Waiters on notifications and semaphores whose capability was
    /// revoked or deleted leave the queue (defect D2, fixed).
    waiters_lose_revoked: bool,
}

impl Strictness {
    /// Everything checked.
    const ALL: Strictness = Strictness {
        pending_revoke: true,
        pending_mapping: true,
        waiters_lose_revoked: true,
    };

    /// What the kernel guarantees: everything.
    const CURRENT: Strictness = Strictness::ALL;

    fn from_env() -> Strictness {
        Strictness::ALL
    }
}

/// Object indices of the fuzzed system.
mod obj {
    pub const CONSOLE: u16 = 0;
    pub const CLOCK: u16 = 1;
    pub const EP_A: u16 = 2;
    pub const EP_B: u16 = 3;
    pub const N1: u16 = 4;
    pub const N2: u16 = 5;
    pub const S1: u16 = 6;
    pub const S2: u16 = 7;
    pub const T1: u16 = 8;
    pub const T2: u16 = 9;
    pub const M1: u16 = 10;
    pub const M2: u16 = 11;
    pub const M3: u16 = 12;
    /// The threads of s1 and s3.
    pub const TH1: u16 = 13;
    pub const TH3: u16 = 14;
    /// Service objects of s1, s2 and s3 (s0 supervises them).
    pub const SV1: u16 = 15;
    pub const SV2: u16 = 16;
    pub const SV3: u16 = 17;
}

/// The objects: console, clock, two endpoints, two notifications, two
/// semaphores, two timers, two private regions and one shared region.
fn objects() -> Vec<ObjectParams> {
    let memory = |pages: u32, cache, shared| ObjectParams::Memory {
        size: pages * PAGE_SIZE,
        cache,
        shared,
        init: None,
        keep: false,
    };
    vec![
        ObjectParams::Console,
        ObjectParams::Clock,
        ObjectParams::Endpoint,
        ObjectParams::Endpoint,
        ObjectParams::Notification,
        ObjectParams::Notification,
        ObjectParams::Semaphore { initial: 1, max: 3 },
        ObjectParams::Semaphore { initial: 0, max: 1 },
        ObjectParams::Timer {
            target: TimerTarget::Notify {
                object: obj::N1,
                bits: 1,
            },
            start: None,
        },
        ObjectParams::Timer {
            target: TimerTarget::Give { object: obj::S1 },
            start: Some((3, 5)),
        },
        memory(2, Cache::Cached, false),
        memory(1, Cache::Uncached, false),
        memory(1, Cache::Uncached, true),
        ObjectParams::Thread {
            service: 1,
            thread: 0,
            id: 1,
        },
        ObjectParams::Thread {
            service: 3,
            thread: 0,
            id: 3,
        },
        ObjectParams::Service { service: 1 },
        ObjectParams::Service { service: 2 },
        ObjectParams::Service { service: 3 },
    ]
}

fn is_shared(object: u16) -> bool {
    object == obj::M3
}

fn cap(slot: u8, object: u16, rights: Rights, badge: u32, map_at: Option<u32>) -> CapGrant {
    CapGrant {
        slot,
        object,
        rights,
        badge,
        map_at,
    }
}

/// The capabilities service `space` starts with: overlapping sets, most
/// with GRANT so that derivations and transfers happen. As at build time,
/// only the shared region is writable in two services at boot. s0
/// supervises the others (service capabilities in slots 10..12).
fn grants(space: usize) -> Vec<CapGrant> {
    let (r, w, s, rc, c, g) = (
        Rights::READ,
        Rights::WRITE,
        Rights::SEND,
        Rights::RECEIVE,
        Rights::CONTROL,
        Rights::GRANT,
    );
    let window = 0x5000_0000;
    match space {
        0 => vec![
            cap(0, obj::CONSOLE, s, 0, None),
            cap(1, obj::CLOCK, r, 0, None),
            cap(2, obj::EP_A, s | rc | g, 0, None),
            cap(3, obj::N1, s | rc | g, 0, None),
            cap(4, obj::S1, s | rc | g, 0, None),
            cap(5, obj::T1, c | g, 0, None),
            cap(6, obj::M1, r | w | g, 0, Some(window)),
            cap(7, obj::M3, r | w | g, 0, None),
            cap(8, obj::EP_B, s | g, 1, None),
            cap(9, obj::TH1, c | g, 0, None),
            cap(10, obj::SV1, c | g, 0, None),
            cap(11, obj::SV2, c, 0, None),
            cap(12, obj::SV3, c | g, 0, None),
        ],
        1 => vec![
            cap(0, obj::CONSOLE, s, 0, None),
            cap(2, obj::EP_A, s | g, 2, None),
            cap(3, obj::EP_B, s | rc | g, 0, None),
            cap(4, obj::N2, s | rc | g, 0, None),
            cap(5, obj::S2, s | rc | g, 0, None),
            cap(6, obj::T2, c | g, 0, None),
            cap(7, obj::M2, r | w | g, 0, Some(window)),
            cap(8, obj::M3, r | w | g, 0, Some(window + 0x10_0000)),
            cap(9, obj::M1, r | g, 0, None),
        ],
        2 => vec![
            cap(0, obj::CONSOLE, s, 0, None),
            cap(2, obj::EP_A, rc | g, 0, None),
            cap(3, obj::EP_B, s | g, 3, None),
            cap(4, obj::N1, s | rc | g, 0, None),
            cap(5, obj::S1, s | rc, 0, None),
            cap(6, obj::M1, r, 0, None),
            cap(7, obj::TH3, c, 0, None),
            cap(8, obj::TH1, g, 0, None),
        ],
        _ => vec![
            cap(2, obj::EP_A, s, 4, None),
            // SEND only: a receiver at priority 5 would make every call on
            // EP_B by the others run uphill (refused: PriorityInversion).
            cap(3, obj::EP_B, s | g, 0, None),
            cap(4, obj::N2, s | rc | g, 0, None),
            cap(5, obj::S2, s | rc | g, 0, None),
            cap(6, obj::T1, c, 0, None),
            cap(7, obj::M2, r | g, 0, None),
            cap(8, obj::M3, r | g, 0, None),
        ],
    }
}

/// The services' priorities.
const PRIORITIES: [u8; 4] = [3, 3, 3, 5];

/// Service `space` as its manifest entry would describe it (for a
/// restart: its grants and threads; no segments, the test kit's data page
/// is not the image's).
fn desc(space: usize) -> ServiceDesc {
    let threads = match space {
        0 | 2 => heapless::Vec::from_slice(&[sotto_abi::manifest::Thread {
            name: heapless::String::try_from("t").unwrap(),
            priority: 3,
            max_priority: 3,
            entry: 0x4000_0100,
            stack_size: PAGE_SIZE,
            arg: 1,
        }])
        .unwrap(),
        _ => heapless::Vec::new(),
    };
    ServiceDesc {
        name: heapless::String::try_from(format!("s{space}").as_str()).unwrap(),
        priority: PRIORITIES[space],
        entry: 0x4000_0000,
        stack_size: PAGE_SIZE,
        arg: 0,
        segments: heapless::Vec::new(),
        caps: heapless::Vec::from_slice(&grants(space)).unwrap(),
        threads,
        supervision: Supervision::default(),
    }
}

/// A kernel with four services (see [`grants`]); s0 supervises the
/// others, its faults notification N1.
fn system() -> Kernel<TestHw> {
    let mut k = kernel(&objects());
    for (space, priority) in PRIORITIES.into_iter().enumerate() {
        add(&mut k, &format!("s{space}"), priority, &grants(space));
    }
    // Further threads sharing s0's and s2's capabilities and spaces.
    add_thread(&mut k, 0, "s0-t", 3);
    add_thread(&mut k, 2, "s2-t", 3);
    k.set_supervision(
        0,
        Supervision {
            faults: Some(obj::N1),
            ..Supervision::default()
        },
    );
    for space in 1..4 {
        k.set_supervision(
            space,
            Supervision {
                supervisor: Some(0),
                ..Supervision::default()
            },
        );
    }
    assert_eq!(k.threads.len(), THREADS);
    k
}

/// Carry out what the kernel asks for before a thread runs again, as the
/// kernel binary does (a supervisor's fault stops the real system: here
/// the run goes on, its services unsupervised from then).
fn settle(k: &mut Kernel<TestHw>) {
    let declared = objects();
    let params = |object: u16| declared.get(usize::from(object)).copied();
    loop {
        match k.take_action() {
            Action::None | Action::SupervisorFaulted | Action::Inject => return,
            Action::Fault(thread) => {
                k.route_fault(thread);
            }
            Action::Call(thread) => {
                if let Some(space) = k.supervise_call(thread) {
                    k.restart(space, &desc(space), &[], &params)
                        .expect("a restart of a fuzzed service");
                }
            }
        }
    }
}

/// Values an argument register takes: slots (valid, out of range, huge),
/// rights masks, badges, message infos, addresses (mapped, unmapped,
/// kernel, straddling a mapping's end, wrapping, unaligned), lengths and
/// anything at all.
fn arg() -> impl Strategy<Value = u32> {
    let addresses = [
        0,
        USER_TEXT_BASE,
        USER_TEXT_BASE + PAGE_SIZE - 2,
        USER_TEXT_BASE + PAGE_SIZE,
        IPC_BUFFER_VA,
        IPC_BUFFER_VA + PAGE_SIZE - 1,
        0x5000_0000,
        0x5000_1000,
        0x5000_2000,
        0x5000_0800,
        0x5010_0000,
        0x5040_0000,
        0x5EFF_F000,
        0x5F00_0000,
        0x4FFF_F000,
        0x0010_0000,
        0xC040_0000,
        0xD000_0000,
        0xFFFF_F000,
        0xFFFF_FFF0,
        USER_STACK_TOP - 2,
    ];
    let lengths = [1, 2, 4, 16, 255, 256, 4095, 4096, 4097, 0x2000, 0xFFFF_FFFF];
    prop_oneof![
        4 => 0u32..12,
        2 => 0u32..40,
        1 => prop_oneof![Just(255u32), Just(256), Just(0xFFFF), Just(u32::MAX)],
        2 => 0u32..0x80,
        2 => (0u32..12, 0u32..14, any::<bool>(), 0u16..300).prop_map(|(send, recv, with_cap, len)| {
            let slot = |value: u32| if value >= 12 { 0xFF } else { value as u8 };
            MsgInfo {
                len,
                send_cap: if with_cap { slot(send) } else { 0xFF },
                recv_slot: slot(recv),
                cap_received: false,
                signalled: false,
                reply_dropped: false,
            }
            .encode()
        }),
        3 => proptest::sample::select(addresses.to_vec()),
        2 => proptest::sample::select(lengths.to_vec()),
        1 => any::<u32>(),
    ]
}

/// System-call numbers: mostly valid ones except Exit and Panic (ending a
/// service is [`Op::Fault`]'s job), sometimes an unknown number.
fn number() -> impl Strategy<Value = u32> {
    let weight = |call: Syscall| match call {
        Syscall::Exit | Syscall::Panic => 0,
        Syscall::Call
        | Syscall::CallTimeout
        | Syscall::Recv
        | Syscall::ReplyRecv
        | Syscall::RecvOrWait
        | Syscall::Reply
        | Syscall::MemMap
        | Syscall::CapDerive => 3,
        Syscall::CapRevoke | Syscall::MemUnmap | Syscall::SemTake | Syscall::NotifyWait => 2,
        _ => 1,
    };
    let valid: Vec<u32> = Syscall::ALL
        .iter()
        .flat_map(|call| std::iter::repeat_n(*call as u32, weight(*call)))
        .collect();
    prop_oneof![
        30 => proptest::sample::select(valid),
        1 => prop_oneof![Just(Syscall::ALL.len() as u32), Just(4242), any::<u32>()],
    ]
}

/// A slot: mostly ones the services use (0..12) or free ones (to derive,
/// move and receive into), sometimes out of range.
fn slot() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..12,
        3 => 10u32..CAP_SLOTS as u32,
        1 => prop_oneof![Just(CAP_SLOTS as u32), Just(255), Just(256), Just(u32::MAX)],
    ]
}

/// A message info with a length, maybe a capability to send and a slot to
/// receive one into.
fn info() -> impl Strategy<Value = u32> {
    (
        0u32..14,
        slot(),
        any::<bool>(),
        prop_oneof![3 => 0u16..64, 1 => Just(4096u16), 1 => Just(5000u16)],
    )
        .prop_map(|(send, recv, with_cap, len)| {
            MsgInfo {
                len,
                send_cap: if with_cap && send < 12 {
                    send as u8
                } else {
                    0xFF
                },
                recv_slot: if recv < 256 { recv as u8 } else { 0xFF },
                cap_received: false,
                signalled: false,
                reply_dropped: false,
            }
            .encode()
        })
}

fn rights() -> impl Strategy<Value = u32> {
    let useful = [
        Rights::READ,
        Rights::READ | Rights::WRITE,
        Rights::READ | Rights::WRITE | Rights::GRANT,
        Rights::READ | Rights::GRANT,
        Rights::SEND,
        Rights::SEND | Rights::GRANT,
        Rights::RECEIVE,
        Rights::SEND | Rights::RECEIVE | Rights::GRANT,
        Rights::CONTROL,
    ];
    prop_oneof![
        3 => proptest::sample::select(useful.map(|rights| rights.bits()).to_vec()),
        2 => 0u32..0x40,
        1 => prop_oneof![Just(0x40u32), any::<u32>()],
    ]
}

/// Pages in and around the region window.
fn window() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => (0u32..4).prop_map(|page| 0x5000_0000 + page * PAGE_SIZE),
        2 => (0u32..4).prop_map(|span| 0x5020_0000 + span * 0x40_0000),
        2 => arg(),
    ]
}

type Arg = BoxedStrategy<u32>;

fn any_arg() -> Arg {
    arg().boxed()
}

/// Arguments shaped for call `number` most of the time, anything otherwise.
fn args_for(number: u32) -> BoxedStrategy<[u32; 5]> {
    let generic = [any_arg(), any_arg(), any_arg(), any_arg(), any_arg()];
    let shaped: [Arg; 5] = match Syscall::from_raw(number) {
        Some(Syscall::CapDerive) => [
            slot().boxed(),
            slot().boxed(),
            rights().boxed(),
            prop_oneof![Just(0u32), 1u32..4, any::<u32>()].boxed(),
            any_arg(),
        ],
        Some(Syscall::CapMove | Syscall::CapDelete | Syscall::CapRevoke | Syscall::CapInfo) => [
            slot().boxed(),
            slot().boxed(),
            any_arg(),
            any_arg(),
            any_arg(),
        ],
        Some(
            Syscall::ThreadPriority
            | Syscall::ThreadDeadline
            | Syscall::ThreadSuspend
            | Syscall::ThreadResume
            | Syscall::ThreadCpuTime,
        ) => [
            slot().boxed(),
            prop_oneof![3 => 0u32..9, 1 => any::<u32>()].boxed(),
            prop_oneof![3 => 0u32..3, 1 => Just(u32::MAX)].boxed(),
            any_arg(),
            any_arg(),
        ],
        Some(Syscall::MemMap) => [
            slot().boxed(),
            window().boxed(),
            prop_oneof![
                4 => proptest::sample::select(vec![1u32, 3]),
                1 => rights(),
            ]
            .boxed(),
            any_arg(),
            any_arg(),
        ],
        Some(
            Syscall::MemUnmap
            | Syscall::MemInfo
            | Syscall::TimerCancel
            | Syscall::SemGive
            | Syscall::NotifyWait
            | Syscall::NotifyPoll,
        ) => [slot().boxed(), any_arg(), any_arg(), any_arg(), any_arg()],
        Some(Syscall::Sleep) => [
            prop_oneof![4 => 0u32..3000, 1 => any::<u32>()].boxed(),
            any_arg(),
            any_arg(),
            any_arg(),
            any_arg(),
        ],
        Some(Syscall::NotifySignal) => [
            slot().boxed(),
            prop_oneof![0u32..8, any::<u32>()].boxed(),
            any_arg(),
            any_arg(),
            any_arg(),
        ],
        Some(Syscall::SemTake) => [
            slot().boxed(),
            prop_oneof![
                Just(0u32),
                Just(1),
                Just(3000),
                Just(u32::MAX),
                any::<u32>()
            ]
            .boxed(),
            any_arg(),
            any_arg(),
            any_arg(),
        ],
        Some(Syscall::TimerArm) => [
            slot().boxed(),
            prop_oneof![0u32..5, any::<u32>()].boxed(),
            prop_oneof![0u32..5, any::<u32>()].boxed(),
            prop_oneof![0u32..2, any::<u32>()].boxed(),
            any_arg(),
        ],
        Some(Syscall::Call | Syscall::CallTimeout | Syscall::Reply) => [
            slot().boxed(),
            info().boxed(),
            any_arg(),
            any_arg(),
            any_arg(),
        ],
        Some(Syscall::Recv | Syscall::ReplyRecv | Syscall::RecvOrWait) => [
            slot().boxed(),
            info().boxed(),
            slot().boxed(),
            any_arg(),
            any_arg(),
        ],
        _ => [any_arg(), any_arg(), any_arg(), any_arg(), any_arg()],
    };
    prop_oneof![4 => shaped, 1 => generic].boxed()
}

fn op() -> impl Strategy<Value = Op> {
    let syscall = (0..THREADS, number())
        .prop_flat_map(|(who, number)| {
            (
                Just(who),
                Just(number),
                args_for(number),
                prop_oneof![
                    Just(0u32),
                    Just(1),
                    Just(1500),
                    Just(20_000),
                    Just(u32::MAX),
                    any::<u32>()
                ],
                prop_oneof![1 => Just(0u8), 3 => 1u8..4],
            )
        })
        .prop_map(|(who, number, args, a8, aim)| Op::Syscall {
            who,
            number,
            args,
            a8,
            aim,
        });
    prop_oneof![
        300 => syscall,
        10 => (1u64..4).prop_map(|ticks| Op::Tick { ticks }),
        1 => (0..THREADS).prop_map(|who| Op::Fault { who }),
    ]
}

fn runnable(k: &Kernel<TestHw>, thread: usize) -> bool {
    matches!(
        k.sched.state(thread),
        ThreadState::Ready | ThreadState::Running
    ) && !k.sched.is_suspended(thread)
}

/// Every slot holding a capability descended from `root` (not `root`).
fn descendants(k: &Kernel<TestHw>, root: CapRef) -> Vec<CapRef> {
    let mut found: Vec<CapRef> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for space in 0..k.services.len() as u8 {
            for (slot, cap) in k.caps.iter_space(space) {
                let at = CapRef { space, slot };
                if cap.parent() == Some(parent) && !found.contains(&at) {
                    found.push(at);
                    frontier.push(at);
                }
            }
        }
    }
    found
}

thread_local! {
    /// (call, status or `u32::MAX` for "blocked") -> count, over a run.
    static HISTOGRAM: std::cell::RefCell<std::collections::BTreeMap<(u32, u32), u64>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// `args` with the slots `aim` asks for (see [`Op::Syscall`]).
fn aimed(k: &Kernel<TestHw>, thread: usize, number: u32, mut args: [u32; 5], aim: u8) -> [u32; 5] {
    let filled: Vec<u8> = k
        .caps
        .iter_space(k.space(thread) as u8)
        .map(|(slot, _)| slot)
        .collect();
    let empty: Vec<u8> = (0..CAP_SLOTS as u8)
        .filter(|slot| !filled.contains(slot))
        .collect();
    let choose = |from: &[u8], seed: u32| -> Option<u8> {
        (!from.is_empty()).then(|| from[seed as usize % from.len()])
    };
    if aim & 1 != 0
        && let Some(slot) = choose(&filled, args[0])
    {
        args[0] = u32::from(slot);
    }
    if aim & 2 == 0 {
        return args;
    }
    match Syscall::from_raw(number) {
        Some(Syscall::CapDerive | Syscall::CapMove) => {
            if let Some(slot) = choose(&empty, args[1]) {
                args[1] = u32::from(slot);
            }
        }
        Some(
            Syscall::Call
            | Syscall::CallTimeout
            | Syscall::Reply
            | Syscall::Recv
            | Syscall::ReplyRecv
            | Syscall::RecvOrWait,
        ) => {
            let mut info = MsgInfo::decode(args[1]);
            info.send_cap = choose(&filled, args[2]).unwrap_or(0xFF);
            info.recv_slot = choose(&empty, args[3]).unwrap_or(0xFF);
            args[1] = info.encode();
            if Syscall::from_raw(number) == Some(Syscall::RecvOrWait)
                && let Some(slot) = choose(&filled, args[4])
            {
                args[2] = u32::from(slot);
            }
        }
        Some(Syscall::MemMap) => args[1] = 0x5000_0000 + (args[1] % 16) * PAGE_SIZE,
        _ => {}
    }
    args
}

/// Apply one step, logging the call it made (after aiming) if asked.
fn apply(
    k: &mut Kernel<TestHw>,
    now: &mut u64,
    op: &Op,
    strict: Strictness,
    log: Option<&mut Vec<String>>,
) -> Result<(), String> {
    match *op {
        Op::Tick { ticks } => {
            for _ in 0..ticks {
                *now += 1;
                k.tick(*now);
            }
            Ok(())
        }
        Op::Fault { who } => {
            if k.services[k.space(who)].ending.is_none() {
                k.note_fault(who, FaultKind::Exception, 28, 0, 0);
                settle(k);
            }
            Ok(())
        }
        Op::Syscall {
            who,
            number,
            args,
            a8,
            aim,
        } => {
            let Some(thread) = (0..THREADS)
                .map(|offset| (who + offset) % THREADS)
                .find(|thread| runnable(k, *thread))
            else {
                // Nobody can run: time passes instead.
                *now += 1;
                k.tick(*now);
                return Ok(());
            };
            let args = aimed(k, thread, number, args, aim);
            if let Some(log) = log {
                let name = Syscall::from_raw(number)
                    .map_or_else(|| format!("#{number}"), |call| format!("{call:?}"));
                log.push(format!("s{thread}: {name} {args:x?} a8={a8:#x}"));
            }
            let revoked = (number == Syscall::CapRevoke as u32)
                .then(|| CapRef {
                    space: k.space(thread) as u8,
                    slot: args[0] as u8,
                })
                .filter(|at| args[0] < CAP_SLOTS as u32 && k.caps.get(*at).is_ok())
                .map(|at| descendants(k, at));
            assert!(k.sched.switch_to(thread));
            let frame = &mut k.threads[thread].frame;
            frame.a[2] = number;
            frame.a[3..8].copy_from_slice(&args);
            frame.a[8] = a8;
            k.syscall(thread);
            settle(k);
            let status = k.threads[thread].frame.a[2];
            let outcome = if runnable(k, thread) {
                status
            } else {
                u32::MAX
            };
            let number = number.min(Syscall::ALL.len() as u32);
            HISTOGRAM.with(|histogram| {
                *histogram.borrow_mut().entry((number, outcome)).or_default() += 1;
            });
            if status != 0 && runnable(k, thread) && Error::check(status) == Err(None) {
                return Err(format!("status {status} is no error code"));
            }
            let received = matches!(
                Syscall::from_raw(number),
                Some(Syscall::Recv | Syscall::ReplyRecv | Syscall::RecvOrWait)
            );
            let frame = &k.threads[thread].frame;
            if received
                && status == 0
                && runnable(k, thread)
                && !MsgInfo::decode(frame.a[4]).signalled
                && let Some(caller) = k.threads[thread].reply_to()
                && let Ok(endpoint) = k.caps.get(CapRef {
                    space: k.space(thread) as u8,
                    slot: args[0] as u8,
                })
            {
                // The badge is one the caller holds for this endpoint.
                let badge = frame.a[3];
                let badges: Vec<u32> = k
                    .caps
                    .iter_space(k.space(caller) as u8)
                    .filter(|(_, cap)| {
                        cap.object == endpoint.object && cap.rights.contains(Rights::SEND)
                    })
                    .map(|(_, cap)| cap.badge)
                    .collect();
                if badges.is_empty() && strict.pending_revoke {
                    return Err(format!(
                        "thread {thread} received a call from {caller}, which holds no SEND capability to the endpoint"
                    ));
                }
                if !badges.is_empty() && !badges.contains(&badge) {
                    return Err(format!(
                        "thread {thread} received badge {badge} from {caller}, whose capabilities carry {badges:?}"
                    ));
                }
            }
            if let Some(gone) = revoked
                && status == 0
                && runnable(k, thread)
            {
                for at in gone {
                    if k.caps.get(at).is_ok() {
                        return Err(format!(
                            "after revoke, {at:?} (derived from the revoked capability) is still filled"
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}

/// Rights needed to wait on each kind of queue.
fn holds(k: &Kernel<TestHw>, thread: usize, object: u16, rights: Rights) -> bool {
    k.caps
        .iter_space(k.space(thread) as u8)
        .any(|(_, cap)| cap.object == object && cap.rights.contains(rights))
}

/// Check every invariant; the first violation, described.
fn check(k: &Kernel<TestHw>, strict: Strictness) -> Result<(), String> {
    check_caps(k)?;
    check_waits(k, strict)?;
    check_deadlines(k)?;
    check_memory(k, strict)
}

/// Every armed timer and every sleeper or waiter with a timeout is queued
/// at its deadline (what the tick looks at instead of every object), and
/// nothing is due that the last tick left behind.
fn check_deadlines(k: &Kernel<TestHw>) -> Result<(), String> {
    for (index, object) in k.objects.iter().enumerate() {
        if let Object::Timer(timer) = object {
            let queued = k.queued_timer(index as u16);
            if queued != timer.deadline() {
                return Err(format!(
                    "timer {index} expires at {:?} but is queued at {queued:?}",
                    timer.deadline()
                ));
            }
            if timer.deadline().is_some_and(|deadline| deadline <= k.ticks) {
                return Err(format!(
                    "timer {index} was due at {:?} and is still armed at tick {}",
                    timer.deadline(),
                    k.ticks
                ));
            }
        }
    }
    for thread in 0..k.threads.len() {
        let until = match k.sched.state(thread) {
            ThreadState::Sleeping { until } | ThreadState::Blocked { until: Some(until) } => until,
            _ => continue,
        };
        if k.sched.queued_timeout(thread) != Some(until) {
            return Err(format!(
                "thread {thread} waits until {until} but is queued at {:?}",
                k.sched.queued_timeout(thread)
            ));
        }
        if until <= k.ticks {
            return Err(format!(
                "thread {thread} waits until {until}, past at tick {}",
                k.ticks
            ));
        }
    }
    Ok(())
}

fn check_caps(k: &Kernel<TestHw>) -> Result<(), String> {
    use crate::fastpath::FastSlot;
    if k.hw.clock_holders != *k.clock_holders_word() {
        return Err(format!(
            "the machine's clock holders {:#x}, the kernel's {:#x}",
            k.hw.clock_holders,
            k.clock_holders_word()
        ));
    }
    // The entry's fast words say exactly what the full handlers allow.
    for space in 0..k.services.len() as u8 {
        for slot in 0..sotto_abi::cap::CAP_SLOTS as u8 {
            let at = CapRef { space, slot };
            let fast = k.fast_caps[usize::from(space)][usize::from(slot)];
            let rule = k.fast_slot(at);
            // Addresses are compared only in place: the host moves kernels.
            let same = |a: FastSlot, b: FastSlot| {
                (a.ops, a.badge, a.receiver_wait) == (b.ops, b.badge, b.receiver_wait)
            };
            if !same(fast, rule) {
                return Err(format!(
                    "{at:?}: fast slot {fast:?} but the rule says {rule:?}"
                ));
            }
        }
    }
    // The receiver summary every call reads equals a fresh scan.
    for (index, object) in k.objects.iter().enumerate() {
        let Object::Endpoint(endpoint) = object else {
            continue;
        };
        let (mut holders, mut least_urgent) = (0u16, 0u8);
        for (space, service) in k.services.iter().enumerate() {
            if service.ending.is_none() && holds(k, space, index as u16, Rights::RECEIVE) {
                holders |= service.thread_mask;
                least_urgent = least_urgent.max(k.sched.priority(space));
            }
        }
        if (endpoint.holders, endpoint.least_urgent) != (holders, least_urgent) {
            return Err(format!(
                "endpoint {index}: summary {:#x}/{} but the tables say {holders:#x}/{least_urgent}",
                endpoint.holders, endpoint.least_urgent
            ));
        }
        // The entry's express call takes the queued receiver as one that
        // can answer (it reads no `holders` bit): every receiver is a
        // holder.
        if let Some(receiver) = endpoint
            .receivers
            .iter()
            .find(|&&receiver| endpoint.holders & (1 << receiver) == 0)
        {
            return Err(format!(
                "endpoint {index}: receiver {receiver} is queued but holds no RECEIVE (holders {:#x})",
                endpoint.holders
            ));
        }
    }
    // The child counts that spare a delete its scan equal a fresh count.
    for space in 0..k.services.len() as u8 {
        for slot in 0..sotto_abi::cap::CAP_SLOTS as u8 {
            let at = CapRef { space, slot };
            let children = (0..k.services.len() as u8)
                .flat_map(|other| k.caps.iter_space(other))
                .filter(|(_, cap)| cap.parent() == Some(at))
                .count();
            if usize::from(k.caps.children(at)) != children {
                return Err(format!(
                    "{at:?}: {} children counted but {children} in the tables",
                    k.caps.children(at)
                ));
            }
        }
    }
    for space in 0..k.services.len() as u8 {
        for (slot, cap) in k.caps.iter_space(space) {
            let Some(parent_at) = cap.parent() else {
                continue;
            };
            let here = CapRef { space, slot };
            let parent = k
                .caps
                .get(parent_at)
                .map_err(|_| format!("{here:?}: parent {parent_at:?} is empty"))?;
            if parent.object != cap.object || parent.kind != cap.kind {
                return Err(format!(
                    "{here:?} names object {} but its parent {parent_at:?} names {}",
                    cap.object, parent.object
                ));
            }
            if !parent.rights.contains(cap.rights) {
                return Err(format!(
                    "{here:?} has rights {:?} beyond its parent {parent_at:?}'s {:?}",
                    cap.rights, parent.rights
                ));
            }
            if parent.badge != 0 && parent.badge != cap.badge {
                return Err(format!(
                    "{here:?} has badge {} but its parent {parent_at:?} {}",
                    cap.badge, parent.badge
                ));
            }
        }
    }
    Ok(())
}

/// Where each thread is queued: (object, queue name) pairs.
fn memberships(k: &Kernel<TestHw>) -> Vec<Vec<(u16, &'static str)>> {
    let mut queued = vec![Vec::new(); k.threads.len()];
    for (index, object) in k.objects.iter().enumerate() {
        let index = index as u16;
        let mut note = |thread: usize, queue| {
            if let Some(list) = queued.get_mut(thread) {
                list.push((index, queue));
            }
        };
        match object {
            Object::Endpoint(endpoint) => {
                endpoint
                    .callers
                    .iter()
                    .for_each(|t| note(usize::from(*t), "callers"));
                endpoint
                    .receivers
                    .iter()
                    .for_each(|t| note(usize::from(*t), "receivers"));
            }
            Object::Notification(notification) => {
                notification.waiters().for_each(|t| note(t, "notification"));
            }
            Object::Semaphore(semaphore) => {
                semaphore.waiters().for_each(|t| note(t, "semaphore"));
            }
            _ => {}
        }
    }
    queued
}

fn check_waits(k: &Kernel<TestHw>, strict: Strictness) -> Result<(), String> {
    // No lost wake-up: nobody waits for what is there to take.
    for (index, object) in k.objects.iter().enumerate() {
        let lost = match object {
            Object::Semaphore(semaphore) => {
                semaphore.waiters().next().is_some() && semaphore.count() > 0
            }
            Object::Notification(notification) => {
                notification.waiters().next().is_some() && notification.pending() != 0
            }
            Object::Endpoint(endpoint) => {
                !endpoint.callers.is_empty() && !endpoint.receivers.is_empty()
            }
            _ => false,
        };
        if lost {
            return Err(format!("object {index} has waiters and what they wait for"));
        }
    }
    // No call runs uphill: a caller waits for the reply of a server at
    // least as urgent as itself.
    for (thread, service) in k.threads.iter().enumerate() {
        if let Some(server) = service.wait.reply_of()
            && k.sched.priority(server) > k.sched.priority(thread)
        {
            return Err(format!(
                "thread {thread} (priority {}) waits for the reply of less urgent thread {server} (priority {})",
                k.sched.priority(thread),
                k.sched.priority(server)
            ));
        }
    }
    let queued = memberships(k);
    for (thread, service) in k.threads.iter().enumerate() {
        let ending = k.services[k.space(thread)].ending;
        let state = k.sched.state(thread);
        let mut expected: Vec<(u16, &'static str)> = match service.wait {
            Wait::None | Wait::Reply(_) => Vec::new(),
            Wait::Notification(object) => vec![(object, "notification")],
            Wait::Semaphore(object) => vec![(object, "semaphore")],
            Wait::Caller(object) => vec![(object, "callers")],
            Wait::Receiver(object) => vec![(object, "receivers")],
            Wait::ReceiverOrSignal {
                endpoint,
                notification,
            } => vec![(endpoint, "receivers"), (notification, "notification")],
        };
        let mut actual = queued[thread].clone();
        expected.sort();
        actual.sort();
        if expected != actual {
            return Err(format!(
                "thread {thread} ({state:?}) waits for {:?} but is queued in {actual:?}",
                service.wait
            ));
        }
        let blocked = matches!(state, ThreadState::Blocked { .. });
        if blocked != (service.wait != Wait::None) {
            return Err(format!(
                "thread {thread} is {state:?} with wait {:?}",
                service.wait
            ));
        }
        if let Some(server) = service.wait.reply_of()
            && (k.threads[server].reply_to() != Some(thread)
                || k.services[k.space(server)].ending.is_some())
        {
            return Err(format!(
                "thread {thread} waits for the reply of {server}, which owes it none (reply_to {:?}, ending {:?})",
                k.threads[server].reply_to(),
                k.services[k.space(server)].ending
            ));
        }
        if ending.is_some() && (state != ThreadState::Ended || service.wait != Wait::None) {
            return Err(format!(
                "ended thread {thread} is {state:?}, {:?}",
                service.wait
            ));
        }
        // Waiting through a capability the thread no longer holds.
        let lost = |object: u16, rights: Rights| !holds(k, thread, object, rights);
        let through_lost_endpoint = match service.wait {
            Wait::Caller(object) => lost(object, Rights::SEND),
            Wait::Receiver(object) => lost(object, Rights::RECEIVE),
            Wait::ReceiverOrSignal { endpoint, .. } => lost(endpoint, Rights::RECEIVE),
            _ => false,
        };
        if strict.pending_revoke && through_lost_endpoint {
            return Err(format!(
                "thread {thread} waits on an endpoint through a capability it lost: {:?}",
                service.wait
            ));
        }
        let through_lost_object = match service.wait {
            Wait::Notification(object) => lost(object, Rights::RECEIVE),
            Wait::Semaphore(object) => lost(object, Rights::RECEIVE),
            Wait::ReceiverOrSignal { notification, .. } => lost(notification, Rights::RECEIVE),
            _ => false,
        };
        if strict.waiters_lose_revoked && through_lost_object {
            return Err(format!(
                "thread {thread} waits through a capability it lost: {:?}",
                service.wait
            ));
        }
    }
    Ok(())
}

fn check_memory(k: &Kernel<TestHw>, strict: Strictness) -> Result<(), String> {
    // Writable frames of live services: frame -> (service, object).
    let mut writable: Vec<(u32, usize, u16)> = Vec::new();
    for (thread, service) in k.services.iter().enumerate() {
        if service.ending.is_some() {
            continue;
        }
        let mut objects = BTreeSet::new();
        for region in &service.regions {
            if !objects.insert(region.object) {
                return Err(format!(
                    "thread {thread} maps object {} twice",
                    region.object
                ));
            }
            let Some(Object::Memory { pa, size, .. }) = k.objects.get(region.object as usize)
            else {
                return Err(format!("thread {thread} maps non-memory {}", region.object));
            };
            if region.len != *size {
                return Err(format!(
                    "thread {thread}: region {region:?} is not {size} bytes"
                ));
            }
            if !holds(k, thread, region.object, Rights::empty()) {
                return Err(format!(
                    "thread {thread} maps object {} without holding a capability to it",
                    region.object
                ));
            }
            for page in 0..size / PAGE_SIZE {
                let va = region.va + page * PAGE_SIZE;
                let pte = service.translate(va).ok_or_else(|| {
                    format!("thread {thread}: region {region:?} page {va:#x} unmapped")
                })?;
                if pte.pa() != pa + page * PAGE_SIZE {
                    return Err(format!(
                        "thread {thread}: {va:#x} maps {:#x}, not its region's frame",
                        pte.pa()
                    ));
                }
                let access = pte.access();
                let is_writable =
                    matches!(access, Some(Access::ReadWrite | Access::ReadWriteExecute));
                let needed = if is_writable {
                    Rights::READ | Rights::WRITE
                } else {
                    Rights::READ
                };
                if strict.pending_mapping && !holds(k, thread, region.object, needed) {
                    return Err(format!(
                        "thread {thread} maps object {} {access:?} but holds no capability with {needed:?}",
                        region.object
                    ));
                }
                if is_writable {
                    writable.push((pte.pa(), thread, region.object));
                }
            }
        }
    }
    writable.sort();
    for pair in writable.windows(2) {
        let ((frame, first, object), (other_frame, second, _)) = (pair[0], pair[1]);
        if frame == other_frame && first != second && !is_shared(object) {
            return Err(format!(
                "frame {frame:#x} of private object {object} is writable in threads {first} and {second}"
            ));
        }
    }
    Ok(())
}

/// Run one sequence, checking after every step; with `log`, note each
/// step as it was made.
fn run(ops: &[Op], strict: Strictness, mut log: Option<&mut Vec<String>>) -> Result<(), String> {
    let mut k = system();
    check(&k, strict).map_err(|e| format!("before any step: {e}"))?;
    let mut now = 0;
    for (index, op) in ops.iter().enumerate() {
        if let Some(log) = log.as_deref_mut()
            && !matches!(op, Op::Syscall { .. })
        {
            log.push(format!("{op:?}"));
        }
        apply(&mut k, &mut now, op, strict, log.as_deref_mut())
            .map_err(|e| format!("step {index}: {e}"))?;
        check(&k, strict).map_err(|e| format!("after step {index}: {e}"))?;
    }
    Ok(())
}

fn steps_from_env() -> usize {
    std::env::var("SOTTO_FUZZ_STEPS")
        .ok()
        .and_then(|text| text.replace('_', "").parse().ok())
        .unwrap_or(CI_STEPS)
}

/// A runner with a fixed seed (`SOTTO_FUZZ_SEED` picks another).
fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed = [7u8; 32];
    if let Some(number) = std::env::var("SOTTO_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
    {
        seed[..8].copy_from_slice(&number.to_le_bytes());
    }
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

/// A readable reproduction of a failing sequence: each step as made.
fn show(ops: &[Op], strict: Strictness) -> String {
    let mut log = Vec::new();
    let _ = run(ops, strict, Some(&mut log));
    log.iter()
        .enumerate()
        .map(|(index, line)| format!("  {index:>4} {line}\n"))
        .collect()
}

#[test]
fn random_system_call_sequences_keep_the_kernel_invariants() {
    let target = steps_from_env() as u64;
    let strict = Strictness::from_env();
    let started = std::time::Instant::now();
    let mut runner = runner(1);
    let (steps, cases) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    let mut result = Ok(());
    // Sequences of 1..=STEPS_PER_CASE steps (so that a failure shrinks to
    // a short one), until the target is reached.
    while steps.get() < target && result.is_ok() {
        let batch = (target - steps.get())
            .div_ceil(STEPS_PER_CASE as u64 / 2)
            .max(1);
        let batch = u32::try_from(batch).unwrap_or(u32::MAX);
        runner = TestRunner::new_with_rng(
            Config {
                cases: batch,
                ..runner.config().clone()
            },
            runner.new_rng(),
        );
        result = runner.run(&vec(op(), 1..=STEPS_PER_CASE), |ops| {
            run(&ops, strict, None).map_err(TestCaseError::fail)?;
            steps.set(steps.get() + ops.len() as u64);
            cases.set(cases.get() + 1);
            Ok(())
        });
    }
    if let Err(error) = result {
        let detail = match &error {
            proptest::test_runner::TestError::Fail(reason, ops) => {
                format!(
                    "{reason}\nminimal sequence ({} steps):\n{}",
                    ops.len(),
                    show(ops, strict)
                )
            }
            other => format!("{other}"),
        };
        panic!("kernel fuzzing found a violation: {detail}");
    }
    HISTOGRAM.with(|histogram| {
        let histogram = histogram.borrow();
        let mut line = String::new();
        let mut last = None;
        for ((number, outcome), count) in histogram.iter() {
            if Some(*number) != last {
                let name = Syscall::from_raw(*number)
                    .map_or_else(|| "unknown".to_string(), |call| format!("{call:?}"));
                let _ = write!(line, "\n  {name:>12}:");
                last = Some(*number);
            }
            let what = match *outcome {
                0 => "ok".to_string(),
                u32::MAX => "blocked".to_string(),
                code => Error::check(code)
                    .err()
                    .flatten()
                    .map_or_else(|| format!("#{code}"), |error| format!("{error:?}")),
            };
            let _ = write!(line, " {what} {count}");
        }
        println!("kernel fuzz: outcomes per call (status after the call, or blocked):{line}");
    });
    let (steps, cases) = (steps.get(), cases.get());
    println!(
        "kernel fuzz: {steps} steps in {cases} sequences of 1..={STEPS_PER_CASE}, {:.1} s, strictness {strict:?}",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_fuzzed_system_starts_consistent_and_the_checks_can_fail() {
    let strict = Strictness::ALL;
    let mut k = system();
    assert_eq!(check(&k, strict), Ok(()));

    // Corrupt the state by hand: each check must notice.
    k.threads[2].wait = Wait::Semaphore(obj::S1);
    assert!(check(&k, strict).unwrap_err().contains("queued in []"));
    k.threads[2].wait = Wait::None;
    let kinds: Vec<ObjectKind> = k.caps.iter_space(0).map(|(_, cap)| cap.kind).collect();
    assert!(kinds.contains(&ObjectKind::Memory));
    // s1 maps M1 (s0's private region) writable too, behind the kernel's
    // back: a private frame writable twice.
    let (va, len) = (0x5020_0000, 2 * PAGE_SIZE);
    let service = &mut k.services[1];
    service
        .tables
        .as_mut()
        .unwrap()
        .map(Mapping {
            va,
            pa: REGION_PA,
            len,
            ring: 1,
            access: Access::ReadWrite,
            cache: CacheMode::WriteBack,
        })
        .unwrap();
    service
        .regions
        .push(RegionMapping {
            object: obj::M1,
            va,
            len,
            writable: true,
        })
        .unwrap();
    let lenient = Strictness {
        pending_mapping: false,
        ..strict
    };
    let error = check(&k, lenient).unwrap_err();
    assert!(error.contains("writable in threads 0 and 1"), "{error}");
}

/// Defect D1: the kernel forgets at run time what the build checks (a
/// region not declared `shared` is writable in one service only). A
/// writable capability to a private region, sent in a call, lets the
/// receiver map the region writable next to its owner.
#[test]
fn a_private_region_is_never_writable_in_two_services() {
    let mut k = system();
    let rw = (Rights::READ | Rights::WRITE).bits();
    // s1 waits on EP_B (its slot 3), ready to take a capability into 20.
    let receive = MsgInfo {
        recv_slot: 20,
        ..MsgInfo::new(0)
    }
    .encode();
    assert!(k.sched.switch_to(1));
    k.threads[1].frame.a[2..5].copy_from_slice(&[Syscall::Recv as u32, 3, receive]);
    k.syscall(1);
    // s0 calls EP_B (slot 8) and sends its writable M1 capability (slot 6).
    let send = MsgInfo {
        send_cap: 6,
        ..MsgInfo::new(0)
    }
    .encode();
    assert!(k.sched.switch_to(0));
    k.threads[0].frame.a[2..5].copy_from_slice(&[Syscall::Call as u32, 8, send]);
    k.syscall(0);
    assert!(MsgInfo::decode(k.threads[1].frame.a[4]).cap_received);
    // s1 now holds M1 with READ | WRITE: mapping it writable must fail.
    assert!(k.sched.switch_to(1));
    k.threads[1].frame.a[2..6].copy_from_slice(&[Syscall::MemMap as u32, 20, 0x5020_0000, rw]);
    k.syscall(1);
    let status = k.threads[1].frame.a[2];
    let lenient = Strictness::CURRENT;
    assert_eq!(check(&k, lenient), Ok(()));
    assert_eq!(
        status,
        Error::MissingRight as u32,
        "the map must be refused"
    );
    // Read-only is fine, as for echo's loan in the default system.
    k.threads[1].frame.a[2..6].copy_from_slice(&[
        Syscall::MemMap as u32,
        20,
        0x5020_0000,
        Rights::READ.bits(),
    ]);
    k.syscall(1);
    assert_eq!(k.threads[1].frame.a[2], 0);
}

/// Defect D2: a thread blocked in `SemTake` or `NotifyWait` keeps waiting
/// after the capability it waits through is revoked, and later takes the
/// semaphore or the bits it can no longer name. Fixed: the wait ends with
/// `Revoked`, as it does for endpoint waiters.
#[test]
fn revoking_a_waiters_capability_ends_its_wait() {
    let mut k = system();
    let run = |k: &mut Kernel<TestHw>, thread: usize, regs: &[u32]| {
        assert!(k.sched.switch_to(thread), "{thread} cannot run");
        k.threads[thread].frame.a[2..2 + regs.len()].copy_from_slice(regs);
        k.syscall(thread);
        k.threads[thread].frame.a[2]
    };
    // s2 gets derived RECEIVE copies of s3's S2 and N2 (slots 5 and 4),
    // objects it holds no other capability to (holding another RECEIVE
    // capability to the same object would rightly keep it waiting).
    for (from, to) in [(5, 20), (4, 21)] {
        k.caps
            .derive(
                CapRef {
                    space: 3,
                    slot: from,
                },
                CapRef { space: 2, slot: to },
                Rights::RECEIVE,
                None,
            )
            .unwrap();
        // (The entry's word for the slot, as `CapDerive` keeps it.)
        k.refresh_fast(CapRef { space: 2, slot: to });
    }
    // S2 starts at 0: the take waits.
    run(&mut k, 2, &[Syscall::SemTake as u32, 20, u32::MAX]);
    assert_eq!(k.threads[2].wait, Wait::Semaphore(obj::S2));
    assert_eq!(run(&mut k, 3, &[Syscall::CapRevoke as u32, 5]), 0);
    assert_eq!(
        k.threads[2].frame.a[2],
        Error::Revoked as u32,
        "the semaphore waiter is told"
    );
    assert_eq!(check(&k, Strictness::ALL), Ok(()));
    // The same for a notification waiter.
    run(&mut k, 2, &[Syscall::NotifyWait as u32, 21]);
    assert_eq!(k.threads[2].wait, Wait::Notification(obj::N2));
    assert_eq!(run(&mut k, 3, &[Syscall::CapRevoke as u32, 4]), 0);
    assert_eq!(k.threads[2].frame.a[2], Error::Revoked as u32);
    assert_eq!(check(&k, Strictness::ALL), Ok(()));
}

/// Defect D3: a service that prints part of a line (no newline) glues the
/// next service's line, or the kernel's, onto it: `[s0] abc[s1] line`.
/// Whoever reads the console by line (the tests' `lines_of`, `kernel_lines`)
/// then misses the second line; a hostile service can hide kernel reports
/// that way. Found while making the hostile service's console writes safe.
#[test]
fn every_console_line_starts_with_its_writers_prefix() {
    let mut k = system();
    let text = crate::testkit::data_pa(0);
    k.hw.phys(text, 4).copy_from_slice(b"abc\n");
    let data = crate::testkit::data_pa(1);
    k.hw.phys(data, 5).copy_from_slice(b"line\n");
    let write = |k: &mut Kernel<TestHw>, thread: usize, len: u32| {
        assert!(k.sched.switch_to(thread));
        k.threads[thread].frame.a[2..5].copy_from_slice(&[
            Syscall::ConsoleWrite as u32,
            sotto_abi::layout::USER_TEXT_BASE,
            len,
        ]);
        k.syscall(thread);
        assert_eq!(k.threads[thread].frame.a[2], 0);
    };
    write(&mut k, 0, 3); // "abc", no newline yet
    write(&mut k, 1, 5); // "line\n"
    // s2 exits: the kernel reports it on a line of its own.
    assert!(k.sched.switch_to(2));
    k.threads[2].frame.a[2..4].copy_from_slice(&[Syscall::Exit as u32, 0]);
    k.syscall(2);
    write(&mut k, 0, 4); // "abc\n"
    let console = String::from_utf8(k.hw.console.clone()).unwrap();
    for line in console.lines() {
        assert!(
            ["[s0] ", "[s1] ", "[kernel] "]
                .iter()
                .any(|prefix| line.starts_with(prefix) && !line[1..].contains('[')),
            "line {line:?} mixes writers in:\n{console}"
        );
    }
    assert!(console.lines().any(|line| line == "[s1] line"), "{console}");
}
