// A direct conversation: the messages (live, each once, in order), history that scrolls back,
// typing both ways, read markers, and a composer whose sends survive a cut connection: each
// send has a client id, and a retry with the same id is stored once (docs/direct-messages.md).

import { getJson, post } from "../chat/api.js";
import { feed } from "./feed.js";
import { setPresence } from "./presence.js";
import { element } from "../dom.js";

const data = JSON.parse(document.getElementById("direct-data").textContent);
const me = data.me;
const other = data.other;

const scroller = document.getElementById("chat");
const container = document.getElementById("direct-messages");
const olderNote = document.getElementById("chat-older");
const typingLine = document.getElementById("typing");
const statusLine = document.getElementById("chat-status");
const banner = document.getElementById("direct-banner");
const relationLine = document.getElementById("direct-relation");
const form = document.getElementById("compose");
const input = document.getElementById("input");

const TYPING_SEND_EVERY_MS = 5_000; // "still typing" at most this often
const TYPING_IDLE_MS = 4_000; // no key for this long: "stopped"
const TYPING_SHOWN_MS = 30_000; // the server's TYPING_TTL_SECONDS: a notice lapses after it
const SEND_RETRIES = 5;
const NEAR_BOTTOM_PX = 80;

const messages = new Map(); // message id -> record
let hasOlder = data.hasOlder;
let loadingOlder = false;
let readThrough = 0;

function status(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
}

function clock(ms) {
  const when = new Date(ms);
  return `${String(when.getHours()).padStart(2, "0")}:${String(when.getMinutes()).padStart(2, "0")}`;
}

function build(record) {
  const mine = record.sender_id === me.id;
  const node = element("div", mine ? "message mine" : "message");
  node.id = `dm-${record.id}`;
  node.dataset.messageId = String(record.id);
  node.dataset.userId = String(record.sender_id);
  const header = element("div", "message-header");
  header.append(element("span", "username", mine ? me.name : other.name), " ");
  const time = element("time", "timestamp", clock(record.sent_ms));
  time.dateTime = new Date(record.sent_ms).toISOString();
  header.append(time);
  const content = element("div", "content");
  content.innerHTML = record.html; // sanitised by the server (core/markup.py), as room messages are
  node.append(header, content);
  return node;
}

/** Put a message in its place by id (ids grow with time); a repeat replaces nothing. */
function upsert(record) {
  if (messages.has(record.id)) {
    return false;
  }
  messages.set(record.id, record);
  const node = build(record);
  let after = null;
  for (const child of container.children) {
    if (Number(child.dataset.messageId) > record.id) {
      after = child;
      break;
    }
  }
  container.insertBefore(node, after);
  return true;
}

function render(initial) {
  container.textContent = "";
  for (const record of initial) {
    upsert(record);
  }
  olderNote.hidden = !hasOlder;
  olderNote.textContent = hasOlder ? "Scroll up for older messages" : "";
  scroller.scrollTop = scroller.scrollHeight;
}

async function loadOlder() {
  if (!hasOlder || loadingOlder || messages.size === 0) {
    return;
  }
  loadingOlder = true;
  olderNote.hidden = false;
  olderNote.textContent = "Loading older messages…";
  const oldest = Math.min(...messages.keys());
  try {
    const page = await getJson(`/direct/${other.id}/history?before=${oldest}&limit=50`);
    const height = scroller.scrollHeight;
    for (const record of page.messages) {
      upsert(record);
    }
    // Keep what the reader looks at where it was.
    scroller.scrollTop += scroller.scrollHeight - height;
    hasOlder = page.has_older;
    olderNote.hidden = !hasOlder;
    olderNote.textContent = hasOlder ? "Scroll up for older messages" : "";
  } catch (error) {
    olderNote.textContent = "Could not load older messages; scroll up to try again";
  } finally {
    loadingOlder = false;
  }
}

/** Tell the server the reader has seen the newest message from the other (never moves back). */
async function markRead() {
  if (document.visibilityState !== "visible") {
    return;
  }
  let newest = 0;
  for (const [id, record] of messages) {
    if (record.sender_id === other.id && id > newest) {
      newest = id;
    }
  }
  if (newest <= readThrough) {
    return;
  }
  readThrough = newest;
  await post(`/direct/${other.id}/read`, { through: String(newest) });
}

// typing, theirs

let typingTimer = 0;
function showTyping(on) {
  clearTimeout(typingTimer);
  typingLine.hidden = !on;
  typingLine.textContent = on ? `${other.name} is typing…` : "";
  if (on) {
    typingTimer = setTimeout(() => showTyping(false), TYPING_SHOWN_MS);
  }
}

// typing, mine

let typingSentAt = 0;
let typingIdleTimer = 0;
function typed() {
  clearTimeout(typingIdleTimer);
  const now = Date.now();
  if (input.value.trim() && now - typingSentAt > TYPING_SEND_EVERY_MS) {
    typingSentAt = now;
    post(`/direct/${other.id}/typing`, { typing: "1" });
  }
  typingIdleTimer = setTimeout(stoppedTyping, TYPING_IDLE_MS);
}

function stoppedTyping() {
  clearTimeout(typingIdleTimer);
  if (typingSentAt) {
    typingSentAt = 0;
    post(`/direct/${other.id}/typing`, { typing: "0" });
  }
}

// sending

function clientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function send(text) {
  const id = clientId();
  for (let attempt = 0; attempt < SEND_RETRIES; attempt++) {
    const answer = await post(`/direct/${other.id}/send`, { text, client_id: id });
    if (answer.ok) {
      upsert(answer.body.message);
      scroller.scrollTop = scroller.scrollHeight;
      status("");
      return true;
    }
    if (answer.body !== null) {
      status(answer.error, true); // refused: the server stored nothing
      return false;
    }
    // No answer: the same client id again, so a send that did arrive is not stored twice.
    status("Could not reach the server; retrying…", true);
    await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
  }
  status("Not sent: the server cannot be reached", true);
  return false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) {
    return;
  }
  input.value = "";
  clearTimeout(typingIdleTimer);
  typingSentAt = 0; // the message itself ends "typing" on the other side
  if (!(await send(text))) {
    if (!input.value) {
      input.value = text; // nothing lost: the text is back for another try
    }
  }
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});
input.addEventListener("input", typed);
input.addEventListener("blur", stoppedTyping);
scroller.addEventListener("scroll", () => {
  if (scroller.scrollTop < 40) {
    loadOlder();
  }
  if (nearBottom()) {
    markRead();
  }
});
document.addEventListener("visibilitychange", () => markRead());

// live

async function refreshRelation() {
  try {
    const summary = await getJson("/contacts.json");
    const found = (summary.contacts || []).find((c) => c.id === other.id);
    relationLine.textContent = found ? found.relation : "none";
  } catch (error) {
    // shown again on the next change
  }
}

feed.watchState((state, detail) => {
  banner.hidden = state !== "lost";
  banner.textContent = state === "lost" ? detail || "Reconnecting…" : "";
});
feed.listen((events) => {
  const stick = nearBottom();
  let arrived = false;
  for (const event of events) {
    if (event.type === "message" && event.message) {
      const record = event.message;
      const ours =
        (record.sender_id === other.id && record.recipient_id === me.id) ||
        (record.sender_id === me.id && record.recipient_id === other.id);
      if (ours && upsert(record)) {
        arrived = true;
        if (record.sender_id === other.id) {
          showTyping(false);
        }
      }
    } else if (event.type === "typing" && event.user_id === other.id) {
      showTyping(Boolean(event.typing));
    } else if (event.type === "presence" && event.user_id === other.id) {
      setPresence(other.id, event.presence);
    } else if (event.type === "contact" && (event.user_id === other.id || event.target_user_id === other.id)) {
      refreshRelation();
    }
  }
  if (arrived && stick) {
    scroller.scrollTop = scroller.scrollHeight;
  }
  if (arrived) {
    markRead();
  }
});

render(data.messages);
if (data.presence) {
  setPresence(other.id, data.presence);
}
feed.start(data.cursor, me.id);
markRead();
