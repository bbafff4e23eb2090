//! Two size rewrites of the assembly LLVM's Xtensa backend prints, applied
//! before llvm-mc assembles it (see [`crate::wrapper`]).
//!
//! 1. Direct calls. The backend always calls through a register: the
//!    callee's address from the literal pool (`l32r a8, .LCPIn_m`), then
//!    `callx0 a8`: 6 bytes of code, a 4-byte literal and one instruction
//!    more than `call0 callee` (3 bytes, reaching ±512 KiB: every image is
//!    far smaller). GNU ld would relax such pairs itself, but only where
//!    GNU as marked them; llvm-mc does not. So the pair is rewritten here,
//!    only where that is equivalent: both in one basic block, the address
//!    register a scratch one that is no argument (a8..a11: a call clobbers
//!    it anyway), and not read or written in between.
//! 2. Shared literals. LLVM gives every use its own literal, even in one
//!    function. Literals of equal value are merged into one, in a section
//!    of its own. Every literal of an image lies before all its code (the
//!    linker scripts), within `l32r` reach, so any of them serves.
//!
//! 3. Stack pointer moves. The backend moves the stack pointer through a8
//!    (`addi a8, a1, -N` then `or a1, a8, a8`; large frames: `movi a8, N`,
//!    `add a8, a1, a8`, `or a1, a8, a8`): in every prologue and epilogue
//!    one instruction more than `addi a1, a1, -N`. Where nothing reads a8
//!    before it is written again (or the function returns or calls), the
//!    move is done on a1 directly.
//!
//! 4. Narrow instructions. The core has the code density option, but the
//!    backend never emits its 2-byte forms and llvm-mc does not pick them
//!    (GNU as does). Each instruction that has an exact narrow twin
//!    becomes it (`l32i.n`, `s32i.n`, `movi.n`, `add.n`, `addi.n`,
//!    `mov.n`, `ret.n`; an `addi` of 0 is a `mov.n`): the same
//!    instructions, a byte shorter each.
//!
//! 5. Boot code apart. Functions in `.text.sotto_boot.*` sections (and
//!    the exit code's, `.text.sotto_exit.*`, linked with them) are
//!    linked below the kernel and unmapped after boot: their literal pools
//!    go into their own sections (not the previous function's), their
//!    jump tables to `.boot.rodata.*`, and no literal is shared between
//!    boot and resident code (the boot code lies below the resident
//!    literals, out of `l32r` reach, and must not be read after boot).
//!
//! 6. One abort call per run. A failed bounds check or `unwrap` calls
//!    `abort`, which never returns; LLVM gives each check its own
//!    `call0 abort` block, and puts them one after the other at the end
//!    of the function. Where only labels separate two such calls, the
//!    first is dropped: its label falls through to the next (3 bytes
//!    each). The kernel's `abort` reports the call's PC, which still
//!    names the function (`llvm-addr2line -f`), not which check failed.
//!    A `j` to such a call becomes the call itself (the same 3 bytes: a
//!    far branch to the end of the function relaxed into a jump); a call
//!    no branch reaches any more, after an unconditional transfer, goes.
//!
//! 7. Short forward branches. `beqz`/`bnez` to a label a few
//!    instructions ahead become `beqz.n`/`bnez.n` (2 bytes, reaching 0..63
//!    bytes forward). Only llvm-mc knows the distance: where it reports a
//!    narrowed branch out of range, [`widen_branch`] restores it and the
//!    wrapper assembles again (see `crate::wrapper`).
//!
//! 8. Shared abort calls. A bounds check whose abort call is out of
//!    branch reach is a branch around a `call0 abort` of its own (6
//!    bytes). Where another abort call of the function lies a few
//!    instructions back (surely in reach), the check branches there
//!    instead, with the condition inverted, and its own call goes (3
//!    bytes each).
//!
//! A literal no longer loaded is dropped. Nothing else changes.

use std::collections::HashMap;

/// The rewritten assembly of one crate.
pub fn rewrite(text: &str) -> String {
    let mut lines: Vec<Line> = text.lines().map(Line::Keep).collect();
    boot_jump_tables(&mut lines);
    let mut lines = place_literal_pools(lines);
    let literals = literal_values(text);
    direct_calls(&mut lines, &literals);
    merge_abort_calls(&mut lines);
    abort_jumps(&mut lines);
    let mut lines = shared_abort_calls(lines);
    stack_moves(&mut lines);
    narrow(&mut lines);
    short_branches(&mut lines);
    drop_unused_literals(&mut lines);
    let shared = merge_literals(&mut lines);
    let mut out = String::with_capacity(text.len());
    for line in &lines {
        match line {
            Line::Keep(text) => out.push_str(text),
            Line::Changed(text) => out.push_str(text),
            Line::Gone => continue,
        }
        out.push('\n');
    }
    out.push_str(&shared);
    out
}

enum Line<'a> {
    Keep(&'a str),
    Changed(String),
    Gone,
}

impl Line<'_> {
    fn text(&self) -> &str {
        match self {
            Line::Keep(text) => text,
            Line::Changed(text) => text,
            Line::Gone => "",
        }
    }
}

/// Sections of boot code start so: `link_section =
/// ".text.sotto_boot.NAME"`, one per function (LLVM's object writer fails
/// on two functions in one section), linked apart from the kernel's text
/// and unmapped after boot.
pub const BOOT_TEXT: &str = ".text.sotto_boot.";

/// Sections of exit code (the shutdown report) start so: linked with the
/// boot code and unmapped with it while services run; the kernel's exit
/// gate maps it again to stop.
pub const EXIT_TEXT: &str = ".text.sotto_exit.";

/// The section a `.section NAME,...` (or `.text`) directive switches to.
fn section_switch(line: &str) -> Option<&str> {
    let line = line.trim();
    if line == ".text" {
        return Some(".text");
    }
    let rest = line.strip_prefix(".section")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim().split(',').next().unwrap_or_default().trim())
}

/// Whether `section` holds boot or exit code (or their literals).
pub fn is_boot_section(section: &str) -> bool {
    section.starts_with(BOOT_TEXT)
        || section.starts_with(EXIT_TEXT)
        || section.starts_with(".boot.")
}

/// LLVM prints a function's literal pool (`.literal_position` and its
/// `.literal`s) before the `.section` of the function, so llvm-mc puts it
/// in the literal section of the function before (`.literal.PREVIOUS`):
/// the pool of boot code could land in resident text and the reverse, and
/// the linker keeps a pool for its neighbour's sake. Where boot code is
/// the function or the one before, the pool moves to just after its own
/// function's last `.section` directive, so its section is its
/// function's (`.literal.NAME`, `.literal.sotto_boot.NAME`).
fn place_literal_pools(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    let mut current = String::from(".text");
    let mut lines = lines.into_iter().peekable();
    while let Some(line) = lines.next() {
        if line.text().trim() != ".literal_position" {
            if let Some(section) = section_switch(line.text()) {
                current = section.to_owned();
            }
            out.push(line);
            continue;
        }
        let mut pool = vec![line];
        while let Some(next) = lines.next_if(|next| literal_definition(next.text()).is_some()) {
            pool.push(next);
        }
        // The directives up to the function's label, its section last.
        let mut directives = Vec::new();
        while let Some(next) = lines.next_if(|next| {
            let text = next.text().trim();
            text.is_empty()
                || (text.starts_with('.') && !text.ends_with(':') && text != ".literal_position")
        }) {
            directives.push(next);
        }
        let own = directives
            .iter()
            .rev()
            .find_map(|line| section_switch(line.text()))
            .map(str::to_owned);
        // Only where boot code is on either side: elsewhere the resident
        // layout stays as it was (instruction counts depend on which
        // pages the hot paths' literals share, through TLB refills).
        let moves = own
            .as_deref()
            .is_some_and(|own| is_boot_section(own) || is_boot_section(&current));
        if !moves {
            out.append(&mut pool);
        }
        let last = directives
            .iter()
            .rposition(|line| section_switch(line.text()).is_some());
        for (index, directive) in directives.into_iter().enumerate() {
            if let Some(section) = section_switch(directive.text()) {
                current = section.to_owned();
            }
            out.push(directive);
            if moves && Some(index) == last {
                out.append(&mut pool);
            }
        }
    }
    out
}

/// A boot function's jump tables (`.rodata.NAME` switched to from its
/// section) go with it: to `.boot.rodata.NAME`, linked and unmapped with
/// the boot code, so no resident data points into it.
fn boot_jump_tables(lines: &mut [Line]) {
    let mut current = String::from(".text");
    let mut moved: Vec<String> = Vec::new();
    for line in lines.iter_mut() {
        let Some(section) = section_switch(line.text()).map(str::to_owned) else {
            continue;
        };
        let follows_boot = is_boot_section(&current) && section.starts_with(".rodata");
        if follows_boot || moved.contains(&section) {
            let renamed = format!(".boot{section}");
            *line = Line::Changed(line.text().replacen(&section, &renamed, 1));
            if !moved.contains(&section) {
                moved.push(section);
            }
            current = renamed;
        } else {
            current = section;
        }
    }
}

/// `.literal LABEL, VALUE` -> (label, value).
fn literal_definition(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix(".literal")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let (label, value) = rest.split_once(',')?;
    Some((label.trim(), value.trim()))
}

fn literal_values(text: &str) -> HashMap<&str, &str> {
    text.lines().filter_map(literal_definition).collect()
}

/// Mnemonic and operands of an instruction line; `None` for labels,
/// directives, comments and blank lines.
fn instruction(line: &str) -> Option<(&str, Vec<&str>)> {
    let line = line.split('#').next().unwrap_or_default().trim();
    if line.is_empty() || line.starts_with('.') || line.ends_with(':') {
        return None;
    }
    let (mnemonic, operands) = line
        .split_once([' ', '\t'])
        .map_or((line, ""), |(m, o)| (m, o.trim()));
    let operands = operands
        .split(',')
        .map(str::trim)
        .filter(|op| !op.is_empty())
        .collect();
    Some((mnemonic, operands))
}

/// The number of an address register operand (`a8` -> 8).
fn register(operand: &str) -> Option<usize> {
    operand.strip_prefix('a')?.parse().ok().filter(|n| *n < 16)
}

/// Whether control may leave the straight line here (branches, jumps,
/// calls, returns, loops, exceptions): the end of a basic block.
fn transfers_control(mnemonic: &str) -> bool {
    let mnemonic = mnemonic.trim_end_matches(".n");
    mnemonic.starts_with(['b', 'j'])
        || mnemonic.starts_with("call")
        || mnemonic.starts_with("ret")
        || mnemonic.starts_with("loop")
        || mnemonic.starts_with("rf")
        || matches!(mnemonic, "syscall" | "ill" | "waiti")
}

/// A plain symbol (a function), not a number or an expression.
fn is_symbol(value: &str) -> bool {
    value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// Scratch registers that carry no argument: a call clobbers them.
const CALL_REGISTERS: std::ops::RangeInclusive<usize> = 8..=11;

fn direct_calls(lines: &mut [Line], literals: &HashMap<&str, &str>) {
    // Per register: the `l32r` that loaded a symbol into it in this block.
    let mut loaded: [Option<(usize, String)>; 16] = Default::default();
    for index in 0..lines.len() {
        let Some((mnemonic, operands)) = instruction(lines[index].text()) else {
            // Labels start a block; directives may switch sections.
            let text = lines[index].text().trim();
            if !text.is_empty() && !text.starts_with('#') {
                loaded = Default::default();
            }
            continue;
        };
        let target = operands.first().and_then(|op| register(op));
        if mnemonic == "callx0"
            && let Some(reg) = target
            && let Some((load, symbol)) = loaded[reg].take()
        {
            lines[load] = Line::Gone;
            lines[index] = Line::Changed(format!("\tcall0\t{symbol}"));
            loaded = Default::default();
            continue;
        }
        if transfers_control(mnemonic) {
            loaded = Default::default();
            continue;
        }
        // Any mention of a register (read or write) ends what we know of it.
        for operand in &operands {
            if let Some(reg) = register(operand) {
                loaded[reg] = None;
            }
        }
        if mnemonic == "l32r"
            && let [dest, label] = operands[..]
            && let Some(reg) = register(dest)
            && CALL_REGISTERS.contains(&reg)
            && let Some(value) = literals.get(label)
            && is_symbol(value)
        {
            loaded[reg] = Some((index, (*value).to_owned()));
        }
    }
}

/// Whether `line` is a direct call of `abort` (it never returns).
fn calls_abort(line: &str) -> bool {
    instruction(line)
        .is_some_and(|(mnemonic, operands)| mnemonic == "call0" && operands.as_slice() == ["abort"])
}

/// Drop each `call0 abort` that only labels (blank lines, comments)
/// separate from the next one: its labels fall through to that call.
fn merge_abort_calls(lines: &mut [Line]) {
    for index in 0..lines.len() {
        if !calls_abort(lines[index].text()) {
            continue;
        }
        for later in &lines[index + 1..] {
            let text = later.text().split('#').next().unwrap_or_default().trim();
            if matches!(later, Line::Gone) || text.is_empty() {
                continue;
            }
            if text.ends_with(':') && !text.contains([' ', '\t']) {
                continue;
            }
            if calls_abort(later.text()) {
                lines[index] = Line::Gone;
            }
            break;
        }
    }
}

/// The code text of a line without its comment, trimmed.
fn code<'a>(line: &'a Line<'_>) -> &'a str {
    line.text().split('#').next().unwrap_or_default().trim()
}

/// Whether `text` (see [`code`]) is a label definition.
fn is_label(text: &str) -> bool {
    text.ends_with(':') && !text.contains([' ', '\t'])
}

/// Each `j` to a label of a `call0 abort` becomes that call; then each
/// `call0 abort` whose labels nothing names any more, after an
/// unconditional transfer (nothing falls into it), is dropped.
fn abort_jumps(lines: &mut [Line]) {
    // The labels of each abort call: those only labels, blank lines and
    // comments separate from it.
    let mut abort_labels: HashMap<String, usize> = HashMap::new();
    let mut pending: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let text = code(line);
        if matches!(line, Line::Gone) || text.is_empty() {
            continue;
        }
        if is_label(text) {
            pending.push(text.trim_end_matches(':').to_owned());
            continue;
        }
        if calls_abort(line.text()) {
            for label in pending.drain(..) {
                abort_labels.insert(label, index);
            }
        }
        pending.clear();
    }
    for line in lines.iter_mut() {
        if let Some(("j", operands)) = instruction(line.text())
            && let [target] = operands[..]
            && abort_labels.contains_key(target)
        {
            *line = Line::Changed("\tcall0\tabort".to_owned());
        }
    }
    // Labels still named anywhere (branches, jump tables, expressions).
    let mut named: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for line in lines.iter() {
        let text = code(line);
        if is_label(text) {
            continue;
        }
        for token in text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '$'))) {
            if abort_labels.contains_key(token) {
                named.insert(token);
            }
        }
    }
    let unnamed: std::collections::HashSet<usize> = abort_labels
        .iter()
        .filter(|(label, _)| !named.contains(label.as_str()))
        .map(|(_, index)| *index)
        .collect();
    let named_calls: std::collections::HashSet<usize> = abort_labels
        .iter()
        .filter(|(label, _)| named.contains(label.as_str()))
        .map(|(_, index)| *index)
        .collect();
    let mut previous: Option<usize> = None;
    for index in 0..lines.len() {
        let text = code(&lines[index]);
        if matches!(lines[index], Line::Gone) || text.is_empty() || is_label(text) {
            continue;
        }
        let after_transfer = previous.is_some_and(|at| {
            calls_abort(lines[at].text())
                || instruction(lines[at].text())
                    .is_some_and(|(mnemonic, _)| matches!(mnemonic, "j" | "jx" | "ret" | "ret.n"))
        });
        if calls_abort(lines[index].text())
            && unnamed.contains(&index)
            && !named_calls.contains(&index)
            && after_transfer
        {
            lines[index] = Line::Gone;
            continue;
        }
        previous = Some(index);
    }
}

/// Most instructions between an abort call and a branch back to it: every
/// instruction is at most 3 bytes, so the call is at most 3 + 3 * 36
/// bytes back, within the 128 bytes of the shortest conditional branch.
const ABORT_REACH: usize = 36;

/// The branch taken exactly when `mnemonic` is not.
fn inverse_branch(mnemonic: &str) -> Option<&'static str> {
    Some(match mnemonic {
        "beq" => "bne",
        "bne" => "beq",
        "blt" => "bge",
        "bge" => "blt",
        "bltu" => "bgeu",
        "bgeu" => "bltu",
        "beqi" => "bnei",
        "bnei" => "beqi",
        "blti" => "bgei",
        "bgei" => "blti",
        "bltui" => "bgeui",
        "bgeui" => "bltui",
        "beqz" => "bnez",
        "bnez" => "beqz",
        "bltz" => "bgez",
        "bgez" => "bltz",
        "bany" => "bnone",
        "bnone" => "bany",
        "ball" => "bnall",
        "bnall" => "ball",
        "bbc" => "bbs",
        "bbs" => "bbc",
        "bbci" => "bbsi",
        "bbsi" => "bbci",
        _ => return None,
    })
}

/// The index of the next line after `index` that is not gone, blank or a
/// comment.
fn next_significant(lines: &[Line], index: usize) -> Option<usize> {
    (index + 1..lines.len())
        .find(|&at| !matches!(lines[at], Line::Gone) && !code(&lines[at]).is_empty())
}

/// See 8 in the module documentation: `b<cc> ..., .Lskip; call0 abort;
/// .Lskip:` becomes `b<not cc> ..., .Lsotto_abort_N`, that label put on
/// an abort call at most [`ABORT_REACH`] instructions back (only
/// instructions, labels and comments between: no directive, so no
/// function boundary).
fn shared_abort_calls(mut lines: Vec<Line>) -> Vec<Line> {
    // (line of the abort call, instructions since, its label if made).
    let mut anchor: Option<(usize, usize)> = None;
    let mut labels: HashMap<usize, String> = HashMap::new();
    let mut index = 0;
    while index < lines.len() {
        let text = code(&lines[index]);
        if matches!(lines[index], Line::Gone) || text.is_empty() || is_label(text) {
            index += 1;
            continue;
        }
        if text.starts_with('.') {
            anchor = None;
            index += 1;
            continue;
        }
        if calls_abort(lines[index].text()) {
            anchor = Some((index, 0));
            index += 1;
            continue;
        }
        let pair = instruction(lines[index].text()).and_then(|(mnemonic, operands)| {
            let inverse = inverse_branch(mnemonic)?;
            let (target, rest) = operands.split_last()?;
            let call = next_significant(&lines, index)?;
            if !calls_abort(lines[call].text()) {
                return None;
            }
            let after = next_significant(&lines, call)?;
            (code(&lines[after]) == format!("{target}:"))
                .then(|| (format!("{inverse}\t{}", rest.join(", ")), call))
        });
        match (pair, anchor) {
            (Some((branch, call)), Some((at, since))) if since < ABORT_REACH => {
                let next = labels.len();
                let label = labels
                    .entry(at)
                    .or_insert_with(|| format!(".Lsotto_abort_{next}"))
                    .clone();
                lines[index] = Line::Changed(format!("\t{branch}, {label}"));
                lines[call] = Line::Gone;
                anchor = Some((at, since + 1));
            }
            _ => {
                anchor = anchor
                    .map(|(at, since)| (at, since + 1))
                    .filter(|&(_, since)| since < ABORT_REACH);
            }
        }
        index += 1;
    }
    if labels.is_empty() {
        return lines;
    }
    let mut out = Vec::with_capacity(lines.len() + labels.len());
    for (index, line) in lines.into_iter().enumerate() {
        if let Some(label) = labels.get(&index) {
            out.push(Line::Changed(format!("{label}:")));
        }
        out.push(line);
    }
    out
}

/// Instructions that write their first operand and read only the others.
const WRITES_FIRST: [&str; 44] = [
    "l32i", "l32r", "l8ui", "l16ui", "l16si", "movi", "mov", "addi", "addmi", "add", "sub", "or",
    "and", "xor", "extui", "slli", "srli", "srai", "sll", "srl", "sra", "mull", "neg", "abs",
    "addx2", "addx4", "addx8", "subx2", "subx4", "subx8", "min", "max", "minu", "maxu", "sext",
    "nsa", "nsau", "rsr", "quou", "quos", "remu", "rems", "mul16u", "mul16s",
];

/// Whether a8 is dead after line `from`: written before any read, or the
/// function returns or calls (a8 is no argument and a call clobbers it).
/// Unsure (a branch, a label, an unknown use): no.
fn a8_dead_after(lines: &[Line], from: usize) -> bool {
    for line in &lines[from + 1..] {
        let Some((mnemonic, operands)) = instruction(line.text()) else {
            let text = line.text().trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return false;
        };
        let mnemonic = mnemonic.trim_end_matches(".n");
        let mentions = |ops: &[&str]| ops.iter().any(|op| register(op) == Some(8));
        if mnemonic == "ret" {
            return true;
        }
        if mnemonic.starts_with("call") {
            return !mentions(&operands);
        }
        if WRITES_FIRST.contains(&mnemonic)
            && operands.first().and_then(|op| register(op)) == Some(8)
        {
            return !mentions(&operands[1..]);
        }
        if mentions(&operands) || transfers_control(mnemonic) {
            return false;
        }
    }
    false
}

fn stack_moves(lines: &mut [Line]) {
    for index in 1..lines.len() {
        let Some(("or", operands)) = instruction(lines[index].text()) else {
            continue;
        };
        if operands != ["a1", "a8", "a8"] {
            continue;
        }
        let Some((mnemonic, ops)) = instruction(lines[index - 1].text()) else {
            continue;
        };
        let replacement = match (mnemonic, &ops[..]) {
            ("addi", ["a8", "a1", imm]) => format!("\taddi\ta1, a1, {imm}"),
            ("add", ["a8", "a1", "a8"]) => "\tadd\ta1, a1, a8".to_owned(),
            _ => continue,
        };
        if a8_dead_after(lines, index) {
            lines[index - 1] = Line::Changed(replacement);
            lines[index] = Line::Gone;
        }
    }
}

/// The 2-byte twin of an instruction, if it has one (same operation,
/// operands in the narrow form's range).
fn narrow_form(mnemonic: &str, operands: &[&str]) -> Option<String> {
    let number = |op: &str| op.parse::<i32>().ok();
    let is_register = |op: &str| register(op).is_some();
    match (mnemonic, operands) {
        ("l32i" | "s32i", [t, s, offset])
            if is_register(t)
                && is_register(s)
                && number(offset).is_some_and(|o| (0..=60).contains(&o) && o % 4 == 0) =>
        {
            Some(format!("\t{mnemonic}.n\t{t}, {s}, {offset}"))
        }
        ("movi", [t, value])
            if is_register(t) && number(value).is_some_and(|v| (-32..=95).contains(&v)) =>
        {
            Some(format!("\tmovi.n\t{t}, {value}"))
        }
        ("add", [r, s, t]) if is_register(r) && is_register(s) && is_register(t) => {
            Some(format!("\tadd.n\t{r}, {s}, {t}"))
        }
        ("addi", [r, s, value])
            if is_register(r)
                && is_register(s)
                && number(value).is_some_and(|v| v == -1 || (1..=15).contains(&v)) =>
        {
            Some(format!("\taddi.n\t{r}, {s}, {value}"))
        }
        ("or", [t, s, s2]) if is_register(t) && is_register(s) && s == s2 => {
            Some(format!("\tmov.n\t{t}, {s}"))
        }
        // An add of 0 is a move (`addi.n` has no 0; LLVM adds 0 to a
        // frame address).
        ("addi", [t, s, "0"]) if is_register(t) && is_register(s) => {
            Some(format!("\tmov.n\t{t}, {s}"))
        }
        ("ret", []) => Some("\tret.n".to_owned()),
        _ => None,
    }
}

fn narrow(lines: &mut [Line]) {
    for line in lines.iter_mut() {
        let Some((mnemonic, operands)) = instruction(line.text()) else {
            continue;
        };
        if let Some(narrow) = narrow_form(mnemonic, &operands) {
            *line = Line::Changed(narrow);
        }
    }
}

/// Most instructions between a branch and its label for a narrow branch
/// to be tried (64 bytes hold at most 32 narrow instructions; llvm-mc
/// judges the rest).
const SHORT_BRANCH_LINES: usize = 32;

/// `beqz`/`bnez` to a label defined within [`SHORT_BRANCH_LINES`]
/// instructions ahead (only instructions, labels and comments between)
/// become their narrow forms.
fn short_branches(lines: &mut [Line]) {
    for index in 0..lines.len() {
        let Some((mnemonic @ ("beqz" | "bnez"), operands)) = instruction(lines[index].text())
        else {
            continue;
        };
        let [register, target] = operands[..] else {
            continue;
        };
        let mut instructions = 0;
        let mut near = false;
        for later in &lines[index + 1..] {
            let text = later.text().split('#').next().unwrap_or_default().trim();
            if matches!(later, Line::Gone) || text.is_empty() {
                continue;
            }
            if let Some(label) = text.strip_suffix(':') {
                if label == target {
                    near = true;
                    break;
                }
                continue;
            }
            if text.starts_with('.') || instructions == SHORT_BRANCH_LINES {
                break;
            }
            instructions += 1;
        }
        if near {
            lines[index] = Line::Changed(format!("\t{mnemonic}.n\t{register}, {target}"));
        }
    }
}

/// The wide form of a narrow branch [`short_branches`] made (for a line
/// llvm-mc found out of range), if `line` is one.
pub fn widen_branch(line: &str) -> Option<String> {
    match instruction(line)? {
        (mnemonic @ ("beqz.n" | "bnez.n"), operands) => Some(format!(
            "\t{}\t{}",
            mnemonic.trim_end_matches(".n"),
            operands.join(", ")
        )),
        _ => None,
    }
}

/// Literals of equal value, loaded from more than one place, become one
/// literal in a section of its own: so the linker's garbage collection
/// still drops every literal (and what it names) no kept code loads. (A
/// literal kept in the pool of its first function would keep that whole
/// pool, and every function it names, alive.) Returns the new sections.
///
/// Boot code's literals are shared only with boot code, in sections of
/// their own (`.boot.literal.N`): linked with it, below it, unmapped with
/// it, and never a resident function's.
fn merge_literals(lines: &mut [Line]) -> String {
    // (boot, value) of each literal, by the section it is defined in.
    let mut section = String::from(".text");
    let mut classes: Vec<Option<(bool, String)>> = Vec::with_capacity(lines.len());
    for line in lines.iter() {
        if let Some(switched) = section_switch(line.text()) {
            section = switched.to_owned();
        }
        classes.push(
            literal_definition(line.text())
                .map(|(_, value)| (is_boot_section(&section), value.to_owned())),
        );
    }
    let mut count: HashMap<(bool, String), usize> = HashMap::new();
    for class in classes.iter().flatten() {
        *count.entry(class.clone()).or_default() += 1;
    }
    let mut shared: HashMap<(bool, String), String> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut sections = String::new();
    for (line, class) in lines.iter_mut().zip(classes) {
        let Some((label, _)) = literal_definition(line.text()) else {
            continue;
        };
        let Some(class) = class else { continue };
        if count[&class] < 2 {
            continue;
        }
        let next = shared.len();
        let name = shared.entry(class.clone()).or_insert_with(|| {
            let (boot, value) = &class;
            let section = if *boot {
                format!(".boot.literal.{next}")
            } else {
                format!(".literal.sotto_shared.{next}")
            };
            sections.push_str(&format!(
                "\t.section\t{section},\"a\",@progbits\n\t.p2align\t2\n.Lsotto_shared_{next}:\n\t.long\t{value}\n"
            ));
            format!(".Lsotto_shared_{next}")
        });
        renamed.insert(label.to_owned(), name.clone());
        *line = Line::Gone;
    }
    for line in lines.iter_mut() {
        let Some(("l32r", operands)) = instruction(line.text()) else {
            continue;
        };
        if let [dest, label] = operands[..]
            && let Some(kept) = renamed.get(label)
        {
            *line = Line::Changed(format!("\tl32r\t{dest}, {kept}"));
        }
    }
    sections
}

fn drop_unused_literals(lines: &mut [Line]) {
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    for line in lines.iter() {
        if literal_definition(line.text()).is_some() {
            continue;
        }
        if let Some((_, operands)) = instruction(line.text()) {
            used.extend(operands.iter().map(|op| (*op).to_owned()));
        } else {
            // A directive may name a literal too (`.word .LCPI0_0`).
            used.extend(
                line.text()
                    .split([' ', '\t', ','])
                    .map(|word| word.trim().to_owned()),
            );
        }
    }
    for line in lines.iter_mut() {
        if let Some((label, _)) = literal_definition(line.text())
            && !used.contains(label)
        {
            *line = Line::Gone;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, narrow, rewrite, short_branches};

    /// `text` after the narrowing passes alone: what the other passes'
    /// expectations become once every pass has run.
    fn narrowed(text: &str) -> String {
        let mut lines: Vec<Line> = text.lines().map(Line::Keep).collect();
        narrow(&mut lines);
        short_branches(&mut lines);
        lines
            .iter()
            .map(|line| format!("{}\n", line.text()))
            .collect()
    }

    const BEFORE: &str = "\t.literal_position
\t.literal .LCPI0_0, callee
\t.literal .LCPI0_1, other
\t.literal .LCPI0_2, callee
\t.literal .LCPI0_3, DATA
\t.literal .LCPI0_4, 65535
\t.section\t.text.f,\"ax\",@progbits
f:
\tl32r\ta8, .LCPI0_0
\tor\ta2, a13, a13
\tcallx0\ta8
\tl32r\ta8, .LCPI0_2
\tcallx0\ta8
\tl32r\ta2, .LCPI0_3
\tl32r\ta3, .LCPI0_4
\tret
\t.literal_position
\t.literal .LCPI1_0, DATA
\t.literal .LCPI1_1, 65535
\t.section\t.text.g,\"ax\",@progbits
g:
\tl32r\ta2, .LCPI1_0
\tl32r\ta3, .LCPI1_1
\tret
";

    #[test]
    fn calls_become_direct_and_literals_are_shared() {
        let after = rewrite(BEFORE);
        assert_eq!(
            after,
            narrowed(
                "\t.literal_position
\t.section\t.text.f,\"ax\",@progbits
f:
\tor\ta2, a13, a13
\tcall0\tcallee
\tcall0\tcallee
\tl32r\ta2, .Lsotto_shared_0
\tl32r\ta3, .Lsotto_shared_1
\tret
\t.literal_position
\t.section\t.text.g,\"ax\",@progbits
g:
\tl32r\ta2, .Lsotto_shared_0
\tl32r\ta3, .Lsotto_shared_1
\tret
\t.section\t.literal.sotto_shared.0,\"a\",@progbits
\t.p2align\t2
.Lsotto_shared_0:
\t.long\tDATA
\t.section\t.literal.sotto_shared.1,\"a\",@progbits
\t.p2align\t2
.Lsotto_shared_1:
\t.long\t65535
"
            )
        );
    }

    #[test]
    fn calls_stay_indirect_where_the_register_matters() {
        let text = "\t.literal .LCPI0_0, callee
f:
\tl32r\ta8, .LCPI0_0
\tor\ta2, a8, a8
\tcallx0\ta8
\tl32r\ta9, .LCPI0_0
\tbeqz\ta2, .LBB0_1
\tcallx0\ta9
\tl32r\ta10, .LCPI0_0
.LBB0_1:
\tcallx0\ta10
\tl32r\ta2, .LCPI0_0
\tcallx0\ta2
\tl32r\ta12, .LCPI0_0
\tcallx0\ta12
\tl32r\ta8, .LCPI0_0
\tl32i\ta8, a8, 0
\tcallx0\ta8
";
        assert_eq!(rewrite(text), narrowed(text));
    }

    #[test]
    fn boot_and_exit_code_keep_their_literals_and_jump_tables_apart() {
        for kind in ["sotto_boot", "sotto_exit"] {
            boot_code_apart(kind);
        }
    }

    /// The rewrite of a function in `.text.KIND.b` between two resident
    /// ones.
    fn boot_code_apart(kind: &str) {
        let template = "\t.section\t.text.a,\"ax\",@progbits
a:
\tret
\t.literal_position
\t.literal .LCPI1_0, .LJTI1_0
\t.literal .LCPI1_1, 4096
\t.section\t.text.a,\"ax\",@progbits
\t.section\t.text.sotto_boot.b,\"ax\",@progbits
b:
\tl32r\ta2, .LCPI1_0
\tl32r\ta3, .LCPI1_1
\tret
\t.section\t.rodata.b,\"a\",@progbits
.LJTI1_0:
\t.long\t.LBB1_1
\t.literal_position
\t.literal .LCPI2_0, 4096
\t.section\t.rodata.b,\"a\",@progbits
\t.section\t.text.c,\"ax\",@progbits
c:
\tl32r\ta3, .LCPI2_0
\tret
";
        let text = template.replace("sotto_boot", kind);
        let after = rewrite(&text);
        // b's pool in b's section, its jump table renamed; c's pool in
        // c's section, and the value both load is not shared across.
        assert!(after.contains(&format!(
            "\t.section\t.text.{kind}.b,\"ax\",@progbits\n\t.literal_position\n\t.literal .LCPI1_0, .LJTI1_0\n\t.literal .LCPI1_1, 4096\nb:"
        )), "{after}");
        assert!(after.contains("\t.section\t.boot.rodata.b,\"a\",@progbits\n.LJTI1_0:"));
        assert!(after.contains(
            "\t.section\t.text.c,\"ax\",@progbits\n\t.literal_position\n\t.literal .LCPI2_0, 4096\nc:"
        ), "{after}");
        assert!(!after.contains("sotto_shared"), "{after}");
    }

    #[test]
    fn exit_code_is_boot_code_to_the_rewrite() {
        assert!(super::is_boot_section(".text.sotto_exit.main_sotto_exit"));
        assert!(super::is_boot_section(".text.sotto_boot.main_start_clock"));
        assert!(!super::is_boot_section(".text.sotto_exited"));
    }

    #[test]
    fn numbers_are_not_called() {
        let text = "\t.literal .LCPI0_0, 4096
f:
\tl32r\ta8, .LCPI0_0
\tcallx0\ta8
";
        assert_eq!(rewrite(text), text);
    }

    #[test]
    fn the_stack_pointer_moves_directly_where_a8_is_dead() {
        let text = "f:
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
\ts32i\ta0, a1, 12
\tl32i\ta8, a2, 0
\tmovi\ta8, 192
\tadd\ta8, a1, a8
\tor\ta1, a8, a8
\tret
g:
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
\ts32i\ta8, a1, 12
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
\tbeqz\ta2, .LBB0_1
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
.LBB0_1:
\taddi\ta8, a1, 16
\tor\ta1, a8, a8
\tmovnez\ta8, a2, a3
";
        assert_eq!(
            rewrite(text),
            narrowed(
                "f:
\taddi\ta1, a1, -16
\ts32i\ta0, a1, 12
\tl32i\ta8, a2, 0
\tmovi\ta8, 192
\tadd\ta1, a1, a8
\tret
g:
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
\ts32i\ta8, a1, 12
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
\tbeqz\ta2, .LBB0_1
\taddi\ta8, a1, -16
\tor\ta1, a8, a8
.LBB0_1:
\taddi\ta8, a1, 16
\tor\ta1, a8, a8
\tmovnez\ta8, a2, a3
"
            )
        );
    }

    #[test]
    fn abort_calls_separated_only_by_labels_become_one() {
        let text = "\t.literal .LCPI0_0, abort
f:
\tbeqz\ta2, .LBB0_2
\tcall0\tabort
\tbnez\ta3, .LBB0_3
\tret
.LBB0_2:
\tl32r\ta8, .LCPI0_0
\tcallx0\ta8
# a comment
.LBB0_3:

\tcall0\tabort
.LBB0_4:
\tcall0\tabort
.Lfunc_end0:
\t.size\tf, .Lfunc_end0-f
g:
\tcall0\tabort
\tcall0\tother
";
        assert_eq!(
            rewrite(text),
            narrowed(
                "f:
\tbeqz\ta2, .LBB0_2
\tcall0\tabort
\tbnez\ta3, .LBB0_3
\tret
.LBB0_2:
# a comment
.LBB0_3:

.LBB0_4:
\tcall0\tabort
.Lfunc_end0:
\t.size\tf, .Lfunc_end0-f
g:
\tcall0\tabort
\tcall0\tother
"
            )
        );
    }

    #[test]
    fn jumps_to_an_abort_call_become_it_and_the_call_goes() {
        let text = "f:
\tbltu\ta2, a3, .LBB0_1
\tj\t.LBB0_3
.LBB0_1:
\tbeqz\ta2, .LBB0_4
\tj\t.LBB0_3
\tret
.LBB0_3:
\tcall0\tabort
.LBB0_4:
\tcall0\tabort
g:
\tcall0\tother
.LBB1_1:
\tcall0\tabort
";
        assert_eq!(
            rewrite(text),
            narrowed(
                "f:
\tbltu\ta2, a3, .LBB0_1
\tcall0\tabort
.LBB0_1:
\tbeqz\ta2, .LBB0_4
\tcall0\tabort
\tret
.LBB0_3:
.LBB0_4:
\tcall0\tabort
g:
\tcall0\tother
.LBB1_1:
\tcall0\tabort
"
            )
        );
    }

    #[test]
    fn a_check_branches_back_to_an_abort_call_in_reach() {
        let text = "f:
\tbltu\ta2, a3, .LBB0_1
\tcall0\tabort
.LBB0_1:
\tl32i\ta4, a2, 0
\tbgeui\ta4, 16, .LBB0_2
\tcall0\tabort
.LBB0_2:
\tret
\t.p2align\t2
g:
\tbnez\ta2, .LBB1_1
\tcall0\tabort
.LBB1_1:
\tret
";
        // The second check of f branches back to the first one's call; g's
        // only check has no call before it (a directive between).
        let expected = text
            .replacen(
                "\tcall0\tabort\n.LBB0_1:",
                ".Lsotto_abort_0:\n\tcall0\tabort\n.LBB0_1:",
                1,
            )
            .replacen(
                "\tbgeui\ta4, 16, .LBB0_2\n\tcall0\tabort\n",
                "\tbltui\ta4, 16, .Lsotto_abort_0\n",
                1,
            );
        assert_eq!(rewrite(text), narrowed(&expected));
    }

    #[test]
    fn short_forward_branches_are_narrowed_and_widen_back() {
        let text = "f:
\tbeqz\ta2, .LBB0_2
\tbnez\ta3, .LBB0_1
\tmov.n\ta2, a3
.LBB0_1:
\tret.n
\tbeqz\ta2, .LBB0_1
\tbnez\ta2, .LBB0_3
.LBB0_2:
\t.p2align\t2
.LBB0_3:
\tret.n
";
        // Only the two branches to a label just ahead narrow (not the one
        // back, nor the one past a directive).
        let expected = text
            .replacen("\tbeqz\ta2, .LBB0_2", "\tbeqz.n\ta2, .LBB0_2", 1)
            .replacen("\tbnez\ta3, .LBB0_1", "\tbnez.n\ta3, .LBB0_1", 1);
        assert_eq!(rewrite(text), expected);
        assert_eq!(
            super::widen_branch("\tbeqz.n\ta2, .LBB0_2").as_deref(),
            Some("\tbeqz\ta2, .LBB0_2")
        );
        assert_eq!(super::widen_branch("\tmov.n\ta2, a3"), None);
    }

    #[test]
    fn instructions_with_a_narrow_twin_take_it() {
        let text = "f:
\tl32i\ta2, a3, 60
\tl32i\ta2, a3, 64
\ts32i\ta2, a1, 2
\ts32i\ta2, a1, 0
\tmovi\ta2, -32
\tmovi\ta2, 96
\tmovi\ta2, .LBB0_1
\tadd\ta2, a3, a4
\taddi\ta2, a3, 0
\taddi\ta2, a3, 15
\taddi\ta2, a3, -2
\tor\ta1, a8, a8
\tor\ta1, a8, a9
\tret
";
        assert_eq!(
            rewrite(text),
            "f:
\tl32i.n\ta2, a3, 60
\tl32i\ta2, a3, 64
\ts32i\ta2, a1, 2
\ts32i.n\ta2, a1, 0
\tmovi.n\ta2, -32
\tmovi\ta2, 96
\tmovi\ta2, .LBB0_1
\tadd.n\ta2, a3, a4
\tmov.n\ta2, a3
\taddi.n\ta2, a3, 15
\taddi\ta2, a3, -2
\tmov.n\ta1, a8
\tor\ta1, a8, a9
\tret.n
"
        );
    }
}
