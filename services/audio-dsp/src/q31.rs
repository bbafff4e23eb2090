//! Q1.31 fixed point: a sample or a coefficient is an `i32` holding a value
//! in [-1, 1). Products are rounded to nearest and saturated.

/// 1.0 is not representable; this is the largest value, 1 - 2^-31.
pub const ONE: i32 = i32::MAX;

/// Saturate a 64-bit intermediate to Q1.31.
pub const fn saturate(value: i64) -> i32 {
    if value > i32::MAX as i64 {
        i32::MAX
    } else if value < i32::MIN as i64 {
        i32::MIN
    } else {
        value as i32
    }
}

/// `a * b` in Q1.31, rounded to nearest, saturated (only -1 * -1 saturates).
pub const fn mul(a: i32, b: i32) -> i32 {
    saturate((wide_mul(a, b) + (1 << 30)) >> 31)
}

/// The exact 64-bit product of two `i32`s from four 32-bit multiplies of
/// their 16-bit halves. The dc233c has no 32x32->64 multiply (no MULSH):
/// `i64 * i64` is a library call of ~70 instructions, this is ~20.
pub const fn wide_mul(a: i32, b: i32) -> i64 {
    let (a_high, a_low) = (a >> 16, a & 0xFFFF);
    let (b_high, b_low) = (b >> 16, b & 0xFFFF);
    // |high| <= 2^15 and low < 2^16: each product fits in 32 bits.
    let high = (a_high * b_high) as i64;
    let middle = (a_high * b_low) as i64 + (a_low * b_high) as i64;
    let low = (a_low as u32 * b_low as u32) as i64;
    (high << 32) + (middle << 16) + low
}

/// `a + b`, saturated.
pub const fn add(a: i32, b: i32) -> i32 {
    a.saturating_add(b)
}

/// A Q1.31 value from a fraction `numerator / denominator` (|value| < 1).
pub const fn from_ratio(numerator: i64, denominator: i64) -> i32 {
    saturate((numerator << 31) / denominator)
}

/// Q1.31 to 16-bit PCM, rounded, saturated.
pub const fn to_i16(value: i32) -> i16 {
    let rounded = ((value as i64) + (1 << 15)) >> 16;
    if rounded > i16::MAX as i64 {
        i16::MAX
    } else if rounded < i16::MIN as i64 {
        i16::MIN
    } else {
        rounded as i16
    }
}

/// Q1.31 to 24-bit PCM (as an `i32` in -2^23..2^23), rounded and
/// saturated as [`to_i16`] does.
pub const fn to_i24(value: i32) -> i32 {
    let rounded = ((value as i64) + (1 << 7)) >> 8;
    if rounded > (1 << 23) - 1 {
        (1 << 23) - 1
    } else {
        rounded as i32
    }
}

/// Quarter-wave sine table: `sin(pi/2 * i / 256)` in Q1.31, i in 0..=256,
/// computed at build time with integer arithmetic (Taylor series to x^11).
pub const QUARTER_SINE: [i32; 257] = quarter_sine();

const fn quarter_sine() -> [i32; 257] {
    let mut table = [0i32; 257];
    // x in Q2.62 fixed point: x = (pi/2) * i / 256.
    const PI_HALF_Q62: i128 = 7_244_019_458_077_122_842; // (pi/2) * 2^62
    let mut i = 0;
    while i <= 256 {
        let x = PI_HALF_Q62 * i as i128 / 256;
        let x2 = (x * x) >> 62;
        // sin x = x - x^3/3! + x^5/5! - ... (Horner, in Q62).
        let mut term = x;
        let mut sum = x;
        let mut n = 1;
        while n <= 6 {
            term = -((term * x2) >> 62) / ((2 * n) * (2 * n + 1)) as i128;
            sum += term;
            n += 1;
        }
        let q31 = (sum + (1 << 30)) >> 31;
        table[i] = if q31 > i32::MAX as i128 {
            i32::MAX
        } else {
            q31 as i32
        };
        i += 1;
    }
    table
}

/// `sin(2 pi phase / 2^32)` in Q1.31: table lookup with linear
/// interpolation between entries.
pub fn sine(phase: u32) -> i32 {
    let quadrant = phase >> 30;
    let within = phase & 0x3FFF_FFFF;
    // Mirror the second and fourth quadrants.
    let position = if quadrant & 1 == 1 {
        0x4000_0000 - within
    } else {
        within
    };
    let index = (position >> 22) as usize;
    let fraction = (position & 0x3F_FFFF) as i32;
    let (low, high) = (QUARTER_SINE[index], QUARTER_SINE[(index + 1).min(256)]);
    // Neighbours differ by less than 2^25: the difference fits in an i32.
    let value = saturate(i64::from(low) + (wide_mul(high - low, fraction) >> 22));
    if quadrant >= 2 {
        value.saturating_neg()
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::{QUARTER_SINE, add, from_ratio, mul, saturate, sine, to_i16, wide_mul};

    #[test]
    fn wide_mul_is_the_exact_product() {
        let mut state = 0x9E37_79B9u32;
        let mut values = vec![0, 1, -1, 0xFFFF, 0x10000, -0x10000, i32::MAX, i32::MIN];
        values.extend((0..300).map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state as i32
        }));
        for a in &values {
            for b in &values {
                assert_eq!(wide_mul(*a, *b), i64::from(*a) * i64::from(*b), "{a} * {b}");
            }
        }
    }

    #[test]
    fn narrowing_rounds_to_nearest_and_saturates() {
        use super::to_i24;
        assert_eq!(to_i16(0x0001_8000), 2);
        assert_eq!(to_i16(0x0001_7FFF), 1);
        assert_eq!(to_i16(i32::MAX), i16::MAX);
        assert_eq!(to_i16(i32::MIN), i16::MIN);
        assert_eq!(to_i24(0x180), 2);
        assert_eq!(to_i24(0x17F), 1);
        assert_eq!(to_i24(-0x181), -2);
        assert_eq!(to_i24(i32::MAX), (1 << 23) - 1, "rounding up saturates");
        assert_eq!(to_i24(i32::MIN), -(1 << 23));
    }

    #[test]
    fn arithmetic_rounds_and_saturates() {
        let half = from_ratio(1, 2);
        assert_eq!(half, 1 << 30);
        assert_eq!(mul(half, half), 1 << 29);
        assert_eq!(mul(i32::MIN, i32::MIN), i32::MAX, "-1 * -1 saturates");
        assert_eq!(add(i32::MAX, 1), i32::MAX);
        assert_eq!(add(i32::MIN, -1), i32::MIN);
        assert_eq!(saturate(i64::MAX), i32::MAX);
        assert_eq!(to_i16(i32::MAX), i16::MAX);
        assert_eq!(to_i16(i32::MIN), i16::MIN);
        assert_eq!(to_i16(1 << 15), 1);
    }

    #[test]
    fn the_sine_table_is_accurate() {
        assert_eq!(QUARTER_SINE[0], 0);
        assert!(QUARTER_SINE[256] >= i32::MAX - 2);
        for (i, value) in QUARTER_SINE.iter().enumerate() {
            let exact = (core::f64::consts::FRAC_PI_2 * i as f64 / 256.0).sin() * 2f64.powi(31);
            assert!(
                (f64::from(*value) - exact).abs() <= 2.0,
                "entry {i}: {value} vs {exact}"
            );
        }
    }

    #[test]
    fn sine_covers_all_quadrants() {
        let at = |turns: f64| sine((turns * 4_294_967_296.0) as u64 as u32);
        let close =
            |value: i32, expected: f64| (f64::from(value) / 2f64.powi(31) - expected).abs() < 1e-4;
        assert!(close(at(0.0), 0.0));
        assert!(close(at(0.25), 1.0));
        assert!(close(at(0.5), 0.0));
        assert!(close(at(0.75), -1.0));
        assert!(close(at(0.125), (core::f64::consts::PI / 4.0).sin()));
        assert!(close(at(0.625), -(core::f64::consts::PI / 4.0).sin()));
    }
}
