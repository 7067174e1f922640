// Unit tests of the chapter 02 socket harness: xml-lite, the partition hash, the PKI script, the worlds.
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { httpCall } from './http-client.ts';
import { netHandleCount, waitFor } from './leaks.ts';
import { partitionOf } from './kv-shard.ts';
import { ensurePki, loadPki } from './pki.ts';
import { WORLDS } from './worlds.ts';
import { parseXml, serializeXml, xmlElement, XmlError, type XmlElement } from './xml-lite.ts';

describe('xml-lite', () => {
  const nameArb = fc.stringMatching(/^[a-z_][a-z0-9._-]{0,6}$/);
  const textArb = fc.string({ unit: fc.constantFrom('a', ' ', '<', '>', '&', '"', "'", '\t', '\n', '\r', 'é', '😀', ']]>'), maxLength: 6 });
  const { el: elArb } = fc.letrec<{ el: XmlElement }>((tie) => ({
    el: fc.oneof(
      { depthSize: 'small' },
      fc.record({ name: nameArb, attrs: fc.dictionary(nameArb, textArb, { maxKeys: 2 }), text: textArb }).map((r) => xmlElement(r.name, r.attrs, r.text)),
      fc.record({ name: nameArb, attrs: fc.dictionary(nameArb, textArb, { maxKeys: 2 }), children: fc.array(tie('el'), { minLength: 1, maxLength: 3 }) }).map((r) => xmlElement(r.name, r.attrs, r.children)),
    ),
  }));

  it('reads back exactly what it writes: names, attributes, text with every special character', () => {
    fc.assert(
      fc.property(elArb, (el) => {
        expect(parseXml(serializeXml(el, { declaration: true }))).toEqual(el);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('reads what other writers produce: comments, CDATA, whitespace between elements, entities', () => {
    const doc = parseXml('<?xml version="1.0"?>\n<!-- hi -->\n<a x=\'1\' y="&lt;&#65;&#x42;">\n  <b>  keep  </b>\n  <c><![CDATA[<raw> & ]]></c>\n  <d/>\n</a>\n');
    expect(doc).toEqual(
      xmlElement('a', { x: '1', y: '<AB' }, [xmlElement('b', {}, '  keep  '), xmlElement('c', {}, '<raw> & '), xmlElement('d')]),
    );
  });

  it('refuses what it does not support, saying where', () => {
    for (const bad of ['<a>text<b/></a>', '<a></b>', '<a x=1/>', '<!DOCTYPE a><a/>', '<a>&nope;</a>', '<a/><b/>', '<a>']) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
    }
  });
});

describe('partitionOf', () => {
  it('is a fixed function of the key, spread over [0, partitions)', () => {
    // Pinned values: changing the hash would silently move every key of every learner's store.
    expect([partitionOf('a', 64), partitionOf('user:1', 64), partitionOf('café', 1024), partitionOf('', 7)]).toEqual([27, 1, 742, 1]);
    expect(partitionOf('anything', 1)).toBe(0);
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 4000; i++) counts[partitionOf(`key:${i}`, 16)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(180);
    expect(Math.max(...counts)).toBeLessThan(320);
    expect(() => partitionOf('a', 0)).toThrow();
  });
});

describe('the test PKI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dlab-pki-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes two CAs and the certificates the tests need, once', () => {
    const made = ensurePki(join(dir, 'pki'));
    expect(ensurePki(made)).toBe(made);
    const pki = loadPki(made);
    const caA = new X509Certificate(pki.caA);
    const caB = new X509Certificate(pki.caB);
    const server = new X509Certificate(pki.server.cert);
    expect(server.verify(caA.publicKey)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(new X509Certificate(pki.wrongSan.cert).checkHost('localhost')).toBeUndefined();
    expect(new X509Certificate(pki.clientB.cert).verify(caB.publicKey)).toBe(true);
    expect(new X509Certificate(pki.clientB.cert).verify(caA.publicKey)).toBe(false);
    expect(Date.parse(new X509Certificate(pki.expiredClient.cert).validTo)).toBeLessThan(Date.now());
    expect(new Set([pki.server, pki.server2, pki.server3].map((k) => new X509Certificate(k.cert).serialNumber)).size).toBe(3);
  });
});

describe('the worlds of `dlab run`, with the reference solutions', () => {
  const ids = Object.keys(WORLDS);
  it.each(ids)('%s starts, answers, and closes every socket', async (id) => {
    const before = netHandleCount();
    const impl = (await import(/* @vite-ignore */ new URL(`../../solutions/${id}.ts`, import.meta.url).href)) as Record<string, unknown>;
    const lines: string[] = [];
    const world = await WORLDS[id]!(impl, { pki: loadPki(), log: (l) => lines.push(l) });
    try {
      // The first command of the banner, done with our own client.
      const cmd = world.banner.find((l) => l.trim().startsWith('curl'))!;
      const url = new URL(/(https?:\/\/[^\s']+)/.exec(cmd)![1]!);
      const headers: Record<string, string> = {};
      for (const m of cmd.matchAll(/-H '([^:]+): ([^']+)'/g)) headers[m[1]!] = m[2]!;
      const method = /-X PUT/.test(cmd) ? 'PUT' : 'GET';
      const r = await httpCall({
        port: Number(url.port),
        method,
        path: url.pathname + url.search,
        headers,
        ...(method === 'PUT' ? { body: 'hello' } : {}),
        ...(url.protocol === 'https:' ? { tls: { ca: loadPki().caA } } : {}),
      });
      expect(r.status, `${cmd}\n${r.body.toString()}`).toBeLessThan(300);
      expect(lines.length).toBeGreaterThan(0);
    } finally {
      await world.close();
    }
    expect(await waitFor(() => netHandleCount() <= before, 1500)).toBe(true);
  });
});
