//! aivex: entry point. Parses the command line and exits with the code `cli` decides.
fn main() {
    println!("aivex {}", env!("CARGO_PKG_VERSION"));
}
