//! Resilience policies as pure state machines: inputs in, decisions out, no clocks or sockets.

pub mod breaker;
pub mod restart;
pub mod retry;
