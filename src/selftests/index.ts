// The kernel's own mm/HMM selftests, run in our guests: suites, output
// parsers, baselines, the guest runner.
export { SELFTEST_SUITES, SELFTEST_SUITE_NAMES, DEFAULT_SELFTEST_SUITES, QUICK_SUITES, THP_BENCHMARK_SUITE, selftestSuite } from './suites.js';
export type { SelftestSuite } from './suites.js';
export { parseKtap, parseUffdUnit, parseKhugepaged, parseSuiteOutput, parseThpMigration, suiteCases, outcomeFromExit, countOutcomes, OUTCOMES, KSFT } from './parse.js';
export type { Outcome, CaseResult, ParsedOutput, SuiteExit, ThpMigrationFigure } from './parse.js';
export { loadBaseline, baselinePath, compareWithBaseline, baselineFromRun, writeBaseline, formatDifference, describeCounts, BASELINE_DIR } from './baseline.js';
export type { Baseline, BaselineCase, BaselineSuite, SuiteOutcomes, Difference, DifferenceKind, FlakyCase, BaselineComparison } from './baseline.js';
export { runSelftests, selftestsBuild, selftestsDir, suiteBinary, selftestsArchive } from './run.js';
export type { SelftestsRun, SuiteReport, SuiteRunResult, SelftestsManifest, SelftestsBuild, RunOptions } from './run.js';
export { outcomesOf, checkRun, formatCheckedRun } from './cli.js';
export type { CheckedRun } from './cli.js';
