// The sidebar: who is in the room (present or idle), and the starred and pinned messages.
// A contact's entry shows their presence as hubbub's core computes it (online / idle /
// offline, the same as on every other page); anyone else's shows how recently they were here.

import { presenceOf } from "../direct/presence.js";
import { element } from "../dom.js";

const IDLE_AFTER_SECONDS = 15 * 60; // no sign of life for this long: shown as idle

export class People {
  /**
   * @param {HTMLElement} list
   * @param {() => number} serverNow
   */
  constructor(list, serverNow, people) {
    this.list = list;
    this.serverNow = serverNow;
    this.people = new Map(); // user id -> {id, name, lastSeen}
    for (const person of people) {
      this.people.set(person.id, person);
    }
    this.render();
    window.addEventListener("hubbub:presence", () => this.render());
  }

  seen(id, name, when) {
    const person = this.people.get(id) || { id, name, lastSeen: 0 };
    person.name = name || person.name;
    person.lastSeen = Math.max(person.lastSeen, when);
    this.people.set(id, person);
    this.render();
  }

  left(id) {
    if (this.people.delete(id)) {
      this.render();
    }
  }

  names() {
    return Array.from(this.people.values(), (person) => person.name);
  }

  render() {
    const now = this.serverNow();
    const sorted = Array.from(this.people.values()).sort(
      (a, b) => b.lastSeen - a.lastSeen || a.name.localeCompare(b.name),
    );
    this.list.textContent = "";
    for (const person of sorted) {
      const core = presenceOf(person.id);
      const idle = core ? core !== "online" : now - person.lastSeen > IDLE_AFTER_SECONDS;
      const item = element("li", idle ? "person idle" : "person present");
      const link = element("a");
      link.href = `/users/${person.id}`;
      const avatar = element("img", "avatar");
      avatar.src = `/users/${person.id}/avatar.svg`;
      avatar.alt = "";
      avatar.width = 24;
      avatar.height = 24;
      link.append(avatar, element("span", "person-name", person.name));
      const state = element("span", "person-state", core || (idle ? "idle" : "here"));
      if (core) {
        state.dataset.presenceOf = String(person.id);
        state.dataset.presence = core;
      }
      item.append(link, " ", state);
      item.setAttribute("aria-label", `${person.name}, ${core || (idle ? "idle" : "present")}`);
      this.list.append(item);
    }
  }
}

export class Starred {
  /**
   * @param {HTMLElement} list
   * @param {object[]} records type-1 records of starred or pinned messages
   */
  constructor(list, records) {
    this.list = list;
    this.items = new Map(); // message id -> {id, user_name, text, stars, pins}
    for (const record of records) {
      this.items.set(record.message_id, {
        id: record.message_id,
        user_name: record.user_name,
        text: textOf(record.content),
        stars: record.message_stars || 0,
        pins: record.message_owner_stars || 0,
      });
    }
    this.render();
  }

  /** Update counts (event 6); `text` comes from the message list when we have it. */
  update(id, userName, text, stars, pins) {
    if (!stars && !pins) {
      this.remove(id);
      return;
    }
    const item = this.items.get(id) || {
      id,
      user_name: userName || "someone",
      text: text || "(an older message)",
    };
    item.stars = stars;
    item.pins = pins;
    if (text) {
      item.text = text;
    }
    if (userName) {
      item.user_name = userName;
    }
    this.items.set(id, item);
    this.render();
  }

  /** New content after an edit, if the message is listed. */
  retext(id, text) {
    const item = this.items.get(id);
    if (item) {
      item.text = text;
      this.render();
    }
  }

  remove(id) {
    if (this.items.delete(id)) {
      this.render();
    }
  }

  render() {
    // Pinned first, then by stars, then newest.
    const sorted = Array.from(this.items.values()).sort(
      (a, b) => Number(b.pins > 0) - Number(a.pins > 0) || b.stars - a.stars || b.id - a.id,
    );
    this.list.textContent = "";
    if (sorted.length === 0) {
      this.list.append(element("li", "empty", "Nothing starred yet."));
      return;
    }
    for (const item of sorted) {
      const entry = element("li", item.pins ? "starred-item pinned" : "starred-item");
      entry.dataset.messageId = String(item.id);
      const marks = [item.pins ? "pinned" : "", item.stars ? `★ ${item.stars}` : ""];
      const badge = element("span", "starred-badge", marks.join(" ").trim());
      const link = element("a", "starred-link");
      link.href = `/transcript/message/${item.id}#${item.id}`;
      const text = item.text.length > 140 ? `${item.text.slice(0, 139)}…` : item.text;
      link.append(element("strong", "", item.user_name), ": ", text);
      entry.append(badge, " ", link);
      this.list.append(entry);
    }
  }
}

/** The text of server-rendered message HTML, parsed inertly (a template runs nothing). */
export function textOf(html) {
  const template = document.createElement("template");
  template.innerHTML = html || "";
  return template.content.textContent.trim().replace(/\s+/g, " ");
}
