// Kernels of the misc method family (see src/methods/misc/). Re-exported by index.ts.
// (empty until the family's kernels land)
export const FAMILY_MISC_VERSION: i32 = 0;
