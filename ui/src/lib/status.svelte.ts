// The backend's status as reactive state: one snapshot from `app_status`, then live updates from
// the `status-changed` event and on-demand health checks.
import { commands, events, type AppStatus, type InviteInfo } from "./bindings";
import { errorText } from "./ipc";

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
        if (event.payload.identity && !this.invite) void this.loadInvite();
      });
      this.current = await commands.appStatus();
      if (this.current.identity) await this.loadInvite();
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

  /** True while onboarding runs. */
  creating = $state(false);
  /** Why onboarding failed, if it did. */
  createError = $state<string | null>(null);
  /** This app's invite, once there is an identity. */
  invite = $state<InviteInfo | null>(null);

  /** Onboarding: creates the identity on `network` and loads the invite. */
  async createIdentity(name: string, network: string): Promise<void> {
    this.creating = true;
    this.createError = null;
    try {
      const result = await commands.createIdentity(name, network);
      if (result.status === "ok") {
        this.current = result.data;
        await this.loadInvite();
      } else {
        this.createError = errorText(result.error);
      }
    } catch (e) {
      this.createError = String(e);
    } finally {
      this.creating = false;
    }
  }

  /** Loads this app's invite (when it has an identity). */
  async loadInvite(): Promise<void> {
    const result = await commands.myInvite();
    this.invite = result.status === "ok" ? result.data : null;
  }

  disconnect(): void {
    this.#unlisten?.();
    this.#unlisten = null;
  }
}
