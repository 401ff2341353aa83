// Presence as hubbub's core computes it (online / idle / offline), shown the same on every
// page: any element with data-presence-of="<user id>" gets data-presence and a label, and
// scripts that draw their own lists (the room sidebar) hear "hubbub:presence".

const known = new Map(); // user id -> "online" | "idle" | "offline"

export function presenceOf(userId) {
  return known.get(userId) || null;
}

export function label(state) {
  return state === "online" ? "online" : state === "idle" ? "idle" : "offline";
}

/** Mark one element with a presence state (the CSS draws the dot). */
export function mark(node, state) {
  node.dataset.presence = state;
  node.title = label(state);
  node.setAttribute("aria-label", label(state));
  if (node.classList.contains("presence")) {
    node.textContent = label(state);
  }
}

export function applyPresence(root = document) {
  for (const node of root.querySelectorAll("[data-presence-of]")) {
    const state = known.get(Number(node.dataset.presenceOf));
    if (state) {
      mark(node, state);
    }
  }
}

export function setPresence(userId, state) {
  if (!state) {
    return;
  }
  const changed = known.get(userId) !== state;
  known.set(userId, state);
  applyPresence();
  if (changed) {
    window.dispatchEvent(new CustomEvent("hubbub:presence", { detail: { userId, state } }));
  }
}
