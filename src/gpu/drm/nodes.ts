// The render nodes and the backend each one gets: DRM_IOCTL_VERSION's driver
// name chooses it (amdgpu, i915, xe, nouveau); any other driver (nvidia-drm,
// virtio_gpu, vmwgfx, ...) has no userptr interface mirrorlab drives, which
// is an answer, not an error.
import { constants, existsSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { native } from '../../addon.js';
import { isSyscallError } from '../../errors.js';
import { AmdgpuBackend } from './amdgpu.js';
import { DRM_BACKEND_UAPI, DrmBackendUnavailableError, isDrmBackendName, type DrmBackendName, type DrmUserptrBackend } from './common.js';
import { I915Backend } from './i915.js';
import { NouveauBackend } from './nouveau.js';
import { XeBackend } from './xe.js';

export const DRI_DIR = '/dev/dri';

export interface RenderNodeInfo {
  path: string;
  /** DRM_IOCTL_VERSION's name, null when the node could not be asked. */
  driver: string | null;
  /** driver major.minor.patchlevel */
  version: string | null;
  backend: DrmBackendName | null;
  /** null when a backend applies; otherwise why not, in words. */
  reason: string | null;
}

/** The backend a driver name gets, or null. */
export function backendForDriver(driver: string): DrmBackendName | null {
  return isDrmBackendName(driver) ? driver : null;
}

/** Why there is no backend for a driver. */
export function noBackendReason(driver: string): string {
  return `none: driver ${driver} has no userptr interface mirrorlab drives (it drives ${Object.keys(DRM_BACKEND_UAPI).join(', ')})`;
}

/** /dev/dri/renderD* in order, each with its driver and backend; [] when there is no /dev/dri. */
export function listRenderNodes(dir = DRI_DIR): RenderNodeInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^renderD\d+$/.test(n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
  names.sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  return names.map((n) => {
    const p = path.join(dir, n);
    try {
      const v = native.drmVersion(p);
      const backend = backendForDriver(v.name);
      return { path: p, driver: v.name, version: `${v.major}.${v.minor}.${v.patchlevel}`, backend, reason: backend ? null : noBackendReason(v.name) };
    } catch (e) {
      const why = isSyscallError(e) ? `${e.code} from ${e.syscall}` : String(e);
      return { path: p, driver: null, version: null, backend: null, reason: `none: the node could not be asked for its driver (${why})` };
    }
  });
}

/** What /dev/dri holds, in one line, for skip reasons: "/dev/dri has renderD128 (nvidia-drm)". */
export function describeRenderNodes(nodes = listRenderNodes(), dir = DRI_DIR): string {
  if (nodes.length === 0) return existsSync(dir) ? `${dir} has no render node` : `${dir} does not exist (no DRM driver has a device here)`;
  return `${dir} has ${nodes.map((n) => `${path.basename(n.path)} (${n.driver ?? n.reason})`).join(', ')}`;
}

/** The first render node a backend applies to, or null. */
export function findRenderNode(backend: DrmBackendName, nodes = listRenderNodes()): RenderNodeInfo | null {
  return nodes.find((n) => n.backend === backend) ?? null;
}

/**
 * Opens a render node with the backend its driver gets. Throws
 * DrmBackendUnavailableError (code ERR_DRM_NO_USERPTR) for a driver without
 * one, and the syscall error of open or DRM_IOCTL_VERSION.
 */
export function openDrmBackend(nodePath: string): DrmUserptrBackend {
  const v = native.drmVersion(nodePath);
  const backend = backendForDriver(v.name);
  if (!backend) throw new DrmBackendUnavailableError(nodePath, v.name, noBackendReason(v.name));
  // Node opens every fd with O_CLOEXEC.
  const fd = openSync(nodePath, constants.O_RDWR);
  switch (backend) {
    case 'amdgpu':
      return new AmdgpuBackend(fd, nodePath);
    case 'i915':
      return new I915Backend(fd, nodePath);
    case 'xe':
      return new XeBackend(fd, nodePath);
    case 'nouveau':
      return new NouveauBackend(fd, nodePath);
  }
}
