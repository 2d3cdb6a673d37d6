// Page state: pagemap, PAGEMAP_SCAN, kpageflags and smaps for a range.
export { pageState, pageSummary, pagemapScan, resolveRange, PageState, KPF, PAGE_IS } from './pagestate.js';
export type { RangeLike, PageInfo, PageSummary } from './pagestate.js';
export { smapsFor, parseSmaps, isMapped } from './smaps.js';
export type { SmapsVma } from './smaps.js';
