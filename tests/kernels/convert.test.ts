import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { f16BitsToF32, f32ToF16Bits, MODES, roundRef } from "../helpers/reference.ts";
import { roundBf16, roundF16 } from "../../src/kernels/scalar.ts";

describe("scalar rounding (host side)", () => {
  it("rounds bf16 to nearest even, with NaN, infinities and overflow", () => {
    expect(roundBf16(0.3)).toBe(0.30078125);
    expect(roundBf16(1 + 2 ** -8)).toBe(1); // tie to even
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // tie to even upwards
    expect(roundBf16(3.4e38)).toBe(Infinity);
    expect(Number.isNaN(roundBf16(NaN))).toBe(true);
    expect(Object.is(roundBf16(-0), -0)).toBe(true);
  });
  it("rounds f16 like IEEE half, including subnormals and overflow", () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToF32(h);
      if (Number.isNaN(v)) continue;
      expect(roundF16(v)).toBe(v);
      expect(f32ToF16Bits(v)).toBe(h);
    }
    expect(roundF16(65519)).toBe(65504);
    expect(roundF16(65520)).toBe(Infinity);
    expect(roundF16(2 ** -25)).toBe(0); // halfway to the smallest subnormal: ties to even (zero)
    expect(roundF16(3 * 2 ** -25)).toBe(2 ** -23);
    expect(Object.is(roundF16(-1e-10), -0)).toBe(true);
  });
});

describe("decode / encode / round_to kernels", () => {
  it("round_to matches the scalar reference for every mode and awkward length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const src = testValues(n, n + 7 * mode);
        const p = k.allocF32(n);
        k.f32(p).set(src);
        k.call("round_to", p.ptr, p.ptr, mode, n);
        const want = src.map((x) => roundRef(x, mode));
        expect(sameBits(k.f32(p), want), `mode ${mode} n ${n}`).toBe(true);
      }
    }
  });

  it("encode then decode gives the rounded values, for unaligned storage offsets", async () => {
    const k = await testKernels();
    for (const dtype of MODES) {
      const bytes = dtype === 0 ? 4 : 2;
      for (const n of AWKWARD_LENGTHS) {
        for (const misalign of [0, 1, 2, 3]) {
          k.reset();
          const src = testValues(n, 3 * n + dtype);
          const p = k.allocF32(n);
          k.f32(p).set(src);
          const store = k.alloc(n * bytes + 8) + misalign;
          k.call("encode", store, p.ptr, dtype, n);
          const raw = k.bytes(store, n * bytes).slice();
          const dv = new DataView(raw.buffer);
          for (let i = 0; i < n; i++) {
            const want = roundRef(src[i]!, dtype);
            let got: number;
            if (dtype === 0) got = dv.getFloat32(i * 4, true);
            else if (dtype === 1) got = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!;
            else {
              got = f16BitsToF32(dv.getUint16(i * 2, true));
              if (!Number.isNaN(want)) expect(dv.getUint16(i * 2, true)).toBe(f32ToF16Bits(src[i]!));
            }
            if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
            else expect(Object.is(got, want), `dtype ${dtype} n ${n} i ${i}: ${src[i]} -> ${got}, want ${want}`).toBe(true);
          }
          const back = k.allocF32(n);
          k.call("decode", back.ptr, store, dtype, n);
          expect(sameBits(k.f32(back), src.map((x) => roundRef(x, dtype)))).toBe(true);
        }
      }
    }
  });

  it("decodes every f16 bit pattern exactly", async () => {
    const k = await testKernels();
    const n = 0x10000;
    const store = k.alloc(n * 2);
    const u16 = new Uint16Array(k.memory.buffer, store, n);
    for (let h = 0; h < n; h++) u16[h] = h;
    const out = k.allocF32(n);
    k.call("decode", out.ptr, store, 2, n);
    const got = k.f32(out);
    for (let h = 0; h < n; h++) {
      const want = f16BitsToF32(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got[h])).toBe(true);
      else expect(Object.is(got[h], want), `h=${h.toString(16)}`).toBe(true);
    }
  });

  it("rejects an unknown dtype code with a status", async () => {
    const k = await testKernels();
    expect(() => k.call("decode", 65536, 65536, 9, 4)).toThrow(/status 1/);
  });
});
