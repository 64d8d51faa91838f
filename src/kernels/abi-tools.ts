// Kernel exports of the inspection tools (assembly/diff-*.ts, assembly/stats-*.ts).

/** f64 slots diff_stats writes (assembly/diff-stats.ts DIFF_STATS_SLOTS). */
export const DIFF_STATS_SLOTS = 6;

export interface ToolsKernelExports {
  /**
   * out (6 f64) = [elements changed, sum (a-b)^2, sum a^2, sum b^2, sum a*b, max |a-b|] of two stored
   * tensors of n elements (dtype codes 0 = F32, 1 = BF16, 2 = F16).
   */
  diff_stats(a: number, aDtype: number, b: number, bDtype: number, n: number, out: number): number;
}
