//! aio-qualify (being written).
fn main() {}
