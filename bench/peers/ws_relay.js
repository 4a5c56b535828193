// A minimal relay on npm `ws`, the baseline bench/compare.sh measures
// Allspark against: what a user writes in an afternoon instead of adopting a
// router. A connection registers as node `id` and joins `rooms` (comma
// separated) from its query: ws://HOST:PORT/?id=<node>&rooms=<a,b>. It is
// told "ready" once registered. A text message {"dest_id": id, ...} goes to
// the connection registered as that node; {"room": r, ...} to every member
// of room r. The message is forwarded as received (parsed once to route,
// never re-serialised).
//
//   node bench/peers/ws_relay.js PORT [HOST]
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const nodes = new Map();  // node id -> socket
const rooms = new Map();  // room -> Set of sockets

const server = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 1 << 20 });
server.on('connection', (socket, request) => {
  const query = new URL(request.url, 'http://relay').searchParams;
  const id = query.get('id') || '';
  const joined = (query.get('rooms') || '').split(',').filter((r) => r !== '');
  if (id !== '') nodes.set(id, socket);
  for (const room of joined) {
    if (!rooms.has(room)) rooms.set(room, new Set());
    rooms.get(room).add(socket);
  }
  socket.on('message', (data, isBinary) => {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof message.room === 'string') {
      const members = rooms.get(message.room);
      if (members) for (const member of members) member.send(data, { binary: isBinary });
    } else if (typeof message.dest_id === 'string') {
      const to = nodes.get(message.dest_id);
      if (to) to.send(data, { binary: isBinary });
    }
  });
  socket.on('close', () => {
    if (nodes.get(id) === socket) nodes.delete(id);
    for (const room of joined) rooms.get(room)?.delete(socket);
  });
  socket.send('ready');
});
server.on('listening', () => console.log(`listening on ws://${host}:${server.address().port}`));
