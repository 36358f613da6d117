//! The OS keychain store against a real Secret Service (gnome-keyring), as `scripts/test.sh`
//! runs it: `dbus-run-session -- sh scripts/with-desktop-services.sh cargo nextest run ...`.

#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use xmtp_client::{KeyStore, OsKeyStore};

#[test]
fn os_keychain_stores_loads_and_deletes_secrets() {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        eprintln!(
            "no D-Bus session: run under scripts/with-desktop-services.sh (scripts/test.sh does)"
        );
        return;
    }
    let account = format!("test-{}", std::process::id());
    let store = OsKeyStore::new("dev.coworker.test", account);
    assert!(store.load("wallet").unwrap().is_none());
    store.save("wallet", &[1, 2, 3, 255]).unwrap();
    assert_eq!(store.load("wallet").unwrap().unwrap().as_slice(), &[1, 2, 3, 255]);
    store.save("wallet", b"replaced").unwrap();
    assert_eq!(store.load("wallet").unwrap().unwrap().as_slice(), b"replaced");
    store.delete("wallet").unwrap();
    assert!(store.load("wallet").unwrap().is_none());
    store.delete("wallet").unwrap();
}
