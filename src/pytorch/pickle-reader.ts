// A pickle reader that never executes anything. It runs the data opcodes of pickle protocols
// 0-5 (numbers, strings, tuples, lists, dicts, the memo) and resolves a GLOBAL only through an
// explicit table of the callables a checkpoint needs (`allowed`); any other global, and every
// opcode that builds arbitrary objects (INST, OBJ, NEWOBJ, EXT*, PERSID), is refused with the
// name of what was asked for. REDUCE calls the table's plain TypeScript function, never Python.
import { AmalgamError } from "../errors.ts";

/** Pickles larger than this are refused (a 1000-tensor shard's data.pkl is ~100 KiB). */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;
/** Integers wider than this many bytes (LONG1/LONG4) are refused: shapes and offsets fit in 8. */
const MAX_LONG_BYTES = 8;
/** Highest pickle protocol understood. */
const MAX_PROTOCOL = 5;

export interface PickleTuple { readonly kind: "tuple"; readonly items: readonly PickleValue[] }
export interface PickleList { readonly kind: "list"; readonly items: PickleValue[] }
export interface PickleDict { readonly kind: "dict"; readonly entries: Map<PickleKey, PickleValue>; readonly type: string }
export interface PickleBytes { readonly kind: "bytes"; readonly data: Uint8Array }
/** A global from the allowed table (a class, a function, or a constant such as a dtype). */
export interface PickleGlobal { readonly kind: "global"; readonly module: string; readonly name: string; readonly def: GlobalDef }
/** A value built by an allowed callable (a tensor, a storage reference, ...). */
export interface PickleObject { readonly kind: "object"; readonly type: string; readonly value: unknown }

export type PickleKey = string | number | bigint | boolean | null;
export type PickleValue = PickleKey | PickleTuple | PickleList | PickleDict | PickleBytes | PickleGlobal | PickleObject;

/** What an allowed global may do. */
export interface GlobalDef {
  /** What the global stands for when it is used as a value (a storage class's dtype, a dtype constant). */
  readonly tag?: string;
  /** REDUCE with this global: builds a value from the argument tuple (must not have side effects). */
  readonly call?: (args: readonly PickleValue[], ctx: PickleContext) => PickleValue;
  /** BUILD on a value this global made: accept (and drop) the state, or refuse by throwing. */
  readonly build?: (obj: PickleValue, state: PickleValue, ctx: PickleContext) => void;
}

export interface PickleContext {
  readonly file: string;
  fail(message: string): never;
}

/** Allowed globals keyed "module.name". */
export type GlobalTable = ReadonlyMap<string, GlobalDef>;

export interface PickleOptions {
  readonly allowed: GlobalTable;
  /** BINPERSID: turns a persistent id (torch's storage tuple) into a value, or throws. */
  readonly persistentLoad?: (pid: PickleValue, ctx: PickleContext) => PickleValue;
}

const MARK = Symbol("mark");

/** Parses one pickle stream. `file` names it in messages. */
export function readPickle(file: string, data: Uint8Array, options: PickleOptions): PickleValue {
  const fail = (message: string): never => {
    throw new AmalgamError("E_PICKLE", `${file}: ${message}`);
  };
  const ctx: PickleContext = { file, fail };
  if (data.length > MAX_PICKLE_BYTES) fail(`pickle of ${data.length} bytes exceeds the limit of ${MAX_PICKLE_BYTES}`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stack: (PickleValue | typeof MARK)[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let p = 0;

  const need = (n: number, what: string) => {
    if (n < 0 || p + n > data.length) fail(`truncated pickle: ${what} needs ${n} bytes at offset ${p}, ${data.length - p} left`);
  };
  const u8 = () => { need(1, "a byte"); return data[p++]!; };
  const u16 = () => { need(2, "a 2-byte length"); const v = dv.getUint16(p, true); p += 2; return v; };
  const u32 = () => { need(4, "a 4-byte length"); const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = () => {
    need(8, "an 8-byte length");
    const v = dv.getUint32(p, true) + dv.getUint32(p + 4, true) * 2 ** 32;
    p += 8;
    if (!Number.isSafeInteger(v)) fail(`length ${v} is too large`);
    return v;
  };
  const bytes = (n: number, what: string) => { need(n, what); const b = data.subarray(p, p + n); p += n; return b; };
  const text = (n: number) => {
    const b = bytes(n, "a string");
    try {
      return utf8.decode(b);
    } catch {
      return fail(`string at offset ${p - n} is not valid UTF-8`);
    }
  };
  const latin1 = (b: Uint8Array) => { let s = ""; for (const c of b) s += String.fromCharCode(c); return s; };
  const line = () => {
    const end = data.indexOf(0x0a, p);
    if (end < 0) fail(`truncated pickle: unterminated line at offset ${p}`);
    const s = latin1(data.subarray(p, end));
    p = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail(`stack underflow at offset ${p}`);
    const v = stack.pop()!;
    if (v === MARK) fail(`unexpected MARK at offset ${p}`);
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail(`stack underflow at offset ${p}`);
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) fail(`no MARK for the opcode at offset ${p - 1}`);
    const items = stack.splice(m!) as (PickleValue | typeof MARK)[];
    items.shift(); // the mark itself
    if (items.includes(MARK)) fail(`nested MARK at offset ${p - 1}`);
    return items as PickleValue[];
  };
  const push = (v: PickleValue) => { stack.push(v); };
  const key = (k: PickleValue): PickleKey => {
    if (k === null || typeof k === "string" || typeof k === "number" || typeof k === "bigint" || typeof k === "boolean") return k;
    return fail(`dictionary key of kind ${k.kind} is not supported`);
  };
  const setItems = (d: PickleValue, kv: readonly PickleValue[]) => {
    if (typeof d !== "object" || d === null || d.kind !== "dict") fail(`SETITEM(S) on a non-dictionary at offset ${p - 1}`);
    if (kv.length % 2) fail(`SETITEMS with an odd number of items at offset ${p - 1}`);
    for (let i = 0; i < kv.length; i += 2) (d as PickleDict).entries.set(key(kv[i]!), kv[i + 1]!);
  };
  const appendItems = (l: PickleValue, items: readonly PickleValue[]) => {
    if (typeof l !== "object" || l === null || l.kind !== "list") fail(`APPEND(S) on a non-list at offset ${p - 1}`);
    (l as PickleList).items.push(...items);
  };
  const resolveGlobal = (module: string, name: string): PickleGlobal => {
    const def = options.allowed.get(`${module}.${name}`);
    if (!def) fail(`refusing to load global "${module}.${name}": a checkpoint only needs tensor-rebuilding globals (torch._utils._rebuild_tensor_v2, collections.OrderedDict, torch.*Storage); this pickle may run code`);
    return { kind: "global", module, name, def: def! };
  };
  const int = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    if (b.length > MAX_LONG_BYTES) fail(`integer of ${b.length} bytes is too large`);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > MAX_PROTOCOL) fail(`pickle protocol ${v} is not supported (at most ${MAX_PROTOCOL})`);
        break;
      }
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x2e: { // STOP
        const v = pop();
        if (stack.length) fail(`${stack.length} value(s) left on the stack at STOP`);
        return v;
      }
      case 0x28: marks.push(stack.length); stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: need(4, "BININT"); push(dv.getInt32(p, true)); p += 4; break;
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { const n = u8(); push(int(bytes(n, "LONG1"))); break; }
      case 0x8b: { const n = u32(); if (n > MAX_LONG_BYTES) fail(`integer of ${n} bytes is too large`); push(int(bytes(n, "LONG4"))); break; }
      case 0x49: { // INT (protocol 0): decimal, or 01/00 for booleans
        const s = line();
        if (s === "01" || s === "00") push(s === "01");
        else if (/^-?\d{1,15}$/.test(s)) push(Number(s));
        else fail(`INT "${s.slice(0, 40)}" is not a small decimal integer`);
        break;
      }
      case 0x4c: { // LONG (protocol 0)
        const s = line().replace(/L$/, "");
        if (!/^-?\d{1,15}$/.test(s)) fail(`LONG "${s.slice(0, 40)}" is not a small decimal integer`);
        push(Number(s));
        break;
      }
      case 0x47: need(8, "BINFLOAT"); push(dv.getFloat64(p, false)); p += 8; break;
      case 0x46: { // FLOAT (protocol 0)
        const s = line();
        const v = Number(s);
        if (s.trim() === "" || (Number.isNaN(v) && !/^nan$/i.test(s.trim()))) fail(`FLOAT "${s.slice(0, 40)}" is not a number`);
        push(v);
        break;
      }
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x54: { const n = dv.getInt32((need(4, "BINSTRING"), p), true); p += 4; push(latin1(bytes(n, "BINSTRING"))); break; }
      case 0x55: push(latin1(bytes(u8(), "SHORT_BINSTRING"))); break;
      case 0x42: push({ kind: "bytes", data: bytes(u32(), "BINBYTES").slice() }); break;
      case 0x43: push({ kind: "bytes", data: bytes(u8(), "SHORT_BINBYTES").slice() }); break;
      case 0x8e: push({ kind: "bytes", data: bytes(u64(), "BINBYTES8").slice() }); break;
      case 0x29: push({ kind: "tuple", items: [] }); break; // EMPTY_TUPLE
      case 0x74: push({ kind: "tuple", items: popMark() }); break; // TUPLE
      case 0x85: { const a = pop(); push({ kind: "tuple", items: [a] }); break; }
      case 0x86: { const b = pop(); const a = pop(); push({ kind: "tuple", items: [a, b] }); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push({ kind: "tuple", items: [a, b, c] }); break; }
      case 0x5d: push({ kind: "list", items: [] }); break; // EMPTY_LIST
      case 0x6c: push({ kind: "list", items: popMark() }); break; // LIST
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x7d: push({ kind: "dict", entries: new Map(), type: "dict" }); break; // EMPTY_DICT
      case 0x64: { const d: PickleDict = { kind: "dict", entries: new Map(), type: "dict" }; setItems(d, popMark()); push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x70: { const s = line(); const i = Number(s); if (!/^\d{1,10}$/.test(s)) fail(`PUT index "${s.slice(0, 20)}"`); memo.set(i, top()); break; }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: case 0x68: case 0x6a: { // GET, BINGET, LONG_BINGET
        const i = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} is read before it is written (offset ${at})`);
        push(memo.get(i)!);
        break;
      }
      case 0x63: { const module = line(); const name = line(); push(resolveGlobal(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail(`STACK_GLOBAL needs two strings at offset ${at}`);
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (typeof fn !== "object" || fn === null || fn.kind !== "global") fail(`REDUCE of a value that is not an allowed global (offset ${at})`);
        const g = fn as PickleGlobal;
        if (!g.def.call) fail(`"${g.module}.${g.name}" cannot be called`);
        if (typeof args !== "object" || args === null || args.kind !== "tuple") fail(`REDUCE of "${g.module}.${g.name}" without an argument tuple`);
        push(g.def.call!((args as PickleTuple).items, ctx));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (typeof obj === "object" && obj !== null && obj.kind === "dict") {
          // OrderedDict's instance attributes (transformers' `_metadata`): accepted and dropped.
          if (!(state === null || (typeof state === "object" && state.kind === "dict"))) fail(`BUILD of a dictionary with a non-dictionary state (offset ${at})`);
          break;
        }
        const def = typeof obj === "object" && obj !== null && obj.kind === "object" ? options.allowed.get(obj.type) : undefined;
        if (!def?.build) fail(`BUILD (setting object state) is not allowed here (offset ${at})`);
        def!.build!(obj, state, ctx);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail(`persistent id without a loader (offset ${at})`);
        push(options.persistentLoad!(pid, ctx));
        break;
      }
      case 0x50: fail(`PERSID (text persistent id) is not used by torch.save and is refused`); break;
      case 0x69: fail(`INST (instantiating a class) is refused: "${line()}.${line()}"`); break;
      case 0x6f: fail(`OBJ (instantiating a class) is refused (offset ${at})`); break;
      case 0x81: fail(`NEWOBJ (instantiating a class) is refused (offset ${at})`); break;
      case 0x92: fail(`NEWOBJ_EX (instantiating a class) is refused (offset ${at})`); break;
      case 0x82: case 0x83: case 0x84: fail(`EXT (extension registry globals) is refused (offset ${at})`); break;
      case 0x8f: case 0x90: case 0x91: fail(`sets are not used by checkpoints and are refused (offset ${at})`); break;
      case 0x96: case 0x97: case 0x98: fail(`out-of-band buffers (protocol 5) are refused (offset ${at})`); break;
      default: fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, "0")} at offset ${at}`);
    }
  }
}
