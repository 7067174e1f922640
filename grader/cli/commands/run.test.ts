// `dlab run` as a learner uses it: a socket exercise's world answers real requests and stops cleanly;
// any other exercise is refused in one line with exit code 2.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpCall } from '../../../harness/net/http-client.ts';
import { loadPki } from '../../../harness/net/pki.ts';
import { createContext } from '../context.ts';
import { main } from '../main.ts';
import { testIo } from '../test-io.ts';
import { run } from './run.ts';

let dir: string;
let env: Record<string, string>;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlab-run-'));
  env = { DLAB_DB: join(dir, 'progress.db') };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('dlab run', () => {
  it('refuses an exercise that does not run on sockets, in one line, with exit 2', async () => {
    const io = testIo(env);
    expect(await main(['run', '03-time-and-causality/01-vector-clocks'], io)).toBe(2);
    expect(io.err().trim().split('\n')).toHaveLength(1);
    expect(io.err()).toContain('dlab run is for the socket exercises');
  });

  it('starts the sidecar world: curl --cacert CA-A gets the legacy page over TLS; then it stops cleanly', async () => {
    const io = testIo(env);
    const ctx = createContext(io);
    let stop!: () => void;
    const until = new Promise<void>((r) => (stop = r));
    const running = run(ctx, '02-infrastructure-patterns/01-sidecar-tls', { target: 'solutions', until });
    try {
      for (let i = 0; i < 200 && !io.out().includes('Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 25));
      const out = io.out();
      expect(out).toContain(`curl --cacert ${loadPki().paths.caA} https://127.0.0.1:`);
      const port = Number(/sidecar, TLS +https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]);
      const page = await httpCall({ port, path: '/', tls: { ca: loadPki().caA } });
      expect(page.body.toString()).toContain('Legacy inventory app');
      await expect(httpCall({ port, path: '/' })).rejects.toThrow(); // plain HTTP to the TLS port
    } finally {
      stop();
    }
    expect(await running).toBe(0);
    expect(io.out()).toContain('stopped.');
    ctx.close();
  });
});
