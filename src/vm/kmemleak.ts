// kmemleak's report, read when a guest of a kernel with kmemleak closes (our
// debug kernels, which do not scan by themselves): which unreferenced
// objects were allocated by our modules.
//
// kmemleak prints a backtrace per object; a frame in a loaded module reads
// "fn+0x18/0x50 [mirrordrm]", a frame in a module unloaded since is a bare
// address in the module area. mltrigger leaks on purpose (the detectors'
// positive controls), so a bare module address in a guest that loaded
// mltrigger cannot be told from its deliberate leak: it is counted apart.

/** The modules whose leaks fail a guest run. */
export const OUR_MODULES = ['mirrordrm', 'fakevram', 'test_hmm'];

/** x86_64's module area (MODULES_VADDR to MODULES_END, 4- and 5-level paging alike). */
const MODULE_AREA = /^\s+(?:0x)?ffffffff[a-f][0-9a-f]{7}\s*$/m;

export interface KmemleakVerdict {
  /** Objects allocated in our modules (their first line and the frame that names the module). */
  ours: string[];
  /** Objects whose allocating module was unloaded since (bare module addresses). */
  unloadedModule: number;
  /** Objects allocated by mltrigger (its deliberate leaks). */
  mltrigger: number;
  /** Objects of the kernel itself (no module frame). */
  kernel: number;
}

export function judgeKmemleak(report: string): KmemleakVerdict {
  const verdict: KmemleakVerdict = { ours: [], unloadedModule: 0, mltrigger: 0, kernel: 0 };
  const records = report.split(/^(?=unreferenced object )/m).filter((r) => r.startsWith('unreferenced object '));
  const ourFrame = new RegExp(`^\\s*(\\S+ \\[(?:${OUR_MODULES.join('|')})\\])\\s*$`, 'm');
  for (const r of records) {
    const frame = ourFrame.exec(r);
    if (frame) verdict.ours.push(`${r.split('\n')[0].trim()} ${frame[1]}`);
    else if (/\[mltrigger\]\s*$/m.test(r)) verdict.mltrigger++;
    else if (MODULE_AREA.test(r)) verdict.unloadedModule++;
    else verdict.kernel++;
  }
  return verdict;
}
