//! Compiles `proto/**/*.proto` with protox (no system `protoc` needed) into prost messages and
//! tonic client and server stubs.

use std::path::{Path, PathBuf};

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new("proto");
    let mut files = Vec::new();
    proto_files(root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed=proto");

    let descriptors = protox::compile(&files, [root])?;
    // Message payloads as `bytes::Bytes`, so the node can fan one stored message out to many
    // subscribers without copying it.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".xmtp.mls.api.v1")
        .codec_path("crate::codec::XmtpCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
