/** rhythm-worker: JavaScript tasks for Rhythm (Worker), and a client (Client). */
export { Worker } from './worker.js'
export { Client, ExecutionFailed, InputError } from './client.js'
export { defineTask, Backoff } from './tasks.js'
export { PayloadError, decode, encode } from './payloads.js'
