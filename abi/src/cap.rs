//! Capabilities as services and tools see them: the kinds of kernel
//! object, the rights a capability carries, and slot numbers.

use serde::{Deserialize, Serialize};

/// Slots in each service's capability table.
pub const CAP_SLOTS: usize = 32;

bitflags::bitflags! {
    /// What a capability allows. Which rights mean something depends on the
    /// object kind ([`ObjectKind::meaningful_rights`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct Rights: u32 {
        /// Memory: map readable.
        const READ = 1 << 0;
        /// Memory: map writable.
        const WRITE = 1 << 1;
        /// Endpoint: call. Notification: signal. Semaphore: give.
        const SEND = 1 << 2;
        /// Endpoint: receive and reply. Notification: wait, poll.
        /// Semaphore: take.
        const RECEIVE = 1 << 3;
        /// Timer: arm, cancel. Thread: priority, deadline, suspend,
        /// resume, CPU time. Service: restart, stop, query.
        const CONTROL = 1 << 4;
        /// May be derived (copied) and transferred to another service.
        const GRANT = 1 << 5;
    }
}

/// The kinds of kernel object a capability can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// Synchronous call / receive / reply.
    Endpoint,
    /// A word of signal bits.
    Notification,
    /// A counting semaphore.
    Semaphore,
    /// A one-shot or periodic timer.
    Timer,
    /// A heap or shared buffer.
    Memory,
    /// The console (printing needs a capability to it).
    Console,
    /// The cycle counter (CCOUNT is privileged; reading it needs this).
    Clock,
    /// A thread (a service's main thread today).
    Thread,
    /// A service: holders with CONTROL restart, stop and query it (its
    /// supervisor).
    Service,
    /// A DAI (a DMA engine the kernel models, `crate::dai`): never
    /// granted; services drive it through its ring (a memory object) and
    /// hear of its periods on its notification.
    Dai,
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [ObjectKind; 10] = [
        ObjectKind::Endpoint,
        ObjectKind::Notification,
        ObjectKind::Semaphore,
        ObjectKind::Timer,
        ObjectKind::Memory,
        ObjectKind::Console,
        ObjectKind::Clock,
        ObjectKind::Thread,
        ObjectKind::Service,
        ObjectKind::Dai,
    ];

    /// The rights that mean something for this kind (GRANT always does).
    pub fn meaningful_rights(self) -> Rights {
        Rights::GRANT
            | match self {
                ObjectKind::Endpoint | ObjectKind::Notification | ObjectKind::Semaphore => {
                    Rights::SEND | Rights::RECEIVE
                }
                ObjectKind::Timer | ObjectKind::Thread | ObjectKind::Service => Rights::CONTROL,
                ObjectKind::Memory => Rights::READ | Rights::WRITE,
                ObjectKind::Console => Rights::SEND,
                ObjectKind::Clock => Rights::READ,
                ObjectKind::Dai => Rights::empty(),
            }
    }

    /// The name used in `system.toml` and by the tools.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Endpoint => "endpoint",
            ObjectKind::Notification => "notification",
            ObjectKind::Semaphore => "semaphore",
            ObjectKind::Timer => "timer",
            ObjectKind::Memory => "memory",
            ObjectKind::Console => "console",
            ObjectKind::Clock => "clock",
            ObjectKind::Thread => "thread",
            ObjectKind::Service => "service",
            ObjectKind::Dai => "dai",
        }
    }
}

/// Parse a rights list such as `"send+receive"` (names: read, write, send,
/// receive, control, grant).
pub fn parse_rights(text: &str) -> Result<Rights, &str> {
    let mut rights = Rights::empty();
    for word in text.split(['+', ',', ' ']).filter(|word| !word.is_empty()) {
        rights |= match word {
            "read" => Rights::READ,
            "write" => Rights::WRITE,
            "send" => Rights::SEND,
            "receive" => Rights::RECEIVE,
            "control" => Rights::CONTROL,
            "grant" => Rights::GRANT,
            other => return Err(other),
        };
    }
    Ok(rights)
}

/// Rights as `send+receive`.
pub fn rights_text(rights: Rights) -> heapless::String<48> {
    let mut text = heapless::String::new();
    for (name, right) in [
        ("read", Rights::READ),
        ("write", Rights::WRITE),
        ("send", Rights::SEND),
        ("receive", Rights::RECEIVE),
        ("control", Rights::CONTROL),
        ("grant", Rights::GRANT),
    ] {
        if rights.contains(right) {
            if !text.is_empty() {
                let _ = text.push('+');
            }
            let _ = text.push_str(name);
        }
    }
    if text.is_empty() {
        let _ = text.push_str("none");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{ObjectKind, Rights, parse_rights, rights_text};

    #[test]
    fn rights_parse_and_print() {
        assert_eq!(
            parse_rights("send+receive"),
            Ok(Rights::SEND | Rights::RECEIVE)
        );
        assert_eq!(
            parse_rights("read, write"),
            Ok(Rights::READ | Rights::WRITE)
        );
        assert_eq!(parse_rights("fly"), Err("fly"));
        assert_eq!(
            rights_text(Rights::READ | Rights::GRANT).as_str(),
            "read+grant"
        );
        assert_eq!(rights_text(Rights::empty()).as_str(), "none");
    }

    #[test]
    fn each_kind_has_its_rights() {
        assert!(
            ObjectKind::Memory
                .meaningful_rights()
                .contains(Rights::WRITE)
        );
        assert!(!ObjectKind::Timer.meaningful_rights().contains(Rights::SEND));
        assert!(
            ObjectKind::ALL
                .iter()
                .all(|kind| kind.meaningful_rights().contains(Rights::GRANT))
        );
    }
}
