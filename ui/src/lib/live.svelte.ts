// The agent's live activity: the recent feed from `activity`, then every `activity-event` the
// backend pushes. Pages react to events (no polling): `live.onActivity(fn)` calls `fn` for each
// new item and returns the unsubscribe function.
import { commands, events, type ActivityItem } from "./bindings";

type Listener = (item: ActivityItem) => void;
type ActivityType = ActivityItem["event"]["type"];

/** `fn`, called once `ms` after the last call of a burst; `cancel()` drops a pending call. */
export function debounce(fn: () => void, ms = 100): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  const run = () => {
    cancel();
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
  return Object.assign(run, { cancel });
}

export class Live {
  /** The feed, oldest first (at most `max` items). */
  items = $state<ActivityItem[]>([]);
  readonly max = 200;
  #listeners = new Set<Listener>();
  #unlisten: (() => void) | null = null;

  /** Subscribes first (so nothing is missed), then loads what happened before. */
  async connect(): Promise<void> {
    this.#unlisten = await events.activityEvent.listen((event) => this.push(event.payload));
    const earlier = await commands.activity();
    this.items = [...earlier, ...this.items].slice(-this.max);
  }

  push(item: ActivityItem): void {
    this.items = [...this.items, item].slice(-this.max);
    for (const listener of this.#listeners) listener(item);
  }

  onActivity(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `reload` (debounced: one call per burst) after each activity of one of `types`;
   *  returns the unsubscribe function, which also drops a pending call. */
  reloadOn(types: ActivityType[], reload: () => void, ms = 100): () => void {
    const run = debounce(reload, ms);
    const off = this.onActivity((item) => {
      if (types.includes(item.event.type)) run();
    });
    return () => {
      off();
      run.cancel();
    };
  }

  disconnect(): void {
    this.#unlisten?.();
    this.#unlisten = null;
  }
}

/** The app's one live feed. */
export const live = new Live();
