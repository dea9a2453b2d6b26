//! The `gatehouse` binary: parses the command line and hands over to the server crate.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse_server::cli::main()
}
