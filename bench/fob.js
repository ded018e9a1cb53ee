// Fob round trips: CTAPHID PING and CTAP2 getAssertion against the virtual fob, in memory (the
// baseline) and over the pipe-HID contract (a `latchkey virtual-fob --pipe` child process), in
// one run. Prints operations per second and the pipe's cost as a ratio to in-memory.
// Run: npm run build && node bench/fob.js [pings] [assertions]
import { createHash } from 'node:crypto';
import { Ctap2Client } from '../dist/hardware/ctap2.js';
import { spawnPipeFob } from '../dist/hardware/pipe-connection.js';
import { VirtualFob } from '../dist/hardware/virtual-fob.js';

const PINGS = Number(process.argv[2] ?? 2000);
const ASSERTIONS = Number(process.argv[3] ?? 300);
const cli = new URL('../dist/cli/virtual-fob.js', import.meta.url).href;
const clientDataHash = new Uint8Array(createHash('sha256').update('bench').digest());

async function rate(n, fn) {
  for (let i = 0; i < Math.min(50, n); i++) await fn(); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function measure(client) {
  const payload = new Uint8Array(32).fill(5);
  const made = await client.makeCredential({
    clientDataHash,
    rp: { id: 'bench.example' },
    user: { id: new Uint8Array([1]) },
  });
  const allowList = [made.authData.attestedCredential.credentialId];
  const ping = await rate(PINGS, () => client.hid.ping(payload));
  const assertion = await rate(ASSERTIONS, () =>
    client.getAssertion({ rpId: 'bench.example', clientDataHash, allowList }),
  );
  return { ping, assertion };
}

const memory = await measure(await Ctap2Client.open(new VirtualFob().connect()));
const fob = spawnPipeFob(process.execPath, [
  '--input-type=module',
  '-e',
  `import(${JSON.stringify(cli)}).then((m) => m.virtualFobCommand(process.argv.slice(1))).then((c) => process.exit(c))`,
  '--',
  '--pipe',
]);
const pipeClient = await Ctap2Client.open(fob.connection);
const pipe = await measure(pipeClient);
await pipeClient.close();

const rows = [
  { operation: 'CTAPHID PING (32 B)', memory: memory.ping, pipe: pipe.ping },
  { operation: 'CTAP2 getAssertion', memory: memory.assertion, pipe: pipe.assertion },
];
console.log('operation              in-memory/s    pipe/s   pipe cost (in-memory = 1.00x)');
for (const row of rows) {
  console.log(
    `${row.operation.padEnd(22)} ${row.memory.toFixed(0).padStart(11)} ${row.pipe.toFixed(0).padStart(9)}   ${(row.memory / row.pipe).toFixed(2)}x`,
  );
}
process.exit(0);
