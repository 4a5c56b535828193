// A minimal Socket.IO 4 server (npm socket.io) for bench/compare.sh: each
// socket is node `id` and joins `rooms` (comma separated) from the query of
// its connection, /socket.io/?EIO=4&transport=websocket&id=<node>&rooms=<a,b>.
// A "msg" event {"dest_id": id, ...} is emitted to that node's socket;
// {"room": r, ...} to every socket in room r (one encoding for the room, as
// Socket.IO broadcasts). WebSocket transport only, no compression.
//
//   node bench/peers/socketio_server.js PORT [HOST]
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const nodes = new Map();  // node id -> socket

const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 1 << 20,
});
io.on('connection', (socket) => {
  const query = socket.handshake.query;
  const id = typeof query.id === 'string' ? query.id : '';
  if (id !== '') nodes.set(id, socket);
  const joined = (typeof query.rooms === 'string' ? query.rooms : '').split(',').filter((r) => r !== '');
  if (joined.length > 0) socket.join(joined);
  socket.on('msg', (message) => {
    if (message === null || typeof message !== 'object') return;
    if (typeof message.room === 'string') {
      io.to(message.room).emit('msg', message);
    } else if (typeof message.dest_id === 'string') {
      nodes.get(message.dest_id)?.emit('msg', message);
    }
  });
  socket.on('disconnect', () => {
    if (nodes.get(id) === socket) nodes.delete(id);
  });
});
httpServer.listen(port, host, () => console.log(`listening on ws://${host}:${httpServer.address().port}`));
