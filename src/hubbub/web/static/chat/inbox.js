// The inbox counter in the top bar, fed by the realtime topic socket: `<user id>-topbar`
// carries {"Inbox": {"UnreadInboxCount": n}} (shared/protocol/realtime.md). Clicking it
// marks the pings and replies seen on this page as read (POST /messages/ack).

import { post } from "./api.js";

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

export class Inbox {
  /**
   * @param {number} userId
   * @param {number} count the unread count when the page was rendered
   * @param {() => number[]} unreadIds message ids of pings and replies the page knows about
   * @param {(id: number|null) => void} onOpen scrolls to the first of them
   */
  constructor(userId, count, unreadIds, onOpen) {
    this.userId = userId;
    this.unreadIds = unreadIds;
    this.onOpen = onOpen;
    this.retryMs = FIRST_RETRY_MS;
    this.live = false;
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.id = "inbox-button";
    this.button.className = "inbox-button";
    this.count = document.createElement("span");
    this.count.id = "inbox-count";
    this.count.className = "inbox-count";
    const label = document.createElement("span");
    label.className = "inbox-label";
    label.textContent = "inbox";
    this.button.append(label, " ", this.count);
    this.button.addEventListener("click", () => this.open());
    // Beside the account links, never inside them: bots read the first link there.
    const topbar = document.getElementById("topbar");
    const nav = topbar && topbar.querySelector(".topbar-menu-links");
    if (nav) {
      nav.before(this.button);
    } else {
      document.querySelector(".room-header")?.append(this.button);
    }
    this.set(count);
  }

  /** A ping or reply seen on the event stream: counted here only while the feed is down. */
  pinged() {
    if (!this.live) {
      this.set(this.value + 1);
    }
  }

  set(count) {
    this.value = count;
    this.count.textContent = String(count);
    this.button.classList.toggle("has-unread", count > 0);
    this.button.setAttribute("aria-label", `Inbox: ${count} unread`);
  }

  async open() {
    const ids = this.unreadIds();
    if (ids.length) {
      this.onOpen(ids[0]);
      const result = await post("/messages/ack", { id: ids.join(",") });
      if (!result.ok) {
        return;
      }
    }
  }

  async start() {
    const auth = await post("/realtime/auth");
    if (!auth.ok || !auth.body || typeof auth.body.url !== "string") {
      this.retry();
      return;
    }
    const socket = new WebSocket(auth.body.url);
    const topic = `${this.userId}-topbar`;
    socket.addEventListener("open", () => {
      this.retryMs = FIRST_RETRY_MS;
      socket.send(topic);
      this.live = true;
      this.button.dataset.live = "true";
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (frame.action === "hb") {
        socket.send("hb"); // silent clients are closed at the next heartbeat
        return;
      }
      if (frame.action !== topic) {
        return;
      }
      try {
        const data = JSON.parse(frame.data); // the payload is JSON inside JSON
        const count = data && data.Inbox && data.Inbox.UnreadInboxCount;
        if (typeof count === "number") {
          this.set(count);
        }
      } catch (error) {
        // a malformed payload changes nothing
      }
    });
    socket.addEventListener("close", () => {
      this.live = false;
      delete this.button.dataset.live;
      this.retry();
    });
  }

  retry() {
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    setTimeout(() => this.start(), delay);
  }
}
