// Kernel exports of the misc method family (assembly/family-misc.ts).
export interface MiscKernelExports {
  readonly FAMILY_MISC_VERSION?: unknown;
}
