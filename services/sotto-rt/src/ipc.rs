//! Synchronous IPC: call, receive, reply. A message is three words in
//! registers plus an optional payload in the thread's IPC buffer (one page
//! at `IPC_BUFFER_VA`), and may carry one capability.

use core::sync::atomic::{AtomicBool, Ordering};

use sotto_abi::Syscall;
use sotto_abi::layout::IPC_BUFFER_VA;
use sotto_abi::syscall::{IPC_PAYLOAD_MAX, MsgInfo, NO_SLOT};

use crate::Error;
use crate::cap::Slot;
use crate::sys::{call_regs, call_regs_a8};

/// A message: words, payload length, and a capability slot to send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Three words.
    pub words: [u32; 3],
    /// Payload bytes in the IPC buffer.
    pub len: u16,
    /// A capability to transfer (needs GRANT).
    pub cap: Option<Slot>,
}

/// A received message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The badge of the caller's capability (0 for replies).
    pub badge: u32,
    /// The message.
    pub message: Message,
    /// Whether a capability arrived in the slot asked for.
    pub cap_received: bool,
    /// A reply ([`call`], [`call_timeout`]): the cycle counter (CCOUNT)
    /// the kernel read as it delivered it, if this service holds a clock
    /// capability, else 0 (see `Syscall::Call`). 0 for received calls.
    pub cycles: u32,
}

#[inline]
fn info(message: &Message, receive_into: Option<Slot>) -> u32 {
    MsgInfo {
        send_cap: message.cap.map_or(NO_SLOT, |slot| slot as u8),
        recv_slot: receive_into.map_or(NO_SLOT, |slot| slot as u8),
        ..MsgInfo::new(message.len)
    }
    .encode()
}

#[inline]
fn received(badge: u32, raw_info: u32, words: [u32; 3]) -> Received {
    let info = MsgInfo::decode(raw_info);
    Received {
        cycles: 0,
        badge,
        message: Message {
            words,
            len: info.len,
            cap: None,
        },
        cap_received: info.cap_received,
    }
}

/// Registers a3..a7 of an IPC call: the slot, the info word, the words.
#[inline]
fn args(slot: Slot, message: &Message, receive_into: Option<Slot>) -> [u32; 5] {
    let [w0, w1, w2] = message.words;
    [slot, info(message, receive_into), w0, w1, w2]
}

/// Call `endpoint` and wait for the reply; a capability in the reply lands
/// in `receive_into`.
#[inline]
pub fn call(
    endpoint: Slot,
    message: &Message,
    receive_into: Option<Slot>,
) -> Result<Received, Error> {
    let [raw_info, cycles, w0, w1, w2] =
        call_regs(Syscall::Call, args(endpoint, message, receive_into))?;
    Ok(Received {
        cycles,
        ..received(0, raw_info, [w0, w1, w2])
    })
}

/// [`call`], waiting for the reply until kernel tick `until` at most (the
/// low 32 bits of a tick count, as [`crate::sys::ticks`] gives it; one not
/// ahead of the kernel's count waits until the next tick). On expiry it
/// fails with [`Error::TimedOut`]: a call not yet received is withdrawn,
/// and the reply to one already received is dropped by the kernel when it
/// comes (the server is not told). (Always inline: the LL scheduler's
/// call to its first task goes out right after the tick.)
#[inline(always)]
pub fn call_timeout(
    endpoint: Slot,
    message: &Message,
    receive_into: Option<Slot>,
    until: u32,
) -> Result<Received, Error> {
    let [raw_info, cycles, w0, w1, w2] = call_regs_a8(
        Syscall::CallTimeout,
        args(endpoint, message, receive_into),
        until,
    )?;
    Ok(Received {
        cycles,
        ..received(0, raw_info, [w0, w1, w2])
    })
}

/// Wait for a call on `endpoint`; a capability in it lands in `receive_into`.
#[inline]
pub fn receive(endpoint: Slot, receive_into: Option<Slot>) -> Result<Received, Error> {
    let [badge, raw_info, w0, w1, w2] = call_regs(
        Syscall::Recv,
        args(endpoint, &Message::default(), receive_into),
    )?;
    Ok(received(badge, raw_info, [w0, w1, w2]))
}

/// Reply to the call received last; whether the caller got it (`false`:
/// it timed out or ended, and the reply was dropped).
pub fn reply(message: &Message) -> Result<bool, Error> {
    call_regs(Syscall::Reply, args(0, message, None)).map(|[delivered, ..]| delivered != 0)
}

/// Reply to the call received last, then wait for the next one, unless
/// the reply was dropped (its caller timed out or ended): then `Ok(None)`
/// at once, nothing received, so the server can tell the caller it is
/// listening again before it waits.
#[inline]
pub fn reply_receive_unless_dropped(
    endpoint: Slot,
    message: &Message,
    receive_into: Option<Slot>,
) -> Result<Option<Received>, Error> {
    let mut info = MsgInfo::decode(info(message, receive_into));
    info.reply_dropped = true;
    let [slot, _, w0, w1, w2] = args(endpoint, message, receive_into);
    let [badge, raw_info, w0, w1, w2] =
        call_regs(Syscall::ReplyRecv, [slot, info.encode(), w0, w1, w2])?;
    if MsgInfo::decode(raw_info).reply_dropped {
        return Ok(None);
    }
    Ok(Some(received(badge, raw_info, [w0, w1, w2])))
}

/// Reply to the call received last, then wait for the next one.
#[inline]
pub fn reply_receive(
    endpoint: Slot,
    message: &Message,
    receive_into: Option<Slot>,
) -> Result<Received, Error> {
    let [badge, raw_info, w0, w1, w2] =
        call_regs(Syscall::ReplyRecv, args(endpoint, message, receive_into))?;
    Ok(received(badge, raw_info, [w0, w1, w2]))
}

/// What [`receive_or_wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call (reply to it).
    Call(Received),
    /// Bits of the notification (now cleared).
    Signal(u32),
}

/// When the kernel took a signal's bits for [`receive_or_wait_at`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalTime {
    /// The cycle counter (CCOUNT) then, if this service holds a clock
    /// capability, else 0.
    pub cycles: u32,
    /// The kernel's tick count then (low 32 bits, as [`crate::sys::ticks`]).
    pub ticks: u32,
}

/// Wait for a call on `endpoint` or bits of `notification`, whichever
/// comes first (pending bits win): a server that also runs on a timer.
pub fn receive_or_wait(
    endpoint: Slot,
    notification: Slot,
    receive_into: Option<Slot>,
) -> Result<Event, Error> {
    receive_or_wait_at(endpoint, notification, receive_into).map(|(event, _)| event)
}

/// [`receive_or_wait`], and for a signal when the kernel took it: the
/// cycle counter and the tick count, read by the kernel (no `Cycles` or
/// `Ticks` call). For a call, both are 0.
#[inline]
pub fn receive_or_wait_at(
    endpoint: Slot,
    notification: Slot,
    receive_into: Option<Slot>,
) -> Result<(Event, SignalTime), Error> {
    let [badge, raw_info, w0, w1, w2] = call_regs(
        Syscall::RecvOrWait,
        [
            endpoint,
            info(&Message::default(), receive_into),
            notification,
            0,
            0,
        ],
    )?;
    if MsgInfo::decode(raw_info).signalled {
        let time = SignalTime {
            cycles: w1,
            ticks: w2,
        };
        return Ok((Event::Signal(w0), time));
    }
    Ok((
        Event::Call(received(badge, raw_info, [w0, w1, w2])),
        SignalTime::default(),
    ))
}

static BUFFER_IN_USE: AtomicBool = AtomicBool::new(false);

/// Run `f` on this thread's IPC buffer (payloads are read and written
/// there). Not re-entrant: a nested call panics.
pub fn with_buffer<R>(f: impl FnOnce(&mut [u8; IPC_PAYLOAD_MAX as usize]) -> R) -> R {
    if BUFFER_IN_USE.swap(true, Ordering::Acquire) {
        panic!("the IPC buffer is already in use");
    }
    // SAFETY: the kernel maps one page at IPC_BUFFER_VA for every service
    // (RW, ring 1); the flag above makes this the only live reference.
    let buffer = unsafe { &mut *(IPC_BUFFER_VA as *mut [u8; IPC_PAYLOAD_MAX as usize]) };
    let result = f(buffer);
    BUFFER_IN_USE.store(false, Ordering::Release);
    result
}
