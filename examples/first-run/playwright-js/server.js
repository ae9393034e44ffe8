// The app under test: one page, read at every request so an edit shows without a restart.
const http = require('http');
const fs = require('fs');
const path = require('path');

const port = Number(process.env.PORT || 3000);
http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok');
    return;
  }
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(fs.readFileSync(path.join(__dirname, 'public', 'index.html')));
}).listen(port, '127.0.0.1', () => console.log(`notes listening on http://127.0.0.1:${port}`));
