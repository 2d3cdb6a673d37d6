// The guest runner on each kernel: boot shape, exec, RPC payloads, console streaming, exit status.
import { caseOf } from './cases.js';
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureGuestBuild, kernels, ourQemuPids, sharedVm, skipReason } from './helpers.js';
import { kernelInfo } from '../../src/vm/kernels.js';
import { guestModule } from '../../src/vm/guest-module.js';
import { selftest } from '../../src/guest/index.js';

// The selftest module without its type: reaches the agent's own check of an export name.
const untypedSelftest = guestModule<Record<string, () => Promise<unknown>>>(selftest.path);

const matrix = kernels();
beforeAll(() => ensureGuestBuild(matrix.filter((k) => !skipReason(k))), 600_000);

describe.each(matrix)('kernel %s', (kernel) => {
  const reason = skipReason(kernel);
  describe.skipIf(reason !== null)('guest', { timeout: 180_000 }, () => {
    const g = sharedVm(() => ({ kernel }));

    it(...caseOf('boot', 'boots the cached kernel with two NUMA nodes (automatic balancing off), hugetlb pools and the reserved iomem range'), async () => {
      const vm = g.vm;
      console.log(`${kernel}: boot to agent ready ${vm.bootMs} ms (${vm.accel})`);
      expect(vm.release).toBe(kernelInfo(kernel).release);
      const r = await vm.exec('sh', [
        '-c',
        'uname -r; ls -d /sys/devices/system/node/node* | wc -l; cat /sys/devices/system/node/node0/cpulist /sys/devices/system/node/node1/cpulist; ' +
          'cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages; ' +
          'cat /sys/kernel/mm/transparent_hugepage/enabled; nproc; cat /sys/devices/system/clocksource/clocksource0/current_clocksource; ' +
          'cat /proc/sys/kernel/numa_balancing; grep -i reserved /proc/iomem; mount',
      ]);
      expect(r.status).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe(vm.release);
      expect(lines[1]).toBe('2'); // two NUMA nodes
      expect(lines[2]).toBe('0');
      expect(lines[3]).toBe('1');
      expect(lines[4]).toBe('64');
      expect(lines[5]).toBe('1'); // the 1 GiB page was reserved at boot
      expect(lines[6]).toContain('[madvise]');
      expect(lines[7]).toBe('2');
      expect(lines[8]).toBe('tsc'); // not HPET: clock reads stay cheap in the guest
      expect(lines[9]).toBe('0'); // numa_balancing=disable: no hinting records nobody asked for
      const base = vm.iomem.base.toString(16);
      const end = (vm.iomem.base + vm.iomem.size - 1n).toString(16);
      expect(r.stdout).toMatch(new RegExp(`^\\s*${base}-${end} : Reserved$`, 'm'));
      for (const fs of ['debugfs', 'devtmpfs', 'hugetlbfs', 'proc', 'sysfs']) expect(r.stdout).toContain(` type ${fs} `);
    });

    it(...caseOf('exec-status', "returns a guest command's exit status, stdout and stderr"), async () => {
      const r = await g.vm.exec('sh', ['-c', 'echo out; echo err >&2; exit 42']);
      expect(r).toEqual({ status: 42, signal: null, stdout: 'out\n', stderr: 'err\n' });
      const killed = await g.vm.exec('sh', ['-c', 'kill -KILL $$']);
      expect(killed).toMatchObject({ status: 137, signal: 'SIGKILL' });
      const missing = await g.vm.exec('/no/such/program');
      expect(missing.status).toBe(127);
      const input = await g.vm.exec('wc', ['-c'], { input: 'x'.repeat(1000) });
      expect(input.stdout.trim()).toBe('1000');
    });

    it(...caseOf('call-payload', 'carries a 1 MiB payload through call() and back intact'), async () => {
      const payload = randomBytes(1 << 20);
      const r = await g.vm.call(selftest, 'digest', payload);
      expect(r.length).toBe(payload.length);
      expect(r.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
      expect(Buffer.compare(r.bytes, payload)).toBe(0);
    });

    it(...caseOf('call-round-trip', 'round-trips BigInt, bytes, nested values and errors with their code'), async () => {
      const v = { a: 2n ** 64n + 1n, b: new Uint8Array([0, 255, 7]), c: [1, 'x', null, { d: -5n }], $e: true };
      const [back] = await g.vm.call(selftest, 'echo', v);
      expect(back).toEqual({ a: 2n ** 64n + 1n, b: Buffer.from([0, 255, 7]), c: [1, 'x', null, { d: -5n }], $e: true });
      const err = await g.vm.call(selftest, 'fail', 'nope').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ message: 'nope', code: 'EINVAL', errno: -22, syscall: 'selftest' });
      await expect(g.vm.call(untypedSelftest, 'noSuchExport')).rejects.toThrow(/no exported function/);
    });

    it(...caseOf('log-stream', 'streams the kernel log to the host (events, waitFor and async iteration)'), async () => {
      const token = `mirrorlab-kmsg-test-${Date.now()}`;
      const seen: string[] = [];
      const onLine = (l: { text: string }): void => {
        if (l.text.includes(token)) seen.push(l.text);
      };
      g.vm.log.on('line', onLine);
      const waiting = g.vm.log.waitFor(new RegExp(token), 30_000);
      const iterated = (async () => {
        for await (const l of g.vm.log) if (l.text.includes(`${token} second`)) return l.text;
        return null;
      })();
      const r = await g.vm.exec('sh', ['-c', `echo "<4>${token}" > /dev/kmsg; echo "<4>${token} second" > /dev/kmsg`]);
      expect(r.status).toBe(0);
      const line = await waiting;
      expect(line.text).toMatch(new RegExp(`^\\[\\s*\\d+\\.\\d+\\] ${token}$`));
      expect(await iterated).toMatch(new RegExp(`\\] ${token} second$`));
      g.vm.log.off('line', onLine);
      expect(seen).toHaveLength(2);
    });

    it(...caseOf('addon-load', 'loads the native addon inside the guest'), async () => {
      const keys = await g.vm.call(selftest, 'addonExports');
      expect(Array.isArray(keys)).toBe(true);
      expect(keys.length).toBeGreaterThan(0);
    });
  });

  it.skipIf(reason !== null)(...caseOf('shutdown-status', 'returns the exit status given at shutdown and leaves no QEMU behind', { timeout: 180_000 }), async () => {
    const { Vm } = await import('../../src/vm/vm.js');
    const vm = await Vm.boot({ kernel });
    const pid = vm.pid!;
    expect(ourQemuPids()).toContain(pid);
    expect(await vm.close(7)).toBe(7);
    expect(vm.exitStatus).toBe(7);
    expect(vm.qemuExit).toEqual({ code: 0, signal: null });
    expect(ourQemuPids()).toEqual([]);
  });
});
