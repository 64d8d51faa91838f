// Kernel exports of the spherical method family (assembly/family-spherical.ts).
export interface SphericalKernelExports {
  readonly FAMILY_SPHERICAL_VERSION?: unknown;
}
