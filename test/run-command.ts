// Runs a command without blocking the test worker's event loop. A vitest
// worker that sits in spawnSync/execFileSync for over 60 s misses its RPC
// deadline to the main process ("Timeout calling onTaskUpdate"), which fails
// the whole run; builds and CLI runs that can take that long on a loaded
// machine go through here.
import { spawn } from 'node:child_process';

export interface CommandResult { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export function runCommand(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; inherit?: boolean } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.inherit ? 'inherit' : 'pipe', opts.inherit ? 'inherit' : 'pipe'],
      timeout: opts.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    p.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    p.on('error', reject);
    p.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** runCommand that rejects, naming the command and its status, unless it exits 0. */
export async function runChecked(cmd: string, args: string[], opts: Parameters<typeof runCommand>[2] = {}): Promise<CommandResult> {
  const r = await runCommand(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}\n${r.stderr}`);
  return r;
}
