//! The `ll` library's record of its client's tasks, so that they survive a
//! restart of `ll-sched` without code in the client.
//!
//! A restarted `ll-sched` starts from nothing (its heap is zeroed, its
//! copies of the clients' endpoints are gone): it knows no client and no
//! task. The library notices on its next exchange — a request in flight
//! fails with the kernel's `PeerRestarted` ([`LlError::Restarted`]), a
//! later one is refused as [`LlError::NotRegistered`], a `receive` on the
//! task endpoint wakes with `PeerRestarted` — and then registers again and
//! replays this book ([`Book::replay`]): each task the client made and has
//! not freed is made again with the same parameters (priority, policy,
//! period, phase), and the ones that were queued are queued again, in the
//! order they were queued (FIFO among equal priorities is kept). Tasks
//! that completed or were cancelled are made again but not queued: their
//! handles keep working, and `schedule` queues them as before.
//!
//! A task's id at the scheduler and its local index (by which `RUN` calls
//! name it) change with the new instance: client code holds a *handle*
//! (the task's place in this book, which never changes), and its id is
//! looked up here ([`Book::id`]). The runs a handler is told about
//! ([`Book::run`]) count on across restarts: a task's runs since it was
//! made, whichever instance called them. The scheduler's own statistics
//! (runs, overruns, cycles, missed runs) start again from zero.
//!
//! The hot path (one `run` per task a `RUN` call names) reads and writes
//! two words by local index, as the library did before it kept a book.

use core::cell::Cell;

use crate::proto::{LlError, MAX_LOCAL, Op, Outcome, Policy, init_words};

/// The id of no task (the handle of a task not made at the current
/// scheduler, or freed).
pub const NO_TASK: u32 = u32::MAX;

/// Not bound to a local index at the current scheduler.
const UNBOUND: u8 = u8::MAX;

/// How a task was made: what making it again takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// LL priority (0 runs first).
    pub priority: u8,
    /// Overrun policy.
    pub policy: Policy,
    /// Period in LL ticks.
    pub period: u16,
    /// Phase within the period.
    pub phase: u16,
}

impl Params {
    /// The words of its `Init` request.
    pub fn init_words(&self) -> [u32; 2] {
        init_words(self.priority, self.policy, self.period, self.phase)
    }
}

/// One task of the client, by handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    params: Params,
    /// A task (made, not freed).
    used: bool,
    /// Queued as far as the client knows: scheduled, and neither
    /// cancelled nor completed since.
    queued: bool,
    /// When it was queued (a stamp that grows): re-queued in this order.
    queued_at: u32,
    /// Its local index at the current scheduler ([`UNBOUND`]: not made
    /// there yet).
    local: u8,
    /// Its runs while unbound (bound, they are kept by local index).
    runs: u32,
}

const FREE: Entry = Entry {
    params: Params {
        priority: 0,
        policy: Policy::Log,
        period: 1,
        phase: 0,
    },
    used: false,
    queued: false,
    queued_at: 0,
    local: UNBOUND,
    runs: 0,
};

/// The way to the scheduler. A transport error is
/// [`LlError::Unreachable`], a scheduler restarted under the request
/// [`LlError::Restarted`].
pub trait Transport {
    /// Send `op` with `words`: the reply words (word 0 the status,
    /// already checked).
    fn request(&self, op: Op, words: [u32; 2]) -> Result<[u32; 3], LlError>;

    /// Register this client (again) with the scheduler.
    fn register(&self) -> Result<(), LlError>;

    /// Registered again after the scheduler forgot this client, and
    /// `replayed` (to say so).
    fn reconnected(&self, replayed: &Replayed) {
        let _ = replayed;
    }
}

/// Registrations tried in a row before giving up (each one cut short by
/// yet another restart of the scheduler).
pub const ATTEMPTS: u32 = 8;

/// What [`Book::replay`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Tasks made again.
    pub made: u32,
    /// Of those, queued again.
    pub queued: u32,
    /// Tasks the new instance refused to make or queue (never with the
    /// same scheduler: it refuses only what it refused before); their
    /// handles answer [`LlError::UnknownTask`], or stay unqueued.
    pub lost: u32,
}

/// The client's tasks (interior mutability: task handles share it).
pub struct Book {
    /// By handle.
    entries: [Cell<Entry>; MAX_LOCAL],
    /// Ids at the current scheduler, by local index.
    ids: [Cell<u32>; MAX_LOCAL],
    /// Runs the handler was told of, by local index.
    runs: [Cell<u32>; MAX_LOCAL],
    /// Tasks queued (the client serves until none is).
    live: Cell<u32>,
    /// The next queueing stamp.
    stamp: Cell<u32>,
    /// How many times the scheduler was found restarted.
    restarts: Cell<u32>,
}

impl Default for Book {
    fn default() -> Self {
        Book::new()
    }
}

impl Book {
    /// No task.
    pub fn new() -> Book {
        Book {
            entries: core::array::from_fn(|_| Cell::new(FREE)),
            ids: core::array::from_fn(|_| Cell::new(NO_TASK)),
            runs: core::array::from_fn(|_| Cell::new(0)),
            live: Cell::new(0),
            stamp: Cell::new(0),
            restarts: Cell::new(0),
        }
    }

    fn entry(&self, handle: u8) -> Option<Entry> {
        self.entries
            .get(usize::from(handle))
            .map(Cell::get)
            .filter(|entry| entry.used)
    }

    fn set(&self, handle: u8, entry: Entry) {
        if let Some(cell) = self.entries.get(usize::from(handle)) {
            cell.set(entry);
        }
    }

    /// The scheduler made a task of `params`: id `id`, local index
    /// `local`. Its handle; `None` if the book is full (never: the
    /// scheduler gives a client fewer tasks than the book holds) or the
    /// local index is out of range.
    pub fn made(&self, params: Params, id: u32, local: u32) -> Option<u8> {
        let local = u8::try_from(local)
            .ok()
            .filter(|local| usize::from(*local) < MAX_LOCAL)?;
        let handle = self.entries.iter().position(|cell| !cell.get().used)? as u8;
        self.set(
            handle,
            Entry {
                params,
                used: true,
                local,
                ..FREE
            },
        );
        self.bind_local(local, id, 0);
        Some(handle)
    }

    fn bind_local(&self, local: u8, id: u32, runs: u32) {
        let local = usize::from(local);
        if let (Some(ids), Some(counts)) = (self.ids.get(local), self.runs.get(local)) {
            ids.set(id);
            counts.set(runs);
        }
    }

    /// The id of the task `handle` at the current scheduler ([`NO_TASK`]
    /// if it is not made there, or freed).
    pub fn id(&self, handle: u8) -> u32 {
        self.entry(handle)
            .and_then(|entry| self.ids.get(usize::from(entry.local)))
            .map_or(NO_TASK, Cell::get)
    }

    /// How `handle` was made.
    pub fn params(&self, handle: u8) -> Option<Params> {
        self.entry(handle).map(|entry| entry.params)
    }

    /// The runs of task `handle` so far (as its handler was told).
    pub fn runs(&self, handle: u8) -> u32 {
        self.entry(handle).map_or(0, |entry| match entry.local {
            UNBOUND => entry.runs,
            local => self.runs.get(usize::from(local)).map_or(0, Cell::get),
        })
    }

    /// Whether `handle` is queued as far as the client knows.
    pub fn is_queued(&self, handle: u8) -> bool {
        self.entry(handle).is_some_and(|entry| entry.queued)
    }

    /// Task `handle` was queued (`true`) or cancelled (`false`).
    pub fn queued(&self, handle: u8, queued: bool) {
        let Some(mut entry) = self.entry(handle) else {
            return;
        };
        if entry.queued != queued {
            let live = self.live.get();
            self.live.set(if queued {
                live + 1
            } else {
                live.saturating_sub(1)
            });
        }
        if queued {
            entry.queued_at = self.stamp.get();
            self.stamp.set(entry.queued_at.wrapping_add(1));
        }
        entry.queued = queued;
        self.set(handle, entry);
    }

    /// Task `handle` was freed: its handle names no task any more.
    pub fn freed(&self, handle: u8) {
        self.queued(handle, false);
        if let Some(entry) = self.entry(handle)
            && entry.local != UNBOUND
        {
            self.bind_local(entry.local, NO_TASK, 0);
        }
        self.set(handle, FREE);
    }

    /// A `RUN` call names local index `local` (below [`MAX_LOCAL`]): the
    /// task's id and its run count, this run included.
    #[inline(always)]
    pub fn run(&self, local: usize) -> (u32, u32) {
        let runs = &self.runs[local % MAX_LOCAL];
        let count = runs.get() + 1;
        runs.set(count);
        (self.ids[local % MAX_LOCAL].get(), count)
    }

    /// The task at local index `local` completed (its handler said so).
    pub fn completed(&self, local: usize) {
        if let Some(handle) = self.handle_at(local) {
            self.queued(handle, false);
        }
    }

    /// The handle of the task at local index `local`.
    pub fn handle_at(&self, local: usize) -> Option<u8> {
        self.entries
            .iter()
            .position(|cell| {
                let entry = cell.get();
                entry.used && usize::from(entry.local) == local
            })
            .map(|handle| handle as u8)
    }

    /// Tasks queued.
    #[inline]
    pub fn live(&self) -> u32 {
        self.live.get()
    }

    /// How many times the scheduler was found restarted (or to have
    /// dropped this client): registrations made again.
    pub fn restarts(&self) -> u32 {
        self.restarts.get()
    }

    /// The scheduler forgot this client: no task is made there any more
    /// (each keeps its runs). Done again by a replay cut short by another
    /// restart, it changes nothing.
    pub fn unbind(&self) {
        for cell in &self.entries {
            let mut entry = cell.get();
            if entry.used && entry.local != UNBOUND {
                let local = usize::from(entry.local);
                entry.runs = self.runs.get(local).map_or(0, Cell::get);
                entry.local = UNBOUND;
                cell.set(entry);
            }
        }
        for (id, runs) in self.ids.iter().zip(&self.runs) {
            id.set(NO_TASK);
            runs.set(0);
        }
    }

    /// After registering again with a scheduler that forgot this client:
    /// make every task again and queue again those that were queued, in
    /// the order they were queued. Fails, to be replayed again after the
    /// next registration, if the scheduler is forgotten again meanwhile
    /// ([`LlError::forgotten`]) or unreachable; a task the scheduler
    /// refuses is counted as lost, and the others are replayed.
    pub fn replay(&self, scheduler: &impl Transport) -> Result<Replayed, LlError> {
        self.unbind();
        let mut replayed = Replayed::default();
        for (handle, cell) in self.entries.iter().enumerate() {
            let mut entry = cell.get();
            if !entry.used {
                continue;
            }
            match scheduler.request(Op::Init, entry.params.init_words()) {
                Ok([_, id, local]) if (local as usize) < MAX_LOCAL => {
                    entry.local = local as u8;
                    self.bind_local(entry.local, id, entry.runs);
                    cell.set(entry);
                    replayed.made += 1;
                }
                Err(error) if error.forgotten() || error == LlError::Unreachable => {
                    return Err(error);
                }
                _ => {
                    replayed.lost += 1;
                    // Not made: not queued either (the client serves
                    // until the rest are done).
                    self.queued(handle as u8, false);
                }
            }
        }
        // Queued again oldest first: the scheduler's FIFO among equal
        // priorities is the order of these requests.
        let mut after: Option<u32> = None;
        while let Some(handle) = self.next_queued(after) {
            let entry = self.entries[usize::from(handle)].get();
            after = Some(entry.queued_at);
            match scheduler.request(Op::Schedule, [self.id(handle), 0]) {
                Ok(_) => replayed.queued += 1,
                Err(error) if error.forgotten() || error == LlError::Unreachable => {
                    return Err(error);
                }
                Err(_) => {
                    replayed.lost += 1;
                    self.queued(handle, false);
                }
            }
        }
        Ok(replayed)
    }

    /// The scheduler forgot this client: register again and replay the
    /// book, again if another restart cuts it short (at most
    /// [`ATTEMPTS`] times).
    pub fn reconnect(&self, scheduler: &impl Transport) -> Result<Replayed, LlError> {
        let mut last = LlError::Restarted;
        for _ in 0..ATTEMPTS {
            self.restarts.set(self.restarts.get().wrapping_add(1));
            let replayed = scheduler.register().and_then(|()| self.replay(scheduler));
            match replayed {
                Ok(replayed) => {
                    scheduler.reconnected(&replayed);
                    return Ok(replayed);
                }
                Err(error) if error.forgotten() => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    /// Request `op` with the words `words(self)` gives (read again after a
    /// reconnection: a task's id changes), registering again and retrying
    /// when the scheduler has forgotten this client. A request in flight
    /// when the scheduler restarted never reached the new instance: the
    /// replay puts back what the book says, and the request goes again.
    pub fn request(
        &self,
        scheduler: &impl Transport,
        op: Op,
        words: impl Fn(&Book) -> [u32; 2],
    ) -> Result<[u32; 3], LlError> {
        for _ in 0..ATTEMPTS {
            match scheduler.request(op, words(self)) {
                Err(error) if error.forgotten() => {
                    self.reconnect(scheduler)?;
                }
                other => return other,
            }
        }
        Err(LlError::Restarted)
    }

    /// Request `op` about task `handle` (its id in word 1, `extra` in
    /// word 2), as [`request`](Self::request).
    pub fn task_request(
        &self,
        scheduler: &impl Transport,
        op: Op,
        handle: u8,
        extra: u32,
    ) -> Result<[u32; 3], LlError> {
        self.request(scheduler, op, |book| [book.id(handle), extra])
    }

    /// Make a task of `params` (state INIT): its handle.
    pub fn create(&self, scheduler: &impl Transport, params: Params) -> Result<u8, LlError> {
        let [_, id, local] = self.request(scheduler, Op::Init, |_| params.init_words())?;
        match self.made(params, id, local) {
            Some(handle) => Ok(handle),
            None => {
                // (Never: the scheduler holds fewer of a client's tasks.)
                let _ = scheduler.request(Op::Free, [id, 0]);
                Err(LlError::TooManyTasks)
            }
        }
    }

    /// Queue task `handle`.
    pub fn schedule(&self, scheduler: &impl Transport, handle: u8) -> Result<(), LlError> {
        self.task_request(scheduler, Op::Schedule, handle, 0)?;
        self.queued(handle, true);
        Ok(())
    }

    /// Cancel task `handle`.
    pub fn cancel(&self, scheduler: &impl Transport, handle: u8) -> Result<(), LlError> {
        self.task_request(scheduler, Op::Cancel, handle, 0)?;
        self.queued(handle, false);
        Ok(())
    }

    /// Free task `handle`.
    pub fn free(&self, scheduler: &impl Transport, handle: u8) -> Result<(), LlError> {
        self.task_request(scheduler, Op::Free, handle, 0)?;
        self.freed(handle);
        Ok(())
    }

    /// Tell the scheduler this client listens (again): `Resume` with
    /// `words` (the first task of a batch whose reply was lost, and what
    /// it returned). A scheduler that forgot this client meanwhile is
    /// registered with again, and told with no task (the lost reply was
    /// to the old instance).
    pub fn listen(&self, scheduler: &impl Transport, words: [u32; 2]) -> Result<(), LlError> {
        let mut words = words;
        for _ in 0..ATTEMPTS {
            match scheduler.request(Op::Resume, words) {
                Err(error) if error.forgotten() => {
                    self.reconnect(scheduler)?;
                    words = [NO_TASK, Outcome::Reschedule as u32];
                }
                other => return other.map(drop),
            }
        }
        Err(LlError::Restarted)
    }

    /// The queued task with the oldest stamp after `after` (stamps are
    /// distinct; they wrap only after 2^32 schedules).
    fn next_queued(&self, after: Option<u32>) -> Option<u8> {
        self.entries
            .iter()
            .enumerate()
            .map(|(handle, cell)| (handle, cell.get()))
            .filter(|(_, entry)| {
                entry.used && entry.queued && after.is_none_or(|after| entry.queued_at > after)
            })
            .min_by_key(|(_, entry)| entry.queued_at)
            .map(|(handle, _)| handle as u8)
    }
}

#[cfg(test)]
mod tests {
    use core::cell::{Cell, RefCell};

    use super::{ATTEMPTS, Book, NO_TASK, Params, Replayed, Transport};
    use crate::proto::{LlError, Op, Outcome, Policy, TaskState, init_fields};
    use crate::{Clients, LlScheduler};

    /// An `ll-sched` on the host: its task table and clients, answering
    /// requests as the service does. `restart` starts a new instance,
    /// which knows nothing (as the kernel's restart with a zeroed heap).
    struct Ll {
        tasks: RefCell<LlScheduler>,
        clients: RefCell<Clients>,
        /// Requests answered (by every instance).
        requests: Cell<u32>,
        /// Restart before answering the request of this number (the
        /// request is lost in flight: `Restarted`).
        restart_at: RefCell<Vec<u32>>,
        /// Every `Resume`: (badge, words).
        resumes: RefCell<Vec<(u32, [u32; 2])>>,
    }

    impl Ll {
        fn new() -> Ll {
            Ll {
                tasks: RefCell::new(LlScheduler::new(32)),
                clients: RefCell::new(Clients::new(8, 16)),
                requests: Cell::new(0),
                restart_at: RefCell::new(Vec::new()),
                resumes: RefCell::new(Vec::new()),
            }
        }

        fn restart(&self) {
            *self.tasks.borrow_mut() = LlScheduler::new(32);
            *self.clients.borrow_mut() = Clients::new(8, 16);
        }

        /// Whether the request now being made is lost to a restart.
        fn restarts_now(&self) -> bool {
            let number = self.requests.get();
            self.requests.set(number + 1);
            let mut at = self.restart_at.borrow_mut();
            let hit = at.contains(&number);
            at.retain(|n| *n != number);
            if hit {
                drop(at);
                self.restart();
            }
            hit
        }

        fn client(&self, badge: u32) -> Client<'_> {
            Client {
                ll: self,
                badge,
                reconnections: RefCell::new(Vec::new()),
            }
        }

        /// The tasks run on LL tick `tick`, one a call, as each owner's
        /// `serve` sees them through its book (`books`: the other
        /// clients'); those for which `complete(handle, count)` complete.
        fn tick_all(
            &self,
            tick: u32,
            books: &[(u32, &Book)],
            complete: impl Fn(u8, u32) -> bool,
        ) -> Vec<Ran> {
            let mut tasks = self.tasks.borrow_mut();
            tasks.start_tick(tick);
            let mut ran = Vec::new();
            while let Some(batch) = tasks.next_batch(|_| 1) {
                let id = tasks.batch_id(&batch, 0);
                let local = (batch.locals & 0xF) as usize;
                let book = books
                    .iter()
                    .find(|(badge, _)| *badge == batch.owner)
                    .expect("a client's book")
                    .1;
                // As `serve` does with a `RUN` call.
                let (told, count) = book.run(local);
                assert_eq!(told, id, "the handler is told the scheduler's id");
                let handle = book.handle_at(local).expect("a task of the book");
                let done = complete(handle, count);
                if done {
                    book.completed(local);
                }
                ran.push(Ran {
                    owner: batch.owner,
                    handle,
                    id,
                    count,
                });
                tasks.finish_batch(&batch, [100], u32::from(done));
            }
            ran
        }

        /// [`tick_all`](Self::tick_all) with client [`ME`] only.
        fn tick(&self, tick: u32, book: &Book, complete: impl Fn(u8, u32) -> bool) -> Vec<Ran> {
            self.tick_all(tick, &[(ME, book)], complete)
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Ran {
        owner: u32,
        handle: u8,
        id: u32,
        count: u32,
    }

    /// A client of [`Ll`] with badge `badge`.
    struct Client<'a> {
        ll: &'a Ll,
        badge: u32,
        reconnections: RefCell<Vec<Replayed>>,
    }

    impl Transport for Client<'_> {
        fn request(&self, op: Op, [a, b]: [u32; 2]) -> Result<[u32; 3], LlError> {
            if self.ll.restarts_now() {
                return Err(LlError::Restarted);
            }
            let owner = self.badge;
            if self.ll.clients.borrow().slot(owner).is_none() {
                return Err(LlError::NotRegistered);
            }
            let mut tasks = self.ll.tasks.borrow_mut();
            let [x, y] = match op {
                Op::Init => {
                    let (priority, policy, period, phase) = init_fields([a, b]);
                    let id = tasks.init(owner, priority, policy, period, phase)?;
                    [id, tasks.local(owner, id)?]
                }
                Op::Schedule => tasks.schedule(owner, a).map(|()| [0, 0])?,
                Op::Cancel => tasks.cancel(owner, a).map(|()| [0, 0])?,
                Op::Free => tasks.free(owner, a).map(|()| [0, 0])?,
                Op::State => [tasks.state(owner, a)? as u32, 0],
                Op::Resume => {
                    self.ll.resumes.borrow_mut().push((owner, [a, b]));
                    let outcome = Outcome::from_raw(b & 0xFF);
                    [u32::from(tasks.resume(owner, a, outcome, b >> 8)), 0]
                }
                _ => return Err(LlError::UnknownOp),
            };
            Ok([0, x, y])
        }

        fn register(&self) -> Result<(), LlError> {
            if self.ll.restarts_now() {
                return Err(LlError::Restarted);
            }
            let mut clients = self.ll.clients.borrow_mut();
            let inbox = clients.inbox();
            clients
                .admit(&mut self.ll.tasks.borrow_mut(), self.badge, inbox, false)
                .map(drop)
        }

        fn reconnected(&self, replayed: &Replayed) {
            self.reconnections.borrow_mut().push(*replayed);
        }
    }

    fn params(priority: u8, period: u16, phase: u16, policy: Policy) -> Params {
        Params {
            priority,
            policy,
            period,
            phase,
        }
    }

    const ME: u32 = 3;
    const OTHER: u32 = 1;

    /// Each handle's state at the scheduler, by its id as the book says.
    fn state(ll: &Ll, book: &Book, handle: u8) -> Result<TaskState, LlError> {
        ll.tasks.borrow_mut().state(ME, book.id(handle))
    }

    /// The scheduler restarts between two ticks: the client's next request
    /// finds it forgotten, and the book makes every task again with its
    /// parameters, queues the queued ones in their order, and maps the new
    /// ids and local indices; the handler's run counts go on.
    #[test]
    fn tasks_survive_a_restart_of_the_scheduler() {
        let ll = Ll::new();
        let (me, book) = (ll.client(ME), Book::new());
        me.register().unwrap();
        let urgent = params(0, 1, 0, Policy::Log);
        let late = params(2, 1, 0, Policy::Notify);
        let odd = params(1, 2, 1, Policy::Skip);
        let a = book.create(&me, late).unwrap();
        let gone = book.create(&me, odd).unwrap();
        let b = book.create(&me, late).unwrap();
        let c = book.create(&me, urgent).unwrap();
        book.free(&me, gone).unwrap();
        // The freed handle is taken again (and its local index).
        let d = book.create(&me, odd).unwrap();
        assert_eq!(d, gone);
        assert_eq!(book.id(d), 4);
        // Queued: b before a (FIFO among priority 2), c, d; then c is
        // cancelled.
        for handle in [b, a, c, d] {
            book.schedule(&me, handle).unwrap();
        }
        book.cancel(&me, c).unwrap();
        assert_eq!(book.live(), 3);
        let order = |ran: &[Ran]| ran.iter().map(|ran| ran.handle).collect::<Vec<_>>();
        // `d` (every 2 ticks, phase 1) completes on its second run.
        let complete = |handle: u8, count: u32| handle == d && count == 2;
        assert_eq!(order(&ll.tick(0, &book, complete)), [b, a]);
        assert_eq!(order(&ll.tick(1, &book, complete)), [d, b, a]);
        assert_eq!(order(&ll.tick(2, &book, complete)), [b, a]);
        assert_eq!(order(&ll.tick(3, &book, complete)), [d, b, a]);
        assert_eq!(book.live(), 2, "d completed");
        let before: Vec<u32> = [a, b, c, d].map(|handle| book.id(handle)).to_vec();

        ll.restart();
        // Another client is quicker: ids 0 and 1 are its.
        let other = ll.client(OTHER);
        other.register().unwrap();
        let theirs = Book::new();
        let t = theirs.create(&other, late).unwrap();
        theirs.create(&other, urgent).unwrap();
        theirs.schedule(&other, t).unwrap();

        // The client's next request: NotRegistered, then registered again
        // and replayed, then answered.
        // (Its old id is the other client's now.)
        assert_eq!(state(&ll, &book, a), Err(LlError::NotOwner));
        let [_, raw, _] = book.task_request(&me, Op::State, a, 0).unwrap();
        assert_eq!(TaskState::from_raw(raw), Some(TaskState::Queued));
        assert_eq!(
            *me.reconnections.borrow(),
            [Replayed {
                made: 4,
                queued: 2,
                lost: 0
            }]
        );
        assert_eq!(book.restarts(), 1);
        let after: Vec<u32> = [a, b, c, d].map(|handle| book.id(handle)).to_vec();
        // New ids (the other client's are 0 and 1), made in handle order.
        assert_eq!(
            (before.as_slice(), after.as_slice()),
            ([0, 2, 3, 4].as_slice(), [2, 4, 5, 3].as_slice())
        );
        // Made with the same parameters; queued as they were.
        let table: Vec<_> = ll.tasks.borrow().each().collect();
        for (handle, made) in [(a, late), (b, late), (c, urgent), (d, odd)] {
            let id = book.id(handle);
            let (_, owner, priority, period, stats) =
                *table.iter().find(|row| row.0 == id).expect("made again");
            assert_eq!((owner, priority, period), (ME, made.priority, made.period));
            assert_eq!(stats.runs, 0, "the scheduler's statistics start again");
            assert_eq!(book.params(handle), Some(made));
        }
        assert_eq!(state(&ll, &book, a), Ok(TaskState::Queued));
        assert_eq!(state(&ll, &book, b), Ok(TaskState::Queued));
        assert_eq!(state(&ll, &book, c), Ok(TaskState::Init), "cancelled");
        assert_eq!(state(&ll, &book, d), Ok(TaskState::Init), "completed");
        // Same order (b before a), the other client's task between them by
        // priority rules only; run counts go on from 4.
        let ran = ll.tick_all(4, &[(ME, &book), (OTHER, &theirs)], |_, _| false);
        let runs: Vec<(u32, u8, u32)> = ran
            .iter()
            .map(|ran| (ran.owner, ran.handle, ran.count))
            .collect();
        // Their priority-2 task was queued before b and a were again.
        assert_eq!(runs, [(OTHER, t, 1), (ME, b, 5), (ME, a, 5)]);
        assert_eq!(book.runs(d), 2);
        // A handle queued again after the restart works as before.
        book.schedule(&me, d).unwrap();
        assert_eq!(book.live(), 3);
        let ran = ll.tick_all(5, &[(ME, &book), (OTHER, &theirs)], |_, _| false);
        assert_eq!(ran[0].handle, d);
        assert_eq!(book.runs(d), 3);
    }

    /// The scheduler restarts again while the book is replayed (any
    /// request of the replay, the registration too): it is replayed again,
    /// from the start, and ends as if there had been one restart; run
    /// counts are not lost on the way.
    #[test]
    fn a_restart_during_the_replay_replays_again() {
        for lost_at in 0..7 {
            let ll = Ll::new();
            let (me, book) = (ll.client(ME), Book::new());
            me.register().unwrap();
            let handles: Vec<u8> = (0..3)
                .map(|i| book.create(&me, params(i, 1, 0, Policy::Log)).unwrap())
                .collect();
            for handle in handles.iter().rev() {
                book.schedule(&me, *handle).unwrap();
            }
            ll.tick(0, &book, |_, _| false);
            ll.restart();
            // Requests from now: 0 the one that finds it forgotten, 1 the
            // registration, 2..=4 the tasks made, 5..=7 queued.
            let now = ll.requests.get();
            ll.restart_at.borrow_mut().push(now + 1 + lost_at);
            book.task_request(&me, Op::State, handles[0], 0).unwrap();
            assert_eq!(book.restarts(), 2, "lost at {lost_at}");
            assert_eq!(ll.tasks.borrow().each().count(), 3, "lost at {lost_at}");
            let ran = ll.tick(1, &book, |_, _| false);
            assert_eq!(
                ran.iter()
                    .map(|ran| (ran.handle, ran.count))
                    .collect::<Vec<_>>(),
                [(0, 2), (1, 2), (2, 2)],
                "lost at {lost_at}"
            );
        }
    }

    /// A request in flight when the scheduler restarts never reached the
    /// new instance: after the replay it goes again, once.
    #[test]
    fn a_request_lost_in_flight_goes_again_after_the_replay() {
        let ll = Ll::new();
        let (me, book) = (ll.client(ME), Book::new());
        me.register().unwrap();
        let restart_next = || {
            let now = ll.requests.get();
            ll.restart_at.borrow_mut().push(now);
        };
        let first = book.create(&me, params(0, 1, 0, Policy::Log)).unwrap();
        // Made during a restart: made once, in the new instance.
        restart_next();
        let second = book.create(&me, params(1, 1, 0, Policy::Log)).unwrap();
        assert_eq!(ll.tasks.borrow().each().count(), 2);
        assert_ne!(book.id(second), NO_TASK);
        // Queued during a restart: queued once (no AlreadyScheduled).
        restart_next();
        book.schedule(&me, first).unwrap();
        assert_eq!(state(&ll, &book, first), Ok(TaskState::Queued));
        // Cancelled during one: the replay queues it, the request cancels.
        book.schedule(&me, second).unwrap();
        restart_next();
        book.cancel(&me, second).unwrap();
        assert_eq!(state(&ll, &book, second), Ok(TaskState::Cancelled));
        assert_eq!(book.live(), 1);
        // Freed during one: made again, then freed.
        restart_next();
        book.free(&me, second).unwrap();
        assert_eq!(book.id(second), NO_TASK);
        assert_eq!(ll.tasks.borrow().each().count(), 1);
        assert_eq!(book.restarts(), 4);
        assert_eq!(state(&ll, &book, first), Ok(TaskState::Queued));
    }

    /// `serve` says it listens again after a reply the scheduler never got;
    /// if that scheduler is gone, the new one is told with no task (the
    /// lost run belonged to the old instance's ids).
    #[test]
    fn listening_again_after_a_restart_names_no_old_task() {
        let ll = Ll::new();
        let (me, book) = (ll.client(ME), Book::new());
        me.register().unwrap();
        let task = book.create(&me, params(0, 1, 0, Policy::Log)).unwrap();
        book.schedule(&me, task).unwrap();
        let old = book.id(task);
        ll.restart();
        book.listen(&me, [old, Outcome::Completed as u32]).unwrap();
        assert_eq!(
            *ll.resumes.borrow(),
            [(ME, [NO_TASK, Outcome::Reschedule as u32])]
        );
        assert_eq!(state(&ll, &book, task), Ok(TaskState::Queued));
        // Without a restart the words go as they are.
        book.listen(&me, [book.id(task), 1]).unwrap();
        assert_eq!(ll.resumes.borrow()[1], (ME, [book.id(task), 1]));
    }

    /// A scheduler that restarts under every request, or refuses the
    /// registration, is given up on: an error, not a loop.
    #[test]
    fn a_scheduler_that_keeps_restarting_is_given_up_on() {
        let ll = Ll::new();
        let (me, book) = (ll.client(ME), Book::new());
        me.register().unwrap();
        let task = book.create(&me, params(0, 1, 0, Policy::Log)).unwrap();
        let now = ll.requests.get();
        ll.restart_at
            .borrow_mut()
            .extend(now..now + 4 * ATTEMPTS * ATTEMPTS);
        assert_eq!(book.schedule(&me, task), Err(LlError::Restarted));
        assert!(!book.is_queued(task));
        // Sixteen other clients fill ll-sched's table: registering again is
        // refused, and that error comes back.
        ll.restart_at.borrow_mut().clear();
        ll.restart();
        for badge in 10..26 {
            ll.client(badge).register().unwrap();
        }
        assert_eq!(book.schedule(&me, task), Err(LlError::BadRegistration));
    }

    /// The book's own bookkeeping: handles, ids, run counts, queued tasks.
    #[test]
    fn the_book_maps_handles_to_ids_and_counts_runs_by_local_index() {
        let book = Book::new();
        let p = params(4, 8, 3, Policy::Skip);
        let h = book.made(p, 41, 2).unwrap();
        assert_eq!((book.id(h), book.params(h)), (41, Some(p)));
        assert_eq!(book.run(2), (41, 1));
        assert_eq!(book.run(2), (41, 2));
        assert_eq!(book.runs(h), 2);
        assert_eq!(book.handle_at(2), Some(h));
        book.queued(h, true);
        book.queued(h, true);
        assert_eq!(book.live(), 1, "queued once");
        book.completed(2);
        assert_eq!((book.live(), book.is_queued(h)), (0, false));
        book.unbind();
        assert_eq!((book.id(h), book.runs(h)), (NO_TASK, 2));
        book.unbind();
        assert_eq!(book.runs(h), 2, "unbinding twice keeps the runs");
        book.freed(h);
        assert_eq!(
            (book.id(h), book.params(h), book.runs(h)),
            (NO_TASK, None, 0)
        );
        assert_eq!(book.made(p, 1, 16), None, "local index out of range");
        for i in 0..16 {
            assert!(book.made(p, i, i).is_some());
        }
        assert_eq!(book.made(p, 99, 0), None, "full");
    }
}
