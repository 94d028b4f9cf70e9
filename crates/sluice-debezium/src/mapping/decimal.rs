//! Exact decimal arithmetic with `java.math.BigDecimal`'s observable behaviour: scale changes,
//! `stripTrailingZeros`, `toPlainString`, `doubleValue`, and `unscaledValue().toByteArray()`
//! (the minimal big-endian two's-complement bytes Kafka Connect's `Decimal` and Debezium's
//! `VariableScaleDecimal` carry).

use sluice_core::Decimal;

/// A decimal number: `(-1)^negative × digits × 10^-scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BigDec {
    negative: bool,
    /// Magnitude digits, ASCII, without leading zeros ("0" for zero).
    digits: String,
    scale: i32,
}

impl BigDec {
    /// From sluice's exact decimal (scale as written).
    pub(crate) fn from_decimal(d: &Decimal) -> Self {
        let scale = i32::try_from(d.scale()).unwrap_or(i32::MAX);
        BigDec::new(d.is_negative(), &d.unscaled_digits(), scale)
    }

    fn new(negative: bool, digits: &str, scale: i32) -> Self {
        let trimmed = digits.trim_start_matches('0');
        let digits = if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() };
        let negative = negative && digits != "0";
        BigDec { negative, digits, scale }
    }

    /// Zero at `scale`.
    pub(crate) fn zero(scale: i32) -> Self {
        BigDec::new(false, "0", scale)
    }

    /// `new BigDecimal(String)`: optional sign, digits with an optional point, optional exponent.
    pub(crate) fn parse_java(text: &str) -> Option<Self> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let exp: i64 = match exponent {
            Some(e) => {
                let e = e.strip_prefix('+').unwrap_or(e);
                if e.is_empty() || e.starts_with('+') {
                    return None;
                }
                e.parse().ok()?
            }
            None => 0,
        };
        let scale = i64::try_from(frac.len()).ok()?.checked_sub(exp)?;
        // PostgreSQL's numeric has at most 131072 digits before and 16383 after the point; a
        // literal far outside that (a default like '1e-2000000000') is not a number to render.
        if !(-(1 << 18)..=(1 << 18)).contains(&scale) {
            return None;
        }
        let scale = i32::try_from(scale).ok()?;
        Some(BigDec::new(negative, &format!("{int}{frac}"), scale))
    }

    /// The scale.
    pub(crate) fn scale(&self) -> i32 {
        self.scale
    }

    /// `setScale(scale)` without rounding: `None` when digits would be lost (Java throws).
    pub(crate) fn with_scale_exact(&self, scale: i32) -> Option<Self> {
        if scale >= self.scale {
            let extra = usize::try_from(i64::from(scale) - i64::from(self.scale)).ok()?;
            if extra > 1_000_000 {
                return None;
            }
            if self.digits == "0" {
                return Some(BigDec::zero(scale));
            }
            return Some(BigDec::new(self.negative, &format!("{}{}", self.digits, "0".repeat(extra)), scale));
        }
        let drop = usize::try_from(i64::from(self.scale) - i64::from(scale)).ok()?;
        if self.digits == "0" {
            return Some(BigDec::zero(scale));
        }
        if drop >= self.digits.len() {
            return None;
        }
        let (keep, dropped) = self.digits.split_at(self.digits.len() - drop);
        dropped.bytes().all(|b| b == b'0').then(|| BigDec::new(self.negative, keep, scale))
    }

    /// `setScale(scale, RoundingMode.HALF_UP)`.
    pub(crate) fn with_scale_half_up(&self, scale: i32) -> Self {
        if let Some(exact) = self.with_scale_exact(scale) {
            return exact;
        }
        let drop = usize::try_from(i64::from(self.scale) - i64::from(scale)).unwrap_or(usize::MAX);
        if drop > self.digits.len() {
            return BigDec::zero(scale);
        }
        let (keep, dropped) = self.digits.split_at(self.digits.len() - drop);
        let round_up = dropped.as_bytes().first().is_some_and(|&b| b >= b'5');
        let mut kept: Vec<u8> = if keep.is_empty() { vec![b'0'] } else { keep.as_bytes().to_vec() };
        if round_up {
            let mut i = kept.len();
            loop {
                if i == 0 {
                    kept.insert(0, b'1');
                    break;
                }
                i -= 1;
                if kept[i] == b'9' {
                    kept[i] = b'0';
                } else {
                    kept[i] += 1;
                    break;
                }
            }
        }
        BigDec::new(self.negative, &String::from_utf8_lossy(&kept), scale)
    }

    /// `stripTrailingZeros()`: zero becomes `0` with scale 0 (Java 8+).
    pub(crate) fn strip_trailing_zeros(&self) -> Self {
        if self.digits == "0" {
            return BigDec::zero(0);
        }
        let trimmed = self.digits.trim_end_matches('0');
        let removed = i32::try_from(self.digits.len() - trimmed.len()).unwrap_or(0);
        BigDec::new(self.negative, trimmed, self.scale.saturating_sub(removed))
    }

    /// `toPlainString()`.
    pub(crate) fn to_plain_string(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        if self.scale <= 0 {
            if self.digits == "0" {
                return "0".to_owned();
            }
            let zeros = usize::try_from(-i64::from(self.scale)).unwrap_or(0);
            return format!("{sign}{}{}", self.digits, "0".repeat(zeros));
        }
        let scale = usize::try_from(self.scale).unwrap_or(0);
        let digits = if self.digits.len() <= scale {
            format!("{}{}", "0".repeat(scale + 1 - self.digits.len()), self.digits)
        } else {
            self.digits.clone()
        };
        let (int, frac) = digits.split_at(digits.len() - scale);
        format!("{sign}{int}.{frac}")
    }

    /// `doubleValue()` (correctly rounded).
    pub(crate) fn to_f64(&self) -> f64 {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}e{}", self.digits, -i64::from(self.scale)).parse().unwrap_or(f64::NAN)
    }

    /// `unscaledValue().toByteArray()`: minimal big-endian two's complement.
    pub(crate) fn unscaled_bytes(&self) -> Vec<u8> {
        twos_complement(self.negative, &magnitude_bytes(&self.digits))
    }
}

/// Big-endian base-256 magnitude of a decimal digit string (empty for zero).
fn magnitude_bytes(digits: &str) -> Vec<u8> {
    // Little-endian base-2^32 limbs, fed nine decimal digits at a time.
    let mut limbs: Vec<u32> = Vec::new();
    let bytes = digits.as_bytes();
    let head = bytes.len() % 9;
    let mut chunks: Vec<&[u8]> = Vec::new();
    if head > 0 {
        chunks.push(&bytes[..head]);
    }
    chunks.extend(bytes[head..].chunks(9));
    for chunk in chunks {
        let mut value: u64 = 0;
        let mut multiplier: u64 = 1;
        for &b in chunk {
            value = value * 10 + u64::from(b.wrapping_sub(b'0') % 10);
            multiplier *= 10;
        }
        let mut carry = value;
        for limb in limbs.iter_mut() {
            let product = u64::from(*limb) * multiplier + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        while carry > 0 {
            limbs.push(carry as u32);
            carry >>= 32;
        }
    }
    let mut out: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    let first = out.iter().position(|&b| b != 0).unwrap_or(out.len());
    out.drain(..first);
    out
}

/// The unscaled value of `d` at exactly `scale`, as [`BigDec::with_scale_exact`] followed by
/// [`BigDec::unscaled_bytes`] gives it, computed in an `i128` without the digit strings: the
/// common case of every fixed-scale `numeric(p,s)` value, once per row. `None` when the value is
/// not representable that way (more than 36 digits, or non-zero digits beyond `scale`); the
/// caller then takes the general path, which decides those cases.
pub(crate) fn unscaled_bytes_at_scale(d: &Decimal, scale: i32) -> Option<Vec<u8>> {
    let text = d.as_str();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let target = usize::try_from(scale).ok()?;
    // Digits past the target scale must be zeros (an exact rescale), and are not accumulated.
    let (kept_frac, dropped) = frac.split_at(frac.len().min(target));
    if !dropped.bytes().all(|b| b == b'0') || int.len() + target > 36 {
        return None;
    }
    let mut unscaled: i128 = 0;
    for b in int.bytes().chain(kept_frac.bytes()) {
        unscaled = unscaled * 10 + i128::from(b.checked_sub(b'0').filter(|v| *v < 10)?);
    }
    for _ in kept_frac.len()..target {
        unscaled *= 10;
    }
    if negative {
        unscaled = -unscaled;
    }
    Some(crate::avro::minimal_decimal(&unscaled.to_be_bytes()).to_vec())
}

fn twos_complement(negative: bool, magnitude: &[u8]) -> Vec<u8> {
    if magnitude.is_empty() {
        return vec![0];
    }
    let mut out = Vec::with_capacity(magnitude.len() + 1);
    out.push(0);
    out.extend_from_slice(magnitude);
    if negative {
        for b in out.iter_mut() {
            *b = !*b;
        }
        for b in out.iter_mut().rev() {
            let (v, overflow) = b.overflowing_add(1);
            *b = v;
            if !overflow {
                break;
            }
        }
        while out.len() > 1 && out[0] == 0xFF && out[1] & 0x80 != 0 {
            out.remove(0);
        }
    } else {
        while out.len() > 1 && out[0] == 0 && out[1] & 0x80 == 0 {
            out.remove(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> BigDec {
        BigDec::parse_java(s).unwrap()
    }

    #[test]
    fn the_i128_path_agrees_with_the_digit_path() {
        let mut texts: Vec<String> = [
            "0",
            "-0.00",
            "12.345",
            "128",
            "-128",
            "-1",
            "-256",
            "-129",
            "0.5",
            "-0.005",
            "99999999.99",
            "170141183460469231731687303715884105727",
            "123456789012345678901234567890.123456",
            "-123456789012345678901234567890.12345",
            "7.000",
            "7.001",
            "1e5",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 10_u64.pow((x >> 60) as u32 % 19);
            let frac = (x >> 20) % 10_000;
            let sign = if x & 1 == 1 { "-" } else { "" };
            texts.push(format!("{sign}{int}.{frac:0width$}", width = ((x >> 40) % 5) as usize));
        }
        for text in &texts {
            let Ok(d) = Decimal::parse(text) else { continue };
            for scale in 0..8 {
                let general = BigDec::from_decimal(&d).with_scale_exact(scale).map(|b| b.unscaled_bytes());
                if let Some(fast) = unscaled_bytes_at_scale(&d, scale) {
                    assert_eq!(Some(fast), general, "{text} at scale {scale}");
                } else {
                    assert!(general.is_none() || d.as_str().len() > 30, "{text} at scale {scale} fell back");
                }
            }
        }
    }

    #[test]
    fn unscaled_bytes_are_minimal_twos_complement() {
        assert_eq!(dec("12.345").unscaled_bytes(), vec![0x30, 0x39]);
        assert_eq!(dec("0").unscaled_bytes(), vec![0]);
        assert_eq!(dec("128").unscaled_bytes(), vec![0, 0x80]);
        assert_eq!(dec("-128").unscaled_bytes(), vec![0x80]);
        assert_eq!(dec("-1").unscaled_bytes(), vec![0xFF]);
        assert_eq!(dec("-256").unscaled_bytes(), vec![0xFF, 0x00]);
        assert_eq!(dec("-129").unscaled_bytes(), vec![0xFF, 0x7F]);
        assert_eq!(dec("18446744073709551616").unscaled_bytes(), vec![1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            dec("1234567890123456789").unscaled_bytes(),
            1234567890123456789i64.to_be_bytes().to_vec()
        );
    }

    #[test]
    fn scale_changes_follow_big_decimal() {
        assert_eq!(dec("1.1").with_scale_exact(2).unwrap().to_plain_string(), "1.10");
        assert_eq!(dec("1.15").with_scale_exact(1), None);
        assert_eq!(dec("1.15").with_scale_half_up(1).to_plain_string(), "1.2");
        assert_eq!(dec("-1.15").with_scale_half_up(1).to_plain_string(), "-1.2");
        assert_eq!(dec("9.995").with_scale_half_up(2).to_plain_string(), "10.00");
        assert_eq!(dec("0.004").with_scale_half_up(2).to_plain_string(), "0.00");
        assert_eq!(dec("10.11110").strip_trailing_zeros().to_plain_string(), "10.1111");
        assert_eq!(dec("100").strip_trailing_zeros().scale(), -2);
        assert_eq!(dec("0.000").strip_trailing_zeros().scale(), 0);
        assert_eq!(dec("1e5").to_plain_string(), "100000");
        assert_eq!(dec("-0.5").to_f64(), -0.5);
        assert_eq!(dec(".5").to_plain_string(), "0.5");
        assert!(BigDecimalRejects::all());
    }

    struct BigDecimalRejects;
    impl BigDecimalRejects {
        fn all() -> bool {
            ["", "-", ".", "1e", "abc", "1.2.3", "1e+"].iter().all(|s| BigDec::parse_java(s).is_none())
        }
    }
}
