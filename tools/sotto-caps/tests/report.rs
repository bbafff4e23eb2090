//! The tool's output for a known manifest, against fixtures. Set
//! `SOTTO_UPDATE_FIXTURES=1` to rewrite them after a deliberate change (and
//! read the diff).

use std::path::Path;

use sotto_abi::Manifest;
use sotto_abi::cap::Rights;
use sotto_abi::manifest::{
    Cache, CapGrant, Object, ObjectParams, Segment, SegmentKind, Service, TimerTarget,
};
use sotto_abi::supervise::{Restart, Supervision};

fn object(name: &str, params: ObjectParams) -> Object {
    Object {
        name: heapless::String::try_from(name).unwrap(),
        params,
    }
}

fn grant(slot: u8, object: u16, rights: Rights, badge: u32, map_at: Option<u32>) -> CapGrant {
    CapGrant {
        slot,
        object,
        rights,
        badge,
        map_at,
    }
}

fn service(name: &str, priority: u8, caps: &[CapGrant]) -> Service {
    let segments = [
        Segment {
            vaddr: 0x4000_0000,
            mem_size: 0x2000,
            offset: 0,
            file_size: 0x1800,
            kind: SegmentKind::Code,
        },
        Segment {
            vaddr: 0x4000_2000,
            mem_size: 0x1000,
            offset: 0x1800,
            file_size: 0x100,
            kind: SegmentKind::ReadOnly,
        },
        Segment {
            vaddr: 0x4000_3000,
            mem_size: 0x1000,
            offset: 0x1900,
            file_size: 0,
            kind: SegmentKind::ReadWrite,
        },
    ];
    Service {
        name: heapless::String::try_from(name).unwrap(),
        priority,
        entry: 0x4000_0100,
        stack_size: 0x2000,
        arg: 0,
        segments: heapless::Vec::from_slice(&segments).unwrap(),
        caps: heapless::Vec::from_slice(caps).unwrap(),
        threads: heapless::Vec::new(),
        supervision: sotto_abi::supervise::Supervision::default(),
    }
}

/// A further thread `name` at `priority`, ceiling `ceiling`.
fn thread(name: &str, priority: u8, ceiling: u8) -> sotto_abi::manifest::Thread {
    sotto_abi::manifest::Thread {
        name: heapless::String::try_from(name).unwrap(),
        priority,
        max_priority: ceiling,
        entry: 0x4000_0200,
        stack_size: 0x1000,
        arg: 1,
    }
}

/// A server, a client sharing a (kept) buffer with it, and a timer-driven
/// service that controls the server's thread and the server, and
/// supervises the client.
fn manifest() -> Manifest {
    let mut manifest = Manifest::default();
    for object in [
        object("console", ObjectParams::Console),
        object("requests", ObjectParams::Endpoint),
        object(
            "frames",
            ObjectParams::Memory {
                size: 0x2000,
                cache: Cache::Uncached,
                shared: true,
                init: None,
                keep: true,
            },
        ),
        object("tick", ObjectParams::Notification),
        object(
            "every-ms",
            ObjectParams::Timer {
                target: TimerTarget::Notify { object: 3, bits: 1 },
                start: Some((1, 1)),
            },
        ),
        object("jobs", ObjectParams::Semaphore { initial: 0, max: 4 }),
        object(
            "server",
            ObjectParams::Thread {
                service: 0,
                thread: 0,
                id: 0,
            },
        ),
        object("faults", ObjectParams::Notification),
        object("client", ObjectParams::Service { service: 1 }),
        object("server", ObjectParams::Service { service: 0 }),
    ] {
        manifest.objects.push(object).unwrap();
    }
    let rw = Rights::READ | Rights::WRITE;
    for service in [
        service(
            "server",
            2,
            &[
                grant(0, 0, Rights::SEND, 0, None),
                grant(1, 1, Rights::RECEIVE, 0, None),
                grant(2, 2, Rights::READ, 0, Some(0x5000_0000)),
                grant(3, 5, Rights::RECEIVE, 0, None),
            ],
        ),
        service(
            "client",
            3,
            &[
                grant(0, 0, Rights::SEND, 0, None),
                grant(1, 1, Rights::SEND | Rights::GRANT, 7, None),
                grant(2, 2, rw, 0, Some(0x5100_0000)),
                grant(4, 5, Rights::SEND, 0, None),
            ],
        ),
        service(
            "ticker",
            1,
            &[
                grant(0, 3, Rights::RECEIVE, 0, None),
                grant(1, 4, Rights::CONTROL, 0, None),
                grant(2, 6, Rights::CONTROL, 0, None),
                grant(3, 7, Rights::RECEIVE, 0, None),
                grant(4, 8, Rights::CONTROL, 0, None),
                grant(5, 9, Rights::CONTROL, 0, None),
            ],
        ),
    ] {
        manifest.services.push(service).unwrap();
    }
    // The ticker supervises the client (restarts it, with backoff and a
    // limit), and controls the server without supervising it.
    manifest.services[1].supervision = Supervision {
        supervisor: Some(2),
        restart: Restart::Always,
        min_run_ticks: 20,
        max_restarts: 3,
        window_ticks: 1000,
        faults: None,
    };
    manifest.services[2].supervision.faults = Some(7);
    // The server answers with a second thread.
    manifest.services[0]
        .threads
        .push(thread("worker", 4, 3))
        .unwrap();
    manifest
}

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("SOTTO_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

#[test]
fn text_report() {
    check(
        "report.txt",
        &sotto_caps::render_text(&sotto_caps::report(&manifest())),
    );
}

#[test]
fn graphviz() {
    check(
        "report.dot",
        &sotto_caps::render_dot(&sotto_caps::report(&manifest())),
    );
}

#[test]
fn json() {
    let json = sotto_caps::render_json(&sotto_caps::report(&manifest()));
    check("report.json", &json);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["services"][1]["caps"][1]["badge"], 7);
}

#[test]
fn diff_of_two_images() {
    let old = sotto_caps::report(&manifest());
    let mut changed = manifest();
    // The client loses its buffer; the ticker may now give jobs; the
    // server's worker is less urgent.
    changed.services[1].caps.retain(|cap| cap.object != 2);
    changed.services[0].threads[0].priority = 5;
    changed.services[2]
        .caps
        .push(grant(6, 5, Rights::SEND, 0, None))
        .unwrap();
    // The client is restarted sooner, and without a limit.
    changed.services[1].supervision.min_run_ticks = 5;
    changed.services[1].supervision.max_restarts = 0;
    check(
        "diff.txt",
        &sotto_caps::diff(&old, &sotto_caps::report(&changed)),
    );
    assert_eq!(
        sotto_caps::diff(&old, &old),
        "no difference in services, supervision, capabilities or reachability\n"
    );
}

#[test]
fn reachability_follows_rights() {
    let report = sotto_caps::report(&manifest());
    let edges: Vec<String> = report
        .edges
        .iter()
        .map(|e| format!("{} {} {} via {}", e.from, e.how, e.to, e.via))
        .collect();
    assert_eq!(
        edges,
        vec![
            "client shares memory with server via frames",
            "client gives server via jobs",
            "client calls server via requests",
            "ticker supervises client via client",
            "ticker controls the service server via server",
            "ticker controls the thread of server via server",
        ]
    );
    let client = &report.services[1];
    assert_eq!(
        client.supervision.as_ref().map(|s| s.supervisor.as_str()),
        Some("ticker")
    );
    assert_eq!(report.services[2].faults.as_deref(), Some("faults"));
    assert_eq!(report.services[2].supervision, None);
}
