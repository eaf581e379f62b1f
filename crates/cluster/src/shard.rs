//! The shard of a symbol: `FNV-1a-64(symbol's UTF-8 bytes) mod shards`.
//!
//! FNV-1a is defined on bytes with wrapping 64-bit arithmetic, so the answer is the same on every
//! box, architecture, endianness and aivex version; it must never change (boxes of different
//! versions share one lease table during a rolling upgrade). It owns that formula only.

/// The most shards a cluster may have (a bound for config and the lease table).
pub const MAX_SHARDS: u32 = 1024;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The shard (`0..shards`) of `symbol`. `shards` of 0 is treated as 1.
pub fn shard_of(symbol: &str, shards: u32) -> u32 {
    let n = u64::from(shards.max(1));
    // The remainder is below `shards`, a u32.
    u32::try_from(fnv1a64(symbol.as_bytes()) % n).unwrap_or(0)
}

/// How many of `symbols` fall in each shard (index = shard).
pub fn symbols_of<'a>(symbols: impl IntoIterator<Item = &'a str>, shards: u32) -> Vec<usize> {
    let mut out = vec![0; shards.max(1) as usize];
    for s in symbols {
        out[shard_of(s, shards) as usize] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed values: if this table changes, boxes of two versions disagree on shards.
    #[test]
    fn shard_table_is_stable() {
        // FNV-1a-64 reference vectors (the empty string and "a" are the published ones).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let table = [
            // Computed independently (Python) from the FNV-1a definition.
            ("AAPL", 16, 11),
            ("AAPL", 8, 3),
            ("BTCUSDT", 16, 12),
            ("^GSPC", 8, 6),
            ("AAPL", 1, 0),
            ("AAPL", 0, 0),
        ];
        for (sym, n, want) in table {
            assert_eq!(shard_of(sym, n), want, "{sym} {n}");
        }
    }

    #[test]
    fn spreads_symbols_over_shards() {
        let names: Vec<String> = (0..1600).map(|i| format!("SYM{i}")).collect();
        let counts = symbols_of(names.iter().map(String::as_str), 16);
        assert_eq!(counts.iter().sum::<usize>(), 1600);
        // 100 expected per shard; FNV over these names stays well within a factor of two.
        assert!(counts.iter().all(|c| (50..150).contains(c)), "{counts:?}");
    }
}
