//! The pipeline's LL side between its DAIs: what one LL run does, for the
//! pipeline service and for the host tests that run it against a model of
//! the kernel's DMA (`dai_ring::model`).
//!
//! Each run first counts the periods the playback DAI went without since
//! the last one — its xruns, from its position against the pipeline's
//! [`Timeline`] — as underruns: the pipeline did not run in time, and the
//! DAI played silence for them. After a restore (a restarted pipeline,
//! its state kept) a sine pipeline runs those periods with their output
//! dropped, so what it plays next is what it would have played then (in
//! phase); otherwise they are late (nothing upstream ran either: the
//! output is the same, later).
//!
//! Then it runs graph periods: a pipeline without a capture component one
//! per run (none if the playback ring is full: the DAI paces it); a
//! capture pipeline one for each period the capture DAI has captured (none
//! before the first: it waits; after being late, it catches up, at most
//! [`MAX_CATCH_UP`] periods a run), as far as the playback ring has room. Period k of a capture pipeline's output
//! is always made from captured period k, so the run is deterministic
//! whatever the timing. Each period is staged, saved
//! ([`crate::persist::save_ll`], with the timeline), published, and
//! written to the playback DAI — the first one starts it, so the DAI's
//! first period is the pipeline's first.

use crate::PERIOD_SAMPLES;
use crate::config::Pipeline;
use crate::dai_ring::{Dai, Timeline};
use crate::graph::{Graph, Staged};
use crate::persist::{self, Store};
use sotto_abi::dai;

/// Frames per period.
const PERIOD: u32 = crate::PERIOD_FRAMES as u32;

/// Most graph periods a capture pipeline runs in one LL run: one more
/// than its own, so it catches up after being late a period at a time,
/// and DP components downstream (which run after the LL side) keep the
/// pace their prefilled output allows.
pub const MAX_CATCH_UP: u32 = 2;

/// What one LL run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// Periods the playback DAI went without since the last run (xruns),
    /// counted as underruns.
    pub late: u32,
    /// Whether they were run with their output dropped (after a restore).
    pub caught_up: bool,
    /// Graph periods run and written to the playback DAI.
    pub played: u32,
    /// The state did not fit its kept area (said once).
    pub not_kept: bool,
}

/// Cycles spent (from the caller's clock), for the statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Costs {
    /// Periods played.
    pub played: u32,
    /// Running the components and publishing their rings.
    pub components: u64,
    /// The most one period's components took.
    pub most: u32,
    /// Moving periods to and from the DAIs' rings.
    pub dai: u64,
    /// Saving the state.
    pub saving: u64,
}

impl Costs {
    /// Average cycles per period played of `total`.
    pub fn average(&self, total: u64) -> u64 {
        total / u64::from(self.played.max(1))
    }
}

/// The LL side's run state besides its graph.
pub struct Runner {
    /// Where its periods are in the DAIs' streams (saved with its state).
    pub timeline: Timeline,
    /// Restored: the periods missed are run with output dropped (once).
    catch_up: bool,
    /// Whether every save so far fitted.
    kept: bool,
    /// Cycles spent so far.
    pub costs: Costs,
}

impl Runner {
    /// A runner starting cold (`restored` None) or from a restored
    /// timeline: a capture DAI still running is put back where the saved
    /// period left it; a playback DAI that no longer runs (its ring not
    /// kept) starts again, without catching up.
    pub fn new(
        restored: Option<Timeline>,
        playback: &Dai<'_>,
        capture: Option<&mut Dai<'_>>,
    ) -> Runner {
        let mut timeline = restored.unwrap_or_default();
        if !playback.running() {
            timeline.base = None;
        }
        if let (Some(capture), Some(appl)) = (capture, timeline.capture)
            && capture.running()
            && !capture.resume_at(appl)
        {
            timeline.capture = None;
        }
        Runner {
            timeline,
            catch_up: restored.is_some(),
            kept: true,
            costs: Costs::default(),
        }
    }

    fn save(
        &mut self,
        store: Option<&mut Store<'_>>,
        pipeline: &Pipeline,
        graph: &Graph,
        staged: &Staged,
        ran: &mut Ran,
    ) {
        if let Some(store) = store
            && !persist::save_ll(store, pipeline, graph, staged, &self.timeline)
            && self.kept
        {
            self.kept = false;
            ran.not_kept = true;
        }
    }

    /// One LL run (see the module's documentation). `cycles` reads the
    /// cycle counter.
    #[allow(
        clippy::too_many_arguments,
        reason = "the run's inputs, each borrowed for the run only"
    )]
    pub fn run(
        &mut self,
        pipeline: &Pipeline,
        buffers: &mut [u8],
        graph: &mut Graph,
        playback: &mut Dai<'_>,
        mut capture: Option<&mut Dai<'_>>,
        mut store: Option<&mut Store<'_>>,
        cycles: &mut impl FnMut() -> u32,
    ) -> Ran {
        let mut ran = Ran::default();
        if let Some(capture) = capture.as_deref_mut()
            && !capture.running()
        {
            capture.start_capture();
        }
        if playback.running()
            && let Some(due) = self.timeline.due(playback)
        {
            let late = due.wrapping_sub(graph.periods);
            if (late as i32) < 0 {
                // Ahead of the DAI: its pending periods were dropped (a
                // position that could not be). The stream goes on from
                // where the DAI is.
                self.timeline.base = Some(playback.position().wrapping_sub(graph.periods));
            } else if late > 0 {
                ran.late = late;
                if self.catch_up && capture.is_none() {
                    ran.caught_up = true;
                    for _ in 0..late {
                        let staged = graph.ll_stage_missed(pipeline, buffers);
                        self.save(store.as_deref_mut(), pipeline, graph, &staged, &mut ran);
                        staged.publish(pipeline, buffers);
                    }
                } else {
                    graph.missed_periods(late);
                }
            }
        }
        self.catch_up = false;
        let room = playback.room();
        let todo = match capture.as_deref() {
            Some(capture) => capture.available().min(room).min(MAX_CATCH_UP),
            None => room.min(1),
        };
        let mut input = [0i32; PERIOD_SAMPLES];
        let mut out = [0i32; PERIOD_SAMPLES];
        for _ in 0..todo {
            let start = cycles();
            let captured = match capture.as_deref_mut() {
                Some(capture) => {
                    if !capture.peek_period(&mut input) {
                        break;
                    }
                    self.timeline.capture =
                        Some(dai::advance(capture.appl(), PERIOD, capture.wrap()));
                    true
                }
                None => false,
            };
            if !playback.running() || self.timeline.base.is_none() {
                self.timeline.base = Some(playback.position().wrapping_sub(graph.periods));
            }
            let read = cycles();
            let staged = graph.ll_stage(pipeline, buffers, captured.then_some(&input), &mut out);
            let computed = cycles();
            self.save(store.as_deref_mut(), pipeline, graph, &staged, &mut ran);
            let saved = cycles();
            staged.publish(pipeline, buffers);
            let published = cycles();
            if let Some(capture) = capture.as_deref_mut() {
                capture.release_period();
            }
            if playback.running() {
                playback.write_period(&out);
            } else {
                playback.start_playback(&out);
            }
            let done = cycles();
            let components = computed.wrapping_sub(read) + published.wrapping_sub(saved);
            let costs = &mut self.costs;
            costs.played += 1;
            costs.components += u64::from(components);
            costs.most = costs.most.max(components);
            costs.dai += u64::from(read.wrapping_sub(start) + done.wrapping_sub(published));
            costs.saving += u64::from(saved.wrapping_sub(computed));
            ran.played += 1;
        }
        ran
    }
}

#[cfg(test)]
mod tests {
    use super::Runner;
    use crate::config::{Kind, Pipeline};
    use crate::dai_ring::Dai;
    use crate::dai_ring::model::Dma;
    use crate::graph::Graph;
    use crate::q31::from_ratio;
    use crate::testkit::{component, pipeline_of};
    use crate::{CHANNELS, DP_SCRATCH_SAMPLES, PERIOD_SAMPLES};
    use sotto_abi::dai::{self, Direction};

    const BLOCK: u32 = 96;

    /// capture -> gain (ramping) -> FIR (DP, 2 ms blocks) -> sink.
    fn pipeline() -> (Pipeline, Vec<u8>) {
        let taps: heapless::Vec<i32, 64> = (1..=16).map(|k| from_ratio(k, 200)).collect();
        pipeline_of(
            BLOCK,
            &[0, 0, 2 * BLOCK * CHANNELS as u32],
            [
                component("in", Kind::DaiCapture, &[], Some(0)),
                component(
                    "gain",
                    Kind::Gain {
                        start: from_ratio(1, 10),
                        target: from_ratio(9, 10),
                        ramp_frames: 48 * 100,
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
                component("out", Kind::Sink, &[2], None),
            ],
        )
    }

    /// Noise-like Q1.31 input, `periods` periods.
    fn input(periods: usize) -> Vec<i32> {
        let mut x = 0x1234_5678u32;
        (0..periods * PERIOD_SAMPLES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as i32) >> 1
            })
            .collect()
    }

    /// The reference: period k of the output from input period k.
    fn reference(pipeline: &Pipeline, region: &[u8], input: &[i32], periods: usize) -> Vec<i32> {
        let mut region = region.to_vec();
        let mut graph = Graph::new(pipeline);
        let mut scratch = vec![0i32; DP_SCRATCH_SAMPLES];
        let mut out = [0i32; PERIOD_SAMPLES];
        let mut samples = Vec::new();
        for period in input.chunks_exact(PERIOD_SAMPLES).take(periods) {
            graph.ll_period(
                pipeline,
                &mut region,
                Some(period.try_into().unwrap()),
                &mut out,
            );
            samples.extend_from_slice(&out);
            while graph.dp_block(pipeline, &mut region, 2, &mut scratch) {}
        }
        samples
    }

    /// Put both DMAs' positions `ticks` periods before their rings'
    /// boundaries (2^32 is no multiple of their 384 and 192 frames), so
    /// a run crosses them.
    fn near_the_boundary(capture: &mut Dma, playback: &mut Dma, ticks: u32) {
        for dma in [capture, playback] {
            let wrap = dma.params.wrap_at();
            dma.set_position(wrap - ticks * 48);
        }
    }

    /// Run the capture pipeline for `ticks` ticks, not running it on the
    /// ticks `down` says, its DAIs' positions crossing their boundaries
    /// at tick `cross` (if any); the playback DAI's samples (32-bit) and
    /// xruns, the capture DAI's xruns, and the graph's underruns.
    fn run(
        pipeline: &Pipeline,
        image: &[u8],
        input: &[i32],
        ticks: u32,
        cross: Option<u32>,
        down: impl Fn(u32) -> bool,
    ) -> (Vec<i32>, u32, u32, u32) {
        let file = input.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut capture = Dma::capture(32, 8, file);
        let mut playback = Dma::new(Direction::Playback, 32, 4);
        if let Some(cross) = cross {
            near_the_boundary(&mut capture, &mut playback, cross);
        }
        let mut region = image.to_vec();
        let mut graph = Graph::new(pipeline);
        let mut dp = Graph::new(pipeline);
        let mut scratch = vec![0i32; DP_SCRATCH_SAMPLES];
        let mut runner = {
            let out = Dai::attach(&playback.words, Direction::Playback).unwrap();
            let mut cap = Dai::attach(&capture.words, Direction::Capture).unwrap();
            Runner::new(None, &out, Some(&mut cap))
        };
        for tick in 0..ticks {
            capture.period();
            playback.period();
            if down(tick) {
                continue;
            }
            let mut out = Dai::attach(&playback.words, Direction::Playback).unwrap();
            let mut cap = Dai::attach(&capture.words, Direction::Capture).unwrap();
            runner.run(
                pipeline,
                &mut region,
                &mut graph,
                &mut out,
                Some(&mut cap),
                None,
                &mut || 0,
            );
            while dp.dp_block(pipeline, &mut region, 2, &mut scratch) {}
        }
        let samples = playback
            .file
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (samples, playback.xruns, capture.xruns, graph.underruns)
    }

    #[test]
    fn a_capture_pipeline_on_time_plays_the_reference_from_its_first_period() {
        let (pipeline, image) = pipeline();
        let input = input(300);
        let expected = reference(&pipeline, &image, &input, 299);
        // Also with the DAIs' positions crossing their boundaries (a
        // DSP that ran for a day): the output goes on bit-exact.
        for cross in [None, Some(100)] {
            let (played, xruns, lost, underruns) =
                run(&pipeline, &image, &input, 301, cross, |_| false);
            // Tick 0 starts capture; tick 1 has the first period, played
            // at tick 2: 299 periods played by tick 300.
            assert_eq!(played.len(), 299 * PERIOD_SAMPLES, "{cross:?}");
            assert_eq!((xruns, lost, underruns), (0, 0, 0), "{cross:?}");
            assert!(played == expected, "{cross:?}: not the reference");
            assert!(played.iter().any(|s| *s != 0));
        }
    }

    #[test]
    fn a_late_capture_pipeline_catches_up_and_plays_each_input_period_in_order() {
        let (pipeline, image) = pipeline();
        let input = input(300);
        let expected = reference(&pipeline, &image, &input, 300);
        for (from, late, cross) in [
            (50u32, 3u32, None),
            (120, 1, None),
            (77, 7, None),
            (77, 7, Some(80)),
        ] {
            let (played, xruns, lost, underruns) =
                run(&pipeline, &image, &input, 301, cross, |tick| {
                    (from..from + late).contains(&tick)
                });
            // The DAI played silence while the pipeline did not run; then
            // it goes on with the next input period, nothing lost (the
            // capture ring holds 8 periods).
            assert_eq!((xruns, lost, underruns), (late, 0, late), "{from} {late}");
            let gap = (from as usize - 1) * PERIOD_SAMPLES;
            let shift = late as usize * PERIOD_SAMPLES;
            assert!(played[..gap] == expected[..gap]);
            assert!(played[gap..gap + shift].iter().all(|s| *s == 0));
            assert!(
                played[gap + shift..] == expected[gap..played.len() - shift],
                "after {late} late ticks at {from}: not the reference, delayed"
            );
        }
    }

    /// A capture pipeline restarted with its state kept: the restored
    /// runner reads on from the period after the last one it saved (the
    /// capture DAI's position restored), so the output is the reference,
    /// delayed by the periods it was down, with nothing lost or repeated.
    #[test]
    fn a_restarted_capture_pipeline_goes_on_with_the_next_input_period() {
        use crate::persist::{AREA_BYTES, Store, config_id, restore_ll, save_ll};
        let (pipeline, image) = pipeline();
        let input = input(300);
        let expected = reference(&pipeline, &image, &input, 300);
        let config = config_id(&pipeline.encode().unwrap());
        let file = input.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut capture = Dma::capture(32, 8, file);
        let mut playback = Dma::new(Direction::Playback, 32, 4);
        // The DAIs' positions cross their boundaries while it is down.
        near_the_boundary(&mut capture, &mut playback, 122);
        let mut region = image.clone();
        let mut words = vec![0u32; AREA_BYTES / 4];
        let mut dp = Graph::new(&pipeline);
        let mut scratch = vec![0i32; DP_SCRATCH_SAMPLES];
        let (down_at, down) = (120u32, 5u32);
        let mut graph = Graph::new(&pipeline);
        let mut runner = {
            let out = Dai::attach(&playback.words, Direction::Playback).unwrap();
            let mut cap = Dai::attach(&capture.words, Direction::Capture).unwrap();
            Runner::new(None, &out, Some(&mut cap))
        };
        for tick in 0..301 {
            capture.period();
            playback.period();
            if (down_at..down_at + down).contains(&tick) {
                continue;
            }
            let mut store = Store::attach_words(&mut words, config).expect("an area of kept words");
            if tick == down_at + down {
                // The restarted service: a fresh graph, the kept state.
                graph = Graph::new(&pipeline);
                let resumed = restore_ll(&mut store, &pipeline, &mut region, &mut graph).unwrap();
                let out = Dai::attach(&playback.words, Direction::Playback).unwrap();
                let mut cap = Dai::attach(&capture.words, Direction::Capture).unwrap();
                runner = Runner::new(Some(resumed.timeline), &out, Some(&mut cap));
            }
            let mut out = Dai::attach(&playback.words, Direction::Playback).unwrap();
            let mut cap = Dai::attach(&capture.words, Direction::Capture).unwrap();
            if tick == down_at - 1 {
                // The fault: this period is staged and saved, then the
                // service stops before publishing it or giving the DAIs
                // anything (the capture slot not released).
                let mut captured = [0i32; PERIOD_SAMPLES];
                assert!(cap.peek_period(&mut captured));
                runner.timeline.capture = Some(dai::advance(cap.appl(), 48, cap.wrap()));
                let mut sink = [0i32; PERIOD_SAMPLES];
                let staged = graph.ll_stage(&pipeline, &mut region, Some(&captured), &mut sink);
                assert!(save_ll(
                    &mut store,
                    &pipeline,
                    &graph,
                    &staged,
                    &runner.timeline
                ));
                continue;
            }
            runner.run(
                &pipeline,
                &mut region,
                &mut graph,
                &mut out,
                Some(&mut cap),
                Some(&mut store),
                &mut || 0,
            );
            while dp.dp_block(&pipeline, &mut region, 2, &mut scratch) {}
        }
        let played: Vec<i32> = playback
            .file
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(capture.xruns, 0, "nothing lost");
        // Output period k is made at tick k + 1 and played at tick k + 2.
        // Period 118, saved at tick 119, never reached the DAI: it played
        // silence from then (tick 120) until the restored runner wrote
        // again (5 ticks down, and the DMA comes first in a tick), and the
        // runner went on with input period 119 — nothing repeated, and
        // only the period cut short missing from the output.
        let gap = (down_at as usize - 2) * PERIOD_SAMPLES;
        let silent = playback.xruns as usize * PERIOD_SAMPLES;
        assert_eq!(playback.xruns, down + 1);
        assert!(played[..gap] == expected[..gap]);
        assert!(played[gap..gap + silent].iter().all(|s| *s == 0));
        let next = gap + PERIOD_SAMPLES;
        assert!(
            played[gap + silent..] == expected[next..played.len() - silent + PERIOD_SAMPLES],
            "not the reference from input period 119, delayed"
        );
    }

    #[test]
    fn input_lost_to_a_capture_xrun_is_counted_by_the_dai() {
        let (pipeline, image) = pipeline();
        let input = input(300);
        // 12 ticks down: the 8-period capture ring overflows.
        let (_, xruns, lost, underruns) = run(&pipeline, &image, &input, 301, None, |tick| {
            (100..112).contains(&tick)
        });
        assert_eq!((xruns, underruns), (12, 12));
        // The capture DMA ran 13 periods (ticks 100..=112: the DMA comes
        // before the pipeline in a tick) since the last read; 8 waited in
        // the ring, 5 were dropped.
        assert_eq!(lost, 5);
    }
}
