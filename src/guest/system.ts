// Guest-side system steps any guest test may need (called through Vm.call).
import fs from 'node:fs';

export async function kernelRelease(): Promise<string> {
  return fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
}

/** Writes a file in the guest (used to install the C selftest binaries). */
export async function installFile(path: string, bytes: Uint8Array, mode = 0o755): Promise<number> {
  fs.writeFileSync(path, bytes, { mode });
  return bytes.byteLength;
}
