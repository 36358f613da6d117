//! The CoWorker desktop app binary.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    coworker_app::run();
}
