// On every page of a signed-in user: the "Contacts" link's unread count and live presence
// (data-presence-of elements anywhere on the page: the room list, the room sidebar, the
// contacts panel, a conversation), fed by the one direct feed of the tab.

import { feed } from "./feed.js";
import { applyPresence, setPresence } from "./presence.js";

const badge = document.getElementById("nav-unread");
const REFRESH_MS = 300; // a burst of events costs one /contacts.json

function showUnread(total) {
  if (!badge) {
    return;
  }
  badge.hidden = total === 0;
  badge.textContent = total > 0 ? String(total) : "";
  badge.setAttribute("aria-label", `${total} unread direct message${total === 1 ? "" : "s"}`);
}

function take(summary) {
  let total = 0;
  for (const contact of summary.contacts || []) {
    setPresence(contact.id, contact.presence);
    total += contact.unread || 0;
  }
  for (const other of summary.conversations || []) {
    if (!(summary.contacts || []).some((c) => c.id === other.id)) {
      total += other.unread || 0;
    }
  }
  showUnread(total);
}

async function summary() {
  const response = await fetch("/contacts.json", { credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`GET /contacts.json: ${response.status}`);
  }
  return response.json();
}

let refreshTimer = 0;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      take(await summary());
    } catch (error) {
      // The feed reports the connection; the next event tries again.
    }
  }, REFRESH_MS);
}

feed.listen((events) => {
  let counts = false;
  for (const event of events) {
    if (event.type === "presence") {
      setPresence(event.user_id, event.presence);
    } else if (event.type === "message" || event.type === "read" || event.type === "contact") {
      counts = true;
    }
  }
  if (counts) {
    refreshSoon();
  }
});

async function boot() {
  const block = document.getElementById("direct-data");
  if (block) {
    // A direct page: its data block holds the cursor; the counts come with the first refresh.
    const data = JSON.parse(block.textContent);
    feed.start(data.cursor, data.me.id);
    refreshSoon();
    return;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const first = await summary();
      take(first);
      feed.start(first.cursor, first.me.id);
      return;
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** attempt)));
    }
  }
}

// The feed's state on the page, for styles and for the browser tests.
feed.watchState((state) => {
  document.body.dataset.directFeed = state;
});
applyPresence();
boot();
