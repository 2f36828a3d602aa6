import { createServer } from 'node:http';

/** Serves `files` (path -> bytes) over HTTP on 127.0.0.1 until closed; anything else is 404. */
export async function serveFiles(files: Map<string, Uint8Array>) {
  const requests: string[] = [];
  const rawPaths: string[] = [];
  const server = createServer((request, response) => {
    rawPaths.push(request.url ?? '');
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).replace(/^\//, '');
    requests.push(path);
    const body = files.get(path);
    if (!body) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-length': body.byteLength }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    /** Paths requested so far, in order, decoded as a file server looks them up. */
    requests,
    /** The same requests as they arrived, percent-encoding and all. */
    rawPaths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
