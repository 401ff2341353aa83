// Drives the npm `chatexchange` package (samliew/chatexchange, a Node.js port of ChatExchange)
// against a hubbub server, one JSON command per stdin line, for tests/e2e/test_npm_chatexchange.py.
//
//   node chatexchange_driver.js <node_modules dir> <hubbub base URL>
//
// In:  {"id": 1, "op": "login", "args": {...}}          Out: {"reply": 1, "ok": true, "value": ...}
//                                                        or {"reply": 1, "ok": false, "error": "..."}
// Websocket events of watched rooms are written as {"event": {...}} lines as they arrive.
//
// Only the package's hard-coded Stack Exchange hosts are redirected to hubbub, the way the Python
// tests re-host ChatExchange and sechat: every got request URL and the cookie jar's look-ups for
// https://stackexchange.com, and the chat root the package uses as its websocket Origin. Everything
// else is the package's own code. Errors it does not handle are left unhandled on purpose: an
// 'error' event on its websocket (a close frame with an invalid code, say) crashes this process
// exactly as it crashes a bot, and the test sees the exit.
"use strict";

const path = require("path");
const readline = require("readline");
const { createRequire } = require("module");

const [modulesDir, base] = process.argv.slice(2);
const packageRequire = createRequire(path.join(modulesDir, "chatexchange", "package.json"));
const SE_HOSTS = /^https?:\/\/(?:[a-z.]+\.)?(?:stackexchange|stackoverflow)\.com/;
const rehost = (url) => String(url).replace(SE_HOSTS, base);

// got: the package calls `got.default(url, options)`; wrap it before the package loads.
const gotPath = packageRequire.resolve("got");
const got = packageRequire("got");
const rehostedGot = (url, options) => got(rehost(url), options);
Object.assign(rehostedGot, got, { default: rehostedGot, __esModule: true, extend: got.extend.bind(got) });
require.cache[gotPath].exports = rehostedGot;

// tough-cookie: the package checks for its acct cookie "for https://stackexchange.com".
const { CookieJar } = packageRequire("tough-cookie");
const getCookies = CookieJar.prototype.getCookies;
CookieJar.prototype.getCookies = function (url, ...rest) {
  return getCookies.call(this, rehost(url), ...rest);
};

const Client = packageRequire("chatexchange").default;
Object.defineProperty(Client.prototype, "root", { get: () => `${base}/` });

const write = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

// Note how each watched socket closes (the code the server's close frame carried).
const watch = Client.prototype.watch;
Client.prototype.watch = async function (room) {
  const socket = await watch.call(this, room);
  socket.on("close", (code, reason) => write({ event: { closed: { room: room.id, code, reason: String(reason) } } }));
  return socket;
};

const client = new Client("stackexchange.com");

const ops = {
  async login({ email, password }) {
    await client.login(email, password);
    const me = await client.getMe();
    return { id: me.id };
  },
  async profile({ user }) {
    const { name, isModerator, messageCount, roomCount } = await client.getProfile(user);
    return { name, isModerator, messageCount, roomCount };
  },
  async join({ room }) {
    return client.joinRoom(room);
  },
  async watch({ room }) {
    const watched = client.getRoom(room);
    watched.on("message", async (event) => {
      const record = {
        eventType: event.eventType,
        messageId: event.id,
        roomId: await event.roomId,
        userId: event.userId,
        userName: event.userName,
        targetUserId: event.targetUserId ?? null,
      };
      // Message events carry content, except a deletion; reading it on others would scrape a transcript.
      if (event.id && event.eventType !== 10) record.content = await event.content;
      write({ event: record });
    });
    await watched.watch();
    return true;
  },
  async users({ room }) {
    const users = await client.listUsers(room);
    // The package's user fields are lazy promises (read from the info page here, not scraped again).
    return Promise.all(
      users.map(async (user) => ({ id: user.id, name: await user.name, isModerator: await user.isModerator })),
    );
  },
  async send({ room, text }) {
    const message = await client.getRoom(room).sendMessage(text);
    return message.id;
  },
  async transcript({ message }) {
    const { content, edited, roomId, roomName, user } = await client.getTranscript(message);
    return { content, edited, roomId, roomName, userId: user.id };
  },
  async delete({ message }) {
    return client.delete(message);
  },
  async leave({ room }) {
    const watched = client.getRoom(room);
    const ended = new Promise((resolve) => watched.once("close", resolve));
    const left = await watched.leave(); // closes the socket (an empty close frame), then POSTs the leave
    await ended;
    return left;
  },
};

const run = async ({ id, op, args }) => {
  try {
    write({ reply: id, ok: true, value: (await ops[op](args ?? {})) ?? null });
  } catch (error) {
    write({ reply: id, ok: false, error: String(error && error.stack ? error.stack : error) });
  }
};

// Commands run one after another, in the order they came.
let queue = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "quit") {
    lines.close(); // nothing else holds the process: it exits once the queue is done
    queue = queue.then(() => write({ reply: command.id, ok: true, value: null }));
    return;
  }
  queue = queue.then(() => run(command));
});
