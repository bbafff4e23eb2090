//! Thread control by capability: a `thread` capability with CONTROL sets
//! its thread's priority (never more urgent than its ceiling) and
//! absolute deadline, suspends and resumes it, and reads its CPU time
//! (`sotto_abi::Syscall::ThreadPriority` ..= `ThreadCpuTime`). The
//! scheduling itself is [`crate::sched`]'s; this checks the arguments and
//! keeps what else follows a thread's priority in step (the entry's
//! urgency word, the endpoints' least urgent receiver).

use sotto_abi::cap::{ObjectKind, Rights};
use sotto_abi::manifest::LOWEST_PRIORITY;
use sotto_abi::{Error, Syscall};

use crate::cap::ObjectId;
use crate::kernel::{Hardware, Kernel, Object, Outcome};
use crate::sched::{Change, ThreadId};
use crate::trap::{TrapFrame, kind};

impl<H: Hardware> Kernel<H> {
    /// The thread control calls (out of line, compiled for size: none is
    /// on a fast path).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn thread_control(
        &mut self,
        caller: ThreadId,
        call: Syscall,
        args: [u32; 5],
    ) -> Outcome {
        Outcome::Return(
            self.control(caller, call, args)
                .map(|time| [time as u32, (time >> 32) as u32, 0, 0, 0]),
        )
    }

    /// [`Self::thread_control`]'s work; the value is the CPU time (0 for
    /// the other calls).
    fn control(&mut self, caller: ThreadId, call: Syscall, args: [u32; 5]) -> Result<u64, Error> {
        let cap = self.cap_cold(caller, args[0], ObjectKind::Thread, Rights::CONTROL)?;
        let Some(&Object::Thread(target)) = self.objects.get(usize::from(cap.object)) else {
            return Err(Error::WrongKind);
        };
        // (An ended thread's CPU time stays readable.)
        if call == Syscall::ThreadCpuTime {
            return Ok(self.sched.cpu_time(target));
        }
        if !self.sched.is_live(target) {
            return Err(Error::ThreadEnded);
        }
        let suspended = self.sched.is_suspended(target);
        let change = match call {
            Syscall::ThreadPriority => {
                if args[1] > u32::from(LOWEST_PRIORITY) {
                    return Err(Error::BadArgument);
                }
                if args[1] < u32::from(self.sched.ceiling(target)) {
                    return Err(Error::AboveCeiling);
                }
                let priority = args[1] as u8;
                // A call in flight never runs uphill (as `Call` refuses
                // one): the server it waits for stays at least as urgent,
                // the caller it owes (or owed, if that one gave up
                // waiting) a reply no more urgent.
                let thread = &self.threads[target];
                if thread
                    .wait
                    .reply_of()
                    .is_some_and(|server| priority < self.sched.priority(server))
                    || thread
                        .reply_to()
                        .is_some_and(|caller| priority > self.sched.priority(caller))
                {
                    return Err(Error::PriorityInversion);
                }
                Change::Priority(priority)
            }
            Syscall::ThreadDeadline => {
                Change::Deadline(u64::from(args[1]) | (u64::from(args[2]) << 32))
            }
            Syscall::ThreadSuspend if suspended => return Err(Error::AlreadySuspended),
            Syscall::ThreadResume if !suspended => return Err(Error::NotSuspended),
            _ => Change::Suspend(call == Syscall::ThreadSuspend),
        };
        self.sched.change(target, change);
        match change {
            Change::Priority(priority) => {
                self.hw.priority_changed(target, priority);
                // The endpoints it receives on: their least urgent
                // receiver follows.
                for index in 0..self.objects.len() {
                    if let Some(Object::Endpoint(queue)) = self.objects.get(index)
                        && queue.holders & (1 << target) != 0
                    {
                        self.refresh_receiver(index as ObjectId, self.space(target));
                    }
                }
            }
            // The entry's express paths run only a thread whose frame an
            // IPC path saved (KIND_IPC): as a full frame, restored to the
            // same registers, they leave it to Rust, which knows it is
            // suspended.
            Change::Suspend(true) => make_full(&mut self.threads[target].frame),
            _ => {}
        }
        Ok(0)
    }
}

/// Turn a frame an IPC path saved ([`kind::IPC`]: what a call keeps, the
/// caller-saved rest restored as zero, EXPSTATE and LCOUNT included: trap.S
/// `RESUME_IPC`, `RESULTS_FROM`) into the full frame that restores the
/// same registers.
pub fn make_full(frame: &mut TrapFrame) {
    if frame.kind != kind::IPC {
        return;
    }
    frame.a[8..12].fill(0);
    frame.sar = 0;
    frame.lbeg = 0;
    frame.lend = 0;
    frame.lcount = 0;
    frame.litbase = 0;
    frame.scompare1 = 0;
    frame.acclo = 0;
    frame.acchi = 0;
    frame.m = [0; 4];
    frame.expstate = 0;
    frame.kind = kind::FULL;
}

#[cfg(test)]
mod tests {
    use sotto_abi::cap::Rights;
    use sotto_abi::manifest::ObjectParams;
    use sotto_abi::{Error, Syscall};

    use crate::sched::{NO_DEADLINE, ThreadState};
    use crate::testkit::{add, call, grant, kernel, status};
    use crate::trap::kind;

    fn thread(service: u16) -> ObjectParams {
        ObjectParams::Thread {
            service,
            thread: 0,
            id: service,
        }
    }

    #[test]
    fn a_thread_capability_controls_its_thread_and_misuse_has_its_codes() {
        // Objects: threads 1 and 2 (the workers), thread 3 (never added),
        // a semaphore.
        let mut k = kernel(&[
            thread(1),
            thread(2),
            thread(3),
            ObjectParams::Semaphore { initial: 0, max: 1 },
        ]);
        let control = Rights::CONTROL;
        let boss = add(
            &mut k,
            "boss",
            1,
            &[
                grant(0, 0, control),
                grant(1, 1, Rights::GRANT),
                grant(2, 2, control),
                grant(3, 3, Rights::SEND),
            ],
        );
        let a = add(&mut k, "a", 4, &[]);
        let b = add(&mut k, "b", 4, &[]);
        let run = |k: &mut crate::kernel::Kernel<_>, call_: Syscall, args: [u32; 5]| {
            call(k, boss, call_, args)
        };
        // Misuse.
        assert_eq!(
            run(&mut k, Syscall::ThreadSuspend, [3, 0, 0, 0, 0]).0,
            status(Error::WrongKind)
        );
        assert_eq!(
            run(&mut k, Syscall::ThreadSuspend, [1, 0, 0, 0, 0]).0,
            status(Error::MissingRight)
        );
        assert_eq!(
            run(&mut k, Syscall::ThreadSuspend, [2, 0, 0, 0, 0]).0,
            status(Error::ThreadEnded)
        );
        assert_eq!(
            run(&mut k, Syscall::ThreadResume, [0, 0, 0, 0, 0]).0,
            status(Error::NotSuspended)
        );
        assert_eq!(
            run(&mut k, Syscall::ThreadPriority, [0, 3, 0, 0, 0]).0,
            status(Error::AboveCeiling)
        );
        assert_eq!(
            run(&mut k, Syscall::ThreadPriority, [0, 8, 0, 0, 0]).0,
            status(Error::BadArgument)
        );
        // Priority within the ceiling.
        assert_eq!(run(&mut k, Syscall::ThreadPriority, [0, 6, 0, 0, 0]).0, 0);
        assert_eq!(k.sched.priority(a), 6);
        assert_eq!(run(&mut k, Syscall::ThreadPriority, [0, 4, 0, 0, 0]).0, 0);
        // Deadline: 64 bits; u64::MAX clears it.
        assert_eq!(run(&mut k, Syscall::ThreadDeadline, [0, 5, 1, 0, 0]).0, 0);
        assert_eq!(k.sched.deadline(a), (1 << 32) | 5);
        assert_eq!(
            run(
                &mut k,
                Syscall::ThreadDeadline,
                [0, u32::MAX, u32::MAX, 0, 0]
            )
            .0,
            0
        );
        assert_eq!(k.sched.deadline(a), NO_DEADLINE);
        // Suspend and resume; a suspended thread is never picked.
        k.threads[a].frame.kind = kind::IPC;
        k.threads[a].frame.a[9] = 7;
        k.threads[a].frame.expstate = 7;
        assert_eq!(run(&mut k, Syscall::ThreadSuspend, [0, 0, 0, 0, 0]).0, 0);
        assert_eq!(
            k.threads[a].frame.kind,
            kind::FULL,
            "no express path runs it"
        );
        assert_eq!(k.threads[a].frame.a[9], 0, "what an IPC frame restores");
        assert_eq!(k.threads[a].frame.expstate, 0, "what an IPC frame restores");
        assert_eq!(
            run(&mut k, Syscall::ThreadSuspend, [0, 0, 0, 0, 0]).0,
            status(Error::AlreadySuspended)
        );
        k.sched.block_current(None);
        assert_eq!(k.sched.schedule(), Some(b));
        k.sched.block_current(None);
        assert_eq!(k.sched.schedule(), None);
        assert_eq!(k.sched.state(a), ThreadState::Ready);
        k.sched.wake(boss);
        assert_eq!(run(&mut k, Syscall::ThreadResume, [0, 0, 0, 0, 0]).0, 0);
        k.sched.block_current(None);
        assert_eq!(k.sched.schedule(), Some(a));
        // CPU time: two words.
        k.sched.count_from(0);
        k.sched.account(u32::MAX);
        k.sched.account(1);
        k.sched.block_current(None);
        k.sched.wake(boss);
        let (status_, values) = run(&mut k, Syscall::ThreadCpuTime, [0, 0, 0, 0, 0]);
        assert_eq!(
            (status_, values[0], values[1]),
            (0, 1, 1),
            "2^32 + 1 cycles"
        );
        // An ended thread: its CPU time stays readable.
        k.end_service(a, crate::kernel::Ending::Exited(0));
        assert_eq!(
            run(&mut k, Syscall::ThreadResume, [0, 0, 0, 0, 0]).0,
            status(Error::ThreadEnded)
        );
        assert_eq!(run(&mut k, Syscall::ThreadCpuTime, [0, 0, 0, 0, 0]).1[1], 1);
    }

    /// `ThreadPriority` keeps the entry's urgency word as a thread of the
    /// new priority gets it at boot.
    #[test]
    fn a_priority_change_keeps_the_entrys_urgency_word() {
        use crate::fastpath::{SPACE_WORDS, ThreadEntry};
        for from in 0..=8 {
            for to in 0..=8 {
                let mut entry = ThreadEntry::new(0, 0, [0; SPACE_WORDS], from);
                entry.set_priority(to);
                let fresh = ThreadEntry::new(0, 0, [0; SPACE_WORDS], to);
                assert_eq!(entry.urgent, fresh.urgent, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_priority_change_moves_the_endpoints_least_urgent_receiver() {
        let mut k = kernel(&[thread(1), ObjectParams::Endpoint]);
        let boss = add(
            &mut k,
            "boss",
            1,
            &[grant(0, 0, Rights::CONTROL), grant(1, 1, Rights::SEND)],
        );
        let server = add(&mut k, "server", 2, &[grant(0, 1, Rights::RECEIVE)]);
        let lowered = [0, 5, 0, 0, 0];
        assert_eq!(call(&mut k, boss, Syscall::ThreadPriority, lowered).0, 0);
        assert_eq!(k.sched.priority(server), 5);
        assert_eq!(
            call(&mut k, boss, Syscall::Call, [1, 0, 0, 0, 0]).0,
            status(Error::PriorityInversion),
            "a call may not run uphill to the lowered server"
        );
    }
}

/// Probes of suspension against the IPC paths and the end of a service.
#[cfg(test)]
mod suspension {
    use sotto_abi::cap::Rights;
    use sotto_abi::manifest::ObjectParams;
    use sotto_abi::{Error, Syscall};

    use crate::fastpath::Light;
    use crate::kernel::Ending;
    use crate::sched::ThreadState;
    use crate::testkit::{add, add_thread, blocked, call, grant, kernel, status};
    use crate::trap::kind;

    fn thread(id: u16) -> ObjectParams {
        ObjectParams::Thread {
            service: id,
            thread: 0,
            id,
        }
    }

    /// Whether `thread` can be picked by any means before it is resumed.
    fn never_picked(k: &mut crate::kernel::Kernel<crate::testkit::TestHw>, thread: usize) {
        for _ in 0..4 {
            assert_ne!(k.sched.schedule(), Some(thread), "suspended {thread} runs");
            k.sched.yield_current();
        }
        assert_ne!(k.sched.schedule(), Some(thread));
    }

    #[test]
    fn a_suspended_receiver_is_delivered_to_but_no_ipc_path_runs_it() {
        // Objects: server's thread (0), the endpoint (1).
        let mut k = kernel(&[thread(0), ObjectParams::Endpoint]);
        let server = add(&mut k, "server", 2, &[grant(1, 1, Rights::RECEIVE)]);
        let client = add(
            &mut k,
            "client",
            2,
            &[grant(0, 0, Rights::CONTROL), grant(1, 1, Rights::SEND)],
        );
        call(&mut k, server, Syscall::Recv, [1, 0, 0, 0, 0]);
        assert!(blocked(&k, server));
        // Parked as the entry's express `ReplyRecv` parks it.
        k.threads[server].frame.kind = kind::IPC;
        assert_eq!(call(&mut k, client, Syscall::ThreadSuspend, [0; 5]).0, 0);
        let plain = [1, 0, 7, 0, 0, 0];
        assert!(!k.express(Syscall::Call as u32, plain), "express call");
        assert!(
            !matches!(
                k.light_syscall(Syscall::Call as u32, plain),
                Light::Handoff(_)
            ),
            "light call"
        );
        // The full path delivers; the server stays off the CPU.
        k.threads[client].frame.kind = kind::FULL;
        call(&mut k, client, Syscall::Call, [1, 0, 7, 0, 0]);
        assert!(blocked(&k, client));
        assert_eq!(k.sched.state(server), ThreadState::Ready);
        never_picked(&mut k, server);
        // Resumed (by a thread of the client's service): it runs.
        let helper = add_thread(&mut k, client, "helper", 3);
        assert_eq!(call(&mut k, helper, Syscall::ThreadResume, [0; 5]).0, 0);
        k.sched.block_current(None);
        assert_eq!(k.sched.schedule(), Some(server));
        assert_eq!(k.threads[server].frame.a[2], 0);
    }

    #[test]
    fn a_suspended_caller_gets_its_reply_but_runs_only_when_resumed() {
        // Objects: client's thread (1), the endpoint (1).
        let mut k = kernel(&[thread(1), ObjectParams::Endpoint]);
        let server = add(
            &mut k,
            "server",
            2,
            &[grant(0, 0, Rights::CONTROL), grant(1, 1, Rights::RECEIVE)],
        );
        let client = add(&mut k, "client", 2, &[grant(1, 1, Rights::SEND)]);
        call(&mut k, server, Syscall::Recv, [1, 0, 0, 0, 0]);
        call(&mut k, client, Syscall::Call, [1, 0, 0, 0, 0]);
        k.threads[client].frame.kind = kind::IPC;
        assert_eq!(k.sched.schedule(), Some(server));
        assert_eq!(call(&mut k, server, Syscall::ThreadSuspend, [0; 5]).0, 0);
        let reply = [1, 0, 5, 0, 0, 0];
        assert!(
            !k.express(Syscall::ReplyRecv as u32, reply),
            "express reply"
        );
        assert!(
            !matches!(
                k.light_syscall(Syscall::ReplyRecv as u32, reply),
                Light::Handoff(_)
            ),
            "light reply"
        );
        call(&mut k, server, Syscall::ReplyRecv, [1, 0, 5, 0, 0]);
        assert!(blocked(&k, server));
        assert!(!blocked(&k, client), "the reply is delivered");
        never_picked(&mut k, client);
    }

    #[test]
    fn a_thread_suspends_itself_and_its_service_ends_with_a_reply_owed() {
        // Objects: the server's thread (0), the endpoint (1).
        let mut k = kernel(&[thread(0), ObjectParams::Endpoint]);
        let server = add(
            &mut k,
            "server",
            2,
            &[grant(0, 0, Rights::CONTROL), grant(1, 1, Rights::RECEIVE)],
        );
        let client = add(&mut k, "client", 2, &[grant(1, 1, Rights::SEND)]);
        let other = add(&mut k, "other", 3, &[]);
        let helper = add_thread(&mut k, server, "helper", 2);
        call(&mut k, server, Syscall::Recv, [1, 0, 0, 0, 0]);
        call(&mut k, client, Syscall::Call, [1, 0, 0, 0, 0]);
        // The server suspends itself, owing the reply.
        assert_eq!(call(&mut k, server, Syscall::ThreadSuspend, [0; 5]).0, 0);
        assert_eq!(k.sched.current(), None, "off the CPU at once");
        never_picked(&mut k, server);
        // Its helper faults: the whole service ends, the caller learns it.
        assert!(k.sched.switch_to(helper));
        k.end_service(helper, Ending::Faulted);
        for thread in [server, helper] {
            assert_eq!(k.sched.state(thread), ThreadState::Ended);
        }
        assert_eq!(k.threads[client].frame.a[2], status(Error::PeerGone));
        assert!(!blocked(&k, client));
        assert_ne!(k.sched.state(other), ThreadState::Ended);
        assert_eq!(
            call(&mut k, other, Syscall::Null, [0; 5]).0,
            0,
            "others run on"
        );
    }

    #[test]
    fn a_priority_change_never_makes_a_call_in_flight_run_uphill() {
        // Objects: the server's thread (0), the client's (1), the endpoint.
        let mut k = kernel(&[thread(0), thread(1), ObjectParams::Endpoint]);
        let server = add(&mut k, "server", 2, &[grant(2, 2, Rights::RECEIVE)]);
        let client = add(&mut k, "client", 4, &[grant(2, 2, Rights::SEND)]);
        let boss = add(
            &mut k,
            "boss",
            1,
            &[grant(0, 0, Rights::CONTROL), grant(1, 1, Rights::CONTROL)],
        );
        k.sched.set_ceiling(client, 0);
        call(&mut k, server, Syscall::Recv, [2, 0, 0, 0, 0]);
        call(&mut k, client, Syscall::Call, [2, 0, 0, 0, 0]);
        assert_eq!(k.threads[server].reply_to(), Some(client));
        let inversion = status(Error::PriorityInversion);
        // The server owes a reply to a priority-4 caller: not below it.
        assert_eq!(
            call(&mut k, boss, Syscall::ThreadPriority, [0, 5, 0, 0, 0]).0,
            inversion
        );
        assert_eq!(
            call(&mut k, boss, Syscall::ThreadPriority, [0, 4, 0, 0, 0]).0,
            0
        );
        // The caller waits for a priority-4 server: not above it.
        assert_eq!(
            call(&mut k, boss, Syscall::ThreadPriority, [1, 3, 0, 0, 0]).0,
            inversion
        );
        assert_eq!(
            call(&mut k, boss, Syscall::ThreadPriority, [1, 6, 0, 0, 0]).0,
            0
        );
        assert_eq!((k.sched.priority(server), k.sched.priority(client)), (4, 6));
        // Once replied, both are free again.
        call(&mut k, server, Syscall::Reply, [0, 0, 0, 0, 0]);
        assert_eq!(
            call(&mut k, boss, Syscall::ThreadPriority, [0, 7, 0, 0, 0]).0,
            0
        );
        assert_eq!(
            call(&mut k, boss, Syscall::ThreadPriority, [1, 0, 0, 0, 0]).0,
            0
        );
    }
}
