// The streams chat (stream page and OBS widget): speaks the streams dialect to /ws/<id> on this
// page's origin the way multistreamer's bundled client did: {"type":"status"} on open, lines
// shown as they come with their network's badge, a reconnect 5 s after the socket closes. It
// resumes with ?since=<last event_id>, so a reconnection neither loses nor repeats a line.
// Everything a message carries is put in the page as text, never as markup; an injected
// network_icon is shown as an <img> of its SVG, where no script can run.

const NETWORK_NAMES = { irc: "IRC", twitch: "Twitch", youtube: "YouTube", facebook: "Facebook", mixer: "Mixer", hubbub: "hubbub" };
const RECONNECT_MS = 5000;
const MAX_LINES = 500;

function socketUrl(root, since) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams();
  if (root.dataset.token) params.set("token", root.dataset.token);
  if (since !== null) params.set("since", String(since));
  const query = params.toString();
  return `${scheme}//${location.host}/ws/${root.dataset.streamId}${query ? "?" + query : ""}`;
}

function badge(frame) {
  const network = String(frame.network || "irc");
  if (typeof frame.network_icon === "string" && frame.network_icon.trim().startsWith("<svg")) {
    const image = document.createElement("img");
    image.className = "network-icon";
    image.alt = network;
    image.width = 16;
    image.height = 16;
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(frame.network_icon);
    return image;
  }
  const span = document.createElement("span");
  span.className = "network-badge network-" + network.replace(/[^a-z0-9-]/gi, "");
  span.textContent = NETWORK_NAMES[network] || network;
  return span;
}

function start(root) {
  const flags = root.dataset;
  const status = document.getElementById("stream-status");
  const form = document.getElementById("stream-say");
  if (flags.fontSize) root.style.fontSize = `${Number(flags.fontSize)}px`;
  let last = null;
  let socket = null;

  function showLine(frame) {
    if ("hideIrc" in flags && frame.network === "irc" && !frame.to) return;
    if ("hidePm" in flags && frame.to) return;
    const line = document.createElement("div");
    line.className = "stream-line" + (frame.type === "emote" ? " emote" : "") + (frame.to ? " private" : "");
    line.dataset.network = String(frame.network || "");
    line.append(badge(frame));
    if ("showPicture" in flags && frame.from && typeof frame.from.picture === "string" && /^https?:/.test(frame.from.picture)) {
      const picture = document.createElement("img");
      picture.className = "stream-picture";
      picture.alt = "";
      picture.src = frame.from.picture;
      line.append(picture);
    }
    const from = document.createElement("span");
    from.className = "stream-from";
    from.textContent = (frame.from && frame.from.name) || "?";
    if (frame.to) from.textContent += ` → ${frame.to.name}`;
    line.append(from);
    const text = document.createElement("span");
    text.className = "stream-text";
    text.textContent = String(frame.text ?? "");
    line.append(text);
    if ("fromBottom" in flags) root.prepend(line);
    else root.append(line);
    while (root.childElementCount > MAX_LINES) ("fromBottom" in flags ? root.lastElementChild : root.firstElementChild).remove();
    if (!("fromBottom" in flags)) root.scrollTop = root.scrollHeight;
  }

  function showStatus(frame) {
    if (!status) return;
    const live = Boolean(frame.status && frame.status.data_pushing);
    status.textContent = live ? "live" : "offline";
    status.className = "stream-state " + (live ? "live" : "offline");
  }

  function connect() {
    socket = new WebSocket(socketUrl(root, last));
    socket.addEventListener("open", () => {
      root.dataset.connected = "true";
      socket.send(JSON.stringify({ type: "status" }));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type === "status") showStatus(frame);
      else if (frame.type === "text" || frame.type === "emote") {
        if (Number.isInteger(frame.event_id)) last = frame.event_id;
        showLine(frame);
      }
    });
    socket.addEventListener("close", () => {
      root.dataset.connected = "false";
      setTimeout(connect, RECONNECT_MS);
    });
  }

  if (form) {
    const input = form.querySelector("input");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
      const emote = text.startsWith("/me ");
      socket.send(JSON.stringify({
        type: emote ? "emote" : "text", account_id: 0, cur_stream_account_id: 0, text: emote ? text.slice(4) : text,
      }));
      input.value = "";
    });
  }
  connect();
}

const root = document.querySelector("#stream-chat[data-stream-id]");
if (root) start(root);
