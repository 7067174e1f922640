// A listening server on 127.0.0.1 that counts its connections and open requests, and closes everything.
import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface Tracked {
  readonly port: number;
  /** Connections currently open to this server. */
  openSockets(): number;
  /** Requests whose response has neither finished nor been cut off by a closed connection (http only). */
  inFlight(): number;
  /** Stops listening and destroys every connection; resolves when the server is closed. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0 by default: the OS picks a free port) and starts counting. */
export async function listenTracked(server: Server | HttpServer, port = 0): Promise<Tracked> {
  const sockets = new Set<Socket>();
  let open = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  // 'secureConnection' sockets wrap the TCP ones counted above, so counting 'connection' covers TLS too.
  server.on('request', (_req: unknown, res: { once(e: 'close', f: () => void): void }) => {
    open++;
    res.once('close', () => open--);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port: actual,
    openSockets: () => sockets.size,
    inFlight: () => open,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

/** A loopback port with nothing listening on it (bound, read, released), for "the upstream is down" cases. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
