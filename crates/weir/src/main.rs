//! The `weir` binary: everything happens in the library.

fn main() -> std::process::ExitCode {
    weir::cli::main()
}
