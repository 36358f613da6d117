//! Item 11: other users of the machine cannot read an agent's state. Data directories are
//! 0700, databases and settings 0600, when created and when opened (repaired, with a warning).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use coworker_attacks::Net;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn loose_permissions_are_repaired_when_state_is_opened() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let database = net.dir().join("bob.agent.db");
    assert_eq!(mode(&database) & 0o077, 0, "a new database is the owner's alone");

    // Someone (a restore from backup, a careless copy) opened the state to everyone.
    let data = net.dir().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("settings.toml"), b"planner = {}").unwrap();
    set(&data, 0o755);
    set(&data.join("settings.toml"), 0o644);
    set(&database, 0o644);
    let (name, keys) = (bob.name.clone(), bob.keys.clone());
    drop(bob);
    let _bob = net.reopen(&name, &keys, |_| {}).await;
    assert_eq!(mode(&database), 0o600);

    let warnings = coworker_runtime::private::data_dir(&data).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!((mode(&data), mode(&data.join("settings.toml"))), (0o700, 0o600));
}
