// The JavaScript side of the cross-language example: a Node.js worker with one task.
// In a project of your own, import from 'rhythm-worker' (the npm package in node/).
import { Worker, defineTask } from '../../node/src/index.js'

const formatReceipt = defineTask('format_receipt', ({ orderId, amount, risk }) => ({
  receipt: `order ${orderId}: ${amount.toFixed(2)} EUR (risk ${risk})`,
  language: 'javascript',
  node: process.version
}), { retries: 2, timeout: '10s' })

const worker = new Worker({
  databaseUrl: process.env.RHYTHM_DATABASE_URL,
  queues: ['default'],
  tasks: [formatReceipt]
})
await worker.run() // until SIGTERM or SIGINT
