// The closing kmemleak scan's judgement (src/vm/kmemleak.ts) on records in
// the form 7.2's kmemleak prints them: our modules' objects fail the run,
// mltrigger's deliberate leaks, objects of unloaded modules and the
// kernel's own are only counted.
import { describe, expect, it } from 'vitest';
import { judgeKmemleak } from '../../src/vm/kmemleak.js';

function record(addr: string, size: number, frames: string[]): string {
  return [
    `unreferenced object 0x${addr} (size ${size}):`,
    '  comm "sh", pid 99, jiffies 4294750444',
    '  hex dump (first 32 bytes):',
    '    a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5  ................',
    '  backtrace (crc 1869d5fa):',
    ...frames.map((f) => `    ${f}`),
  ].join('\n');
}

describe('judgeKmemleak', () => {
  it('names the objects our modules allocated; counts mltrigger, unloaded modules and the kernel apart', () => {
    const report = [
      record('ffff888108800000', 1048576, ['___kmalloc_large_node+0xd9/0x130', '__kmalloc_large_noprof+0x1b/0x120', 'mltrigger_leak+0x18/0x50 [mltrigger]', 'mltrigger_write+0x2cb/0x370 [mltrigger]', 'vfs_write+0x261/0xf00']),
      record('ffff888104a1c000', 64, ['__kmalloc_cache_noprof+0x2d5/0x4b0', 'mirrordrm_userptr_ioctl+0x1a2/0x9c0 [mirrordrm]', 'drm_ioctl_kernel+0x170/0x2c0 [drm]', 'drm_ioctl+0x4f2/0xac0 [drm]']),
      record('ffff888104a1d000', 128, ['__kmalloc_cache_noprof+0x2d5/0x4b0', '0xffffffffc0a1b2c3', '0xffffffffc0a1b010', 'vfs_ioctl+0x4c/0x90']),
      record('ffff888100123400', 32, ['kmemdup_noprof+0x26/0x60', 'acpi_ds_build_internal_package_obj+0x1c1/0x3a0', 'acpi_ds_eval_data_object_operands+0x1b4/0x2a0']),
      record('ffff888104a1e000', 4096, ['__kmalloc_noprof+0x1d7/0x4d0', 'fakevram_set_policy+0x44/0x120 [fakevram]', 'fakevram_ioctl+0x16f/0x2a0 [fakevram]']),
    ].join('\n');
    const v = judgeKmemleak(report);
    expect(v.ours).toEqual([
      'unreferenced object 0xffff888104a1c000 (size 64): mirrordrm_userptr_ioctl+0x1a2/0x9c0 [mirrordrm]',
      'unreferenced object 0xffff888104a1e000 (size 4096): fakevram_set_policy+0x44/0x120 [fakevram]',
    ]);
    expect(v.mltrigger).toBe(1);
    expect(v.unloadedModule).toBe(1);
    expect(v.kernel).toBe(1);
  });

  it('an empty report (no unreferenced object) finds nothing; DRM core frames alone are not ours', () => {
    expect(judgeKmemleak('')).toEqual({ ours: [], unloadedModule: 0, mltrigger: 0, kernel: 0 });
    const drm = record('ffff888104a1c000', 64, ['__kmalloc_cache_noprof+0x2d5/0x4b0', 'drm_gem_handle_create+0x20/0x80 [drm]', 'drm_ioctl+0x4f2/0xac0 [drm]']);
    expect(judgeKmemleak(drm).ours).toEqual([]);
  });
});
