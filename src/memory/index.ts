// Memory: mappings of every backing a GPU userptr can meet, hugetlb pools,
// THP settings, and fork scenarios.
export { Mapping } from './mapping.js';
export type { Backing, MapOptions, AnonymousOptions, MemfdOptions, FileOptions, RemapOptions, RemapResult, Populate } from './mapping.js';
export { ADVICE, MAP, PROT, MREMAP, MFD, HUGE_SIZES, adviceValue, protBits, protString, hugeSizeFlag } from './constants.js';
export type { Advice, Prot, HugeSize } from './constants.js';
export { PAGE_SIZE, HPAGE_PMD_SIZE, HPAGE_PUD_SIZE } from './validate.js';
export { hugePools, hugePool, reserveHugePages } from './hugetlb.js';
export type { HugePool, HugeReservation } from './hugetlb.js';
export { thpSettings, setShmemThp, zeroPageOff } from './thp.js';
export type { ThpSettings, ShmemThpMode } from './thp.js';
export { replayDeadJournals, restoreDir } from './restore-journal.js';
export type { JournalEntry, Replayed } from './restore-journal.js';
export { forkChild, runInChild } from './fork.js';
export type { ForkOp, ForkTarget, ForkOpResult, ForkResult, ForkHandle } from './fork.js';
export { pageNodes, movePages, mbind } from './numa.js';
export type { MovePagesResult, MovePagesOptions, MemPolicy, MbindOptions } from './numa.js';
