//! Supervision: a fault of a supervised service stops it and queues a
//! message for its supervisor (no scanning: a bit per faulted service,
//! and a signal on the supervisor's faults notification); service
//! capabilities restart, stop and query a service.
//!
//! All of it but the note of a fault ([`Kernel::note_fault`]) and the
//! dispatch of its calls is cold code: on the target it is linked with
//! the exit code, outside the resident text, and the kernel binary maps
//! it only while it runs (`sotto_exit_gate`). A fault or a supervision
//! call leaves an [`Action`]; the binary carries it out before any thread
//! runs again ([`Kernel::take_action`]), so a restart is atomic for every
//! service.
//!
//! What a restart puts back, and what it leaves: every thread at its
//! entry (registers as at boot, stacks zeroed), read-write segments as
//! the image has them (data copied, bss zeroed; code and read-only data
//! are mapped read-only to the service and cannot have changed), the IPC
//! buffer zeroed, the capability space back to the manifest's grants (the
//! grants' mappings with them, every mapping made since gone; what the
//! old instance derived for others revoked), the timers
//! it controls disarmed (one the manifest arms at boot armed again from
//! now), the memory objects the manifest lets it write put back as the
//! image has them unless declared `keep = true`. Threads waiting for its
//! replies fail with [`Error::PeerRestarted`], as does a thread receiving
//! on an endpoint no other service can call any more; callers queued on
//! its endpoints stay queued, for the new instance.

use sotto_abi::Error;
use sotto_abi::cap::{CAP_SLOTS, ObjectKind, Rights};
use sotto_abi::layout::{PAGE_SIZE, USER_STACK_TOP};
use sotto_abi::manifest::{MAX_SERVICES, ObjectParams, SegmentKind, Service as ServiceDesc};
use sotto_abi::supervise::{
    FAULT_BIT, FaultKind, FaultMessage, ServiceState, ServiceStatus, Supervision,
};

use crate::cap::{CapRef, CapSpaces, ObjectId};
use crate::fastpath::FastSlot;
use crate::kernel::{Ending, Hardware, Kernel, NO_THREAD, Object, Outcome, Regs, Wait};
use crate::sched::{MAX_THREADS, ThreadId};
use crate::trap::TrapFrame;

/// A service's supervision state (`Kernel::supervision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supervised {
    /// Its policy, from the manifest.
    pub policy: Supervision,
    /// Where it is in its life.
    pub state: ServiceState,
    /// Times it was restarted.
    pub restarts: u16,
    /// The tick it (re)started at.
    pub started: u64,
    /// Bit `n`: service `n`, which this one supervises.
    pub supervises: u16,
    /// Bit `n`: a fault message of service `n` waits for this supervisor.
    pub pending: u16,
    /// Its last fault.
    pub fault: FaultMessage,
    /// The cycle counter at its last fault.
    pub fault_cycles: u32,
}

impl Supervised {
    /// A service as it boots: running, unsupervised.
    pub const NEW: Supervised = Supervised {
        policy: Supervision {
            supervisor: None,
            restart: sotto_abi::supervise::Restart::Always,
            min_run_ticks: 0,
            max_restarts: 0,
            window_ticks: 0,
            faults: None,
        },
        state: ServiceState::Running,
        restarts: 0,
        started: 0,
        supervises: 0,
        pending: 0,
        fault: FaultMessage {
            service: 0,
            thread: 0,
            kind: FaultKind::Exception,
            cause: 0,
            pc: 0,
            address: 0,
            tick: 0,
        },
        fault_cycles: 0,
    };
}

/// A set of objects (at most `MAX_OBJECTS`), a bit each: what a restart
/// collects without a growable list's code.
#[derive(Clone, Copy)]
struct ObjectSet([u32; 4]);

const _: () = assert!(sotto_abi::manifest::MAX_OBJECTS <= 128);

impl ObjectSet {
    const EMPTY: ObjectSet = ObjectSet([0; 4]);

    #[inline(always)]
    fn insert(&mut self, object: ObjectId) {
        let object = usize::from(object) % 128;
        self.0[object / 32] |= 1 << (object % 32);
    }

    /// Its objects, in order.
    #[inline(always)]
    fn objects(self) -> impl Iterator<Item = ObjectId> {
        (0..128u16)
            .filter(move |&object| self.0[usize::from(object) / 32] & (1 << (object % 32)) != 0)
    }
}

/// What the kernel binary has to do before a thread runs again (in the
/// cold code, through the gate that maps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// This thread faulted ([`Kernel::note_fault`]): stop its service and
    /// tell its supervisor ([`Kernel::route_fault`]).
    Fault(ThreadId),
    /// This thread made a supervision call ([`Kernel::supervise_call`]).
    Call(ThreadId),
    /// A supervisor faulted: stop the system.
    SupervisorFaulted,
    /// Inject the faults the boot configuration has due now (the kernel
    /// binary's: `cargo xtask run --fault`).
    Inject,
}

/// Where a fault went ([`Kernel::fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultRoute {
    /// Its supervisor was told; the service waits, stopped.
    Supervised,
    /// No supervisor (or one that ended): stopped for good.
    Unsupervised,
    /// It supervises others: the system stops ([`Action::SupervisorFaulted`]).
    SupervisorFaulted,
}

impl<H: Hardware> Kernel<H> {
    /// Record service `space`'s supervision (at boot, once every service
    /// is added).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.supervise_set")
    )]
    pub fn set_supervision(&mut self, space: usize, policy: Supervision) {
        if space >= MAX_SERVICES {
            return;
        }
        self.supervision[space].policy = policy;
        if let Some(supervisor) = policy.supervisor
            && let Some(entry) = self.supervision.get_mut(usize::from(supervisor))
        {
            entry.supervises |= 1 << space;
        }
    }

    /// `thread` faulted (an exception, a panic, a fault the host
    /// injected; the caller says so in a line): note what happened, for
    /// [`Kernel::route_fault`] to act on before anything runs again.
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub fn note_fault(
        &mut self,
        thread: ThreadId,
        kind: FaultKind,
        cause: u32,
        pc: u32,
        address: u32,
    ) {
        let space = self.space(thread);
        self.supervision[space].fault = FaultMessage {
            service: space as u8,
            thread: self.threads[thread].index as u8,
            kind,
            cause,
            pc,
            address,
            // (`route_fault`'s: no time passes in between.)
            tick: 0,
        };
        self.supervision[space].fault_cycles = self.hw.cycles();
        self.action = Action::Fault(thread);
    }

    /// After [`Kernel::note_fault`]: stop `thread`'s service and tell its
    /// supervisor, or stop it for good if it has none, or stop the system
    /// if it supervises others.
    #[inline(never)]
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_route_fault")
    )]
    pub fn route_fault(&mut self, thread: ThreadId) -> FaultRoute {
        let space = self.space(thread);
        self.supervision[space].fault.tick = self.now() as u32;
        let kind = self.supervision[space].fault.kind;
        let entry = &self.supervision[space];
        if entry.supervises != 0 {
            self.action = Action::SupervisorFaulted;
            self.end_service(thread, Ending::Faulted);
            self.supervision[space].state = ServiceState::Stopped;
            return FaultRoute::SupervisorFaulted;
        }
        let supervisor = entry
            .policy
            .supervisor
            .map(usize::from)
            .filter(|&supervisor| {
                supervisor < self.services.len() && self.services[supervisor].ending.is_none()
            });
        let Some(supervisor) = supervisor else {
            let ending = match kind {
                FaultKind::Panic => Ending::Panicked,
                _ => Ending::Faulted,
            };
            self.end_service(thread, ending);
            self.supervision[space].state = ServiceState::Stopped;
            return FaultRoute::Unsupervised;
        };
        // Paused, not ended: it keeps what it holds, and its endpoints
        // their receivers (callers queue for the new instance).
        self.stop_threads(space);
        self.supervision[space].state = ServiceState::Faulted;
        self.supervision[supervisor].pending |= 1 << space;
        if let Some(faults) = self.supervision[supervisor].policy.faults {
            self.signal(faults, FAULT_BIT);
        }
        FaultRoute::Supervised
    }

    /// Take every thread of service `space` off the CPU and out of every
    /// queue, keeping what it owes (replies: its callers wait for the
    /// restart or the stop) and what it holds (capabilities, mappings).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_stop_threads")
    )]
    fn stop_threads(&mut self, space: usize) {
        let mut threads = self.threads_of(space);
        while threads != 0 {
            let thread = threads.trailing_zeros() as usize;
            threads &= threads - 1;
            self.sched.end(thread);
            self.leave_wait(thread);
        }
    }

    /// A supervision call of `thread` (`FaultTake`, and `ServiceQuery`,
    /// `ServiceStop`, `ServiceRestart` through a service capability), its
    /// number and slot in its frame: its result goes there. Returns the
    /// service to restart (`restart` is the caller's: it needs the
    /// manifest and the image), if any; the caller's result is then
    /// success whatever the restart says (it cannot refuse what the
    /// checks here let through but a broken manifest).
    #[inline(never)]
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_call")
    )]
    pub fn supervise_call(&mut self, thread: ThreadId) -> Option<usize> {
        let frame = &self.threads[thread].frame;
        let (number, slot) = (frame.a[2], frame.a[3]);
        let (result, restart) = self.supervision_result(thread, number, slot);
        self.set_result(thread, result);
        restart
    }

    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_result")
    )]
    fn supervision_result(
        &mut self,
        thread: ThreadId,
        number: u32,
        slot: u32,
    ) -> (Result<Regs, Error>, Option<usize>) {
        use sotto_abi::Syscall;
        let own = self.space(thread);
        if number == Syscall::FaultTake as u32 {
            let pending = self.supervision[own].pending;
            if pending == 0 {
                return (Err(Error::WouldBlock), None);
            }
            let faulted = pending.trailing_zeros() as usize;
            self.supervision[own].pending &= !(1 << faulted);
            return (
                Ok(self.supervision[faulted % MAX_SERVICES].fault.to_words()),
                None,
            );
        }
        let target = match self.cap_cold(thread, slot, ObjectKind::Service, Rights::CONTROL) {
            Ok(cap) => match self.objects.get(cap.object as usize) {
                Some(Object::Service(index)) if usize::from(*index) < self.services.len() => {
                    usize::from(*index)
                }
                _ => return (Err(Error::BadArgument), None),
            },
            Err(error) => return (Err(error), None),
        };
        if number == Syscall::ServiceQuery as u32 {
            (Ok(self.status(target)), None)
        } else if target == own {
            (Err(Error::BadArgument), None)
        } else if number == Syscall::ServiceStop as u32 {
            (self.stop_service(target).map(|()| [0; 5]), None)
        } else {
            (Ok([0; 5]), Some(target))
        }
    }

    /// Service `space`'s status words.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_status")
    )]
    fn status(&mut self, space: usize) -> Regs {
        let now = self.now();
        let entry = &self.supervision[space];
        let run_ticks = match entry.state {
            ServiceState::Running => now.saturating_sub(entry.started) as u32,
            _ => 0,
        };
        ServiceStatus {
            service: space as u8,
            state: entry.state,
            restarts: entry.restarts,
            supervision: Supervision {
                faults: None,
                ..entry.policy
            },
            run_ticks,
        }
        .to_words()
    }

    /// Stop service `space` for good (its supervisor's `ServiceStop`): as
    /// a fault without a supervisor ends it; a stopped one stays so.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_stop_service")
    )]
    fn stop_service(&mut self, space: usize) -> Result<(), Error> {
        match self.supervision[space].state {
            ServiceState::Stopped => return Ok(()),
            ServiceState::Exited => return Err(Error::BadState),
            ServiceState::Running | ServiceState::Faulted => {}
        }
        let ending = self.services[space].ending.unwrap_or(Ending::Faulted);
        self.end_service(space, ending);
        self.supervision[space].state = ServiceState::Stopped;
        if let Some(supervisor) = self.supervision[space].policy.supervisor {
            self.supervision[usize::from(supervisor) % MAX_SERVICES].pending &= !(1 << space);
        }
        Ok(())
    }

    /// Whether the kernel binary has something to do
    /// ([`Kernel::take_action`]).
    #[inline]
    pub fn action_pending(&self) -> bool {
        !matches!(self.action, Action::None)
    }

    /// What the kernel binary has to do now (taken: it is done once).
    #[inline]
    pub fn take_action(&mut self) -> Action {
        core::mem::replace(&mut self.action, Action::None)
    }

    /// Ask the kernel binary for `action` again (it took it to decide
    /// where to carry it out).
    #[inline]
    pub fn put_action(&mut self, action: Action) {
        self.action = action;
    }

    /// A supervision call: done in the cold code ([`Action::Call`]).
    #[inline(never)]
    #[cfg_attr(target_arch = "xtensa", optimize(size))]
    pub(crate) fn supervision_call(&mut self, thread: ThreadId) -> Outcome {
        self.action = Action::Call(thread);
        // (Its result is written by `supervise_call`, before it runs.)
        Outcome::Blocked
    }

    /// Service `space` exited (its `Exit`): a restart may bring it back.
    pub(crate) fn note_exit(&mut self, space: usize) {
        self.supervision[space % MAX_SERVICES].state = ServiceState::Exited;
    }

    /// Restart service `space` as `desc` (its manifest entry) describes
    /// it, its initial bytes in `blob` (the image's service section),
    /// `params` giving the manifest's declaration of an object (memory:
    /// `keep`, initial contents; timers: armed at boot). See the module
    /// documentation for what comes back. Cold code (linked with the exit
    /// code on the target: the kernel binary maps it to run it).
    #[inline(never)]
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_restart")
    )]
    pub fn restart(
        &mut self,
        space: usize,
        desc: &ServiceDesc,
        blob: &[u8],
        params: &dyn Fn(u16) -> Option<ObjectParams>,
    ) -> Result<(), Error> {
        if space >= self.services.len() {
            return Err(Error::BadArgument);
        }
        let stacks = crate::addrspace::stacks(desc).map_err(|_| Error::BadArgument)?;
        if self.supervision[space].state == ServiceState::Running {
            self.stop_threads(space);
        }
        // Its callers in flight fail; what it waited on is gone already.
        let mut threads = self.threads_of(space);
        while threads != 0 {
            let thread = threads.trailing_zeros() as usize;
            threads &= threads - 1;
            if let Some(caller) = self.threads[thread].take_reply_to()
                && matches!(self.threads[caller].wait, Wait::Reply(server) if usize::from(server) == thread)
            {
                self.wake_with(caller, Err(Error::PeerRestarted));
            }
        }
        // What it held: the endpoints it could call or receive on, the
        // timers it controlled.
        let (mut sent, mut received, mut timers) =
            (ObjectSet::EMPTY, ObjectSet::EMPTY, ObjectSet::EMPTY);
        for slot in 0..CAP_SLOTS as u8 {
            let Ok(cap) = self.caps.get(CapRef {
                space: space as u8,
                slot,
            }) else {
                continue;
            };
            for (kind, right, set) in [
                (ObjectKind::Endpoint, Rights::RECEIVE, &mut received),
                (ObjectKind::Endpoint, Rights::SEND, &mut sent),
                (ObjectKind::Timer, Rights::CONTROL, &mut timers),
            ] {
                if cap.kind == kind && cap.rights.contains(right) {
                    set.insert(cap.object);
                }
            }
        }
        // What the old instance gave others goes (the new one gave
        // nothing): a loan is withdrawn, a copy of its endpoint another
        // service calls it through fails at once (`EmptySlot`) instead of
        // waiting for an instance that does not know the caller yet.
        for slot in 0..CAP_SLOTS as u32 {
            let _ = self.cap_revoke(space, slot);
        }
        self.caps.clear_space(space as u8);
        if let Some(row) = self.fast_caps.get_mut(space) {
            row.fill(FastSlot::ZERO);
        }
        for endpoint in received.objects() {
            self.refresh_receiver(endpoint, space);
        }
        while let Some(region) = self.services[space].regions.last().copied() {
            let _ = self.unmap_region(space, region.object);
        }
        let now = self.now();
        for timer in timers.objects() {
            self.reset_timer(timer, now, params(timer));
        }
        self.restore_memory(space, desc, blob, &stacks, params);
        // The new instance: its threads first (the receivers' summaries
        // its grants update follow their priorities).
        let mut threads = self.threads_of(space);
        while threads != 0 {
            let thread = threads.trailing_zeros() as usize;
            threads &= threads - 1;
            let index = usize::from(self.threads[thread].index);
            let (entry, arg, priority, ceiling) = match index.checked_sub(1) {
                None => (desc.entry, desc.arg, desc.priority, desc.priority),
                Some(further) => match desc.threads.get(further) {
                    Some(t) => (t.entry, t.arg, t.priority, t.max_priority.min(t.priority)),
                    None => return Err(Error::BadArgument),
                },
            };
            let top = stacks.get(index).map_or(USER_STACK_TOP, |range| range.1);
            let record = &mut self.threads[thread];
            record.frame = TrapFrame::entry(entry, top, arg);
            record.wait = Wait::None;
            record.reply = NO_THREAD;
            self.sched.revive(thread, priority, ceiling);
            self.hw.priority_changed(thread, priority);
        }
        self.services[space].ending = None;
        self.install_grants(space, &desc.caps)?;
        self.refresh_clock(space);
        let entry = &mut self.supervision[space];
        entry.state = ServiceState::Running;
        entry.restarts = entry.restarts.saturating_add(1);
        entry.started = now;
        if let Some(supervisor) = entry.policy.supervisor {
            self.supervision[usize::from(supervisor) % MAX_SERVICES].pending &= !(1 << space);
        }
        // Callers no one can answer any more fail (it may no longer
        // receive where a capability it was given at run time let it);
        // receivers only it could have called fail.
        for endpoint in received.objects() {
            self.fail_orphaned_callers(endpoint);
        }
        for endpoint in sent.objects() {
            self.fail_uncallable_receivers(endpoint, space);
        }
        self.hw.flush_tlb();
        Ok(())
    }

    /// A timer service `space` controlled: disarmed, and armed again from
    /// `now` if the manifest arms it at boot.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_reset_timer")
    )]
    fn reset_timer(&mut self, timer: ObjectId, now: u64, declared: Option<ObjectParams>) {
        let Some(Object::Timer(state)) = self.objects.get_mut(timer as usize) else {
            return;
        };
        state.cancel();
        if let Some(ObjectParams::Timer {
            start: Some((phase, period)),
            ..
        }) = declared
        {
            state.arm(now, u64::from(phase), u64::from(period));
        }
        let deadline = state.deadline();
        self.timers.remove(timer as usize);
        if let Some(deadline) = deadline {
            self.timers.insert(timer as usize, deadline);
        }
        self.note_timers_changed();
    }

    /// Put service `space`'s memory back as the image has it: read-write
    /// segments, stacks, IPC buffer, and the memory objects its grants let
    /// it write that are not kept.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_restore_memory")
    )]
    fn restore_memory(
        &mut self,
        space: usize,
        desc: &ServiceDesc,
        blob: &[u8],
        stacks: &[(u32, u32)],
        params: &dyn Fn(u16) -> Option<ObjectParams>,
    ) {
        for segment in &desc.segments {
            if segment.kind != SegmentKind::ReadWrite {
                continue;
            }
            let start = segment.offset as usize;
            let bytes = blob
                .get(start..start.saturating_add(segment.file_size as usize))
                .unwrap_or(&[]);
            self.restore_pages(space, segment.vaddr, segment.mem_size, bytes);
        }
        for &(bottom, top) in stacks {
            self.restore_pages(space, bottom, top - bottom, &[]);
        }
        let ipc = self.services[space].ipc_buffer;
        if ipc != 0 {
            self.hw.phys(ipc, PAGE_SIZE).fill(0);
        }
        for grant in &desc.caps {
            if !grant.rights.contains(Rights::WRITE) {
                continue;
            }
            let Some(ObjectParams::Memory {
                keep: false, init, ..
            }) = params(grant.object)
            else {
                continue;
            };
            let Some(Object::Memory { pa, size, .. }) = self.objects.get(grant.object as usize)
            else {
                continue;
            };
            let (pa, size) = (*pa, *size);
            let memory = self.hw.phys(pa, size);
            memory.fill(0);
            if let Some((offset, len)) = init
                && let Some(bytes) = blob.get(offset as usize..offset.saturating_add(len) as usize)
                && bytes.len() <= memory.len()
            {
                memory[..bytes.len()].copy_from_slice(bytes);
            }
        }
    }

    /// Zero the pages of `len` bytes at `va` in service `space` and copy
    /// `bytes` to their start (through its page tables: a page it does not
    /// map is skipped).
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_restore_pages")
    )]
    fn restore_pages(&mut self, space: usize, va: u32, len: u32, bytes: &[u8]) {
        let mut done = 0;
        while done < len {
            if let Some(pte) = self.services[space].translate(va + done) {
                let page = self.hw.phys(pte.pa(), PAGE_SIZE);
                page.fill(0);
                let from = (done as usize).min(bytes.len());
                let part = &bytes[from..(from + PAGE_SIZE as usize).min(bytes.len())];
                page[..part.len()].copy_from_slice(part);
            }
            done += PAGE_SIZE;
        }
    }

    /// Wake with [`Error::PeerRestarted`] the threads receiving on
    /// `endpoint` that no other service can call any more.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_exit.supervise_fail_uncallable")
    )]
    fn fail_uncallable_receivers(&mut self, endpoint: ObjectId, restarted: usize) {
        let Some(Object::Endpoint(queue)) = self.objects.get(endpoint as usize) else {
            return;
        };
        // (A receiver waiting for a call or a signal waits in the receiver
        // queue too.)
        let mut receivers = 0u32;
        for receiver in queue.receivers.iter() {
            receivers |= 1 << (usize::from(*receiver) % MAX_THREADS);
        }
        // The services that may call it.
        let mut callers = 0u32;
        for other in 0..self.services.len() {
            for slot in 0..CAP_SLOTS as u8 {
                if let Ok(cap) = self.caps.get(CapRef {
                    space: other as u8,
                    slot,
                }) && cap.kind == ObjectKind::Endpoint
                    && cap.object == endpoint
                    && cap.rights.contains(Rights::SEND)
                    && self.services[other].ending.is_none()
                {
                    callers |= 1 << other;
                }
            }
        }
        let waiting = receivers != 0;
        while receivers != 0 {
            let receiver = receivers.trailing_zeros() as usize;
            receivers &= receivers - 1;
            if callers & !(1 << self.space(receiver)) == 0 {
                self.leave_wait(receiver);
                self.wake_with(receiver, Err(Error::PeerRestarted));
            }
        }
        // Nobody waiting yet: the first to wait learns it then, if no
        // service but its own can call it (`Endpoint::notice`) — not the
        // restarted service's own endpoints: its new instance has not
        // handed out copies yet, and waits for no one it knew.
        if let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize)
            && !waiting
            && queue.holders != 0
            && u32::from(queue.holders) & self.services[restarted].thread_mask as u32 == 0
        {
            let mut holders = u32::from(queue.holders);
            let mut uncallable = true;
            while holders != 0 {
                let holder = holders.trailing_zeros() as usize;
                holders &= holders - 1;
                let space = usize::from(self.threads[holder].service) % MAX_SERVICES;
                uncallable &= callers & !(1 << space) == 0;
            }
            if let Some(Object::Endpoint(queue)) = self.objects.get_mut(endpoint as usize) {
                queue.notice = u8::from(uncallable);
            }
        }
    }

    /// Install `grants` in service `space`'s empty table (regions with an
    /// address are mapped there), as at boot.
    #[cfg_attr(
        target_arch = "xtensa",
        unsafe(link_section = ".text.sotto_boot.supervise_install_grants")
    )]
    pub(crate) fn install_grants(
        &mut self,
        space: usize,
        grants: &[sotto_abi::manifest::CapGrant],
    ) -> Result<(), Error> {
        for grant in grants {
            let kind = self
                .objects
                .checked(grant.object as usize)
                .ok_or(Error::BadArgument)?
                .kind();
            let at = CapSpaces::<MAX_SERVICES>::slot_ref(space as u8, u32::from(grant.slot))?;
            self.caps.install(
                at,
                crate::cap::Cap::original(grant.object, kind, grant.rights, grant.badge),
            )?;
            if let Some(va) = grant.map_at {
                let rights = grant.rights & (Rights::READ | Rights::WRITE);
                self.mem_map(space, u32::from(grant.slot), va, rights.bits())?;
            }
            self.after_install(at);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sotto_abi::Error;
    use sotto_abi::Syscall;
    use sotto_abi::cap::Rights;
    use sotto_abi::layout::{PAGE_SIZE, USER_TEXT_BASE};
    use sotto_abi::manifest::{
        Cache, CapGrant, ObjectParams, Segment, SegmentKind, Service as ServiceDesc, TimerTarget,
    };
    use sotto_abi::supervise::{
        FAULT_BIT, FaultKind, FaultMessage, Restart, ServiceState, ServiceStatus, Supervision,
    };

    use sotto_abi::syscall::MsgInfo;

    use super::Action;
    use crate::kernel::{Hardware, Kernel, Object};
    use crate::testkit::{TestHw, add, blocked, call, data_pa, grant, kernel, status};

    /// What the image holds for every test service: its data page's
    /// initial bytes.
    const BLOB: &[u8] = b"initial data of the service";

    /// Objects: 0 the service's endpoint, 1 the supervisor's faults
    /// notification, 2 a service object for the server (space 1), 3 a
    /// kept memory object, 4 a memory object that is not kept, 5 a timer,
    /// 6 the client's own endpoint, 7 a service object for the
    /// supervisor itself.
    fn objects() -> Vec<ObjectParams> {
        let memory = |keep| ObjectParams::Memory {
            size: PAGE_SIZE,
            cache: Cache::Cached,
            shared: false,
            init: None,
            keep,
        };
        vec![
            ObjectParams::Endpoint,
            ObjectParams::Notification,
            ObjectParams::Service { service: 1 },
            memory(true),
            memory(false),
            ObjectParams::Timer {
                target: TimerTarget::Notify { object: 1, bits: 1 },
                start: None,
            },
            ObjectParams::Endpoint,
            ObjectParams::Service { service: 0 },
        ]
    }

    /// The server's grants (space 1): receive on 0, both memory objects
    /// writable, the timer, a send capability on the client's endpoint.
    fn server_grants() -> Vec<CapGrant> {
        vec![
            grant(0, 0, Rights::RECEIVE),
            grant(1, 3, Rights::READ | Rights::WRITE),
            grant(2, 4, Rights::READ | Rights::WRITE | Rights::GRANT),
            grant(3, 5, Rights::CONTROL),
        ]
    }

    fn server_desc() -> ServiceDesc {
        ServiceDesc {
            name: heapless::String::try_from("server").unwrap(),
            priority: 2,
            entry: USER_TEXT_BASE + 0x40,
            stack_size: PAGE_SIZE,
            arg: 9,
            segments: heapless::Vec::from_slice(&[Segment {
                vaddr: USER_TEXT_BASE,
                mem_size: PAGE_SIZE,
                offset: 0,
                file_size: BLOB.len() as u32,
                kind: SegmentKind::ReadWrite,
            }])
            .unwrap(),
            caps: heapless::Vec::from_slice(&server_grants()).unwrap(),
            threads: heapless::Vec::new(),
            supervision: policy(),
        }
    }

    fn policy() -> Supervision {
        Supervision {
            supervisor: Some(0),
            restart: Restart::Always,
            min_run_ticks: 20,
            max_restarts: 3,
            window_ticks: 1000,
            faults: None,
        }
    }

    /// Supervisor (space 0: the faults notification, control of the
    /// server), server (1), client (2: sends on the server's endpoint,
    /// receives on its own).
    fn system() -> Kernel<TestHw> {
        let mut k = kernel(&objects());
        add(
            &mut k,
            "supervisor",
            0,
            &[
                grant(0, 1, Rights::RECEIVE),
                grant(1, 2, Rights::CONTROL),
                grant(2, 7, Rights::CONTROL),
                grant(3, 2, Rights::empty()),
            ],
        );
        add(&mut k, "server", 2, &server_grants());
        add(
            &mut k,
            "client",
            3,
            &[
                grant(0, 0, Rights::SEND),
                grant(1, 6, Rights::SEND | Rights::RECEIVE | Rights::GRANT),
            ],
        );
        k.set_supervision(
            0,
            Supervision {
                faults: Some(1),
                ..Supervision::default()
            },
        );
        k.set_supervision(1, policy());
        k
    }

    /// Carry out what the kernel asks for, as the kernel binary does.
    fn settle(k: &mut Kernel<TestHw>) {
        let declared = objects();
        let params = |object: u16| declared.get(usize::from(object)).copied();
        loop {
            match k.take_action() {
                Action::None | Action::Inject => return,
                Action::Fault(thread) => {
                    k.route_fault(thread);
                }
                Action::Call(thread) => {
                    if let Some(space) = k.supervise_call(thread) {
                        k.restart(space, &server_desc(), BLOB, &params).unwrap();
                    }
                }
                Action::SupervisorFaulted => {
                    k.put_action(Action::SupervisorFaulted);
                    return;
                }
            }
        }
    }

    /// Run a supervision call and what it asks for.
    fn control(
        k: &mut Kernel<TestHw>,
        thread: usize,
        syscall: Syscall,
        slot: u32,
    ) -> (u32, [u32; 5]) {
        call(k, thread, syscall, [slot, 0, 0, 0, 0]);
        settle(k);
        let a = k.threads[thread].frame.a;
        (a[2], [a[3], a[4], a[5], a[6], a[7]])
    }

    /// The client sends the server a copy of its endpoint's send right
    /// (slot 8 there, as an ll client gives ll-sched its task endpoint)
    /// and gets its reply: no service but the server can call it then.
    fn lend_client_endpoint(k: &mut Kernel<TestHw>) {
        let receive = MsgInfo {
            recv_slot: 8,
            ..MsgInfo::new(0)
        };
        let send = MsgInfo {
            send_cap: 1,
            ..MsgInfo::new(0)
        };
        call(k, 1, Syscall::Recv, [0, receive.encode(), 0, 0, 0]);
        call(k, 2, Syscall::Call, [0, send.encode(), 0, 0, 0]);
        assert!(k.caps.get(crate::cap::CapRef { space: 1, slot: 8 }).is_ok());
        assert_eq!(call(k, 1, Syscall::Reply, [0, 0, 0, 0, 0]).0, 0);
    }

    fn fault(k: &mut Kernel<TestHw>, thread: usize) {
        k.note_fault(thread, FaultKind::Exception, 28, 0x4000_1234, 0);
        settle(k);
    }

    #[test]
    fn a_fault_stops_the_service_and_queues_one_message_for_its_supervisor() {
        let mut k = system();
        // The supervisor waits for faults.
        call(&mut k, 0, Syscall::NotifyWait, [0, 0, 0, 0, 0]);
        assert!(blocked(&k, 0));
        fault(&mut k, 1);
        assert_eq!(k.supervision[1].state, ServiceState::Faulted);
        assert!(!k.sched.is_live(1), "its threads stopped");
        // Woken with the fault bit.
        assert!(!blocked(&k, 0));
        assert_eq!(k.threads[0].frame.a[3], FAULT_BIT);
        let (code, words) = control(&mut k, 0, Syscall::FaultTake, 0);
        assert_eq!(code, 0);
        assert_eq!(
            FaultMessage::from_words(words),
            Some(FaultMessage {
                service: 1,
                thread: 0,
                kind: FaultKind::Exception,
                cause: 28,
                pc: 0x4000_1234,
                address: 0,
                tick: 0,
            })
        );
        assert_eq!(
            control(&mut k, 0, Syscall::FaultTake, 0).0,
            status(Error::WouldBlock),
            "one message per fault"
        );
        let (code, words) = control(&mut k, 0, Syscall::ServiceQuery, 1);
        assert_eq!(code, 0);
        let report = ServiceStatus::from_words(words).unwrap();
        assert_eq!(report.state, ServiceState::Faulted);
        assert_eq!(report.supervision.max_restarts, 3);
        assert_eq!(report.supervision.supervisor, Some(0));
    }

    #[test]
    fn a_call_in_flight_fails_with_peer_restarted_and_the_next_reaches_the_new_instance() {
        let mut k = system();
        // The server receives the client's call and faults before replying.
        call(&mut k, 1, Syscall::Recv, [0, 0, 0, 0, 0]);
        call(&mut k, 2, Syscall::Call, [0, 0, 0, 0, 0]);
        assert!(blocked(&k, 2));
        fault(&mut k, 1);
        assert!(blocked(&k, 2), "the caller waits for the restart");
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert!(!blocked(&k, 2));
        assert_eq!(k.threads[2].frame.a[2], status(Error::PeerRestarted));
        // The new instance starts at its entry with its argument.
        assert_eq!(k.threads[1].frame.pc, USER_TEXT_BASE + 0x40);
        assert_eq!(k.threads[1].frame.a[2], 9);
        assert_eq!(k.supervision[1].state, ServiceState::Running);
        assert_eq!(k.supervision[1].restarts, 1);
        // A call queued while it was down is served by the new instance.
        fault(&mut k, 1);
        call(&mut k, 2, Syscall::Call, [0, 0, 0, 0, 0]);
        assert!(blocked(&k, 2), "queued, not failed");
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert!(blocked(&k, 2));
        call(&mut k, 1, Syscall::Recv, [0, 0, 0, 0, 0]);
        assert_eq!(k.threads[1].frame.a[2], 0, "the new instance received it");
        call(&mut k, 1, Syscall::Reply, [0, 0, 0, 0, 0]);
        assert_eq!(k.threads[2].frame.a[2], 0, "and its reply arrived");
    }

    #[test]
    fn a_restart_puts_memory_capabilities_and_timers_back_but_keeps_kept_objects() {
        let mut k = system();
        let (kept, plain) = match (&k.objects[3], &k.objects[4]) {
            (Object::Memory { pa: a, .. }, Object::Memory { pa: b, .. }) => (*a, *b),
            _ => unreachable!(),
        };
        k.hw.phys(kept, 4).copy_from_slice(b"keep");
        k.hw.phys(plain, 4).copy_from_slice(b"lose");
        k.hw.phys(data_pa(1), 4).copy_from_slice(b"junk");
        // It arms its timer, gives away and deletes capabilities.
        assert_eq!(call(&mut k, 1, Syscall::TimerArm, [3, 5, 5, 0, 0]).0, 0);
        assert!(k.queued_timer(5).is_some());
        assert_eq!(call(&mut k, 1, Syscall::CapDelete, [1, 0, 0, 0, 0]).0, 0);
        assert_eq!(
            call(
                &mut k,
                1,
                Syscall::CapDerive,
                [2, 9, Rights::READ.bits(), 0, 0]
            )
            .0,
            0
        );
        fault(&mut k, 1);
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert_eq!(k.hw.phys(kept, 4), b"keep", "kept across the restart");
        assert_eq!(k.hw.phys(plain, 4), &[0; 4], "put back as the image has it");
        assert_eq!(
            &k.hw.phys(data_pa(1), BLOB.len() as u32)[..],
            BLOB,
            "data back from the image"
        );
        assert!(k.queued_timer(5).is_none(), "its timer disarmed");
        let held: Vec<u8> = k.caps.iter_space(1).map(|(slot, _)| slot).collect();
        assert_eq!(held, vec![0, 1, 2, 3], "exactly the manifest's grants");
    }

    #[test]
    fn a_restart_gives_back_the_priority_and_the_receivers_summary_follows() {
        // (Found by the fuzzer: the summary kept the old priority.)
        let mut k = system();
        k.sched.set_priority(1, 6);
        k.refresh_receiver(0, 1);
        let least = |k: &Kernel<TestHw>| match &k.objects[0] {
            Object::Endpoint(queue) => queue.least_urgent,
            _ => unreachable!(),
        };
        assert_eq!(least(&k), 6);
        fault(&mut k, 1);
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert_eq!(k.sched.priority(1), 2, "the image's priority");
        assert_eq!(least(&k), 2, "and the endpoint's summary with it");
    }

    #[test]
    fn what_the_old_instance_gave_others_is_revoked_by_its_restart() {
        let mut k = system();
        let take = MsgInfo {
            recv_slot: 9,
            ..MsgInfo::new(0)
        };
        let give = MsgInfo {
            send_cap: 2,
            ..MsgInfo::new(0)
        };
        call(&mut k, 1, Syscall::Recv, [0, 0, 0, 0, 0]);
        call(&mut k, 2, Syscall::Call, [0, take.encode(), 0, 0, 0]);
        assert_eq!(
            call(&mut k, 1, Syscall::Reply, [0, give.encode(), 0, 0, 0]).0,
            0
        );
        let loan = crate::cap::CapRef { space: 2, slot: 9 };
        assert!(
            k.caps.get(loan).is_ok(),
            "the client holds the server's loan"
        );
        fault(&mut k, 1);
        assert!(k.caps.get(loan).is_ok(), "a fault alone takes nothing back");
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert!(k.caps.get(loan).is_err(), "the restart withdrew it");
        // The client's own capabilities stay.
        assert!(k.caps.get(crate::cap::CapRef { space: 2, slot: 0 }).is_ok());
    }

    #[test]
    fn a_receiver_only_the_restarted_service_could_call_wakes_with_peer_restarted() {
        let mut k = system();
        lend_client_endpoint(&mut k);
        // Then waits.
        call(&mut k, 2, Syscall::Recv, [1, 0, 0, 0, 0]);
        assert!(blocked(&k, 2));
        fault(&mut k, 1);
        assert!(blocked(&k, 2), "a fault alone changes nothing for it");
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert!(!blocked(&k, 2));
        assert_eq!(k.threads[2].frame.a[2], status(Error::PeerRestarted));
    }

    #[test]
    fn a_receiver_that_comes_after_the_restart_learns_it_once() {
        let mut k = system();
        lend_client_endpoint(&mut k);
        // The client is not receiving yet when the server restarts.
        fault(&mut k, 1);
        assert_eq!(control(&mut k, 0, Syscall::ServiceRestart, 1).0, 0);
        assert_eq!(
            call(&mut k, 2, Syscall::Recv, [1, 0, 0, 0, 0]).0,
            status(Error::PeerRestarted),
            "its first receive learns of the restart"
        );
        call(&mut k, 2, Syscall::Recv, [1, 0, 0, 0, 0]);
        assert!(blocked(&k, 2), "its next one waits");
    }

    #[test]
    fn control_needs_the_right_capability_and_a_supervisor_fault_stops_the_system() {
        let mut k = system();
        assert_eq!(
            control(&mut k, 0, Syscall::ServiceRestart, 3).0,
            status(Error::MissingRight)
        );
        assert_eq!(
            control(&mut k, 0, Syscall::ServiceRestart, 0).0,
            status(Error::WrongKind)
        );
        assert_eq!(
            control(&mut k, 0, Syscall::ServiceRestart, 2).0,
            status(Error::BadArgument),
            "not its own"
        );
        assert_eq!(
            control(&mut k, 2, Syscall::FaultTake, 0).0,
            status(Error::WouldBlock)
        );
        fault(&mut k, 0);
        assert_eq!(k.take_action(), Action::SupervisorFaulted);
    }

    #[test]
    fn stop_fails_callers_in_flight_and_a_fault_without_supervisor_is_final() {
        let mut k = system();
        call(&mut k, 1, Syscall::Recv, [0, 0, 0, 0, 0]);
        call(&mut k, 2, Syscall::Call, [0, 0, 0, 0, 0]);
        fault(&mut k, 1);
        assert_eq!(control(&mut k, 0, Syscall::ServiceStop, 1).0, 0);
        assert_eq!(k.threads[2].frame.a[2], status(Error::PeerGone));
        assert_eq!(k.supervision[1].state, ServiceState::Stopped);
        // The client has no supervisor: its panic ends it for good.
        call(&mut k, 2, Syscall::Panic, [0, 0, 0, 0, 0]);
        settle(&mut k);
        assert_eq!(k.supervision[2].state, ServiceState::Stopped);
        assert!(!k.sched.is_live(2));
    }
}
