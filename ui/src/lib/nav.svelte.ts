// Which page is shown, and what a page asked another to open (a peer, a conversation, an
// invite code from a coworker:// link).
export type PageId = "home" | "peers" | "chat" | "skills" | "goals" | "receipts" | "insights" | "invite" | "settings" | "status";

class Nav {
  page = $state<PageId>("home");
  /** A peer the Peers/Chat/Goals page should select (inbox id). */
  peer = $state<string | null>(null);
  /** A conversation the Chat page should open (hex id). */
  conversation = $state<string | null>(null);
  /** An invite code or link the Invite page should show for accepting. */
  invite = $state<string | null>(null);

  go(page: PageId, focus: { peer?: string; conversation?: string; invite?: string } = {}): void {
    if (focus.peer !== undefined) this.peer = focus.peer;
    if (focus.conversation !== undefined) this.conversation = focus.conversation;
    if (focus.invite !== undefined) this.invite = focus.invite;
    this.page = page;
  }
}

export const nav = new Nav();
