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

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
// The server holds a poll at most direct_poll_hold_seconds (25 s by default); a poll that
// has not answered long after that is on a dead connection even if the browser has not noticed.
const DEAD_AFTER_MS = 60_000;

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
    for (const listener of this.stateListeners) {
      listener(state, detail);
    }
  }

  start(cursor) {
    if (this.cursor !== null) {
      return; // already running: the first page script's cursor counts
    }
    this.cursor = cursor;
    window.addEventListener("online", () => this.retryNow());
    this.run();
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
      this.deliver(answer.events);
      if (typeof answer.cursor === "number" && answer.cursor > this.cursor) {
        this.cursor = answer.cursor;
      }
      if (!this.caughtUp && answer.events.length === 0) {
        this.caughtUp = true;
        this.setState("live");
      }
    }
  }

  async poll() {
    const controller = new AbortController();
    this.controller = controller;
    const timer = setTimeout(() => controller.abort(), DEAD_AFTER_MS);
    try {
      const response = await fetch(`/direct/events?since=${this.cursor}&wait=${this.caughtUp ? 1 : 0}`, {
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
      this.controller = null;
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
