//! Build script: reads the root `tauri.conf.json` and generates the ACL for our commands.

fn main() {
    let attributes = tauri_build::Attributes::new().config_path("../tauri.conf.json").app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "app_status",
            "check_backend",
            "create_identity",
            "change_network",
            "my_invite",
            "activity",
            "overview",
            "peers",
            "set_peer_tier",
            "set_peer_blocked",
            "refresh_peer",
            "trust_requests",
            "decide_trust_request",
            "audit_log",
            "preview_invite",
            "accept_invite",
            "call_skill",
            "check_call_input",
            "calls",
            "conversations",
            "messages",
            "send_message",
            "open_dm",
            "create_group",
            "my_skills",
            "set_skill_exposed",
            "set_skill_min_tier",
            "add_skill",
            "mcp_tools",
            "remove_skill",
            "preview_skills",
            "goals",
            "plan_goal",
            "start_goal",
            "discard_goal",
            "decide_plan",
            "receipts",
            "export_receipts",
            "settings",
            "save_settings",
            "installations",
            "revoke_installation",
            "ui_ready",
        ]),
    );
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build script failed: {error:#}");
    }
}
