//! A small seeded PRNG for test schedules (kill moments, delays).
//!
//! The seed comes from `WEIR_TEST_SEED` when it is set, so a failing schedule can be replayed,
//! otherwise from the clock; it is printed either way (the test harness shows it on failure).

use std::time::{SystemTime, UNIX_EPOCH};

/// xorshift64*: tiny, fast, good enough to spread kill moments.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded from `WEIR_TEST_SEED` or the clock; prints the seed under `test`'s name.
    pub fn seeded(test: &str) -> Self {
        let seed = match std::env::var("WEIR_TEST_SEED") {
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("WEIR_TEST_SEED={s} is not a u64: {e}")),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .expect("clock after 1970"),
        };
        eprintln!("{test}: seed {seed} (set WEIR_TEST_SEED={seed} to replay this schedule)");
        Self::new(seed)
    }

    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that close seeds give unrelated streams; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self {
            state: if z == 0 { 1 } else { z },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.next_u64() % (hi - lo + 1)
    }
}
