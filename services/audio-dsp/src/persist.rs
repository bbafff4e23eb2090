//! Audio state that outlives a restart. A restarted service gets its data,
//! bss and stack back as the image has them, so whatever a component must
//! remember to continue where it stopped — sine phase, ramp position, FIR
//! history, the ring indices its runner owns, where its periods are in
//! the DAIs' streams (`dai_ring::Timeline`), the counters
//! — is saved after every period (LL side) or block (each DP runner) in a
//! memory object the system file marks `keep = true`, which the kernel
//! leaves as it is across the restart. The restarted runner resumes from
//! it when it checks out, and rebuilds its state (a cold start, said in
//! one console line) when it does not.
//!
//! The kept region is divided into areas of [`AREA_BYTES`], one per runner
//! ([`area`]); an area holds two slots, written in turn, so a fault in the
//! middle of a save leaves the previous record whole. A slot is a header
//! of six words — magic ([`MAGIC`]), epoch (restores of this lineage of
//! state: incremented at every restore), sequence (which slot is newer),
//! length (record words), configuration id (a checksum of the pipeline
//! description: state saved for another pipeline is not used) and a
//! checksum over the header and the record — and the record: a tag, the
//! runner's counters, the cursors of every ring before and after the
//! period ([`Staged`]) and each component's state with its kind.
//!
//! Saving and publishing are ordered so that any fault point is
//! recoverable (the rings must be kept too: see `system.toml`): a period
//! is staged (samples in free ring slots, indices not published), saved,
//! then published. A restore checks that every ring end the runner owns
//! is published either as before or as after the saved period (else the
//! rings are not those the state belongs to: rebuild) and publishes the
//! "after" indices again, completing a period whose publication the fault
//! cut short.

use core::fmt;

use zerocopy::FromBytes;

use crate::config::{Kind, Pipeline, State};
use crate::dai_ring::Timeline;
use crate::graph::{Ends, Graph, Staged};
use crate::ring::Cursor;

/// The first word of a valid slot ("SOTK").
pub const MAGIC: u32 = u32::from_le_bytes(*b"SOTK");
/// Bytes of one runner's area.
pub const AREA_BYTES: usize = 4096;
/// Words of one slot (two per area).
const SLOT_WORDS: usize = AREA_BYTES / 4 / 2;
/// Header words of a slot.
const HEADER_WORDS: usize = 6;
/// Most words a record may take.
pub const MAX_RECORD_WORDS: usize = SLOT_WORDS - HEADER_WORDS;

const H_MAGIC: usize = 0;
const H_EPOCH: usize = 1;
const H_SEQUENCE: usize = 2;
const H_LENGTH: usize = 3;
const H_CONFIG: usize = 4;
const H_CHECKSUM: usize = 5;

/// Record tags.
const LL_TAG: u32 = 0x4C4C_0001;
const DP_TAG: u32 = 0x4450_0001;

/// Runner `index`'s area of a kept region (by convention area 0 is the
/// LL side's and area 1 + N DP runner N's, when one service holds both).
pub fn area(region: &mut [u8], index: usize) -> Option<&mut [u8]> {
    region.get_mut(index * AREA_BYTES..(index + 1) * AREA_BYTES)
}

/// A Fletcher-style checksum over words (two running sums, so swapped or
/// shifted words change it too).
pub fn checksum(words: &[u32]) -> u32 {
    let (mut a, mut b) = (0x5EED_u32, 0u32);
    for word in words {
        a = a.wrapping_add(*word);
        b = b.wrapping_add(a);
    }
    a ^ b.rotate_left(16)
}

/// An id of a pipeline description (its configuration region's bytes):
/// state saved for another one is not restored.
pub fn config_id(config: &[u8]) -> u32 {
    let (mut a, mut b) = (0x5EED_u32, 0u32);
    for chunk in config.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        a = a.wrapping_add(u32::from_le_bytes(word));
        b = b.wrapping_add(a);
    }
    a ^ b.rotate_left(16)
}

/// Why saved state was not used (the runner starts cold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// Nothing was ever saved (the region is as the image has it).
    Empty,
    /// No slot carries the magic number.
    Magic,
    /// A record longer than a slot.
    Length,
    /// The checksum does not match.
    Checksum,
    /// Saved for another pipeline description.
    Config,
    /// The record does not describe this pipeline's components.
    Record,
    /// The rings are not those the state was saved against (reset, or
    /// not kept).
    Rings,
}

impl fmt::Display for Rebuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rebuild::Empty => "no saved state",
            Rebuild::Magic => "bad magic number",
            Rebuild::Length => "bad length",
            Rebuild::Checksum => "bad checksum",
            Rebuild::Config => "saved for another pipeline",
            Rebuild::Record => "the record does not fit the pipeline",
            Rebuild::Rings => "the rings are not those it was saved with",
        })
    }
}

/// One runner's kept area.
pub struct Store<'a> {
    words: &'a mut [u32],
    config: u32,
    epoch: u32,
    sequence: u32,
}

impl<'a> Store<'a> {
    /// The store in `area` (at least [`AREA_BYTES`], 4-byte aligned: a
    /// mapped region is page-aligned) for the pipeline `config`
    /// ([`config_id`]); None if it is too small or misaligned.
    pub fn attach(area: &'a mut [u8], config: u32) -> Option<Store<'a>> {
        let words = <[u32]>::mut_from_bytes(area.get_mut(..AREA_BYTES)?).ok()?;
        Some(Store {
            words,
            config,
            epoch: 0,
            sequence: 0,
        })
    }

    /// The store over `words` (at least [`AREA_BYTES`] / 4 of them).
    pub fn attach_words(words: &'a mut [u32], config: u32) -> Option<Store<'a>> {
        Some(Store {
            words: words.get_mut(..AREA_BYTES / 4)?,
            config,
            epoch: 0,
            sequence: 0,
        })
    }

    /// The epoch saves carry: restores so far (0 after a cold start).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    fn slot(&self, index: usize) -> &[u32] {
        &self.words[index * SLOT_WORDS..(index + 1) * SLOT_WORDS]
    }

    /// Slot `index`'s (sequence, epoch, length) if it is valid.
    fn check(&self, index: usize) -> Result<(u32, u32, usize), Rebuild> {
        let slot = self.slot(index);
        if slot[H_MAGIC] != MAGIC {
            return Err(Rebuild::Magic);
        }
        let length = slot[H_LENGTH] as usize;
        if length > MAX_RECORD_WORDS {
            return Err(Rebuild::Length);
        }
        if slot_checksum(slot, length) != slot[H_CHECKSUM] {
            return Err(Rebuild::Checksum);
        }
        if slot[H_CONFIG] != self.config {
            return Err(Rebuild::Config);
        }
        Ok((slot[H_SEQUENCE], slot[H_EPOCH], length))
    }

    /// The newest valid record, or why there is none. A restore is a new
    /// epoch: the record is saved again at once with it, in the other
    /// slot (so the epoch counts restores even if the runner faults again
    /// before its first save).
    pub fn restore(&mut self) -> Result<Reader<'_>, Rebuild> {
        let checks = [self.check(0), self.check(1)];
        let (from, (sequence, epoch, length)) = match checks {
            [Ok(a), Ok(b)] => {
                if (b.0.wrapping_sub(a.0) as i32) > 0 {
                    (1, b)
                } else {
                    (0, a)
                }
            }
            [Ok(a), Err(_)] => (0, a),
            [Err(_), Ok(b)] => (1, b),
            [Err(a), Err(b)] => {
                self.epoch = 0;
                return Err(if self.words.iter().all(|word| *word == 0) {
                    Rebuild::Empty
                } else if a != Rebuild::Magic {
                    a
                } else {
                    b
                });
            }
        };
        self.epoch = epoch.wrapping_add(1);
        self.sequence = sequence;
        // Into the other slot, with the new epoch.
        let to = 1 - from;
        let (source, target) = if from == 0 {
            let (low, high) = self.words.split_at_mut(SLOT_WORDS);
            (&*low, &mut high[..SLOT_WORDS])
        } else {
            let (low, high) = self.words.split_at_mut(SLOT_WORDS);
            (&*high, &mut low[..])
        };
        target[H_MAGIC] = 0;
        target[HEADER_WORDS..HEADER_WORDS + length]
            .copy_from_slice(&source[HEADER_WORDS..HEADER_WORDS + length]);
        self.seal(to, length);
        let slot = self.slot(to);
        Ok(Reader {
            words: &slot[HEADER_WORDS..HEADER_WORDS + length],
            at: 0,
        })
    }

    /// Write the header of slot `index` (its record written) with the next
    /// sequence number and the epoch: the magic last.
    fn seal(&mut self, index: usize, length: usize) {
        self.sequence = self.sequence.wrapping_add(1);
        let (epoch, sequence, config) = (self.epoch, self.sequence, self.config);
        let slot = &mut self.words[index * SLOT_WORDS..(index + 1) * SLOT_WORDS];
        slot[H_EPOCH] = epoch;
        slot[H_SEQUENCE] = sequence;
        slot[H_LENGTH] = length as u32;
        slot[H_CONFIG] = config;
        slot[H_MAGIC] = MAGIC;
        slot[H_CHECKSUM] = slot_checksum(slot, length);
        // A slot is valid only once its checksum is there; nothing the
        // compiler may move after the next period's publication.
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
    }

    /// Start a record in the slot after the newest ([`Writer::finish`]
    /// seals it); the newest stays valid until then.
    pub fn writer(&mut self) -> Writer<'_, 'a> {
        let index = (self.sequence.wrapping_add(1) % 2) as usize;
        self.words[index * SLOT_WORDS + H_MAGIC] = 0;
        Writer {
            store: self,
            index,
            length: 0,
        }
    }
}

fn slot_checksum(slot: &[u32], length: usize) -> u32 {
    let header = checksum(&slot[H_MAGIC..H_CHECKSUM]);
    header ^ checksum(&slot[HEADER_WORDS..HEADER_WORDS + length]).rotate_left(7)
}

/// A record being written into a slot.
pub struct Writer<'s, 'a> {
    store: &'s mut Store<'a>,
    index: usize,
    length: usize,
}

impl Writer<'_, '_> {
    /// Append a word (past [`MAX_RECORD_WORDS`], the record is refused
    /// at [`Writer::finish`]).
    #[inline]
    pub fn push(&mut self, word: u32) {
        let at = self.index * SLOT_WORDS + HEADER_WORDS + self.length;
        if self.length < MAX_RECORD_WORDS
            && let Some(slot) = self.store.words.get_mut(at)
        {
            *slot = word;
        }
        self.length += 1;
    }

    /// Seal the record; false (nothing saved: the slot stays invalid, the
    /// previous record valid) if it did not fit.
    pub fn finish(self) -> bool {
        if self.length > MAX_RECORD_WORDS {
            return false;
        }
        self.store.seal(self.index, self.length);
        true
    }
}

/// A restored record, read word by word.
pub struct Reader<'r> {
    words: &'r [u32],
    at: usize,
}

impl Reader<'_> {
    /// The next word; a record that ends early does not fit.
    pub fn word(&mut self) -> Result<u32, Rebuild> {
        let word = *self.words.get(self.at).ok_or(Rebuild::Record)?;
        self.at += 1;
        Ok(word)
    }

    /// Check the tag, a word the record must have here.
    fn expect(&mut self, word: u32) -> Result<(), Rebuild> {
        if self.word()? == word {
            Ok(())
        } else {
            Err(Rebuild::Record)
        }
    }

    /// The record must end here.
    fn end(&self) -> Result<(), Rebuild> {
        if self.at == self.words.len() {
            Ok(())
        } else {
            Err(Rebuild::Record)
        }
    }
}

fn save_cursors(writer: &mut Writer<'_, '_>, pipeline: &Pipeline, staged: &Staged) {
    writer.push(pipeline.buffers.len() as u32);
    for b in 0..pipeline.buffers.len() {
        let (before, after) = (staged.before[b], staged.after[b]);
        for word in [before.write, before.read, after.write, after.read] {
            writer.push(word);
        }
    }
}

fn restore_cursors(
    reader: &mut Reader<'_>,
    pipeline: &Pipeline,
    ends: Ends,
) -> Result<Staged, Rebuild> {
    reader.expect(pipeline.buffers.len() as u32)?;
    let mut staged = Staged {
        ends,
        before: Default::default(),
        after: Default::default(),
    };
    for b in 0..pipeline.buffers.len() {
        staged.before[b] = Cursor {
            write: reader.word()?,
            read: reader.word()?,
        };
        staged.after[b] = Cursor {
            write: reader.word()?,
            read: reader.word()?,
        };
    }
    Ok(staged)
}

/// A component's kind, as its record names it.
fn kind_tag(kind: &Kind) -> u32 {
    match kind {
        Kind::Sine { .. } => 1,
        Kind::Gain { .. } => 2,
        Kind::Mixer => 3,
        Kind::Fir { .. } => 4,
        Kind::Sink => 5,
        Kind::DaiCapture => 6,
    }
}

fn save_state(writer: &mut Writer<'_, '_>, kind: &Kind, state: &State) {
    writer.push(kind_tag(kind));
    match state {
        State::Sine(sine) => writer.push(sine.phase()),
        State::Gain(gain) => {
            let (current, remaining) = gain.position();
            writer.push(current as u32);
            writer.push((current >> 32) as u32);
            writer.push(remaining);
        }
        State::Fir(fir) => {
            writer.push(fir.taps() as u32);
            fir.history(&mut |sample| writer.push(sample as u32));
        }
        State::Mixer | State::Sink | State::Capture => {}
    }
}

fn restore_state(reader: &mut Reader<'_>, kind: &Kind, state: &mut State) -> Result<(), Rebuild> {
    reader.expect(kind_tag(kind))?;
    match state {
        State::Sine(sine) => sine.set_phase(reader.word()?),
        State::Gain(gain) => {
            let low = reader.word()?;
            let high = reader.word()?;
            let remaining = reader.word()?;
            gain.set_position((i64::from(low) | i64::from(high) << 32, remaining));
        }
        State::Fir(fir) => {
            reader.expect(fir.taps() as u32)?;
            let mut failed = false;
            fir.set_history(&mut || {
                reader.word().map_or_else(
                    |_| {
                        failed = true;
                        0
                    },
                    |word| word as i32,
                )
            });
            if failed {
                return Err(Rebuild::Record);
            }
        }
        State::Mixer | State::Sink | State::Capture => {}
    }
    Ok(())
}

/// Check the restored cursors against the rings and publish them again
/// (the period's publication completed).
fn resume_rings(pipeline: &Pipeline, region: &mut [u8], staged: &Staged) -> Result<(), Rebuild> {
    if !staged.matches(pipeline, region) {
        return Err(Rebuild::Rings);
    }
    staged.publish(pipeline, region);
    Ok(())
}

/// Save the LL side after a period ([`Graph::ll_stage`]), before
/// publishing it: counters, where its periods are in the DAIs' streams,
/// cursors and every LL component's state.
pub fn save_ll(
    store: &mut Store<'_>,
    pipeline: &Pipeline,
    graph: &Graph,
    staged: &Staged,
    timeline: &Timeline,
) -> bool {
    let mut writer = store.writer();
    for word in [LL_TAG, graph.periods, graph.underruns, graph.starved] {
        writer.push(word);
    }
    for word in timeline.to_words() {
        writer.push(word);
    }
    save_cursors(&mut writer, pipeline, staged);
    for (component, state) in pipeline.components.iter().zip(&graph.states) {
        if !component.is_dp() {
            save_state(&mut writer, &component.kind, state);
        }
    }
    writer.finish()
}

/// What a restored LL side continues with (besides its graph).
pub struct LlResumed {
    /// Where its periods are in the DAIs' streams.
    pub timeline: Timeline,
    /// The last period saved (already published again).
    pub staged: Staged,
}

/// Restore the LL side into `graph` (in place: a graph is large for a
/// stack) from `store`'s newest record, publishing the saved period's
/// ring indices again; or why it must start cold (`graph` fresh then).
pub fn restore_ll(
    store: &mut Store<'_>,
    pipeline: &Pipeline,
    region: &mut [u8],
    graph: &mut Graph,
) -> Result<LlResumed, Rebuild> {
    let result = read_ll(store, pipeline, region, graph);
    if result.is_err() {
        graph.reset(pipeline);
    }
    result
}

fn read_ll(
    store: &mut Store<'_>,
    pipeline: &Pipeline,
    region: &mut [u8],
    graph: &mut Graph,
) -> Result<LlResumed, Rebuild> {
    let mut reader = store.restore()?;
    reader.expect(LL_TAG)?;
    graph.periods = reader.word()?;
    graph.underruns = reader.word()?;
    graph.starved = reader.word()?;
    let mut words = [0u32; Timeline::WORDS];
    for word in &mut words {
        *word = reader.word()?;
    }
    let timeline = Timeline::from_words(words);
    let staged = restore_cursors(&mut reader, pipeline, Ends::ll(pipeline))?;
    for (component, state) in pipeline.components.iter().zip(graph.states.iter_mut()) {
        if !component.is_dp() {
            restore_state(&mut reader, &component.kind, state)?;
        }
    }
    reader.end()?;
    resume_rings(pipeline, region, &staged)?;
    Ok(LlResumed { timeline, staged })
}

/// Save DP component `index` after a block ([`Graph::dp_stage`]),
/// before publishing it: blocks done, cursors and the FIR's history.
pub fn save_dp(
    store: &mut Store<'_>,
    pipeline: &Pipeline,
    index: usize,
    graph: &Graph,
    staged: &Staged,
    blocks: u32,
) -> bool {
    let mut writer = store.writer();
    for word in [DP_TAG, index as u32, blocks] {
        writer.push(word);
    }
    save_cursors(&mut writer, pipeline, staged);
    save_state(
        &mut writer,
        &pipeline.components[index].kind,
        &graph.states[index],
    );
    writer.finish()
}

/// Restore DP component `index` into `graph` (in place) from `store`'s
/// newest record, publishing the saved block's ring indices again: the
/// blocks done so far; or why it must start cold (`graph` fresh then).
pub fn restore_dp(
    store: &mut Store<'_>,
    pipeline: &Pipeline,
    index: usize,
    region: &mut [u8],
    graph: &mut Graph,
) -> Result<u32, Rebuild> {
    let result = read_dp(store, pipeline, index, region, graph);
    if result.is_err() {
        graph.reset(pipeline);
    }
    result
}

fn read_dp(
    store: &mut Store<'_>,
    pipeline: &Pipeline,
    index: usize,
    region: &mut [u8],
    graph: &mut Graph,
) -> Result<u32, Rebuild> {
    let mut reader = store.restore()?;
    reader.expect(DP_TAG)?;
    reader.expect(index as u32)?;
    let blocks = reader.word()?;
    let staged = restore_cursors(&mut reader, pipeline, Ends::dp(pipeline, index))?;
    let component = pipeline.components.get(index).ok_or(Rebuild::Record)?;
    let state = graph.states.get_mut(index).ok_or(Rebuild::Record)?;
    restore_state(&mut reader, &component.kind, state)?;
    reader.end()?;
    resume_rings(pipeline, region, &staged)?;
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::{
        AREA_BYTES, Rebuild, Store, area, config_id, restore_dp, restore_ll, save_dp, save_ll,
    };
    use crate::config::{Kind, Pipeline};
    use crate::dai_ring::model::Dma;
    use crate::dai_ring::{Dai, Timeline};
    use crate::graph::Graph;
    use crate::q31::from_ratio;
    use crate::runner::Runner;
    use crate::testkit::{component, pipeline_of};
    use crate::{CHANNELS, DP_SCRATCH_SAMPLES, PERIOD_SAMPLES};
    use sotto_abi::dai::Direction;

    const BLOCK: u32 = 480;

    /// The default pipeline's shape: sine -> gain -> FIR (DP) -> mixer
    /// (+ a second sine) -> sink, rings of four blocks, the FIR's output
    /// prefilled with two.
    fn pipeline() -> (Pipeline, Vec<u8>) {
        let taps: heapless::Vec<i32, 64> = (1..=32).map(|k| from_ratio(k, 600)).collect();
        pipeline_of(
            BLOCK,
            &[0, 0, 2 * BLOCK * CHANNELS as u32, 0, 0],
            [
                component(
                    "source",
                    Kind::Sine {
                        frequency: 440,
                        amplitude: from_ratio(1, 2),
                    },
                    &[],
                    Some(0),
                ),
                component(
                    "gain",
                    Kind::Gain {
                        start: 0,
                        target: from_ratio(4, 5),
                        ramp_frames: 48 * 300,
                    },
                    &[0],
                    Some(1),
                ),
                component(
                    "eq",
                    Kind::Fir {
                        taps,
                        block_frames: BLOCK,
                        dp: true,
                    },
                    &[1],
                    Some(2),
                ),
                component(
                    "tone2",
                    Kind::Sine {
                        frequency: 3000,
                        amplitude: from_ratio(1, 4),
                    },
                    &[],
                    Some(3),
                ),
                component("mixer", Kind::Mixer, &[2, 3], Some(4)),
                component("dai", Kind::Sink, &[4], None),
            ],
        )
    }

    /// The uninterrupted output: `periods` periods, DP blocks as soon as
    /// they are ready (the host reference's order).
    fn reference(pipeline: &Pipeline, region: &[u8], periods: usize) -> Vec<i32> {
        let mut region = region.to_vec();
        let mut graph = Graph::new(pipeline);
        let mut scratch = vec![0i32; DP_SCRATCH_SAMPLES];
        let mut out = [0i32; PERIOD_SAMPLES];
        let mut samples = Vec::new();
        for _ in 0..periods {
            graph.ll_period(pipeline, &mut region, None, &mut out);
            samples.extend_from_slice(&out);
            while graph.dp_block(pipeline, &mut region, 2, &mut scratch) {}
        }
        samples
    }

    /// Kept areas as a service maps them (page-aligned words).
    fn kept() -> Vec<u32> {
        vec![0u32; 2 * AREA_BYTES / 4]
    }

    fn bytes(words: &mut [u32]) -> &mut [u8] {
        zerocopy::IntoBytes::as_mut_bytes(words)
    }

    /// A playback DAI of 32-bit samples (the Q1.31 samples as they are):
    /// its ring is kept across the pipeline's restarts, and its DMA runs
    /// on while the pipeline is down.
    fn playback() -> Dma {
        Dma::new(Direction::Playback, 32, 4)
    }

    /// The samples its file holds.
    fn played(dma: &Dma) -> Vec<i32> {
        dma.file
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// The runners of a pipeline with kept state: the LL side and the DP
    /// FIR, each with its graph and store, as the services run them.
    struct Runners {
        ll: Graph,
        runner: Runner,
        dp: Graph,
        blocks: u32,
        scratch: Vec<i32>,
    }

    impl Runners {
        fn cold(pipeline: &Pipeline, dma: &Dma) -> Runners {
            let dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
            Runners {
                ll: Graph::new(pipeline),
                runner: Runner::new(None, &dai, None),
                dp: Graph::new(pipeline),
                blocks: 0,
                scratch: vec![0i32; DP_SCRATCH_SAMPLES],
            }
        }

        /// `count` ticks ([`Runners::tick`]).
        fn ticks(
            &mut self,
            count: usize,
            pipeline: &Pipeline,
            region: &mut [u8],
            (ll_store, dp_store): (&mut Store<'_>, &mut Store<'_>),
            dma: &mut Dma,
        ) {
            for _ in 0..count {
                self.tick(pipeline, region, (&mut *ll_store, &mut *dp_store), dma);
            }
        }

        /// One tick: the DMA's period, then (the pipeline up) one LL run
        /// — staged, saved, published, written to the DAI, as the service
        /// runs it — and the DP blocks it made ready.
        fn tick(
            &mut self,
            pipeline: &Pipeline,
            region: &mut [u8],
            (ll_store, dp_store): (&mut Store<'_>, &mut Store<'_>),
            dma: &mut Dma,
        ) {
            dma.period();
            let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
            let ran = self.runner.run(
                pipeline,
                region,
                &mut self.ll,
                &mut dai,
                None,
                Some(ll_store),
                &mut || 0,
            );
            assert_eq!((ran.played, ran.not_kept), (1, false));
            self.blocks(pipeline, region, dp_store);
        }

        fn blocks(&mut self, pipeline: &Pipeline, region: &mut [u8], store: &mut Store<'_>) {
            while let Some(staged) = self.dp.dp_stage(pipeline, region, 2, &mut self.scratch) {
                self.blocks += 1;
                assert!(save_dp(store, pipeline, 2, &self.dp, &staged, self.blocks));
                staged.publish(pipeline, region);
            }
        }

        /// A restarted service: both runners from their stores.
        fn restored(
            pipeline: &Pipeline,
            region: &mut [u8],
            (ll_store, dp_store): (&mut Store<'_>, &mut Store<'_>),
            dma: &Dma,
        ) -> Result<Runners, Rebuild> {
            let mut runners = Runners::cold(pipeline, dma);
            let ll = restore_ll(ll_store, pipeline, region, &mut runners.ll)?;
            let dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
            runners.runner = Runner::new(Some(ll.timeline), &dai, None);
            runners.blocks = restore_dp(dp_store, pipeline, 2, region, &mut runners.dp)?;
            Ok(runners)
        }
    }

    #[test]
    fn a_restored_pipeline_continues_where_it_stopped_bit_for_bit() {
        let (pipeline, image) = pipeline();
        let expected = reference(&pipeline, &image, 400);
        let config = config_id(&pipeline.encode().unwrap());
        let mut region = image.clone();
        let mut dma = playback();
        let mut words = kept();
        let (ll_area, dp_area) = bytes(&mut words).split_at_mut(AREA_BYTES);
        {
            let mut ll_store = Store::attach(ll_area, config).unwrap();
            let mut dp_store = Store::attach(dp_area, config).unwrap();
            assert_eq!(ll_store.restore().err(), Some(Rebuild::Empty));
            let mut runners = Runners::cold(&pipeline, &dma);
            runners.ticks(
                137,
                &pipeline,
                &mut region,
                (&mut ll_store, &mut dp_store),
                &mut dma,
            );
        }
        // The service restarts: its memory is the image's, the kept areas,
        // the rings and the DAI's ring are not.
        let mut ll_store = Store::attach(ll_area, config).unwrap();
        let mut dp_store = Store::attach(dp_area, config).unwrap();
        let mut runners =
            Runners::restored(&pipeline, &mut region, (&mut ll_store, &mut dp_store), &dma)
                .unwrap();
        assert_eq!((ll_store.epoch(), dp_store.epoch()), (1, 1));
        runners.ticks(
            400 - 137,
            &pipeline,
            &mut region,
            (&mut ll_store, &mut dp_store),
            &mut dma,
        );
        dma.period();
        let played = played(&dma);
        assert_eq!(played.len(), expected.len());
        assert!(played == expected, "the restored run differs");
        assert_eq!((runners.ll.periods, runners.ll.underruns), (400, 0));
        assert_eq!(dma.xruns, 0);
    }

    #[test]
    fn after_k_missed_periods_a_restored_pipeline_plays_what_an_uninterrupted_one_plays_then() {
        let (pipeline, image) = pipeline();
        let expected = reference(&pipeline, &image, 600);
        let config = config_id(&pipeline.encode().unwrap());
        for (down_at, missed) in [(95usize, 1usize), (203, 3), (250, 9), (311, 5)] {
            let mut region = image.clone();
            let mut dma = playback();
            let mut words = kept();
            let (ll_area, dp_area) = bytes(&mut words).split_at_mut(AREA_BYTES);
            {
                let mut stores = (
                    Store::attach(ll_area, config).unwrap(),
                    Store::attach(dp_area, config).unwrap(),
                );
                let mut runners = Runners::cold(&pipeline, &dma);
                runners.ticks(
                    down_at,
                    &pipeline,
                    &mut region,
                    (&mut stores.0, &mut stores.1),
                    &mut dma,
                );
            }
            // Down: the DMA plays what was pending, then xruns.
            for _ in 0..missed {
                dma.period();
            }
            assert_eq!(dma.xruns as usize, missed - 1);
            let mut ll_store = Store::attach(ll_area, config).unwrap();
            let mut dp_store = Store::attach(dp_area, config).unwrap();
            let mut runners =
                Runners::restored(&pipeline, &mut region, (&mut ll_store, &mut dp_store), &dma)
                    .unwrap();
            // Back `missed` ticks late: those periods are silence, then
            // the reference at the same time again.
            runners.ticks(
                600 - (down_at + missed),
                &pipeline,
                &mut region,
                (&mut ll_store, &mut dp_store),
                &mut dma,
            );
            dma.period();
            let played = played(&dma);
            assert_eq!(played.len(), expected.len());
            assert_eq!(dma.xruns as usize, missed, "the DAI counted the gap");
            let gap = down_at * PERIOD_SAMPLES..(down_at + missed) * PERIOD_SAMPLES;
            assert!(played[gap.clone()].iter().all(|sample| *sample == 0));
            assert!(played[..gap.start] == expected[..gap.start]);
            assert!(
                played[gap.end..] == expected[gap.end..],
                "after {missed} missed periods at {down_at}: not the reference at the same time"
            );
            assert_ne!(expected[gap.clone()], played[gap], "the gap is audible");
            assert_eq!(runners.ll.underruns as usize, missed);
            assert_eq!(runners.ll.periods, 600);
        }
    }

    #[test]
    fn a_fault_between_saving_and_publishing_is_completed_on_restore() {
        let (pipeline, image) = pipeline();
        let expected = reference(&pipeline, &image, 100);
        let config = config_id(&pipeline.encode().unwrap());
        // (in the DP runner or the LL side, saved before the fault or not)
        for (in_dp, saved) in [(true, false), (true, true), (false, false), (false, true)] {
            let mut region = image.clone();
            let mut dma = playback();
            let mut words = kept();
            let (ll_area, dp_area) = bytes(&mut words).split_at_mut(AREA_BYTES);
            {
                let mut stores = (
                    Store::attach(ll_area, config).unwrap(),
                    Store::attach(dp_area, config).unwrap(),
                );
                let mut runners = Runners::cold(&pipeline, &dma);
                runners.ticks(
                    29,
                    &pipeline,
                    &mut region,
                    (&mut stores.0, &mut stores.1),
                    &mut dma,
                );
                dma.period();
                if in_dp {
                    // Tick 29 runs whole; then the DP block it made ready
                    // is staged (and saved)...
                    let mut dai = Dai::attach(&dma.words, Direction::Playback).unwrap();
                    runners.runner.run(
                        &pipeline,
                        &mut region,
                        &mut runners.ll,
                        &mut dai,
                        None,
                        Some(&mut stores.0),
                        &mut || 0,
                    );
                    let staged = runners
                        .dp
                        .dp_stage(&pipeline, &mut region, 2, &mut runners.scratch)
                        .expect("a block is ready");
                    if saved {
                        assert!(save_dp(
                            &mut stores.1,
                            &pipeline,
                            2,
                            &runners.dp,
                            &staged,
                            99
                        ));
                    }
                } else {
                    // Tick 29: the LL period staged (and saved)...
                    let mut out = [0i32; PERIOD_SAMPLES];
                    let staged = runners.ll.ll_stage(&pipeline, &mut region, None, &mut out);
                    if saved {
                        assert!(save_ll(
                            &mut stores.0,
                            &pipeline,
                            &runners.ll,
                            &staged,
                            &runners.runner.timeline,
                        ));
                    }
                }
                // The fault: nothing more is published or written.
            }
            let mut ll_store = Store::attach(ll_area, config).unwrap();
            let mut dp_store = Store::attach(dp_area, config).unwrap();
            let mut runners =
                Runners::restored(&pipeline, &mut region, (&mut ll_store, &mut dp_store), &dma)
                    .unwrap();
            assert_eq!(runners.blocks, if in_dp && saved { 99 } else { 2 });
            runners.ticks(
                100 - 30,
                &pipeline,
                &mut region,
                (&mut ll_store, &mut dp_store),
                &mut dma,
            );
            dma.period();
            let played = played(&dma);
            assert_eq!(played.len(), expected.len());
            if in_dp {
                assert!(played == expected, "completed or redone: nothing lost");
                assert_eq!(dma.xruns, 0);
            } else {
                // The LL period never reached the DAI (saved or not): the
                // DAI played silence for it, then the reference at the
                // same time.
                let at = 29 * PERIOD_SAMPLES;
                assert!(played[at..at + PERIOD_SAMPLES].iter().all(|s| *s == 0));
                assert!(played[..at] == expected[..at]);
                assert!(played[at + PERIOD_SAMPLES..] == expected[at + PERIOD_SAMPLES..]);
                assert_eq!(dma.xruns, 1);
            }
        }
    }

    #[test]
    fn damaged_or_foreign_state_is_rebuilt_and_says_why() {
        let (pipeline, image) = pipeline();
        let config = config_id(&pipeline.encode().unwrap());
        let mut region = image.clone();
        let mut words = kept();
        let save = |words: &mut Vec<u32>, region: &mut Vec<u8>, periods: u32| {
            let mut store = Store::attach(&mut bytes(words)[..AREA_BYTES], config).unwrap();
            let _ = store.restore();
            let mut graph = Graph::new(&pipeline);
            let mut out = [0; PERIOD_SAMPLES];
            for _ in 0..periods {
                let staged = graph.ll_stage(&pipeline, region, None, &mut out);
                assert!(save_ll(
                    &mut store,
                    &pipeline,
                    &graph,
                    &staged,
                    &Timeline::default(),
                ));
                staged.publish(&pipeline, region);
            }
        };
        let restore = |words: &mut Vec<u32>, region: &mut Vec<u8>, config: u32| {
            let mut store = Store::attach(&mut bytes(words)[..AREA_BYTES], config).unwrap();
            let mut graph = Graph::new(&pipeline);
            let result = restore_ll(&mut store, &pipeline, region, &mut graph);
            if result.is_err() {
                assert_eq!(graph.periods, 0, "a graph that failed to restore is fresh");
            }
            result.map(|_| graph.periods)
        };
        assert_eq!(
            restore(&mut words, &mut region, config).err(),
            Some(Rebuild::Empty)
        );
        save(&mut words, &mut region, 3);
        assert_eq!(restore(&mut words, &mut region, config), Ok(3));
        assert_eq!(
            restore(&mut words, &mut region, config ^ 1).err(),
            Some(Rebuild::Config)
        );
        // A restore saves the record again in the other slot: one damaged
        // slot leaves the other.
        let slots = [0, 512];
        words[20] ^= 1 << 9;
        assert_eq!(restore(&mut words, &mut region, config), Ok(3));
        words[20] ^= 1 << 9;
        words[512 + 20] ^= 1 << 9;
        assert_eq!(
            restore(&mut words, &mut region, config).err(),
            Some(Rebuild::Checksum)
        );
        let newest = |words: &Vec<u32>| {
            *slots
                .iter()
                .max_by_key(|at| {
                    if words[**at] == super::MAGIC {
                        words[**at + 2]
                    } else {
                        0
                    }
                })
                .unwrap()
        };
        for slot in slots {
            words[slot] = 0x1234;
        }
        assert_eq!(
            restore(&mut words, &mut region, config).err(),
            Some(Rebuild::Magic)
        );
        save(&mut words, &mut region, 2);
        let at = newest(&words);
        words[at + 3] = 600;
        words[512 - at] = 0;
        assert_eq!(
            restore(&mut words, &mut region, config).err(),
            Some(Rebuild::Length)
        );
        // A record for another component set.
        save(&mut words, &mut region, 2);
        let at = newest(&words);
        words[512 - at] = 0;
        let mut store = Store::attach(&mut bytes(&mut words)[..AREA_BYTES], config).unwrap();
        assert_eq!(
            restore_dp(
                &mut store,
                &pipeline,
                2,
                &mut region,
                &mut Graph::new(&pipeline)
            )
            .err(),
            Some(Rebuild::Record)
        );
        // Rings reset under the saved state (not kept).
        save(&mut words, &mut region, 4);
        let mut reset = image.clone();
        assert_eq!(
            restore(&mut words, &mut reset, config).err(),
            Some(Rebuild::Rings)
        );
        assert_eq!(restore(&mut words, &mut region, config), Ok(4));
    }

    #[test]
    fn the_epoch_counts_restores_even_without_a_save_between() {
        let (pipeline, image) = pipeline();
        let config = config_id(&pipeline.encode().unwrap());
        let mut region = image.clone();
        let mut words = kept();
        let mut store = Store::attach(&mut bytes(&mut words)[..AREA_BYTES], config).unwrap();
        let mut graph = Graph::new(&pipeline);
        let mut out = [0; PERIOD_SAMPLES];
        let staged = graph.ll_stage(&pipeline, &mut region, None, &mut out);
        assert!(save_ll(
            &mut store,
            &pipeline,
            &graph,
            &staged,
            &Timeline::default(),
        ));
        staged.publish(&pipeline, &mut region);
        assert_eq!(store.epoch(), 0);
        for epoch in 1..=5 {
            let mut store = Store::attach(&mut bytes(&mut words)[..AREA_BYTES], config).unwrap();
            let mut graph = Graph::new(&pipeline);
            let resumed =
                restore_ll(&mut store, &pipeline, &mut region, &mut graph).map(|_| graph.periods);
            assert_eq!((resumed, store.epoch()), (Ok(1), epoch));
        }
    }

    #[test]
    fn a_record_too_large_for_a_slot_is_refused_and_the_previous_stays() {
        let mut words = kept();
        let mut store = Store::attach(&mut bytes(&mut words)[..AREA_BYTES], 5).unwrap();
        let mut writer = store.writer();
        writer.push(42);
        assert!(writer.finish());
        let mut writer = store.writer();
        for word in 0..super::MAX_RECORD_WORDS as u32 + 1 {
            writer.push(word);
        }
        assert!(!writer.finish());
        let mut store = Store::attach(&mut bytes(&mut words)[..AREA_BYTES], 5).unwrap();
        let mut reader = store.restore().unwrap();
        assert_eq!(reader.word(), Ok(42));
        assert!(area(&mut [0u8; 3 * AREA_BYTES], 2).is_some());
        assert!(area(&mut [0u8; 3 * AREA_BYTES], 3).is_none());
        assert!(Store::attach(&mut [0u8; 100], 5).is_none());
    }
}
