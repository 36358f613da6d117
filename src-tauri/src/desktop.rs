//! The Tauri side of the desktop: the tray icon with the backend's status, `coworker://` links
//! (deep links, also from a second launch) that open the Invite page, one instance only, the
//! camera for scanning invite QR codes, and page drawing without GPU compositing on machines that
//! have no GPU.

#[cfg(target_os = "linux")]
use std::path::Path;
use std::sync::Mutex;

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{App, AppHandle, Manager, Window, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_specta::Event;

use crate::commands::OpenLink;

/// A link that arrived before the UI could receive it; `ui_ready` hands it over.
#[derive(Debug, Default)]
pub struct PendingLink(pub Mutex<Option<String>>);

const TRAY_ID: &str = "main";

/// Installs the tray icon and the link handlers; chooses how pages are drawn.
pub fn setup(app: &mut App) -> tauri::Result<()> {
    #[cfg(target_os = "linux")]
    {
        composite_on_gpu_only(app);
        allow_the_camera(app);
    }
    app.manage(PendingLink::default());
    let show = MenuItem::with_id(app, "show", "Show CoWorker", true, None::<&str>)?;
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &show, &quit])?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID).tooltip("CoWorker").menu(&menu).on_menu_event(
        |app, event| match event.id().as_ref() {
            "show" => show_main(app),
            "quit" => app.exit(0),
            _ => {}
        },
    );
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    app.manage(TrayStatus(status));
    if let Err(error) = tray.build(app) {
        // A desktop without a tray still has the window.
        tracing::warn!(%error, "no tray icon");
    }

    let handle = app.handle().clone();
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            open_link(&handle, url.as_str());
        }
    });
    // Started by a link.
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        for url in urls {
            open_link(app.handle(), url.as_str());
        }
    }
    for arg in std::env::args().skip(1) {
        if arg.starts_with("coworker://") {
            open_link(app.handle(), &arg);
        }
    }
    Ok(())
}

/// Whether a directory of DRM devices (`/dev/dri`) has a render node, i.e. a GPU that WebKit
/// can composite pages on.
#[cfg(target_os = "linux")]
fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries.flatten().any(|entry| entry.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Without a GPU (virtual machines, remote desktops) WebKit's GPU compositing runs on Mesa's
/// software rasteriser: no faster, and about 80 MB more memory in WebKit's web process
/// (docs/benchmarks.md). There the window's pages are drawn without it.
#[cfg(target_os = "linux")]
fn composite_on_gpu_only(app: &App) {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
    if has_render_node(Path::new("/dev/dri")) {
        return;
    }
    let Some(window) = app.get_webview_window("main") else { return };
    let result = window.with_webview(|webview| {
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    match result {
        Ok(()) => tracing::info!("no GPU: pages are drawn without GPU compositing"),
        Err(error) => tracing::warn!(%error, "could not turn GPU compositing off"),
    }
}

/// The camera, for scanning an invite's QR code on the Invite page. WebKitGTK keeps media capture
/// off unless it is enabled, then asks the app about each request: video is allowed, the
/// microphone (never needed) and screen capture are refused.
#[cfg(target_os = "linux")]
fn allow_the_camera(app: &App) {
    use webkit2gtk::glib::Cast;
    use webkit2gtk::{
        PermissionRequestExt, SettingsExt, UserMediaPermissionRequest,
        UserMediaPermissionRequestExt, WebViewExt,
    };
    let Some(window) = app.get_webview_window("main") else { return };
    let result = window.with_webview(move |webview| {
        let view = webview.inner();
        if let Some(settings) = view.settings() {
            settings.set_enable_media_stream(true);
        }
        view.connect_permission_request(|_, request| {
            let Some(media) = request.downcast_ref::<UserMediaPermissionRequest>() else {
                return false; // not ours to decide: WebKit's default (deny)
            };
            let (video, audio) = (media.is_for_video_device(), media.is_for_audio_device());
            tracing::info!(video, audio, "a page asks for media capture");
            if camera_only(video, audio) {
                media.allow();
            } else {
                tracing::warn!("refused a request for the microphone or the screen");
                media.deny();
            }
            true
        });
    });
    if let Err(error) = result {
        tracing::warn!(%error, "the camera cannot be offered");
    }
}

/// Whether a capture request asks for the camera and nothing else.
#[cfg(target_os = "linux")]
fn camera_only(video: bool, audio: bool) -> bool {
    video && !audio
}

/// The tray menu's status line.
struct TrayStatus(MenuItem<tauri::Wry>);

/// Shows the backend's state in the tray.
pub fn show_status(app: &AppHandle, text: &str) {
    if let Some(status) = app.try_state::<TrayStatus>() {
        let _ = status.0.set_text(text);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("CoWorker — {text}")));
    }
}

/// A second launch: its `coworker://` arguments go to this instance, whose window comes up.
pub fn second_launch(app: &AppHandle, args: Vec<String>, _cwd: String) {
    show_main(app);
    for arg in args.iter().skip(1) {
        if arg.starts_with("coworker://") {
            open_link(app, arg);
        }
    }
}

/// Closing the window keeps the app running in the tray (notifications still work); Quit in the
/// tray menu ends it.
pub fn on_window_event(window: &Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event
        && window.app_handle().tray_by_id(TRAY_ID).is_some()
    {
        api.prevent_close();
        let _ = window.hide();
    }
}

fn show_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Brings the window forward at one of its pages (a clicked notification opens its question).
pub fn open_page(app: &AppHandle, page: &str) {
    let link = OpenLink { page: page.to_owned(), invite: None };
    if let Err(error) = link.emit(app) {
        tracing::warn!(%error, "could not open the {page} page");
    }
    show_main(app);
}

/// Sends a link to the UI (the Invite page), or keeps it until the UI is ready.
pub fn open_link(app: &AppHandle, url: &str) {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("coworker://invite/") {
        tracing::warn!(url, "ignoring a coworker:// link that is not an invite");
        return;
    }
    tracing::info!("opening an invite link");
    if let Some(pending) = app.try_state::<PendingLink>() {
        *pending.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.to_owned());
    }
    let link = OpenLink { page: "invite".into(), invite: Some(url.to_owned()) };
    if let Err(error) = link.emit(app) {
        tracing::warn!(%error, "could not send the link to the UI");
    }
    show_main(app);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{camera_only, has_render_node};

    #[test]
    fn the_camera_alone_is_allowed() {
        assert!(camera_only(true, false));
        assert!(!camera_only(true, true), "not with the microphone");
        assert!(!camera_only(false, true));
        assert!(!camera_only(false, false), "not screen capture");
    }

    #[test]
    fn a_render_node_means_a_gpu() {
        let dir = tempfile::tempdir().expect("temp dir");
        // No such directory, an empty one, a display-only card: no GPU to composite on.
        assert!(!has_render_node(&dir.path().join("missing")));
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("card0"), b"").expect("card0");
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("renderD128"), b"").expect("renderD128");
        assert!(has_render_node(dir.path()));
    }
}
