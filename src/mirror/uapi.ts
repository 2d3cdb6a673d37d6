// mirrordrm's uapi (kernel-patches/include/uapi/mirrordrm.h) as the addon was
// compiled against it: its #defines (native.mirrordrmConstants) and the
// sizeof/offsetof of its structures (native.mirrordrm.layout). Nothing here
// restates a value of the header; test/unit/uapi.test.ts checks the addon's
// values against the header's text.
import { native } from '../addon.js';
import type { InvalidationEvent, MirrorMode } from './types.js';

/** The header's #defines, by their C names. */
export const MIRRORDRM_UAPI = native.mirrordrmConstants;

/** Byte offsets of each uapi structure's fields, and its size (key `sizeof`), by C names. */
export const MIRRORDRM_LAYOUT = native.mirrordrm.layout;

const K = MIRRORDRM_UAPI;

/** The header's values under short names (MIRRORDRM_USERPTR_MODE_GUP is MODE_GUP). */
export const MIRRORDRM = {
  MODE_GUP: K.MIRRORDRM_USERPTR_MODE_GUP,
  MODE_GUP_LONGTERM: K.MIRRORDRM_USERPTR_MODE_GUP_LONGTERM,
  MODE_GUP_GET: K.MIRRORDRM_USERPTR_MODE_GUP_GET,
  MODE_HMM: K.MIRRORDRM_USERPTR_MODE_HMM,
  MODE_SVM: K.MIRRORDRM_USERPTR_MODE_SVM,
  READ_ONLY: K.MIRRORDRM_USERPTR_READ_ONLY,
  POPULATE: K.MIRRORDRM_USERPTR_POPULATE,
  GUP_REPIN: K.MIRRORDRM_USERPTR_GUP_REPIN,
  ACCESS_READ: K.MIRRORDRM_ACCESS_READ,
  ACCESS_WRITE: K.MIRRORDRM_ACCESS_WRITE,
  PAGE_VALID: K.MIRRORDRM_PAGE_VALID,
  PAGE_WRITE: K.MIRRORDRM_PAGE_WRITE,
  PAGE_ZERO: K.MIRRORDRM_PAGE_ZERO,
  PAGE_ERROR: K.MIRRORDRM_PAGE_ERROR,
  PAGE_STALE: K.MIRRORDRM_PAGE_STALE,
  PAGE_SAME: K.MIRRORDRM_PAGE_SAME,
  PAGE_ORDER_SHIFT: K.MIRRORDRM_PAGE_ORDER_SHIFT,
  PAGE_ORDER_MASK: K.MIRRORDRM_PAGE_ORDER_MASK,
  RECORD_BLOCKABLE: K.MIRRORDRM_RECORD_BLOCKABLE,
  RECORD_WOULD_BLOCK: K.MIRRORDRM_RECORD_WOULD_BLOCK,
  RECORD_READ_ONLY: K.MIRRORDRM_RECORD_READ_ONLY,
  RECORD_DOWNGRADED: K.MIRRORDRM_RECORD_DOWNGRADED,
  RECORD_KEPT_STALE: K.MIRRORDRM_RECORD_KEPT_STALE,
  RECORD_FENCE_WAIT: K.MIRRORDRM_RECORD_FENCE_WAIT,
  OWNER_NONE: K.MIRRORDRM_OWNER_NONE,
  OWNER_FOREIGN: K.MIRRORDRM_OWNER_FOREIGN,
  BEHAVIOUR_RO_DOWNGRADE: K.MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE,
  FENCE_WAIT_MAX_NS: K.MIRRORDRM_FENCE_WAIT_MAX_NS,
  POPULATE_DELAY_MAX_NS: K.MIRRORDRM_POPULATE_DELAY_MAX_NS,
  MAX_SIZE: K.MIRRORDRM_USERPTR_MAX_SIZE,
  EVENT_SLOTS: K.MIRRORDRM_EVENT_SLOTS,
  SIZEOF_RECORD: MIRRORDRM_LAYOUT.drm_mirrordrm_inval_record.sizeof,
  SIZEOF_PAGE: MIRRORDRM_LAYOUT.drm_mirrordrm_page.sizeof,
} as const;

/** USERPTR mode flags of each mirror mode (the tsc-checked counterpart of ALL_MIRROR_MODES). */
export const MODE_FLAGS: Readonly<Record<MirrorMode, number>> = {
  gup: MIRRORDRM.MODE_GUP,
  'gup-longterm': MIRRORDRM.MODE_GUP_LONGTERM,
  'gup-get': MIRRORDRM.MODE_GUP_GET,
  hmm: MIRRORDRM.MODE_HMM,
  svm: MIRRORDRM.MODE_SVM,
};

/** The value of MIRRORDRM_EVENT_<name> for each event the log names. */
export function eventValue(e: InvalidationEvent): number {
  return K[`MIRRORDRM_EVENT_${e}`];
}
