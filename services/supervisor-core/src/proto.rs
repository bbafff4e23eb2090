//! The status query protocol on the supervisor's endpoint: three words
//! each way, in registers, so clients and tests share one definition.
//!
//! Calls (word 0 the operation):
//! - [`STATUS`]: word 1 the service's index, or [`BY_NAME`] with its name
//!   as the payload (the IPC buffer). Reply: [`Status`] — its state as
//!   the supervisor sees it, restarts, and its last fault (kind, cause,
//!   thread, tick).
//! - [`LIST`]: reply [`List`] — which services it supervises, which are
//!   held.
//!
//! Every reply's word 0 starts with a result byte: [`OK`], or
//! [`Refusal`]'s code.

use sotto_abi::supervise::{FaultKind, FaultMessage, ServiceState};

use crate::table::{Phase, Supervised, Table};

/// Word 0: a service's status.
pub const STATUS: u32 = 1;
/// Word 0: the list of supervised services.
pub const LIST: u32 = 2;
/// Word 1 of [`STATUS`]: the service is named by the payload.
pub const BY_NAME: u32 = u32::MAX;
/// The result byte of an answer.
pub const OK: u32 = 0;
/// "None", in a byte that holds a fault kind.
const NO_KIND: u32 = 0xFF;

/// Why a call was not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Refusal {
    /// Not an operation of this protocol, or a malformed name.
    UnknownRequest = 1,
    /// The supervisor does not supervise that service.
    NotSupervised = 2,
}

impl Refusal {
    /// A reply carrying it.
    pub fn words(self) -> [u32; 3] {
        [self as u32, 0, 0]
    }

    fn from_code(code: u32) -> Refusal {
        match code {
            2 => Refusal::NotSupervised,
            _ => Refusal::UnknownRequest,
        }
    }
}

/// Which service a [`STATUS`] call asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which<'a> {
    /// By index.
    Index(u8),
    /// By name.
    Name(&'a str),
}

/// A call, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// [`STATUS`].
    Status(Which<'a>),
    /// [`LIST`].
    List,
}

impl<'a> Request<'a> {
    /// Decode a call's words and payload.
    pub fn parse(words: [u32; 3], payload: &'a [u8]) -> Option<Request<'a>> {
        match words[0] {
            STATUS if words[1] == BY_NAME => core::str::from_utf8(payload)
                .ok()
                .map(|name| Request::Status(Which::Name(name))),
            STATUS => u8::try_from(words[1])
                .ok()
                .map(|index| Request::Status(Which::Index(index))),
            LIST => Some(Request::List),
            _ => None,
        }
    }
}

/// The words of a [`STATUS`] call about service `index`.
pub fn status_call(index: u8) -> [u32; 3] {
    [STATUS, u32::from(index), 0]
}

/// The words of a [`STATUS`] call naming its service in the payload.
pub fn status_by_name_call() -> [u32; 3] {
    [STATUS, BY_NAME, 0]
}

/// The words of a [`LIST`] call.
pub fn list_call() -> [u32; 3] {
    [LIST, 0, 0]
}

/// A supervised service's state, as the supervisor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum State {
    /// Running (or waiting for something).
    Running = 0,
    /// Faulted, not yet decided on.
    Faulted = 1,
    /// Stopped (not by its supervisor's policy).
    Stopped = 2,
    /// It exited.
    Exited = 3,
    /// Faulted, waiting for its restart (backoff).
    Waiting = 4,
    /// Faulted and held by its policy.
    Held = 5,
    /// Faulted, and the kernel refused to restart it.
    Failed = 6,
}

impl State {
    const ALL: [State; 7] = [
        State::Running,
        State::Faulted,
        State::Stopped,
        State::Exited,
        State::Waiting,
        State::Held,
        State::Failed,
    ];

    /// The state of a service in `phase` that the kernel reports in
    /// `kernel` (`None`: not asked).
    pub fn of(phase: Phase, kernel: Option<ServiceState>) -> State {
        match (phase, kernel) {
            (Phase::Waiting { .. }, _) => State::Waiting,
            (Phase::Held(_), _) => State::Held,
            (Phase::Failed(_), _) => State::Failed,
            (Phase::Running, Some(ServiceState::Faulted)) => State::Faulted,
            (Phase::Running, Some(ServiceState::Stopped)) => State::Stopped,
            (Phase::Running, Some(ServiceState::Exited)) => State::Exited,
            (Phase::Running, _) => State::Running,
        }
    }

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Faulted => "faulted",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Waiting => "waiting to restart",
            State::Held => "held",
            State::Failed => "restart refused",
        }
    }
}

/// A service's last fault, as [`Status`] carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastFault {
    /// What it was.
    pub kind: FaultKind,
    /// EXCCAUSE (exceptions), else 0.
    pub cause: u8,
    /// The thread within the service.
    pub thread: u8,
    /// The tick (low 32 bits).
    pub tick: u32,
}

impl From<&FaultMessage> for LastFault {
    fn from(fault: &FaultMessage) -> LastFault {
        LastFault {
            kind: fault.kind,
            cause: fault.cause.min(0xFF) as u8,
            thread: fault.thread,
            tick: fault.tick,
        }
    }
}

/// The answer to [`STATUS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The service's index.
    pub service: u8,
    /// Its state.
    pub state: State,
    /// Restarts its supervisor made.
    pub restarts: u16,
    /// Its last fault, if any.
    pub last_fault: Option<LastFault>,
}

impl Status {
    /// The status of `entry`, whose kernel state is `kernel`.
    pub fn of(entry: &Supervised, kernel: Option<ServiceState>) -> Status {
        Status {
            service: entry.service,
            state: State::of(entry.phase, kernel),
            restarts: entry.history.total().min(0xFFFF) as u16,
            last_fault: entry.last_fault.as_ref().map(LastFault::from),
        }
    }

    /// As reply words: word 0 = [`OK`] | service << 8 | state << 16 |
    /// fault kind << 24 (0xFF: no fault yet), word 1 = restarts | cause
    /// << 16 | thread << 24, word 2 = the fault's tick.
    pub fn to_words(&self) -> [u32; 3] {
        let (kind, cause, thread, tick) = match self.last_fault {
            Some(last) => (
                last.kind as u32,
                u32::from(last.cause),
                u32::from(last.thread),
                last.tick,
            ),
            None => (NO_KIND, 0, 0, 0),
        };
        [
            OK | u32::from(self.service) << 8 | (self.state as u32) << 16 | kind << 24,
            u32::from(self.restarts) | cause << 16 | thread << 24,
            tick,
        ]
    }

    /// From reply words: the status, or why the supervisor refused.
    pub fn from_words(words: [u32; 3]) -> Result<Status, Refusal> {
        let result = words[0] & 0xFF;
        if result != OK {
            return Err(Refusal::from_code(result));
        }
        let state = *State::ALL
            .get((words[0] >> 16 & 0xFF) as usize)
            .ok_or(Refusal::UnknownRequest)?;
        let kind = match words[0] >> 24 {
            0 => Some(FaultKind::Exception),
            1 => Some(FaultKind::Panic),
            2 => Some(FaultKind::Injected),
            _ => None,
        };
        Ok(Status {
            service: (words[0] >> 8) as u8,
            state,
            restarts: words[1] as u16,
            last_fault: kind.map(|kind| LastFault {
                kind,
                cause: (words[1] >> 16) as u8,
                thread: (words[1] >> 24) as u8,
                tick: words[2],
            }),
        })
    }
}

/// The answer to [`LIST`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct List {
    /// How many services are supervised.
    pub count: u8,
    /// Their indices, one bit each.
    pub supervised: u32,
    /// The held ones (or ones the kernel refused to restart).
    pub held: u32,
}

impl List {
    /// The list of `table`.
    pub fn of(table: &Table) -> List {
        List {
            count: table.len() as u8,
            supervised: table.supervised_mask(),
            held: table.held_mask(),
        }
    }

    /// As reply words: [`OK`] | count << 8, the supervised mask, the held
    /// mask.
    pub fn to_words(&self) -> [u32; 3] {
        [OK | u32::from(self.count) << 8, self.supervised, self.held]
    }

    /// From reply words.
    pub fn from_words(words: [u32; 3]) -> Result<List, Refusal> {
        match words[0] & 0xFF {
            OK => Ok(List {
                count: (words[0] >> 8) as u8,
                supervised: words[1],
                held: words[2],
            }),
            code => Err(Refusal::from_code(code)),
        }
    }
}

/// The reply to a call, given the table, a way to find a service by name
/// and the kernel state of a table entry (by its index).
pub fn answer(
    request: Option<Request<'_>>,
    table: &Table,
    find: impl Fn(&str) -> Option<u8>,
    kernel_state: impl Fn(usize) -> Option<ServiceState>,
) -> [u32; 3] {
    let which = match request {
        None => return Refusal::UnknownRequest.words(),
        Some(Request::List) => return List::of(table).to_words(),
        Some(Request::Status(which)) => which,
    };
    let service = match which {
        Which::Index(index) => Some(index),
        Which::Name(name) => find(name),
    };
    match service.and_then(|service| table.position(service)) {
        Some(i) => match table.get(i) {
            Some(entry) => Status::of(entry, kernel_state(i)).to_words(),
            None => Refusal::NotSupervised.words(),
        },
        None => Refusal::NotSupervised.words(),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        LIST, LastFault, List, Refusal, Request, STATUS, State, Status, Which, answer, list_call,
        status_by_name_call, status_call,
    };
    use crate::names::Names;
    use crate::policy::Hold;
    use crate::table::{Phase, Table};
    use sotto_abi::supervise::{
        FaultKind, FaultMessage, Restart, ServiceState, ServiceStatus, Supervision,
    };

    #[test]
    fn requests_decode() {
        assert_eq!(
            Request::parse(status_call(7), b""),
            Some(Request::Status(Which::Index(7)))
        );
        assert_eq!(
            Request::parse(status_by_name_call(), b"pipeline"),
            Some(Request::Status(Which::Name("pipeline")))
        );
        assert_eq!(Request::parse(status_by_name_call(), &[0xFF]), None);
        assert_eq!(Request::parse([STATUS, 256, 0], b""), None);
        assert_eq!(Request::parse(list_call(), b""), Some(Request::List));
        assert_eq!(Request::parse([LIST + 1, 0, 0], b""), None);
    }

    #[test]
    fn statuses_round_trip() {
        for state in State::ALL {
            for last_fault in [
                None,
                Some(LastFault {
                    kind: FaultKind::Injected,
                    cause: 0,
                    thread: 2,
                    tick: 123_456,
                }),
                Some(LastFault {
                    kind: FaultKind::Exception,
                    cause: 29,
                    thread: 0,
                    tick: u32::MAX,
                }),
            ] {
                let status = Status {
                    service: 12,
                    state,
                    restarts: 65_535,
                    last_fault,
                };
                assert_eq!(Status::from_words(status.to_words()), Ok(status));
            }
        }
        assert_eq!(
            Status::from_words(Refusal::NotSupervised.words()),
            Err(Refusal::NotSupervised)
        );
        assert_eq!(
            Status::from_words([0x07 << 16, 0, 0]),
            Err(Refusal::UnknownRequest)
        );
        let list = List {
            count: 3,
            supervised: 0b1011,
            held: 0b10,
        };
        assert_eq!(List::from_words(list.to_words()), Ok(list));
        assert_eq!(
            List::from_words(Refusal::UnknownRequest.words()),
            Err(Refusal::UnknownRequest)
        );
    }

    #[test]
    fn states_combine_the_phase_and_the_kernel() {
        let held = Phase::Held(Hold::Never);
        assert_eq!(State::of(held, Some(ServiceState::Faulted)), State::Held);
        assert_eq!(State::of(Phase::Waiting { at: 3 }, None), State::Waiting);
        assert_eq!(State::of(Phase::Failed(24), None), State::Failed);
        assert_eq!(
            State::of(Phase::Running, Some(ServiceState::Faulted)),
            State::Faulted
        );
        assert_eq!(
            State::of(Phase::Running, Some(ServiceState::Stopped)),
            State::Stopped
        );
        assert_eq!(
            State::of(Phase::Running, Some(ServiceState::Exited)),
            State::Exited
        );
        assert_eq!(
            State::of(Phase::Running, Some(ServiceState::Running)),
            State::Running
        );
        assert_eq!(State::of(Phase::Running, None), State::Running);
        assert_eq!(State::Waiting.name(), "waiting to restart");
    }

    #[test]
    fn the_supervisor_answers_from_its_table() {
        let names = Names::new("echo\npipeline eq\nsupervisor\n");
        let mut table = Table::new();
        let status = ServiceStatus {
            service: 1,
            state: ServiceState::Running,
            restarts: 0,
            supervision: Supervision {
                restart: Restart::Always,
                ..Supervision::default()
            },
            run_ticks: 0,
        };
        table.add(3, &status, 0);
        let fault = FaultMessage {
            service: 1,
            thread: 1,
            kind: FaultKind::Exception,
            cause: 28,
            pc: 0x4000_0000,
            address: 0,
            tick: 40,
        };
        table.fault(&fault);
        table.restarted(0, 40);
        let kernel = |_| Some(ServiceState::Running);
        let find = |name: &str| names.find(name);
        let expected = Ok(Status {
            service: 1,
            state: State::Running,
            restarts: 1,
            last_fault: Some(LastFault {
                kind: FaultKind::Exception,
                cause: 28,
                thread: 1,
                tick: 40,
            }),
        });
        let by_index = answer(Request::parse(status_call(1), b""), &table, find, kernel);
        assert_eq!(Status::from_words(by_index), expected);
        let by_name = answer(
            Request::parse(status_by_name_call(), b"pipeline"),
            &table,
            find,
            kernel,
        );
        assert_eq!(Status::from_words(by_name), expected);
        for (request, refusal) in [
            (status_call(0), Refusal::NotSupervised),
            ([9, 0, 0], Refusal::UnknownRequest),
        ] {
            let words = answer(Request::parse(request, b""), &table, find, kernel);
            assert_eq!(Status::from_words(words), Err(refusal));
        }
        let unknown = answer(
            Request::parse(status_by_name_call(), b"nobody"),
            &table,
            find,
            kernel,
        );
        assert_eq!(Status::from_words(unknown), Err(Refusal::NotSupervised));
        let list = answer(Request::parse(list_call(), b""), &table, find, kernel);
        assert_eq!(
            List::from_words(list),
            Ok(List {
                count: 1,
                supervised: 1 << 1,
                held: 0
            })
        );
    }
}
