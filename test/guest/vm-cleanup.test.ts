// No QEMU outlives the process that started it: a host killed by SIGKILL
// (setpriv --pdeathsig) or ending on SIGTERM (signal hook) takes its guest
// along. First kernel of the matrix only.
import { caseOf } from './cases.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { ensureGuestBuild, kernels, processAlive, skipReason } from './helpers.js';

const kernel = kernels()[0];
const reason = skipReason(kernel);
beforeAll(async () => {
  if (!reason) await ensureGuestBuild([kernel]);
}, 600_000);

/** Starts a node process that boots a guest and prints the QEMU pid; resolves with both. */
function hostWithGuest(): Promise<{ host: ReturnType<typeof spawn>; qemu: number }> {
  const script = `
    import { Vm } from ${JSON.stringify(path.join(repoRoot, 'dist/vm/index.js'))};
    const vm = await Vm.boot({ kernel: ${JSON.stringify(kernel)} });
    console.log('QEMU', vm.pid);
    setInterval(() => {}, 1000);
  `;
  const host = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    host.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /QEMU (\d+)/.exec(out);
      if (m) resolve({ host, qemu: Number(m[1]) });
    });
    host.on('exit', (code) => reject(new Error(`host exited (${code}) before its guest was up`)));
  });
}

async function gone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !processAlive(pid);
}

it.skipIf(reason !== null)(...caseOf('host-killed', 'a host killed with SIGKILL or ended by SIGTERM leaves no QEMU behind', { timeout: 240_000, kernel }), async () => {
  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    const { host, qemu } = await hostWithGuest();
    expect(processAlive(qemu)).toBe(true);
    const exited = new Promise((r) => host.once('exit', r));
    host.kill(sig);
    await exited;
    expect(await gone(qemu, 10_000), `QEMU ${qemu} still alive after its host got ${sig}`).toBe(true);
  }
});
