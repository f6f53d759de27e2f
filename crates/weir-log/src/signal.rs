//! How appenders wake their topic's writer thread: a flag under a mutex and a condvar, so a
//! notification made while the writer is busy is seen by its next wait.

use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Wakes a topic's writer thread.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Tells the writer there is work.
    pub fn notify(&self) {
        *self.pending.lock() = true;
        self.cv.notify_one();
    }

    /// Waits until notified (or until `deadline`, if given), then clears the flag.
    pub fn wait(&self, deadline: Option<Instant>) {
        let mut pending = self.pending.lock();
        while !*pending {
            match deadline {
                Some(d) => {
                    if self.cv.wait_until(&mut pending, d).timed_out() {
                        break;
                    }
                }
                None => self.cv.wait(&mut pending),
            }
        }
        *pending = false;
    }
}
