// Kernels of the gta method family (see src/methods/gta/). Re-exported by index.ts.
// (empty until the family's kernels land)
export const FAMILY_GTA_VERSION: i32 = 0;
