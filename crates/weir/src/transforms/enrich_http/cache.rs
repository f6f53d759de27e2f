//! Bounded maps of answers: the cache (entries expire after a TTL) and the last good answer per
//! key (for `fallback: last_good`). Both evict their oldest entry when full. Time is passed in.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;

/// A bounded map from key to value with an optional time to live.
#[derive(Debug)]
pub struct Answers {
    ttl: Option<Duration>,
    max: usize,
    map: HashMap<String, (Duration, Value)>,
    order: VecDeque<String>,
}

impl Answers {
    /// At most `max` entries (at least 1), each valid for `ttl` when given.
    #[must_use]
    pub fn new(ttl: Option<Duration>, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The value of `key` if present and not expired at `now`.
    pub fn get(&mut self, key: &str, now: Duration) -> Option<Value> {
        let (stored, value) = self.map.get(key)?;
        if self
            .ttl
            .is_some_and(|ttl| now.saturating_sub(*stored) >= ttl)
        {
            self.map.remove(key);
            return None;
        }
        Some(value.clone())
    }

    /// Stores `value` for `key` at `now`, evicting the oldest entry when full.
    pub fn put(&mut self, key: &str, value: Value, now: Duration) {
        if self.map.insert(key.to_owned(), (now, value)).is_none() {
            self.order.push_back(key.to_owned());
        }
        while self.map.len() > self.max {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        // Keys removed by expiry linger in `order`; keep it from growing without bound.
        if self.order.len() > self.max * 2 {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    /// Entries held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut a = Answers::new(Some(Duration::from_secs(10)), 10);
        a.put("k", json!(1), Duration::from_secs(1));
        assert_eq!(a.get("k", Duration::from_secs(10)), Some(json!(1)));
        assert_eq!(a.get("k", Duration::from_secs(11)), None);
    }

    proptest! {
        #[test]
        fn never_holds_more_than_max_and_keeps_the_newest(max in 1usize..20, keys in proptest::collection::vec(0u8..40, 1..200)) {
            let mut a = Answers::new(None, max);
            for (i, k) in keys.iter().enumerate() {
                a.put(&k.to_string(), json!(i), Duration::ZERO);
                prop_assert!(a.len() <= max);
                prop_assert_eq!(a.get(&k.to_string(), Duration::ZERO), Some(json!(i)));
            }
        }
    }
}
