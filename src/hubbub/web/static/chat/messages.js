// The message list: renders sechat type-1 records, applies live changes, keeps the
// DOM small. The message body is the server's sanitised HTML (record.content) and is
// the only HTML ever inserted; names, times and labels are set with textContent.

import { element } from "../dom.js";

const MAX_MESSAGES = 400; // DOM cap: beyond this the far end of the list is dropped
const NEAR_BOTTOM_PX = 120;
// What Tab reaches inside the current message only; everywhere else these are skipped,
// so a long room is not hundreds of Tab stops between the page top and the message box.
const ROVING = ".message-actions button, .message-header a, a.reply-parent";

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

/** The viewer's local time for a Unix time: ["", "14:05"], or ["Nov 3", "14:05"] when not today. */
export function localTime(seconds) {
  const date = new Date(seconds * 1000);
  const clock = clockFormat.format(date);
  return date.toDateString() === new Date().toDateString() ? ["", clock] : [dayFormat.format(date), clock];
}

function actionButton(action, label, text) {
  const button = element("button", `action action-${action}`, text);
  button.type = "button";
  button.dataset.action = action;
  button.setAttribute("aria-label", label);
  button.title = label;
  // Roving focus: only the current message's buttons are in the tab order (see setCurrent).
  button.tabIndex = -1;
  return button;
}

export class MessageList {
  /**
   * @param {object} options
   * @param {HTMLElement} options.scroller the scrolling log
   * @param {HTMLElement} options.container where message elements live
   * @param {{id:number,name:string}|null} options.me
   * @param {boolean} options.isOwner
   * @param {boolean} options.canPost
   * @param {() => number} options.serverNow the server's clock, in Unix seconds
   * @param {number} options.editWindow seconds
   * @param {(action: string, id: number) => void} options.onAction
   */
  constructor(options) {
    Object.assign(this, options);
    this.messages = new Map(); // message id -> {record, node}
    this.starredByMe = new Set();
    this.mentions = new Set(); // message ids that ping or reply to the viewer
    this.hasOlder = true;
    this.detached = false; // true when the newest messages were dropped to keep the cap
    this.current = null; // the message whose buttons are in the tab order
    this.container.addEventListener("focusin", (event) => {
      const node = event.target.closest(".message");
      if (node) {
        this.setCurrent(node);
      }
    });
    this.container.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      const node = event.target.closest(".message");
      if (button && node) {
        this.onAction(button.dataset.action, Number(node.dataset.messageId));
      }
    });
  }

  get size() {
    return this.messages.size;
  }

  oldestId() {
    const first = this.container.firstElementChild;
    return first ? Number(first.dataset.messageId) : 0;
  }

  newestId() {
    const last = this.container.lastElementChild;
    return last ? Number(last.dataset.messageId) : 0;
  }

  record(id) {
    const entry = this.messages.get(id);
    return entry ? entry.record : null;
  }

  isMine(record) {
    return this.me !== null && record.user_id === this.me.id;
  }

  /**
   * Whether the message pings the viewer: `@` and at least 3 letters that their name,
   * spaces removed, starts with (the server's rule), or replies to one of their messages.
   */
  mentionsMe(record, node) {
    if (this.me === null || this.isMine(record)) {
      return false;
    }
    if (this.mentions.has(record.message_id)) {
      return true;
    }
    if (record.parent_id && record.show_parent) {
      const parent = this.record(record.parent_id);
      if (parent && this.isMine(parent)) {
        return true;
      }
    }
    const name = this.me.name.replace(/\s+/g, "").toLowerCase();
    const content = node.querySelector(".content");
    // Pings inside code do not count (the server ignores them too).
    const text = Array.from(content.childNodes)
      .filter((child) => !(child.nodeType === 1 && child.matches("code, pre")))
      .map((child) => child.textContent)
      .join(" ");
    for (const match of text.matchAll(/@([\p{L}\p{N}_.-]{3,})/gu)) {
      if (name.startsWith(match[1].toLowerCase())) {
        return true;
      }
    }
    return false;
  }

  editable(record) {
    return this.isMine(record) && this.serverNow() - record.time_stamp < this.editWindow;
  }

  build(record) {
    const node = element("article", "message");
    node.id = `message-${record.message_id}`;
    node.dataset.messageId = String(record.message_id);
    node.dataset.userId = String(record.user_id);
    node.setAttribute("aria-labelledby", `message-${record.message_id}-by`);
    node.tabIndex = -1; // focusable with the arrow keys, not a Tab stop of its own

    const avatar = element("img", "avatar");
    avatar.src = `/users/${record.user_id}/avatar.svg`;
    avatar.alt = "";
    avatar.width = 32;
    avatar.height = 32;
    node.append(avatar);

    const body = element("div", "message-body");
    const header = element("div", "message-header");
    const name = element("a", "username", record.user_name);
    name.href = `/users/${record.user_id}`;
    name.id = `message-${record.message_id}-by`;
    const time = element("time", "timestamp");
    const [day, clock] = localTime(record.time_stamp);
    if (day) {
      time.append(element("span", "time-day", `${day} `));
    }
    time.append(element("span", "time-clock", clock));
    time.dateTime = new Date(record.time_stamp * 1000).toISOString();
    time.title = fullFormat.format(new Date(record.time_stamp * 1000));
    const permalink = element("a", "permalink");
    permalink.href = `/transcript/message/${record.message_id}#${record.message_id}`;
    permalink.append(time);
    header.append(name, " ", permalink);
    if (record.message_edits) {
      const edited = element("a", "edited", "edited");
      edited.href = `/messages/${record.message_id}/history`;
      edited.title = `Edited ${record.message_edits} time${record.message_edits === 1 ? "" : "s"}`;
      header.append(" ", edited);
    }
    body.append(header);

    if (record.parent_id && record.show_parent) {
      body.append(this.buildParent(record.parent_id));
    }
    const content = element("div", "content");
    content.innerHTML = record.content; // the server's sanitised message HTML
    body.append(content);

    const stars = element("div", "message-stars");
    if (record.message_stars) {
      const count = element("span", "stars", `★ ${record.message_stars}`);
      const plural = record.message_stars === 1 ? "" : "s";
      count.setAttribute("aria-label", `${record.message_stars} star${plural}`);
      if (this.starredByMe.has(record.message_id)) {
        count.classList.add("user-star");
      }
      stars.append(count);
    }
    if (record.message_owner_stars) {
      const pin = element("span", "stars owner-star", "pinned");
      stars.append(pin);
    }
    body.append(stars);
    node.append(body);

    const actions = element("div", "message-actions");
    actions.setAttribute("role", "group");
    actions.setAttribute("aria-label", `Actions for ${record.user_name}'s message`);
    if (this.me !== null) {
      if (this.canPost) {
        actions.append(actionButton("reply", `Reply to ${record.user_name}`, "↩"));
      }
      if (!this.isMine(record)) {
        const starred = this.starredByMe.has(record.message_id);
        const label = starred ? "Remove your star" : "Star this message";
        const star = actionButton("star", label, starred ? "★" : "☆");
        star.setAttribute("aria-pressed", String(starred));
        actions.append(star);
      }
      if (this.isOwner) {
        const pinned = Boolean(record.message_owner_stars);
        const label = pinned ? "Unpin this message" : "Pin this message";
        const pin = actionButton("pin", label, pinned ? "unpin" : "pin");
        pin.setAttribute("aria-pressed", String(pinned));
        actions.append(pin);
      }
      if (this.editable(record)) {
        actions.append(actionButton("edit", "Edit this message", "✎"));
        actions.append(actionButton("delete", "Delete this message", "✕"));
      }
    }
    // First in DOM order, so Tab from a focused message reaches its actions first.
    body.before(actions);
    for (const control of node.querySelectorAll(ROVING)) {
      control.tabIndex = -1;
    }

    if (this.mentionsMe(record, node)) {
      node.classList.add("mention");
    }
    if (this.isMine(record)) {
      node.classList.add("mine");
    }
    return node;
  }

  /** "↪ Name: text" above a reply; the parent's text comes from the list, or is fetched as plain text. */
  buildParent(parentId) {
    const box = element("a", "reply-parent");
    box.href = `/transcript/message/${parentId}#${parentId}`;
    box.dataset.parentId = String(parentId);
    const parent = this.record(parentId);
    if (parent) {
      const content = this.messages.get(parentId).node.querySelector(".content");
      this.fillParent(box, parent.user_name, content.textContent);
    } else {
      this.fillParent(box, "", "an earlier message");
      fetch(`/message/${parentId}?plain=true`, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
        .then((text) => this.fillParent(box, "", text))
        .catch(() => {});
    }
    box.addEventListener("click", (event) => {
      const target = document.getElementById(`message-${parentId}`);
      if (target) {
        event.preventDefault();
        target.scrollIntoView({ block: "center" });
        target.classList.add("flash");
        setTimeout(() => target.classList.remove("flash"), 1500);
      }
    });
    return box;
  }

  fillParent(box, name, text) {
    box.textContent = "";
    box.append(element("span", "reply-arrow", "↪ "));
    if (name) {
      box.append(element("strong", "reply-name", name), ": ");
    }
    const excerpt = text.trim().replace(/\s+/g, " ");
    box.append(element("span", "reply-text", excerpt.length > 120 ? `${excerpt.slice(0, 119)}…` : excerpt));
    box.setAttribute("aria-label", `In reply to ${name || "a message"}: ${excerpt.slice(0, 120)}`);
  }

  /** Mark consecutive messages of one author so only the first shows the name and avatar. */
  regroup(node) {
    if (!node) {
      return;
    }
    const previous = node.previousElementSibling;
    const same =
      previous &&
      previous.dataset.userId === node.dataset.userId &&
      this.record(Number(node.dataset.messageId)).time_stamp -
        this.record(Number(previous.dataset.messageId)).time_stamp <
        300;
    node.classList.toggle("continued", Boolean(same));
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Insert or replace a message; keeps id order. Returns the node, or null when not shown. */
  upsert(record) {
    const existing = this.messages.get(record.message_id);
    if (existing) {
      // An edit of a message we hold; a stale copy (fewer edits) never overwrites a newer one.
      if ((record.message_edits || 0) < (existing.record.message_edits || 0)) {
        return existing.node;
      }
      const merged = { ...existing.record, ...record, time_stamp: existing.record.time_stamp };
      const node = this.build(merged);
      // A rebuilt message keeps keyboard focus where it was (the star button after starring).
      const focused = existing.node.contains(document.activeElement) ? document.activeElement : null;
      const wasCurrent = existing.node === this.current;
      existing.node.replaceWith(node);
      if (wasCurrent) {
        this.setCurrent(node);
      }
      if (focused) {
        const action = focused.dataset ? focused.dataset.action : undefined;
        const again = action ? node.querySelector(`button[data-action="${action}"]`) : null;
        (again || node).focus({ preventScroll: true });
      }
      this.messages.set(record.message_id, { record: merged, node });
      this.regroup(node);
      return node;
    }
    if (this.detached && record.message_id > this.newestId()) {
      return null; // the newest part is not in the DOM; "jump to latest" reloads it
    }
    const node = this.build(record);
    this.messages.set(record.message_id, { record, node });
    let after = this.container.lastElementChild;
    while (after && Number(after.dataset.messageId) > record.message_id) {
      after = after.previousElementSibling;
    }
    if (after) {
      after.after(node);
    } else {
      this.container.prepend(node);
    }
    this.regroup(node);
    this.regroup(node.nextElementSibling);
    return node;
  }

  remove(messageId) {
    const entry = this.messages.get(messageId);
    if (!entry) {
      return;
    }
    const next = entry.node.nextElementSibling;
    if (entry.node === this.current) {
      const neighbour = next || entry.node.previousElementSibling;
      const hadFocus = entry.node.contains(document.activeElement);
      this.setCurrent(neighbour);
      if (hadFocus) {
        (neighbour || this.scroller).focus();
      }
    }
    entry.node.remove();
    this.messages.delete(messageId);
    this.regroup(next);
  }

  /** Make `node` the message whose action buttons are reachable with Tab. */
  setCurrent(node) {
    if (this.current && this.current !== node) {
      for (const control of this.current.querySelectorAll(ROVING)) {
        control.tabIndex = -1;
      }
      this.current.classList.remove("current");
    }
    this.current = node || null;
    if (this.current) {
      for (const control of this.current.querySelectorAll(ROVING)) {
        control.tabIndex = 0;
      }
      this.current.classList.add("current");
    }
  }

  /**
   * Arrow keys in the log: Up/Down move between messages, Home/End jump to the ends,
   * Tab then reaches the focused message's buttons. Returns true when the key was used.
   */
  navigate(key) {
    const focused = document.activeElement && document.activeElement.closest(".message");
    const from = focused && this.container.contains(focused) ? focused : null;
    let target = null;
    if (key === "ArrowUp") {
      target = from ? from.previousElementSibling : this.container.lastElementChild;
    } else if (key === "ArrowDown") {
      target = from ? from.nextElementSibling : this.container.lastElementChild;
    } else if (key === "Home") {
      target = this.container.firstElementChild;
    } else if (key === "End") {
      target = this.container.lastElementChild;
    } else {
      return false;
    }
    if (target) {
      this.setCurrent(target);
      target.focus();
      target.scrollIntoView({ block: "nearest" });
    }
    return true;
  }

  /** Live star or pin counts (event 6). */
  setStars(messageId, stars, pins) {
    const entry = this.messages.get(messageId);
    if (entry) {
      this.upsert({ ...entry.record, message_stars: stars, message_owner_stars: pins });
    }
  }

  toggleMyStar(messageId) {
    if (this.starredByMe.has(messageId)) {
      this.starredByMe.delete(messageId);
    } else {
      this.starredByMe.add(messageId);
    }
    const entry = this.messages.get(messageId);
    if (entry) {
      this.upsert({ ...entry.record });
    }
  }

  markMention(messageId) {
    this.mentions.add(messageId);
    const entry = this.messages.get(messageId);
    if (entry) {
      entry.node.classList.add("mention");
    }
  }

  /** Live messages at the bottom: follow them if the reader is at the bottom, trim the top. */
  appendLive(records) {
    const follow = this.nearBottom();
    let added = 0;
    for (const record of records) {
      if (this.upsert(record) !== null) {
        added++;
      }
    }
    if (follow) {
      this.trim("top");
      this.scrollToBottom();
    } else {
      this.trim("bottom"); // reading above: past the cap the newest go, "jump to latest" reloads them
    }
    return { added, followed: follow };
  }

  /** Older messages at the top, keeping what the reader looks at in place. */
  prependOlder(records) {
    const before = this.scroller.scrollHeight;
    const top = this.scroller.scrollTop;
    for (const record of records) {
      this.upsert(record);
    }
    this.scroller.scrollTop = top + (this.scroller.scrollHeight - before);
    this.trim("bottom");
  }

  /** Keep at most MAX_MESSAGES in the DOM; what is dropped can be loaded again. */
  trim(end) {
    while (this.messages.size > MAX_MESSAGES) {
      const node = end === "top" ? this.container.firstElementChild : this.container.lastElementChild;
      this.messages.delete(Number(node.dataset.messageId));
      if (node === this.current) {
        this.setCurrent(null);
      }
      node.remove();
      if (end === "top") {
        this.hasOlder = true;
      } else {
        this.detached = true;
      }
    }
    this.regroup(this.container.firstElementChild);
  }

  clear() {
    this.setCurrent(null);
    this.container.textContent = "";
    this.messages.clear();
    this.detached = false;
  }

  /** Hide edit and delete once the window has passed; refresh "today" times after midnight. */
  refresh() {
    for (const [id, entry] of this.messages) {
      const canEdit = Boolean(entry.node.querySelector(".action-edit"));
      if (canEdit !== this.editable(entry.record)) {
        this.upsert({ ...entry.record, message_id: id });
      }
    }
  }

  /** The viewer's newest message still inside the edit window (for up-arrow editing). */
  lastEditable() {
    for (let node = this.container.lastElementChild; node; node = node.previousElementSibling) {
      const record = this.record(Number(node.dataset.messageId));
      if (record && this.editable(record)) {
        return record;
      }
    }
    return null;
  }
}
