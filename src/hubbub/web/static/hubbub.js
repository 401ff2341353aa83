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
