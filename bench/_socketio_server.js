// The socket.io server bench/peers.py measures: one room, every post broadcast to it.
//
// node _socketio_server.js PORT. A socket that connects with ?role=poster does not join the
// room (the posting workload's clients, like hubbub's posters, watch nothing); every other
// socket joins room "bench". A "post" event with a text and an acknowledgement callback gets
// an id, is broadcast to the room as one "message" event (socket.io encodes a room broadcast
// once and writes the same packet to every socket), and is acknowledged with its id. Websocket
// transport only and no compression, as hubbub's gateway. Nothing is stored.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
let lastId = 0;

io.on("connection", (socket) => {
  if (socket.handshake.query.role !== "poster") socket.join("bench");
  socket.on("post", (text, ack) => {
    if (typeof text !== "string" || typeof ack !== "function") return;
    lastId += 1;
    io.to("bench").emit("message", { id: lastId, room: "bench", user: socket.id, text, time: Date.now() });
    ack({ id: lastId });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io ${require("socket.io/package.json").version} listening on ${port}`));
process.on("SIGTERM", () => {
  io.close();
  process.exit(0);
});
