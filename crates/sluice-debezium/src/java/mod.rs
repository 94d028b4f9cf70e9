//! Small re-implementations of JVM behaviour that leaks into Debezium's output: `Double.toString`
//! (JDK 17, in [`float`]),
//! `String.hashCode` and `HashMap` iteration order (hstore maps are `HashMap`s), Jackson's JSON
//! string escaping, `String.substring` on UTF-16 units, and `UUID.nameUUIDFromBytes` (MD5).

pub(crate) mod float;

/// `Double.toString(d)` as JDK 17 prints it (the JVM the oracle runs).
pub(crate) fn double_to_string(d: f64) -> String {
    float::java_double(d)
}

/// `String.hashCode()` over UTF-16 code units.
pub(crate) fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// The order in which a `java.util.HashMap<String, _>` filled with `keys` (in this order, no
/// duplicates) iterates: by bucket, then insertion order within a bucket. Bins that would be
/// treeified (8+ colliding keys in a table of 64+ buckets) are approximated by insertion order.
pub(crate) fn hash_map_order(keys: &[&str]) -> Vec<usize> {
    let hashes: Vec<i32> = keys.iter().map(|k| string_hash(k)).collect();
    hash_order(&hashes, 16)
}

/// The iteration order of a `HashMap` created with `new HashMap<>(initial_capacity)` (or `new
/// HashMap<>()` for 16) into which keys with these `hashCode()`s were put in order.
pub(crate) fn hash_order(hash_codes: &[i32], initial_capacity: usize) -> Vec<usize> {
    let hashes: Vec<u32> = hash_codes
        .iter()
        .map(|&h| {
            let h = h as u32;
            h ^ (h >> 16)
        })
        .collect();
    let mut capacity: u32 =
        u32::try_from(initial_capacity.max(1).checked_next_power_of_two().unwrap_or(1 << 30))
            .unwrap_or(1 << 30);
    for i in 0..hashes.len() {
        // A crowded bin only forces a resize while the table is small (treeification threshold),
        // so the quadratic count is bounded by that size.
        if capacity < 64 {
            let bin = hashes[i] & (capacity - 1);
            let in_bin = hashes[..i].iter().filter(|h| *h & (capacity - 1) == bin).count();
            if in_bin >= 8 {
                capacity = capacity.saturating_mul(2);
            }
        }
        if (i + 1) as u64 > u64::from(capacity) * 3 / 4 {
            capacity = capacity.saturating_mul(2);
        }
    }
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by_key(|&i| (hashes[i] & (capacity - 1), i));
    order
}

/// Appends `s` as a JSON string the way Jackson's generator writes it: `"` and `\` escaped, the
/// control characters `\b \t \n \f \r` as short escapes and other C0 controls as `\u00XX`
/// (upper-case hex); everything else verbatim.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s.substring(0, n)` when `s.length() > n` (UTF-16 units). A surrogate pair cut in half leaves a
/// lone surrogate in Java, which its UTF-8 encoder writes as `?`; that is reproduced.
pub(crate) fn truncate_utf16(s: &str, n: usize) -> String {
    let mut units = 0usize;
    let mut out = String::new();
    for c in s.chars() {
        let len = c.len_utf16();
        if units + len > n {
            if units < n {
                out.push('?');
            }
            break;
        }
        units += len;
        out.push(c);
    }
    out
}

/// `UUID.nameUUIDFromBytes(bytes).toString()`: an MD5-based (version 3) UUID.
pub(crate) fn name_uuid_from_bytes(bytes: &[u8]) -> String {
    let mut d = md5(bytes);
    d[6] = (d[6] & 0x0f) | 0x30;
    d[8] = (d[8] & 0x3f) | 0x80;
    format_uuid(&d)
}

/// Lower-case canonical `8-4-4-4-12` form.
pub(crate) fn format_uuid(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// RFC 1321 MD5.
fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15,
        21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> =
        (0..64).map(|i: i32| ((f64::from(i) + 1.0).sin().abs() * 4_294_967_296.0) as u32).collect();
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut message = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    for block in message.chunks(64) {
        let m: Vec<u32> = block.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, word) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(double_to_string(10.0), "10.0");
        assert_eq!(double_to_string(1.5), "1.5");
        assert_eq!(double_to_string(-0.001), "-0.001");
        assert_eq!(double_to_string(0.0001), "1.0E-4");
        assert_eq!(double_to_string(1e7), "1.0E7");
        assert_eq!(double_to_string(1234567.0), "1234567.0");
        assert_eq!(double_to_string(1.2345e10), "1.2345E10");
        assert_eq!(double_to_string(f64::NAN), "NaN");
        assert_eq!(double_to_string(-0.0), "-0.0");
    }

    #[test]
    fn md5_and_name_uuid() {
        assert_eq!(hex::encode(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex::encode(md5(b"The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        // UUID.nameUUIDFromBytes("".getBytes()) is d41d8cd9-8f00-3204-a980-0998ecf8427e.
        assert_eq!(name_uuid_from_bytes(b""), "d41d8cd9-8f00-3204-a980-0998ecf8427e");
    }

    #[test]
    fn hash_map_order_follows_buckets() {
        assert_eq!(string_hash("key1"), 3_288_498);
        assert_eq!(hash_map_order(&["key1", "key2"]), vec![0, 1]);
        // "b" (98) lands in bucket 2, "a" (97) in bucket 1.
        assert_eq!(hash_map_order(&["b", "a"]), vec![1, 0]);
    }

    #[test]
    fn json_escaping_and_truncation() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(truncate_utf16("abcdef", 3), "abc");
        assert_eq!(truncate_utf16("a😀b", 2), "a?");
        assert_eq!(truncate_utf16("a😀b", 3), "a😀");
    }
}
