// Kernel exports of the gta method family (assembly/family-gta.ts).
export interface GtaKernelExports {
  readonly FAMILY_GTA_VERSION?: unknown;
}
