//! Compiles `envelope.proto` with `protox` (a pure-Rust protobuf compiler), so a
//! build needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=envelope.proto");
    let descriptors = protox::compile(["envelope.proto"], ["."])?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
