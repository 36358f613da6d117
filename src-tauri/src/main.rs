//! The CoWorker desktop app binary.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    coworker_runtime::private::owner_only_new_files();
    coworker_app::run();
}
