//! Compiles the gamsa.v1 protos with protox (pure Rust, so a fresh machine
//! needs no `protoc`), generates prost/tonic code, and pbjson serde impls
//! that give every message its proto3 canonical JSON form.
use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/gamsa/v1/evidence.proto",
        "proto/gamsa/v1/ingest.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out.join("gamsa_descriptor.bin");
    std::fs::write(&descriptor_path, fds.encode_to_vec())?;

    // Maps as BTreeMap: the encoding of a message then depends on its value
    // only (entries in key order), which the collector's store relies on to
    // recognise unchanged evidence by the hash of its encoding.
    tonic_prost_build::configure()
        .btree_map(".")
        .compile_well_known_types(true)
        .extern_path(".google.protobuf.Timestamp", "crate::Timestamp")
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;

    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .extern_path(".google.protobuf.Timestamp", "crate::Timestamp")
        .btree_map(["."])
        // Evidence shows `encrypted: false` rather than omitting it: an
        // auditor reading JSON should not have to know proto3 defaults.
        .emit_fields()
        .build(&[".gamsa.v1"])?;
    Ok(())
}
