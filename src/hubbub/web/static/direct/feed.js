// The signed-in user's live direct stream: GET /direct/events?since=<cursor>&wait=1 in a loop
// (docs/direct-messages.md, "Web and SDK"). One feed per tab, shared by every script on the
// page (ES modules are evaluated once per URL): the navigation badge, the contacts panel, a
// conversation and the room sidebar all listen to the same one.
//
// Delivery guarantee: every event is handed to the listeners exactly once and in log order.
// The cursor is the last log id handed over; the server answers from its store after it, so a
// poll that is cut (network gone, server restarted, laptop asleep) is simply asked again from
// the same cursor and the gap is filled by that answer. Anything at or below the cursor is
// dropped, so an answer that repeats an event cannot hand it over twice.
//
// After a start or a failure the feed first catches up without waiting (wait=0, answers of
// up to 500 events, until one comes back empty), and only then says "live" and holds polls.
//
// One poll per browser, not per tab: a browser opens at most six connections to a host, and
// six tabs each holding a poll would starve every other request. The tabs of one user elect a
// leader with the Web Locks API; the leader polls and passes each answer to the other tabs on a
// BroadcastChannel. A follower first catches up from its own cursor by itself (so nothing the
// leader passed on before it listened is missed), holding back what the leader passes on
// meanwhile (releasing it early could jump its cursor over what its own catch-up is still
// bringing), then takes the leader's answers through the same once-only filter. When the leader's tab closes, its lock goes to a follower, which goes
// on polling from its own cursor: a handover repeats nothing (the filter) and loses nothing
// (the server answers from its log). Browsers without either API simply poll in every tab.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
// The server holds a poll at most direct_poll_hold_seconds (25 s by default); a poll that
// has not answered long after that is on a dead connection even if the browser has not noticed.
const DEAD_AFTER_MS = 60_000;
const MAX_HELD_EVENTS = 5_000; // a follower's held-back events; beyond, it drops them and catches up again

class DirectFeed {
  constructor() {
    this.cursor = null;
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.retryMs = FIRST_RETRY_MS;
    this.wakeRetry = null;
    this.state = "connecting";
    this.controller = null;
    this.caughtUp = false;
    this.channel = null;
    this.leading = false;
    this.held = null; // a follower's events from the leader while it catches up by itself
    this.overflowed = false; // ... more than MAX_HELD_EVENTS came: they are read from the server
  }

  listen(onEvents) {
    this.listeners.add(onEvents);
  }

  watchState(onState) {
    this.stateListeners.add(onState);
    onState(this.state);
  }

  setState(state, detail) {
    this.state = state;
    this.detail = detail;
    for (const listener of this.stateListeners) {
      listener(state, detail);
    }
    if (this.leading) {
      this.channel.postMessage({ kind: "state", state, detail });
    }
  }

  /**
   * @param {number} cursor the last log id the page already reflects
   * @param {number} userId whose feed it is (tabs of different users never share one)
   */
  start(cursor, userId) {
    if (this.cursor !== null) {
      return; // already running: the first page script's cursor counts
    }
    this.cursor = cursor;
    window.addEventListener("online", () => this.retryNow());
    if (typeof BroadcastChannel !== "function" || !navigator.locks) {
      this.run();
      return;
    }
    this.channel = new BroadcastChannel(`hubbub-direct-${userId}`);
    this.channel.addEventListener("message", (message) => this.heard(message.data));
    navigator.locks.request(`hubbub-direct-${userId}`, () => {
      this.leading = true;
      this.held = null; // run() reads from the cursor on: nothing held is needed
      return this.run(); // never settles: the lock is held until the tab goes
    });
    this.follow();
  }

  /** A follower's own catch-up (the leader's events held back meanwhile), then the leader's state. */
  async follow() {
    this.held = [];
    this.overflowed = false;
    while (!this.leading) {
      const answer = await this.poll(false);
      if (this.leading) {
        break; // the lock came: run() catches up from the cursor by itself
      }
      if (answer === null) {
        this.setState("lost", "Cannot reach the server; retrying");
        await this.pause();
        continue;
      }
      this.retryMs = FIRST_RETRY_MS;
      this.take(answer);
      if (this.overflowed) {
        this.overflowed = false; // what was dropped is after this answer: poll on
        continue;
      }
      if (answer.events.length === 0) {
        const held = this.held;
        this.held = null;
        this.deliver(held);
        this.setState("live");
        this.channel.postMessage({ kind: "hello" });
        return;
      }
    }
    this.held = null;
  }

  heard(message) {
    if (!message || typeof message !== "object") {
      return;
    }
    if (this.leading) {
      if (message.kind === "hello") {
        this.channel.postMessage({ kind: "state", state: this.state, detail: this.detail });
      }
      return;
    }
    if (message.kind === "events" && Array.isArray(message.events)) {
      if (this.held === null) {
        this.deliver(message.events);
      } else if (this.held.length + message.events.length <= MAX_HELD_EVENTS) {
        this.held.push(...message.events);
      } else {
        this.held = []; // too much to hold: follow() reads it from the server instead
        this.overflowed = true;
      }
    } else if (message.kind === "state") {
      this.setState(message.state, message.detail);
    }
  }

  retryNow() {
    if (this.wakeRetry) {
      this.wakeRetry();
    }
  }

  /** Cut the poll in flight (tests and a page that knows its network changed); it is asked again. */
  interrupt() {
    if (this.controller) {
      this.controller.abort();
    }
  }

  async run() {
    for (;;) {
      const answer = await this.poll();
      if (answer === null) {
        this.caughtUp = false;
        this.setState("lost", "Cannot reach the server; retrying");
        await this.pause();
        continue;
      }
      this.retryMs = FIRST_RETRY_MS;
      this.take(answer);
      if (this.leading && answer.events.length > 0) {
        this.channel.postMessage({ kind: "events", events: answer.events });
      }
      if (!this.caughtUp && answer.events.length === 0) {
        this.caughtUp = true;
        this.setState("live");
      }
    }
  }

  take(answer) {
    this.deliver(answer.events);
    if (typeof answer.cursor === "number" && answer.cursor > this.cursor) {
      this.cursor = answer.cursor;
    }
  }

  async poll(wait = this.caughtUp) {
    const controller = new AbortController();
    this.controller = controller;
    const timer = setTimeout(() => controller.abort(), DEAD_AFTER_MS);
    try {
      const response = await fetch(`/direct/events?since=${this.cursor}&wait=${wait ? 1 : 0}`, {
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) {
        return null;
      }
      const body = await response.json();
      return body && Array.isArray(body.events) ? body : null;
    } catch (error) {
      return null;
    } finally {
      clearTimeout(timer);
      if (this.controller === controller) {
        this.controller = null;
      }
    }
  }

  pause() {
    // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    return new Promise((resolve) => {
      const timer = setTimeout(done, delay);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeRetry = null;
        resolve();
      }
      this.wakeRetry = done;
    });
  }

  deliver(events) {
    const fresh = events.filter((event) => typeof event.id === "number" && event.id > this.cursor);
    fresh.sort((a, b) => a.id - b.id);
    const once = fresh.filter((event, i) => i === 0 || event.id !== fresh[i - 1].id);
    if (once.length === 0) {
      return;
    }
    this.cursor = once[once.length - 1].id;
    for (const listener of this.listeners) {
      try {
        listener(once);
      } catch (error) {
        console.error(error); // one broken listener must not stop the others or the feed
      }
    }
  }
}

export const feed = new DirectFeed();
window.hubbubDirectFeed = feed; // for the browser tests' cuts
