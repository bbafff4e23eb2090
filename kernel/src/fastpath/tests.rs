//! The light path against the full one: two identical kernels run the
//! same random system calls, one through `light_syscall` (falling back to
//! the full path when it says so), one through the full path only; after
//! every call the threads, their waits, the objects and every register a
//! thread sees when it runs must be the same.

use proptest::prelude::{Just, Strategy, any, prop, prop_oneof, proptest};
use proptest::test_runner::Config;
use sotto_abi::cap::Rights;
use sotto_abi::manifest::ObjectParams;
use sotto_abi::syscall::{MsgInfo, NO_SLOT};
use sotto_abi::{Error, Syscall};

use super::Light;
use crate::cap::CapRef;
use crate::kernel::{Hardware, Kernel, Object};
use crate::sched::ThreadState;
use crate::testkit::{TestHw, add, add_thread, grant, kernel};
use crate::trap::kind;

std::thread_local! {
    /// System calls the entry's express paths took, in this test thread.
    static EXPRESS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Of them, calls carrying a capability and deletes (`express_model`).
    static EXPRESS_CAPS: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
    /// Of them, `CallTimeout`s (`express_model`), and `ReplyRecv`s to a
    /// caller with a deadline.
    static EXPRESS_TIMED: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// Objects: clock, two endpoints, a notification, a semaphore.
const CLOCK: u16 = 0;
const EP_A: u16 = 1;
const EP_B: u16 = 2;
const NOTE: u16 = 3;
const SEM: u16 = 4;

/// Four services: two servers (priorities 1 and 2) and two clients
/// (priorities 2 and 3), every one able to signal, give and wait; the
/// servers receive on one endpoint each, clients call both (slots 1, 2).
fn system() -> Kernel<TestHw> {
    let mut k = kernel(&[
        ObjectParams::Clock,
        ObjectParams::Endpoint,
        ObjectParams::Endpoint,
        ObjectParams::Notification,
        ObjectParams::Semaphore { initial: 1, max: 2 },
    ]);
    let all = Rights::SEND | Rights::RECEIVE;
    // Slots 3 and 4 may be passed on (GRANT), and slot 6, a copy of the
    // first endpoint that may be: a server's with every right (a client
    // it reaches can then receive on it too), a client's to call.
    let common = |first: u16, second: u16, rights, copy| {
        [
            grant(1, first, rights),
            grant(2, second, rights),
            grant(3, NOTE, all | Rights::GRANT),
            grant(4, SEM, all | Rights::GRANT),
            grant(5, CLOCK, Rights::READ),
            grant(6, first, copy | Rights::GRANT),
        ]
    };
    let server = (Rights::RECEIVE, all);
    let client = (Rights::SEND, Rights::SEND);
    add(
        &mut k,
        "server-a",
        1,
        &common(EP_A, EP_B, server.0, server.1),
    );
    add(
        &mut k,
        "server-b",
        2,
        &common(EP_B, EP_A, server.0, server.1),
    );
    add(
        &mut k,
        "client-a",
        2,
        &common(EP_A, EP_B, client.0, client.1),
    );
    add(
        &mut k,
        "client-b",
        3,
        &common(EP_B, EP_A, client.0, client.1),
    );
    k
}

/// [`system`] with a further thread in the first server (a server too,
/// at its priority) and one in the first client (a client): threads 4 and
/// 5, which the entry's express paths never take (no fast words of their
/// own) but the light path does, through their services' capabilities.
fn system_with_threads() -> Kernel<TestHw> {
    let mut k = system();
    add_thread(&mut k, 0, "server-a2", 1);
    add_thread(&mut k, 2, "client-a2", 2);
    k
}

/// One system call by whichever thread runs: number and a3..a8.
#[derive(Clone, Debug)]
struct Step {
    number: u32,
    args: [u32; 6],
}

/// Any call, or the protocol's next.
fn any_call() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(Syscall::Null as u32),
        1 => Just(Syscall::Yield as u32),
        1 => Just(Syscall::Cycles as u32),
        1 => Just(Syscall::NotifySignal as u32),
        1 => Just(Syscall::NotifyWait as u32),
        1 => Just(Syscall::NotifyPoll as u32),
        1 => Just(Syscall::SemGive as u32),
        1 => Just(Syscall::SemTake as u32),
        1 => Just(Syscall::Call as u32),
        1 => Just(Syscall::Call as u32),
        1 => Just(Syscall::CallTimeout as u32),
        1 => Just(Syscall::Recv as u32),
        1 => Just(Syscall::Reply as u32),
        1 => Just(Syscall::ReplyRecv as u32),
        1 => Just(Syscall::ReplyRecv as u32),
        1 => Just(Syscall::CapDelete as u32),
        1 => Just(99u32),
        8 => Just(PROTOCOL),
    ]
}

/// Mostly the protocol's next call, with deletes of what was received:
/// capability messages meeting waiting peers.
fn protocol_call() -> impl Strategy<Value = u32> {
    prop_oneof![
        12 => Just(PROTOCOL),
        3 => Just(Syscall::CapDelete as u32),
        1 => Just(Syscall::Yield as u32),
        1 => Just(Syscall::SemGive as u32),
    ]
}

fn steps(number: impl Strategy<Value = u32>) -> impl Strategy<Value = Vec<Step>> {
    // Slots 1..5 mostly, sometimes a received capability's or out of
    // range; plain infos mostly, else a capability to send and a window
    // to receive one (sometimes bad slots, a payload or stray flags).
    let slot = prop_oneof![8 => 1u32..6, 2 => 6u32..12, 1 => any::<u32>()];
    let send_cap = prop_oneof![
        6 => 3u8..7,
        2 => 7u8..12,
        1 => Just(NO_SLOT),
        1 => any::<u8>()
    ];
    let window = prop_oneof![
        6 => 7u8..12,
        1 => 3u8..7,
        1 => Just(NO_SLOT),
        1 => any::<u8>()
    ];
    let with_cap = (send_cap, window, any::<bool>(), 0u8..8).prop_map(
        |(send_cap, recv_slot, reply_dropped, extra)| {
            let info = MsgInfo {
                send_cap,
                recv_slot,
                reply_dropped,
                ..MsgInfo::new(0)
            };
            // Mostly clean; sometimes a payload or a kernel-set flag.
            let stray = match extra {
                0 => 4,
                1 => 1 << 13,
                2 => 1 << 14,
                _ => 0,
            };
            info.encode() | stray
        },
    );
    let info = prop_oneof![
        4 => Just(0u32),
        1 => Just(1u32 << 15),
        6 => with_cap,
        1 => any::<u32>()
    ];
    let step =
        (number, slot, info, any::<[u32; 4]>()).prop_map(|(number, slot, info, rest)| Step {
            number,
            args: [slot, info, rest[0], rest[1], rest[2], rest[3] | 1],
        });
    prop::collection::vec(step, 1..120)
}

/// A step number meaning "what this thread's role does next": a server
/// receives on its endpoint (replying first if it owes a reply), a client
/// calls one of the two; the random info word is kept (capabilities,
/// windows), so the capability paths meet waiting peers often.
const PROTOCOL: u32 = u32::MAX;

/// `step` with [`PROTOCOL`] made the call `thread`'s role makes.
fn resolve(k: &Kernel<TestHw>, thread: usize, step: &Step) -> Step {
    if step.number == Syscall::CapDelete as u32 && !step.args[4].is_multiple_of(4) {
        // Mostly what a server received (slots 7..11), not its own.
        let mut args = step.args;
        args[0] = 7 + args[0] % 5;
        return Step {
            number: step.number,
            args,
        };
    }
    if step.number != PROTOCOL {
        return step.clone();
    }
    let mut args = step.args;
    let number = if k.space(thread) < 2 {
        args[0] = 1;
        if k.threads[thread].reply_to().is_some() {
            Syscall::ReplyRecv
        } else {
            Syscall::Recv
        }
    } else {
        args[0] = 1 + args[4] % 2;
        // A plain one now and then with a deadline (random: passed, near
        // or far).
        if args[4] % 8 < 2 && args[1] == super::PLAIN {
            Syscall::CallTimeout
        } else {
            Syscall::Call
        }
    };
    Step {
        number: number as u32,
        args,
    }
}

/// Everything a thread can observe, and what the kernel keeps about it.
fn snapshot(k: &Kernel<TestHw>) -> String {
    let mut out = format!("current {:?}\n", k.sched.current());
    for (index, service) in k.threads.iter().enumerate() {
        let state = k.sched.state(index);
        // Registers are observable once the thread may run again.
        let registers = if matches!(state, ThreadState::Ready | ThreadState::Running) {
            format!("{:x?}", &service.frame.a[2..8])
        } else {
            String::from("-")
        };
        out += &format!(
            "{index}: {state:?} wait {:?} reply_to {:?} regs {registers}\n",
            service.wait,
            service.reply_to()
        );
    }
    for (index, object) in k.objects.iter().enumerate() {
        let text = match object {
            Object::Endpoint(endpoint) => format!(
                "callers {:?} receivers {:?}",
                endpoint.callers.iter().collect::<Vec<_>>(),
                endpoint.receivers.iter().collect::<Vec<_>>()
            ),
            Object::Notification(notification) => format!(
                "bits {} waiters {:?}",
                notification.pending(),
                notification.waiters().collect::<Vec<_>>()
            ),
            Object::Semaphore(semaphore) => format!("count {}", semaphore.count()),
            _ => String::new(),
        };
        out += &format!("object {index}: {text}\n");
    }
    // Capabilities: where each is, what it is, where it came from; and
    // the summaries the paths keep of them.
    for space in 0..k.services.len() as u8 {
        for (slot, cap) in k.caps.iter_space(space) {
            let at = CapRef { space, slot };
            // The fast slot but its address (each kernel's own).
            let fast = k.fast_caps[usize::from(space)][usize::from(slot)];
            out += &format!(
                "cap {at:?}: {cap:?}, {} children, fast ops {:#x} badge {} object {}\n",
                k.caps.children(at),
                fast.ops,
                fast.badge,
                fast.id()
            );
        }
    }
    for (index, object) in k.objects.iter().enumerate() {
        if let Object::Endpoint(endpoint) = object {
            out += &format!(
                "endpoint {index}: holders {:#x}, least urgent {}\n",
                endpoint.holders, endpoint.least_urgent
            );
        }
    }
    out
}

/// The full path as the trap entry runs it: registers into the frame,
/// the handler, then the scheduler's choice.
fn full(k: &mut Kernel<TestHw>, thread: usize, step: &Step) {
    let frame = &mut k.threads[thread].frame;
    frame.kind = kind::FULL; // as the full entry saves it
    frame.a[2] = step.number;
    frame.a[3..9].copy_from_slice(&step.args);
    k.syscall(thread);
    k.sched.schedule();
}

/// The light path, falling back like the entry does; a direct return
/// leaves its two results (and zeros) in the registers, here the frame.
fn light(k: &mut Kernel<TestHw>, thread: usize, step: &Step) -> Light {
    let express = k.express(step.number, step.args);
    if express
        && step.number == Syscall::ReplyRecv as u32
        && let Some(caller) = k.threads[thread].reply_to()
        && matches!(
            k.sched.state(caller),
            ThreadState::Blocked { until: Some(_) }
        )
    {
        EXPRESS_TIMED.with(|count| count.set((count.get().0, count.get().1 + 1)));
    }
    let light = k.light_syscall(step.number, step.args);
    if express {
        let switched = if step.number == Syscall::Yield as u32 {
            matches!(light, Light::Resume(next) if next != thread)
        } else if step.number == Syscall::CapDelete as u32 {
            // The express delete returns 0 to its caller (and empties the
            // slot as the light path does: compared below).
            light == Light::Return(0, 0)
        } else {
            matches!(light, Light::Handoff(_))
        };
        assert!(
            switched,
            "the entry's express path took {step:?}, the light path says {light:?}"
        );
        EXPRESS.with(|count| count.set(count.get() + 1));
    }
    // The frame the entry saves a thread switched away from: an express
    // path's (and a fast path's hand-off) keep what a call keeps, the
    // light path's switch everything.
    if let Light::Resume(next) = light
        && next != thread
    {
        k.threads[thread].frame.kind = if express { kind::IPC } else { kind::FULL };
    }
    match light {
        Light::Return(status, value) => {
            k.threads[thread].frame.a[2..8].copy_from_slice(&[status, value, 0, 0, 0, 0]);
        }
        Light::Slow => {
            assert_eq!(k.threads[thread].frame.a[2], step.number);
            k.threads[thread].frame.kind = kind::FULL;
            k.syscall(thread);
            k.sched.schedule();
        }
        Light::Resume(next) | Light::Handoff(next) => assert_eq!(k.sched.current(), Some(next)),
        Light::Idle => assert_eq!(k.sched.current(), None),
    }
    light
}

/// Run `steps` on two identical kernels, light and full; they must agree
/// after every one.
fn differential(steps: &[Step]) {
    differential_of(system, steps);
}

/// [`differential`] on the kernels `system` makes.
fn differential_of(system: fn() -> Kernel<TestHw>, steps: &[Step]) {
    let (mut fast, mut slow, mut model) = (system(), system(), system());
    // The tick the alarm is set for (a timed call is express only if its
    // deadline is not before it), from the first step: none, or soon.
    let armed = match steps.first().map_or(0, |step| step.args[2] % 4) {
        0 => None,
        n => Some(u64::from(n)),
    };
    for k in [&mut fast, &mut slow, &mut model] {
        k.sched.alarm_set(false, armed);
    }
    fast.sched.schedule();
    slow.sched.schedule();
    model.sched.schedule();
    for (index, step) in steps.iter().enumerate() {
        let Some(thread) = fast.sched.current() else {
            break;
        };
        let step = &resolve(&fast, thread, step);
        light(&mut fast, thread, step);
        full(&mut slow, thread, step);
        if !express_model(&mut model, thread, step) {
            light(&mut model, thread, step);
        }
        let full = snapshot(&slow);
        let context = format!("after step {index}: {step:?} by thread {thread}");
        assert_eq!(snapshot(&fast), full, "light path {context}");
        assert_eq!(snapshot(&model), full, "express model {context}");
    }
}

/// Where the entry's express paths take `step`, what their assembly
/// (trap.S) does with a capability, step by step: a `Call` carrying one
/// is the plain express call (tested against the light path above) and
/// then a raw copy into the server's window if it is a free slot (the
/// copy's fast word the source's, nothing else changed: the GRANT bit);
/// a `CapDelete` empties the slot and counts its parent down, zeroes its
/// fast word and returns 0 (nothing else: the DROP bit). A `CallTimeout`
/// is the plain express call, then its deadline queued as the entry
/// queues it (trap.S, 22: `Kernel::express_timeout` with a8). Whether it
/// took the step.
fn express_model(k: &mut Kernel<TestHw>, thread: usize, step: &Step) -> bool {
    let args = step.args;
    let carrying = step.number == Syscall::Call as u32 && args[1] != super::PLAIN;
    let delete = step.number == Syscall::CapDelete as u32;
    let timed = step.number == Syscall::CallTimeout as u32;
    if !(carrying || delete || timed) || !k.express(step.number, args) {
        return false;
    }
    if timed {
        let plain = [args[0], args[1], args[2], args[3], args[4], 0];
        assert_eq!(args[1], super::PLAIN, "the express timed call is plain");
        assert!(matches!(
            k.light_syscall(Syscall::Call as u32, plain),
            Light::Handoff(_)
        ));
        k.express_timeout(thread, args[5]);
        EXPRESS_TIMED.with(|count| count.set((count.get().0 + 1, count.get().1)));
        return true;
    }
    EXPRESS_CAPS.with(|count| {
        let (calls, deletes) = count.get();
        count.set((calls + u32::from(carrying), deletes + u32::from(delete)));
    });
    if delete {
        let at = CapRef {
            space: thread as u8,
            slot: args[0] as u8,
        };
        k.caps.express_empty(at);
        k.fast_caps[thread][args[0] as usize] = super::FastSlot::ZERO;
        k.threads[thread].frame.a[2..8].fill(0);
        return true;
    }
    let plain = [args[0], super::PLAIN, args[2], args[3], args[4], args[5]];
    let Light::Handoff(server) = k.light_syscall(Syscall::Call as u32, plain) else {
        panic!("the express call is the plain fast call");
    };
    k.threads[thread].frame.a[4] = args[1];
    let window = MsgInfo::decode(k.threads[server].frame.a[4]).recv_slot;
    let send = MsgInfo::decode(args[1]).send_cap;
    let target = CapRef {
        space: server as u8,
        slot: window,
    };
    if usize::from(window) < sotto_abi::cap::CAP_SLOTS && k.caps.get(target).is_err() {
        let source = CapRef {
            space: thread as u8,
            slot: send,
        };
        k.caps.express_copy(source, target);
        k.fast_caps[server][usize::from(window)] = k.fast_caps[thread][usize::from(send)];
        k.threads[server].frame.a[4] |= super::CAP_RECEIVED;
    }
    true
}

proptest! {
    #![proptest_config(Config { cases: 400, ..Config::default() })]

    #[test]
    fn the_light_path_does_what_the_full_path_does(steps in steps(any_call())) {
        differential(&steps);
    }

    #[test]
    fn capability_messages_on_the_light_path_do_what_the_full_path_does(
        steps in steps(protocol_call())
    ) {
        differential(&steps);
    }

    /// With further threads in a server and a client: the light path
    /// maps them to their services' capabilities as the full path does,
    /// and the express model (which indexes capabilities by thread
    /// number, as the assembly does) never meets one.
    #[test]
    fn threads_on_the_light_path_do_what_the_full_path_does(steps in steps(any_call())) {
        differential_of(system_with_threads, &steps);
    }

    #[test]
    fn threads_capability_messages_do_what_the_full_path_does(
        steps in steps(protocol_call())
    ) {
        differential_of(system_with_threads, &steps);
    }
}

/// Run 100 deterministic random sequences of `number`'s calls through
/// [`differential`].
fn run_sequences<S: Strategy<Value = u32>>(number: impl Fn() -> S) {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..100 {
        let tree = steps(number()).new_tree(&mut runner);
        differential(&tree.expect("steps").current());
    }
}

/// The random sequences do reach the entry's express paths (so the test
/// above checks their decision against the light path's), the timed call
/// among them (its model against the full path).
#[test]
fn random_steps_reach_the_express_paths() {
    let before = EXPRESS.with(std::cell::Cell::get);
    let (calls, replies) = EXPRESS_TIMED.with(std::cell::Cell::get);
    run_sequences(any_call);
    let taken = EXPRESS.with(std::cell::Cell::get) - before;
    let (now_calls, now_replies) = EXPRESS_TIMED.with(std::cell::Cell::get);
    let (calls, replies) = (now_calls - calls, now_replies - replies);
    assert!(
        taken > 0 && calls > 0 && replies > 0,
        "express paths taken {taken} times, timed calls {calls}, replies to them {replies}"
    );
}

/// The capability protocol's sequences reach the express `Call` carrying
/// a capability and the express `CapDelete` (so the model above is
/// checked against the full path).
#[test]
fn capability_steps_reach_the_express_capability_paths() {
    let (calls, deletes) = EXPRESS_CAPS.with(std::cell::Cell::get);
    run_sequences(protocol_call);
    let (now_calls, now_deletes) = EXPRESS_CAPS.with(std::cell::Cell::get);
    let (calls, deletes) = (now_calls - calls, now_deletes - deletes);
    assert!(
        calls > 5 && deletes > 10,
        "express capability calls {calls}, deletes {deletes}"
    );
}

/// The fast paths are taken where they should be: a client calling a
/// waiting server switches to it directly, and the server's `ReplyRecv`
/// switches straight back.
#[test]
fn a_call_and_its_reply_take_the_fast_paths() {
    let mut k = system();
    assert_eq!(k.sched.schedule(), Some(0));
    assert_eq!(
        k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]),
        Light::Slow
    );
    k.syscall(0);
    assert_eq!(k.sched.schedule(), Some(1), "server-a waits; server-b runs");
    k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]);
    k.syscall(1);
    assert_eq!(k.sched.schedule(), Some(2));
    let call = k.light_syscall(Syscall::Call as u32, [1, 0, 7, 8, 9, 0]);
    assert_eq!(call, Light::Handoff(0), "straight to the waiting server");
    assert_eq!(&k.threads[0].frame.a[2..8], &[0, 0, 0, 7, 8, 9]);
    assert!(
        k.express(Syscall::ReplyRecv as u32, [1, 0, 10, 11, 12, 0]),
        "the caller's frame is the fast path's (KIND_IPC): the entry takes the reply itself"
    );
    let reply = k.light_syscall(Syscall::ReplyRecv as u32, [1, 0, 10, 11, 12, 0]);
    assert_eq!(reply, Light::Handoff(2), "straight back to the caller");
    // The caller holds a clock: a4 carries CCOUNT at the reply.
    let cycles = k.hw.cycles();
    assert_eq!(&k.threads[2].frame.a[2..8], &[0, 0, cycles, 10, 11, 12]);
    assert_eq!(
        k.light_syscall(Syscall::Null as u32, [0; 6]),
        Light::Return(0, 0)
    );
    // A message with a payload is not registers-only: the full path.
    assert_eq!(
        k.light_syscall(Syscall::Call as u32, [1, 4, 0, 0, 0, 0]),
        Light::Slow
    );
}

/// From the second round trip on, both halves are the entry's express
/// paths: the frames they left are `KIND_IPC`, the receiver is parked.
#[test]
fn the_second_round_trip_is_express_both_ways() {
    let mut k = system();
    assert_eq!(k.sched.schedule(), Some(0));
    k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]);
    k.syscall(0);
    assert_eq!(k.sched.schedule(), Some(1));
    k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]);
    k.syscall(1);
    assert_eq!(k.sched.schedule(), Some(2));
    let call = [1, sotto_abi::syscall::MsgInfo::new(0).encode(), 7, 8, 9, 0];
    assert!(
        !k.express(Syscall::Call as u32, call),
        "server-a's frame is a full one"
    );
    assert_eq!(
        k.light_syscall(Syscall::Call as u32, call),
        Light::Handoff(0)
    );
    let reply = [
        1,
        sotto_abi::syscall::MsgInfo::new(0).encode(),
        10,
        11,
        12,
        0,
    ];
    assert!(
        k.express(Syscall::ReplyRecv as u32, reply),
        "client-a's frame is KIND_IPC"
    );
    assert_eq!(
        k.light_syscall(Syscall::ReplyRecv as u32, reply),
        Light::Handoff(2)
    );
    assert!(k.express(Syscall::Call as u32, call), "and server-a's");
    assert_eq!(
        k.light_syscall(Syscall::Call as u32, call),
        Light::Handoff(0)
    );
    // Not plain: a payload length.
    assert!(!k.express(Syscall::ReplyRecv as u32, [1, 4, 0, 0, 0, 0]));
    // A thread more urgent than the caller is ready: the light path decides.
    k.sched.wake(1);
    assert!(!k.express(Syscall::ReplyRecv as u32, reply));
}

/// Two threads of one priority yielding to each other: once the slice
/// alarm is armed, every yield is the entry's express path.
#[test]
fn yields_between_equals_are_express_once_the_slice_is_armed() {
    let mut k = system();
    assert_eq!(k.sched.schedule(), Some(0));
    // Servers wait; the clients (priorities 2 and 3) and server-b (2) remain.
    k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]);
    k.syscall(0);
    assert_eq!(k.sched.schedule(), Some(1));
    let yield_ = Syscall::Yield as u32;
    assert!(!k.express(yield_, [0; 6]), "no slice armed yet");
    assert_eq!(k.light_syscall(yield_, [0; 6]), Light::Resume(2));
    k.sched.alarm_set(true, None);
    assert!(
        k.express(yield_, [0; 6]),
        "server-b is ready at client-a's priority"
    );
    assert_eq!(k.light_syscall(yield_, [0; 6]), Light::Resume(1));
    // A deadline changed: the light path sets the alarm again.
    k.sched.deadlines_changed();
    assert!(!k.express(yield_, [0; 6]));
}

/// A call carrying a capability to a server waiting with a window, the
/// server's delete of it and its reply with a window open again (the
/// `ipc-cap-round-trip` benchmark) all stay on the light path.
#[test]
fn a_capability_round_trip_takes_the_light_paths() {
    let mut k = system();
    let window = |slot: u8| {
        MsgInfo {
            recv_slot: slot,
            ..MsgInfo::new(0)
        }
        .encode()
    };
    assert_eq!(k.sched.schedule(), Some(0));
    k.light_syscall(Syscall::Recv as u32, [1, window(8), 0, 0, 0, 0]);
    k.syscall(0);
    assert_eq!(k.sched.schedule(), Some(1));
    k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]);
    k.syscall(1);
    assert_eq!(k.sched.schedule(), Some(2));
    for round in 0..3 {
        let carrying = MsgInfo {
            send_cap: 4,
            ..MsgInfo::new(0)
        }
        .encode();
        // From the second round on (the server's frame is the express
        // reply's), the entry takes the call and the delete itself.
        assert_eq!(
            k.express(Syscall::Call as u32, [1, carrying, round, 8, 9, 0]),
            round > 0
        );
        let call = k.light_syscall(Syscall::Call as u32, [1, carrying, round, 8, 9, 0]);
        assert_eq!(call, Light::Handoff(0), "straight to the waiting server");
        let received = MsgInfo {
            cap_received: true,
            ..MsgInfo::decode(window(8))
        };
        assert_eq!(
            &k.threads[0].frame.a[2..8],
            &[0, 0, received.encode(), round, 8, 9]
        );
        let copy = k.caps.get(CapRef { space: 0, slot: 8 }).copied().unwrap();
        assert_eq!(copy.parent(), Some(CapRef { space: 2, slot: 4 }));
        assert!(k.express(Syscall::CapDelete as u32, [8, 0, 0, 0, 0, 0]));
        assert_eq!(
            k.light_syscall(Syscall::CapDelete as u32, [8, 0, 0, 0, 0, 0]),
            Light::Return(0, 0)
        );
        assert_eq!(k.caps.children(CapRef { space: 2, slot: 4 }), 0);
        let reply = k.light_syscall(Syscall::ReplyRecv as u32, [1, window(8), 10, 11, 12, 0]);
        assert_eq!(reply, Light::Handoff(2), "straight back to the caller");
        assert_eq!(k.threads[2].frame.a[2..4], [0, 0]);
    }
    // Not express: a capability with more than its own slot in the info
    // (a window for the reply's), one without GRANT (the clock), an
    // empty slot to delete.
    let window_too = MsgInfo {
        send_cap: 4,
        recv_slot: 9,
        ..MsgInfo::new(0)
    };
    let clock = MsgInfo {
        send_cap: 5,
        ..MsgInfo::new(0)
    };
    for info in [window_too, clock] {
        assert!(!k.express(Syscall::Call as u32, [1, info.encode(), 0, 0, 0, 0]));
    }
    assert!(!k.express(Syscall::CapDelete as u32, [30, 0, 0, 0, 0, 0]));
    // A delete's error comes straight back, as the full path gives it.
    assert_eq!(
        k.light_syscall(Syscall::CapDelete as u32, [30, 0, 0, 0, 0, 0]),
        Light::Return(Error::EmptySlot as u32, 0)
    );
}

/// Every kind, every set of rights: where a slot's fast word has the
/// GRANT bit, passing it (`pass_cap`) does nothing but what the express
/// `Call` does (`express_model`); where it has the DROP bit, deleting it
/// (`cap_delete`) nothing but what the express `CapDelete` does — no
/// summary (clock holders, receivers, mappings) changes.
#[test]
fn the_grant_and_drop_bits_mean_nothing_else_changes() {
    use sotto_abi::cap::ObjectKind;
    use sotto_abi::manifest::{Cache, TimerTarget};
    let objects = [
        ObjectParams::Endpoint,
        ObjectParams::Notification,
        ObjectParams::Semaphore { initial: 0, max: 1 },
        ObjectParams::Timer {
            target: TimerTarget::Notify { object: 1, bits: 1 },
            start: None,
        },
        ObjectParams::Memory {
            size: 4096,
            cache: Cache::Cached,
            shared: false,
            init: None,
            keep: false,
        },
        ObjectParams::Console,
        ObjectParams::Clock,
        ObjectParams::Thread {
            service: 1,
            thread: 0,
            id: 1,
        },
        ObjectParams::Service { service: 1 },
        ObjectParams::Dai(sotto_abi::dai::DaiParams {
            direction: sotto_abi::dai::Direction::Playback,
            ring: 4,
            rate: 48_000,
            channels: 2,
            bits: 16,
            period_frames: 48,
            ring_periods: 4,
            notify: None,
        }),
    ];
    let state = |k: &Kernel<TestHw>| {
        let regions: Vec<_> = k.services.iter().map(|s| s.regions.len()).collect();
        let clock = k.clock_holders_word();
        format!(
            "{}clock holders {clock:#x}, regions {regions:?}\n",
            snapshot(k)
        )
    };
    let (mut passes, mut drops) = (0, 0);
    for (object, kind) in ObjectKind::ALL.iter().enumerate() {
        assert_eq!(k_kind(&objects, object), *kind);
        for bits in 0..64u32 {
            let rights = Rights::from_bits_truncate(bits);
            let make = || {
                let mut k = kernel(&objects);
                // A region readable through it is mapped (its delete unmaps it).
                let map_at = (*kind == ObjectKind::Memory && rights.contains(Rights::READ))
                    .then_some(0x5000_0000);
                let cap = sotto_abi::manifest::CapGrant {
                    map_at,
                    ..grant(1, object as u16, rights)
                };
                add(&mut k, "holder", 1, &[cap]);
                add(&mut k, "peer", 2, &[]);
                k
            };
            let (from, to) = (CapRef { space: 0, slot: 1 }, CapRef { space: 1, slot: 5 });
            let ops = make().fast_caps[0][1].ops;
            if ops & super::fast_op::GRANT != 0 {
                let (mut real, mut model) = (make(), make());
                assert!(real.pass_cap(0, 1, 1, 5), "{kind:?} {rights:?} passes");
                model.caps.express_copy(from, to);
                model.fast_caps[1][5] = model.fast_caps[0][1];
                assert_eq!(state(&real), state(&model), "pass {kind:?} {rights:?}");
                passes += 1;
            }
            if ops & super::fast_op::DROP != 0 {
                let (mut real, mut model) = (make(), make());
                real.cap_delete(0, 1);
                model.caps.express_empty(from);
                model.fast_caps[0][1] = super::FastSlot::ZERO;
                assert_eq!(state(&real), state(&model), "delete {kind:?} {rights:?}");
                drops += 1;
            }
        }
    }
    assert!(
        passes > 100 && drops > 100,
        "{passes} passes, {drops} deletes"
    );
}

/// The kind of object `index` of `objects` (as the kernel makes it).
fn k_kind(objects: &[ObjectParams], index: usize) -> sotto_abi::cap::ObjectKind {
    kernel(objects).objects[index].kind()
}

/// The idle timer interrupt's express tick against the full one.
mod express_tick {
    use proptest::prelude::{Strategy, prop, prop_oneof, proptest};
    use proptest::test_runner::Config;
    use sotto_abi::Syscall;
    use sotto_abi::cap::Rights;
    use sotto_abi::manifest::{ObjectParams, TimerTarget};

    use super::snapshot;
    use crate::kernel::Kernel;
    use crate::testkit::{TestHw, add, grant, kernel};

    std::thread_local! {
        /// Ticks the express path took, in this test thread.
        static TAKEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Two notifications, four timers (two signal the first notification,
    /// two the second, one of them with no bits), an endpoint, a clock;
    /// three threads (priorities 1, 1, 2) that may wait on both
    /// notifications (alone or with a receive), arm and cancel every
    /// timer, sleep and yield.
    fn system() -> Kernel<TestHw> {
        let timer = |object, bits| ObjectParams::Timer {
            target: TimerTarget::Notify { object, bits },
            start: None,
        };
        let mut k = kernel(&[
            ObjectParams::Notification,
            ObjectParams::Notification,
            timer(0, 1),
            timer(0, 2),
            timer(1, 0),
            timer(1, 4),
            ObjectParams::Endpoint,
            ObjectParams::Clock,
        ]);
        let note = Rights::SEND | Rights::RECEIVE;
        let grants = [
            grant(1, 0, note),
            grant(2, 1, note),
            grant(3, 2, Rights::CONTROL),
            grant(4, 3, Rights::CONTROL),
            grant(5, 4, Rights::CONTROL),
            grant(6, 5, Rights::CONTROL),
            grant(7, 6, note),
            grant(8, 7, Rights::READ),
        ];
        for (name, priority) in [("a", 1), ("b", 1), ("c", 2)] {
            add(&mut k, name, priority, &grants);
        }
        k
    }

    /// A system call by the running thread (number, a3..a6); `Tick`: the
    /// next tick; `Plan`: the alarm is set (for the earliest deadline).
    #[derive(Clone, Copy, Debug)]
    enum Step {
        Call(Syscall, [u32; 4]),
        Tick,
        Plan,
    }
    use Step::{Call, Plan, Tick};

    /// The kernel's own next deadline, and the most ticks an alarm is set
    /// ahead, in these tests.
    const OWN: u64 = 40;
    const MOST_AHEAD: u32 = 2;

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let small = 0u32..4;
        let step = prop_oneof![
            6 => proptest::strategy::Just(Tick),
            2 => proptest::strategy::Just(Plan),
            8 => (1u32..3).prop_map(|slot| Call(Syscall::NotifyWait, [slot, 0, 0, 0])),
            4 => (1u32..3).prop_map(|slot| Call(Syscall::RecvOrWait, [7, 0, slot, 0])),
            1 => (1u32..3, 0u32..8).prop_map(|(slot, bits)| Call(Syscall::NotifySignal, [slot, bits, 0, 0])),
            3 => (3u32..7, small.clone(), small).prop_map(|(slot, delay, period)| Call(Syscall::TimerArm, [slot, delay, period, 0])),
            1 => (3u32..7).prop_map(|slot| Call(Syscall::TimerCancel, [slot, 0, 0, 0])),
            1 => (1u32..3000).prop_map(|us| Call(Syscall::Sleep, [us, 0, 0, 0])),
            1 => proptest::strategy::Just(Call(Syscall::Yield, [0; 4])),
        ];
        prop::collection::vec(step, 1..150)
    }

    /// Everything `snapshot` shows, and the clock's side: ticks, thread
    /// states, queued timers and timeouts, the alarm's bits.
    fn state(k: &Kernel<TestHw>) -> String {
        let mut out = snapshot(k);
        out += &format!("ticks {}\n", k.ticks);
        for object in 0..k.objects.len() as u16 {
            out += &format!("timer {object}: {:?}\n", k.queued_timer(object));
        }
        for thread in 0..k.services.len() {
            out += &format!(
                "thread {thread}: {:?} timeout {:?}\n",
                k.sched.state(thread),
                k.sched.queued_timeout(thread)
            );
        }
        out += &format!(
            "alarm stale {} slice only {}\n",
            k.sched.alarm_stale(),
            k.sched.alarm_slice_only()
        );
        out
    }

    fn differential(steps: &[Step]) {
        let (mut fast, mut slow) = (system(), system());
        fast.sched.schedule();
        slow.sched.schedule();
        let mut now = 0;
        for (index, step) in steps.iter().enumerate() {
            match (*step, fast.sched.current()) {
                (Call(number, args), Some(thread)) => {
                    for k in [&mut fast, &mut slow] {
                        let frame = &mut k.threads[thread].frame;
                        frame.a[2] = number as u32;
                        frame.a[3..7].copy_from_slice(&args);
                        k.syscall(thread);
                        k.sched.schedule();
                    }
                }
                (Plan, _) => {
                    // A plan made at another time, perhaps not followed.
                    let alarm = fast.next_due().map_or(OWN, |due| due.min(OWN));
                    slow.next_due();
                    fast.plan_tick(alarm.max(now + 1), OWN, MOST_AHEAD);
                }
                _ => {
                    now += 1;
                    let express = fast.express_tick(now, OWN, MOST_AHEAD);
                    if let Some((_, ahead)) = express {
                        TAKEN.with(|taken| taken.set(taken.get() + 1));
                        let made = fast.planned(now + u64::from(ahead), OWN, MOST_AHEAD);
                        if made.tick == u64::MAX {
                            assert_eq!(fast.plan().tick, u64::MAX, "no plan for the next");
                        } else {
                            assert_eq!(fast.plan(), made, "the plan moved on as one made anew");
                        }
                    } else {
                        assert_eq!(state(&fast), state(&slow), "declined: nothing changed");
                        fast.tick(now);
                        fast.sched.schedule();
                    }
                    slow.tick(now);
                    let next = slow.sched.schedule();
                    if let Some((thread, ahead)) = express {
                        assert_eq!(Some(thread), next, "the thread the scheduler picks");
                        let due = slow.next_due();
                        fast.next_due();
                        assert_eq!(
                            due.map(|due| due.min(OWN)),
                            Some(now + u64::from(ahead)),
                            "the next alarm"
                        );
                    }
                }
            }
            assert_eq!(state(&fast), state(&slow), "after step {index}: {step:?}");
        }
    }

    proptest! {
        #![proptest_config(Config { cases: 300, ..Config::default() })]

        #[test]
        fn the_express_tick_does_what_the_full_tick_does(steps in steps()) {
            differential(&steps);
        }
    }

    /// `thread` waits on the notification in `slot`.
    fn frame_wait(k: &mut Kernel<TestHw>, thread: usize, slot: u32) {
        let frame = &mut k.threads[thread].frame;
        frame.a[2] = Syscall::NotifyWait as u32;
        frame.a[3] = slot;
        k.syscall(thread);
    }

    /// The random sequences reach the express tick.
    #[test]
    fn random_steps_reach_the_express_tick() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let before = TAKEN.with(std::cell::Cell::get);
        for _ in 0..100 {
            differential(&steps().new_tree(&mut runner).expect("steps").current());
        }
        let taken = TAKEN.with(std::cell::Cell::get) - before;
        assert!(taken > 10, "express ticks taken {taken} times");
    }

    /// The timer-wake benchmark's shape: a periodic timer, its
    /// notification's only waiter, nothing else: every tick is express.
    #[test]
    fn a_periodic_wake_is_express() {
        let mut k = system();
        assert_eq!(k.sched.schedule(), Some(0));
        for k_thread in [0, 1, 2] {
            assert_eq!(k.sched.current(), Some(k_thread));
            let frame = &mut k.threads[k_thread].frame;
            frame.a[2] = Syscall::NotifyWait as u32;
            frame.a[3] = if k_thread == 0 { 1 } else { 2 };
            if k_thread == 0 {
                // Arm the first timer, every tick, then wait.
                frame.a[2] = Syscall::TimerArm as u32;
                frame.a[3..7].copy_from_slice(&[3, 1, 1, 0]);
                k.syscall(0);
                let frame = &mut k.threads[0].frame;
                frame.a[2] = Syscall::NotifyWait as u32;
                frame.a[3] = 1;
            }
            k.syscall(k_thread);
            k.sched.schedule();
        }
        assert_eq!(k.sched.current(), None);
        for now in 1..5 {
            assert_eq!(
                k.express_tick(now, OWN, MOST_AHEAD),
                Some((0, 1)),
                "tick {now}"
            );
            assert_eq!(k.threads[0].frame.a[2..4], [0, 1]);
            let frame = &mut k.threads[0].frame;
            frame.a[2] = Syscall::NotifyWait as u32;
            frame.a[3] = 1;
            k.syscall(0);
            assert_eq!(k.sched.schedule(), None);
        }
        assert_eq!(
            k.express_tick(6, OWN, MOST_AHEAD),
            None,
            "a tick skipped: the full path"
        );
        // A timer armed behind it changes the queue: the plan is void.
        let frame = &mut k.threads[1].frame;
        frame.a[2] = Syscall::NotifySignal as u32;
        frame.a[3..5].copy_from_slice(&[2, 1]);
        k.syscall(1);
        assert_eq!(k.sched.schedule(), Some(1));
        let frame = &mut k.threads[1].frame;
        frame.a[2] = Syscall::TimerArm as u32;
        frame.a[3..7].copy_from_slice(&[4, 30, 0, 0]);
        k.syscall(1);
        frame_wait(&mut k, 1, 2);
        assert_eq!(k.sched.schedule(), None);
        let version = k.plan();
        assert_eq!(
            k.express_tick(5, OWN, MOST_AHEAD),
            Some((0, 1)),
            "planned again"
        );
        assert_ne!(k.plan(), version, "the timers changed: a new plan");
    }
}

/// A thread entry's `urgent` word answers "would it run next?" as the
/// scheduler does, for every priority and ready mask the express paths
/// can meet: `ready & urgent == 0` exactly when `would_run_next`.
#[test]
fn the_thread_entrys_urgency_word_agrees_with_the_scheduler() {
    use super::ThreadEntry;
    use crate::sched::{PRIORITIES, Scheduler};
    for priority in 0..PRIORITIES as u8 {
        let entry = ThreadEntry::new(0, 0, [0; super::SPACE_WORDS], priority);
        for ready in 0..1u32 << PRIORITIES {
            // One ready thread at each priority of the mask.
            let mut sched = Scheduler::new();
            for queued in (0..PRIORITIES as u8).filter(|p| ready & 1 << p != 0) {
                sched.add(queued);
            }
            assert_eq!(
                ready & entry.urgent == 0,
                sched.would_run_next(priority),
                "priority {priority}, ready mask {ready:#b}"
            );
        }
    }
    let nowhere = ThreadEntry::new(0, 0, [0; super::SPACE_WORDS], PRIORITIES as u8);
    assert_eq!(nowhere.urgent, u32::MAX, "no queue: never picked");
}

/// The words the express paths store whole into a thread's `wait` are the
/// `Wait` values they stand for: the tag byte first, a padding byte, the
/// 16-bit payload at `wait::PAYLOAD` (little-endian, as on the target).
#[test]
fn wait_words_lay_out_as_wait() {
    use crate::kernel::{Wait, wait};
    for (word, expected) in [
        (
            super::wait_word(wait::RECEIVER, 0x1234),
            Wait::Receiver(0x1234),
        ),
        (super::wait_word(wait::REPLY, 7), Wait::Reply(7)),
        (super::wait_word(wait::REPLY, 0), Wait::Reply(0)),
    ] {
        let mut stored = Wait::Caller(0xFFFF);
        // SAFETY: `Wait` is `repr(C, u8)` and at least four bytes; the
        // word's tag is one of its tags and the payload fits its field.
        unsafe {
            core::ptr::from_mut(&mut stored)
                .cast::<[u8; 4]>()
                .write_unaligned(word.to_le_bytes());
        }
        assert_eq!(stored, expected);
    }
}

/// Tracing (`Kernel::trace_express_off`, at boot): every thread's row of
/// fast words is the empty one, so the entry's express `Call`,
/// `ReplyRecv`, give, signal and delete find no bit, and the express
/// yield's check of the alarm byte fails even with a slice armed; the
/// light path's Rust takes every switch, and decides as it did.
#[test]
fn tracing_makes_the_express_paths_decline_and_the_light_path_decide_as_before() {
    let mut k = system();
    k.trace_express_off();
    let none = k.fast_none.as_ptr() as u32;
    assert!(k.threads.iter().all(|thread| thread.fast_row == none));
    assert!(k.fast_none.iter().all(|slot| slot.ops == 0));
    assert_eq!(k.sched.schedule(), Some(0));
    k.light_syscall(Syscall::Recv as u32, [1, 0, 0, 0, 0, 0]);
    k.syscall(0);
    assert_eq!(k.sched.schedule(), Some(1));
    let yield_ = Syscall::Yield as u32;
    k.sched.alarm_set(true, None);
    assert!(!k.sched.alarm_slice_only(), "the express yield declines");
    assert!(!k.express(yield_, [0; 6]));
    // What the light path does is what it did untraced
    // (`yields_between_equals_are_express_once_the_slice_is_armed`).
    assert_eq!(k.light_syscall(yield_, [0; 6]), Light::Resume(2));
    // A deadline given and taken back leaves the express yield off.
    k.sched.set_deadline(1, 5);
    k.sched.set_deadline(1, crate::sched::NO_DEADLINE);
    k.sched.alarm_set(true, None);
    assert!(!k.sched.alarm_slice_only(), "still declines");
    assert_eq!(k.light_syscall(yield_, [0; 6]), Light::Resume(1));
}
