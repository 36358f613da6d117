// Typed answers for the mocked backend: the generated bindings' types, so a change to a command's
// types breaks these fixtures at type-check time instead of silently drifting.
import type {
  AppStatus_Serialize,
  InviteInfo,
  Overview_Serialize,
  PeerView_Serialize,
  Settings,
  TrustRequestView,
  UiReady_Serialize,
} from "../src/lib/bindings";

export const BOB = "bb".repeat(32);
export const CAROL = "cc".repeat(32);

export function status(ready: boolean): AppStatus_Serialize {
  return {
    version: "0.1.0",
    data_dir: "/home/alice/.local/share/dev.coworker.app",
    backend: ready ? { state: "ready" } : { state: "needs_identity" },
    startup_ms: 420,
    checked_at_ms: null,
    identity: ready ? { name: "alice", inbox_id: "aa".repeat(32), address: `0x${"ab".repeat(20)}`, network: "embedded" } : null,
    node_url: "http://127.0.0.1:5556",
  };
}

export const overview: Overview_Serialize = {
  peers: 2,
  skills: 0,
  skills_exposed: 0,
  calls_made: 0,
  calls_served: 0,
  goals_running: 0,
  pending_requests: [],
  pending_plans: [],
  failed_calls: [],
};

export const settings: Settings = {
  planner_endpoint: "",
  planner_model: "",
  planner_key_set: false,
  language: "en",
  notify_trust_requests: true,
  notify_plan_proposals: true,
};

export const invite: InviteInfo = {
  code: "eyJhbGljZSI6dHJ1ZX0",
  uri: "coworker://invite/eyJhbGljZSI6dHJ1ZX0",
  short_id: "aaaa-aaaa",
  qr_svg: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>',
};

export const uiReady: UiReady_Serialize = { startup_ms: 480, link: null };

export const bob: PeerView_Serialize = {
  inbox_id: BOB,
  name: "bob",
  tier: 1,
  skills: [
    {
      name: "summarize",
      description: "Summarizes a text",
      when_to_use: "Long documents",
      input_schema: '{"type":"object","properties":{"text":{"type":"string"}}}',
      output_schema: '{"type":"object","properties":{"summary":{"type":"string"}}}',
      min_tier: 1,
    },
  ],
  name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: Date.now() - 60_000,
};

export const carol: PeerView_Serialize = { inbox_id: CAROL, name: "carol", tier: 0, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null };

export const carolAsks: TrustRequestView = { id: 7, peer: CAROL, who: "carol", requested: 1, reason: "we work together", status: "pending" };

/** What every page of a set-up app is answered with; a test adds or overrides commands. */
export function readyApp() {
  return {
    app_status: status(true),
    ui_ready: uiReady,
    activity: [],
    overview,
    settings,
    my_invite: invite,
    peers: [bob, carol],
    trust_requests: [],
    audit_log: [],
  };
}
