//! The `weir` binary: everything happens in the library.

/// Records cross threads (source pump, transform workers, lane); mimalloc's per-thread heaps
/// with lock-free remote frees keep that from serialising on allocator locks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weir::cli::main()
}
