//! The `gatehouse` binary: parses the command line and hands over to the server crate.

fn main() -> std::process::ExitCode {
    gatehouse_server::cli::main()
}
