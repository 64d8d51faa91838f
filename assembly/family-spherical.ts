// Kernels of the spherical method family (see src/methods/spherical/). Re-exported by index.ts.
// (empty until the family's kernels land)
export const FAMILY_SPHERICAL_VERSION: i32 = 0;
