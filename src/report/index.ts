/** Public surface of the report module: the self-contained HTML report of a bundle and its evaluation. */
export { renderReport, writeReport, REPORT_OUTPUT, type ReportInput } from './report.ts';
