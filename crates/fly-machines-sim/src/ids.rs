//! Identifiers and digests: ULIDs, random ids, FNV hashes and deterministic byte streams.

use rand::{Rng, rngs::StdRng};

/// Crockford's base32 alphabet, used by ULIDs.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A 26-character ULID whose time part is `ms` and whose random part comes from `rng`.
pub(crate) fn ulid(ms: u64, rng: &mut StdRng) -> String {
    ulid_from(ms, rng.random::<u128>())
}

/// A 26-character ULID from a time and 80 bits taken from `random`.
pub(crate) fn ulid_from(ms: u64, random: u128) -> String {
    let value: u128 = (u128::from(ms & 0xFFFF_FFFF_FFFF) << 80) | (random >> 48);
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 125 - 5 * i as u32;
        *slot = CROCKFORD[((value >> shift) & 0x1F) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `len` random lowercase hex digits.
pub(crate) fn hex_id(len: usize, rng: &mut StdRng) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}

/// `len` random characters from `[a-z0-9]`.
pub(crate) fn alnum_id(len: usize, rng: &mut StdRng) -> String {
    const ALNUM: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..36)] as char)
        .collect()
}

/// FNV-1a, 64 bits: a stable, non-cryptographic digest for simulated hashes.
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `n` deterministic pseudo-random bytes derived from `seed` (splitmix64). Not cryptographic.
pub(crate) fn stream_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Generates the `fly-request-id` of each answer: a ULID on the arrival time and the region.
#[derive(Debug)]
pub(crate) struct RequestIds {
    seq: std::sync::atomic::AtomicU64,
    region: String,
}

impl RequestIds {
    pub(crate) fn new(region: String) -> RequestIds {
        RequestIds {
            seq: std::sync::atomic::AtomicU64::new(0),
            region,
        }
    }

    /// The next id, for a request that arrived at `now`.
    pub(crate) fn next(&self, now: u64) -> String {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let random = stream_bytes(fnv64(&seq.to_le_bytes()), 16);
        let mut buf = [0u8; 16];
        buf.copy_from_slice(&random);
        format!(
            "{}-{}",
            ulid_from(now, u128::from_le_bytes(buf)),
            self.region
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ulids_are_26_crockford_chars_and_time_ordered() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = ulid(1_000, &mut rng);
        let b = ulid(2_000, &mut rng);
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)));
        assert!(a < b);
    }
}
