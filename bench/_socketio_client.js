// socket.io clients for bench/peers.py: receivers of a room, or posters, driven over stdin/stdout.
//
// One JSON command per line on stdin ({"command": ..., "options": {...}}); one JSON answer per
// line on stdout for every command except "post". The receiver commands are those of
// bench/fanout.py's client process (connect, wait, reset, collect, close), so the bench
// measures these sockets with the same code as hubbub's. Times come from process.hrtime,
// which is libuv's CLOCK_MONOTONIC on Linux: the clock bench/_common.py's clock() reads, so
// receive times here compare directly with send times taken in the bench's process.
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

const MARKER = "bench-s"; // bench-s<6 digits>-e in every measured text
const received = { seqs: [], times: [], eventFrames: 0, otherFrames: 0, subscribed: 0, disconnected: 0 };
const receivers = [];
const posters = [];
const acks = { ok: 0, failed: 0, firstError: null };
let closing = false;

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

function onMessage(socket, message) {
  const at0 = now();
  const text = message && typeof message.text === "string" ? message.text : "";
  let at = text.indexOf(MARKER);
  if (at < 0) {
    received.otherFrames += 1;
    return;
  }
  received.eventFrames += 1;
  if (!socket.gotEvent) {
    socket.gotEvent = true;
    received.subscribed += 1;
  }
  while (at >= 0) {
    received.seqs.push(parseInt(text.slice(at + MARKER.length, at + MARKER.length + 6), 10));
    received.times.push(at0);
    at = text.indexOf(MARKER, at + MARKER.length + 6);
  }
}

function open(url, role) {
  return new Promise((resolve, reject) => {
    // forceNew: one engine.io connection per socket (socket.io-client would share one otherwise).
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 30000, query: { role } });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => {
      socket.close();
      reject(error);
    });
  });
}

async function openMany(url, count, concurrency, timeout, role, into) {
  const began = now();
  const deadline = Date.now() + timeout * 1000;
  const errors = {};
  let next = 0;
  async function worker() {
    while (next < count && Date.now() < deadline) {
      next += 1;
      try {
        const socket = await open(url, role);
        if (role === "receiver") {
          socket.on("message", (message) => onMessage(socket, message));
          socket.on("disconnect", () => {
            if (!closing) received.disconnected += 1;
          });
        }
        into.push(socket);
      } catch (error) {
        const kind = String((error && error.message) || error).slice(0, 100);
        errors[kind] = (errors[kind] || 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  if (next < count) errors["timed out"] = count - next;
  return { connected: into.length, errors, seconds: now() - began };
}

function count(attribute) {
  return attribute === "deliveries" ? received.seqs.length : received[attribute];
}

async function waitFor(attribute, target, timeout) {
  const deadline = Date.now() + timeout * 1000;
  while (count(attribute) < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return { value: count(attribute), disconnected: received.disconnected };
}

// The posting workload: every poster posts perClient texts, each waiting for its acknowledgement.
async function postLoop(perClient, kind, tag, timeout) {
  const latencies = [];
  const errors = {};
  const began = now();
  await Promise.all(
    posters.map(async (socket, index) => {
      for (let j = 0; j < perClient; j += 1) {
        const text = `${kind} message ${j} from client ${index}, run ${tag}: the quick brown fox jumps over the lazy dog`;
        const sent = now();
        try {
          const reply = await socket.timeout(timeout * 1000).emitWithAck("post", text);
          if (reply && reply.id) latencies.push(now() - sent);
          else errors["no id"] = (errors["no id"] || 0) + 1;
        } catch (error) {
          const what = String((error && error.message) || error).slice(0, 100);
          errors[what] = (errors[what] || 0) + 1;
        }
      }
    })
  );
  return { latencies, errors, seconds: now() - began };
}

function post(text) {
  // The fan-out poster: open loop, acknowledgements only counted.
  posters[0].timeout(30000).emit("post", text, (error, reply) => {
    if (!error && reply && reply.id) acks.ok += 1;
    else {
      acks.failed += 1;
      acks.firstError = acks.firstError || String((error && error.message) || "no id");
    }
  });
}

async function handle(command, options) {
  switch (command) {
    case "connect":
      return openMany(options.urls[0], options.count, options.concurrency, options.timeout, "receiver", receivers);
    case "posters":
      return openMany(options.url, options.count, options.count, options.timeout, "poster", posters);
    case "wait":
      return waitFor(options.attribute, options.target, options.timeout);
    case "reset":
      received.seqs = [];
      received.times = [];
      received.eventFrames = received.otherFrames = 0;
      return null;
    case "collect":
      return {
        seqs: received.seqs,
        times: received.times,
        event_frames: received.eventFrames,
        other_frames: received.otherFrames,
        disconnected: received.disconnected,
        template: null,
      };
    case "post_loop":
      return postLoop(options.per_client, options.kind, options.tag, options.timeout);
    case "acks":
      return acks;
    case "close":
      closing = true;
      for (const socket of [...receivers, ...posters]) socket.close();
      setTimeout(() => process.exit(0), 200);
      return null;
    default:
      throw new Error(`unknown command ${command}`);
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const { command, options } = JSON.parse(line);
  if (command === "post") {
    post(options.text);
    return;
  }
  handle(command, options || {}).then(
    (answer) => process.stdout.write(JSON.stringify(answer === undefined ? null : answer) + "\n"),
    (error) => process.stdout.write(JSON.stringify({ error: String(error) }) + "\n")
  );
});
process.stdin.on("end", () => process.exit(0));
