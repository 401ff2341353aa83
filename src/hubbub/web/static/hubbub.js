// hubbub's page script (every page): shows <time class="local-time"> elements in the viewer's
// own time zone. The server writes UTC times; without this script they stay readable as UTC.

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

function ago(date) {
  const seconds = (date.getTime() - Date.now()) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

export function localiseTimes(root = document) {
  for (const element of root.querySelectorAll("time.local-time[datetime]")) {
    const date = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) continue;
    const style = element.dataset.style || "clock";
    element.title = dateTime.format(date);
    element.textContent = style === "relative" ? ago(date) : style === "datetime" ? dateTime.format(date) : clock.format(date);
  }
}

localiseTimes();

// The rooms list filters as you type (the form still works without this script).
function liveFilter(input) {
  const cards = [...document.querySelectorAll(input.dataset.filter)];
  const status = document.getElementById(input.getAttribute("aria-controls") + "-status");
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const card of cards) {
      const text = card.textContent.toLowerCase();
      const match = words.every((word) => text.includes(word));
      card.hidden = !match;
      if (match) shown += 1;
    }
    if (status) status.textContent = words.length ? `${shown} of ${cards.length} rooms shown` : "";
  });
}

for (const input of document.querySelectorAll("input[data-filter]")) liveFilter(input);

// Search results mark the words searched for; only text nodes change, never the sanitised markup.
function markMatches(root, needle) {
  const lower = needle.toLowerCase();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const hits = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeValue.toLowerCase().includes(lower)) hits.push(node);
  }
  for (const node of hits) {
    const text = node.nodeValue;
    const fragment = document.createDocumentFragment();
    let from = 0;
    for (let at = text.toLowerCase().indexOf(lower); at !== -1; at = text.toLowerCase().indexOf(lower, from)) {
      fragment.append(text.slice(from, at));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(at, at + needle.length);
      fragment.append(mark);
      from = at + needle.length;
    }
    fragment.append(text.slice(from));
    node.replaceWith(fragment);
  }
}

const searched = document.querySelector(".search-results[data-query]");
if (searched && searched.dataset.query) {
  for (const content of searched.querySelectorAll(".content")) markMatches(content, searched.dataset.query);
}
