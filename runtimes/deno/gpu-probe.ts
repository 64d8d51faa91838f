// What a WebGPU device does with plain WGSL float arithmetic (reported by gpu-check.ts and the
// benchmark; the kernels do not depend on it, see src/gpu/wgsl-common.ts):
// - fmaContracted: `a * b + c` came out as a fused multiply-add
// - subnormalsFlushed: a product with a subnormal result came out as zero
// - zeroAddFolded: `-0.0 + 0.0` (0.0 a literal) came out as -0 (the add was folded away)
import { BUFFER_USAGE, MAP_READ, SHADER_STAGE_COMPUTE } from "../../src/gpu/webgpu-types.ts";
import type { GpuDeviceLike } from "../../src/gpu/webgpu-types.ts";

export interface FloatProbe {
  readonly fmaContracted: boolean;
  readonly subnormalsFlushed: boolean;
  readonly zeroAddFolded: boolean;
}

const CODE = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> d: array<f32>;
@compute @workgroup_size(1)
fn main() {
  d[3] = d[0] * d[1] + d[2];
  d[4] = d[5] * d[6];
  d[7] = d[8] + 0.0;
}`;

export async function probeFloat(device: GpuDeviceLike): Promise<FloatProbe> {
  const a = 1 + 2 ** -12;
  const init = new Float32Array([a, a, -(1 + 2 ** -11), 0, 1e-20, 1e-20, 1e-20, 0, -0, 0, 0, 0]);
  const layout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: "storage" } }] });
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module: device.createShaderModule({ code: CODE }), entryPoint: "main" } });
  const buf = device.createBuffer({ size: init.byteLength, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST });
  const read = device.createBuffer({ size: init.byteLength, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST });
  device.queue.writeBuffer(buf, 0, init);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: buf } }] }));
  pass.dispatchWorkgroups(1);
  pass.end();
  enc.copyBufferToBuffer(buf, 0, read, 0, init.byteLength);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(MAP_READ);
  const r = new Float32Array(read.getMappedRange().slice(0));
  read.destroy();
  buf.destroy();
  return {
    fmaContracted: r[3] !== Math.fround(Math.fround(a * a) - (1 + 2 ** -11)),
    subnormalsFlushed: r[4] === 0,
    zeroAddFolded: Object.is(r[7], -0),
  };
}
