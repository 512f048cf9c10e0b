/**
 * `StructLayout`: a typed record layout over blocks: fields of fixed numeric types at fixed offsets, read and
 * written through a record object per block, and an array-of-records form. The layout a C compiler would give:
 * fields in the order declared, each at its natural alignment, the size rounded up to the largest alignment, so a
 * WebAssembly module (or C through wasm) that declares the same struct reads the same bytes.
 *
 * ```text
 *  defineStruct({ id: "u32", x: "f64", flags: "u8" })     size 24, align 8
 *  offset 0      4        8                16     17                24
 *         | id   | (pad)  | x              | flags | (pad)            |
 * ```
 *
 * Complexity: O(1) per field access (one typed-array read through the memory's current view, so records stay
 * valid when a WebAssembly memory grows). Backing: any allocator. Threads: a record over a shared memory is plain
 * reads and writes, not atomic. Overhead: none in memory beyond the padding; one small object per record view.
 * Composition limits: a record does not own its block: freeing it (`free`, `reset`) leaves the view pointing at
 * memory that may be reused.
 *
 * @example
 * ```ts
 * const Particle = defineStruct({ id: "u32", x: "f64", y: "f64", alive: "u8" });
 * const heap = new Heap(new ArrayBufferBacked({ size: 1 << 16, maxSize: 1 << 20 }));
 * const p = Particle.alloc(heap); // a zeroed record
 * p.id = 7;
 * p.x = 1.5;
 * const swarm = Particle.allocArray(heap, 100); // 100 records in one block, zeroed
 * swarm.at(3).y = 2.5;
 * console.log(Particle.size, Particle.offsets.x, p.id, p.x, swarm.get(3, "y"), swarm.length); // 32 8 7 1.5 2.5 100
 * console.log(Particle instanceof StructLayout, swarm instanceof StructArray); // true true
 * Particle.free(heap, p);
 * ```
 *
 * @module
 */
import {
  AllocError,
  type Allocator,
  InvalidPointerError,
  LayoutError,
  type Memory,
  NULL,
} from "../core/index.js";
import { type TypedOptions, outOfMemory } from "./typed.js";

/** The field types: unsigned and signed integers of 8 to 64 bits and IEEE floats. 64-bit integers are `bigint`. */
export type FieldType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64" | "u64" | "i64";

/** A record's fields: name to type, in layout order. */
export type FieldSpec = Readonly<Record<string, FieldType>>;

/** The JavaScript type of a field: `bigint` for 64-bit integers, `number` otherwise. */
export type FieldValue<T extends FieldType> = T extends "u64" | "i64" ? bigint : number;

/** A record: one property per field (read and write the block), plus where it lives. */
export type StructRecord<F extends FieldSpec> = { -readonly [K in keyof F]: FieldValue<F[K]> } & {
  /** The record's offset in its memory. */
  readonly ptr: number;
  /** The memory the record lives in. */
  readonly memory: Memory;
};

/** Bytes per field type (also its alignment), and the `Memory` view that reads it. */
const TYPES: Readonly<Record<FieldType, { bytes: number; view: keyof Memory }>> = {
  u8: { bytes: 1, view: "u8" },
  i8: { bytes: 1, view: "i8" },
  u16: { bytes: 2, view: "u16" },
  i16: { bytes: 2, view: "i16" },
  u32: { bytes: 4, view: "u32" },
  i32: { bytes: 4, view: "i32" },
  f32: { bytes: 4, view: "f32" },
  f64: { bytes: 8, view: "f64" },
  u64: { bytes: 8, view: "u64" },
  i64: { bytes: 8, view: "i64" },
};
const RESERVED = new Set(["ptr", "memory", "constructor", "__proto__", "toString", "valueOf", "toJSON"]);

type RecordCtor<F extends FieldSpec> = new (memory: Memory, ptr: number) => StructRecord<F>;

/** See the module documentation. Make one with {@link defineStruct}. */
export class StructLayout<F extends FieldSpec> {
  /** The fields, as declared. */
  readonly fields: F;
  /** Each field's byte offset in a record. */
  readonly offsets: Readonly<Record<keyof F, number>>;
  /** Bytes per record (the stride of an array of records), a multiple of {@link StructLayout.align}. */
  readonly size: number;
  /** The record's alignment: the largest field alignment. */
  readonly align: number;
  private readonly Record: RecordCtor<F>;

  /** @throws `AllocError` for no fields, an unknown type, or a reserved field name (`ptr`, `memory`, ...). */
  constructor(fields: F) {
    const names = typeof fields === "object" && fields !== null ? Object.keys(fields) : [];
    if (names.length === 0) {
      throw new AllocError('StructLayout: expected at least one field, such as { x: "f64" }');
    }
    const offsets: Record<string, number> = {};
    let offset = 0;
    let align = 1;
    for (const name of names) {
      const type = TYPES[fields[name] as FieldType];
      if (!Object.hasOwn(TYPES, fields[name] as string) || type === undefined) {
        throw new AllocError(
          `StructLayout: field "${name}" has type ${String(fields[name])}; expected one of ${Object.keys(TYPES).join(", ")}`,
        );
      }
      if (RESERVED.has(name)) throw new AllocError(`StructLayout: "${name}" is reserved; rename the field`);
      offset = Math.ceil(offset / type.bytes) * type.bytes;
      offsets[name] = offset;
      offset += type.bytes;
      align = Math.max(align, type.bytes);
    }
    this.fields = fields;
    this.offsets = offsets as Record<keyof F, number>;
    this.align = align;
    this.size = Math.ceil(offset / align) * align;
    this.Record = recordClass<F>(fields, offsets);
  }

  /**
   * The record at `ptr` in `memory` (a block of at least {@link StructLayout.size} bytes you got elsewhere).
   *
   * @throws `InvalidPointerError` when `ptr` is not a positive integer aligned to {@link StructLayout.align} with
   *   the whole record inside the memory.
   */
  view(memory: Memory, ptr: number): StructRecord<F> {
    if (!Number.isInteger(ptr) || ptr <= 0 || ptr % this.align !== 0 || ptr + this.size > memory.byteLength) {
      throw new InvalidPointerError(
        ptr,
        `StructLayout.view: ${String(ptr)} is not a record's offset; expected a positive multiple of ${this.align} ` +
          `with ${this.size} bytes inside the memory of ${memory.byteLength} bytes`,
      );
    }
    return new this.Record(memory, ptr);
  }

  /**
   * Allocates one record from `allocator`, zeroed unless `options.zeroed` is `false`.
   *
   * @throws `AllocError` when out of memory (nothing allocated); `LayoutError` for bad options.
   */
  alloc(allocator: Allocator, options?: TypedOptions): StructRecord<F> {
    const ptr = this.allocBlock(allocator, "StructLayout.alloc", this.size, options);
    return new this.Record(allocator.memory, ptr);
  }

  /**
   * Allocates `length` records in one block (stride {@link StructLayout.size}), zeroed unless `options.zeroed` is
   * `false`.
   *
   * @throws `LayoutError` for a length that is not a positive integer (or too large); `AllocError` when out of memory.
   */
  allocArray(allocator: Allocator, length: number, options?: TypedOptions): StructArray<F> {
    if (!Number.isInteger(length) || length < 1 || length * this.size > 0x40000000) {
      throw new LayoutError(
        `StructLayout.allocArray: length ${String(length)} is not valid; expected an integer from 1 to ${Math.floor(0x40000000 / this.size)}`,
      );
    }
    const ptr = this.allocBlock(allocator, "StructLayout.allocArray", length * this.size, options);
    return new StructArray(this, allocator.memory, ptr, length);
  }

  /** Frees a record from {@link StructLayout.alloc} (or an array from {@link StructLayout.allocArray}) to `allocator`. */
  free(allocator: Allocator, block: StructRecord<F> | StructArray<F>): void {
    const size = block instanceof StructArray ? block.length * this.size : this.size;
    allocator.deallocate(block.ptr, size, this.align);
  }

  /** @internal A record at a checked offset, for {@link StructArray}. */
  recordAt(memory: Memory, ptr: number): StructRecord<F> {
    return new this.Record(memory, ptr);
  }

  private allocBlock(
    allocator: Allocator,
    where: string,
    size: number,
    options: TypedOptions | undefined,
  ): number {
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new LayoutError(
        `${where}: options must be an object such as { zeroed: false }, not ${String(options)}`,
      );
    }
    const ptr = allocator.allocate(size, this.align);
    if (ptr === NULL) throw outOfMemory(where, size, allocator);
    if (options?.zeroed !== false) allocator.memory.u8.fill(0, ptr, ptr + size);
    return ptr;
  }
}

/** An array of records in one block: `at(i)` gives record `i`; `get`/`set` read and write a field directly. */
export class StructArray<F extends FieldSpec> implements Iterable<StructRecord<F>> {
  /** The records' layout. */
  readonly layout: StructLayout<F>;
  /** The memory the records live in. */
  readonly memory: Memory;
  /** The offset of record 0. */
  readonly ptr: number;
  /** How many records. */
  readonly length: number;

  /** @internal Made by {@link StructLayout.allocArray}. */
  constructor(layout: StructLayout<F>, memory: Memory, ptr: number, length: number) {
    this.layout = layout;
    this.memory = memory;
    this.ptr = ptr;
    this.length = length;
  }

  /** Record `index` (a new view object over the same bytes each call). @throws `LayoutError` when out of range. */
  at(index: number): StructRecord<F> {
    return this.layout.recordAt(this.memory, this.offsetOf(index));
  }

  /** Field `field` of record `index`, without making a record object. */
  get<K extends keyof F & string>(index: number, field: K): FieldValue<F[K]> {
    return (this.at(index) as Record<K, FieldValue<F[K]>>)[field];
  }

  /** Sets field `field` of record `index`. */
  set<K extends keyof F & string>(index: number, field: K, value: FieldValue<F[K]>): void {
    (this.at(index) as Record<K, FieldValue<F[K]>>)[field] = value;
  }

  /** The records in order. */
  *[Symbol.iterator](): Iterator<StructRecord<F>> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }

  private offsetOf(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new LayoutError(
        `StructArray: index ${String(index)} is out of range; expected an integer from 0 to ${this.length - 1}`,
      );
    }
    return this.ptr + index * this.layout.size;
  }
}

/** A class whose instances read and write one block's fields through the memory's current typed views. */
function recordClass<F extends FieldSpec>(fields: F, offsets: Record<string, number>): RecordCtor<F> {
  class Rec {
    readonly memory: Memory;
    readonly ptr: number;
    constructor(memory: Memory, ptr: number) {
      this.memory = memory;
      this.ptr = ptr;
    }
  }
  for (const name of Object.keys(fields)) {
    const { bytes, view } = TYPES[fields[name]!];
    const shift = Math.log2(bytes);
    const offset = offsets[name]!;
    Object.defineProperty(Rec.prototype, name, {
      enumerable: true,
      get(this: Rec) {
        return (this.memory[view] as unknown as ArrayLike<number | bigint>)[(this.ptr + offset) >>> shift];
      },
      set(this: Rec, value: number | bigint) {
        (this.memory[view] as unknown as { [i: number]: number | bigint })[(this.ptr + offset) >>> shift] =
          value;
      },
    });
  }
  return Rec as unknown as RecordCtor<F>;
}

/**
 * A {@link StructLayout} for `fields` (name to {@link FieldType}, in layout order).
 *
 * @throws `AllocError` as the `StructLayout` constructor.
 */
export function defineStruct<const F extends FieldSpec>(fields: F): StructLayout<F> {
  return new StructLayout(fields);
}
