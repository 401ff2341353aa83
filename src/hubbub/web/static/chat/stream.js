// The room's live event stream: the sechat event socket, kept alive, with the gaps
// it leaves filled from the event log (sechat.md §5 and §7).
//
// Delivery guarantee for the rest of the page: every event of this room is handed to
// onEvents exactly once and in id order. Event ids are one increasing counter, so the
// stream keeps a cursor (the last id handed over) and drops anything at or below it.
// While it reconnects, socket frames are held back until POST /events has filled the
// gap; only then are they released, so a live event can never jump the cursor over
// events the log has not returned yet.

import { post } from "./api.js";

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
// The server sends a keep-alive at least every 25 s; silence for longer than this
// means the connection is dead even if the browser has not noticed.
const SILENCE_MS = 70_000;
// Safety valve for the gap-filling loop (each answer holds up to poll_max_events).
const MAX_POLLS = 50;
// Visitors who are not signed in cannot open the socket (ws-auth needs a login): they
// poll the log instead, as ChatExchange's polling watcher does.
const POLL_INTERVAL_MS = 3_000;

export class EventStream {
  /**
   * @param {number} roomId
   * @param {number} cursor the last event id the page already reflects
   * @param {(events: object[]) => void} onEvents
   * @param {(state: "connecting"|"live"|"lost", detail?: string) => void} onState
   * @param {boolean} signedIn false: poll POST /events instead of opening the socket
   */
  constructor(roomId, cursor, onEvents, onState, signedIn = true) {
    this.signedIn = signedIn;
    this.roomId = roomId;
    this.cursor = cursor;
    this.onEvents = onEvents;
    this.onState = onState;
    this.socket = null;
    this.held = null; // frames received while the gap is being filled
    this.retryMs = FIRST_RETRY_MS;
    this.retryTimer = 0;
    this.silenceTimer = 0;
    this.everConnected = false;
  }

  start() {
    if (!this.signedIn) {
      this.poll();
      return;
    }
    this.connect();
    // A laptop waking up or a phone coming back online: try at once instead of waiting.
    window.addEventListener("online", () => this.retryNow());
  }

  retryNow() {
    if (this.socket === null && this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = 0;
      this.connect();
    }
  }

  /**
   * Drop the socket and connect again (after leaving the room elsewhere, or a kick: the
   * socket only carries rooms its user is in, and ws-auth enters the room again, or says
   * why it cannot).
   */
  restart(reason) {
    const socket = this.socket;
    if (socket === null) {
      return;
    }
    this.socket = null;
    this.held = null;
    clearTimeout(this.silenceTimer);
    socket.close();
    this.scheduleRetry(reason);
  }

  async poll() {
    const ok = (await this.fillGap()) !== null; // not caught up yet: the next poll goes on
    this.onState(ok ? "live" : "lost", ok ? undefined : "Cannot reach the server");
    setTimeout(() => this.poll(), ok ? POLL_INTERVAL_MS : Math.min(POLL_INTERVAL_MS * 4, MAX_RETRY_MS));
  }

  async connect() {
    this.onState(this.everConnected ? "lost" : "connecting");
    const auth = await post("/ws-auth", { roomid: String(this.roomId) });
    if (!auth.ok || !auth.body || typeof auth.body.url !== "string") {
      this.scheduleRetry(auth.error || "The server refused the connection");
      return;
    }
    // `l` asks the server to replay what we missed too; the log poll below is what we
    // rely on, the replay only shortens the gap. The URL has no query string (§5.2).
    let socket;
    try {
      socket = new WebSocket(`${auth.body.url}?l=${this.cursor}`);
    } catch (error) {
      this.scheduleRetry("Could not open the event socket");
      return;
    }
    this.socket = socket;
    this.held = [];
    socket.addEventListener("open", () => this.opened(socket));
    socket.addEventListener("message", (event) => this.received(socket, event.data));
    socket.addEventListener("close", () => this.closed(socket));
  }

  async opened(socket) {
    this.resetSilence(socket);
    // The socket is subscribed now, so everything after what the log returns will
    // arrive on it: poll the log from our cursor, then release the held frames.
    const filled = await this.fillGap();
    if (socket !== this.socket) {
      return;
    }
    if (filled !== true) {
      // Failed, or more is left than one round of polls takes: releasing the held frames
      // now would jump the cursor over the rest. Reconnect; the next round goes on from here.
      socket.close();
      return;
    }
    const held = this.held || [];
    this.held = null;
    for (const frame of held) {
      this.deliver(frame);
    }
    this.retryMs = FIRST_RETRY_MS;
    this.everConnected = true;
    this.onState("live");
  }

  /**
   * POST /events from the cursor until the log has nothing more: true when caught up,
   * false when MAX_POLLS answers were not enough, null on failure.
   */
  async fillGap() {
    for (let i = 0; i < MAX_POLLS; i++) {
      const key = `r${this.roomId}`;
      const answer = await post("/events", { [key]: String(this.cursor) });
      if (!answer.ok || !answer.body || typeof answer.body !== "object") {
        return null;
      }
      const part = answer.body[key] || {};
      const events = Array.isArray(part.e) ? part.e : [];
      this.deliver({ [key]: { e: events } });
      // `t` is where the log answer stops: everything of this room up to it is in hand.
      if (typeof part.t === "number" && part.t > this.cursor) {
        this.cursor = part.t;
      }
      if (events.length === 0) {
        return true;
      }
    }
    return false;
  }

  received(socket, data) {
    if (socket !== this.socket) {
      return;
    }
    this.resetSilence(socket);
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (error) {
      return; // only JSON frames are ever sent; ignore anything else
    }
    if (this.held !== null) {
      this.held.push(frame);
    } else {
      this.deliver(frame);
    }
  }

  /** Hand this room's new events to the page, in order, each once. */
  deliver(frame) {
    const part = frame && frame[`r${this.roomId}`];
    if (!part || !Array.isArray(part.e)) {
      return;
    }
    const fresh = [];
    for (const event of part.e) {
      // Pings and replies from other rooms travel under every room we are in.
      if (event.room_id !== this.roomId || typeof event.id !== "number") {
        continue;
      }
      if (event.id > this.cursor) {
        fresh.push(event);
      }
    }
    fresh.sort((a, b) => a.id - b.id);
    // A frame that carries one event twice hands it over once.
    const once = fresh.filter((event, i) => i === 0 || event.id !== fresh[i - 1].id);
    if (once.length === 0) {
      return;
    }
    this.cursor = once[once.length - 1].id;
    this.onEvents(once);
  }

  resetSilence(socket) {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (socket === this.socket) {
        socket.close();
      }
    }, SILENCE_MS);
  }

  closed(socket) {
    if (socket !== this.socket) {
      return;
    }
    clearTimeout(this.silenceTimer);
    this.socket = null;
    this.held = null;
    this.scheduleRetry("Connection lost");
  }

  scheduleRetry(reason) {
    this.onState("lost", reason);
    // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      this.connect();
    }, delay);
  }
}
