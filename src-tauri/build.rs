//! Build script: reads the root `tauri.conf.json` and generates the ACL for our commands.

fn main() {
    let attributes = tauri_build::Attributes::new().config_path("../tauri.conf.json").app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "app_status",
            "check_backend",
            "create_identity",
            "my_invite",
        ]),
    );
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build script failed: {error:#}");
    }
}
