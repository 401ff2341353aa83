// The contacts panel: everyone the user has a relation with, live presence, unread counts and
// the request / accept / decline / remove / block buttons. Every change is a POST with the
// page's fkey; a refusal is shown as the server words it, and the list is redrawn from
// /contacts.json whenever the feed says something changed.

import { getJson, post } from "../chat/api.js";
import { feed } from "./feed.js";
import { mark, presenceOf, setPresence } from "./presence.js";
import { element } from "../dom.js";

const data = JSON.parse(document.getElementById("direct-data").textContent);
const list = document.getElementById("contact-list");
const empty = document.getElementById("contacts-empty");
const othersSection = document.getElementById("others-section");
const othersList = document.getElementById("other-list");
const statusLine = document.getElementById("contacts-status");
const banner = document.getElementById("direct-banner");
const requestForm = document.getElementById("contact-request");
const requestInput = document.getElementById("contact-user");

const RELATION_WORDS = {
  contacts: "contact",
  requested: "request sent",
  incoming: "wants to be your contact",
  blocked: "blocked",
  none: "",
};
// Which buttons each relation offers: [action, label].
const BUTTONS = {
  contacts: [
    ["remove", "remove"],
    ["block", "block"],
  ],
  requested: [["remove", "cancel request"]],
  incoming: [
    ["accept", "accept"],
    ["remove", "decline"],
    ["block", "block"],
  ],
  blocked: [["remove", "unblock"]],
  none: [["request", "add"]],
};

function status(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function row(person, relation) {
  const item = element("li", `contact relation-${relation}`);
  item.dataset.userId = String(person.id);
  const link = element("a", "contact-name");
  link.href = `/direct/${person.id}`;
  const avatar = element("img", "avatar");
  avatar.src = `/users/${person.id}/avatar.svg`;
  avatar.alt = "";
  avatar.width = 24;
  avatar.height = 24;
  link.append(avatar, element("span", "person-name", person.name));
  item.append(link);
  if (relation === "contacts") {
    const dot = element("span", "presence");
    dot.dataset.presenceOf = String(person.id);
    mark(dot, presenceOf(person.id) || person.presence || "offline");
    item.append(" ", dot);
  }
  if (RELATION_WORDS[relation]) {
    item.append(" ", element("span", "relation", RELATION_WORDS[relation]));
  }
  if (person.unread) {
    const count = element("span", "unread", String(person.unread));
    count.setAttribute("aria-label", `${person.unread} unread`);
    item.append(" ", count);
  }
  const actions = element("span", "contact-actions");
  for (const [action, label] of BUTTONS[relation] || []) {
    const button = element("button", `contact-${action}`, label);
    button.type = "button";
    button.addEventListener("click", () => act(action, person));
    actions.append(button);
  }
  item.append(" ", actions);
  return item;
}

function draw(summary) {
  list.textContent = "";
  for (const contact of summary.contacts) {
    setPresence(contact.id, contact.relation === "contacts" ? contact.presence : null);
    list.append(row(contact, contact.relation));
  }
  empty.hidden = summary.contacts.length > 0;
  const others = (summary.others || summary.conversations || []).filter(
    (o) => !summary.contacts.some((c) => c.id === o.id),
  );
  othersList.textContent = "";
  for (const person of others) {
    othersList.append(row(person, person.relation));
  }
  othersSection.hidden = others.length === 0;
}

async function refresh() {
  try {
    draw(await getJson("/contacts.json"));
  } catch (error) {
    status("Could not load your contacts; they will be shown again on the next change", true);
  }
}

async function act(action, person) {
  const answer = await post(`/contacts/${action}`, { user: String(person.id) });
  if (!answer.ok) {
    status(answer.error, true);
    return;
  }
  status(`${answer.body.user.name}: ${RELATION_WORDS[answer.body.relation] || "no relation"}`);
  await refresh();
}

/** A user id, or a profile link like /users/42/alice or https://host/users/42. */
function userReference(text) {
  const trimmed = text.trim();
  const link = trimmed.match(/\/users\/(\d+)/);
  if (link) {
    return link[1];
  }
  return /^\d+$/.test(trimmed) ? trimmed : null;
}

requestForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const reference = userReference(requestInput.value);
  if (reference === null) {
    status("Type a user id (the number in their profile link) or paste the link", true);
    return;
  }
  const answer = await post("/contacts/request", { user: reference });
  if (!answer.ok) {
    status(answer.error, true);
    return;
  }
  requestInput.value = "";
  status(`${answer.body.user.name}: ${RELATION_WORDS[answer.body.relation] || "no relation"}`);
  await refresh();
});

let refreshTimer = 0;
feed.watchState((state, detail) => {
  banner.hidden = state !== "lost";
  banner.textContent = state === "lost" ? detail || "Reconnecting…" : "";
});
feed.listen((events) => {
  if (events.some((e) => e.type === "contact" || e.type === "message" || e.type === "read")) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 200);
  }
});

draw(data);
feed.start(data.cursor, data.me.id);
