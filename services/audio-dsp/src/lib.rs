//! Audio processing for Sotto, in fixed point (Q1.31, 48 kHz, stereo,
//! 48-frame periods): a sine source, a gain with a linear ramp, a
//! two-input mixer, a FIR equaliser, a capture source and a sink (the
//! pipeline's ends at its DAIs), a driver for the DAIs' rings
//! (`dai_ring`: the kernel's DMA model moves their periods to and from
//! host files), the
//! single-producer ring buffers components exchange samples through (in
//! shared memory regions), the pipeline description, and the DP
//! scheduler's earliest-deadline-first rule, and the state a restarted
//! pipeline or DP runner resumes from (`persist`).
//!
//! Everything is integer arithmetic with defined rounding and saturation,
//! so the services on the DSP and the host reference produce the same
//! samples, bit for bit. No `unsafe`, no allocation.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod component;
pub mod config;
pub mod dai_ring;
pub mod edf;
pub mod graph;
pub mod persist;
pub mod q31;
pub mod ring;
pub mod runner;
#[cfg(test)]
mod testkit;

/// Sample rate.
pub const RATE: u32 = 48_000;
/// Frames per LL period (1 ms).
pub const PERIOD_FRAMES: usize = 48;
/// Channels (interleaved).
pub const CHANNELS: usize = 2;
/// Samples per LL period.
pub const PERIOD_SAMPLES: usize = PERIOD_FRAMES * CHANNELS;

/// The largest DP block (frames): 40 ms.
pub const MAX_BLOCK_FRAMES: usize = 1920;

/// Scratch a DP block needs (input and output, samples): `dp_block`'s
/// `scratch` argument must be at least this long.
pub const DP_SCRATCH_SAMPLES: usize = 2 * MAX_BLOCK_FRAMES * CHANNELS;
