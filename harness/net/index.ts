// Real-socket helpers for the chapter 02 exercises and their tests: `import { ... } from '@dlab/harness/net'`.
export { certSerial, ensurePki, loadPki, pkiDir, type KeyPair, type Pki, type PkiPaths } from './pki.ts';
export { callFails, CallError, describeCall, httpCall, openCall, type HttpCall, type HttpReply, type OpenCall, type TlsClientOptions } from './http-client.ts';
export { expectNoNetLeaks, leakGuard, netHandleCount, settleWithin, waitFor, within, type Settled } from './leaks.ts';
export { freePort, listenTracked, type Tracked } from './tracked-server.ts';
export { bodyOf, startLegacyApp, type LegacyApp, type LegacyRequest } from './legacy-app.ts';
export { partitionOf, startKvShard, type KvShard, type ShardHit } from './kv-shard.ts';
export { parseXml, serializeXml, xmlElement, XmlError, type XmlElement } from './xml-lite.ts';
