// The backend's status as reactive state: one snapshot from `app_status`, then live updates from
// the `status-changed` event and on-demand health checks.
import { commands, events, type AppStatus } from "./bindings";

export class BackendStatus {
  /** The latest snapshot, or null until the first one arrives. */
  current = $state<AppStatus | null>(null);
  /** Why talking to the backend failed, if it did. */
  error = $state<string | null>(null);
  /** True while a health check runs. */
  checking = $state(false);

  #unlisten: (() => void) | null = null;

  /** Subscribes to updates first (so none is missed), then reads the current status. */
  async connect(): Promise<void> {
    try {
      this.#unlisten = await events.statusChanged.listen((event) => {
        this.current = event.payload;
      });
      this.current = await commands.appStatus();
    } catch (e) {
      this.error = String(e);
    }
  }

  /** Asks the backend to re-run its health check. */
  async check(): Promise<void> {
    this.checking = true;
    try {
      this.current = await commands.checkBackend();
      this.error = null;
    } catch (e) {
      this.error = String(e);
    } finally {
      this.checking = false;
    }
  }

  disconnect(): void {
    this.#unlisten?.();
    this.#unlisten = null;
  }
}
