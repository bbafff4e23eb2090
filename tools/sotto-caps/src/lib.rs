//! Reads a built Sotto image (not `system.toml`) and tells what it grants:
//! every service's threads (name, entry, priority, ceiling, stack), its
//! capability table, its memory map (virtual and physical,
//! with rights and cache attributes, computed by the kernel's own
//! address-space builder), who supervises whom and how (policies, the
//! faults notification, memory kept across restarts), and who can reach
//! whom through endpoints, notifications, semaphores, shared memory and
//! thread and service control. Output as text tables,
//! Graphviz, JSON, or the difference between two images.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;
use sotto_abi::Manifest;
use sotto_abi::cap::{ObjectKind, Rights, rights_text};
use sotto_abi::layout::{
    FIRST_SERVICE_ASID, IPC_BUFFER_VA, PAGE_SIZE, USER_POOL_BASE, USER_POOL_SIZE, USER_STACK_TOP,
};
use sotto_abi::manifest::{Cache, ObjectParams, SegmentKind, TimerTarget};
use sotto_abi::supervise::Restart;
use sotto_kernel::addrspace::{self, FramePool, SERVICE_L2_TABLES};
use sotto_kernel::pagetable::{ENTRIES, PageTables, Table};

/// One capability slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapRow {
    /// Slot number.
    pub slot: u8,
    /// Object name.
    pub object: String,
    /// Object kind.
    pub kind: String,
    /// Rights, e.g. `send+grant`.
    pub rights: String,
    /// Badge (0: none).
    pub badge: u32,
}

/// One mapping of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MapRow {
    /// What it is: code, rodata, data, stack, ipc-buffer, or a region name.
    pub what: String,
    /// Virtual start.
    pub va: u32,
    /// Virtual end (exclusive).
    pub va_end: u32,
    /// Physical start.
    pub pa: u32,
    /// Rights: r, rw, rx.
    pub rights: String,
    /// cached or uncached.
    pub cache: String,
}

/// One thread of a service (its main thread first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadRow {
    /// Name (`main` for the service's own).
    pub name: String,
    /// Entry address.
    pub entry: u32,
    /// Priority.
    pub priority: u8,
    /// The most urgent priority its thread capability may give it.
    pub ceiling: u8,
    /// Stack bytes.
    pub stack_size: u32,
    /// Its stack's top (the guard page lies under its bottom).
    pub stack_top: u32,
}

/// How a supervised service is supervised (ticks: the manifest's unit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SupervisionRow {
    /// Its supervisor's name.
    pub supervisor: String,
    /// `always` or `never`.
    pub restart: String,
    /// Backoff: restarted no sooner than this after its (re)start.
    pub min_run_ticks: u32,
    /// More restarts than this within the window and it is held (0: no
    /// limit).
    pub max_restarts: u32,
    /// The window of `max_restarts`.
    pub window_ticks: u32,
}

/// One service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceRow {
    /// Name.
    pub name: String,
    /// Priority.
    pub priority: u8,
    /// ASID it runs with.
    pub asid: u32,
    /// Its threads, the main one first.
    pub threads: Vec<ThreadRow>,
    /// Capability table.
    pub caps: Vec<CapRow>,
    /// Memory map.
    pub memory: Vec<MapRow>,
    /// Its supervisor and policy, if it has one.
    pub supervision: Option<SupervisionRow>,
    /// A supervisor's: the notification the kernel signals its services'
    /// faults on.
    pub faults: Option<String>,
}

/// One kernel object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectRow {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Parameters, in words.
    pub detail: String,
    /// Services holding a capability to it.
    pub holders: Vec<String>,
}

/// "`from` can reach `to` through `via`".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// The acting service.
    pub from: String,
    /// The service reached.
    pub to: String,
    /// The object.
    pub via: String,
    /// calls, signals, gives, shares memory.
    pub how: String,
}

/// Everything the tool shows about an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Kernel objects.
    pub objects: Vec<ObjectRow>,
    /// Services.
    pub services: Vec<ServiceRow>,
    /// Who reaches whom.
    pub edges: Vec<Edge>,
}

fn object_detail(manifest: &Manifest, params: &ObjectParams) -> String {
    let name = |index: u16| {
        manifest
            .objects
            .get(index as usize)
            .map_or("?".to_owned(), |o| o.name.to_string())
    };
    match *params {
        ObjectParams::Endpoint
        | ObjectParams::Notification
        | ObjectParams::Console
        | ObjectParams::Clock => String::new(),
        ObjectParams::Thread {
            service, thread, ..
        } => {
            let service = manifest.services.get(usize::from(service));
            let further = usize::from(thread)
                .checked_sub(1)
                .and_then(|further| service?.threads.get(further))
                .map_or(String::new(), |further| format!(" ({})", further.name));
            format!(
                "thread {thread} of {}{further}",
                service.map_or("?", |service| service.name.as_str())
            )
        }
        ObjectParams::Service { service } => format!(
            "service {}",
            manifest
                .services
                .get(usize::from(service))
                .map_or("?", |service| service.name.as_str())
        ),
        ObjectParams::Semaphore { initial, max } => format!("count {initial}, max {max}"),
        ObjectParams::Dai(dai) => {
            let notify = dai.notify.map_or(String::new(), |(object, bits)| {
                format!(", signals {} bits {bits:#x}", name(object))
            });
            format!(
                "{} {} Hz {} ch {}-bit, {} frames x {} periods in {}{notify}",
                dai.direction.name(),
                dai.rate,
                dai.channels,
                dai.bits,
                dai.period_frames,
                dai.ring_periods,
                name(dai.ring)
            )
        }
        ObjectParams::Timer { target, start } => {
            let target = match target {
                TimerTarget::Notify { object, bits } => {
                    format!("signals {} bits {bits:#x}", name(object))
                }
                TimerTarget::Give { object } => format!("gives {}", name(object)),
            };
            match start {
                Some((phase, 0)) => format!("{target}, once at tick {phase}"),
                Some((phase, period)) => {
                    format!("{target}, every {period} ticks from tick {phase}")
                }
                None => format!("{target}, disarmed"),
            }
        }
        ObjectParams::Memory {
            size,
            cache,
            shared,
            init,
            keep,
        } => format!(
            "{size} bytes, {}{}{}{}",
            cache_text(cache),
            if shared { ", shared" } else { "" },
            if init.is_some() { ", initialised" } else { "" },
            if keep { KEPT } else { "" }
        ),
    }
}

/// How a memory object's detail ends when it is kept across restarts.
const KEPT: &str = ", kept across restarts";

/// A policy's restart limit, in words.
fn limit_text(policy: &SupervisionRow) -> String {
    match policy.max_restarts {
        0 => "no limit".to_owned(),
        n => format!("held after {n} restarts in {} ticks", policy.window_ticks),
    }
}

fn cache_text(cache: Cache) -> &'static str {
    match cache {
        Cache::Cached => "cached",
        Cache::Uncached => "uncached",
    }
}

/// Build the report of a manifest: the same frame allocation and address
/// space construction as the kernel at boot.
pub fn report(manifest: &Manifest) -> Report {
    let mut pool = FramePool::new(USER_POOL_BASE, USER_POOL_SIZE);
    let sizes = manifest.objects.iter().map(|object| match object.params {
        ObjectParams::Memory { size, .. } => Some(size),
        _ => None,
    });
    let region_pa = addrspace::place_regions(sizes, &mut pool).unwrap_or_default();
    let mut objects: Vec<ObjectRow> = manifest
        .objects
        .iter()
        .map(|object| ObjectRow {
            name: object.name.to_string(),
            kind: object.params.kind().name().to_owned(),
            detail: object_detail(manifest, &object.params),
            holders: Vec::new(),
        })
        .collect();
    let mut services = Vec::new();
    for (index, service) in manifest.services.iter().enumerate() {
        let mut caps = Vec::new();
        let mut memory = Vec::new();
        let l1: &'static mut Table = Box::leak(Box::new([0; ENTRIES]));
        let l2: &'static mut [Table] =
            Box::leak(vec![[0; ENTRIES]; SERVICE_L2_TABLES].into_boxed_slice());
        let space = addrspace::build_space(
            service,
            index as u32,
            &mut pool,
            &[],
            |l1_pa, l2_pa, window| PageTables::new(l1, l1_pa, l2, l2_pa, window),
        );
        let stacks = addrspace::stacks(service).unwrap_or_default();
        let mut threads = vec![ThreadRow {
            name: "main".to_owned(),
            entry: service.entry,
            priority: service.priority,
            ceiling: service.priority,
            stack_size: service.stack_size,
            stack_top: USER_STACK_TOP,
        }];
        for (number, thread) in service.threads.iter().enumerate() {
            threads.push(ThreadRow {
                name: thread.name.to_string(),
                entry: thread.entry,
                priority: thread.priority,
                ceiling: thread.max_priority,
                stack_size: thread.stack_size,
                stack_top: stacks.get(number + 1).map_or(0, |stack| stack.1),
            });
        }
        if let Ok(space) = space {
            let segments = service.segments.len();
            for (number, placement) in space.placements.iter().enumerate() {
                let (what, rights) = match service.segments.get(number).map(|s| s.kind) {
                    Some(SegmentKind::Code) => ("code".to_owned(), "rx"),
                    Some(SegmentKind::ReadOnly) => ("rodata".to_owned(), "r"),
                    Some(SegmentKind::ReadWrite) => ("data".to_owned(), "rw"),
                    None => match number - segments {
                        0 => ("stack".to_owned(), "rw"),
                        thread => (format!("stack of {}", threads[thread].name), "rw"),
                    },
                };
                memory.push(MapRow {
                    what,
                    va: placement.va,
                    va_end: placement.va + placement.len,
                    pa: placement.pa,
                    rights: rights.to_owned(),
                    cache: "cached".to_owned(),
                });
            }
            memory.push(MapRow {
                what: "ipc-buffer".to_owned(),
                va: IPC_BUFFER_VA,
                va_end: IPC_BUFFER_VA + PAGE_SIZE,
                pa: space.ipc_buffer,
                rights: "rw".to_owned(),
                cache: "cached".to_owned(),
            });
        }
        for grant in &service.caps {
            let Some(object) = manifest.objects.get(grant.object as usize) else {
                continue;
            };
            let row = &mut objects[grant.object as usize];
            if !row.holders.contains(&service.name.to_string()) {
                row.holders.push(service.name.to_string());
            }
            caps.push(CapRow {
                slot: grant.slot,
                object: object.name.to_string(),
                kind: object.params.kind().name().to_owned(),
                rights: rights_text(grant.rights).to_string(),
                badge: grant.badge,
            });
            if let (
                Some(va),
                ObjectParams::Memory {
                    size, cache, keep, ..
                },
            ) = (grant.map_at, object.params)
            {
                memory.push(MapRow {
                    what: match keep {
                        true => format!("{} (kept)", object.name),
                        false => object.name.to_string(),
                    },
                    va,
                    va_end: va + size,
                    pa: region_pa.get(grant.object as usize).copied().unwrap_or(0),
                    rights: if grant.rights.contains(Rights::WRITE) {
                        "rw"
                    } else {
                        "r"
                    }
                    .to_owned(),
                    cache: cache_text(cache).to_owned(),
                });
            }
        }
        caps.sort_by_key(|cap| cap.slot);
        memory.sort_by_key(|row| row.va);
        let policy = &service.supervision;
        let supervision = policy.supervisor.map(|supervisor| SupervisionRow {
            supervisor: manifest
                .services
                .get(usize::from(supervisor))
                .map_or("?".to_owned(), |s| s.name.to_string()),
            restart: match policy.restart {
                Restart::Always => "always",
                Restart::Never => "never",
            }
            .to_owned(),
            min_run_ticks: policy.min_run_ticks,
            max_restarts: policy.max_restarts,
            window_ticks: policy.window_ticks,
        });
        let faults = policy.faults.map(|object| {
            manifest
                .objects
                .get(usize::from(object))
                .map_or("?".to_owned(), |o| o.name.to_string())
        });
        services.push(ServiceRow {
            name: service.name.to_string(),
            priority: service.priority,
            asid: u32::from(FIRST_SERVICE_ASID) + index as u32,
            threads,
            caps,
            memory,
            supervision,
            faults,
        });
    }
    let edges = reachability(manifest);
    Report {
        objects,
        services,
        edges,
    }
}

fn reachability(manifest: &Manifest) -> Vec<Edge> {
    let mut edges = BTreeSet::new();
    for (index, object) in manifest.objects.iter().enumerate() {
        let holders: Vec<(&str, Rights)> = manifest
            .services
            .iter()
            .flat_map(|service| {
                service
                    .caps
                    .iter()
                    .filter(|grant| grant.object as usize == index)
                    .map(|grant| (service.name.as_str(), grant.rights))
            })
            .collect();
        let kind = object.params.kind();
        if let ObjectParams::Thread { service, .. } = object.params
            && let Some(target) = manifest.services.get(usize::from(service))
        {
            for (from, rights) in &holders {
                if rights.contains(Rights::CONTROL) {
                    edges.insert(Edge {
                        from: (*from).to_owned(),
                        to: target.name.to_string(),
                        via: object.name.to_string(),
                        how: "controls the thread of".to_owned(),
                    });
                }
            }
            continue;
        }
        // A service's control: "supervises" from its supervisor, else
        // "controls the service".
        if let ObjectParams::Service { service } = object.params
            && let Some(target) = manifest.services.get(usize::from(service))
        {
            let supervisor = target
                .supervision
                .supervisor
                .and_then(|index| manifest.services.get(usize::from(index)))
                .map(|s| s.name.as_str());
            for (from, rights) in &holders {
                if rights.contains(Rights::CONTROL) {
                    edges.insert(Edge {
                        from: (*from).to_owned(),
                        to: target.name.to_string(),
                        via: object.name.to_string(),
                        how: match supervisor == Some(*from) {
                            true => "supervises",
                            false => "controls the service",
                        }
                        .to_owned(),
                    });
                }
            }
            continue;
        }
        let (act, receive, how) = match kind {
            ObjectKind::Endpoint => (Rights::SEND, Rights::RECEIVE, "calls"),
            ObjectKind::Notification => (Rights::SEND, Rights::RECEIVE, "signals"),
            ObjectKind::Semaphore => (Rights::SEND, Rights::RECEIVE, "gives"),
            ObjectKind::Memory => (Rights::WRITE, Rights::READ, "shares memory with"),
            ObjectKind::Timer
            | ObjectKind::Console
            | ObjectKind::Clock
            | ObjectKind::Thread
            | ObjectKind::Service
            | ObjectKind::Dai => {
                continue;
            }
        };
        for (from, from_rights) in &holders {
            for (to, to_rights) in &holders {
                if from != to && from_rights.contains(act) && to_rights.contains(receive) {
                    edges.insert(Edge {
                        from: (*from).to_owned(),
                        to: (*to).to_owned(),
                        via: object.name.to_string(),
                        how: how.to_owned(),
                    });
                }
            }
        }
    }
    edges.into_iter().collect()
}

/// The report as text tables.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "objects");
    for object in &report.objects {
        let holders = if object.kind == ObjectKind::Dai.name() {
            // Never granted: the kernel plays the DMA engine.
            "run by the kernel".to_owned()
        } else if object.holders.is_empty() {
            "held by no service".to_owned()
        } else {
            object.holders.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:<16} {:<12} {:<44} {holders}",
            object.name, object.kind, object.detail
        );
    }
    for service in &report.services {
        let _ = writeln!(
            out,
            "\nservice {} (priority {}, ASID {})",
            service.name, service.priority, service.asid
        );
        table(
            &mut out,
            "  thread            entry       priority  ceiling  stack",
            service.threads.iter().map(|thread| {
                format!(
                    "  {:<16}  {:#010x}  {:<8}  {:<7}  {} KiB under {:#010x}",
                    thread.name,
                    thread.entry,
                    thread.priority,
                    thread.ceiling,
                    thread.stack_size / 1024,
                    thread.stack_top
                )
            }),
        );
        table(
            &mut out,
            "  slot  object           kind          rights                 badge",
            service.caps.iter().map(|cap| {
                format!(
                    "  {:>4}  {:<16} {:<13} {:<22} {}",
                    cap.slot, cap.object, cap.kind, cap.rights, cap.badge
                )
            }),
        );
        table(
            &mut out,
            "  memory: virtual                   physical     rights  cache     what",
            service.memory.iter().map(|row| {
                format!(
                    "    {:#010x}..{:#010x}  {:#010x}   {:<6}  {:<8}  {}",
                    row.va, row.va_end, row.pa, row.rights, row.cache, row.what
                )
            }),
        );
    }
    let _ = writeln!(out, "\nsupervision");
    let supervised: Vec<&ServiceRow> = report
        .services
        .iter()
        .filter(|service| service.supervision.is_some())
        .collect();
    if supervised.is_empty() {
        let _ = writeln!(out, "  (no service is supervised)");
    } else {
        table(
            &mut out,
            "  service          supervisor       restart  min_run       limit",
            supervised.iter().filter_map(|service| {
                let policy = service.supervision.as_ref()?;
                Some(format!(
                    "  {:<16} {:<16} {:<8} {:<13} {}",
                    service.name,
                    policy.supervisor,
                    policy.restart,
                    format!("{} ticks", policy.min_run_ticks),
                    limit_text(policy)
                ))
            }),
        );
    }
    for service in &report.services {
        if let Some(faults) = &service.faults {
            let _ = writeln!(
                out,
                "  {} hears of faults on {faults} (notification)",
                service.name
            );
        }
    }
    let kept: Vec<&str> = report
        .objects
        .iter()
        .filter(|object| object.detail.ends_with(KEPT))
        .map(|object| object.name.as_str())
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(out, "  kept across restarts: {}", kept.join(", "));
    }
    let _ = writeln!(out, "\nreachability");
    if report.edges.is_empty() {
        let _ = writeln!(out, "  (no service can reach another)");
    }
    for edge in &report.edges {
        let _ = writeln!(
            out,
            "  {} {} {} via {}",
            edge.from, edge.how, edge.to, edge.via
        );
    }
    out
}

/// A header line, then a line per row.
fn table(out: &mut String, header: &str, rows: impl Iterator<Item = String>) {
    let _ = writeln!(out, "{header}");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
}

/// The reachability graph in Graphviz's language.
pub fn render_dot(report: &Report) -> String {
    let mut out = String::from(
        "digraph sotto {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for service in &report.services {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\npriority {}{}\"];",
            service.name,
            service.name,
            service.priority,
            match service.threads.len() {
                1 => String::new(),
                n => format!("\\n{n} threads"),
            }
        );
    }
    for edge in &report.edges {
        let style = match edge.how.as_str() {
            "calls" => "solid",
            "shares memory with" => "dashed",
            "supervises" => "bold",
            _ => "dotted",
        };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{} (via {})\", style={style}];",
            edge.from, edge.to, edge.how, edge.via
        );
    }
    out.push_str("}\n");
    out
}

/// The report as JSON.
pub fn render_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

/// What changed in the grants from image `old` to image `new`.
pub fn diff(old: &Report, new: &Report) -> String {
    let mut out = String::new();
    let cap_lines = |report: &Report| -> BTreeSet<String> {
        report
            .services
            .iter()
            .flat_map(|service| {
                service.caps.iter().map(move |cap| {
                    format!(
                        "{}: slot {} {} ({}) {}{}",
                        service.name,
                        cap.slot,
                        cap.object,
                        cap.kind,
                        cap.rights,
                        if cap.badge != 0 {
                            format!(" badge {}", cap.badge)
                        } else {
                            String::new()
                        }
                    )
                })
            })
            .collect()
    };
    let names = |report: &Report| -> BTreeSet<String> {
        report.services.iter().map(|s| s.name.clone()).collect()
    };
    let thread_lines = |report: &Report| -> BTreeSet<String> {
        report
            .services
            .iter()
            .flat_map(|service| {
                service.threads.iter().map(move |thread| {
                    format!(
                        "{}: thread {} priority {} ceiling {} stack {}",
                        service.name,
                        thread.name,
                        thread.priority,
                        thread.ceiling,
                        thread.stack_size
                    )
                })
            })
            .collect()
    };
    let supervision_lines = |report: &Report| -> BTreeSet<String> {
        report
            .services
            .iter()
            .flat_map(|service| {
                let policy = service.supervision.as_ref().map(|policy| {
                    format!(
                        "{}: supervised by {}, restart {}, min_run {} ticks, {}",
                        service.name,
                        policy.supervisor,
                        policy.restart,
                        policy.min_run_ticks,
                        limit_text(policy)
                    )
                });
                let faults = service
                    .faults
                    .as_ref()
                    .map(|faults| format!("{}: hears of faults on {faults}", service.name));
                policy.into_iter().chain(faults)
            })
            .collect()
    };
    for name in names(old).difference(&names(new)) {
        let _ = writeln!(out, "- service {name}");
    }
    for name in names(new).difference(&names(old)) {
        let _ = writeln!(out, "+ service {name}");
    }
    let (before, after) = (thread_lines(old), thread_lines(new));
    for line in before.difference(&after) {
        let _ = writeln!(out, "- {line}");
    }
    for line in after.difference(&before) {
        let _ = writeln!(out, "+ {line}");
    }
    let (before, after) = (supervision_lines(old), supervision_lines(new));
    for line in before.difference(&after) {
        let _ = writeln!(out, "- {line}");
    }
    for line in after.difference(&before) {
        let _ = writeln!(out, "+ {line}");
    }
    let (before, after) = (cap_lines(old), cap_lines(new));
    for line in before.difference(&after) {
        let _ = writeln!(out, "- {line}");
    }
    for line in after.difference(&before) {
        let _ = writeln!(out, "+ {line}");
    }
    let edge_line =
        |edge: &Edge| format!("{} {} {} via {}", edge.from, edge.how, edge.to, edge.via);
    let (before, after): (BTreeSet<String>, BTreeSet<String>) = (
        old.edges.iter().map(edge_line).collect(),
        new.edges.iter().map(edge_line).collect(),
    );
    for line in before.difference(&after) {
        let _ = writeln!(out, "- reach: {line}");
    }
    for line in after.difference(&before) {
        let _ = writeln!(out, "+ reach: {line}");
    }
    if out.is_empty() {
        out.push_str("no difference in services, supervision, capabilities or reachability\n");
    }
    out
}

/// The Debian package that provides Graphviz's `dot`.
pub const GRAPHVIZ_PACKAGE: &str = "graphviz";

/// Render Graphviz text to an SVG file with Graphviz's `dot` (Debian
/// package [`GRAPHVIZ_PACKAGE`], which `cargo xtask setup` installs).
pub fn write_svg(dot: &str, out: &std::path::Path) -> anyhow::Result<()> {
    write_svg_with("dot", dot, out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// [`write_svg`] with `program` as Graphviz's `dot`: the SVG goes to `out`
/// only once `program` has rendered it in full.
fn write_svg_with(program: &str, dot: &str, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = match Command::new(program)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "--svg needs Graphviz's `{program}`, which is not installed: install the Debian \
             package {GRAPHVIZ_PACKAGE} with `sudo apt-get install {GRAPHVIZ_PACKAGE}` \
             (or run `cargo xtask setup`), or leave out --svg and render the --dot text \
             elsewhere"
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("running Graphviz `{program}` for --svg"));
        }
    };
    // Feed the graph from another thread, so a large SVG on stdout cannot
    // block `dot` while it still reads.
    let mut stdin = child.stdin.take().context("dot's stdin")?;
    let text = dot.to_owned();
    let feeder = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output()?;
    let fed = feeder
        .join()
        .map_err(|_| anyhow::anyhow!("feeding `{program}` panicked"))?;
    anyhow::ensure!(
        output.status.success(),
        "Graphviz `{program}` failed ({}) to render {}:\n{}",
        output.status,
        out.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    fed.with_context(|| format!("writing the graph to `{program}`"))?;
    std::fs::write(out, &output.stdout).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{GRAPHVIZ_PACKAGE, write_svg_with};

    /// A file in the system's temporary directory, unique to this test.
    fn scratch(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("sotto-caps-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn a_missing_dot_names_the_package_and_the_install_command() {
        let out = scratch("missing.svg");
        let error = write_svg_with("sotto-no-such-dot", "digraph g {}\n", &out)
            .expect_err("no such program");
        let text = format!("{error:#}");
        assert!(text.contains("is not installed"), "{text}");
        assert!(
            text.contains(&format!("apt-get install {GRAPHVIZ_PACKAGE}")),
            "{text}"
        );
        assert!(text.contains("cargo xtask setup"), "{text}");
        assert!(!out.exists(), "nothing written");
    }

    #[test]
    fn a_failing_dot_writes_no_file() {
        let out = scratch("failing.svg");
        let error = write_svg_with("false", "digraph g {}\n", &out).expect_err("`false` fails");
        assert!(format!("{error:#}").contains("failed"), "{error:#}");
        assert!(!out.exists(), "nothing written");
    }
}
