// Reads vitest's JSON report and prints the plain closing line CI reads
// ("tests: N passed, N failed, N skipped"). Under CI a skipped test is a failure: every suite
// that needs a missing component must fail loudly rather than skip.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2] ?? '.tmp/vitest.json', 'utf8'));
const passed = report.numPassedTests;
const failed = report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0);
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (report.numTotalTests === 0) {
  console.error('no test ran');
  process.exit(1);
}
if (failed > 0 || !report.success) process.exit(1);
if (skipped > 0 && process.env.CI) {
  console.error('under CI=true a skipped test counts as a failure');
  process.exit(1);
}
