// undici's Client and Agent without its index module. The index loads every dispatcher, the
// fetch, WebSocket and EventSource implementations, the mock agents and the cache stores: 110
// files and 5 MB of V8 heap in every agent, where the agent uses two dispatchers and request()
// (31 files, 1.9 MB). This module does what the index does for those: it mixes the request API
// into the Dispatcher prototype. The types are undici's own.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);
const dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
Object.assign(dispatcher.prototype, require('undici/lib/api/index.js'));

export const Client = require('undici/lib/dispatcher/client.js') as typeof Undici.Client;
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors;
export type Client = Undici.Client;
export type Agent = Undici.Agent;
