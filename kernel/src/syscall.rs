//! System call handling: every call has the same shape — decode, check the
//! arguments against the caller, and describe the outcome as an [`Effect`].
//! The kernel applies effects in one place (scheduling, ending services),
//! so the handlers themselves are plain functions tested on the host.

use sotto_abi::syscall::CONSOLE_WRITE_MAX;
use sotto_abi::{Error, Syscall};

use crate::addrspace::{UserSlice, check_user};
use crate::pagetable::PageTables;

/// What the kernel must do after a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Resume the caller with a2 = `status`, a3 = `value`.
    Return {
        /// 0 or an [`Error`] code.
        status: u32,
        /// The call's result.
        value: u32,
    },
    /// Resume the caller (status 0) after the other ready threads of its
    /// priority.
    Yield,
    /// Resume the caller (status 0) once `ticks` more ticks have passed.
    Sleep {
        /// Whole ticks to wait, at least 1.
        ticks: u64,
    },
    /// End the calling service with `code`.
    Exit {
        /// The service's exit status.
        code: u32,
    },
    /// End the calling service: it panicked (the message is printed).
    Panic,
}

impl Effect {
    fn ok(value: u32) -> Effect {
        Effect::Return { status: 0, value }
    }

    fn error(error: Error) -> Effect {
        Effect::Return {
            status: error as u32,
            value: 0,
        }
    }
}

/// What a handler may look at and do; the kernel binary implements it for
/// the calling service, tests implement it with plain memory.
pub trait Env {
    /// The caller's page tables.
    fn tables(&self) -> &PageTables<'_>;
    /// The bytes of a checked user buffer (in the caller's address space).
    fn user_bytes(&self, slice: UserSlice) -> &[u8];
    /// Write service console output.
    fn console(&mut self, bytes: &[u8]);
    /// Report a panic message of the caller (`None`: unreadable).
    fn panic_message(&mut self, message: Result<&[u8], Error>);
    /// The cycle counter.
    fn cycles(&self) -> u32;
    /// Ticks since boot.
    fn ticks(&self) -> u64;
    /// The tick rate.
    fn tick_hz(&self) -> u32;
}

/// Handle system call `number` with arguments a3..a6.
pub fn dispatch(number: u32, args: [u32; 4], env: &mut impl Env) -> Effect {
    let Some(call) = Syscall::from_raw(number) else {
        return Effect::error(Error::UnknownSyscall);
    };
    match call {
        Syscall::Null => Effect::ok(0),
        Syscall::ConsoleWrite => {
            match check_user(env.tables(), args[0], args[1], false, CONSOLE_WRITE_MAX) {
                Ok(slice) => {
                    let mut chunk = [0u8; 128];
                    let mut done = 0;
                    while done < slice.len {
                        let take = (slice.len - done).min(chunk.len() as u32);
                        let part = UserSlice {
                            ptr: slice.ptr + done,
                            len: take,
                        };
                        chunk[..take as usize].copy_from_slice(env.user_bytes(part));
                        env.console(&chunk[..take as usize]);
                        done += take;
                    }
                    Effect::ok(slice.len)
                }
                Err(error) => Effect::error(error),
            }
        }
        Syscall::Exit => Effect::Exit { code: args[0] },
        Syscall::Yield => Effect::Yield,
        Syscall::Sleep => {
            let per_second = 1_000_000u64;
            let ticks = (u64::from(args[0]) * u64::from(env.tick_hz())).div_ceil(per_second);
            if ticks == 0 {
                Effect::Yield
            } else {
                Effect::Sleep { ticks }
            }
        }
        Syscall::Panic => {
            let mut text = [0u8; 256];
            let message = check_user(
                env.tables(),
                args[0],
                args[1].min(text.len() as u32),
                false,
                CONSOLE_WRITE_MAX,
            )
            .map(|slice| {
                let bytes = env.user_bytes(slice);
                text[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            });
            env.panic_message(message.map(|len| &text[..len]));
            Effect::Panic
        }
        Syscall::Cycles => Effect::ok(env.cycles()),
        Syscall::Ticks => Effect::ok(env.ticks() as u32),
    }
}

/// Prefixes each line a service prints with its name, so output of
/// concurrent services stays attributable.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinePrefixer {
    mid_line: bool,
}

impl LinePrefixer {
    /// Pass `bytes` to `sink`, inserting `[name] ` at each line start.
    pub fn write(&mut self, name: &str, bytes: &[u8], mut sink: impl FnMut(&[u8])) {
        for line in bytes.split_inclusive(|byte| *byte == b'\n') {
            if !self.mid_line {
                sink(b"[");
                sink(name.as_bytes());
                sink(b"] ");
            }
            sink(line);
            self.mid_line = !line.ends_with(b"\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Effect, Env, LinePrefixer, dispatch};
    use crate::addrspace::{FramePool, SERVICE_L2_TABLES, UserSlice, load};
    use crate::pagetable::{ENTRIES, PageTables, Table};
    use sotto_abi::layout::{PAGE_SIZE, USER_TEXT_BASE, pte_window};
    use sotto_abi::manifest::{Segment, SegmentKind, Service};
    use sotto_abi::{Error, Syscall};

    struct TestEnv<'t> {
        tables: PageTables<'t>,
        memory: Vec<u8>,
        console: Vec<u8>,
        panic: Option<Result<Vec<u8>, Error>>,
    }

    impl Env for TestEnv<'_> {
        fn tables(&self) -> &PageTables<'_> {
            &self.tables
        }
        fn user_bytes(&self, slice: UserSlice) -> &[u8] {
            let start = (slice.ptr - USER_TEXT_BASE) as usize;
            &self.memory[start..start + slice.len as usize]
        }
        fn console(&mut self, bytes: &[u8]) {
            self.console.extend_from_slice(bytes);
        }
        fn panic_message(&mut self, message: Result<&[u8], Error>) {
            self.panic = Some(message.map(<[u8]>::to_vec));
        }
        fn cycles(&self) -> u32 {
            1234
        }
        fn ticks(&self) -> u64 {
            77
        }
        fn tick_hz(&self) -> u32 {
            1000
        }
    }

    fn with_env(test: impl FnOnce(&mut TestEnv<'_>)) {
        let mut l1: Box<Table> = Box::new([0; ENTRIES]);
        let mut l2 = vec![[0; ENTRIES]; SERVICE_L2_TABLES];
        let mut tables =
            PageTables::new(&mut l1, 0x0040_0000, &mut l2, 0x0040_1000, pte_window(1)).unwrap();
        tables.share(0, 0x0011_0000).unwrap();
        let service = Service {
            name: heapless::String::try_from("t").unwrap(),
            priority: 1,
            entry: USER_TEXT_BASE,
            stack_size: PAGE_SIZE,
            arg: 0,
            segments: heapless::Vec::from_slice(&[Segment {
                vaddr: USER_TEXT_BASE,
                mem_size: 2 * PAGE_SIZE,
                offset: 0,
                file_size: 0,
                kind: SegmentKind::Code,
            }])
            .unwrap(),
        };
        load(
            &service,
            &mut tables,
            &mut FramePool::new(0x0050_0000, 0x10_0000),
        )
        .unwrap();
        let mut memory = vec![0u8; 2 * PAGE_SIZE as usize];
        memory[..300].copy_from_slice(&[b'x'; 300]);
        memory[10..16].copy_from_slice(b"hello\n");
        let mut env = TestEnv {
            tables,
            memory,
            console: Vec::new(),
            panic: None,
        };
        test(&mut env);
    }

    fn call(env: &mut TestEnv<'_>, syscall: Syscall, args: [u32; 4]) -> Effect {
        dispatch(syscall as u32, args, env)
    }

    #[test]
    fn console_write_copies_checked_bytes() {
        with_env(|env| {
            assert_eq!(
                call(env, Syscall::ConsoleWrite, [USER_TEXT_BASE + 10, 6, 0, 0]),
                Effect::Return {
                    status: 0,
                    value: 6
                }
            );
            assert_eq!(env.console, b"hello\n");
            // Longer than one chunk: nothing lost.
            env.console.clear();
            assert_eq!(
                call(env, Syscall::ConsoleWrite, [USER_TEXT_BASE + 20, 280, 0, 0]),
                Effect::Return {
                    status: 0,
                    value: 280
                }
            );
            assert_eq!(env.console.len(), 280);
        });
    }

    #[test]
    fn bad_pointers_and_lengths_are_error_codes() {
        with_env(|env| {
            let bad_address = Effect::Return {
                status: Error::BadAddress as u32,
                value: 0,
            };
            let bad_length = Effect::Return {
                status: Error::BadLength as u32,
                value: 0,
            };
            assert_eq!(
                call(env, Syscall::ConsoleWrite, [0x0010_0000, 4, 0, 0]),
                bad_address,
                "kernel memory"
            );
            assert_eq!(
                call(env, Syscall::ConsoleWrite, [0, 4, 0, 0]),
                bad_address,
                "null"
            );
            assert_eq!(
                call(
                    env,
                    Syscall::ConsoleWrite,
                    [USER_TEXT_BASE + 0x1ffe, 4, 0, 0]
                ),
                bad_address,
                "off the end"
            );
            assert_eq!(
                call(env, Syscall::ConsoleWrite, [USER_TEXT_BASE, 5000, 0, 0]),
                bad_length
            );
            assert_eq!(
                call(env, Syscall::ConsoleWrite, [0xffff_fff0, 0x20, 0, 0]),
                bad_length,
                "wraps"
            );
            assert!(
                env.console.is_empty(),
                "nothing is printed for a refused call"
            );
            assert_eq!(
                dispatch(999, [0; 4], env),
                Effect::Return {
                    status: Error::UnknownSyscall as u32,
                    value: 0
                }
            );
        });
    }

    #[test]
    fn scheduling_calls_become_effects() {
        with_env(|env| {
            assert_eq!(call(env, Syscall::Yield, [0; 4]), Effect::Yield);
            assert_eq!(
                call(env, Syscall::Sleep, [1500, 0, 0, 0]),
                Effect::Sleep { ticks: 2 },
                "rounded up"
            );
            assert_eq!(
                call(env, Syscall::Sleep, [1000, 0, 0, 0]),
                Effect::Sleep { ticks: 1 }
            );
            assert_eq!(call(env, Syscall::Sleep, [0, 0, 0, 0]), Effect::Yield);
            assert_eq!(
                call(env, Syscall::Exit, [3, 0, 0, 0]),
                Effect::Exit { code: 3 }
            );
            assert_eq!(
                call(env, Syscall::Cycles, [0; 4]),
                Effect::Return {
                    status: 0,
                    value: 1234
                }
            );
            assert_eq!(
                call(env, Syscall::Ticks, [0; 4]),
                Effect::Return {
                    status: 0,
                    value: 77
                }
            );
            assert_eq!(
                call(env, Syscall::Null, [9; 4]),
                Effect::Return {
                    status: 0,
                    value: 0
                }
            );
        });
    }

    #[test]
    fn panic_reports_the_message_or_that_it_was_unreadable() {
        with_env(|env| {
            assert_eq!(
                call(env, Syscall::Panic, [USER_TEXT_BASE + 10, 5, 0, 0]),
                Effect::Panic
            );
            assert_eq!(env.panic, Some(Ok(b"hello".to_vec())));
            assert_eq!(
                call(env, Syscall::Panic, [0x0010_0000, 5, 0, 0]),
                Effect::Panic
            );
            assert_eq!(env.panic, Some(Err(Error::BadAddress)));
        });
    }

    #[test]
    fn lines_get_the_service_name() {
        let mut out = Vec::new();
        let mut prefixer = LinePrefixer::default();
        prefixer.write("a", b"one\ntw", |bytes| out.extend_from_slice(bytes));
        prefixer.write("a", b"o\nthree\n", |bytes| out.extend_from_slice(bytes));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[a] one\n[a] two\n[a] three\n"
        );
    }
}
