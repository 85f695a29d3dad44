// Preload that keeps an HTTP server off the network: a listen() call that gives a port but no host
// binds 127.0.0.1 instead of all interfaces. For Omniboard run from npm on the host (`make omniboard`):
//   PORT=9000 node -r ./docker/omniboard-loopback.js node_modules/omniboard/dist/start.js -m 127.0.0.1:27017:sacred
// Not needed in docker/compose.yaml, which binds the published port to 127.0.0.1 on the host side.
'use strict';

const http = require('http');

const HOST = '127.0.0.1';
const listen = http.Server.prototype.listen;

// Node's rule (net.normalizeArgs): a number, or a string that parses as one, is a port; any other
// string is a pipe path.
function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !isNaN(Number(value)));
}

http.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (args.length === 0 || first === undefined || first === null || typeof first === 'function') {
    // listen() / listen(cb) / listen(undefined, ...): random port, all interfaces by default.
    if (typeof first !== 'function' && args.length > 0) args.shift();
    args.unshift(0, HOST);
  } else if (isPort(first) && typeof args[1] !== 'string') {
    // listen(port[, backlog][, cb]) -> listen(port, HOST[, backlog][, cb])
    args.splice(1, 0, HOST);
  } else if (typeof first === 'object' && !Array.isArray(first) && first.host === undefined &&
             first.path === undefined && first.fd === undefined && first.handle === undefined &&
             first._handle === undefined) {
    // listen({port, ...}) without host, path or handle.
    args[0] = { ...first, host: HOST };
  }
  return listen.apply(this, args);
};
