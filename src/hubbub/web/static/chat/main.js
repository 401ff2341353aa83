// The room screen: boots the message list, the event stream, the composer, the sidebar
// and the inbox counter from the page's JSON data block (no inline script runs; the
// Content-Security-Policy forbids it).

import { post } from "./api.js";
import { Composer } from "./composer.js";
import { Inbox } from "./inbox.js";
import { MessageList } from "./messages.js";
import { People, Starred, textOf } from "./sidebar.js";
import { EventStream } from "./stream.js";

const EVENT = {
  POSTED: 1,
  EDITED: 2,
  ENTERED: 3,
  LEFT: 4,
  ROOM_CHANGED: 5,
  STARRED: 6,
  MENTIONED: 8,
  DELETED: 10,
  ACCESS_CHANGED: 15,
  REPLIED: 18,
  MOVED_OUT: 19,
  MOVED_IN: 20,
};
const OLDER_PAGE = 50;
const STATUS_CLEAR_MS = 8_000;

const data = JSON.parse(document.getElementById("room-data").textContent);
const roomId = data.room.id;
const me = data.me;
// Judge the edit window and idleness by the server's clock, not the browser's.
const clockSkew = data.now - Date.now() / 1000;
const serverNow = () => Date.now() / 1000 + clockSkew;

const scroller = document.getElementById("chat");
const container = document.getElementById("chat-messages");
const statusLine = document.getElementById("chat-status");
const banner = document.getElementById("connection-banner");
const olderNote = document.getElementById("chat-older");
const jumpButton = document.getElementById("jump-latest");

let statusTimer = 0;
function status(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    statusLine.textContent = "";
  }, STATUS_CLEAR_MS);
}

/** Records leave out zero counts; the list merges records, so make zeros explicit. */
function normalise(record) {
  return {
    ...record,
    message_edits: record.message_edits || 0,
    message_stars: record.message_stars || 0,
    message_owner_stars: record.message_owner_stars || 0,
  };
}

const list = new MessageList({
  scroller,
  container,
  me,
  isOwner: data.isOwner,
  canPost: data.canPost,
  serverNow,
  editWindow: data.editWindow,
  onAction: (action, id) => act(action, id),
});
for (const id of data.starredByMe) {
  list.starredByMe.add(id);
}

const people = new People(document.getElementById("people-list"), serverNow, data.present);
const starred = new Starred(document.getElementById("starred-list"), data.starred);

const unreadMentions = new Set();
const inbox = me
  ? new Inbox(
      me.id,
      data.unread,
      // Pings seen live, and those on the page from before it loaded (acking a read one is harmless).
      () => {
        const nodes = container.querySelectorAll(".message.mention");
        const shown = Array.from(nodes, (node) => Number(node.dataset.messageId));
        return Array.from(new Set([...unreadMentions, ...shown.slice(-100)]));
      },
      (id) => {
        unreadMentions.clear();
        document.getElementById(`message-${id}`)?.scrollIntoView({ block: "center" });
      },
    )
  : null;

const form = document.getElementById("compose");
const composer = form
  ? new Composer({
      form,
      input: document.getElementById("input"),
      mode: document.getElementById("compose-mode"),
      mentionList: document.getElementById("mention-list"),
      roomId,
      lastEditable: () => list.lastEditable(),
      status,
    })
  : null;

// The server-rendered list is for readers without JavaScript; rebuild it from the records.
list.clear();
for (const record of data.events) {
  list.upsert(normalise(record));
}
list.hasOlder = data.events.length > 0;
list.scrollToBottom();

async function act(action, id) {
  const record = list.record(id);
  if (action === "reply") {
    composer?.replyTo(id);
    return;
  }
  if (action === "edit") {
    await composer?.startEdit(id);
    return;
  }
  const paths = {
    star: `/messages/${id}/star`,
    pin: `/messages/${id}/owner-star`,
    delete: `/messages/${id}/delete`,
  };
  if (!(action in paths)) {
    return;
  }
  const result = await post(paths[action]);
  if (!result.ok) {
    status(result.error, true);
    return;
  }
  if (action === "star") {
    list.toggleMyStar(id);
  }
  if (action === "delete" && record) {
    status("Message deleted.");
  }
}

// While a page of messages is being fetched (older ones, or the latest after "jump to
// latest"), the message events that arrive meanwhile are kept and replayed once the page is
// in the list: the page may have been read before them. Applying again an event the page
// already reflects changes nothing.
const CHANGES = [EVENT.EDITED, EVENT.STARRED, EVENT.DELETED, EVENT.MOVED_OUT];
const ALL_MESSAGE_EVENTS = [...CHANGES, EVENT.POSTED, EVENT.MOVED_IN];
const fetching = new Map(); // buffer -> the event types it keeps

/** Fetch a page of messages (`load`), with the message events that arrived meanwhile. */
async function whileFetching(types, load) {
  const meanwhile = [];
  fetching.set(meanwhile, types);
  try {
    return [await load(), meanwhile];
  } finally {
    fetching.delete(meanwhile);
  }
}

function applyEvents(events) {
  for (const [buffer, types] of fetching) {
    buffer.push(...events.filter((event) => types.includes(event.event_type)));
  }
  const live = [];
  for (const event of events) {
    switch (event.event_type) {
      case EVENT.POSTED:
      case EVENT.MOVED_IN:
        if (event.content !== undefined) {
          live.push(normalise(event));
        }
        people.seen(event.user_id, event.user_name, event.time_stamp);
        break;
      case EVENT.EDITED:
        // Only messages the list holds: one outside it (older than the page, or trimmed)
        // is not slotted in out of sequence; it comes with its edit when loaded.
        if (list.record(event.message_id)) {
          list.upsert(normalise(event));
        }
        starred.retext(event.message_id, textOf(event.content));
        break;
      case EVENT.DELETED:
      case EVENT.MOVED_OUT:
        list.remove(event.message_id);
        starred.remove(event.message_id);
        break;
      case EVENT.STARRED: {
        const stars = event.message_stars || 0;
        const pins = event.message_owner_stars || 0;
        list.setStars(event.message_id, stars, pins);
        const record = list.record(event.message_id);
        starred.update(
          event.message_id,
          record ? record.user_name : "",
          record ? textOf(record.content) : textOf(event.content),
          stars,
          pins,
        );
        break;
      }
      case EVENT.MENTIONED:
      case EVENT.REPLIED:
        if (me && event.target_user_id === me.id) {
          list.markMention(event.message_id);
          unreadMentions.add(event.message_id);
          inbox?.pinged();
        }
        break;
      case EVENT.ROOM_CHANGED:
        renamed(event);
        break;
      case EVENT.ACCESS_CHANGED:
        if (me && event.target_user_id === me.id) {
          const kicked = /^priv \d+ created$/.test(event.content || "");
          status(
            kicked
              ? "You were kicked from this room for a while."
              : "Your access to this room changed; reload the page to see it.",
            true,
          );
        }
        break;
      case EVENT.ENTERED:
        people.seen(event.user_id, event.user_name, event.time_stamp);
        break;
      case EVENT.LEFT:
        people.left(event.user_id);
        if (me && event.user_id === me.id && stream) {
          stream.restart("You left this room");
        }
        break;
      default:
        break;
    }
  }
  if (live.length) {
    const { added, followed } = list.appendLive(live);
    if (added && !followed) {
      jumpButton.hidden = false;
    }
    if (list.detached) {
      jumpButton.hidden = false;
    }
  }
}

/** Event 5: content is "<name> / <description>" and room_name is the new name. */
function renamed(event) {
  const name = event.room_name || data.room.name;
  const link = document.querySelector("#room-name a");
  if (link) {
    link.textContent = name;
  }
  document.title = document.title.replace(data.room.name, () => name); // a name is no replacement pattern
  data.room.name = name;
  const prefix = `${name} / `;
  if (typeof event.content === "string" && event.content.startsWith(prefix)) {
    let description = document.getElementById("room-desc");
    if (!description) {
      description = document.createElement("p");
      description.id = "room-desc";
      document.getElementById("room-name").after(description);
    }
    description.textContent = event.content.slice(prefix.length);
  }
}

function connectionState(state, detail) {
  if (state === "live") {
    banner.hidden = true;
    banner.textContent = "";
    document.body.classList.remove("offline");
  } else if (state === "lost") {
    banner.hidden = false;
    banner.textContent = `${detail || "Connection lost"}. Reconnecting…`;
    document.body.classList.add("offline");
  }
}

// Older messages when the reader scrolls to the top.
let loadingOlder = false;
async function loadOlder() {
  if (loadingOlder || !list.hasOlder) {
    return;
  }
  loadingOlder = true;
  olderNote.hidden = false;
  olderNote.textContent = "Loading older messages…";
  const fields = { mode: "Messages", msgCount: String(OLDER_PAGE) };
  const oldest = list.oldestId();
  if (oldest) {
    fields.before = String(oldest);
  }
  const [result, meanwhile] = await whileFetching(CHANGES, () => post(`/chats/${roomId}/events`, fields));
  loadingOlder = false;
  if (!result.ok) {
    olderNote.textContent = "Could not load older messages.";
    return;
  }
  const events = result.body.events || [];
  list.prependOlder(events.map(normalise));
  applyEvents(meanwhile);
  if (list.detached) {
    jumpButton.hidden = false; // the newest messages left the DOM: offer the way back
  }
  if (events.length < OLDER_PAGE) {
    list.hasOlder = false;
    olderNote.textContent = "This is the start of the room.";
  } else {
    olderNote.hidden = true;
  }
}
scroller.addEventListener("scroll", () => {
  if (scroller.scrollTop < 200) {
    loadOlder();
  }
  if (list.nearBottom() && !list.detached) {
    jumpButton.hidden = true;
  }
});

// Back to the newest messages (also after older pages pushed them out of the DOM).
let reloadingLatest = false;
jumpButton.addEventListener("click", async () => {
  if (reloadingLatest) {
    return;
  }
  if (list.detached) {
    reloadingLatest = true;
    const [result, meanwhile] = await whileFetching(ALL_MESSAGE_EVENTS, () =>
      post(`/chats/${roomId}/events`, { mode: "Messages", msgCount: "100" }),
    );
    reloadingLatest = false;
    if (!result.ok) {
      status(result.error, true);
      return;
    }
    list.clear();
    for (const record of result.body.events || []) {
      list.upsert(normalise(record));
    }
    list.hasOlder = true;
    list.scrollToBottom();
    applyEvents(meanwhile);
  }
  list.scrollToBottom();
  jumpButton.hidden = true;
  document.getElementById("input")?.focus();
});

// Keyboard: arrows move between messages; Escape goes back to the message box.
scroller.addEventListener("keydown", (event) => {
  if (event.target.closest("textarea, input")) {
    return;
  }
  if (event.key === "Escape") {
    document.getElementById("input")?.focus();
    event.preventDefault();
  } else if (!event.altKey && !event.ctrlKey && !event.metaKey && list.navigate(event.key)) {
    event.preventDefault();
  }
});

// On a phone there is no hover: a tap on a message shows its actions.
container.addEventListener("click", (event) => {
  if (event.target.closest("a, button")) {
    return;
  }
  const node = event.target.closest(".message");
  for (const selected of container.querySelectorAll(".message.selected")) {
    if (selected !== node) {
      selected.classList.remove("selected");
    }
  }
  node?.classList.toggle("selected");
});

// At phone width the sidebar is folded away behind a button in the room header.
const sidebarToggle = document.getElementById("sidebar-toggle");
sidebarToggle.addEventListener("click", () => {
  const open = document.body.classList.toggle("sidebar-open");
  sidebarToggle.setAttribute("aria-expanded", String(open));
});

// Edit buttons disappear when the window closes; people go idle.
setInterval(() => {
  list.refresh();
  people.render();
}, 15_000);

const stream = new EventStream(roomId, data.lastEventId, applyEvents, connectionState, me !== null);
stream.start();
inbox?.start();
document.body.dataset.chatReady = "true";
