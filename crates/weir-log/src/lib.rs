//! weir-log: the embedded durable log (see the durable-buffer issue). Empty until that work lands.
