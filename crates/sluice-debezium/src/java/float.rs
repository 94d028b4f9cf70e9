//! Java's `Double.toString` and `Float.toString`, as JDK 17 prints them.
//!
//! Debezium's output carries Java-formatted numbers (JsonConverter's doubles, geometric text forms,
//! interval seconds). The oracle runs JDK 17, whose `FloatingDecimal` does not always print the
//! shortest decimal (JDK 19+ does), so this reproduces JDK 17's digit generation.

pub(crate) fn java_non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Java's `Double.toString(v)`.
pub(crate) fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return java_non_finite(v).to_owned();
    }
    let bits = v.to_bits();
    let (exp_field, fraction) = (((bits >> 52) & 0x7ff) as i32, bits & SIGNIFICAND_MASK);
    let (fract, bin_exp, significant_bits) = if exp_field == 0 {
        if fraction == 0 {
            return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
        }
        let shift = fraction.leading_zeros() as i32 - 11;
        (fraction << shift, 1 - shift, 64 - fraction.leading_zeros() as i32)
    } else {
        (fraction | HIDDEN_BIT, exp_field, 53)
    };
    java_layout(v.is_sign_negative(), legacy_dtoa(bin_exp - 1023, fract, significant_bits), || {
        format!("{v:e}")
    })
}

/// Java's `Float.toString(v)`.
pub(crate) fn java_float(v: f32) -> String {
    if !v.is_finite() {
        return java_non_finite(f64::from(v)).to_owned();
    }
    let bits = v.to_bits();
    let (exp_field, fraction) = (((bits >> 23) & 0xff) as i32, bits & 0x007f_ffff);
    let (fract, bin_exp, significant_bits) = if exp_field == 0 {
        if fraction == 0 {
            return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
        }
        let shift = fraction.leading_zeros() as i32 - 8;
        (fraction << shift, 1 - shift, 32 - fraction.leading_zeros() as i32)
    } else {
        (fraction | 0x0080_0000, exp_field, 24)
    };
    let decimal = legacy_dtoa(bin_exp - 127, u64::from(fract) << 29, significant_bits);
    java_layout(v.is_sign_negative(), decimal, || format!("{v:e}"))
}

const SIGNIFICAND_MASK: u64 = 0x000f_ffff_ffff_ffff;
const HIDDEN_BIT: u64 = 1 << 52;

/// Decimal digits `0.d₁d₂… × 10^point`, as the JDK's decimal conversion leaves them (possibly
/// with trailing zeros, which Java prints).
#[derive(Debug, PartialEq)]
struct JavaDecimal {
    digits: Vec<u8>,
    point: i32,
}

/// The digit generation of the JDK's `FloatingDecimal` (Java 17 and earlier, which the oracle
/// runs; Java 19+ prints the shortest decimal instead and differs on a fraction of values): an
/// exact integer shortcut for whole numbers below 2⁶³, otherwise Steele & White's free-format
/// digit loop with a symmetric half-ulp stopping test, its fixed-width (`int`/`long`) variants
/// included, since their comparisons and overflow differ from the arbitrary-precision one.
/// `fract` holds the significant bits with the leading one at bit 52; `None` where the JDK would
/// hit one of its internal assertions.
fn legacy_dtoa(bin_exp: i32, fract: u64, significant_bits: i32) -> Option<JavaDecimal> {
    let tail_zeros = fract.trailing_zeros() as i32;
    let fract_bits = 53 - tail_zeros;
    let tiny_bits = (fract_bits - bin_exp - 1).max(0);
    if (-21..=62).contains(&bin_exp) && tiny_bits == 0 {
        let insignificant =
            if bin_exp > significant_bits { insignificant_digits(bin_exp - significant_bits - 1) } else { 0 };
        let value = if bin_exp >= 52 { fract << (bin_exp - 52) } else { fract >> (52 - bin_exp) };
        return Some(whole_number_digits(value, insignificant));
    }

    let mut dec_exp = estimate_dec_exp(fract, bin_exp);
    let b5 = (-dec_exp).max(0);
    let mut b2 = b5 + tiny_bits + bin_exp;
    let s5 = dec_exp.max(0);
    let mut s2 = s5 + tiny_bits;
    let m5 = b5;
    let mut m2 = b2 - significant_bits;
    let fract = fract >> tail_zeros;
    b2 -= fract_bits - 1;
    let common = b2.min(s2);
    b2 -= common;
    s2 -= common;
    m2 -= common;
    if fract_bits == 1 {
        m2 -= 1;
    }
    if m2 < 0 {
        b2 -= m2;
        s2 -= m2;
        m2 = 0;
    }
    let b_bits = fract_bits + b2 + pow5_bits(b5);
    let ten_s_bits = s2 + 1 + pow5_bits(s5 + 1);

    let mut digits = Vec::with_capacity(20);
    let (low, high, low_digit_difference);
    if b_bits < 64 && ten_s_bits < 64 {
        // The JDK's fixed-width loops, with Java's wrapping arithmetic.
        macro_rules! fixed_width_loop {
            ($t:ty) => {{
                let pow5 = |n: i32| -> $t { (5 as $t).wrapping_pow(n as u32) };
                let mut b: $t = (fract as $t).wrapping_mul(pow5(b5)).wrapping_shl(b2 as u32);
                let s: $t = pow5(s5).wrapping_shl(s2 as u32);
                let mut m: $t = pow5(m5).wrapping_shl(m2 as u32);
                let tens = s.wrapping_mul(10);
                if s <= 0 {
                    return None;
                }
                let mut q = b / s;
                b = (b % s).wrapping_mul(10);
                m = m.wrapping_mul(10);
                let mut lo = b < m;
                let mut hi = b.wrapping_add(m) > tens;
                if q == 0 && !hi {
                    dec_exp -= 1;
                } else {
                    digits.push(digit(i64::from(q))?);
                }
                if !(-3..8).contains(&dec_exp) {
                    lo = false;
                    hi = false;
                }
                while !lo && !hi {
                    q = b / s;
                    b = (b % s).wrapping_mul(10);
                    m = m.wrapping_mul(10);
                    if m > 0 {
                        lo = b < m;
                        hi = b.wrapping_add(m) > tens;
                    } else {
                        lo = true;
                        hi = true;
                    }
                    digits.push(digit(i64::from(q))?);
                }
                (lo, hi, i64::from(b.wrapping_shl(1).wrapping_sub(tens)).signum())
            }};
        }
        (low, high, low_digit_difference) =
            if b_bits < 32 && ten_s_bits < 32 { fixed_width_loop!(i32) } else { fixed_width_loop!(i64) };
    } else {
        let s = Big::pow5_pow2(s5, s2);
        let ten_s = Big::pow5_pow2(s5 + 1, s2 + 1);
        let mut b = Big::from_u64(fract);
        b.mul_pow5(b5);
        b.shl(b2);
        let mut m = Big::pow5_pow2(m5 + 1, m2 + 1);
        let q = b.quo_rem_times_ten(&s)?;
        let mut lo = b < m;
        let mut hi = b.sum_cmp(&m, &ten_s).is_ge();
        if q == 0 && !hi {
            dec_exp -= 1;
        } else {
            digits.push(digit(q)?);
        }
        if !(-3..8).contains(&dec_exp) {
            lo = false;
            hi = false;
        }
        while !lo && !hi {
            let q = b.quo_rem_times_ten(&s)?;
            m.mul_small(10);
            lo = b < m;
            hi = b.sum_cmp(&m, &ten_s).is_ge();
            digits.push(digit(q)?);
        }
        let difference = if hi && lo {
            b.shl(1);
            b.partial_cmp(&ten_s).map_or(0, |o| o as i64)
        } else {
            0
        };
        (low, high, low_digit_difference) = (lo, hi, difference);
    }
    let mut decimal = JavaDecimal { digits, point: dec_exp + 1 };
    let last_odd = decimal.digits.last().is_some_and(|d| d % 2 == 1);
    if high && (!low || low_digit_difference > 0 || (low_digit_difference == 0 && last_odd)) {
        decimal.round_up();
    }
    Some(decimal)
}

fn digit(q: i64) -> Option<u8> {
    u8::try_from(q).ok().filter(|q| *q < 10).map(|q| b'0' + q)
}

impl JavaDecimal {
    /// Adds one unit in the last digit; a carry out of the first digit makes it `1` and moves the
    /// point, leaving the zeros behind it in place.
    fn round_up(&mut self) {
        for i in (0..self.digits.len()).rev() {
            if self.digits[i] != b'9' {
                self.digits[i] += 1;
                return;
            }
            if i > 0 {
                self.digits[i] = b'0';
            } else {
                self.digits[0] = b'1';
                self.point += 1;
            }
        }
    }
}

/// Digits of a whole number, after rounding away `insignificant` low-order digits.
fn whole_number_digits(mut value: u64, insignificant: i32) -> JavaDecimal {
    let mut point = 0;
    if insignificant > 0 {
        let pow10 = 10u64.pow(insignificant as u32);
        let residue = value % pow10;
        value /= pow10;
        point += insignificant;
        if residue >= pow10 / 2 {
            value += 1;
        }
    }
    let text = value.to_string();
    point += text.len() as i32;
    let digits = text.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    JavaDecimal { digits: digits.as_bytes().to_vec(), point }
}

/// Decimal digits that are noise in a whole number carrying `p2` more binary digits than the
/// type's precision: ⌊p2 · log₁₀ 2⌋ for 2 ≤ p2 < 64.
fn insignificant_digits(p2: i32) -> i32 {
    if (2..64).contains(&p2) { (f64::from(p2) * std::f64::consts::LOG10_2).floor() as i32 } else { 0 }
}

/// Bits needed for 5ⁿ (0 for n = 0), or the JDK's 3n estimate beyond 5²⁶.
fn pow5_bits(n: i32) -> i32 {
    match n {
        0 => 0,
        1..=26 => 64 - 5u64.pow(n as u32).leading_zeros() as i32,
        _ => n.saturating_mul(3),
    }
}

/// ⌊log₁₀ v⌋ or one more, from the JDK's linear approximation of log₁₀ around 1.5 · 2^bin_exp.
// The JDK's own constants, kept digit for digit: the estimate must match its rounding.
#[allow(clippy::approx_constant)]
fn estimate_dec_exp(fract: u64, bin_exp: i32) -> i32 {
    let d2 = f64::from_bits(0x3ff0_0000_0000_0000 | (fract & SIGNIFICAND_MASK));
    let d = (d2 - 1.5) * 0.289529654 + 0.176091259 + f64::from(bin_exp) * 0.301029995663981;
    let bits = d.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let negative = bits >> 63 == 1;
    if (0..52).contains(&exponent) {
        let mask = SIGNIFICAND_MASK >> exponent;
        let r = (((bits & SIGNIFICAND_MASK) | HIDDEN_BIT) >> (52 - exponent)) as i32;
        match (negative, mask & bits == 0) {
            (false, _) => r,
            (true, true) => -r,
            (true, false) => -r - 1,
        }
    } else if exponent < 0 {
        if bits & !(1 << 63) == 0 || !negative { 0 } else { -1 }
    } else {
        d as i32
    }
}

/// Non-negative arbitrary-precision integers, little-endian 32-bit limbs, just enough for the
/// digit loop above.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Self {
        let mut big = Big(vec![v as u32, (v >> 32) as u32]);
        big.trim();
        big
    }

    fn pow5_pow2(p5: i32, p2: i32) -> Self {
        let mut big = Big::from_u64(1);
        big.mul_pow5(p5);
        big.shl(p2);
        big
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut n: i32) {
        while n > 0 {
            let step = n.min(13);
            self.mul_small(5u32.pow(step as u32));
            n -= step;
        }
    }

    fn shl(&mut self, bits: i32) {
        if bits <= 0 || self.0.is_empty() {
            return;
        }
        let (limbs, bits) = ((bits / 32) as usize, (bits % 32) as u32);
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let v = (*limb << bits) | carry;
                carry = *limb >> (32 - bits);
                *limb = v;
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(v < 0);
            *limb = v.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// `q = self / s` (a single digit), then `self = 10 · (self mod s)`.
    fn quo_rem_times_ten(&mut self, s: &Big) -> Option<i64> {
        let mut q = 0;
        while *self >= *s {
            self.sub_assign(s);
            q += 1;
            if q > 10 {
                return None;
            }
        }
        self.mul_small(10);
        Some(q)
    }

    /// Compares `self + m` with `other`.
    fn sum_cmp(&self, m: &Big, other: &Big) -> std::cmp::Ordering {
        let len = self.0.len().max(m.0.len()) + 1;
        let mut sum = Vec::with_capacity(len);
        let mut carry = 0u64;
        for i in 0..len {
            let v = u64::from(self.0.get(i).copied().unwrap_or(0))
                + u64::from(m.0.get(i).copied().unwrap_or(0))
                + carry;
            sum.push(v as u32);
            carry = v >> 32;
        }
        let mut sum = Big(sum);
        sum.trim();
        sum.cmp(other)
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}

/// Java's layout of `0.d₁d₂… × 10^point`: plain for 10⁻³ ≤ |v| < 10⁷, else `d₁.d₂…E±n`, always
/// with a digit after the point. `fallback` (Rust's own rendering) is only used where the JDK's
/// digit loop would trip an assertion, which does not happen for finite non-zero values.
fn java_layout(negative: bool, decimal: Option<JavaDecimal>, fallback: impl FnOnce() -> String) -> String {
    let Some(JavaDecimal { digits, point }) = decimal.filter(|d| !d.digits.is_empty()) else {
        return fallback();
    };
    let digits = std::str::from_utf8(&digits).unwrap_or("0");
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if point > 0 && point < 8 {
        let int_len = digits.len().min(point as usize);
        out.push_str(&digits[..int_len]);
        if int_len < point as usize {
            out.extend(std::iter::repeat_n('0', point as usize - int_len));
            out.push_str(".0");
        } else {
            out.push('.');
            out.push_str(if int_len < digits.len() { &digits[int_len..] } else { "0" });
        }
    } else if point <= 0 && point > -3 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&(point - 1).to_string());
    }
    out
}
